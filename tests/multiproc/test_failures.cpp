// Bad input and failing peers: each must give a banyan::Error that says what and where, in
// bounded time, never a crash, a hang or a wrong result.

#include "support/multiproc.hpp"

#include "bootstrap/environment.hpp"

#include <banyan/banyan.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;
using Clock = std::chrono::steady_clock;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs `call`; true when it throws a banyan::Error with `code` whose message contains `part`.
template <typename Call>
bool throwsError(Call&& call, ErrorCode code, const std::string& part) {
  try {
    call();
  } catch (const Error& error) {
    if (error.code() == code && contains(error.what(), part)) return true;
    std::fprintf(stderr, "unexpected error: %s\n", error.what());
    return false;
  }
  std::fprintf(stderr, "no error (expected %s containing '%s')\n", std::string(toString(code)).c_str(), part.c_str());
  return false;
}

}  // namespace

namespace {
// Failures are the point of these tests; their WARN lines would only bury real problems.
bootstrap::LaunchOptions quiet(const char* timeout = "60s") {
  bootstrap::LaunchOptions options;
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = timeout;
  return options;
}
}  // namespace

TEST_CASE("bad arguments are refused with InvalidUsage naming the argument", "[multiproc][errors]") {
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        std::vector<float> buffer(64);
        RANK_EXPECT(rank, throwsError([&] { comm.allreduce(nullptr, buffer.data(), 4, DataType::f32, ReduceOp::sum); },
                                      ErrorCode::InvalidUsage, "send buffer is null"));
        RANK_EXPECT(rank, throwsError([&] { comm.allreduce(buffer.data(), nullptr, 4, DataType::f32, ReduceOp::sum); },
                                      ErrorCode::InvalidUsage, "receive buffer is null"));
        RANK_EXPECT(rank,
                    throwsError([&] { comm.allreduce(buffer.data(), 4, static_cast<DataType>(42), ReduceOp::sum); },
                                ErrorCode::InvalidUsage, "invalid data type (value 42)"));
        RANK_EXPECT(rank,
                    throwsError([&] { comm.allreduce(buffer.data(), 4, DataType::f32, static_cast<ReduceOp>(9)); },
                                ErrorCode::InvalidUsage, "invalid reduce op (value 9)"));
        RANK_EXPECT(
            rank, throwsError([&] { comm.allreduce(buffer.data(), ~std::size_t{0} / 2, DataType::f32, ReduceOp::sum); },
                              ErrorCode::InvalidUsage, "overflows"));
        RANK_EXPECT(rank, throwsError([&] { comm.allgather(buffer.data(), buffer.data() + 1, 8, DataType::f32); },
                                      ErrorCode::InvalidUsage, "overlap"));
        // Null is fine with a zero count.
        comm.allreduce(nullptr, nullptr, 0, DataType::f32, ReduceOp::sum);
        // The communicator still works after refused calls: nothing was queued.
        buffer.assign(64, 1.0f);
        comm.allreduce(buffer.data(), 64, DataType::f32, ReduceOp::sum);
        RANK_EXPECT(rank, buffer[63] == 2.0f);
        comm.close();
        RANK_EXPECT(rank, throwsError([&] { comm.allreduce(buffer.data(), 64, DataType::f32, ReduceOp::sum); },
                                      ErrorCode::InvalidUsage, "after close()"));
        return 0;
      },
      quiet());
}

TEST_CASE("an unreachable store fails within the timeout", "[multiproc][errors]") {
  bootstrap::LaunchOptions options = quiet();
  runRanks(
      1,
      [](int) {
        setenv("BANYAN_STORE_ADDR", "127.0.0.1:1", 1);  // port 1: nothing listens there
        setenv("BANYAN_TIMEOUT", "2s", 1);
        const auto start = Clock::now();
        const bool ok = throwsError([] { Communicator::fromEnvironment(); }, ErrorCode::Timeout, "127.0.0.1:1");
        const auto elapsed = Clock::now() - start;
        RANK_EXPECT(0, ok);
        RANK_EXPECT(0, elapsed < std::chrono::seconds(10));
        return 0;
      },
      options);
}

TEST_CASE("a peer that exits mid-job gives a Remote error naming it", "[multiproc][errors]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  // Whoever sees it first (this rank's transport, or the control channel watching its pid)
  // says so in the same words; the cause that follows depends on which ("its process exited",
  // or "it closed its connections ..." when the kernel had not yet said so).
  const std::string where = "rank 1 was lost: ";
  runRanks(
      2,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(1 << 20, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);  // connected
        if (comm.rank() == 1) _exit(0);  // leaves without a word; the kernel closes its sockets
        const auto start = Clock::now();
        RANK_EXPECT(0, throwsError([&] { comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum); },
                                   ErrorCode::Remote, where));
        RANK_EXPECT(0, Clock::now() - start < std::chrono::seconds(20));
        // After a failure the communicator refuses work, saying why.
        RANK_EXPECT(0, throwsError([&] { comm.allreduce(data.data(), 4, DataType::f32, ReduceOp::sum); },
                                   ErrorCode::Aborted, "earlier failure"));
        return 0;
      },
      over(transport, quiet()));
}

TEST_CASE("a peer that exits mid-job fails every survivor quickly", "[multiproc][errors]") {
  // With 3 ranks a survivor may first see the other survivor leave (which it does once it has
  // failed): each must end with a Remote error, well before the timeout, that names the rank
  // that died, directly or through the notice of whoever saw it first.
  const std::string transport = BANYAN_EACH_TRANSPORT();
  const std::string dead = "rank 1 was lost: ";
  runRanks(
      3,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(1 << 20, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) _exit(0);
        const auto start = Clock::now();
        RANK_EXPECT(comm.rank(),
                    throwsError([&] { comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum); },
                                ErrorCode::Remote, dead));
        RANK_EXPECT(comm.rank(), Clock::now() - start < std::chrono::seconds(20));
        return 0;
      },
      over(transport, quiet()));
}

TEST_CASE("a silent peer gives a Timeout naming the operation and the peer", "[multiproc][errors]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  bootstrap::LaunchOptions options = over(transport, quiet("2s"));
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(1024, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(6));  // alive but absent
          return 0;
        }
        const auto start = Clock::now();
        RANK_EXPECT(0, throwsError([&] { comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::max); },
                                   ErrorCode::Timeout, "allreduce #2 (count=1024, f32, max)"));
        const auto elapsed = Clock::now() - start;
        RANK_EXPECT(0, elapsed >= std::chrono::milliseconds(1900) && elapsed < std::chrono::seconds(5));
        return 0;
      },
      options);
}

TEST_CASE("the timeout message says which peer is awaited", "[multiproc][errors]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  bootstrap::LaunchOptions options = over(transport, quiet("2s"));
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(16, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(5));
          return 0;
        }
        RANK_EXPECT(
            0, throwsError([&] { comm.allgather(data.data(), 8, DataType::f32); }, ErrorCode::Timeout, "from rank 1"));
        return 0;
      },
      options);
}

TEST_CASE("close() while an operation waits on an absent peer ends it with Aborted", "[multiproc][errors]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(16, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(2));
          return 0;
        }
        Work work = comm.allreduceAsync(data.data(), data.data(), data.size(), DataType::f32, ReduceOp::sum);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        RANK_EXPECT(0, !work.test());
        const auto start = Clock::now();
        comm.close();
        RANK_EXPECT(0, Clock::now() - start < std::chrono::seconds(2));
        RANK_EXPECT(0, work.test());
        const auto error = work.error();
        RANK_EXPECT(0, error && error->code() == ErrorCode::Aborted);
        return 0;
      },
      over(transport, quiet()));
}

TEST_CASE("ranks that disagree on the operation get an error, not mixed data", "[multiproc][errors]") {
  const std::string transport = GENERATE(filter([](const std::string& t) { return banyan::test::transportSelected(t); },
                                                values<std::string>({"tcp", "shm-messages", "shm"
#ifdef BANYAN_HAVE_OFI
                                                                     ,
                                                                     "ofi-tcp", "ofi-sockets", "ofi-shm"
#endif
                                                })));
  bootstrap::LaunchOptions options = over(transport, quiet("5s"));
  runRanks(
      2,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(4096, 1.0f);
        // Rank 0 reduces 4096 floats, rank 1 only 1024: the message lengths disagree.
        const std::size_t count = comm.rank() == 0 ? 4096 : 1024;
        try {
          comm.allreduce(data.data(), count, DataType::f32, ReduceOp::sum);
        } catch (const Error& error) {
          // Every rank names both calls: the shared-memory collectives compare fingerprints in
          // shared memory; over messages the fingerprint in each tag trips the first message,
          // and the ranks tell each other their calls through the store.
          const std::string other = comm.rank() == 0 ? "rank 1 called allreduce(count=1024,f32,sum) #1"
                                                     : "rank 0 called allreduce(count=4096,f32,sum) #1";
          if (error.code() == ErrorCode::InvalidUsage && std::string(error.what()).find(other) != std::string::npos) {
            return 0;
          }
          std::fprintf(stderr, "rank %d: unexpected %s\n", comm.rank(), error.what());
          return 1;
        }
        std::fprintf(stderr, "rank %d: mismatched allreduce succeeded\n", comm.rank());
        return 1;
      },
      options);
}

TEST_CASE("strangers on a rank's port are turned away and the job goes on", "[multiproc][errors]") {
  // The port is TCP's; shared memory has none.
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<std::int32_t> data(1000, 1);
        comm.allreduce(data.data(), data.size(), DataType::i32, ReduceOp::sum);
        int garbage = -1, silent = -1;
        if (comm.rank() == 0) {
          // Rank 1 accepts connections (the lower rank connects); find its port in the store.
          auto [host, port] = bootstrap::parseHostPort(std::getenv("BANYAN_STORE_ADDR"), "BANYAN_STORE_ADDR");
          TcpStore store(host, port);
          const auto bytes = store.get("banyan/0/tcp/@1", std::chrono::seconds(5));
          const std::string address(bytes.begin(), bytes.end());
          const auto colon = address.rfind(':');
          sockaddr_in target{};
          target.sin_family = AF_INET;
          target.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
          inet_pton(AF_INET, address.substr(0, colon).c_str(), &target.sin_addr);
          garbage = socket(AF_INET, SOCK_STREAM, 0);
          silent = socket(AF_INET, SOCK_STREAM, 0);
          RANK_EXPECT(0, connect(garbage, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0);
          RANK_EXPECT(0, connect(silent, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0);
          const char junk[64] = "GET / HTTP/1.0\r\n\r\n this is not a banyan hello";
          RANK_EXPECT(0, write(garbage, junk, sizeof junk) == static_cast<ssize_t>(sizeof junk));
        }
        for (int k = 0; k < 20; ++k) {
          std::fill(data.begin(), data.end(), comm.rank() + k);
          comm.allreduce(data.data(), data.size(), DataType::i32, ReduceOp::sum);
          RANK_EXPECT(comm.rank(), data[0] == 2 * k + 1 && data[999] == 2 * k + 1);
        }
        if (garbage >= 0) close(garbage);
        if (silent >= 0) close(silent);
        return 0;
      },
      over("tcp", quiet()));
}

TEST_CASE("abort() from another thread ends blocked calls at once; a second destroy is harmless",
          "[multiproc][errors]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(1 << 16, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(3));  // never joins the next call
          return 0;
        }
        // Two threads block: one in an allreduce, one in a receive nobody sends to.
        std::optional<ErrorCode> first, second;
        std::thread collective([&] {
          try {
            comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
          } catch (const Error& e) {
            first = e.code();
          }
        });
        std::thread receive([&] {
          float value = 0;
          try {
            comm.recv(&value, 1, DataType::f32, 1, 5);
          } catch (const Error& e) {
            second = e.code();
          }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const auto start = Clock::now();
        comm.abort();
        collective.join();
        receive.join();
        RANK_EXPECT(0, Clock::now() - start < std::chrono::seconds(2));
        RANK_EXPECT(0, first == ErrorCode::Aborted && second == ErrorCode::Aborted);
        RANK_EXPECT(0, throwsError([&] { comm.allreduce(data.data(), 4, DataType::f32, ReduceOp::sum); },
                                   ErrorCode::InvalidUsage, "after close()"));
        comm.abort();  // again: nothing happens
        comm.close();
        return 0;
      },
      over(transport, quiet()));
}

TEST_CASE("mismatched calls of each kind name both sides on every rank", "[multiproc][errors]") {
  // Over messages and in the shared-memory engine (which runs the broadcast too).
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "shm-messages", "shm");
  const int kind = GENERATE(range(0, 4));
  bootstrap::LaunchOptions options = over(transport, quiet("5s"));
  runRanks(
      3,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        std::vector<float> a(3 * 4096, 1.0f), b(3 * 4096, 1.0f);
        comm.barrier();  // #1 on every rank
        // Rank 2 makes a different call #2 from ranks 0 and 1.
        const bool odd = rank == 2;
        std::string mine, theirs;
        try {
          switch (kind) {
            case 0:  // another collective
              if (odd)
                comm.allgather(a.data(), b.data(), 512, DataType::f32);
              else
                comm.allreduce(a.data(), 1024, DataType::f32, ReduceOp::sum);
              mine = odd ? "allgather(count=512,f32) #2" : "allreduce(count=1024,f32,sum) #2";
              theirs = odd ? "allreduce(count=1024,f32,sum) #2" : "allgather(count=512,f32) #2";
              break;
            case 1:  // another root
              comm.broadcast(a.data(), 1000, DataType::f32, odd ? 1 : 0);
              mine = odd ? "broadcast(count=1000,f32,root=1) #2" : "broadcast(count=1000,f32,root=0) #2";
              theirs = odd ? "broadcast(count=1000,f32,root=0) #2" : "broadcast(count=1000,f32,root=1) #2";
              break;
            case 2:  // another op
              comm.allreduce(a.data(), 100, DataType::f32, odd ? ReduceOp::max : ReduceOp::sum);
              mine = odd ? "allreduce(count=100,f32,max) #2" : "allreduce(count=100,f32,sum) #2";
              theirs = odd ? "allreduce(count=100,f32,sum) #2" : "allreduce(count=100,f32,max) #2";
              break;
            case 3:  // another type, same bytes
              comm.allreduce(a.data(), odd ? 200 : 100, odd ? DataType::f32 : DataType::f64, ReduceOp::sum);
              mine = odd ? "allreduce(count=200,f32,sum) #2" : "allreduce(count=100,f64,sum) #2";
              theirs = odd ? "allreduce(count=100,f64,sum) #2" : "allreduce(count=200,f32,sum) #2";
              break;
          }
          // A rank whose part of call #2 never met the odd rank (a broadcast root's sends are
          // buffered) learns of the mismatch at the next call.
          comm.barrier();
        } catch (const Error& error) {
          const std::string text = error.what();
          // Every rank's error names the odd rank's call #2, first-hand or through the account
          // a failed neighbour published; where the two sides' calls #2 met, both are named.
          const std::string oddCall = odd ? mine : theirs;
          const bool both = text.find(mine) != std::string::npos && text.find(theirs) != std::string::npos;
          const bool skew = text.find("in its call #3") != std::string::npos;  // met a rank already in #3
          if (text.find(oddCall) != std::string::npos && (both || skew || !odd)) return 0;
          std::fprintf(stderr, "rank %d: does not name '%s' and '%s': %s\n", rank, mine.c_str(), theirs.c_str(),
                       error.what());
          return 1;
        }
        std::fprintf(stderr, "rank %d: the mismatched call succeeded\n", rank);
        return 1;
      },
      options);
}

TEST_CASE("BANYAN_CHECK=0 really switches the call check off", "[multiproc][errors]") {
  // The cost figure of the check (bench/check-cost.sh) compares it on and off; this proves "off"
  // is off. Ranks call allreduce #1 with different types of the same byte length, which the check
  // catches (the test above); without it nothing on the wire disagrees and both calls finish.
  // Every collective after that still works.
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "shm");
  bootstrap::LaunchOptions options = over(transport, quiet("5s"));
  options.environment["BANYAN_CHECK"] = "0";
  runRanks(
      2,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> a(400, 1.0f);
        if (comm.rank() == 0) {
          comm.allreduce(a.data(), 100, DataType::f64, ReduceOp::sum);
        } else {
          comm.allreduce(a.data(), 200, DataType::f32, ReduceOp::sum);
        }
        std::vector<std::int32_t> data(1000);
        for (int k = 0; k < 5; ++k) {
          std::fill(data.begin(), data.end(), comm.rank() + k);
          comm.allreduce(data.data(), data.size(), DataType::i32, ReduceOp::sum);
          RANK_EXPECT(comm.rank(), data[0] == 2 * k + 1 && data[999] == 2 * k + 1);
        }
        return 0;
      },
      options);
}

// Strangers against a running job (docs/security.md): every listening port of the job (the
// collective TCP transport's, the point-to-point channel's, the TcpStore's) gets (a) random
// bytes, (b) a real member's handshake replayed byte for byte, and (c) a well-formed handshake
// made with a wrong key. The job must end with exact results and the stranger must receive
// nothing past the challenge. And a rank holding another BANYAN_AUTH_KEY cannot join.
//
// How the real handshakes are captured: rank 2 (whose ports the lower ranks connect to) puts a
// relay of its own in front of each of its ports, by overwriting its published address in the
// store before the others connect, the position of a man in the middle on the wire. (Rank 2 of
// 3, because communicator creation already measures the link between ranks 0 and 1.) For the
// first connection through it, the relay forwards the hello and rank 2's challenge, and holds
// the connector's proof back: with hello and
// proof in hand it replays them on a new connection to the real port (whose slot is still free,
// so the replay reaches the proof check), then attacks (a) and (c), and only then forwards the
// proof and carries the real connection for the rest of the job. The store's handshake is
// captured the same way from a member's TcpStore pointed at a relay.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <banyan/banyan.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/environment.hpp"
#include "security/handshake.hpp"
#include "support/multiproc.hpp"
#include "transports/tcp/tcp_wire.hpp"

using namespace banyan;
using namespace std::chrono_literals;
using banyan::test::over;
using banyan::test::runRanks;
using Clock = std::chrono::steady_clock;
namespace sec = banyan::security;
namespace tcpw = banyan::transport::tcp;

namespace {

using Bytes = std::vector<std::uint8_t>;

// What went wrong in a relay or stranger thread, reported by the rank at its end.
struct Findings {
  std::mutex mutex;
  std::vector<std::string> problems;
  int attacks = 0;
  void add(const std::string& problem) {
    std::lock_guard lock(mutex);
    problems.push_back(problem);
  }
  void attacked() {
    std::lock_guard lock(mutex);
    ++attacks;
  }
};

sockaddr_in parseAddress(const std::string& text) {
  const auto colon = text.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1))));
  inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr);
  return address;
}

int connectTo(const std::string& text) {
  const sockaddr_in address = parseAddress(text);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  timeval limit{10, 0};  // every read of a stranger has a deadline
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  return fd;
}

int listenLoopback(std::string& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
  ::listen(fd, 8);
  socklen_t length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  address = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  return fd;
}

bool readExact(int fd, std::uint8_t* data, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::recv(fd, data + got, size - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

bool writeAll(int fd, const std::uint8_t* data, std::size_t size) {
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until the other side closes; the bytes that came. -1 if it did not close within the
// socket's read deadline (a stranger must be dropped, not kept).
long drainUntilClosed(int fd) {
  long total = 0;
  std::uint8_t buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return total;
    if (n < 0) return errno == ECONNRESET ? total : -1;
    total += n;
  }
}

// (a): random bytes; nothing may come back, and the connection must be closed.
void attackWithRandomBytes(const std::string& port, const char* what, Findings& findings) {
  findings.attacked();
  std::mt19937 random(std::random_device{}());
  Bytes junk(200);
  for (auto& byte : junk) byte = static_cast<std::uint8_t>(random());
  const int fd = connectTo(port);
  if (fd < 0) return findings.add(std::string(what) + ": cannot connect for random bytes");
  writeAll(fd, junk.data(), junk.size());  // the port may close before all of it is read
  const long answered = drainUntilClosed(fd);
  ::close(fd);
  if (answered != 0) findings.add(fmt::format("{}: random bytes got {} bytes back (-1: never closed)", what, answered));
}

// Sends `opening`, expects a challenge of exactly kChallengeSize bytes (returned), then sends
// `proof` and expects the connection closed with nothing more.
void attackWithHandshake(const std::string& port, const Bytes& opening, const Bytes& proof, const char* what,
                         Findings& findings, sec::Challenge* challengeOut = nullptr) {
  findings.attacked();
  const int fd = connectTo(port);
  if (fd < 0) return findings.add(std::string(what) + ": cannot connect");
  sec::ChallengeBytes challenge{};
  if (!writeAll(fd, opening.data(), opening.size()) || !readExact(fd, challenge.data(), challenge.size())) {
    ::close(fd);
    return findings.add(std::string(what) + ": no challenge came back");
  }
  sec::Challenge parsed;
  if (!sec::decodeChallenge(challenge.data(), challenge.size(), parsed)) {
    findings.add(std::string(what) + ": the challenge does not parse");
  }
  if (challengeOut) *challengeOut = parsed;
  writeAll(fd, proof.data(), proof.size());
  const long answered = drainUntilClosed(fd);
  ::close(fd);
  if (answered != 0)
    findings.add(fmt::format("{}: {} bytes came after the challenge (-1: never closed)", what, answered));
}

// Copies bytes both ways until either side closes.
void pump(int a, int b) {
  std::uint8_t buffer[1 << 16];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) return;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
      if (n <= 0 || !writeAll(fds[1 - i].fd, buffer, static_cast<std::size_t>(n))) return;
    }
  }
}

// Accepts connections on `listening` until `stop`; the first is handed to `first`, the later
// ones are forwarded to `real` untouched.
void relay(int listening, const std::string& real, const std::atomic<bool>& stop,
           const std::function<void(int member, int upstream)>& first) {
  std::vector<std::thread> carriers;
  bool seenFirst = false;
  while (!stop) {
    pollfd p{listening, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int member = ::accept(listening, nullptr, nullptr);
    if (member < 0) continue;
    const int upstream = connectTo(real);
    const bool isFirst = !seenFirst;
    seenFirst = true;
    carriers.emplace_back([member, upstream, isFirst, &first] {
      if (isFirst) {
        first(member, upstream);
      } else if (upstream >= 0) {
        timeval none{0, 0};
        ::setsockopt(upstream, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        pump(member, upstream);
      }
      ::close(member);
      if (upstream >= 0) ::close(upstream);
    });
  }
  ::close(listening);
  for (auto& carrier : carriers) carrier.join();
}

// The first connection through a transport port's relay: see the header comment. `real` is
// rank 2's own address.
void attackThroughTransport(int member, int upstream, const std::string& real, const char* what, Findings& findings) {
  timeval limit{10, 0};
  ::setsockopt(member, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  Bytes hello(tcpw::kHelloSize), challenge(sec::kChallengeSize), proof(sec::kProofSize);
  if (upstream < 0 || !readExact(member, hello.data(), hello.size()) ||
      !writeAll(upstream, hello.data(), hello.size()) || !readExact(upstream, challenge.data(), challenge.size()) ||
      !writeAll(member, challenge.data(), challenge.size()) || !readExact(member, proof.data(), proof.size())) {
    findings.add(std::string(what) + ": the relay could not capture the handshake");
    return;
  }
  // (b) The captured handshake, replayed while the real one is still unfinished.
  sec::Challenge fresh;
  attackWithHandshake(real, hello, proof, what, findings, &fresh);
  sec::Challenge recorded;
  (void)sec::decodeChallenge(challenge.data(), challenge.size(), recorded);
  if (fresh.serverNonce == recorded.serverNonce) findings.add(std::string(what) + ": the server nonce repeated");
  // (c) A well-formed hello (the sniffed communicator nonce, rank 0, a fresh client nonce)
  // answered with a proof made with a wrong key; the acceptor's challenge must not verify
  // under that key either.
  tcpw::Hello sniffed;
  tcpw::HelloBytes helloBytes;
  std::copy(hello.begin(), hello.end(), helloBytes.begin());
  (void)tcpw::decodeHello(helloBytes, sniffed);
  sniffed.clientNonce = sec::freshNonce();
  const auto forged = tcpw::encodeHello(sniffed);
  const sec::JobKey wrong = sec::deriveKey("a guess");
  const Bytes forgedHello(forged.begin(), forged.end());
  sec::Challenge answer;
  // The proof needs the challenge's nonce, so this attack answers on the connection itself.
  {
    findings.attacked();
    const int fd = connectTo(real);
    sec::ChallengeBytes bytes{};
    if (fd < 0 || !writeAll(fd, forged.data(), forged.size()) || !readExact(fd, bytes.data(), bytes.size()) ||
        !sec::decodeChallenge(bytes.data(), bytes.size(), answer)) {
      findings.add(std::string(what) + ": the wrong-key stranger got no challenge");
    } else {
      if (sec::verifyMac(wrong, sec::Role::Acceptor, forgedHello, sniffed.clientNonce, answer.serverNonce,
                         answer.mac)) {
        findings.add(std::string(what) + ": a challenge verified under the wrong key");
      }
      const auto wrongProof = sec::encodeProof(
          {sec::computeMac(wrong, sec::Role::Connector, forgedHello, sniffed.clientNonce, answer.serverNonce)});
      writeAll(fd, wrongProof.data(), wrongProof.size());
      const long after = drainUntilClosed(fd);
      if (after != 0) findings.add(fmt::format("{}: the wrong-key stranger got {} bytes (-1: kept open)", what, after));
    }
    if (fd >= 0) ::close(fd);
  }
  // (a) Random bytes.
  attackWithRandomBytes(real, what, findings);
  // Now let the real connection finish and carry it.
  if (!writeAll(upstream, proof.data(), proof.size()))
    findings.add(std::string(what) + ": forwarding the proof failed");
  limit = {0, 0};
  ::setsockopt(member, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(upstream, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  pump(member, upstream);
}

std::string storeValue(Store& store, const std::string& key) {
  const auto bytes = store.get(key, 30s);
  return std::string(bytes.begin(), bytes.end());
}

void setValue(Store& store, const std::string& key, const std::string& value) {
  store.set(key, Store::Bytes(value.begin(), value.end()), 30s);
}

}  // namespace

TEST_CASE("strangers on every port of a job: random bytes, a replayed handshake, a wrong key",
          "[multiproc][security]") {
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_DEBUG"] = "none";
  options.deadline = std::chrono::seconds(120);
  runRanks(
      3,
      [](int) {
        auto [host, port] = bootstrap::parseHostPort(std::getenv("BANYAN_STORE_ADDR"), "BANYAN_STORE_ADDR");
        auto comm = Communicator::fromEnvironment();
        TcpStore store(host, port);
        Findings findings;
        std::atomic<bool> stop{false};
        std::vector<std::thread> relays;
        if (comm.rank() == 2) {
          // Put a relay in front of both of this rank's ports before the others look them up.
          for (const char* key : {"banyan/0/tcp/@2", "banyan/0/p2p/tcp/@2"}) {
            const std::string real = storeValue(store, key);
            std::string relayAddress;
            const int listening = listenLoopback(relayAddress);
            setValue(store, key, relayAddress);
            relays.emplace_back([listening, real, key, &stop, &findings] {
              relay(listening, real, stop,
                    [&](int member, int upstream) { attackThroughTransport(member, upstream, real, key, findings); });
            });
          }

          // The store: capture a member's session through a relay the same way.
          std::string relayAddress;
          const int listening = listenLoopback(relayAddress);
          const std::string storeAddress = fmt::format("{}:{}", host, port);
          std::thread storeRelay([&] {
            relay(listening, storeAddress, stop, [&](int member, int upstream) {
              Bytes hello(sec::kStoreHelloSize), challenge(sec::kChallengeSize), proof(sec::kProofSize);
              if (upstream < 0 || !readExact(member, hello.data(), hello.size()) ||
                  !writeAll(upstream, hello.data(), hello.size()) ||
                  !readExact(upstream, challenge.data(), challenge.size()) ||
                  !writeAll(member, challenge.data(), challenge.size()) ||
                  !readExact(member, proof.data(), proof.size())) {
                findings.add("store: the relay could not capture the handshake");
                return;
              }
              // (b) replayed, with a request behind it that must never be answered.
              const std::string key = "test/secret";
              const Bytes get = {static_cast<std::uint8_t>(1 + 4 + key.size()), 0, 0, 0, 2,
                                 static_cast<std::uint8_t>(key.size()),         0, 0, 0};
              Bytes replay = proof;
              replay.insert(replay.end(), get.begin(), get.end());
              replay.insert(replay.end(), key.begin(), key.end());
              attackWithHandshake(storeAddress, hello, replay, "store replay", findings);
              // (c) a well-formed store hello, then a proof made with a wrong key and a request.
              findings.attacked();
              const sec::StoreHello forgedHello{sec::freshNonce()};
              const auto forged = sec::encodeStoreHello(forgedHello);
              const int fd = connectTo(storeAddress);
              sec::ChallengeBytes bytes{};
              sec::Challenge answer;
              if (fd < 0 || !writeAll(fd, forged.data(), forged.size()) || !readExact(fd, bytes.data(), bytes.size()) ||
                  !sec::decodeChallenge(bytes.data(), bytes.size(), answer)) {
                findings.add("store: the wrong-key stranger got no challenge");
              } else {
                const auto wrongProof =
                    sec::encodeProof({sec::computeMac(sec::deriveKey("a guess"), sec::Role::Connector, forged,
                                                      forgedHello.clientNonce, answer.serverNonce)});
                Bytes message(wrongProof.begin(), wrongProof.end());
                message.insert(message.end(), get.begin(), get.end());
                message.insert(message.end(), key.begin(), key.end());
                writeAll(fd, message.data(), message.size());
                const long after = drainUntilClosed(fd);
                if (after != 0) findings.add(fmt::format("store: the wrong-key stranger got {} bytes", after));
              }
              if (fd >= 0) ::close(fd);
              // (a)
              attackWithRandomBytes(storeAddress, "store", findings);
              writeAll(upstream, proof.data(), proof.size());
              timeval none{0, 0};
              ::setsockopt(member, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
              ::setsockopt(upstream, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
              pump(member, upstream);
            });
          });
          {
            // A member's own TcpStore, through the relay: its session is the one captured.
            TcpStore throughRelay("127.0.0.1", static_cast<std::uint16_t>(std::stoi(relayAddress.substr(10))));
            setValue(throughRelay, "test/secret", "only members read this");
          }
          setValue(store, "test/relays", "up");
          relays.push_back(std::move(storeRelay));
        } else {
          storeValue(store, "test/relays");
        }

        // The job: collectives and point-to-point over the relayed connections, exact.
        std::vector<std::int32_t> data(1000);
        for (int k = 0; k < 20; ++k) {
          std::fill(data.begin(), data.end(), comm.rank() + k);
          comm.allreduce(data.data(), data.size(), DataType::i32, ReduceOp::sum);
          RANK_EXPECT(comm.rank(), data[0] == 3 + 3 * k && data[999] == 3 + 3 * k);
          if (comm.rank() < 2) {
            const std::int32_t value = 100 * comm.rank() + k;
            comm.send(&value, 1, DataType::i32, 2, k);
          } else {
            for (int from = 0; from < 2; ++from) {
              std::int32_t value = -1;
              comm.recv(&value, 1, DataType::i32, from, k);
              RANK_EXPECT(2, value == 100 * from + k);
            }
          }
        }
        comm.barrier();
        comm.close();
        stop = true;
        for (auto& thread : relays) thread.join();
        for (const auto& problem : findings.problems)
          std::fprintf(stderr, "rank %d: %s\n", comm.rank(), problem.c_str());
        // 3 attacks on each of the two transport ports and on the store.
        RANK_EXPECT(comm.rank(), comm.rank() != 2 || findings.attacks == 9);
        return findings.problems.empty() ? 0 : 1;
      },
      options);
}

TEST_CASE("a rank holding another BANYAN_AUTH_KEY cannot join, and says why", "[multiproc][security]") {
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = "4s";
  options.environment["BANYAN_AUTH_KEY"] = "the job's secret";
  // Where the odd rank meets the job first: the store (which knows the key), or, on a store it
  // reached before it changed its key, the first TCP connection.
  const std::string where = GENERATE(as<std::string>{}, "store", "transport");
  runRanks(
      2,
      [&](int rank) {
        auto [host, port] = bootstrap::parseHostPort(std::getenv("BANYAN_STORE_ADDR"), "BANYAN_STORE_ADDR");
        auto store = std::make_shared<TcpStore>(host, port);
        if (rank == 1) ::setenv("BANYAN_AUTH_KEY", "a guess", 1);
        if (rank == 1 && where == "store") store = std::make_shared<TcpStore>(host, port);
        const auto start = Clock::now();
        try {
          auto comm = Communicator::create(store, rank, 2);
          std::vector<float> data(16, 1.0f);
          comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
          std::fprintf(stderr, "rank %d: joined a job whose key it does not hold\n", rank);
          return 1;
        } catch (const Error& error) {
          const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
          RANK_EXPECT(rank, seconds < 15);
          // The rank that checks the other's proof names the failure; the other may only see
          // its peer leave or time out (within BANYAN_TIMEOUT).
          const bool checker = where == "store" ? rank == 1 : rank == 0;
          if (checker) {
            const std::string text = error.what();
            const bool named = error.code() == ErrorCode::Unauthenticated &&
                               text.find("BANYAN_AUTH_KEY") != std::string::npos &&
                               text.find(where == "store" ? "store" : "rank 1") != std::string::npos;
            if (!named) {
              std::fprintf(stderr, "rank %d: the error does not name the authentication failure: %s\n", rank,
                           error.what());
              return 1;
            }
          }
          return 0;
        }
      },
      options);
}

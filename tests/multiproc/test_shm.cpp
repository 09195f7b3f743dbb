// The shared-memory transport's own promises: nothing left in /dev/shm after a job, whether it
// ends normally or a rank is killed; a stale segment under a job's name does not corrupt the
// job; two jobs on one host at once stay apart.

#include "support/multiproc.hpp"

#include "bootstrap/environment.hpp"
#include "bootstrap/forwarding_store.hpp"
#include "transports/shm/segment.hpp"

#include <banyan/banyan.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

std::set<std::string> banyanSegments() {
  std::set<std::string> names;
  if (DIR* dir = opendir("/dev/shm")) {
    while (const dirent* entry = readdir(dir)) {
      if (std::strncmp(entry->d_name, "banyan-", 7) == 0) names.insert(entry->d_name);
    }
    closedir(dir);
  }
  return names;
}

// The banyan segments now in /dev/shm that were not there `before` and that no live process
// made: what a job that has ended left behind. (A segment a concurrent job of another test
// run has made has a live creator; comparing whole listings failed when suites overlapped.)
std::set<std::string> leftSince(const std::set<std::string>& before) {
  std::set<std::string> left;
  for (const auto& name : banyanSegments()) {
    if (before.count(name) != 0) continue;
    transport::shm::SegmentStamp stamp{};
    const int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) continue;  // removed meanwhile
    const bool read = pread(fd, &stamp, sizeof stamp, 0) == static_cast<ssize_t>(sizeof stamp);
    close(fd);
    const bool creatorAlive = read && stamp.creatorPid > 0 && (kill(stamp.creatorPid, 0) == 0 || errno == EPERM);
    if (!creatorAlive) left.insert(name);
  }
  return left;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t deadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

// Leaves garbage under `name`, stamped as made by a process that is gone (a killed job).
void plantStaleSegment(const std::string& name, std::size_t bytes) {
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, static_cast<off_t>(bytes)) == 0);
  std::vector<unsigned char> junk(bytes, 0xA5);
  transport::shm::SegmentStamp stamp{transport::shm::SegmentStamp::kMagic, deadPid(), bytes, 0};
  std::memcpy(junk.data(), &stamp, sizeof stamp);
  REQUIRE(pwrite(fd, junk.data(), junk.size(), 0) == static_cast<ssize_t>(junk.size()));
  close(fd);
}

// A store that hands every communicator the same job key, so a test knows the segment names.
class FixedKeyStore final : public bootstrap::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override {
    if (key.ends_with("/*nonce")) {
      const std::string fixed = std::to_string(kKey);
      ForwardingStore::set(key, Bytes(fixed.begin(), fixed.end()), timeout);
    } else {
      ForwardingStore::set(key, value, timeout);
    }
  }

  static constexpr std::uint64_t kKey = 0x5ca1ab1e;
};

int exactAllreduces(Communicator& comm, int rounds, int salt) {
  std::vector<std::int64_t> data(100'003);
  for (int k = 0; k < rounds; ++k) {
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = salt + k + comm.rank() + static_cast<std::int64_t>(i);
    comm.allreduce(data.data(), data.size(), DataType::i64, ReduceOp::sum);
    const std::int64_t n = comm.size();
    for (std::size_t i = 0; i < data.size(); i += 997) {
      RANK_EXPECT(comm.rank(), data[i] == n * (salt + k + static_cast<std::int64_t>(i)) + n * (n - 1) / 2);
    }
  }
  return 0;
}

// Bytes of the shm transport's segments (rings; not the collectives' arenas) that are resident
// in this process: the pages it has touched or populated, of its own segment and its peers'.
std::size_t residentRingBytes() {
  std::ifstream smaps("/proc/self/smaps");
  std::size_t total = 0;
  bool counting = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.find("/dev/shm/banyan-") != std::string::npos) {
      counting = line.find("-arena") == std::string::npos;
    } else if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      counting = false;  // another mapping's first line
    } else if (counting && line.rfind("Rss:", 0) == 0) {
      total += std::stoul(line.substr(4)) * 1024;
    }
  }
  return total;
}

}  // namespace

// A rank holds a ring to every local peer, but only the rings of the pairs that talk get pages
// (Residency::OnFirstUse), and a ring whose messages are small only its first pages: 8 ranks in
// a ring allreduce each touch two rings, not 2 x 8 per channel, so a host's memory grows with
// its ranks rather than their square.
TEST_CASE("only the rings of the pairs that talk take memory", "[multiproc][shm]") {
  const bool large = GENERATE(true, false);
  bootstrap::LaunchOptions options = over("shm-messages");
  using namespace std::string_literals;  // not char pointers: see over() on GCC bug 105651
  options.environment["BANYAN_ALGO"] = "allreduce:0-:ring"s;
  options.environment["BANYAN_SHM_CMA_BYTES"] = "0"s;  // large messages through the ring's slots
  constexpr int kRanks = 8;
  runRanks(
      kRanks,
      [large](int) {
        auto comm = Communicator::fromEnvironment();
        // 1 MiB fills every slot of the rings it uses; 1 KiB needs one page of a slot.
        std::vector<float> data(large ? (1 << 18) : 256, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        RANK_EXPECT(comm.rank(), data[data.size() / 3] == static_cast<float>(kRanks));
        const std::size_t resident = residentRingBytes();
        // Two rings (to the next rank, from the previous) of 8 slots x 64 KiB, and room for two
        // more, plus the header and stamp pages of the 2 x 8 segments each rank maps (the
        // collectives' and point-to-point's channels). With every ring resident, as before, it
        // was 2 x 8 x 8 rings (64 MiB). A ring of small messages has 17 pages at most (control,
        // and a slot's header with its first payload page, each of which may straddle two
        // pages); ranks 0 and 1 also fill one ring whole at creation (the topology probe's
        // bulk messages between them).
        constexpr std::size_t kPage = 4096;
        constexpr std::size_t kRing = 8 * (64 * 1024 + 64) + 128;
        const std::size_t bound =
            (large ? 4 * (kRing + 2 * kPage) : 4 * 17 * kPage + kRing + 2 * kPage) + 2 * kRanks * 2 * kPage;
        if (resident > bound) {
          std::fprintf(stderr, "rank %d: %zu bytes of rings resident, more than the %zu four rings need\n", comm.rank(),
                       resident, bound);
          return 1;
        }
        // The measure sees the rings this rank used.
        RANK_EXPECT(comm.rank(), resident > (large ? kRing : 2 * kPage));
        return 0;
      },
      options);
}

TEST_CASE("shared memory leaves nothing in /dev/shm, during or after a job", "[multiproc][shm]") {
  const std::string transport = GENERATE(as<std::string>{}, "shm-messages", "shm");
  const auto before = banyanSegments();
  runRanks(
      3,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        if (exactAllreduces(comm, 2, 0) != 0) return 1;
        // Every rank has mapped every peer's segment, so the names are gone already: a rank
        // killed from here on leaves nothing behind.
        for (const auto& name : banyanSegments()) {
          transport::shm::SegmentStamp stamp{};
          const int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
          if (fd < 0) continue;
          const bool read = pread(fd, &stamp, sizeof stamp, 0) == static_cast<ssize_t>(sizeof stamp);
          close(fd);
          RANK_EXPECT(comm.rank(), !read || stamp.creatorPid != getpid());
        }
        return 0;
      },
      over(transport));
  CHECK(leftSince(before).empty());
}

TEST_CASE("a rank killed mid-job leaves no segment and fails its peers quickly", "[multiproc][shm]") {
  const std::string transport = GENERATE(as<std::string>{}, "shm-messages", "shm");
  const auto before = banyanSegments();
  bootstrap::LaunchOptions options = over(transport);
  options.environment["BANYAN_DEBUG"] = "none";
  const auto exits = bootstrap::launchLocal(
      3,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(1 << 20, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) raise(SIGKILL);
        const auto start = std::chrono::steady_clock::now();
        try {
          comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        } catch (const Error& error) {
          RANK_EXPECT(comm.rank(), error.code() == ErrorCode::Remote);
          RANK_EXPECT(comm.rank(), std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
          return 0;
        }
        std::fprintf(stderr, "rank %d: allreduce without rank 1 succeeded\n", comm.rank());
        return 1;
      },
      options);
  REQUIRE(exits.size() == 3);
  CHECK(exits[0].ok());
  CHECK(exits[2].ok());
  CHECK_FALSE(exits[1].ok());  // it was killed
  CHECK(leftSince(before).empty());
}

TEST_CASE("a rank killed before a moving or reduce-scatter call fails its peers in the engine", "[multiproc][shm]") {
  // The shared-memory engine's broadcast, alltoall, gather, scatter and reduce_scatter, 1 MiB
  // blocks: broadcast and gather read straight from their owners; alltoall and scatter, with
  // process_vm_readv off, go through the arena, as reduce_scatter always does.
  const int kind = GENERATE(range(0, 5));
  const std::string cma = kind == 1 || kind == 3 ? "0" : "65536";
  bootstrap::LaunchOptions options = over("shm");
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_SHM_CMA_BYTES"] = cma;
  // In the engine even with more ranks than cores (which would run them as schedules).
  options.environment["BANYAN_ALGO"] =
      "reduce_scatter:0-:shm;broadcast:0-:shm;gather:0-:shm;scatter:0-:shm;alltoall:0-:shm";
  const auto call = [kind](Communicator& comm, std::vector<float>& a, std::vector<float>& b) {
    const std::size_t block = a.size() / 3;
    switch (kind) {
      case 0:
        comm.broadcast(a.data(), a.size(), DataType::f32, 0);
        break;
      case 1:
        comm.alltoall(a.data(), b.data(), block, DataType::f32);
        break;
      case 2:
        comm.gather(a.data(), b.data(), block, DataType::f32, 0);
        break;
      case 3:
        comm.scatter(a.data(), b.data(), block, DataType::f32, 0);
        break;
      default:
        comm.reduceScatter(a.data(), b.data(), block, DataType::f32, ReduceOp::sum);
        break;
    }
  };
  const auto exits = bootstrap::launchLocal(
      3,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> a(3 << 18, 1.0f), b(3 << 18, 0.0f);
        call(comm, a, b);
        if (comm.rank() == 1) raise(SIGKILL);
        const auto start = std::chrono::steady_clock::now();
        try {
          call(comm, a, b);
        } catch (const Error& error) {
          RANK_EXPECT(comm.rank(), error.code() == ErrorCode::Remote);
          RANK_EXPECT(comm.rank(), std::string(error.what()).find("rank 1") != std::string::npos);
          RANK_EXPECT(comm.rank(), std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
          return 0;
        }
        std::fprintf(stderr, "rank %d: collective %d without rank 1 succeeded\n", comm.rank(), kind);
        return 1;
      },
      options);
  REQUIRE(exits.size() == 3);
  CHECK(exits[0].ok());
  CHECK(exits[2].ok());
  CHECK_FALSE(exits[1].ok());
}

TEST_CASE("a stale segment under a job's name does not corrupt the job", "[multiproc][shm]") {
  const std::string transport = GENERATE(as<std::string>{}, "shm-messages", "shm");
  // Garbage where the job's segments will go, as a job killed during set-up leaves it.
  std::vector<std::string> planted;
  for (int rank = 0; rank < 2; ++rank) {
    for (const char* suffix : {"", "-arena"}) {
      planted.push_back(fmt::format("/banyan-{:016x}-c0-r{}{}", FixedKeyStore::kKey, rank, suffix));
      plantStaleSegment(planted.back(), 12345);
    }
  }
  runRanks(
      2,
      [](int) {
        auto job = bootstrap::jobFromEnvironment();
        auto comm = Communicator::create(std::make_shared<FixedKeyStore>(job->store), job->rank, job->size);
        return exactAllreduces(comm, 3, 7);
      },
      over(transport));
  for (const auto& name : planted) CHECK(shm_unlink(name.c_str()) != 0);  // cleaned up
}

TEST_CASE("a segment name held by a live process is refused, not taken over", "[shm]") {
  const std::string name = fmt::format("/banyan-test-live-{}", getpid());
  auto held = transport::shm::Segment::create(name, 4096);
  CHECK_THROWS_WITH(transport::shm::Segment::create(name, 4096), Catch::Contains("live process"));
  CHECK(transport::shm::removeStale(name) == 0);  // its creator (us) lives
}

TEST_CASE("two jobs on one host at once stay apart", "[multiproc][shm]") {
  // Each job is launched from its own child process (launchLocal forks; one launcher per process).
  std::vector<pid_t> launchers;
  for (int job = 0; job < 2; ++job) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const auto exits = bootstrap::launchLocal(
          3,
          [job](int) {
            auto comm = Communicator::fromEnvironment();
            return exactAllreduces(comm, 20, 1000 * job);
          },
          over("shm"));
      bool ok = true;
      for (const auto& exit : exits) ok = ok && exit.ok();
      _exit(ok ? 0 : 1);
    }
    launchers.push_back(child);
  }
  for (pid_t launcher : launchers) {
    int status = 0;
    REQUIRE(waitpid(launcher, &status, 0) == launcher);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

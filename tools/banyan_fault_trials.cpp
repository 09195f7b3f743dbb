// banyan-fault-trials: the kill/stop matrix of issue 18 (bench/faults.sh).
//
//   banyan-fault-trials [--kills N] [--stops N] [--ranks R] [--seed S] [--victim V]
//                       [--layouts launcher,env,mpirun]
//                       [--transports tcp,shm-messages,shm,ofi-tcp,ofi-shm]
//                       [--moments mixed,init,connect,allreduce,allgather,broadcast,alltoall,
//                                  reduce_scatter,p2p,group  (or "all")]
//                       [--timeout-ms T] [--bound-s B] [--init-window-ms W] [--json FILE]
//                       [--mpirun-log FILE]
//
// Each trial starts R ranks in one layout and one transport, and one rank (the victim: drawn at
// random, rank 0 included, or --victim V) SIGKILLs or SIGSTOPs itself at one moment
// (tests/support/fault_trial.hpp, Moment: while the communicator is made, in the first call's
// lazy connection, inside one collective, in point-to-point, in a group, or in the test's loop of
// mixed collectives). Layouts, which differ in where the store lives:
//   launcher  banyan's local launcher (bootstrap::launchLocal); the store is in this process
//             and outlives every rank.
//   env       one process per rank with the torchrun variables RANK, WORLD_SIZE,
//             MASTER_ADDR=127.0.0.1, MASTER_PORT; rank 0 serves the store in its own process.
//   mpirun    mpirun -np R --oversubscribe running this program as ranks
//             (banyan::mpi::createCommunicator; the store is in rank 0). Builds with MPI only.
// The kill trials take their (layout, transport, moment) from the product of the lists,
// shuffled by the seed, in turn; so do the stop trials.
//
// Every survivor writes what it saw in a file mapped by all (so mpirun's ranks, which are not
// our children, can too); the victim writes its pid there and the moment of its fault, so each
// survivor's delay counts from the real fault on the one system-wide monotonic clock, and a
// stopped victim is found by its pid. A survivor that has not ended --bound-s after its loop
// started is a hang: the tool kills every rank of the trial, and removes the /dev/shm/banyan-*
// segments the trial's processes created and left (counted as leftovers; removeLeftovers says
// how it knows them); other new files in /dev/shm (Open MPI's) are listed, not removed.
//
// Judged per survivor (the strict reading, fault_trial.hpp blamesVictim): the report must
// name the victim as the cause in its innermost account; after a stop it must be a Timeout (or
// a Remote error carrying one). Printed per trial, and per (fault, layout, transport) and per
// (fault, layout, moment): trials, hangs, reports that do not name the victim (their texts in
// the trial lines), the old rule's count (fault_trial.hpp `right`, and after a stop one naming
// survivor), the time from the fault to each survivor's error (median, max), leftovers. Exits 1
// if any hang, wrong report or leftover was seen. Stop trials, and kills during init (a rank
// that never joined can only be waited for), use BANYAN_TIMEOUT=--timeout-ms; other kills 60 s.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>

#include "bootstrap/local_launcher.hpp"
#include "tests/support/fault_trial.hpp"
#include "transports/shm/segment.hpp"

#ifdef BANYAN_FAULT_TRIALS_HAVE_MPI
#include <banyan/mpi.hpp>
#endif

#include <fmt/format.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace banyan;
using Clock = std::chrono::steady_clock;
namespace faults = test::faults;

constexpr int kMaxRanks = 16;
constexpr std::size_t kTextBytes = 2048;

// SetupFailed: the job did not start (no fault yet; faults::Outcome::setupFailed).
enum class Verdict : int { None = 0, Reported = 1, NoError = 2, SetupFailed = 3 };

// One survivor's report, written in the shared mapping.
struct Report {
  std::atomic<int> verdict;
  std::atomic<int> right;         // fault_trial.hpp's rule (the test's)
  std::atomic<int> namesVictim;   // victimNamed anywhere (judged on the whole text)
  std::atomic<int> blamesVictim;  // the strict reading
  std::atomic<int> code;
  std::int64_t detectedNs;  // error time minus fault time
  char text[kTextBytes];
};

// The trial, for ranks that mpirun starts (they read it here), and what the ranks report.
struct Shared {
  int ranks;
  int victim;
  int moment;
  int stop;
  std::int64_t delayUs;
  std::int64_t timeoutMs;
  std::int64_t loopForS;
  char named[64];
  std::atomic<std::int64_t> faultNs;  // steady_clock of the fault, set by the victim
  std::atomic<int> faultPhase;
  std::atomic<std::int64_t> pids[kMaxRanks];
  Report reports[kMaxRanks];
};

struct Settings {
  int kills = 100;
  int stops = 50;
  int ranks = 4;
  int victim = -1;  // -1: drawn
  std::vector<std::string> layouts{"launcher", "env"};
  std::vector<std::string> transports{"tcp", "shm-messages", "shm"};
  std::vector<faults::Moment> moments;
  unsigned seed = 1;
  int timeoutMs = 2000;  // BANYAN_TIMEOUT in stop trials and init kills
  int boundS = 20;       // a survivor not ended this long after its loop started: a hang
  int initWindowMs = 40;
  std::string json;
  std::string mpirunLog = "/dev/null";  // mpirun's output and the ranks' stderr under it
  std::string self;                     // this program, for mpirun
};

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::vector<std::string> splitList(const std::string& list) {
  std::vector<std::string> items;
  std::size_t from = 0;
  while (from <= list.size()) {
    const std::size_t comma = std::min(list.find(',', from), list.size());
    if (comma > from) items.push_back(list.substr(from, comma - from));
    from = comma + 1;
  }
  return items;
}

void environmentFor(const std::string& transport, std::map<std::string, std::string>& environment) {
  // libfabric: its tcp;ofi_rxm and shm providers (BANYAN_TRANSPORT=ofi).
  if (transport == "ofi-tcp" || transport == "ofi-shm") {
    environment["BANYAN_TRANSPORT"] = "ofi";
    environment["BANYAN_OFI_PROVIDER"] = transport == "ofi-tcp" ? "tcp;ofi_rxm" : "shm";
    return;
  }
  if (transport != "tcp" && transport != "shm" && transport != "shm-messages") {
    throw std::invalid_argument(
        fmt::format("--transports: unknown transport '{}' (tcp, shm-messages, shm, ofi-tcp, ofi-shm)", transport));
  }
  environment["BANYAN_TRANSPORT"] = transport == "tcp" ? "tcp" : "shm";
  environment["BANYAN_SHM_COLLECTIVES"] = transport == "shm" ? "1" : "0";
}

faults::Plan planOf(const Shared& shared) {
  faults::Plan plan;
  plan.ranks = shared.ranks;
  plan.victim = shared.victim;
  plan.moment = static_cast<faults::Moment>(shared.moment);
  plan.stop = shared.stop != 0;
  plan.delay = std::chrono::microseconds(shared.delayUs);
  plan.timeout = std::chrono::milliseconds(shared.timeoutMs);
  plan.loopFor = std::chrono::seconds(shared.loopForS);
  return plan;
}

// The body of one rank in every layout: runs the trial, writes its report. Returns the exit code.
int rankBody(Shared* shared, int rank, const std::function<Communicator()>& create) {
  shared->pids[rank].store(getpid());
  const faults::Plan plan = planOf(*shared);
  faults::Hooks hooks;
  hooks.atFault = [shared](faults::Phase phase) {
    shared->faultPhase.store(static_cast<int>(phase));
    shared->faultNs.store(nowNs());
  };
  // A zero means the victim's store was not yet visible: take the planned moment.
  hooks.faultMoment = [shared](Clock::time_point planned) {
    const std::int64_t ns = shared->faultNs.load();
    return ns == 0 ? planned : Clock::time_point(std::chrono::nanoseconds(ns));
  };
  hooks.pidOf = [shared](int r) { return static_cast<pid_t>(shared->pids[r].load()); };
  hooks.faultSeen = [shared] { return shared->faultNs.load() != 0; };
  hooks.create = create;
  const auto outcome = faults::runRank(plan, shared->named, hooks, rank);
  Report& report = shared->reports[rank];
  std::snprintf(report.text, kTextBytes, "%s", outcome.text.c_str());
  if (outcome.setupFailed) {
    report.verdict.store(static_cast<int>(Verdict::SetupFailed));
    return 1;
  }
  if (!outcome.errored) {
    report.verdict.store(static_cast<int>(Verdict::NoError));
    return 1;
  }
  report.detectedNs = std::chrono::duration_cast<std::chrono::nanoseconds>(outcome.detected).count();
  report.right.store(outcome.right ? 1 : 0);
  report.namesVictim.store(outcome.namesVictim ? 1 : 0);
  report.blamesVictim.store(outcome.blamesVictim ? 1 : 0);
  report.code.store(static_cast<int>(outcome.code));
  report.verdict.store(static_cast<int>(Verdict::Reported));
  return 0;
}

// A free TCP port on 127.0.0.1 for MASTER_PORT (closed again: another program may take it
// before rank 0 binds it, which shows as a trial that did not start).
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  if (port == 0) throw std::runtime_error("no free port for MASTER_PORT");
  return port;
}

// Waits for `children` until `deadline`, then kills (SIGKILL) and reaps the rest. `exits[i]`
// gets child i's end.
void reap(const std::vector<pid_t>& children, Clock::time_point deadline, std::vector<bootstrap::RankExit>& exits) {
  std::vector<bool> done(children.size(), false);
  std::size_t left = children.size();
  const auto record = [&](std::size_t i, int status) {
    if (WIFSIGNALED(status)) exits[i].signal = WTERMSIG(status);
    if (WIFEXITED(status)) exits[i].exitCode = WEXITSTATUS(status);
    done[i] = true;
    --left;
  };
  while (left > 0 && Clock::now() < deadline) {
    for (std::size_t i = 0; i < children.size(); ++i) {
      int status = 0;
      if (!done[i] && ::waitpid(children[i], &status, WNOHANG) == children[i]) record(i, status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (done[i]) continue;
    ::kill(children[i], SIGKILL);
    int status = 0;
    ::waitpid(children[i], &status, 0);
    exits[i].killedAtDeadline = true;
    record(i, status);
  }
}

// Sets `environment` in this (child) process.
void applyEnvironment(const std::map<std::string, std::string>& environment) {
  for (const char* name : {"BANYAN_RANK", "BANYAN_SIZE", "BANYAN_STORE_ADDR", "BANYAN_JOB_KEY"}) ::unsetenv(name);
  for (const auto& [name, value] : environment) ::setenv(name.c_str(), value.c_str(), 1);
}

// The env layout: one forked process per rank with the torchrun variables, as torchrun starts
// its workers; rank 0's process serves the store.
std::vector<bootstrap::RankExit> launchEnv(Shared* shared, int ranks, std::map<std::string, std::string> environment,
                                           Clock::time_point deadline) {
  environment["WORLD_SIZE"] = std::to_string(ranks);
  environment["MASTER_ADDR"] = "127.0.0.1";
  environment["MASTER_PORT"] = std::to_string(freePort());
  std::vector<pid_t> children;
  std::fflush(nullptr);
  for (int r = 0; r < ranks; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      environment["RANK"] = std::to_string(r);
      applyEnvironment(environment);
      int code = 1;
      try {
        code = rankBody(shared, r, [] { return Communicator::fromEnvironment(); });
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", r, e.what());
      }
      std::fflush(nullptr);
      ::_exit(code);
    }
    children.push_back(pid);
  }
  std::vector<bootstrap::RankExit> exits(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) exits[static_cast<std::size_t>(r)].rank = r;
  reap(children, deadline, exits);
  return exits;
}

// The mpirun layout: mpirun starts this program as the ranks (--mpi-worker); they are mpirun's
// children, not ours, so their ends are read from the reports and their pids from the mapping.
std::vector<bootstrap::RankExit> launchMpirun(Shared* shared, const Settings& settings, const std::string& mapPath,
                                              std::map<std::string, std::string> environment,
                                              Clock::time_point deadline, std::string& mpirunEnd) {
  environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
  environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
  // A rank that dies or exits without MPI_Finalize would otherwise make mpirun kill the others
  // (before they could report): with recovery on, mpirun leaves the survivors alone.
  environment["OMPI_MCA_orte_enable_recovery"] = "1";
  environment["OMPI_MCA_orte_abort_on_non_zero_status"] = "0";
  const std::vector<std::string> argv{"mpirun",          "-np",          std::to_string(settings.ranks),
                                      "--oversubscribe", "--bind-to",    "none",
                                      settings.self,     "--mpi-worker", mapPath};
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    applyEnvironment(environment);
    // Its chatter (PMIx's complaints about the dead rank, the ranks' own stderr) goes apart.
    const int log = ::open(settings.mpirunLog.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp("mpirun", args.data());
    ::_exit(127);
  }
  std::vector<bootstrap::RankExit> end(1);
  reap({pid}, deadline, end);
  mpirunEnd = end[0].killedAtDeadline ? "mpirun killed at the deadline"
              : end[0].signal != 0    ? fmt::format("mpirun killed by signal {}", end[0].signal)
                                      : fmt::format("mpirun exited with {}", end[0].exitCode);
  std::vector<bootstrap::RankExit> exits(static_cast<std::size_t>(settings.ranks));
  for (int r = 0; r < settings.ranks; ++r) {
    auto& exit = exits[static_cast<std::size_t>(r)];
    exit.rank = r;
    exit.exitCode = shared->reports[r].verdict.load() == static_cast<int>(Verdict::Reported) ? 0 : 1;
    exit.killedAtDeadline = end[0].killedAtDeadline && shared->reports[r].verdict.load() == 0;
  }
  return exits;
}

// Is `pid` still a process of this program (not a recycled pid)?
bool ourProcess(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  char target[4096] = {};
  const auto path = fmt::format("/proc/{}/exe", pid);
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
  if (n <= 0) return false;
  char mine[4096] = {};
  const ssize_t m = ::readlink("/proc/self/exe", mine, sizeof mine - 1);
  return m > 0 && std::string(target, static_cast<std::size_t>(n)) == std::string(mine, static_cast<std::size_t>(m));
}

std::set<std::string> shmFiles() {
  std::set<std::string> files;
  if (DIR* dir = ::opendir("/dev/shm")) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') files.insert(entry->d_name);
    }
    ::closedir(dir);
  }
  return files;
}

// The creator's pid from a banyan segment's stamp, or 0 when it carries none.
std::int64_t stampedCreator(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  transport::shm::SegmentStamp stamp{};
  const bool stamped = ::pread(fd, &stamp, sizeof stamp, 0) == static_cast<ssize_t>(sizeof stamp) &&
                       stamp.magic == transport::shm::SegmentStamp::kMagic;
  ::close(fd);
  return stamped ? stamp.creatorPid : 0;
}

struct Leftovers {
  std::vector<std::string> banyan;  // removed
  std::vector<std::string> other;   // not banyan's (Open MPI's vader segments): listed, left alone
};

// What the trial left in /dev/shm once its processes are gone. banyan-* segments whose stamp
// names one of `pids` are removed; so are banyan-* files that appeared during the trial and
// still carry no stamp (a rank killed between creating and stamping its segment: the runtime's
// own clean-up, removeStale, cannot tell whose they are and leaves them for ever); a live
// creator stamps within microseconds, so one still unstamped 200 ms later is the trial's. Other
// new files are listed only: other jobs on this machine may own them.
Leftovers removeLeftovers(const std::set<std::int64_t>& pids, const std::set<std::string>& before) {
  Leftovers left;
  std::vector<std::string> unstamped;
  for (const auto& file : shmFiles()) {
    const std::string path = "/dev/shm/" + file;
    if (!file.starts_with("banyan-")) {
      if (before.count(file) == 0) left.other.push_back(file);
      continue;
    }
    const std::int64_t creator = stampedCreator(path);
    if (creator > 0 && pids.count(creator) != 0) {
      left.banyan.push_back(file);
      ::unlink(path.c_str());
    } else if (creator == 0 && before.count(file) == 0) {
      unstamped.push_back(file);
    }
  }
  if (!unstamped.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (const auto& file : unstamped) {
    const std::string path = "/dev/shm/" + file;
    if (stampedCreator(path) != 0) continue;
    left.banyan.push_back(file + " (unstamped)");
    ::unlink(path.c_str());
  }
  return left;
}

struct TrialSpec {
  std::string layout;
  std::string transport;
  faults::Moment moment = faults::Moment::Mixed;
  bool stop = false;
};

struct TrialResult {
  TrialSpec spec;
  int victim = 0;
  int delayUs = 0;
  faults::Phase landed = faults::Phase::None;  // where the victim was when its signal went out
  int hangs = 0;
  int wrong = 0;             // survivors whose report does not name the victim (strict), or no report
  int wrongOldRule = 0;      // the same by the test's rule (fault_trial.hpp `right`)
  bool didNotStart = false;  // a survivor's job failed before the fault: nothing to judge
  bool noFault = false;      // the victim never reached its fault (it failed first)
  std::vector<double> delaysMs;
  std::vector<std::string> leftovers;       // banyan's segments, removed
  std::vector<std::string> otherLeftovers;  // others' new files (Open MPI's), left alone
  std::vector<std::string> problems;
  std::vector<std::string> reports;  // every survivor's error text, right or wrong
};

TrialResult runTrial(const Settings& settings, Shared* shared, const std::string& mapPath, const TrialSpec& spec,
                     std::mt19937& random) {
  faults::Plan plan;
  plan.ranks = settings.ranks;
  plan.stop = spec.stop;
  plan.moment = spec.moment;
  plan.timeout = spec.stop || spec.moment == faults::Moment::Init ? std::chrono::milliseconds(settings.timeoutMs)
                                                                  : std::chrono::milliseconds(60000);
  plan.loopFor = std::chrono::seconds(settings.boundS);
  faults::drawVictim(plan, random, std::chrono::milliseconds(settings.initWindowMs));
  if (settings.victim >= 0) plan.victim = settings.victim;
  TrialResult result;
  result.spec = spec;
  result.victim = plan.victim;
  result.delayUs = static_cast<int>(plan.delay.count());

  std::memset(static_cast<void*>(shared), 0, sizeof(Shared));
  shared->ranks = plan.ranks;
  shared->victim = plan.victim;
  shared->moment = static_cast<int>(plan.moment);
  shared->stop = plan.stop ? 1 : 0;
  shared->delayUs = plan.delay.count();
  shared->timeoutMs = plan.timeout.count();
  shared->loopForS = plan.loopFor.count();
  std::snprintf(shared->named, sizeof shared->named, "%s", faults::victimNamed(spec.transport, plan.victim).c_str());

  bootstrap::LaunchOptions options;
  environmentFor(spec.transport, options.environment);
  options = faults::launchOptions(plan, options);
  // Past the bound, the stopped victim's end (stopWait) and setting up.
  options.deadline = plan.loopFor + std::chrono::seconds(5);
  const auto deadline = Clock::now() + options.deadline;
  const std::set<std::string> shmBefore = shmFiles();
  std::string mpirunEnd;
  std::vector<bootstrap::RankExit> exits;
  if (spec.layout == "launcher") {
    exits = bootstrap::launchLocal(
        settings.ranks,
        [&](int rank) { return rankBody(shared, rank, [] { return Communicator::fromEnvironment(); }); }, options);
  } else if (spec.layout == "env") {
    exits = launchEnv(shared, settings.ranks, options.environment, deadline);
  } else {
    exits = launchMpirun(shared, settings, mapPath, options.environment, deadline, mpirunEnd);
  }
  // Whatever of the trial still runs (a stopped victim nobody ended, mpirun's orphans) ends now.
  std::set<std::int64_t> pids;
  for (int r = 0; r < settings.ranks; ++r) {
    const auto pid = static_cast<pid_t>(shared->pids[r].load());
    if (pid <= 0) continue;
    pids.insert(pid);
    if (ourProcess(pid)) {
      ::kill(pid, SIGKILL);
      if (r != plan.victim && shared->reports[r].verdict.load() == 0) {
        exits[static_cast<std::size_t>(r)].killedAtDeadline = true;
      }
    }
  }
  // Give the kernel a moment to end them before looking in /dev/shm.
  for (int i = 0; i < 100; ++i) {
    bool alive = false;
    for (const auto pid : pids) alive = alive || ourProcess(static_cast<pid_t>(pid));
    if (!alive) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto left = removeLeftovers(pids, shmBefore);
  result.leftovers = std::move(left.banyan);
  result.otherLeftovers = std::move(left.other);
  result.landed = static_cast<faults::Phase>(shared->faultPhase.load());
  result.noFault = shared->faultNs.load() == 0;

  for (const auto& exit : exits) {
    if (exit.rank == plan.victim) continue;
    const Report& report = shared->reports[exit.rank];
    if (static_cast<Verdict>(report.verdict.load()) == Verdict::SetupFailed) {
      result.didNotStart = true;
      result.problems.push_back(fmt::format("rank {}: the job did not start: {}", exit.rank, report.text));
    }
  }
  if (!mpirunEnd.empty() && !result.problems.empty()) result.problems.push_back(mpirunEnd);
  // Counted apart, never as a right report: the fault did not happen in a running job.
  if (result.didNotStart) return result;
  if (result.noFault) {
    result.problems.push_back(fmt::format("rank {} never reached its fault", plan.victim));
  }
  int namedOld = 0;
  for (const auto& exit : exits) {
    if (exit.rank == plan.victim) continue;
    const Report& report = shared->reports[exit.rank];
    const auto verdict = static_cast<Verdict>(report.verdict.load());
    result.reports.push_back(fmt::format("rank {}: {}", exit.rank, report.text));
    if (exit.killedAtDeadline || verdict == Verdict::NoError) {
      ++result.hangs;
      result.problems.push_back(
          fmt::format("rank {}: hang, no error within {} s ({})", exit.rank, settings.boundS, exit.describe()));
      continue;
    }
    if (verdict != Verdict::Reported) {
      ++result.wrong;
      ++result.wrongOldRule;
      // Under mpirun the rank is not our child: its end is unknown, its stderr in the mpirun log.
      result.problems.push_back(
          mpirunEnd.empty() ? fmt::format("rank {}: no report ({})", exit.rank, exit.describe())
                            : fmt::format("rank {}: ended without a report (crashed or killed: see --mpirun-log; {})",
                                          exit.rank, mpirunEnd));
      continue;
    }
    // A stop: the heartbeats' "stopped responding" (docs/fault-tolerance.md), or a timeout seen
    // first-hand (a store's own Timeout while the communicator is made, before heartbeats run,
    // does not say "BANYAN_TIMEOUT").
    const bool kindRight = !spec.stop || report.code.load() == static_cast<int>(ErrorCode::Timeout) ||
                           std::strstr(report.text, "BANYAN_TIMEOUT") != nullptr ||
                           std::strstr(report.text, "stopped responding") != nullptr;
    if (report.namesVictim.load() != 0) ++namedOld;
    if (report.right.load() == 0) ++result.wrongOldRule;
    if (!kindRight || report.blamesVictim.load() == 0) {
      ++result.wrong;
      result.problems.push_back(fmt::format("rank {}: {}: {}", exit.rank,
                                            report.blamesVictim.load() == 0
                                                ? "does not name rank " + std::to_string(plan.victim)
                                                : std::string("neither stopped responding nor a timeout"),
                                            report.text));
    }
    result.delaysMs.push_back(static_cast<double>(report.detectedNs) / 1e6);
  }
  // The old rule after a stop: at least one survivor names the stopped rank.
  if (spec.stop && result.hangs == 0 && result.wrongOldRule == 0 && namedOld == 0) ++result.wrongOldRule;
  return result;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

Settings parse(int argc, char** argv) {
  Settings s;
  s.self = argv[0];
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(fmt::format("{} needs a value", flag));
      return argv[++i];
    };
    if (flag == "--kills") {
      s.kills = std::stoi(value());
    } else if (flag == "--stops") {
      s.stops = std::stoi(value());
    } else if (flag == "--ranks") {
      s.ranks = std::stoi(value());
    } else if (flag == "--victim") {
      s.victim = std::stoi(value());
    } else if (flag == "--seed") {
      s.seed = static_cast<unsigned>(std::stoul(value()));
    } else if (flag == "--timeout-ms") {
      s.timeoutMs = std::stoi(value());
    } else if (flag == "--bound-s") {
      s.boundS = std::stoi(value());
    } else if (flag == "--init-window-ms") {
      s.initWindowMs = std::stoi(value());
    } else if (flag == "--json") {
      s.json = value();
    } else if (flag == "--mpirun-log") {
      s.mpirunLog = value();
    } else if (flag == "--transports") {
      s.transports = splitList(value());
    } else if (flag == "--layouts") {
      s.layouts = splitList(value());
    } else if (flag == "--moments") {
      s.moments.clear();
      for (const auto& name : splitList(value())) {
        if (name == "all") {
          for (const auto& [m, n] : faults::kMomentNames) s.moments.push_back(m);
          continue;
        }
        const auto moment = faults::momentNamed(name);
        if (!moment) throw std::invalid_argument(fmt::format("--moments: unknown moment '{}'", name));
        s.moments.push_back(*moment);
      }
    } else {
      throw std::invalid_argument(
          fmt::format("unknown flag '{}' (see the header of tools/banyan_fault_trials.cpp)", flag));
    }
  }
  if (s.moments.empty()) {
    for (const auto& [m, n] : faults::kMomentNames) s.moments.push_back(m);
  }
  if (s.ranks < 3 || s.ranks > kMaxRanks)
    throw std::invalid_argument(fmt::format("--ranks must be 3 to {}", kMaxRanks));
  if (s.victim >= s.ranks) throw std::invalid_argument("--victim must be below --ranks");
  if (s.kills < 0 || s.stops < 0 || s.transports.empty() || s.layouts.empty() || s.timeoutMs < 100 || s.boundS < 5 ||
      s.initWindowMs < 1) {
    throw std::invalid_argument(
        "--kills/--stops must be >= 0, --transports and --layouts non-empty, --timeout-ms >= 100, --bound-s >= 5, "
        "--init-window-ms >= 1");
  }
  for (const auto& t : s.transports) {
    std::map<std::string, std::string> probe;
    environmentFor(t, probe);
  }
  for (const auto& l : s.layouts) {
    if (l != "launcher" && l != "env" && l != "mpirun") {
      throw std::invalid_argument(fmt::format("--layouts: unknown layout '{}' (launcher, env, mpirun)", l));
    }
#ifndef BANYAN_FAULT_TRIALS_HAVE_MPI
    if (l == "mpirun") throw std::invalid_argument("--layouts mpirun: this build has no MPI (Open MPI not found)");
#endif
  }
  return s;
}

Shared* mapShared(const std::string& path, bool create) {
  const int fd = ::open(path.c_str(), O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0600);
  if (fd < 0) return nullptr;
  if (create && ::ftruncate(fd, sizeof(Shared)) != 0) {
    ::close(fd);
    return nullptr;
  }
  void* at = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  return at == MAP_FAILED ? nullptr : static_cast<Shared*>(at);
}

// A rank under mpirun: its trial is in the mapping at `path`.
int mpiWorker(int argc, char** argv, const std::string& path) {
#ifdef BANYAN_FAULT_TRIALS_HAVE_MPI
  Shared* shared = mapShared(path, false);
  if (shared == nullptr) return 2;
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int code = 1;
  try {
    code = rankBody(shared, rank, [] { return mpi::createCommunicator(MPI_COMM_WORLD); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
  }
  // No MPI_Finalize: it waits for every rank, and one is dead. mpirun runs with recovery on.
  std::fflush(nullptr);
  ::_exit(code);
#else
  (void)argc;
  (void)argv;
  (void)path;
  return 2;
#endif
}

// The kill trials' (layout, transport, moment) in turn from the shuffled product; the stops' too.
std::vector<TrialSpec> schedule(const Settings& settings, std::mt19937& random) {
  std::vector<TrialSpec> product;
  for (const auto& layout : settings.layouts) {
    for (const auto& transport : settings.transports) {
      for (const auto moment : settings.moments) product.push_back({layout, transport, moment, false});
    }
  }
  std::vector<TrialSpec> trials;
  for (const bool stop : {false, true}) {
    std::shuffle(product.begin(), product.end(), random);
    const int count = stop ? settings.stops : settings.kills;
    for (int i = 0; i < count; ++i) {
      TrialSpec spec = product[static_cast<std::size_t>(i) % product.size()];
      spec.stop = stop;
      trials.push_back(spec);
    }
  }
  return trials;
}

struct Row {
  int trials = 0, didNotStart = 0, hangs = 0, wrong = 0, wrongOldRule = 0, leftovers = 0;
  std::vector<double> delays;
};

void printTable(const char* title, const char* third, const std::map<std::vector<std::string>, Row>& rows) {
  std::printf(
      "\n%s\n| fault | layout | %s | trials | did not start | survivors' reports | hangs | not naming the victim | "
      "old rule | fault to error, median (ms) | max (ms) | /dev/shm left |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      title, third);
  for (const auto& [key, row] : rows) {
    std::printf("| %s | %s | %s | %d | %d | %zu | %d | %d | %d | %.0f | %.0f | %d |\n", key[0].c_str(), key[1].c_str(),
                key[2].c_str(), row.trials, row.didNotStart, row.delays.size(), row.hangs, row.wrong, row.wrongOldRule,
                percentile(row.delays, 0.5), percentile(row.delays, 1), row.leftovers);
  }
}

std::string jsonText(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--mpi-worker") return mpiWorker(argc, argv, argv[2]);
  Settings settings;
  try {
    settings = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banyan-fault-trials: %s\n", e.what());
    return 2;
  }
  char self[4096] = {};
  if (const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1); n > 0) settings.self = self;
  const std::string mapPath = fmt::format("/tmp/banyan-fault-trials-{}.map", getpid());
  Shared* shared = mapShared(mapPath, true);
  if (shared == nullptr) {
    std::perror("banyan-fault-trials: the shared report file");
    return 2;
  }
  std::mt19937 random(settings.seed);
  const auto trials = schedule(settings, random);
  std::vector<TrialResult> results;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    results.push_back(runTrial(settings, shared, mapPath, trials[i], random));
    const auto& r = results.back();
    std::string what = r.problems.empty() ? fmt::format("{}, errors after {:.0f}-{:.0f} ms",
                                                        r.leftovers.empty() ? "ok" : "reports right",
                                                        percentile(r.delaysMs, 0), percentile(r.delaysMs, 1))
                                          : fmt::format("{}", fmt::join(r.problems, "\n      "));
    if (!r.leftovers.empty()) what += fmt::format("\n      left in /dev/shm: {}", fmt::join(r.leftovers, " "));
    if (!r.otherLeftovers.empty()) {
      what += fmt::format("\n      new in /dev/shm, not banyan's (left alone): {}", fmt::join(r.otherLeftovers, " "));
    }
    if (!r.delaysMs.empty() && !r.problems.empty()) {
      what +=
          fmt::format("\n      errors after {:.0f}-{:.0f} ms", percentile(r.delaysMs, 0), percentile(r.delaysMs, 1));
    }
    std::printf("trial %3zu: %-4s %-8s %-12s %-14s victim %d at %6.1f ms (landed in %s): %s\n", i + 1,
                r.spec.stop ? "stop" : "kill", r.spec.layout.c_str(), r.spec.transport.c_str(),
                std::string(faults::momentName(r.spec.moment)).c_str(), r.victim, r.delayUs / 1000.0,
                std::string(faults::phaseName(r.landed)).c_str(), what.c_str());
    std::fflush(stdout);
  }
  ::munmap(shared, sizeof(Shared));
  ::unlink(mapPath.c_str());

  std::map<std::vector<std::string>, Row> byTransport, byMoment;
  int bad = 0;
  for (const auto& r : results) {
    const std::string fault = r.spec.stop ? "stop" : "kill";
    const std::string moment(faults::momentName(r.spec.moment));
    for (auto* key : {&byTransport, &byMoment}) {
      const std::string third = key == &byTransport ? r.spec.transport : moment;
      for (const auto& k : std::vector<std::vector<std::string>>{
               {fault, r.spec.layout, third}, {fault, r.spec.layout, "all"}, {fault, "all", "all"}}) {
        if (key == &byMoment && k[2] == "all") continue;  // the transport table has the totals
        Row& row = (*key)[k];
        ++row.trials;
        row.didNotStart += r.didNotStart ? 1 : 0;
        row.hangs += r.hangs;
        row.wrong += r.wrong;
        row.wrongOldRule += r.wrongOldRule;
        row.leftovers += static_cast<int>(r.leftovers.size());
        row.delays.insert(row.delays.end(), r.delaysMs.begin(), r.delaysMs.end());
      }
    }
    bad += r.hangs + r.wrong + static_cast<int>(r.leftovers.size());
  }
  printTable("By fault, layout and transport:", "transport", byTransport);
  printTable("By fault, layout and moment:", "moment", byMoment);
  std::printf(
      "\n%d ranks; stop trials and init kills use BANYAN_TIMEOUT=%d ms, other kills 60 s; a survivor not ended %d s "
      "into its loop is a hang; seed %u\n",
      settings.ranks, settings.timeoutMs, settings.boundS, settings.seed);
  if (!settings.json.empty()) {
    if (FILE* f = std::fopen(settings.json.c_str(), "w")) {
      std::fprintf(f, "[\n");
      for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        std::vector<std::string> problems, reports, files, others;
        for (const auto& p : r.leftovers) files.push_back("\"" + jsonText(p) + "\"");
        for (const auto& p : r.otherLeftovers) others.push_back("\"" + jsonText(p) + "\"");
        for (const auto& p : r.problems) problems.push_back("\"" + jsonText(p) + "\"");
        for (const auto& p : r.reports) reports.push_back("\"" + jsonText(p) + "\"");
        std::fprintf(
            f,
            "  {\"fault\": \"%s\", \"layout\": \"%s\", \"transport\": \"%s\", \"moment\": \"%s\", "
            "\"landed\": \"%s\", \"victim\": %d, \"delay_us\": %d, \"did_not_start\": %s, \"hangs\": %d, "
            "\"wrong\": %d, \"wrong_old_rule\": %d, \"leftovers\": %zu, \"detected_ms\": [%s], "
            "\"problems\": [%s], \"reports\": [%s], \"leftover_files\": [%s], \"other_new_files\": [%s]}%s\n",
            r.spec.stop ? "stop" : "kill", r.spec.layout.c_str(), r.spec.transport.c_str(),
            std::string(faults::momentName(r.spec.moment)).c_str(), std::string(faults::phaseName(r.landed)).c_str(),
            r.victim, r.delayUs, r.didNotStart ? "true" : "false", r.hangs, r.wrong, r.wrongOldRule, r.leftovers.size(),
            fmt::format("{:.1f}", fmt::join(r.delaysMs, ", ")).c_str(),
            fmt::format("{}", fmt::join(problems, ", ")).c_str(), fmt::format("{}", fmt::join(reports, ", ")).c_str(),
            fmt::format("{}", fmt::join(files, ", ")).c_str(), fmt::format("{}", fmt::join(others, ", ")).c_str(),
            i + 1 < results.size() ? "," : "");
      }
      std::fprintf(f, "]\n");
      std::fclose(f);
    }
  }
  return bad == 0 ? 0 : 1;
}

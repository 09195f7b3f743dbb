#pragma once
// The flight recorder: each communicator's ring of its last N collective operations, written as
// JSON when something goes wrong, so that after a stall one can see what every rank was doing.
//
// An operation is recorded when it is queued (its sequence number is the one every rank gives
// the same call), when it starts (with the algorithm chosen), while it waits long (what it waits
// for) and when it ends. The ring is indexed by sequence number, so each update is O(1) and
// takes one uncontended mutex: the enqueueing thread and the driver both write, and a dump may
// read from the SIGUSR1 thread (see dump_signal.hpp).
//
// tools/banyan-flight reads the dumps of all ranks and names the rank that is behind.

#include <banyan/types.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace banyan::observe {

enum class OperationState { Queued, Running, Done, Failed };

// What describes a call beyond its size, kept as fields and formatted only when a dump is
// written ("3 calls fused, sum, root=1"): building the text per call cost more than the rest of
// the recording.
struct CallDetails {
  std::string_view op;  // empty when the op does not matter (a static name: toString(ReduceOp))
  int root = -1;        // -1: not a rooted collective
  std::size_t fusedCalls = 0;
  std::optional<double> premulFactor{};
};

struct OperationRecord {
  std::uint64_t sequence = 0;  // 0: empty slot
  const char* kind = "";       // "allreduce", ...
  std::size_t count = 0;       // per rank, as the call's count
  std::size_t bytes = 0;
  DataType type = DataType::u8;
  CallDetails details;
  std::string algorithm;  // set at start
  OperationState state = OperationState::Queued;
  std::int64_t queuedUs = 0, startedUs = 0, finishedUs = 0;  // wall clock, microseconds since the epoch
  std::string waitingFor;                                    // the last "waiting for" seen while it ran long
  std::string error;                                         // a failed operation's message
};

// A send or receive. Their numbers are this rank's own (sends and receives are not numbered
// alike across ranks, unlike collectives), so they are kept beside the collectives, not among them.
struct TransferRecord {
  std::uint64_t number = 0;  // 0: empty slot
  bool isSend = true;
  int peer = 0;  // -1: any source
  int tag = 0;
  std::size_t bytes = 0;
  DataType type = DataType::u8;
  OperationState state = OperationState::Running;
  std::int64_t startedUs = 0, finishedUs = 0;
  std::string error;
};

struct RecorderIdentity {
  std::string communicator;  // "communicator 3"
  std::uint64_t id = 0;
  int rank = 0;
  int size = 1;
};

class FlightRecorder {
 public:
  // `pathPattern`: see expandPath. `capacity`: operations kept (at least 1).
  FlightRecorder(RecorderIdentity identity, std::size_t capacity, std::string pathPattern);
  ~FlightRecorder();
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  void queued(std::uint64_t sequence, const char* kind, std::size_t count, std::size_t bytes, DataType type,
              const CallDetails& details);
  void started(std::uint64_t sequence, std::string_view algorithm);
  // Called on the watchdog's ticks: once the running operation has run for a while, asks
  // `describe` what it waits for (cheap enough every tick, but pointless for short operations).
  void stillRunning(std::uint64_t sequence, const std::function<std::string()>& describe);
  void finished(std::uint64_t sequence, const Status& status);
  // Sends and receives (point-to-point), by their own numbers.
  void transferStarted(std::uint64_t number, bool isSend, int peer, int tag, std::size_t bytes, DataType type);
  void transferFinished(std::uint64_t number, const Status& status);

  // Writes the dump (to a temporary file, then renamed, so a reader never sees half of one).
  // Returns the path written, or "" when writing failed (reported through log::warn).
  std::string dump(const std::string& reason);
  std::string toJson(const std::string& reason) const;
  const std::string& path() const { return path_; }

  // "%r" rank, "%c" communicator number, "%p" pid, "%h" host, "%%" a percent sign. A pattern
  // without %r gets ".r<rank>" appended; communicators after the first (number > 0) get
  // ".c<number>" unless the pattern has %c, so no two dumps of one job share a path.
  static std::string expandPath(const std::string& pattern, const RecorderIdentity& identity, long pid,
                                const std::string& host);

 private:
  OperationRecord* find(std::uint64_t sequence);  // under mutex_; null if overwritten or never queued

  const RecorderIdentity identity_;
  const std::string path_;
  mutable std::mutex mutex_;
  std::mutex dumpMutex_;                   // one dump at a time: a failure and SIGUSR1 may dump together
  std::vector<OperationRecord> ring_;      // slot = sequence % size
  std::vector<TransferRecord> transfers_;  // slot = number % size
  std::uint64_t lastTransfer_ = 0;
  std::uint64_t lastQueued_ = 0, lastStarted_ = 0, lastFinished_ = 0;
};

}  // namespace banyan::observe

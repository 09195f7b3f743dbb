#pragma once
// What makes progress: the schedule executor (src/runtime/schedule_engine.hpp), the
// shared-memory engine (src/intrahost) and the point-to-point channel (src/p2p) each implement
// this, and the communicator's driver (src/runtime/progress_driver.hpp) loops over them without
// knowing which is which. How work is started differs per engine (a schedule, a call in shared
// memory, a tagged send or receive), so start is each engine's own; progress, sleep, failure
// and describing what waits are common. Deadlines are the runner's (src/runtime/operation_runner.hpp), which
// knows when each operation was called, and the point-to-point channel's own, per message.
//
// Every method runs on the driving thread (the one thread that holds the driver's lock).

#include "common/status.hpp"

#include <cstddef>
#include <string>

namespace banyan {

class Engine {
 public:
  virtual ~Engine() = default;

  // Advances whatever can advance without blocking; returns how much happened (0: nothing,
  // the engine waits on peers). Engines whose progress some file descriptor signals may do
  // their work in the event loop instead and return 0 here.
  virtual std::size_t poll() = 0;
  // The driver is about to sleep in the event loop: returns false when work turned up meanwhile
  // (do not sleep); otherwise makes sure a peer that writes for this engine wakes the loop.
  // awake() follows every sleep that prepareToSleep() allowed.
  virtual bool prepareToSleep() = 0;
  virtual void awake() = 0;

  // While true, this engine's peers answer through memory the driver polls, not through file
  // descriptors: the driver then reads the clock and the event loop less often (they cost
  // several times a look at shared memory on a VM).
  virtual bool answersInMemory() const { return false; }

  // Something started and not yet ended.
  virtual bool busy() const = 0;
  // Ends what runs with `why` (timeout, abort, close); nothing is left pending.
  virtual void fail(const Status& why) = 0;
  // What the work in flight waits for, for timeout messages and the flight recorder:
  // "recv from rank 2 (3 of 8)".
  virtual std::string describePending() const = 0;
};

}  // namespace banyan

#pragma once
// A communicator's control channel: a UDP socket per rank and one thread that sleeps in poll(),
// apart from the data connections (docs/fault-tolerance.md). It carries what must reach every
// rank even when the data paths, the store, or rank 0 are gone:
//
// - Heartbeats. Each rank sends one every BANYAN_HEARTBEAT_MS to its two nearest live neighbours
//   in rank order and watches theirs; a neighbour silent for BANYAN_HEARTBEAT_MISSES periods
//   (the liveness window) is declared lost, "stopped responding", with the sequence number of
//   the last operation its heartbeats said it had entered. Idle cost: one wake-up and two small
//   datagrams per period. A neighbour on this host is also watched through its pidfd, so its
//   exit is seen at once, in or out of an operation.
// - Failure notices. The rank that sees a loss first-hand (announce()) tells every rank which
//   rank was lost and why, before it closes its connections; every survivor then fails its
//   pending and later operations naming the lost rank, whether or not it talked to it, and a
//   survivor that sees its neighbour close learns from the notice why (failure_accounts.hpp).
// - Goodbyes. A rank that closes with nothing pending tells the (at most two) ranks that watch
//   it, its live neighbours, and nobody else: O(1) datagrams per rank at close, where one to
//   every rank was n - 1 (n^2 in all; 16 s of a 1024-rank close). Everyone else learns it when
//   it asks: a rank that said goodbye answers any heartbeat, Propose or Query with its goodbye,
//   and once its channel is closed its port answers with ICMP port-unreachable, which this
//   socket reads (IP_RECVERR) as "refused". A refusal from a rank whose process runs (this
//   process, or one of this host's not exited) is a goodbye; from a rank on another host it
//   means "closed, or its process is gone": agreement waits for it no more, and a loss notice
//   about it still counts. A rank that closes after a loss sends the loss's notice ahead of each
//   goodbye: a peer that sees it close before the announcer's notice reached it learns the
//   cause, not "it closed".
// - Revocation (revoke()): every pending and later operation on every rank ends with Aborted.
// - Agreement (agree()): the survivors agree on a value and on the set of failed ranks, without
//   the store; shrink() builds on it.
//
// Thread-safety: every public method may be called from any thread. Listeners run on the
// control thread and must not block.

#include "common/log.hpp"
#include "common/status.hpp"
#include "resilience/control_wire.hpp"

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace banyan::transport {
class PeerLiveness;
}

namespace banyan::resilience {

struct LivenessSettings {
  std::chrono::milliseconds period{1000};  // BANYAN_HEARTBEAT_MS; 0: no heartbeats
  int misses = 5;                          // BANYAN_HEARTBEAT_MISSES
  std::chrono::milliseconds window() const { return period * misses; }
};

// A loss this rank knows of, first-hand or from a notice; or a departure: a rank whose own
// operation failed (for a reason of its own, such as a mismatched call) or that closed.
struct FailureNotice {
  enum class Kind { Lost, Departed, Closed };
  Kind kind = Kind::Lost;
  int lost = -1;
  int detectedBy = -1;   // the rank that saw it first-hand
  int learnedFrom = -1;  // whose notice told us (this rank: seen here)
  std::string cause;     // "its process exited", "stopped responding: ..."
};

// What agree() returns: the same on every survivor that returns.
struct Agreement {
  std::uint64_t flag = 0;   // the bitwise AND of the survivors' flags
  std::vector<int> failed;  // ascending
  std::string payload;      // what the coordinator added (makePayload)
  int coordinator = -1;
};

class ControlPlane {
 public:
  // Binds a UDP socket on `host` (an address this host is reached on); sends nothing before
  // start(). `name` is the communicator's, for messages; `communicator` its number, so that
  // this channel's log lines carry it as the runtime's do (Identity::logAs). Throws System if
  // it cannot bind.
  ControlPlane(int rank, int size, std::uint64_t nonce, const std::string& host, LivenessSettings settings,
               std::string name, std::int64_t communicator);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // "host:port", for the other ranks (published with the host identity at creation).
  const std::string& address() const { return address_; }
  const LivenessSettings& settings() const { return settings_; }

  // Every rank's address (this rank's included), and the pids of the peers on this host;
  // starts the thread, and the heartbeats when they are on. Throws InvalidUsage for an address
  // that does not parse.
  void start(const std::vector<std::string>& addresses, std::shared_ptr<const transport::PeerLiveness> liveness);

  // Called (on the control thread) with the Status every operation should now fail with: a
  // rank was lost, or the communicator was revoked. Once per event; set before start().
  void setListener(std::function<void(const Status&)> onBreak) { onBreak_ = std::move(onBreak); }

  // This rank entered its operation number `sequence` (heartbeats carry it).
  void entered(std::uint64_t sequence) { entered_.store(sequence + 1, std::memory_order_relaxed); }

  // This rank saw `lost` go first-hand (`cause` says how): every rank is told, once.
  void announce(int lost, const std::string& cause);
  // This rank's operation failed for a reason of its own, `account`: peers that see it close
  // read why (lossOf). May be called again with a fuller account, which replaces the first.
  void leave(const std::string& account);
  // This rank closes with no operation pending: its neighbours stop watching it, and it stops
  // watching (and beating for) them.
  void sayGoodbye();
  // Goodbye datagrams this rank sent (its own at close and its answers to those that asked):
  // at most a few, whatever the size (tests).
  std::uint64_t goodbyesSent() const { return goodbyesSent_.load(std::memory_order_relaxed); }
  // The first loss known here, waiting up to `wait` for one to arrive.
  std::optional<FailureNotice> firstLoss(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;
  // Why `peer` closed on this rank: the first loss known (whoever it was), else `peer`'s own
  // account or goodbye; waits up to `wait` for either, and asks `peer` (a rank that closed
  // answers with its goodbye, or its port refuses) when nothing is known of it yet.
  std::optional<FailureNotice> causeBehind(int peer, std::chrono::milliseconds wait);
  // What is known of `rank`'s loss or departure, waiting up to `wait` for a notice.
  std::optional<FailureNotice> lossOf(int rank, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;
  bool isLost(int rank) const;
  // True if `rank` runs on this host and its process has not exited (waiting up to `settle`
  // for the kernel to say it has: a killed process's sockets close before its pidfd fires).
  // False for ranks of other hosts: nothing here can tell.
  bool processRuns(int rank, std::chrono::milliseconds settle) const;
  std::vector<int> lost() const;
  // "rank 2 was lost: its process exited (seen by rank 1)"
  std::string describe(const FailureNotice& notice) const;
  // The Status a loss gives every operation (Remote, naming the lost rank).
  Status statusOf(const FailureNotice& notice) const;

  // Ends every operation on every rank with Aborted, naming this rank and `reason`.
  void revoke(const std::string& reason);
  // The revocation's Status, if the communicator was revoked (here or by a peer).
  std::optional<Status> revoked() const;
  // Whether a loss or a revocation has broken the communicator (cheap: an operation about to
  // start asks), and the Status it ends operations with.
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  Status breakStatus() const;

  // Fault-tolerant agreement among the survivors: every rank calls it, in the same order
  // relative to its other agree() calls. Returns the AND of their flags and the ranks known
  // failed, the same on every survivor that returns; `makePayload` runs on the coordinator only
  // (the lowest survivor), and its text reaches every survivor. Throws Timeout by `deadline`.
  Agreement agree(std::uint64_t flag, const std::function<std::string()>& makePayload,
                  std::chrono::steady_clock::time_point deadline);

 private:
  struct Peer {
    // Its sockaddr_in or sockaddr_in6, in place (a heap block per peer was 32 B more); length 0
    // for none.
    alignas(sockaddr_in6) std::array<std::uint8_t, sizeof(sockaddr_in6)> address{};
    unsigned addressLength = 0;
    std::chrono::steady_clock::time_point lastHeard{};
    std::uint64_t entered = 0;
    bool heard = false;  // a heartbeat came: until then it gets a longer grace (set-up)
    bool lost = false;
    bool closed = false;  // said goodbye: not watched, not waited for in agreement
    // Its port refused a datagram (ICMP) and nothing says whether its process lives (another
    // host): closed or gone. Not waited for in agreement; still watched if a neighbour (a
    // process that died there is found by its silence), and a loss notice about it counts.
    bool refused = false;
    bool gone() const { return lost || closed; }
    bool absent() const { return gone() || refused; }  // for agreement
  };

  void run();
  void receiveAll();
  void handle(const ControlMessage& message);
  void sendTo(int rank, const ControlMessage& message);
  void sendToAllLive(const ControlMessage& message);
  void sendGoodbye(int rank);
  // The ICMP errors queued on `fd` (IP_RECVERR): a refusal names a rank whose port is closed.
  void receiveErrors(int fd);
  int rankAt(const sockaddr_storage& address) const;
  void refusedBy(int rank);
  // `rank` closed (its goodbye, or a refusal while its process runs): neither watched nor
  // waited for from now. Takes mutex_ from `lock` and releases it.
  void markClosed(int rank, const std::string& cause, std::unique_lock<std::mutex>& lock);
  ControlMessage header(MessageKind kind) const;
  // Records a loss (under mutex_); true if it was news.
  bool recordLoss(const FailureNotice& notice);
  void recordDeparture(const FailureNotice& notice);
  void lossRecorded(const FailureNotice& notice);
  // The nearest live ranks before and after this one (at most two, distinct); mutex_ held.
  std::vector<int> neighbours();
  void checkNeighbours(std::chrono::steady_clock::time_point now);
  std::string silenceCause(int rank, std::chrono::steady_clock::duration silent, std::uint64_t entered) const;
  void wake();
  void throwIfDeclaredLost() const;
  // agree()'s rounds: as the coordinator, and as anyone else.
  std::optional<Ballot> coordinate(std::uint64_t epoch, const std::function<std::string()>& makePayload, bool resend);

  const int rank_;
  const int size_;
  const std::uint64_t nonce_;
  const LivenessSettings settings_;
  const std::string name_;
  const log::Where logAs_;  // rank and communicator number for log lines
  int socket_ = -1;
  int family_ = 0;              // of socket_ (AF_INET or AF_INET6), the address this rank publishes
  int otherFamilySocket_ = -1;  // sends to peers of the other family; -1 while none is
  int wakeFd_ = -1;             // eventfd: wakes the thread to stop
  std::string address_;
  std::shared_ptr<const transport::PeerLiveness> liveness_;
  std::function<void(const Status&)> onBreak_;
  std::atomic<std::uint64_t> entered_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> broken_{false};
  std::atomic<std::uint64_t> goodbyesSent_{0};
  std::thread thread_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Peer> peers_;
  std::vector<FailureNotice> losses_;        // in the order learned
  std::map<int, FailureNotice> departures_;  // rank -> its latest account or goodbye
  int after_ = 0;                            // where neighbours() last found the nearest live rank after this one
  int before_ = 0;                           // and before it
  std::optional<Status> revoked_;
  bool declaredLost_ = false;                  // a peer declared this rank lost: the others go on without it
  bool saidGoodbye_ = false;                   // closing: watches and beats for nobody (run())
  std::uint64_t epochs_ = 0;                   // agree() calls so far
  std::map<std::uint64_t, Ballot> myBallots_;  // what this rank proposed
  std::map<std::uint64_t, std::map<int, Ballot>> proposals_;  // as coordinator: epoch -> rank -> ballot
  std::map<std::uint64_t, Ballot> decisions_;                 // epoch -> decision
};

}  // namespace banyan::resilience

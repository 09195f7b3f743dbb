#pragma once
// An event-driven simulation of schedules (algorithms/schedule.hpp) on a Cluster (cluster.hpp):
// every step of every simulated rank is an event, no closed form.
//
// Terms
//   ready     a step is ready when every step it depends on has finished (time 0 without deps).
//   message   the k-th Send from rank a to rank b matches the k-th Recv on b from a and carries
//             the Send's bytes. A rank's Sends to one peer start in step order, as the executor
//             posts them. A Send starts once it is ready, its turn has come and its way out is
//             free; it holds the way out for bytes / bandwidth and the receiver's way in for as
//             long, from when that is free; the bytes arrive one latency after the way in is
//             done. The Send finishes when its bytes are out (eager sends). A rank's Recvs from
//             one peer are posted in step order too: a Recv is posted once it and every earlier
//             Recv from that peer are ready, and finishes when it is posted and its bytes have
//             arrived.
//   local     Reduce (bytes of dst at the reduce rate) and Copy (the copy rate; a Copy onto
//             itself is free) run on the rank's core, one at a time, in the order they are ready.
//   cpu       a link's cpuUs holds the sender's core before its bytes leave and the receiver's
//             after they arrive (runOnCore: the rank's thread, and with machineCores a core of
//             the machine's pool, the one free first).
//   copy      with machineCores, a message inside a host has no ports: once sent (the sender's
//             cpuUs) and posted, the receiver's thread copies it on a core of the pool, for
//             cpuUs + bytes / intra bandwidth, a latency after the send; the Send finishes with
//             the copy (the sender's buffer is read until then).
//   time      of the call: when the last step of any rank finishes.
//   calls     `calls` > 1: each rank runs its schedule that many times back to back, as a
//             benchmark's loop does (a rank starts call i + 1 when its call i is done, with no
//             barrier between), so that calls overlap where they can (a broadcast's root sends
//             the next call's data while the leaves still receive); the result is per call.
//   symmetry  a cluster of identical hosts, and schedules that map onto each other when the
//             hosts are relabelled (rotated: host h -> h + k mod H; or, for powers of two,
//             h -> h xor k), behave alike on every host. Then only host 0's ranks need to run:
//             a message to rank p of host h goes to host 0's rank p mod ranksPerHost, which
//             plays p's part, and leaves and enters through host 0's NIC, which plays every
//             NIC's. Which schedules have the symmetry is simulate_call.hpp's business; this
//             file trusts what it is told.
// Ordering is deterministic: events in time order, ties by rank, then step.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/schedule.hpp"
#include "simulate/cluster.hpp"

namespace banyan::simulate {

enum class Symmetry { None, Rotation, Xor };

// "none", "rotation", "xor"
const char* toString(Symmetry symmetry);

struct SimulationResult {
  double us = 0;      // of one call (of `calls`, the whole run's time over their number)
  std::string error;  // "": ran to the end; else why not (an unmatched message, a deadlock)
  std::size_t steps = 0;
  std::size_t events = 0;
};

class EventSimulation {
 public:
  // None: every rank of the cluster is added; Rotation or Xor: host 0's ranks only.
  EventSimulation(const Cluster& cluster, Symmetry symmetry, std::size_t elementSize, int calls = 1);

  // The next rank's schedule (rank 0 first). Peers are real ranks of the whole cluster.
  void add(const algorithms::Schedule& schedule);

  // How many ranks run: the cluster's, or one host's under a symmetry.
  int simulatedRanks() const;

  SimulationResult run();

 private:
  struct Port {
    double outFree = 0;
    double inFree = 0;
  };
  struct Event {
    double time;
    std::int32_t rank;
    std::uint32_t step;
    bool operator>(const Event& o) const {
      if (time != o.time) return time > o.time;
      if (rank != o.rank) return rank > o.rank;
      return step > o.step;
    }
  };

  void addCall(const algorithms::Schedule& schedule, bool gated);
  void indexPeers(int rank, std::size_t first, std::size_t end);
  std::string matchSends();
  void push(std::uint32_t step, double at);
  void becomeReady(std::uint32_t step);
  void finish(std::uint32_t step, double time);
  void callDone(std::size_t call, double time);
  void execute(const Event& event);
  void transfer(std::uint32_t step, int rank, double time);
  void receive(std::uint32_t step, int rank, double time);
  void releaseNextSend(std::uint32_t slot, std::uint32_t k, double start);
  double runOnCore(int rank, double at, double duration);
  int simRankOf(int realRank) const;
  int senderSeenBy(int senderSim, int realReceiver) const;
  bool crossesHosts(int senderSim, int realReceiver) const;
  std::string describe(std::uint32_t step) const;

  Cluster cluster_;
  Symmetry symmetry_;
  std::size_t element_;
  int calls_;
  // Per call of each rank (ranks' calls one after another): its first step, and how many of
  // its steps have yet to finish; the next call's first steps wait for that to reach 0.
  std::vector<std::uint32_t> callBegin_, callRemaining_;

  // Per step (global index: ranks' steps one after another).
  std::vector<std::uint8_t> kind_, waiting_, flags_;
  std::vector<std::int32_t> peer_;
  std::vector<std::uint32_t> ordinal_;  // Send/Recv: its place among the rank's messages with that peer
  std::vector<std::uint32_t> slot_;     // Send/Recv: the (rank, peer) slot
  std::vector<std::uint32_t> match_;    // Send: the matching Recv; Recv: the matching Send
  std::vector<double> bytes_, ready_, arrival_;
  std::vector<std::uint32_t> dependentsBegin_, dependents_;
  std::vector<std::uint32_t> stepBegin_;  // per rank, and one past the last

  // Per (rank, peer) slot, CSR per rank: the peer, its Sends and Recvs in step order.
  std::vector<std::uint32_t> slotBegin_;  // per rank
  std::vector<std::int32_t> slotPeer_;
  std::vector<std::uint32_t> sendsBegin_, sends_, recvsBegin_, recvs_;
  std::vector<std::uint32_t> nextSend_;

  std::vector<Port> rankPort_, nicPort_;
  std::vector<double> core_;  // per rank: when its thread is free
  std::vector<double> pool_;  // per core of the machine (machineCores): when it is free
  std::vector<Event> heap_;
  double last_ = 0;
  std::size_t events_ = 0;
};

}  // namespace banyan::simulate

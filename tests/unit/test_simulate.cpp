// The simulator of banyan-sim (src/simulate/): simulated times of small schedules against
// alpha-beta figures worked out by hand, the shared NIC, one host standing for all against
// every rank run, and a 4k-rank run.

#include <catch2/catch.hpp>

#include <vector>

#include "algorithms/schedule.hpp"
#include "simulate/event_simulation.hpp"
#include "simulate/simulate_call.hpp"

using namespace banyan;
using algorithms::BufferId;
using algorithms::Schedule;
using algorithms::Span;
using simulate::Cluster;
using simulate::EventSimulation;
using simulate::Symmetry;

namespace {

// Links whose figures make the arithmetic easy: MB/s is bytes per microsecond.
Cluster cluster(int hosts, int perHost) {
  Cluster c;
  c.hosts = hosts;
  c.ranksPerHost = perHost;
  c.inter = {10, 1000};  // 10 us, 1000 B/us
  c.intra = {1, 4000};   // 1 us, 4000 B/us
  c.copyMBps = 8000;
  c.reduceMBps = 2000;
  return c;
}

Span in(std::size_t offset, std::size_t count) { return {BufferId::Input, offset, count}; }
Span out(std::size_t offset, std::size_t count) { return {BufferId::Output, offset, count}; }

// `messages` sends of `count` elements to `peer`, and as many receives from it.
Schedule exchange(int peer, std::size_t count, int messages = 1) {
  Schedule s;
  for (int m = 0; m < messages; ++m) {
    s.add(algorithms::sendStep(peer, in(0, count)));
    s.add(algorithms::recvStep(peer, out(0, count)));
  }
  return s;
}

double run(const Cluster& c, const std::vector<Schedule>& schedules, std::size_t element = 1) {
  EventSimulation simulation(c, Symmetry::None, element);
  for (const Schedule& s : schedules) simulation.add(s);
  const simulate::SimulationResult result = simulation.run();
  INFO(result.error);
  REQUIRE(result.error.empty());
  return result.us;
}

}  // namespace

TEST_CASE("simulate: a 2-rank exchange costs one latency plus the bytes over the bandwidth", "[simulate]") {
  // 1 MB each way between two hosts: 10 + 1e6 / 1000 us.
  CHECK(run(cluster(2, 1), {exchange(1, 1000000), exchange(0, 1000000)}) == Approx(1010.0));
  // The same on one host: 1 + 1e6 / 4000 us.
  CHECK(run(cluster(1, 2), {exchange(1, 1000000), exchange(0, 1000000)}) == Approx(251.0));
  // Element size counts: 250000 f32 are the same 1 MB.
  CHECK(run(cluster(2, 1), {exchange(1, 250000), exchange(0, 250000)}, 4) == Approx(1010.0));
}

TEST_CASE("simulate: messages on one link pipeline, paying the latency once", "[simulate]") {
  // 8 slices of 100 kB back to back from rank 0 to rank 1: 8 * 100 + 10 us.
  Schedule sender, receiver;
  for (int m = 0; m < 8; ++m) {
    sender.add(algorithms::sendStep(1, in(0, 100000)));
    receiver.add(algorithms::recvStep(0, out(0, 100000)));
  }
  CHECK(run(cluster(2, 1), {sender, receiver}) == Approx(810.0));
  // A receive that must wait for a reduce before the next send (store and forward): a 3-rank chain
  // on 3 hosts, one message of 100 kB forwarded after a 100 kB reduce: 2 * (10 + 100) + 50.
  Schedule a, b, c;
  a.add(algorithms::sendStep(1, in(0, 100000)));
  b.add(algorithms::recvStep(0, out(0, 100000)));
  const auto reduced = b.add(algorithms::reduceStep(out(0, 100000), out(0, 100000), in(0, 100000)));
  auto forward = algorithms::sendStep(2, out(0, 100000));
  forward.dependOn(reduced);
  b.steps.at(reduced).dependOn(0);
  b.add(forward);
  c.add(algorithms::recvStep(1, out(0, 100000)));
  CHECK(run(cluster(3, 1), {a, b, c}) == Approx(270.0));
}

TEST_CASE("simulate: a ring allreduce from the registry matches its alpha-beta sum", "[simulate]") {
  // 2 hosts x 1 rank, 64 KiB of f32: each rank sends its 32 KiB chunk (one slice), reduces the
  // one it received, and sends that back: 2 * (10 + 32768 / 1000) + 32768 / 2000 us.
  simulate::Call call{Collective::Allreduce, tuning::Algorithm::Ring, 16384, 4, 0, 1 << 20};
  const simulate::Outcome o = simulate::simulateCall(cluster(2, 1), call);
  INFO(o.why);
  REQUIRE(o.ran);
  CHECK(o.us == Approx(2 * (10 + 32.768) + 16.384));
  // 4 hosts x 1 rank, 256 KiB: a ring of 3 + 3 steps of 64 KiB chunks, each a latency, the chunk
  // and (in the first 3) its reduction, which the next send waits for: 6 * (10 + 65.536) + 3 * 32.768.
  call.count = 65536;
  const simulate::Outcome four = simulate::simulateCall(cluster(4, 1), call);
  REQUIRE(four.ran);
  CHECK(four.us == Approx(6 * (10 + 65.536) + 3 * 32.768));
}

TEST_CASE("simulate: ranks of one host share its NIC, each way", "[simulate]") {
  // One rank a host: 10 + 1000 us. Two ranks a host, both sending 1 MB to the other host at
  // once: the NIC carries 2 MB, so each rank gets half the bandwidth: 10 + 2000 us.
  const double alone = run(cluster(2, 1), {exchange(1, 1000000), exchange(0, 1000000)});
  const double shared =
      run(cluster(2, 2), {exchange(2, 1000000), exchange(3, 1000000), exchange(0, 1000000), exchange(1, 1000000)});
  CHECK(alone == Approx(1010.0));
  CHECK(shared == Approx(2010.0));
  CHECK((shared - 10) == Approx(2 * (alone - 10)));
  // Inside a host each rank has its own link: two pairs at once take as long as one.
  CHECK(run(cluster(1, 4), {exchange(1, 1000000), exchange(0, 1000000), exchange(3, 1000000), exchange(2, 1000000)}) ==
        Approx(251.0));
}

TEST_CASE("simulate: a message's CPU holds both ends' cores", "[simulate]") {
  // 1 MB between two hosts, 5 us of a core at each end: 5 + 1000 + 10 + 5 us.
  Cluster c = cluster(2, 1);
  c.inter.cpuUs = 5;
  CHECK(run(c, {exchange(1, 1000000), exchange(0, 1000000)}) == Approx(1020.0));
  // Ten 8-byte messages one way: the sender's core sends one every 5 us, so the last leaves at
  // 50 + 0.008, arrives 10 us later and takes 5 us more at the receiver.
  Schedule sender, receiver;
  for (int m = 0; m < 10; ++m) {
    sender.add(algorithms::sendStep(1, in(0, 8)));
    receiver.add(algorithms::recvStep(0, out(0, 8)));
  }
  CHECK(run(c, {sender, receiver}) == Approx(50.008 + 10 + 5));
}

TEST_CASE("simulate: ranks of one machine take turns on its cores", "[simulate]") {
  // Two ranks of one host exchange 1 MB: each receiver copies it (1e6 / 4000 us) once the send
  // is there (1 us latency). With a core each the copies overlap; with one core they follow
  // each other.
  Cluster c = cluster(1, 2);
  const std::vector<Schedule> pair = {exchange(1, 1000000), exchange(0, 1000000)};
  c.machineCores = 2;
  CHECK(run(c, pair) == Approx(251.0));
  c.machineCores = 1;
  CHECK(run(c, pair) == Approx(501.0));
  // Four ranks on 2 hosts of one 2-core machine, each reducing 1 MB (500 us at 2000 B/us):
  // two at a time.
  Cluster four = cluster(2, 2);
  four.machineCores = 2;
  Schedule reduce;
  reduce.add(algorithms::reduceStep(out(0, 1000000), out(0, 1000000), in(0, 1000000)));
  CHECK(run(four, {reduce, reduce, reduce, reduce}) == Approx(1000.0));
  four.machineCores = 0;  // a core per rank
  CHECK(run(four, {reduce, reduce, reduce, reduce}) == Approx(500.0));
}

TEST_CASE("simulate: calls back to back overlap as a benchmark's loop lets them", "[simulate]") {
  // One 100 kB message from host 0 to host 1 per call: alone 100 + 10 us. Four calls in a row:
  // the sender's sends are done when their bytes are out, so it starts the next at once; the
  // last arrives at 4 * 100 + 10, 102.5 us a call.
  Schedule sender, receiver;
  sender.add(algorithms::sendStep(1, in(0, 100000)));
  receiver.add(algorithms::recvStep(0, out(0, 100000)));
  const auto perCall = [&](int calls) {
    EventSimulation simulation(cluster(2, 1), Symmetry::None, 1, calls);
    simulation.add(sender);
    simulation.add(receiver);
    const simulate::SimulationResult result = simulation.run();
    INFO(result.error);
    REQUIRE(result.error.empty());
    return result.us;
  };
  CHECK(perCall(1) == Approx(110.0));
  CHECK(perCall(4) == Approx(102.5));
  // An exchange cannot overlap: each call waits for the other rank's message, 110 us a call.
  EventSimulation both(cluster(2, 1), Symmetry::None, 1, 4);
  both.add(exchange(1, 100000));
  both.add(exchange(0, 100000));
  CHECK(both.run().us == Approx(110.0));
}

TEST_CASE("simulate: one host standing for all gives every rank's answer", "[simulate]") {
  // The symmetric run (host 0's ranks only) against the whole run, same schedules.
  const Cluster c = cluster(8, 4);
  struct Case {
    Collective collective;
    tuning::Algorithm algorithm;
    Symmetry expected;
  };
  const Case cases[] = {
      {Collective::Allreduce, tuning::Algorithm::Ring, Symmetry::Rotation},
      {Collective::Allreduce, tuning::Algorithm::RecursiveDoubling, Symmetry::Xor},
      {Collective::Allreduce, tuning::Algorithm::Rabenseifner, Symmetry::Xor},
      {Collective::Allreduce, tuning::Algorithm::Hierarchical, Symmetry::Rotation},
      {Collective::Allgather, tuning::Algorithm::Ring, Symmetry::Rotation},
      {Collective::Allgather, tuning::Algorithm::Bruck, Symmetry::Rotation},
      {Collective::ReduceScatter, tuning::Algorithm::RecursiveHalving, Symmetry::Xor},
  };
  for (const Case& k : cases) {
    for (std::size_t count : {std::size_t{32 * 1024}, std::size_t{1} << 20}) {
      INFO(apiName(k.collective) << " " << static_cast<int>(k.algorithm) << " count " << count);
      simulate::Call call{k.collective, k.algorithm, count, 4, 0, 1 << 20};
      simulate::SimulateOptions whole;
      whole.useSymmetry = false;
      const simulate::Outcome one = simulate::simulateCall(c, call);
      const simulate::Outcome all = simulate::simulateCall(c, call, whole);
      INFO(one.why << all.why);
      REQUIRE(one.ran);
      REQUIRE(all.ran);
      CHECK(one.symmetry == k.expected);
      CHECK(one.simulatedRanks == 4);
      CHECK(all.simulatedRanks == 32);
      CHECK(one.us == Approx(all.us).epsilon(1e-9));
    }
  }
}

TEST_CASE("simulate: 4096 ranks run, by symmetry and whole", "[simulate]") {
  // 512 hosts x 8 ranks, ring allreduce of 64 MiB: host 0's 8 ranks run; the host's NIC carries
  // the boundary rank's 2 (n - 1) chunks of 64 MiB / n each way, a bound the time must respect.
  const Cluster c = cluster(512, 8);
  const double bytes = 64.0 * 1024 * 1024;
  simulate::Call ring{Collective::Allreduce, tuning::Algorithm::Ring, 16 * 1024 * 1024, 4, 0, 1 << 20};
  const simulate::Outcome o = simulate::simulateCall(c, ring);
  INFO(o.why);
  REQUIRE(o.ran);
  CHECK(o.symmetry == Symmetry::Rotation);
  const double wire = 2.0 * 4095 / 4096 * bytes / 1000;
  CHECK(o.us > wire);
  CHECK(o.us < 1.5 * wire + 2 * 4095 * 10);
  // A rooted call has no host symmetry: a binomial broadcast runs all 4096 ranks.
  simulate::Call broadcast{Collective::Broadcast, tuning::Algorithm::BinomialTree, 1024, 4, 0, 1 << 20};
  const simulate::Outcome b = simulate::simulateCall(c, broadcast);
  REQUIRE(b.ran);
  CHECK(b.symmetry == Symmetry::None);
  CHECK(b.simulatedRanks == 4096);
  // log2(512) = 9 inter-host hops at least, each 10 us + 4096 B / 1000.
  CHECK(b.us >= 9 * (10 + 4.096));
}

TEST_CASE("simulate: what cannot run is said, not guessed", "[simulate]") {
  // A send nobody receives.
  Schedule lonely;
  lonely.add(algorithms::sendStep(1, in(0, 10)));
  EventSimulation simulation(cluster(2, 1), Symmetry::None, 4);
  simulation.add(lonely);
  simulation.add(Schedule{});
  const auto result = simulation.run();
  CHECK_THAT(result.error, Catch::Contains("rank 0 sends 1 message(s) to rank 1, which receives 0"));
  // Over the budget, without symmetry.
  simulate::SimulateOptions small;
  small.maxSteps = 100;
  small.useSymmetry = false;
  simulate::Call call{Collective::Allreduce, tuning::Algorithm::Ring, 1 << 20, 4, 0, 1 << 20};
  const simulate::Outcome o = simulate::simulateCall(cluster(8, 4), call, small);
  CHECK_FALSE(o.ran);
  CHECK_THAT(o.why, Catch::Contains("over the budget: about 9.92e+03 steps (host 0's times the hosts) against "
                                    "--max-steps 100"));
  // The rank rule.
  simulate::Call rd{Collective::Allgather, tuning::Algorithm::RecursiveDoubling, 64, 4, 0, 1 << 20};
  const simulate::Outcome three = simulate::simulateCall(cluster(3, 1), rd);
  CHECK_FALSE(three.ran);
  CHECK_THAT(three.why, Catch::Contains("power-of-two"));
  // A cluster without bandwidth.
  Cluster broken = cluster(2, 1);
  broken.inter.bandwidthMBps = 0;
  CHECK_THAT(simulate::simulateCall(broken, call).why, Catch::Contains("inter bandwidth must be positive"));
}

TEST_CASE("simulate: receives from one peer are posted in step order", "[simulate]") {
  // Rank 0 sends rank 1 two 1 kB messages at once (one host: they land at 1.25 and 1.5 us).
  // Rank 1's first Recv waits for a 1 MB copy (125 us at 8000 B/us); its second is ready at
  // once, and when it is done rank 1 sends 1 kB back. The executor posts the second Recv only
  // after the first, so the reply leaves at 125 us and lands at 125 + 0.25 + 1; were the Recvs
  // independent it would land at 2.75 us and the call would end with the copy, at 125.
  Schedule zero, one;
  zero.add(algorithms::sendStep(1, in(0, 1000)));
  zero.add(algorithms::sendStep(1, in(0, 1000)));
  zero.add(algorithms::recvStep(1, out(0, 1000)));
  const auto copy = one.add(algorithms::copyStep(out(0, 1000000), in(0, 1000000)));
  auto first = algorithms::recvStep(0, {BufferId::Scratch, 0, 1000});
  first.dependOn(copy);
  one.add(first);
  const auto second = one.add(algorithms::recvStep(0, {BufferId::Scratch, 1000, 1000}));
  auto reply = algorithms::sendStep(0, {BufferId::Scratch, 1000, 1000});
  reply.dependOn(second);
  one.add(reply);
  CHECK(run(cluster(1, 2), {zero, one}) == Approx(126.25));
}

TEST_CASE("simulate: the double tree pipelines on trees that share reversed edges", "[simulate]") {
  // 64 hosts, 8 MiB: the downs used to hold each leaf's next up slice back for a round trip
  // through the other tree's root, 13.6 ms against Rabenseifner's 1.5-2.1 (docs/simulation.md).
  // With the lag the tree is a pipeline again: within 1.5x of Rabenseifner.
  Cluster c = cluster(64, 1);
  c.inter = {5, 12500};  // 100 Gbit/s, 5 us
  c.copyMBps = c.reduceMBps = 20000;
  simulate::Call call;
  call.count = 2 * 1024 * 1024;  // 8 MiB of floats
  call.algorithm = tuning::Algorithm::DoubleTree;
  const simulate::Outcome tree = simulate::simulateCall(c, call);
  call.algorithm = tuning::Algorithm::Rabenseifner;
  const simulate::Outcome rabenseifner = simulate::simulateCall(c, call);
  REQUIRE(tree.ran);
  REQUIRE(rabenseifner.ran);
  INFO("double tree " << tree.us << " us, Rabenseifner " << rabenseifner.us << " us");
  CHECK(tree.us < 1.5 * rabenseifner.us);
}

// Topology text form and files, BANYAN_ALGO's grammar, the cost model's ranking and the
// selector's precedence (BANYAN_ALGO, then the cost model, then the size thresholds).

#include "common/status.hpp"
#include "support/selection.hpp"
#include "topology/topology.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/cost_model.hpp"
#include "tuning/selector.hpp"

#include <banyan/error.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

using banyan::Collective;
using banyan::test::errorOf;
using banyan::test::simulatedHosts;
using banyan::tuning::Algorithm;
namespace topology = banyan::topology;
namespace tuning = banyan::tuning;

TEST_CASE("a topology survives its text form and a file", "[unit][topology]") {
  topology::Topology t = simulatedHosts(2, 3);
  t.hosts[1].nic = "eth0";
  t.hosts[1].nicMbps = 1000;
  t.hosts[0].cores = 8;
  t.hosts[0].numaNodes = 2;
  const std::string path = "/tmp/banyan-topology-test-" + std::to_string(::getpid());
  topology::save(t, path);
  const topology::Topology back = topology::load(path);
  std::remove(path.c_str());
  CHECK(topology::toText(back) == topology::toText(t));
  CHECK(back.hostCount() == 2);
  CHECK(back.hostOfRank == std::vector<int>{0, 0, 0, 1, 1, 1});
  CHECK(back.hosts[1].nic == "eth0");
  CHECK(back.hosts[0].cores == 8);
  CHECK(back.inter.bandwidthMBps == Approx(117));
  CHECK(back.blockLayout());
  CHECK(back.maxRanksPerHost() == 3);
}

TEST_CASE("a malformed topology file is refused naming the line and the fault", "[unit][topology]") {
  const std::string good = topology::toText(simulatedHosts(2, 2));
  CHECK_THAT(errorOf([] { topology::parse("", "f"); }), Catch::Contains("f line 0") && Catch::Contains("empty"));
  CHECK_THAT(errorOf([] { topology::parse("ranks 2\n", "f"); }),
             Catch::Contains("f line 1") && Catch::Contains("banyan-topology 1"));
  std::string twice = good;
  twice.replace(twice.find("ranks=2,3"), 9, "ranks=1,3");
  CHECK_THAT(errorOf([&] { topology::parse(twice, "t.txt"); }),
             Catch::Contains("t.txt line 4") && Catch::Contains("rank 1 is on host 0 already"));
  std::string bad = good;
  bad.replace(bad.find("latency_us=30"), 13, "latency_us=-3");
  CHECK_THAT(errorOf([&] { topology::parse(bad, "t"); }), Catch::Contains("latency_us '-3.000' is not a positive"));
  std::string missing = good;
  missing.replace(missing.find("ranks=2,3"), 9, "ranks=2");
  CHECK_THAT(errorOf([&] { topology::parse(missing, "t"); }), Catch::Contains("rank 3 is on no host"));
  CHECK_THAT(errorOf([] { topology::load("/nonexistent/topo"); }), Catch::Contains("cannot read /nonexistent/topo"));
}

TEST_CASE("BANYAN_ALGO bands parse and are found by size", "[unit][tuning]") {
  const auto bands = tuning::parseAlgoOverride("allreduce:0-64K:rd,64K-:ring; allgather:0-32K:bruck");
  REQUIRE(bands.size() == 3);
  CHECK(tuning::findBand(bands, Collective::Allreduce, 0)->algorithm == Algorithm::RecursiveDoubling);
  CHECK(tuning::findBand(bands, Collective::Allreduce, 65535)->algorithm == Algorithm::RecursiveDoubling);
  CHECK(tuning::findBand(bands, Collective::Allreduce, 65536)->algorithm == Algorithm::Ring);
  CHECK(tuning::findBand(bands, Collective::Allreduce, std::size_t{1} << 40)->algorithm == Algorithm::Ring);
  CHECK(tuning::findBand(bands, Collective::Allgather, 32 * 1024) == std::nullopt);
  CHECK(tuning::findBand(bands, Collective::Broadcast, 8) == std::nullopt);
  CHECK(tuning::parseAlgoOverride("").empty());
}

TEST_CASE("a bad BANYAN_ALGO says which part is wrong", "[unit][tuning]") {
  using tuning::parseAlgoOverride;
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduse:0-:ring"); }),
             Catch::Contains("unknown collective 'allreduse'"));
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduce:0-:bruck"); }),
             Catch::Contains("allreduce has no algorithm 'bruck' (it has: ring, recursive-doubling, rabenseifner, "
                             "double-tree, hierarchical, shm, ordered)"));
  CHECK(parseAlgoOverride("allreduce:0-:tree")[0].algorithm == tuning::Algorithm::DoubleTree);
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduce:0-1X:ring"); }), Catch::Contains("'1X' is not a size"));
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduce:4K-1K:ring"); }), Catch::Contains("is empty"));
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduce:0-8K:ring,4K-:rd"); }), Catch::Contains("overlaps"));
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduce"); }), Catch::Contains("collective:RANGE:ALGORITHM"));
  CHECK_THAT(errorOf([] { parseAlgoOverride("allreduce:ring"); }), Catch::Contains("LOW-HIGH:ALGORITHM"));
  CHECK_THAT(errorOf([] { tuning::Selector(simulatedHosts(1, 3), parseAlgoOverride("allgather:0-:rd")); }),
             Catch::Contains("needs a power-of-two rank count, not 3"));
}

TEST_CASE("the cost model prefers few rounds small and few bytes large", "[unit][tuning]") {
  for (auto [hosts, perHost] : {std::pair{1, 4}, std::pair{2, 2}, std::pair{4, 1}, std::pair{3, 5}}) {
    INFO(hosts << " x " << perHost);
    const tuning::Selector selector(simulatedHosts(hosts, perHost), {});
    CHECK(selector.choose(Collective::Allreduce, 8).algorithm == Algorithm::RecursiveDoubling);
    // Large: the ring, or across hosts of several ranks the two-level form, whose network link
    // carries 2 (hosts - 1) / hosts of the vector instead of the flat ring's 2 (n - 1) / n.
    CHECK(selector.choose(Collective::Allreduce, 64 << 20).algorithm ==
          (hosts > 1 && perHost > 1 ? Algorithm::Hierarchical : Algorithm::Ring));
    CHECK(selector.choose(Collective::Allgather, 8).algorithm != Algorithm::Ring);
    const auto big = selector.choose(Collective::Allgather, 16 << 20);
    CHECK(big.predictedUs);
    CHECK(big.runnerUp);
    // The cheapest, or a pipelined schedule within 10% of it (kPipelinedPreference).
    CHECK((*big.predictedUs <= *big.runnerUpUs || big.why.find("pipelined, within") != std::string::npos));
  }
  // Costs grow with size, and the slower network costs more.
  const auto t = simulatedHosts(2, 2);
  CHECK(*tuning::predictUs(t, Collective::Allreduce, Algorithm::Ring, 1 << 20) <
        *tuning::predictUs(t, Collective::Allreduce, Algorithm::Ring, 4 << 20));
  CHECK(*tuning::predictUs(simulatedHosts(1, 4), Collective::Allreduce, Algorithm::Ring, 4 << 20) <
        *tuning::predictUs(t, Collective::Allreduce, Algorithm::Ring, 4 << 20));
  // 64 MiB ring allreduce over 1 Gbit/s with 2 hosts: 2 (n-1)/n of the bytes cross one link.
  CHECK(*tuning::predictUs(simulatedHosts(2, 1), Collective::Allreduce, Algorithm::Ring, 64 << 20) ==
        Approx(2 * (30 + (32 << 20) / 117.0)).epsilon(0.01));
  // Recursive doubling's exchange across hosts shares the interface between a host's ranks.
  CHECK(*tuning::predictUs(simulatedHosts(2, 2), Collective::Allreduce, Algorithm::RecursiveDoubling, 1 << 20) >
        *tuning::predictUs(simulatedHosts(4, 1), Collective::Allreduce, Algorithm::RecursiveDoubling, 1 << 20));
  CHECK_FALSE(tuning::predictUs(simulatedHosts(1, 3), Collective::Allgather, Algorithm::RecursiveDoubling, 64));
  CHECK_FALSE(tuning::predictUs(simulatedHosts(1, 4), Collective::Allreduce, Algorithm::Hierarchical, 64));  // one host
  // With one rank per host the two-level form is the flat ring.
  CHECK(*tuning::predictUs(simulatedHosts(4, 1), Collective::Allreduce, Algorithm::Hierarchical, 1 << 20) ==
        Approx(*tuning::predictUs(simulatedHosts(4, 1), Collective::Allreduce, Algorithm::Ring, 1 << 20)));
}

TEST_CASE("the cost model prices the double tree and the two-level allgather", "[unit][tuning]") {
  // 16 KiB on 4 hosts x 1: each half is one 8 KiB slice; both trees are 2 deep, so the slice
  // takes 4 hops of one latency and 8 KiB at the link's rate.
  CHECK(*tuning::predictUs(simulatedHosts(4, 1), Collective::Allreduce, Algorithm::DoubleTree, 16 << 10) ==
        Approx(4 * (30 + 8192 / 117.0)).epsilon(0.01));
  // Large: each rank moves twice the vector through its link, against 1.5x for a 4-rank ring.
  CHECK(*tuning::predictUs(simulatedHosts(4, 1), Collective::Allreduce, Algorithm::DoubleTree, 64 << 20) >
        *tuning::predictUs(simulatedHosts(4, 1), Collective::Allreduce, Algorithm::Ring, 64 << 20));
  // Two hosts of two ranks: a host's link carries its own two blocks instead of the flat ring's
  // three, so the two-level allgather is cheaper at large sizes; on one host it is no candidate.
  CHECK(*tuning::predictUs(simulatedHosts(2, 2), Collective::Allgather, Algorithm::Hierarchical, 4 << 20) <
        *tuning::predictUs(simulatedHosts(2, 2), Collective::Allgather, Algorithm::Ring, 4 << 20));
  CHECK_FALSE(tuning::predictUs(simulatedHosts(1, 4), Collective::Allgather, Algorithm::Hierarchical, 64));
  CHECK(tuning::Selector(simulatedHosts(2, 2), {}).choose(Collective::Allgather, 4 << 20).algorithm ==
        Algorithm::Hierarchical);
}

TEST_CASE("a near-tie between whole-message rounds and a pipelined schedule goes to the pipeline", "[unit][tuning]") {
  // 4 hosts x 1, 16 MiB blocks: recursive doubling moves the ring's bytes in 2 rounds instead
  // of 3, so the model prices it one latency cheaper; within 10% the ring is chosen.
  const auto t = simulatedHosts(4, 1);
  const double rd = *tuning::predictUs(t, Collective::Allgather, Algorithm::RecursiveDoubling, 16 << 20);
  const double ring = *tuning::predictUs(t, Collective::Allgather, Algorithm::Ring, 16 << 20);
  REQUIRE(rd < ring);
  REQUIRE(ring <= rd * (1 + tuning::kPipelinedPreference));
  const auto choice = tuning::Selector(t, {}).choose(Collective::Allgather, 16 << 20);
  CHECK(choice.algorithm == Algorithm::Ring);
  CHECK_THAT(choice.why, Catch::Contains("pipelined, within 10% of recursive-doubling"));
  // Small calls are left to the model's latencies, and far apart the cheaper whole-message
  // schedule still wins.
  CHECK(tuning::Selector(simulatedHosts(3, 5), {}).choose(Collective::Allreduce, 8).algorithm ==
        Algorithm::RecursiveDoubling);
  CHECK(tuning::Selector(t, {}).choose(Collective::Allgather, 8).algorithm != Algorithm::Ring);
}

TEST_CASE("on one host a near-tie goes to the cheaper prediction, pipelined or not", "[unit][tuning]") {
  // 1 host x 4, 1 MiB blocks: recursive doubling and the ring move the same bytes and are priced
  // within 10%; across hosts the ring would be preferred, on one host the cheaper one is taken.
  const topology::Topology t = simulatedHosts(1, 4);
  const auto rd = *tuning::predictUs(t, Collective::Allgather, Algorithm::RecursiveDoubling, 1 << 20);
  const auto ring = *tuning::predictUs(t, Collective::Allgather, Algorithm::Ring, 1 << 20);
  REQUIRE(std::max(rd, ring) <= std::min(rd, ring) * (1 + tuning::kPipelinedPreference));
  const auto choice = tuning::Selector(t, {}).choose(Collective::Allgather, 1 << 20);
  CHECK(choice.algorithm == (rd < ring ? Algorithm::RecursiveDoubling : Algorithm::Ring));
  CHECK_THAT(choice.why, !Catch::Contains("pipelined"));
}

TEST_CASE("BANYAN_ALGO wins over the cost model; other collectives keep their thresholds", "[unit][tuning]") {
  const tuning::Selector selector(simulatedHosts(2, 2),
                                  tuning::parseAlgoOverride("allreduce:0-1M:ring;broadcast:0-:chain"));
  const auto forced = selector.choose(Collective::Allreduce, 8);
  CHECK(forced.algorithm == Algorithm::Ring);
  CHECK_THAT(forced.why, Catch::Contains("BANYAN_ALGO band 0-1048576 B"));
  CHECK(selector.choose(Collective::Allreduce, 1 << 20).algorithm == Algorithm::Hierarchical);  // the cost model's
  CHECK_THAT(selector.choose(Collective::Allreduce, 1 << 20).why, Catch::Contains("cost model"));
  CHECK(selector.choose(Collective::Broadcast, 8).algorithm == Algorithm::Chain);
  CHECK(selector.choose(Collective::Reduce, 8).algorithm == tuning::choose(Collective::Reduce, 4, 8));
  CHECK(selector.choose(Collective::Alltoallv, 8).algorithm == Algorithm::Pairwise);
}

TEST_CASE("one host: a band wins over the shared-memory engine, which takes the rest", "[unit][tuning]") {
  const auto engineTakes = [](Collective kind, std::size_t) { return kind == Collective::Allreduce; };
  tuning::Selector selector(simulatedHosts(1, 4), tuning::parseAlgoOverride("allreduce:0-4K:ring;allgather:0-:shm"));
  selector.setSharedMemory(engineTakes, "");
  const auto forced = selector.choose(Collective::Allreduce, 8);
  CHECK(forced.algorithm == Algorithm::Ring);
  CHECK(forced.forced);
  const auto engine = selector.choose(Collective::Allreduce, 1 << 20);
  CHECK(engine.algorithm == Algorithm::SharedMemory);
  CHECK_FALSE(engine.forced);
  CHECK(engine.why == "one host");
  // Forced by name, for a size the engine would not take unasked.
  CHECK(selector.choose(Collective::Allgather, 1 << 20).algorithm == Algorithm::SharedMemory);
  // Calls the engine does not take go to the model.
  CHECK(selector.choose(Collective::Broadcast, 1 << 20).algorithm != Algorithm::SharedMemory);

  tuning::Selector without(simulatedHosts(2, 2), tuning::parseAlgoOverride("allgather:0-:shm"));
  CHECK_THAT(errorOf([&] { without.setSharedMemory({}, "the communicator spans 2 hosts"); }),
             Catch::Contains("BANYAN_ALGO forces shm for allgather: this communicator has no shared-memory engine "
                             "(the communicator spans 2 hosts)"));
}

#include "tools/topo/topo_report.hpp"

TEST_CASE("banyan-topo's report shows hosts, links and a row per collective and size", "[unit][topology]") {
  topology::Topology t = simulatedHosts(2, 2);
  t.hosts[0].nic = "eth0";
  t.hosts[0].nicMbps = 1000;
  const tuning::Selector selector(t, tuning::parseAlgoOverride("allgather:0-1K:bruck"));
  const std::string text = banyan::topo_tool::textReport(selector);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("Topology: 4 rank(s) on 2 host(s)"));
  CHECK_THAT(text, Catch::Contains("host 1 host1: 2 rank(s) [2,3]"));
  CHECK_THAT(text, Catch::Contains("nic eth0 at 1000 Mbit/s"));
  CHECK_THAT(text, Catch::Contains("inter-host  30.0 us, 117 MB/s (nic)"));
  CHECK_THAT(text, Catch::Contains("BANYAN_ALGO band 0-1024 B"));
  const auto sizes = banyan::topo_tool::tableSizes();
  CHECK(sizes.front() == 8);
  CHECK(sizes.back() == (std::size_t{64} << 20));
  std::size_t rows = 0;
  for (auto at = text.find("\n  allreduce "); at != std::string::npos; at = text.find("\n  allreduce ", at + 1)) ++rows;
  CHECK(rows == sizes.size());
  const std::string dot = banyan::topo_tool::dotReport(selector);
  CHECK_THAT(dot, Catch::StartsWith("digraph banyan_topology {"));
  CHECK_THAT(dot, Catch::Contains("subgraph cluster_host1") && Catch::Contains("r0 -> r2"));
}

TEST_CASE("the cost model prices reduce-scatter and broadcast", "[unit][tuning]") {
  for (auto [hosts, perHost] : {std::pair{1, 4}, std::pair{2, 2}, std::pair{4, 1}}) {
    INFO(hosts << " x " << perHost);
    const tuning::Selector selector(simulatedHosts(hosts, perHost), {});
    // Small: log2(n) rounds beat n - 1 steps; large: each link carries the data once.
    CHECK(selector.choose(Collective::Broadcast, 8).algorithm == Algorithm::BinomialTree);
    CHECK(selector.choose(Collective::Broadcast, 64 << 20).algorithm == Algorithm::Chain);
    CHECK(selector.choose(Collective::ReduceScatter, 8).algorithm == Algorithm::RecursiveHalving);
    CHECK(selector.choose(Collective::ReduceScatter, 16 << 20).algorithm == Algorithm::Ring);
    CHECK_THAT(selector.choose(Collective::Broadcast, 8).why, Catch::Contains("cost model"));
  }
  // Recursive halving needs a power of two; 3 ranks get the ring at every size.
  CHECK_FALSE(tuning::predictUs(simulatedHosts(1, 3), Collective::ReduceScatter, Algorithm::RecursiveHalving, 64));
  CHECK(tuning::Selector(simulatedHosts(1, 3), {}).choose(Collective::ReduceScatter, 8).algorithm == Algorithm::Ring);
  // A 64 MiB chain over 2 hosts x 1 is one 64 MiB message at the link's rate.
  CHECK(*tuning::predictUs(simulatedHosts(2, 1), Collective::Broadcast, Algorithm::Chain, 64 << 20) ==
        Approx(30 + (64 << 20) / 117.0).epsilon(0.01));
  // Whole-message binomial rounds over 4 hosts: 2 rounds of the message.
  CHECK(*tuning::predictUs(simulatedHosts(4, 1), Collective::Broadcast, Algorithm::BinomialTree, 1 << 20) ==
        Approx(2 * (30 + (1 << 20) / 117.0)).epsilon(0.01));
}

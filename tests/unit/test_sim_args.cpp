// banyan-sim's command line (tools/sim/sim_args.cpp): the command as written, and a
// message naming what is wrong for bad input.

#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "tools/sim/sim_args.hpp"

using namespace banyan;
using sim_tool::parseSimArgs;
using sim_tool::SimArgs;

namespace {

std::string errorOf(std::vector<std::string_view> argv) {
  argv.insert(argv.begin(), "banyan-sim");
  const auto parsed = parseSimArgs(argv);
  const std::string* error = std::get_if<std::string>(&parsed);
  return error ? *error : "(accepted)";
}

}  // namespace

TEST_CASE("banyan-sim: the issue's command line", "[sim-args]") {
  const auto parsed = parseSimArgs({"banyan-sim", "allreduce", "--hosts", "1024", "--ranks-per-host", "8", "--inter",
                                    "100Gbit,5us", "--intra", "20GB/s,1us", "-b", "8", "-e", "1G", "-f", "4"});
  REQUIRE(std::holds_alternative<SimArgs>(parsed));
  const SimArgs& a = std::get<SimArgs>(parsed);
  CHECK(a.sweep.collective == bench::Collective::allreduce);
  CHECK(a.cluster.hosts == 1024);
  CHECK(a.cluster.ranksPerHost == 8);
  CHECK(a.cluster.inter.bandwidthMBps == Approx(12500));
  CHECK(a.cluster.inter.latencyUs == Approx(5));
  CHECK(a.cluster.intra.bandwidthMBps == Approx(20000));
  CHECK(a.cluster.intra.latencyUs == Approx(1));
  CHECK(a.cluster.copyMBps == Approx(20000));
  CHECK(a.cluster.reduceMBps == Approx(20000));
  CHECK(a.sweep.minBytes == 8);
  CHECK(a.sweep.maxBytes == (std::size_t{1} << 30));
  CHECK(a.sweep.stepFactor == 4);
}

TEST_CASE("banyan-sim: one rank a host needs no --intra; copies then default to 10 GB/s", "[sim-args]") {
  const auto parsed = parseSimArgs({"banyan-sim", "broadcast", "--hosts", "16", "--inter", "10Gbit,20us"});
  REQUIRE(std::holds_alternative<SimArgs>(parsed));
  CHECK(std::get<SimArgs>(parsed).cluster.copyMBps == Approx(10000));
  CHECK(std::get<SimArgs>(parsed).cluster.reduceMBps == Approx(10000));
}

TEST_CASE("banyan-sim: units of bandwidth and latency", "[sim-args]") {
  CHECK(*sim_tool::parseBandwidth("10Gbit/s") == Approx(1250));
  CHECK(*sim_tool::parseBandwidth("12.5GB/s") == Approx(12500));
  CHECK(*sim_tool::parseBandwidth("800MB/s") == Approx(800));
  CHECK(*sim_tool::parseBandwidth("100Mbit") == Approx(12.5));
  CHECK(*sim_tool::parseBandwidth("100Gbps") == Approx(12500));  // bits, not bytes
  CHECK_FALSE(sim_tool::parseBandwidth("100"));
  CHECK_FALSE(sim_tool::parseBandwidth("fast"));
  CHECK(*sim_tool::parseLatency("800ns") == Approx(0.8));
  CHECK(*sim_tool::parseLatency("2ms") == Approx(2000));
  CHECK_FALSE(sim_tool::parseLatency("5"));
}

TEST_CASE("banyan-sim: bad flags are refused, naming what is wrong", "[sim-args]") {
  const std::vector<std::string_view> ok = {"allreduce", "--hosts", "4", "--inter", "100Gbit,5us"};
  CHECK(errorOf(ok) == "(accepted)");
  CHECK_THAT(errorOf({"allreduc", "--hosts", "4", "--inter", "100Gbit,5us"}),
             Catch::Contains("unknown collective 'allreduc'"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "four", "--inter", "100Gbit,5us"}),
             Catch::Contains("--hosts 'four': expected a whole number from 1"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "0", "--inter", "100Gbit,5us"}), Catch::Contains("--hosts '0'"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbps"}),
             Catch::Contains("--inter '100Gbps': no comma between bandwidth and latency"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100G,5us"}),
             Catch::Contains("'100G' is not a bandwidth"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbit,5"}), Catch::Contains("'5' is not a latency"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4"}), Catch::Contains("--inter is missing"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--ranks-per-host", "8", "--inter", "100Gbit,5us"}),
             Catch::Contains("--intra is missing"));
  CHECK_THAT(errorOf({"allreduce", "--inter", "100Gbit,5us"}), Catch::Contains("--hosts is missing"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbit,5us", "-b", "1G", "-e", "8"}),
             Catch::Contains("-b 1073741824 is larger than -e 8"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbit,5us", "--algo", "ring,fast"}),
             Catch::Contains("--algo: unknown algorithm 'fast'"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbit,5us", "--frobnicate"}),
             Catch::Contains("unknown option '--frobnicate'"));
  CHECK_THAT(errorOf({"allreduce", "--hosts"}), Catch::Contains("--hosts needs a value"));
  CHECK_THAT(errorOf({"broadcast", "--hosts", "4", "--inter", "100Gbit,5us", "-r", "4"}),
             Catch::Contains("-r 4: the root must be a rank below 4"));
  CHECK_THAT(errorOf({"sendrecv", "--hosts", "4", "--inter", "100Gbit,5us"}),
             Catch::Contains("unknown collective 'sendrecv'"));
  CHECK_THAT(errorOf({"--validate", "bench/out/x", "--hosts", "4"}), Catch::Contains("--validate takes its layouts"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbit,5us", "--inter-cpu", "5"}),
             Catch::Contains("--inter-cpu '5': expected a time"));
  CHECK_THAT(errorOf({"allreduce", "--hosts", "4", "--inter", "100Gbit,5us", "--machine-cores", "0"}),
             Catch::Contains("--machine-cores '0'"));
  CHECK_THAT(errorOf({"--validate", "bench/out/x", "--calls", "1001"}), Catch::Contains("--calls '1001'"));
}

TEST_CASE("banyan-sim: a message's CPU and one machine's cores", "[sim-args]") {
  const auto parsed =
      parseSimArgs({"banyan-sim", "allreduce", "--hosts", "4", "--ranks-per-host", "2", "--inter", "1Gbit,20us",
                    "--intra", "4GB/s,1us", "--inter-cpu", "8us", "--intra-cpu", "500ns", "--machine-cores", "2"});
  REQUIRE(std::holds_alternative<SimArgs>(parsed));
  const SimArgs& a = std::get<SimArgs>(parsed);
  CHECK(a.cluster.inter.cpuUs == Approx(8));
  CHECK(a.cluster.intra.cpuUs == Approx(0.5));
  CHECK(a.cluster.inter.latencyUs == Approx(20));
  CHECK(a.cluster.machineCores == 2);
  const auto validate = parseSimArgs({"banyan-sim", "--validate", "d", "--inter-cpu", "8us", "--calls", "1"});
  REQUIRE(std::holds_alternative<SimArgs>(validate));
  CHECK(std::get<SimArgs>(validate).givenCpu);
  CHECK(std::get<SimArgs>(validate).cluster.inter.cpuUs == Approx(8));
  CHECK(std::get<SimArgs>(validate).validateCalls == 1);
}

// The benchmark tools' command line, sizes, report format and check data (tools/bench).

#include "tools/bench/bench_args.hpp"
#include "tools/bench/bench_data.hpp"
#include "tools/bench/bench_report.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using namespace banyan;
using namespace banyan::bench;

namespace {

ParseResult parse(std::vector<std::string_view> argv) { return parseBenchArgs(argv); }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("bench args: defaults are nccl-tests'", "[bench]") {
  auto r = parse({"allreduce"});
  REQUIRE(r.ok());
  CHECK(r.args->collective == Collective::allreduce);
  CHECK(r.args->minBytes == 32u << 20);
  CHECK(r.args->maxBytes == 32u << 20);
  CHECK(r.args->iters == 20);
  CHECK(r.args->check);
  CHECK(r.args->dataType == DataType::f32);
  CHECK(r.args->op == ReduceOp::sum);
  CHECK_FALSE(r.args->numRanks.has_value());
  CHECK(r.args->timeBudgetSeconds == 0);
  CHECK(r.args->jsonPath.empty());
}

TEST_CASE("bench args: every flag, short and long", "[bench]") {
  auto r = parse({"-b", "8",    "-e", "64M", "-f", "2", "-i",  "4K", "-n", "7",        "-w", "3",   "-c",       "0",
                  "-d", "bf16", "-o", "max", "-z", "0", "-np", "4",  "-J", "out.json", "-T", "1.5", "allgather"});
  REQUIRE(r.ok());
  const BenchArgs& a = *r.args;
  CHECK(a.collective == Collective::allgather);
  CHECK(a.minBytes == 8);
  CHECK(a.maxBytes == 64u << 20);
  CHECK(a.stepFactor == 2);
  CHECK(a.stepBytes == 4096);
  CHECK(a.iters == 7);
  CHECK(a.warmupIters == 3);
  CHECK_FALSE(a.check);
  CHECK(a.dataType == DataType::bf16);
  CHECK(a.op == ReduceOp::max);
  CHECK_FALSE(a.blocking);
  CHECK(a.numRanks == 4);
  CHECK(a.jsonPath == "out.json");
  CHECK(a.timeBudgetSeconds == 1.5);

  auto l =
      parse({"all_reduce", "--minbytes", "1K", "--maxbytes=1G", "--stepfactor", "4",    "--iters=3", "--warmup_iters",
             "0",          "--check",    "1",  "--datatype",    "half",         "--op", "avg",       "--blocking",
             "1",          "--nranks",   "2",  "--json",        "x.json"});
  REQUIRE(l.ok());
  CHECK(l.args->collective == Collective::allreduce);
  CHECK(l.args->minBytes == 1024);
  CHECK(l.args->maxBytes == std::size_t{1} << 30);
  CHECK(l.args->warmupIters == 0);
  CHECK(l.args->dataType == DataType::f16);
  CHECK(l.args->op == ReduceOp::avg);
  CHECK(l.args->numRanks == 2);
}

TEST_CASE("bench args: every collective, by its nccl-tests name", "[bench]") {
  const std::vector<std::pair<std::string_view, Collective>> names{
      {"allreduce", Collective::allreduce},
      {"all_reduce", Collective::allreduce},
      {"allgather", Collective::allgather},
      {"all_gather", Collective::allgather},
      {"reduce_scatter", Collective::reduce_scatter},
      {"reducescatter", Collective::reduce_scatter},
      {"broadcast", Collective::broadcast},
      {"Broadcast", Collective::broadcast},
      {"reduce", Collective::reduce},
      {"alltoall", Collective::alltoall},
      {"all_to_all", Collective::alltoall},
      {"gather", Collective::gather},
      {"scatter", Collective::scatter},
      {"sendrecv", Collective::sendrecv},
      {"send_recv", Collective::sendrecv},
      {"SendRecv", Collective::sendrecv},
  };
  for (const auto& [name, collective] : names) {
    INFO(name);
    auto r = parse({name});
    REQUIRE(r.ok());
    CHECK(r.args->collective == collective);
    CHECK(r.args->root == 0);
    // The canonical name parses back to the same collective.
    CHECK(parse({collectiveName(collective)}).args->collective == collective);
  }
  CHECK(collectiveName(Collective::reduce_scatter) == "reduce_scatter");
  CHECK(collectiveName(Collective::alltoall) == "alltoall");
  CHECK(collectiveName(Collective::sendrecv) == "sendrecv");
  CHECK(parse({"broadcast"}).error.empty());
  CHECK(parse({"bogus"}).error.find("sendrecv") != std::string::npos);
  CHECK(benchUsage("banyan-bench").find("sendrecv") != std::string::npos);
  CHECK(parse({"bogus"}).error.find("reduce_scatter") != std::string::npos);
  CHECK(benchUsage("banyan-bench").find("--root") != std::string::npos);
}

TEST_CASE("bench args: -r/--root", "[bench]") {
  CHECK(parse({"broadcast", "-r", "3"}).args->root == 3);
  CHECK(parse({"reduce", "--root", "2"}).args->root == 2);
  CHECK(parse({"gather", "--root=1"}).args->root == 1);
  CHECK(parse({"scatter", "-r", "3", "-np", "4"}).args->root == 3);
  // Without -np the job size is unknown here (mpirun, torchrun): checked when the job runs.
  CHECK(parse({"reduce", "-r", "7"}).ok());
  auto tooLarge = parse({"reduce", "-np", "2", "-r", "2"});
  CHECK_FALSE(tooLarge.ok());
  CHECK(tooLarge.error.find("-r/--root") != std::string::npos);
  // Taken by every collective, as nccl-tests does; only the rooted ones use it.
  CHECK(parse({"allreduce", "-r", "1"}).ok());
}

TEST_CASE("bench args: data type names, short and nccl", "[bench]") {
  const std::vector<std::pair<std::string_view, DataType>> names{
      {"f32", DataType::f32}, {"float", DataType::f32}, {"f64", DataType::f64},   {"double", DataType::f64},
      {"f16", DataType::f16}, {"half", DataType::f16},  {"bf16", DataType::bf16}, {"bfloat16", DataType::bf16},
      {"i8", DataType::i8},   {"int8", DataType::i8},   {"u8", DataType::u8},     {"uint8", DataType::u8},
      {"i32", DataType::i32}, {"int32", DataType::i32}, {"i64", DataType::i64},   {"int64", DataType::i64},
      {"i16", DataType::i16}, {"int16", DataType::i16},
  };
  for (const auto& [name, type] : names) {
    auto r = parse({"allreduce", "-d", name});
    INFO(name);
    REQUIRE(r.ok());
    CHECK(r.args->dataType == type);
  }
  for (std::string_view op : {"sum", "prod", "min", "max", "avg"}) {
    auto r = parse({"allreduce", "-o", op});
    REQUIRE(r.ok());
    CHECK(reduceOpName(r.args->op) == op);
  }
}

TEST_CASE("bench args: byte sizes", "[bench]") {
  CHECK(parseByteSize("8") == 8u);
  CHECK(parseByteSize("4K") == 4096u);
  CHECK(parseByteSize("4k") == 4096u);
  CHECK(parseByteSize("64M") == 64u << 20);
  CHECK(parseByteSize("2G") == std::size_t{2} << 30);
  CHECK(parseByteSize("1KB") == 1024u);
  CHECK_FALSE(parseByteSize(""));
  CHECK_FALSE(parseByteSize("K"));
  CHECK_FALSE(parseByteSize("-1"));
  CHECK_FALSE(parseByteSize("1.5M"));
  CHECK_FALSE(parseByteSize("12X"));
  CHECK_FALSE(parseByteSize("99999999999999999999"));
}

TEST_CASE("bench args: mistakes are reported, not guessed", "[bench]") {
  const std::vector<std::vector<std::string_view>> bad{
      {},                           // no collective
      {"allscatter"},               // unknown collective
      {"allreduce", "allgather"},   // two collectives
      {"allreduce", "-x", "1"},     // unknown flag
      {"allreduce", "-b"},          // missing value
      {"allreduce", "-b", "lots"},  // bad size
      {"allreduce", "-b", "0"},     // empty messages
      {"allreduce", "-b", "2M", "-e", "1M"},
      {"allreduce", "-f", "0"},
      {"allreduce", "-f", "1", "-i", "0"},  // a sweep that never advances
      {"allreduce", "-n", "0"},
      {"allreduce", "-w", "-1"},
      {"allreduce", "-c", "2"},
      {"allreduce", "-z", "yes"},
      {"allreduce", "-d", "f128"},
      {"allreduce", "-o", "xor"},
      {"allreduce", "-np", "0"},
      {"allreduce", "-np", "two"},
      {"allreduce", "-J", ""},
      {"allreduce", "-T", "-1"},
      {"allreduce", "-T", "soon"},
      {"allreduce", "--help=1"},
      {"broadcast", "-r", "-1"},
      {"broadcast", "-r", "first"},
      {"broadcast", "-r", "1024"},
      {"reduce", "-r", "4", "-np", "4"},  // the root must be one of the ranks
  };
  for (const auto& argv : bad) {
    auto r = parse(argv);
    std::string joined;
    for (auto a : argv) joined += std::string(a) + " ";
    INFO(joined);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.error.empty());
  }
  auto unknown = parse({"allreduce", "--bogus"});
  CHECK(unknown.error.find("--bogus") != std::string::npos);
  auto size = parse({"allreduce", "-e", "3Q"});
  CHECK(size.error.find("3Q") != std::string::npos);
}

TEST_CASE("bench args: -h needs nothing else", "[bench]") {
  auto r = parse({"-h"});
  REQUIRE(r.ok());
  CHECK(r.args->help);
  CHECK(parse({"allreduce", "--help"}).args->help);
  CHECK(benchUsage("banyan-bench").find("--warmup_iters") != std::string::npos);
}

TEST_CASE("bench args: the argc/argv form skips the program name", "[bench]") {
  const char* argv[] = {"banyan-bench", "allgather", "-n", "3"};
  auto r = parseBenchArgs(4, argv);
  REQUIRE(r.ok());
  CHECK(r.args->collective == Collective::allgather);
  CHECK(r.args->iters == 3);
}

TEST_CASE("bench sweep: factor and step", "[bench]") {
  auto a = *parse({"allreduce", "-b", "8", "-e", "64", "-f", "2"}).args;
  CHECK(sweepSizes(a) == std::vector<std::size_t>{8, 16, 32, 64});
  a = *parse({"allreduce", "-b", "8", "-e", "100", "-f", "4"}).args;
  CHECK(sweepSizes(a) == std::vector<std::size_t>{8, 32});
  a = *parse({"allreduce", "-b", "1K", "-e", "3K", "-i", "1K"}).args;
  CHECK(sweepSizes(a) == std::vector<std::size_t>{1024, 2048, 3072});
  a = *parse({"allreduce", "-b", "5", "-e", "5"}).args;
  CHECK(sweepSizes(a) == std::vector<std::size_t>{5});
  a = *parse({"allreduce", "-b", "8", "-e", "64M", "-f", "2"}).args;
  CHECK(sweepSizes(a).size() == 24);
}

TEST_CASE("bench plan: nccl-tests size and count conventions", "[bench]") {
  // allreduce: size = count * element size.
  auto p = planSize(Collective::allreduce, 1024, DataType::f32, 4);
  CHECK(p.count == 256);
  CHECK(p.sendCount == 256);
  CHECK(p.recvCount == 256);
  CHECK(p.bytes == 1024);
  // allgather: the sweep size is the total received; each rank sends its share.
  p = planSize(Collective::allgather, 1024, DataType::f32, 4);
  CHECK(p.count == 256);
  CHECK(p.sendCount == 64);
  CHECK(p.recvCount == 256);
  CHECK(p.bytes == 1024);
  // Not divisible: the size column shows what is really moved, count the sweep's elements.
  p = planSize(Collective::allgather, 8, DataType::f32, 4);
  CHECK(p.count == 2);
  CHECK(p.sendCount == 0);
  CHECK(p.bytes == 0);
  p = planSize(Collective::allgather, 40, DataType::f32, 3);
  CHECK(p.count == 10);
  CHECK(p.sendCount == 3);
  CHECK(p.bytes == 36);
}

TEST_CASE("bench plan: the other collectives", "[bench]") {
  // Like allreduce: the size is the buffer.
  for (Collective c : {Collective::broadcast, Collective::reduce}) {
    auto p = planSize(c, 1024, DataType::f32, 4);
    CHECK(p.callCount == 256);
    CHECK(p.sendCount == 256);
    CHECK(p.recvCount == 256);
    CHECK(p.bytes == 1024);
  }
  // reduce_scatter and scatter: the size is what each rank (the root) sends; one block each.
  for (Collective c : {Collective::reduce_scatter, Collective::scatter}) {
    auto p = planSize(c, 1024, DataType::f32, 4);
    CHECK(p.count == 256);
    CHECK(p.callCount == 64);
    CHECK(p.sendCount == 256);
    CHECK(p.recvCount == 64);
    CHECK(p.bytes == 1024);
  }
  // gather: like allgather, the size is what the root receives.
  auto p = planSize(Collective::gather, 1024, DataType::f64, 4);
  CHECK(p.callCount == 32);
  CHECK(p.recvCount == 128);
  CHECK(p.bytes == 1024);
  // alltoall: the size is each rank's whole buffer, both ways; the count is per peer.
  p = planSize(Collective::alltoall, 1024, DataType::f32, 4);
  CHECK(p.callCount == 64);
  CHECK(p.sendCount == 256);
  CHECK(p.recvCount == 256);
  CHECK(p.bytes == 1024);
  // Not divisible: rounded down to whole blocks.
  p = planSize(Collective::reduce_scatter, 40, DataType::f32, 3);
  CHECK(p.callCount == 3);
  CHECK(p.bytes == 36);
  p = planSize(Collective::alltoall, 8, DataType::f32, 4);
  CHECK(p.callCount == 0);
  CHECK(p.bytes == 0);
  // sendrecv (nccl-tests): the size is the message each rank sends and receives, whatever the
  // number of ranks; nothing is split, so no size rounds to 0.
  for (int n : {1, 2, 4, 7}) {
    p = planSize(Collective::sendrecv, 1024, DataType::f32, n);
    CHECK(p.count == 256);
    CHECK(p.callCount == 256);
    CHECK(p.sendCount == 256);
    CHECK(p.recvCount == 256);
    CHECK(p.bytes == 1024);
  }
  p = planSize(Collective::sendrecv, 8, DataType::f64, 4);
  CHECK(p.callCount == 1);
  CHECK(p.bytes == 8);
}

TEST_CASE("bench report: bus bandwidth factors are nccl-tests'", "[bench]") {
  CHECK(busBandwidthFactor(Collective::reduce_scatter, 4) == Approx(0.75));
  CHECK(busBandwidthFactor(Collective::alltoall, 4) == Approx(0.75));
  CHECK(busBandwidthFactor(Collective::gather, 4) == Approx(0.75));
  CHECK(busBandwidthFactor(Collective::scatter, 2) == Approx(0.5));
  CHECK(busBandwidthFactor(Collective::broadcast, 4) == 1.0);
  CHECK(busBandwidthFactor(Collective::reduce, 8) == 1.0);
  // sendrecv: 1 whatever the number of ranks (every rank's link carries the whole message).
  for (int n : {1, 2, 4, 8}) CHECK(busBandwidthFactor(Collective::sendrecv, n) == 1.0);
}

TEST_CASE("bench report: root and op columns", "[bench]") {
  BenchArgs args = *parse({"reduce", "-r", "2", "-o", "max", "-b", "1K", "-e", "1K"}).args;
  Report report(ReportInfo{"banyan-bench", "banyan", 4, args});
  const std::string line =
      report.addRow({planSize(Collective::reduce, 1024, DataType::f32, 4), {10.0, 0}, {10.0, 0}, {}});
  CHECK(line.find("     max       2") != std::string::npos);
  CHECK(report.json().find("\"root\": 2") != std::string::npos);
  CHECK(report.json().find("\"collective\": \"reduce\"") != std::string::npos);

  args = *parse({"alltoall", "-r", "2", "-b", "1K", "-e", "1K"}).args;
  Report unrooted(ReportInfo{"banyan-bench", "banyan", 4, args});
  const std::string other =
      unrooted.addRow({planSize(Collective::alltoall, 1024, DataType::f32, 4), {10.0, 0}, {0.0, -1}, {}});
  CHECK(other.find("    none      -1") != std::string::npos);
  CHECK(unrooted.json().find("\"root\": -1") != std::string::npos);

  // sendrecv neither reduces nor has a root, and both placements are measured.
  CHECK_FALSE(reduces(Collective::sendrecv));
  CHECK_FALSE(hasRoot(Collective::sendrecv));
  CHECK(hasInPlace(Collective::sendrecv));
  args = *parse({"sendrecv", "-r", "1", "-o", "max", "-b", "1K", "-e", "1K"}).args;
  Report p2p(ReportInfo{"banyan-bench", "banyan", 4, args});
  const std::string p2pLine =
      p2p.addRow({planSize(Collective::sendrecv, 1024, DataType::f32, 4), {10.0, 0}, {20.0, 0}, {}});
  CHECK(p2pLine.find("    none      -1") != std::string::npos);
  // 1024 B in 10 us: algbw 0.10 GB/s, busbw the same (factor 1).
  CHECK(p2pLine.find("   10.00    0.10    0.10      0") != std::string::npos);
  CHECK(p2p.json().find("\"collective\": \"sendrecv\"") != std::string::npos);

  args = *parse({"reduce_scatter", "-o", "min"}).args;
  Report scatter(ReportInfo{"banyan-bench", "banyan", 2, args});
  CHECK(scatter.header({}).find("op: min") != std::string::npos);
}

TEST_CASE("bench report: bandwidths", "[bench]") {
  CHECK(busBandwidthFactor(Collective::allreduce, 4) == Approx(1.5));
  CHECK(busBandwidthFactor(Collective::allgather, 4) == Approx(0.75));
  CHECK(busBandwidthFactor(Collective::allreduce, 2) == Approx(1.0));
  CHECK(busBandwidthFactor(Collective::allreduce, 1) == 0.0);
  CHECK(algorithmBandwidth(1'000'000, 1000.0) == Approx(1.0));  // 1 MB in 1 ms = 1 GB/s
  CHECK(algorithmBandwidth(0, 5.0) == 0.0);
  CHECK(algorithmBandwidth(100, 0.0) == 0.0);
}

TEST_CASE("bench report: the nccl-tests table", "[bench]") {
  const std::string expectedHeader =
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     time"
      "   algbw   busbw #wrong\n"
      "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)"
      "  (GB/s)  (GB/s)\n";
  CHECK(Report::tableHeader() == expectedHeader);

  BenchArgs args = *parse({"allreduce", "-b", "8", "-e", "16", "-f", "2"}).args;
  Report report(ReportInfo{"banyan-bench", "banyan", 4, args});
  const std::string header = report.header({{0, 100, "hostA"}, {1, 101, "hostA"}});
  const auto h = lines(header);
  REQUIRE(h.size() >= 4);
  CHECK(h[0] == "# Collective test starting: banyan-bench allreduce");
  CHECK(header.find("#  Rank  0 Pid    100 on hostA\n") != std::string::npos);
  CHECK(header.find("#  Rank  1 Pid    101 on hostA\n") != std::string::npos);
  CHECK(header.find(expectedHeader) != std::string::npos);

  // 1 MB in 1000 us: algbw 1.00, busbw 1.50 with 4 ranks.
  ResultRow row{planSize(Collective::allreduce, 1'000'000, DataType::f32, 4), {1000.0, 0}, {500.0, 3}, {}};
  const std::string line = report.addRow(row);
  CHECK(line ==
        "     1000000        250000     float     sum      -1  1000.00    1.00    1.50      0   500.00"
        "    2.00    3.00      3\n");
  // Every column ends where the header's does.
  const auto headerLine = lines(expectedHeader)[0];
  CHECK(line.size() - 1 == headerLine.size());

  CHECK(report.wrongTotal() == 3);
  CHECK(report.averageBusBandwidth() == Approx(2.25));
  const std::string footer = report.footer();
  CHECK(footer.find("# Out of bounds values : 3 FAILED\n") != std::string::npos);
  CHECK(footer.find("# Avg bus bandwidth    : 2.25\n") != std::string::npos);
}

TEST_CASE("bench report: unchecked rows, allgather, JSON", "[bench]") {
  BenchArgs args = *parse({"allgather", "-c", "0", "-b", "1K", "-e", "1K"}).args;
  Report report(ReportInfo{"banyan-bench-mpi", "openmpi", 2, args});
  ResultRow row{planSize(Collective::allgather, 1024, DataType::f32, 2), {10.0, -1}, {20.0, -1}, {}};
  const std::string line = report.addRow(row);
  CHECK(line.find("    none      -1") != std::string::npos);
  CHECK(line.find("N/A") != std::string::npos);
  CHECK(report.footer().find("# Out of bounds values : 0 OK\n") != std::string::npos);

  const std::string json = report.json();
  CHECK(json.find("\"library\": \"openmpi\"") != std::string::npos);
  CHECK(json.find("\"collective\": \"allgather\"") != std::string::npos);
  CHECK(json.find("\"bytes\": 1024") != std::string::npos);
  CHECK(json.find("\"wrong\": null") != std::string::npos);
  CHECK(json.find("\"in_place\": false") != std::string::npos);
  CHECK(json.find("\"in_place\": true") != std::string::npos);
  CHECK(json.find("\"time_us\": 20") != std::string::npos);
}

TEST_CASE("bench data: 16-bit float conversions", "[bench]") {
  for (int v = -2048; v <= 2048; ++v) {
    INFO(v);
    REQUIRE(halfToFloat(floatToHalf(static_cast<float>(v))) == static_cast<float>(v));
  }
  for (int v = -256; v <= 256; ++v) {
    REQUIRE(bfloat16ToFloat(floatToBFloat16(static_cast<float>(v))) == static_cast<float>(v));
  }
  CHECK(floatToHalf(1.0f) == 0x3c00);
  CHECK(floatToHalf(65504.0f) == 0x7bff);
  CHECK(floatToHalf(1e6f) == 0x7c00);                    // overflow to infinity
  CHECK(halfToFloat(0x0001) == Approx(5.96046448e-8f));  // smallest subnormal
  CHECK(floatToHalf(2049.0f) == floatToHalf(2048.0f));   // ties to even
  CHECK(floatToBFloat16(1.0f) == 0x3f80);
  CHECK(floatToBFloat16(257.0f) == floatToBFloat16(256.0f));  // ties to even
}

TEST_CASE("bench op names are banyan's", "[bench]") {
  for (int i = 0; i < kReduceOpCount; ++i) {
    const auto op = static_cast<ReduceOp>(i);
    CHECK(reduceOpName(op) == toString(op));
    CHECK(parseReduceOpName(toString(op)) == op);
  }
}

TEST_CASE("bench data: expected results are what the inputs reduce to", "[bench]") {
  // Reduce the inputs here, in double, and compare with the pattern's expected values.
  for (int n : {1, 2, 3, 4, 7, 16}) {
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::prod, ReduceOp::min, ReduceOp::max, ReduceOp::avg, ReduceOp::band,
                        ReduceOp::bor, ReduceOp::bxor}) {
      DataPattern pattern(Collective::allreduce, op, n);
      for (std::size_t i = 0; i < 97; ++i) {
        double acc = pattern.inputValue(0, i);
        for (int r = 1; r < n; ++r) {
          const double v = pattern.inputValue(r, i);
          switch (op) {
            case ReduceOp::sum:
            case ReduceOp::avg:
              acc += v;
              break;
            case ReduceOp::prod:
              acc *= v;
              break;
            case ReduceOp::min:
              acc = std::min(acc, v);
              break;
            case ReduceOp::max:
              acc = std::max(acc, v);
              break;
            case ReduceOp::band:
              acc = static_cast<int>(acc) & static_cast<int>(v);
              break;
            case ReduceOp::bor:
              acc = static_cast<int>(acc) | static_cast<int>(v);
              break;
            case ReduceOp::bxor:
              acc = static_cast<int>(acc) ^ static_cast<int>(v);
              break;
          }
        }
        if (op == ReduceOp::avg) acc /= n;
        INFO("n " << n << " op " << reduceOpName(op) << " i " << i);
        REQUIRE(acc == pattern.expectedValue(i, 97));
        REQUIRE(acc >= 0);
        REQUIRE(acc <= 127);  // exact in i8 and every float type
        for (int r = 0; r < n; ++r) REQUIRE(pattern.inputValue(r, i) >= 0);
      }
    }
  }
}

TEST_CASE("bench data: checks count what is wrong", "[bench]") {
  const int n = 4;
  const std::size_t count = 50;
  for (DataType type : {DataType::f32, DataType::f64, DataType::f16, DataType::bf16, DataType::i8, DataType::u8,
                        DataType::i32, DataType::i64, DataType::i16}) {
    INFO(dataTypeName(type));
    // allgather: the receive buffer is every rank's input in rank order.
    DataPattern gather(Collective::allgather, ReduceOp::sum, n);
    std::vector<std::byte> recv(n * count * elementSize(type));
    for (int r = 0; r < n; ++r) {
      gather.fillInput(recv.data() + r * count * elementSize(type), count, type, r);
    }
    CHECK(gather.countWrong(recv.data(), n * count, count, type) == 0);
    std::memset(recv.data() + 3 * elementSize(type), 0xff, 2 * elementSize(type));
    CHECK(gather.countWrong(recv.data(), n * count, count, type) == 2);

    // allreduce with rank 0's input as the "result": wrong wherever it differs from the sum.
    DataPattern reduce(Collective::allreduce, ReduceOp::max, n);
    std::vector<std::byte> result(count * elementSize(type));
    reduce.fillInput(result.data(), count, type, 0);
    std::int64_t differing = 0;
    for (std::size_t i = 0; i < count; ++i) differing += reduce.inputValue(0, i) != reduce.expectedValue(i, count);
    CHECK(differing > 0);
    CHECK(reduce.countWrong(result.data(), count, count, type) == differing);
  }
}

namespace {

// Runs `collective` on `n` simulated ranks from the pattern's inputs, by the API's definition,
// and returns the number of wrong elements over all ranks' results.
std::int64_t simulateWrong(Collective collective, ReduceOp op, int n, int root, std::size_t block) {
  const DataPattern pattern(collective, op, n, root);
  const std::size_t total = block * static_cast<std::size_t>(n);
  auto in = [&](int r, std::size_t i) { return static_cast<float>(pattern.inputValue(r, i)); };
  auto reduceAt = [&](std::size_t i) {
    double acc = in(0, i);
    for (int r = 1; r < n; ++r) {
      const double v = in(r, i);
      if (op == ReduceOp::sum) acc += v;
      if (op == ReduceOp::max) acc = std::max(acc, v);
    }
    return static_cast<float>(acc);
  };
  std::int64_t wrong = 0;
  for (int rank = 0; rank < n; ++rank) {
    std::vector<float> result;
    switch (collective) {
      case Collective::reduce_scatter:
        for (std::size_t i = 0; i < block; ++i) result.push_back(reduceAt(rank * block + i));
        break;
      case Collective::broadcast:
        for (std::size_t i = 0; i < block; ++i) result.push_back(in(root, i));
        break;
      case Collective::gather:
        if (rank != root) continue;
        for (std::size_t i = 0; i < total; ++i) result.push_back(in(static_cast<int>(i / block), i % block));
        break;
      case Collective::scatter:
        for (std::size_t i = 0; i < block; ++i) result.push_back(in(root, rank * block + i));
        break;
      case Collective::alltoall:
        for (std::size_t i = 0; i < total; ++i)
          result.push_back(in(static_cast<int>(i / block), rank * block + i % block));
        break;
      case Collective::sendrecv:  // the previous rank's message
        for (std::size_t i = 0; i < block; ++i) result.push_back(in((rank + n - 1) % n, i));
        break;
      default:
        FAIL("not simulated");
    }
    wrong += pattern.countWrong(result.data(), result.size(), block, DataType::f32, rank);
  }
  return wrong;
}

}  // namespace

TEST_CASE("bench data: the other collectives' expected results", "[bench]") {
  for (int n : {2, 3, 4}) {
    for (int root : {0, n - 1}) {
      INFO("n " << n << " root " << root);
      CHECK(simulateWrong(Collective::reduce_scatter, ReduceOp::sum, n, root, 13) == 0);
      CHECK(simulateWrong(Collective::reduce_scatter, ReduceOp::max, n, root, 13) == 0);
      CHECK(simulateWrong(Collective::broadcast, ReduceOp::sum, n, root, 13) == 0);
      CHECK(simulateWrong(Collective::gather, ReduceOp::sum, n, root, 13) == 0);
      CHECK(simulateWrong(Collective::scatter, ReduceOp::sum, n, root, 13) == 0);
      CHECK(simulateWrong(Collective::alltoall, ReduceOp::sum, n, root, 13) == 0);
      CHECK(simulateWrong(Collective::sendrecv, ReduceOp::sum, n, root, 13) == 0);
    }
  }
  // sendrecv: a rank that kept its own message, or got the next rank's (the ring turned the
  // wrong way), is caught; with one rank the message comes back to itself.
  for (int n : {2, 3, 4}) {
    const DataPattern sendrecv(Collective::sendrecv, ReduceOp::sum, n, 0);
    for (int rank = 0; rank < n; ++rank) {
      INFO("n " << n << " rank " << rank);
      std::vector<float> own(20), next(20), previous(20);
      sendrecv.fillInput(own.data(), own.size(), DataType::f32, rank);
      sendrecv.fillInput(next.data(), next.size(), DataType::f32, (rank + 1) % n);
      sendrecv.fillInput(previous.data(), previous.size(), DataType::f32, (rank + n - 1) % n);
      CHECK(sendrecv.countWrong(previous.data(), 20, 20, DataType::f32, rank) == 0);
      CHECK(sendrecv.countWrong(own.data(), 20, 20, DataType::f32, rank) == 20);
      if (n > 2) CHECK(sendrecv.countWrong(next.data(), 20, 20, DataType::f32, rank) == 20);
    }
  }
  const DataPattern alone(Collective::sendrecv, ReduceOp::sum, 1, 0);
  std::vector<float> self(7);
  alone.fillInput(self.data(), self.size(), DataType::f32, 0);
  CHECK(alone.countWrong(self.data(), 7, 7, DataType::f32, 0) == 0);
  // A block from the wrong rank or offset is caught: inputs differ between ranks and indices.
  const DataPattern bcast(Collective::broadcast, ReduceOp::sum, 4, 1);
  std::vector<float> own(20);
  bcast.fillInput(own.data(), own.size(), DataType::f32, 2);  // rank 2 kept its own data
  CHECK(bcast.countWrong(own.data(), own.size(), own.size(), DataType::f32, 2) == 20);
  const DataPattern scatter(Collective::scatter, ReduceOp::sum, 4, 0);
  std::vector<float> block0(5);
  for (std::size_t i = 0; i < 5; ++i) block0[i] = static_cast<float>(scatter.inputValue(0, i));
  CHECK(scatter.countWrong(block0.data(), 5, 5, DataType::f32, 0) == 0);
  CHECK(scatter.countWrong(block0.data(), 5, 5, DataType::f32, 1) == 5);  // rank 1 got rank 0's block
}

TEST_CASE("bench args: -D/--digest, its inputs and its column", "[bench][deterministic]") {
  CHECK_FALSE(parse({"allreduce"}).args->digest);
  const BenchArgs args = *parse({"allreduce", "-D", "1", "-b", "1K", "-e", "1K"}).args;
  CHECK(args.digest);
  CHECK_FALSE(args.check);  // the digest's inputs replace the check's
  CHECK(parse({"allreduce", "--digest=1", "-d", "f64"}).args->digest);
  CHECK(parse({"allreduce", "--digest", "0"}).args->check);
  CHECK_THAT(parse({"allreduce", "-D", "2"}).error, Catch::Contains("invalid value '2' for -D/--digest"));
  CHECK_THAT(parse({"allreduce", "-D", "1", "-d", "i32"}).error,
             Catch::Contains("-D/--digest 1 needs a floating type (f32 f64 f16 bf16), not i32"));
  CHECK_THAT(benchUsage("banyan-bench"), Catch::Contains("-D, --digest <0|1>"));

  // The inputs: the same for the same (seed, rank, index), different across ranks, and of
  // mixed magnitude, so that the order of a sum shows in its bits.
  std::vector<float> a(1000), b(1000), c(1000);
  fillMixed(a.data(), a.size(), DataType::f32, 0);
  fillMixed(b.data(), b.size(), DataType::f32, 0);
  fillMixed(c.data(), c.size(), DataType::f32, 1);
  CHECK(a == b);
  CHECK(a != c);
  const auto [low, high] =
      std::minmax_element(a.begin(), a.end(), [](float x, float y) { return std::abs(x) < std::abs(y); });
  CHECK(std::abs(*high) / std::abs(*low) > 1e6f);
  std::vector<float> d(1000);
  fillMixed(d.data(), d.size(), DataType::f32, 2);
  int orderShows = 0;
  for (std::size_t i = 0; i < a.size(); ++i) orderShows += (a[i] + c[i]) + d[i] != a[i] + (c[i] + d[i]) ? 1 : 0;
  CHECK(orderShows > 100);
  std::vector<std::int32_t> ints(4);
  CHECK_THROWS(fillMixed(ints.data(), ints.size(), DataType::i32, 0));
  // FNV-1a 64's published value for "a".
  CHECK(fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);

  // The column: rank 0's digest as 16 hex digits, "-" where rank 0 has no result.
  Report report(ReportInfo{"banyan-bench", "banyan", 4, args});
  CHECK(report.header({}).find("#wrong            digest\n") != std::string::npos);
  ResultRow row{planSize(Collective::allreduce, 1024, DataType::f32, 4), {10.0, -1}, {10.0, -1}, 0x0123456789abcdefull};
  CHECK(report.addRow(row).ends_with("  0123456789abcdef\n"));
  row.digest.reset();
  CHECK(report.addRow(row).ends_with("                 -\n"));
  CHECK(report.json().find("\"digest\": \"0123456789abcdef\"") != std::string::npos);
}

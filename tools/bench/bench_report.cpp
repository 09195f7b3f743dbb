#include "tools/bench/bench_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace banyan::bench {
namespace {

// Right edges of the table's columns, as in nccl-tests: size, count, type, redop, root, then
// time, algbw, busbw, #wrong for out-of-place and again for in-place.
constexpr int kSizeWidth = 12, kCountWidth = 14, kTypeWidth = 10, kOpWidth = 8, kRootWidth = 8;
constexpr int kTimeWidth = 9, kBwWidth = 8, kWrongWidth = 7, kDigestWidth = 18;

// Keeps the time column 7 characters wide over the usual range, like nccl-tests.
std::string formatTime(double us) {
  if (us < 10000.0) return fmt::format("{:.2f}", us);
  if (us < 100000.0) return fmt::format("{:.1f}", us);
  return fmt::format("{:.0f}", us);
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Not every double is a JSON number; times and bandwidths always are in practice.
std::string jsonNumber(double value) { return std::isfinite(value) ? fmt::format("{}", value) : "null"; }

std::string_view opColumn(const BenchArgs& args) { return reduces(args.collective) ? reduceOpName(args.op) : "none"; }

}  // namespace

SizePlan planSize(Collective collective, std::size_t sweepBytes, DataType type, int nranks) {
  const std::size_t elem = elementSize(type);
  const std::size_t n = nranks > 0 ? static_cast<std::size_t>(nranks) : 0;
  SizePlan plan;
  plan.sweepBytes = sweepBytes;
  plan.count = elem == 0 ? 0 : sweepBytes / elem;
  const std::size_t block = n > 0 ? plan.count / n : 0;
  switch (collective) {
    case Collective::allreduce:
    case Collective::reduce:
    case Collective::broadcast:
    case Collective::sendrecv:
      plan.callCount = plan.sendCount = plan.recvCount = plan.count;
      break;
    case Collective::allgather:
    case Collective::gather:
      plan.callCount = plan.sendCount = block;
      plan.recvCount = block * n;
      break;
    case Collective::reduce_scatter:
    case Collective::scatter:
      plan.callCount = plan.recvCount = block;
      plan.sendCount = block * n;
      break;
    case Collective::alltoall:
      plan.callCount = block;
      plan.sendCount = plan.recvCount = block * n;
      break;
  }
  plan.bytes = std::max(plan.sendCount, plan.recvCount) * elem;
  return plan;
}

double busBandwidthFactor(Collective collective, int nranks) {
  if (nranks <= 0) return 0;
  const double n = nranks;
  switch (collective) {
    case Collective::allreduce:
      return 2.0 * (n - 1) / n;
    // The root's link carries the whole buffer once, whatever the algorithm.
    case Collective::broadcast:
    case Collective::reduce:
      return 1.0;
    // Each rank's link carries the whole message out (and another in): busbw = algbw, as
    // nccl-tests' sendrecv.
    case Collective::sendrecv:
      return 1.0;
    default:
      return (n - 1) / n;  // every rank's own block does not cross a link
  }
}

double algorithmBandwidth(std::size_t bytes, double timeUs) {
  if (bytes == 0 || !(timeUs > 0)) return 0;
  return static_cast<double>(bytes) / 1e3 / timeUs;  // bytes / (us * 1e-6) / 1e9
}

Report::Report(ReportInfo info) : info_(std::move(info)) {}

std::string Report::tableHeader() {
  std::string out;
  auto place = [](std::string_view time, std::string_view alg, std::string_view bus, std::string_view wrong) {
    return fmt::format("{:>{}}{:>{}}{:>{}}{:>{}}", time, kTimeWidth, alg, kBwWidth, bus, kBwWidth, wrong, kWrongWidth);
  };
  out += fmt::format("#{:>{}}{:>{}}{:>{}}{:>{}}{:>{}}", "size", kSizeWidth - 1, "count", kCountWidth, "type",
                     kTypeWidth, "redop", kOpWidth, "root", kRootWidth);
  out += place("time", "algbw", "busbw", "#wrong") + place("time", "algbw", "busbw", "#wrong") + "\n";
  std::string units = fmt::format("#{:>{}}{:>{}}{:>{}}", "(B)", kSizeWidth - 1, "(elements)", kCountWidth, "",
                                  kTypeWidth + kOpWidth + kRootWidth);
  units += place("(us)", "(GB/s)", "(GB/s)", "") + place("(us)", "(GB/s)", "(GB/s)", "");
  while (!units.empty() && units.back() == ' ') units.pop_back();
  return out + units + "\n";
}

std::string Report::header(const std::vector<RankInfo>& ranks) const {
  const BenchArgs& a = info_.args;
  std::string out;
  out += fmt::format("# Collective test starting: {} {}\n", info_.program, collectiveName(a.collective));
  out += fmt::format("# library: {}  nranks: {}  dtype: {} ({})  op: {}\n", info_.library, info_.nranks,
                     dataTypeName(a.dataType), ncclTypeName(a.dataType), opColumn(a));
  const std::string step =
      a.stepFactor > 1 ? fmt::format("{}(factor)", a.stepFactor) : fmt::format("{}(bytes)", a.stepBytes);
  out += fmt::format("# minBytes {} maxBytes {} step: {} warmup iters: {} iters: {} validation: {} blocking: {}\n",
                     a.minBytes, a.maxBytes, step, a.warmupIters, a.iters, a.check ? 1 : 0, a.blocking ? 1 : 0);
  if (a.timeBudgetSeconds > 0) {
    out += fmt::format("# time budget: {:g} s per size and placement (fewer iterations where slower)\n",
                       a.timeBudgetSeconds);
  }
  out += "#\n# Using ranks\n";
  for (const RankInfo& r : ranks) {
    out += fmt::format("#  Rank {:2} Pid {:6} on {}\n", r.rank, r.pid, r.host);
  }
  out += "#\n";
  const int left = kSizeWidth + kCountWidth + kTypeWidth + kOpWidth + kRootWidth;
  const int place = kTimeWidth + 2 * kBwWidth + kWrongWidth;
  std::string titles = fmt::format("#{:>{}}{:^{}}{:^{}}", "", left - 1, "out-of-place", place, "in-place", place);
  while (!titles.empty() && titles.back() == ' ') titles.pop_back();
  out += titles + "\n";
  std::string table = tableHeader();
  if (a.digest) {
    // The digest column after the in-place columns, on the first of the two header lines.
    const std::size_t end = table.find('\n');
    table.insert(end, fmt::format("{:>{}}", "digest", kDigestWidth));
  }
  out += table;
  return out;
}

std::string Report::formatMeasurement(const SizePlan& plan, const Measurement& m) const {
  const double alg = algorithmBandwidth(plan.bytes, m.timeUs);
  const double bus = alg * busBandwidthFactor(info_.args.collective, info_.nranks);
  const std::string wrong = m.wrong < 0 ? std::string("N/A") : fmt::format("{}", m.wrong);
  return fmt::format("{:>{}}{:>{}.2f}{:>{}.2f}{:>{}}", formatTime(m.timeUs), kTimeWidth, alg, kBwWidth, bus, kBwWidth,
                     wrong, kWrongWidth);
}

std::string Report::addRow(const ResultRow& row) {
  rows_.push_back(row);
  const BenchArgs& a = info_.args;
  return fmt::format("{:>{}}{:>{}}{:>{}}{:>{}}{:>{}}", row.plan.bytes, kSizeWidth, row.plan.count, kCountWidth,
                     ncclTypeName(a.dataType), kTypeWidth, opColumn(a), kOpWidth, hasRoot(a.collective) ? a.root : -1,
                     kRootWidth) +
         formatMeasurement(row.plan, row.outOfPlace) + formatMeasurement(row.plan, row.inPlace) +
         (a.digest ? fmt::format("{:>{}}", row.digest ? fmt::format("{:016x}", *row.digest) : "-", kDigestWidth) : "") +
         "\n";
}

std::int64_t Report::wrongTotal() const {
  std::int64_t total = 0;
  for (const ResultRow& row : rows_) {
    total += std::max<std::int64_t>(row.outOfPlace.wrong, 0) + std::max<std::int64_t>(row.inPlace.wrong, 0);
  }
  return total;
}

double Report::averageBusBandwidth() const {
  // Over every measurement, out-of-place and in-place alike, as nccl-tests averages.
  if (rows_.empty()) return 0;
  const double factor = busBandwidthFactor(info_.args.collective, info_.nranks);
  double sum = 0;
  for (const ResultRow& row : rows_) {
    sum += algorithmBandwidth(row.plan.bytes, row.outOfPlace.timeUs) * factor;
    sum += algorithmBandwidth(row.plan.bytes, row.inPlace.timeUs) * factor;
  }
  return sum / static_cast<double>(2 * rows_.size());
}

std::string Report::footer() const {
  const std::int64_t wrong = wrongTotal();
  return fmt::format("# {:<20} : {} {}\n# {:<20} : {:g}\n#\n", "Out of bounds values", wrong,
                     wrong == 0 ? "OK" : "FAILED", "Avg bus bandwidth", averageBusBandwidth());
}

std::string Report::json() const {
  const BenchArgs& a = info_.args;
  const std::string common =
      fmt::format("\"collective\": {}, \"library\": {}, \"nranks\": {}, \"dtype\": {}, \"op\": {}, \"root\": {}",
                  jsonString(collectiveName(a.collective)), jsonString(info_.library), info_.nranks,
                  jsonString(dataTypeName(a.dataType)), jsonString(opColumn(a)), hasRoot(a.collective) ? a.root : -1);
  std::string out = "{\n";
  out += fmt::format("  \"tool\": {}, {},\n", jsonString(info_.program), common);
  out += fmt::format(
      "  \"min_bytes\": {}, \"max_bytes\": {}, \"step_factor\": {}, \"step_bytes\": {}, "
      "\"iters\": {}, \"warmup_iters\": {}, \"check\": {}, \"blocking\": {}, "
      "\"time_budget_s\": {},\n",
      a.minBytes, a.maxBytes, a.stepFactor, a.stepBytes, a.iters, a.warmupIters, a.check, a.blocking,
      a.timeBudgetSeconds);
  out += fmt::format("  \"wrong_total\": {}, \"avg_busbw\": {},\n", wrongTotal(), jsonNumber(averageBusBandwidth()));
  out += "  \"rows\": [";
  const double factor = busBandwidthFactor(a.collective, info_.nranks);
  bool first = true;
  for (const ResultRow& row : rows_) {
    for (bool inPlace : {false, true}) {
      const Measurement& m = inPlace ? row.inPlace : row.outOfPlace;
      const double alg = algorithmBandwidth(row.plan.bytes, m.timeUs);
      out += first ? "\n    " : ",\n    ";
      first = false;
      out += fmt::format(
          "{{{}, \"bytes\": {}, \"count\": {}, \"time_us\": {}, \"algbw\": {}, \"busbw\": {}, "
          "\"iters\": {}, \"wrong\": {}, \"in_place\": {}{}}}",
          common, row.plan.bytes, row.plan.count, jsonNumber(m.timeUs), jsonNumber(alg), jsonNumber(alg * factor),
          m.iters, m.wrong < 0 ? std::string("null") : fmt::format("{}", m.wrong), inPlace,
          !inPlace && row.digest ? fmt::format(", \"digest\": \"{:016x}\"", *row.digest) : "");
    }
  }
  out += "\n  ]\n}\n";
  return out;
}

}  // namespace banyan::bench

#include "tools/bench/bench_args.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

namespace banyan::bench {
namespace {

struct TypeName {
  DataType type;
  std::string_view shortName;
  std::string_view ncclName;
  std::size_t size;
};
// Same order as the DataType enumerators.
constexpr std::array<TypeName, kDataTypeCount> kTypeNames{{
    {DataType::f32, "f32", "float", 4},
    {DataType::f64, "f64", "double", 8},
    {DataType::f16, "f16", "half", 2},
    {DataType::bf16, "bf16", "bfloat16", 2},
    {DataType::i8, "i8", "int8", 1},
    {DataType::u8, "u8", "uint8", 1},
    {DataType::i32, "i32", "int32", 4},
    {DataType::i64, "i64", "int64", 8},
    {DataType::i16, "i16", "int16", 2},
}};

// banyan's op names (src/common/types.cpp), repeated here because banyan-bench-mpi, which
// shares this file, does not link libbanyan; a unit test checks the two lists agree.
constexpr std::array<std::string_view, kReduceOpCount> kOpNames{
    {"sum", "prod", "min", "max", "avg", "band", "bor", "bxor"}};

// Caps that keep arithmetic on sizes far from overflow and catch typos ("-n 2000000000").
constexpr std::size_t kMaxBytesLimit = std::size_t{1} << 40;
constexpr int kMaxIters = 1'000'000;
constexpr int kMaxRanks = 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <typename Int>
std::optional<Int> parseNumber(std::string_view text) {
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<bool> parseFlag01(std::string_view text) {
  if (text == "0") return false;
  if (text == "1") return true;
  return std::nullopt;
}

// One flag of the table: its spellings and whether it takes a value.
struct FlagSpec {
  std::string_view shortName;  // "-b"
  std::string_view longName;   // "--minbytes"
  bool takesValue;
};
constexpr std::array<FlagSpec, 17> kFlags{{
    {"-b", "--minbytes", true},
    {"-e", "--maxbytes", true},
    {"-f", "--stepfactor", true},
    {"-i", "--stepbytes", true},
    {"-n", "--iters", true},
    {"-w", "--warmup_iters", true},
    {"-c", "--check", true},
    {"-d", "--datatype", true},
    {"-o", "--op", true},
    {"-r", "--root", true},
    {"-z", "--blocking", true},
    {"-T", "--time_budget", true},
    {"-np", "--nranks", true},
    {"-J", "--json", true},
    {"-D", "--digest", true},
    {"-Z", "--compress", true},
    {"-h", "--help", false},
}};

const FlagSpec* findFlag(std::string_view name) {
  for (const auto& spec : kFlags) {
    if (name == spec.shortName || name == spec.longName) return &spec;
  }
  return nullptr;
}

ParseResult fail(std::string message) {
  ParseResult result;
  result.error = std::move(message);
  return result;
}

// Applies one flag's value to `args`; returns an error message or "".
std::string applyFlag(const FlagSpec& spec, std::string_view value, BenchArgs& args) {
  const std::string_view name = spec.shortName;
  auto bad = [&](std::string_view expected) {
    return fmt::format("invalid value '{}' for {}/{}: expected {}", value, spec.shortName, spec.longName, expected);
  };
  if (name == "-b" || name == "-e" || name == "-i") {
    auto bytes = parseByteSize(value);
    if (!bytes) return bad("a byte count such as 8, 4K, 64M or 1G");
    if (*bytes > kMaxBytesLimit) return bad(fmt::format("at most {} bytes", kMaxBytesLimit));
    (name == "-b" ? args.minBytes : name == "-e" ? args.maxBytes : args.stepBytes) = *bytes;
  } else if (name == "-f") {
    auto factor = parseNumber<std::uint64_t>(value);
    if (!factor || *factor < 1 || *factor > 1024) return bad("an integer from 1 to 1024");
    args.stepFactor = *factor;
  } else if (name == "-n") {
    auto n = parseNumber<int>(value);
    if (!n || *n < 1 || *n > kMaxIters) return bad(fmt::format("an integer from 1 to {}", kMaxIters));
    args.iters = *n;
  } else if (name == "-w") {
    auto n = parseNumber<int>(value);
    if (!n || *n < 0 || *n > kMaxIters) return bad(fmt::format("an integer from 0 to {}", kMaxIters));
    args.warmupIters = *n;
  } else if (name == "-c") {
    auto b = parseFlag01(value);
    if (!b) return bad("0 or 1");
    args.check = *b;
  } else if (name == "-D") {
    auto b = parseFlag01(value);
    if (!b) return bad("0 or 1");
    args.digest = *b;
  } else if (name == "-Z") {
    // Spelled here, not with banyan::parseCompressionFormat: bench_common does not link libbanyan.
    constexpr std::string_view kNames[] = {"none", "bf16", "fp16", "int8"};
    const auto* found = std::find(std::begin(kNames), std::end(kNames), value);
    if (found == std::end(kNames)) return bad("one of none bf16 fp16 int8");
    args.compression = static_cast<CompressionFormat>(found - std::begin(kNames));
  } else if (name == "-z") {
    auto b = parseFlag01(value);
    if (!b) return bad("0 or 1");
    args.blocking = *b;
  } else if (name == "-d") {
    auto type = parseDataTypeName(value);
    if (!type) {
      return bad(
          "one of f32 f64 f16 bf16 i8 u8 i32 i64 (or float double half bfloat16 int8 "
          "uint8 int32 int64)");
    }
    args.dataType = *type;
  } else if (name == "-o") {
    auto op = parseReduceOpName(value);
    if (!op) return bad("one of sum prod min max avg band bor bxor");
    args.op = *op;
  } else if (name == "-r") {
    // Checked against the job size at run time (-np may come later, mpirun sets it outside).
    auto n = parseNumber<int>(value);
    if (!n || *n < 0 || *n >= kMaxRanks) return bad(fmt::format("a rank from 0 to {}", kMaxRanks - 1));
    args.root = *n;
  } else if (name == "-T") {
    auto seconds = parseNumber<double>(value);
    if (!seconds || !(*seconds >= 0) || *seconds > 1e6) return bad("a number of seconds >= 0");
    args.timeBudgetSeconds = *seconds;
  } else if (name == "-np") {
    auto n = parseNumber<int>(value);
    if (!n || *n < 1 || *n > kMaxRanks) return bad(fmt::format("an integer from 1 to {}", kMaxRanks));
    args.numRanks = *n;
  } else if (name == "-J") {
    if (value.empty()) return bad("a file name");
    args.jsonPath = std::string(value);
  }
  return {};
}

// Canonical names first (what collectiveName prints); nccl-tests spells the first two with an
// underscore, and its binaries drop it in places (alltoall_perf), so both spellings are taken.
struct CollectiveName {
  Collective collective;
  std::string_view name;
  std::string_view alias;
};
constexpr std::array<CollectiveName, kCollectiveCount> kCollectiveNames{{
    {Collective::allreduce, "allreduce", "all_reduce"},
    {Collective::allgather, "allgather", "all_gather"},
    {Collective::reduce_scatter, "reduce_scatter", "reducescatter"},
    {Collective::broadcast, "broadcast", "bcast"},
    {Collective::reduce, "reduce", "reduce"},
    {Collective::alltoall, "alltoall", "all_to_all"},
    {Collective::gather, "gather", "gather"},
    {Collective::scatter, "scatter", "scatter"},
    {Collective::sendrecv, "sendrecv", "send_recv"},
}};

constexpr std::string_view kCollectiveList =
    "allreduce, allgather, reduce_scatter, broadcast, reduce, alltoall, gather, scatter or sendrecv";

std::optional<Collective> parseCollective(std::string_view text) {
  const std::string name = lower(text);
  for (const auto& entry : kCollectiveNames) {
    if (name == entry.name || name == entry.alias) return entry.collective;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::size_t> parseByteSize(std::string_view text) {
  if (!text.empty() && (text.back() == 'B' || text.back() == 'b')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  std::size_t multiplier = 1;
  switch (std::tolower(static_cast<unsigned char>(text.back()))) {
    case 'k':
      multiplier = std::size_t{1} << 10;
      break;
    case 'm':
      multiplier = std::size_t{1} << 20;
      break;
    case 'g':
      multiplier = std::size_t{1} << 30;
      break;
    default:
      break;
  }
  if (multiplier != 1) text.remove_suffix(1);
  auto number = parseNumber<std::size_t>(text);
  if (!number) return std::nullopt;
  if (*number > std::numeric_limits<std::size_t>::max() / multiplier) return std::nullopt;
  return *number * multiplier;
}

ParseResult parseBenchArgs(const std::vector<std::string_view>& argv) {
  BenchArgs args;
  std::optional<Collective> collective;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-') {
      // --long=value is accepted as well as "--long value" and "-x value".
      std::string_view name = arg;
      std::optional<std::string_view> inlineValue;
      if (arg.starts_with("--")) {
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
          name = arg.substr(0, eq);
          inlineValue = arg.substr(eq + 1);
        }
      }
      const FlagSpec* spec = findFlag(name);
      if (spec == nullptr) return fail(fmt::format("unknown flag '{}'", arg));
      if (!spec->takesValue) {
        if (inlineValue) return fail(fmt::format("{} takes no value", name));
        args.help = true;
        continue;
      }
      std::string_view value;
      if (inlineValue) {
        value = *inlineValue;
      } else {
        if (i + 1 >= argv.size()) return fail(fmt::format("{} needs a value", name));
        value = argv[++i];
      }
      if (auto error = applyFlag(*spec, value, args); !error.empty()) return fail(error);
    } else {
      if (collective) return fail(fmt::format("unexpected argument '{}': give one collective", arg));
      collective = parseCollective(arg);
      if (!collective) {
        return fail(fmt::format("unknown collective '{}': expected {}", arg, kCollectiveList));
      }
    }
  }
  if (args.help) {
    ParseResult result;
    result.args = BenchArgs{};
    result.args->help = true;
    return result;
  }
  if (!collective) return fail(fmt::format("missing collective: expected {}", kCollectiveList));
  args.collective = *collective;
  if (args.minBytes == 0) return fail("-b/--minbytes must be at least 1");
  if (args.maxBytes < args.minBytes) {
    return fail(fmt::format("-e/--maxbytes ({}) is smaller than -b/--minbytes ({})", args.maxBytes, args.minBytes));
  }
  if (args.numRanks && args.root >= *args.numRanks) {
    return fail(fmt::format("-r/--root ({}) must be below -np/--nranks ({})", args.root, *args.numRanks));
  }
  if (args.digest) {
    const DataType t = args.dataType;
    if (t != DataType::f32 && t != DataType::f64 && t != DataType::f16 && t != DataType::bf16) {
      return fail(fmt::format("-D/--digest 1 needs a floating type (f32 f64 f16 bf16), not {}", dataTypeName(t)));
    }
    args.check = false;  // the digest's inputs replace the check's
  }
  if (args.compression != CompressionFormat::none) {
    if (args.collective != Collective::allreduce || args.dataType != DataType::f32 || args.op != ReduceOp::sum) {
      return fail(fmt::format("-Z/--compress compresses an f32 sum allreduce only, not {} of {} with {}",
                              collectiveName(args.collective), dataTypeName(args.dataType), reduceOpName(args.op)));
    }
    args.check = false;  // compressed results are approximate
  }
  if (args.stepFactor <= 1 && args.stepBytes == 0) {
    return fail("-i/--stepbytes must be at least 1 when -f/--stepfactor is 1");
  }
  ParseResult result;
  result.args = args;
  return result;
}

ParseResult parseBenchArgs(int argc, const char* const* argv) {
  std::vector<std::string_view> rest;
  for (int i = 1; i < argc; ++i) rest.emplace_back(argv[i]);
  return parseBenchArgs(rest);
}

std::string benchUsage(std::string_view program) {
  return fmt::format(
      "usage: {} <collective> [flags]\n"
      "  collective: allreduce allgather reduce_scatter broadcast reduce alltoall gather scatter\n"
      "              sendrecv\n"
      "  (nccl-tests sizes: the buffer of allreduce, broadcast, reduce and sendrecv; the total per\n"
      "  rank of allgather, gather (received), reduce_scatter, scatter (sent) and alltoall)\n"
      "  sendrecv: each rank sends to rank+1 and receives from rank-1 (mod n) at once; in place\n"
      "  means MPI_Sendrecv_replace (the buffer's data is sent and replaced by what arrives)\n"
      "  -b, --minbytes <size>      smallest message (default 32M); K/M/G = powers of 1024\n"
      "  -e, --maxbytes <size>      largest message (default 32M)\n"
      "  -f, --stepfactor <n>       multiply the size by n each step (default 1: use -i)\n"
      "  -i, --stepbytes <size>     add this to the size each step when -f is 1 (default 1M)\n"
      "  -n, --iters <n>            timed iterations per size (default 20)\n"
      "  -w, --warmup_iters <n>     untimed iterations first (default 5)\n"
      "  -c, --check <0|1>          verify results and count wrong elements (default 1)\n"
      "  -d, --datatype <type>      f32 f64 f16 bf16 i8 u8 i32 i64, or float double half\n"
      "                             bfloat16 int8 uint8 int32 int64 (default f32)\n"
      "  -o, --op <op>              sum prod min max avg band bor bxor (the last three on integer\n"
      "                             types; allreduce, reduce_scatter, reduce;\n"
      "                             default sum)\n"
      "  -r, --root <rank>          root of broadcast, reduce, gather, scatter (default 0)\n"
      "  -z, --blocking <0|1>       1: each call waits; 0: issue all timed iterations, then\n"
      "                             wait (default 1)\n"
      "  -T, --time_budget <s>      cap each size's timed iterations at about s seconds,\n"
      "                             estimated from the last warmup iteration (default 0: off)\n"
      "  -np, --nranks <n>          launch n local ranks (banyan-bench only)\n"
      "  -J, --json <file>          also write every result row as JSON to <file>\n"
      "  -D, --digest <0|1>         1: fill inputs with seeded pseudo-random floats of mixed\n"
      "                             magnitude (the same on every run; the order of summation\n"
      "                             changes the bits) and print, as the last column, the FNV-1a\n"
      "                             64 digest of rank 0's out-of-place result; turns -c off;\n"
      "                             floating types only (default 0)\n"
      "  -Z, --compress <format>    none bf16 fp16 int8: compressed allreduce (f32 sum only;\n"
      "                             error feedback when blocking; turns -c off; banyan-bench\n"
      "                             only) (default none)\n"
      "  -h, --help                 this text\n",
      program);
}

std::vector<std::size_t> sweepSizes(const BenchArgs& args) {
  std::vector<std::size_t> sizes;
  std::size_t size = args.minBytes;
  while (size <= args.maxBytes) {
    sizes.push_back(size);
    std::size_t next = args.stepFactor > 1 ? size * args.stepFactor : size + args.stepBytes;
    if (next <= size || (args.stepFactor > 1 && next / args.stepFactor != size)) break;  // overflow
    size = next;
  }
  return sizes;
}

std::string_view collectiveName(Collective collective) {
  auto i = static_cast<unsigned>(collective);
  return i < kCollectiveNames.size() ? kCollectiveNames[i].name : "invalid";
}

std::string_view dataTypeName(DataType type) {
  auto i = static_cast<unsigned>(type);
  return i < kTypeNames.size() ? kTypeNames[i].shortName : "invalid";
}

std::string_view ncclTypeName(DataType type) {
  auto i = static_cast<unsigned>(type);
  return i < kTypeNames.size() ? kTypeNames[i].ncclName : "invalid";
}

std::string_view reduceOpName(ReduceOp op) {
  const auto i = static_cast<std::size_t>(op);
  return i < kOpNames.size() ? kOpNames[i] : "invalid";
}

std::size_t elementSize(DataType type) {
  auto i = static_cast<unsigned>(type);
  return i < kTypeNames.size() ? kTypeNames[i].size : 0;
}

std::optional<DataType> parseDataTypeName(std::string_view name) {
  const std::string key = lower(name);
  for (const auto& entry : kTypeNames) {
    if (key == entry.shortName || key == entry.ncclName) return entry.type;
  }
  // Further spellings nccl-tests and PyTorch users type.
  if (key == "float32") return DataType::f32;
  if (key == "float64") return DataType::f64;
  if (key == "float16") return DataType::f16;
  if (key == "int") return DataType::i32;
  return std::nullopt;
}

std::optional<ReduceOp> parseReduceOpName(std::string_view name) {
  const std::string key = lower(name);
  for (unsigned i = 0; i < kOpNames.size(); ++i) {
    if (kOpNames[i] == key) return static_cast<ReduceOp>(i);
  }
  return std::nullopt;
}

}  // namespace banyan::bench

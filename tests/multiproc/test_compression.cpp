// Compressed allreduce (banyan::Compression; docs/numerics.md, "Compressed allreduce") on real
// ranks over tcp, the shm transport under schedules and the shared-memory engine:
//   - every element of the result is within the stated bound of the exact sum (computed in f64
//     from every rank's input, which each rank regenerates), for bf16, fp16 and int8, 3 and 4
//     ranks, in place and not, blocking and async, counts from 1 to 200003; the result has the
//     same bits on every rank; and it is lossy (some element is off by more than f32 rounding),
//     so the call did run compressed; `none` gives the plain allreduce's bits;
//   - with error feedback, the running mean of many calls on a constant input converges to the
//     exact sum far better than without it;
//   - a compressed call on another type, op or collective, or with an ErrorFeedback bound to
//     another count, is refused with InvalidUsage naming the call, and the communicator goes on.

#include <banyan/banyan.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "support/multiproc.hpp"
#include "tools/bench/digest.hpp"

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

constexpr std::uint64_t kSeed = 21;

float input(int rank, std::size_t i) { return static_cast<float>(bench::mixedValue(kSeed, rank, i)); }

std::vector<float> inputOf(int rank, std::size_t count) {
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = input(rank, i);
  return v;
}

// Every rank's input for `count` elements (each rank regenerates all of them), with the exact
// sum and the sum of magnitudes per element, in f64.
struct Inputs {
  std::vector<std::vector<float>> ranks;
  std::vector<double> exact, magnitudes;
  Inputs(int n, std::size_t count) : exact(count, 0.0), magnitudes(count, 0.0) {
    for (int r = 0; r < n; ++r) {
      ranks.push_back(inputOf(r, count));
      for (std::size_t i = 0; i < count; ++i) {
        exact[i] += ranks.back()[i];
        magnitudes[i] += std::fabs(static_cast<double>(ranks.back()[i]));
      }
    }
  }
};

// The bound of docs/numerics.md for each element of a compressed allreduce over `n` ranks, plus
// the f32 rounding of the final decode (the exact sum is compared in f64).
std::vector<double> boundOf(CompressionFormat format, const Inputs& in) {
  const int n = static_cast<int>(in.ranks.size());
  const std::size_t count = in.exact.size();
  std::vector<double> bound(count);
  for (std::size_t i = 0; i < count; ++i) bound[i] = 0x1p-23 * in.magnitudes[i];
  if (format != CompressionFormat::int8) {
    const double u = format == CompressionFormat::bf16 ? 0x1p-8 : 0x1p-11;
    const double eta = format == CompressionFormat::fp16 ? 0x1p-25 : 0.0;
    const double gamma = n * u / (1 - n * u);
    for (std::size_t i = 0; i < count; ++i) bound[i] += gamma * in.magnitudes[i] + 2 * n * eta;
    return bound;
  }
  for (std::size_t begin = 0; begin < count; begin += kInt8BlockElements) {
    const std::size_t end = std::min(count, begin + kInt8BlockElements);
    double blockSum = 0;  // over ranks, of each rank's largest magnitude in the block
    for (const auto& x : in.ranks) {
      double m = 0;
      for (std::size_t i = begin; i < end; ++i) m = std::max(m, std::fabs(static_cast<double>(x[i])));
      blockSum += m;
    }
    for (std::size_t i = begin; i < end; ++i) bound[i] += n / 254.0 * (1.0 + n / 127.0) * blockSum + n * 0x1p-100;
  }
  return bound;
}

// Returns the largest error in units of f32 rounding of the sum (to show the call was lossy),
// or -1 (after printing why) if an element breaks the bound.
double checkResult(int rank, CompressionFormat format, const Inputs& in, const std::vector<float>& result) {
  const std::vector<double> bound = boundOf(format, in);
  double worst = 0, closest = 0;
  for (std::size_t i = 0; i < result.size(); ++i) {
    const double error = std::fabs(result[i] - in.exact[i]);
    closest = std::max(closest, error / bound[i]);
    if (!(error <= bound[i])) {
      std::fprintf(stderr, "rank %d: %s, %zu ranks, count %zu: element %zu is %.9g, exact %.9g, bound %.3g\n", rank,
                   std::string(toString(format)).c_str(), in.ranks.size(), result.size(), i, result[i], in.exact[i],
                   bound[i]);
      return -1;
    }
    worst = std::max(worst, error / (0x1p-24 * in.magnitudes[i] + 1e-300));
  }
  if (rank == 0 && result.size() > 100000) {
    std::fprintf(stderr, "%s, %zu ranks: the largest error is %.2f of its element's bound\n",
                 std::string(toString(format)).c_str(), in.ranks.size(), closest);
  }
  return worst;
}

// The same bits on every rank: the max and the min of a digest agree.
bool sameOnEveryRank(Communicator& comm, const std::vector<float>& result) {
  const auto digest = static_cast<std::int64_t>(bench::fnv1a64(result.data(), result.size() * sizeof(float)) >> 1);
  std::int64_t high = digest, low = digest;
  comm.allreduce(&high, 1, DataType::i64, ReduceOp::max);
  comm.allreduce(&low, 1, DataType::i64, ReduceOp::min);
  return high == low;
}

int runBounds(int rank) {
  auto comm = Communicator::fromEnvironment();
  const int n = comm.size();
  for (const std::size_t count : {std::size_t{1}, std::size_t{129}, std::size_t{5000}, std::size_t{200003}}) {
    const Inputs all(n, count);
    for (const CompressionFormat format : {CompressionFormat::bf16, CompressionFormat::fp16, CompressionFormat::int8}) {
      const std::vector<float>& in = all.ranks[static_cast<std::size_t>(rank)];
      std::vector<float> out(count, -1.0f), inPlace = in;
      ErrorFeedback residual;
      comm.allreduce(in.data(), out.data(), count, DataType::f32, ReduceOp::sum, Compression{format, &residual});
      comm.allreduceAsync(inPlace.data(), inPlace.data(), count, DataType::f32, ReduceOp::sum, Compression{format})
          .wait();
      const double worst = checkResult(rank, format, all, out);
      RANK_EXPECT(rank, worst >= 0);
      RANK_EXPECT(rank, checkResult(rank, format, all, inPlace) >= 0);
      // Lossy: somewhere the error is far beyond an f32 sum's (the call ran compressed).
      if (count >= 129) RANK_EXPECT(rank, worst > 64);
      RANK_EXPECT(rank, sameOnEveryRank(comm, out));
      RANK_EXPECT(rank, residual.residual().size() == count);
    }
  }
  // `none` is the plain allreduce, bit for bit.
  const std::vector<float> in = inputOf(rank, 10000);
  std::vector<float> plain(in.size()), none(in.size());
  comm.allreduce(in.data(), plain.data(), in.size(), DataType::f32, ReduceOp::sum);
  comm.allreduce(in.data(), none.data(), in.size(), DataType::f32, ReduceOp::sum, Compression{});
  RANK_EXPECT(rank, plain == none);
  return 0;
}

// Root-mean-square distance between the mean of `steps` compressed allreduces of a constant
// input and the exact sum.
double meanError(Communicator& comm, int rank, CompressionFormat format, bool feedback, int steps) {
  const std::size_t count = 4096;
  const std::vector<float> in = inputOf(rank, count);
  std::vector<double> mean(count, 0.0);
  std::vector<float> out(count);
  ErrorFeedback residual;
  for (int step = 0; step < steps; ++step) {
    comm.allreduce(in.data(), out.data(), count, DataType::f32, ReduceOp::sum,
                   Compression{format, feedback ? &residual : nullptr});
    for (std::size_t i = 0; i < count; ++i) mean[i] += out[i] / static_cast<double>(steps);
  }
  double squares = 0;
  for (std::size_t i = 0; i < count; ++i) {
    double exact = 0;
    for (int r = 0; r < comm.size(); ++r) exact += input(r, i);
    squares += (mean[i] - exact) * (mean[i] - exact);
  }
  return std::sqrt(squares / count);
}

int runFeedback(int rank) {
  auto comm = Communicator::fromEnvironment();
  for (const CompressionFormat format : {CompressionFormat::bf16, CompressionFormat::int8}) {
    const double without = meanError(comm, rank, format, false, 40);
    const double with = meanError(comm, rank, format, true, 40);
    if (rank == 0)
      std::fprintf(stderr, "%s: mean error %.4g without feedback, %.4g with\n", std::string(toString(format)).c_str(),
                   without, with);
    RANK_EXPECT(rank, without > 0);
    RANK_EXPECT(rank, with < 0.25 * without);
  }
  return 0;
}

bool refused(const std::function<void()>& call, const std::string& expected) {
  try {
    call();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::InvalidUsage && std::string(e.what()).find(expected) != std::string::npos) return true;
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    return false;
  }
  std::fprintf(stderr, "not refused: expected \"%s\"\n", expected.c_str());
  return false;
}

int runRefusals(int rank) {
  auto comm = Communicator::fromEnvironment();
  std::vector<double> f64(100, 1.0);
  std::vector<float> f32(100, 1.0f);
  const Compression int8{CompressionFormat::int8};
  const std::string only = "compressed allreduce takes an f32 sum only";
  RANK_EXPECT(rank, refused([&] { comm.allreduce(f64.data(), f64.size(), DataType::f64, ReduceOp::sum, int8); },
                            "allreduce(count=100,f64,sum) with int8 compression: " + only));
  RANK_EXPECT(rank, refused([&] { comm.allreduce(f32.data(), f32.size(), DataType::f32, ReduceOp::max, int8); },
                            "allreduce(count=100,f32,max) with int8 compression: " + only));
  RANK_EXPECT(rank, refused(
                        [&] {
                          comm.allreduce(f32.data(), f32.size(), DataType::f32, Reduction::premulSum(0.5),
                                         Compression{CompressionFormat::bf16});
                        },
                        "allreduce(count=100,f32,premul_sum) with bf16 compression"));
  RANK_EXPECT(rank, refused(
                        [&] {
                          comm.allreduce(f32.data(), f32.size(), DataType::f32, ReduceOp::sum,
                                         Compression{static_cast<CompressionFormat>(9)});
                        },
                        "invalid compression format (value 9)"));
  ErrorFeedback residual;
  std::vector<float> sum(100);
  comm.allreduce(f32.data(), sum.data(), f32.size(), DataType::f32, ReduceOp::sum,
                 Compression{CompressionFormat::bf16, &residual});
  RANK_EXPECT(rank, sum[99] == static_cast<float>(comm.size()));
  RANK_EXPECT(rank, refused(
                        [&] {
                          comm.allreduce(f32.data(), 50, DataType::f32, ReduceOp::sum,
                                         Compression{CompressionFormat::bf16, &residual});
                        },
                        "its ErrorFeedback holds the residual of a buffer of 100 elements"));
  residual.reset();
  std::vector<float> out(50);
  comm.allreduce(f32.data(), out.data(), 50, DataType::f32, ReduceOp::sum,
                 Compression{CompressionFormat::bf16, &residual});
  RANK_EXPECT(rank, out[0] == static_cast<float>(comm.size()));
  RANK_EXPECT(rank, residual.residual().size() == 50);
  return 0;
}

}  // namespace

TEST_CASE("compressed allreduce: every element within the stated bound, the same bits on every rank",
          "[multiproc][compression]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  for (const int n : {3, 4}) {
    INFO(transport << ", " << n << " ranks");
    runRanks(n, runBounds, over(transport));
  }
}

TEST_CASE("compressed allreduce: error feedback makes the running mean converge", "[multiproc][compression]") {
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "shm");
  INFO(transport);
  runRanks(3, runFeedback, over(transport));
}

TEST_CASE("compressed allreduce: bad input is refused naming the call", "[multiproc][compression]") {
  runRanks(2, runRefusals, over("tcp"));
}

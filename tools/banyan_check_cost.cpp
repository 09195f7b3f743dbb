// banyan-check-cost: what the call check (BANYAN_CHECK, docs/errors.md) costs an allreduce.
//
//   banyan-check-cost [-np N] [--sizes 8,1K,1M] [--batches B]
//     (BANYAN_TRANSPORT and the other BANYAN_* variables choose the path, as for banyan-bench)
//
// Every rank opens two communicators at once, one with the check and one without
// (Options::checkCalls), and times batches of f32-sum allreduces on them in turn, swapping
// which goes first each batch. Both therefore run in the same processes, on the same buffers,
// within milliseconds of each other, so the machine's drifting load (it is shared) falls on
// both alike; a separate run per setting could not tell 2% from the drift. Rank 0 prints, per
// size, the median time per call of each and the median of the per-batch ratios (on / off).

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>

#include "bootstrap/local_launcher.hpp"
#include "config/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace banyan;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Microseconds per call of `calls` allreduces of `count` floats on `comm`, after a barrier.
double timeBatch(Communicator& comm, std::vector<float>& buffer, std::size_t count, int calls) {
  comm.barrier();
  const auto start = Clock::now();
  for (int i = 0; i < calls; ++i) comm.allreduce(buffer.data(), count, DataType::f32, ReduceOp::sum);
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / calls;
}

int runRank(const std::vector<std::size_t>& sizes, int batches) {
  Options on, off;
  on.checkCalls = true;
  off.checkCalls = false;
  // Which is created first is swapped by CHECK_COST_OFF_FIRST=1, to see that the order
  // of creation (arena placement, communicator number) is not what is measured.
  const bool offFirst = std::getenv("CHECK_COST_OFF_FIRST") != nullptr;
  auto first = Communicator::fromEnvironment(offFirst ? off : on);
  auto second = Communicator::fromEnvironment(offFirst ? on : off);
  Communicator& checked = offFirst ? second : first;
  Communicator& unchecked = offFirst ? first : second;
  std::vector<float> buffer(*std::max_element(sizes.begin(), sizes.end()) / sizeof(float) + 1, 1.0f);
  if (checked.rank() == 0) {
    std::printf(
        "| size (B) | check on (us/call) | check off (us/call) | on / off (median of %d paired batches) |\n"
        "|---|---|---|---|\n",
        batches);
  }
  for (const std::size_t bytes : sizes) {
    const std::size_t count = std::max<std::size_t>(1, bytes / sizeof(float));
    const int calls = bytes >= (256 << 10) ? 10 : 400;
    timeBatch(checked, buffer, count, calls);  // warm both paths and buffers
    timeBatch(unchecked, buffer, count, calls);
    std::vector<double> withCheck, without, ratios;
    for (int b = 0; b < batches; ++b) {
      double a, c;
      if (b % 2 == 0) {
        a = timeBatch(checked, buffer, count, calls);
        c = timeBatch(unchecked, buffer, count, calls);
      } else {
        c = timeBatch(unchecked, buffer, count, calls);
        a = timeBatch(checked, buffer, count, calls);
      }
      withCheck.push_back(a);
      without.push_back(c);
      ratios.push_back(a / c);
    }
    if (checked.rank() == 0) {
      std::printf("| %zu | %.3f | %.3f | %.3f |\n", bytes, median(withCheck), median(without), median(ratios));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 2;
  int batches = 41;
  std::vector<std::size_t> sizes{8, 1024, 1 << 20};
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      if (i + 1 >= argc) throw Error(ErrorCode::InvalidUsage, fmt::format("{} needs a value", flag));
      const std::string value = argv[++i];
      if (flag == "-np") {
        ranks = std::stoi(value);
      } else if (flag == "--batches") {
        batches = std::stoi(value);
      } else if (flag == "--sizes") {
        sizes.clear();
        std::size_t from = 0;
        while (from < value.size()) {
          const std::size_t comma = std::min(value.find(',', from), value.size());
          sizes.push_back(config::parseBytes(value.substr(from, comma - from), "--sizes"));
          from = comma + 1;
        }
      } else {
        throw Error(ErrorCode::InvalidUsage, fmt::format("unknown flag '{}' (see tools/banyan_check_cost.cpp)", flag));
      }
    }
    if (ranks < 2 || batches < 1 || sizes.empty()) {
      throw Error(ErrorCode::InvalidUsage, "-np must be at least 2, --batches at least 1, --sizes non-empty");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banyan-check-cost: %s\n", e.what());
    return 2;
  }
  bootstrap::LaunchOptions options;
  options.bindToCores = true;
  const auto exits = bootstrap::launchLocal(
      ranks, [&](int) { return runRank(sizes, batches); }, options);
  int status = 0;
  for (const auto& exit : exits) {
    if (!exit.ok()) {
      std::fprintf(stderr, "banyan-check-cost: %s\n", exit.describe().c_str());
      status = 1;
    }
  }
  return status;
}

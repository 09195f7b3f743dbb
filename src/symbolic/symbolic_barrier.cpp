// Symbolic checker, part 4: a barrier's ordering guarantee (model: symbolic.hpp).
//
// A barrier is correct when no rank can leave it before every rank has entered it: for every
// pair of ranks (r, q), the completion of r's last step must happen after q started its first.
// "Happens after" is derived from what every transport guarantees, never from timing:
//   - a step starts after its deps have completed;
//   - a Recv completes after the matching Send has started, and a Send starts after its deps.
// A Send's completion is deliberately not taken to mean that the Recv was posted: a transport
// may buffer the message, so a barrier must not rely on that.
//
// Method: every step gets the set of ranks whose entry is known to precede its completion:
//   known(step) = {its rank} + known(each dep) + (Recv: known(each dep of the matching Send) +
//                 the sender).
// The sets are computed in an order where deps and matching Sends come first (Kahn's algorithm
// over all ranks' steps; the simulation has already shown that such an order exists), as
// bitsets. Rank r leaves the barrier when all its steps have completed, so what r knows when it
// leaves is the union over its steps; it must be every rank.

#include <algorithm>
#include <utility>
#include <vector>

#include "symbolic/symbolic_internal.hpp"

namespace banyan::algorithms::symbolic {
namespace {

class KnownRanks {
 public:
  explicit KnownRanks(const Setup& setup) : setup_(setup), words_((static_cast<std::size_t>(setup.size) + 63) / 64) {
    const auto n = static_cast<std::size_t>(setup.size);
    first_.assign(n + 1, 0);
    for (std::size_t r = 0; r < n; ++r) first_[r + 1] = first_[r] + setup.schedules[r].steps.size();
    bits_.assign(first_[n] * words_, 0);
    pending_.assign(first_[n], 0);
  }

  std::string run() {
    std::vector<std::size_t> ready;
    for (int rank = 0; rank < setup_.size; ++rank) {
      const auto& steps = setup_.schedules[static_cast<std::size_t>(rank)].steps;
      for (std::uint32_t i = 0; i < steps.size(); ++i) {
        // A Recv also waits for its Send to be known.
        pending_[node(rank, i)] = steps[i].depCount + (steps[i].kind == StepKind::Recv ? 1u : 0u);
        if (pending_[node(rank, i)] == 0) ready.push_back(node(rank, i));
      }
    }
    std::size_t done = 0;
    while (!ready.empty()) {
      const std::size_t u = ready.back();
      ready.pop_back();
      ++done;
      const auto [rank, index] = locate(u);
      finish(rank, index);
      auto release = [&](std::size_t v) {
        if (--pending_[v] == 0) ready.push_back(v);
      };
      const auto r = static_cast<std::size_t>(rank);
      const auto& begin = setup_.dependentsBegin[r];
      for (std::uint32_t k = begin[index]; k < begin[index + 1]; ++k) release(node(rank, setup_.dependents[r][k]));
      const Step& step = setup_.step(rank, index);
      if (step.kind == StepKind::Send) {
        const std::uint32_t k = setup_.messageIndex[r][index];
        release(node(step.peer, setup_.recvs[static_cast<std::size_t>(step.peer)][r][k]));
      }
    }
    if (done != pending_.size()) return "barrier: the steps' order has a cycle through deps and messages";

    std::vector<std::uint64_t> leaving(words_);
    for (int rank = 0; rank < setup_.size; ++rank) {
      std::fill(leaving.begin(), leaving.end(), 0);
      leaving[static_cast<std::size_t>(rank) / 64] |= bit(rank);
      const auto steps = static_cast<std::uint32_t>(setup_.schedules[static_cast<std::size_t>(rank)].steps.size());
      for (std::uint32_t i = 0; i < steps; ++i) merge(leaving.data(), known(node(rank, i)));
      for (int q = 0; q < setup_.size; ++q) {
        if ((leaving[static_cast<std::size_t>(q) / 64] & bit(q)) == 0) {
          return fmt::format(
              "barrier: rank {} can finish before rank {} has started (no chain of deps and "
              "messages leads from rank {} to rank {}'s last step)",
              rank, q, q, rank);
        }
      }
    }
    return {};
  }

 private:
  static std::uint64_t bit(int rank) { return std::uint64_t{1} << (static_cast<unsigned>(rank) % 64); }
  std::size_t node(int rank, std::uint32_t index) const { return first_[static_cast<std::size_t>(rank)] + index; }
  std::pair<int, std::uint32_t> locate(std::size_t u) const {
    const auto it = std::upper_bound(first_.begin(), first_.end(), u) - 1;
    const auto rank = static_cast<int>(it - first_.begin());
    return {rank, static_cast<std::uint32_t>(u - *it)};
  }
  std::uint64_t* known(std::size_t u) { return bits_.data() + u * words_; }
  void merge(std::uint64_t* into, const std::uint64_t* from) const {
    for (std::size_t w = 0; w < words_; ++w) into[w] |= from[w];
  }

  // Computes known() of a step whose deps (and matching Send) are known.
  void finish(int rank, std::uint32_t index) {
    std::uint64_t* mine = known(node(rank, index));
    mine[static_cast<std::size_t>(rank) / 64] |= bit(rank);
    const Step& step = setup_.step(rank, index);
    for (std::uint8_t d = 0; d < step.depCount; ++d) merge(mine, known(node(rank, step.deps[d])));
    if (step.kind == StepKind::Recv) {
      const auto r = static_cast<std::size_t>(rank);
      const std::uint32_t k = setup_.messageIndex[r][index];
      const std::uint32_t sendIndex = setup_.sends[static_cast<std::size_t>(step.peer)][r][k];
      // The Send's own set is exactly its rank plus its deps': what it knew when it started.
      merge(mine, known(node(step.peer, sendIndex)));
    }
  }

  const Setup& setup_;
  std::size_t words_;
  std::vector<std::size_t> first_;      // per rank: node number of its step 0
  std::vector<std::uint64_t> bits_;     // per node: words_ words of known ranks
  std::vector<std::uint32_t> pending_;  // per node: deps (and matching Send) not yet known
};

}  // namespace

std::string checkBarrierOrdering(const Setup& setup) { return KnownRanks(setup).run(); }

}  // namespace banyan::algorithms::symbolic

// Symbolic checker: what each collective means. Buffer sizes per rank, where Input and Output
// lie in the shared buffer of the in-place variant, and what every Output element must hold
// at the end (the table in symbolic.hpp, in code).

#include "symbolic/symbolic_internal.hpp"

namespace banyan::algorithms::symbolic {
namespace {

bool rooted(Collective collective) {
  return collective == Collective::Broadcast || collective == Collective::Reduce || collective == Collective::Gather ||
         collective == Collective::Scatter;
}

// Fills empty offset tables with packed blocks in peer order: sendOffsets[r][p] is the sum of
// counts[r][q] for q < p, recvOffsets[r][p] the sum of counts[q][r] for q < p.
void packOffsets(AlltoallvLayout& layout) {
  const std::size_t n = layout.counts.size();
  if (layout.sendOffsets.empty()) {
    layout.sendOffsets.assign(n, std::vector<std::size_t>(n, 0));
    for (std::size_t r = 0; r < n; ++r) {
      for (std::size_t p = 1; p < n; ++p) {
        layout.sendOffsets[r][p] = layout.sendOffsets[r][p - 1] + layout.counts[r][p - 1];
      }
    }
  }
  if (layout.recvOffsets.empty()) {
    layout.recvOffsets.assign(n, std::vector<std::size_t>(n, 0));
    for (std::size_t r = 0; r < n; ++r) {
      for (std::size_t p = 1; p < n; ++p) {
        layout.recvOffsets[r][p] = layout.recvOffsets[r][p - 1] + layout.counts[p - 1][r];
      }
    }
  }
}

std::string describeAlltoallv(Setup& setup) {
  AlltoallvLayout& v = setup.alltoallv;
  const auto n = static_cast<std::size_t>(setup.size);
  auto square = [n](const std::vector<std::vector<std::size_t>>& table) {
    if (table.size() != n) return false;
    for (const auto& row : table) {
      if (row.size() != n) return false;
    }
    return true;
  };
  if (!square(v.counts)) return "alltoallv counts must be a size x size matrix";
  packOffsets(v);
  if (!square(v.sendOffsets) || !square(v.recvOffsets)) return "alltoallv offsets must be size x size matrices";
  setup.outputOwner.assign(n, {});
  for (std::size_t r = 0; r < n; ++r) {
    RankLayout& layout = setup.layouts[r];
    for (std::size_t p = 0; p < n; ++p) {
      if (v.counts[r][p] != 0) layout.inputCount = std::max(layout.inputCount, v.sendOffsets[r][p] + v.counts[r][p]);
      if (v.counts[p][r] != 0) layout.outputCount = std::max(layout.outputCount, v.recvOffsets[r][p] + v.counts[p][r]);
    }
    auto& owner = setup.outputOwner[r];
    owner.assign(layout.outputCount, -1);
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t e = v.recvOffsets[r][p]; e < v.recvOffsets[r][p] + v.counts[p][r]; ++e) {
        if (owner[e] >= 0) {
          return fmt::format(
              "alltoallv layout: rank {} receives the blocks of ranks {} and {} into overlapping "
              "Output (element {})",
              r, owner[e], p, e);
        }
        owner[e] = static_cast<std::int32_t>(p);
      }
    }
  }
  return {};
}

}  // namespace

std::string describeCollective(Setup& setup) {
  if (setup.size < 1) return "size must be at least 1";
  if (rooted(setup.collective) && (setup.root < 0 || setup.root >= setup.size)) {
    return fmt::format("root {} is not a rank of {}", setup.root, setup.size);
  }
  const auto n = static_cast<std::size_t>(setup.size);
  const std::size_t count = setup.count;
  setup.layouts.assign(n, RankLayout{});
  std::size_t reducedElements = 0;  // input elements whose full reduction is expected somewhere
  for (int rank = 0; rank < setup.size; ++rank) {
    RankLayout& l = setup.layouts[static_cast<std::size_t>(rank)];
    const bool isRoot = rank == setup.root;
    const std::size_t ownBlock = static_cast<std::size_t>(rank) * count;
    switch (setup.collective) {
      case Collective::Allreduce:
        l = RankLayout{count, count, true, 0, 0};
        reducedElements = count;
        break;
      case Collective::Allgather:
        l = RankLayout{count, n * count, true, ownBlock, 0};
        break;
      case Collective::ReduceScatter:
        l = RankLayout{n * count, count, true, 0, ownBlock};
        reducedElements = n * count;
        break;
      case Collective::Broadcast:
        l = RankLayout{isRoot ? count : 0, count, isRoot, 0, 0};
        break;
      case Collective::Reduce:
        l = RankLayout{count, isRoot ? count : 0, isRoot, 0, 0};
        reducedElements = count;
        break;
      case Collective::Gather:
        l = RankLayout{count, isRoot ? n * count : 0, isRoot, ownBlock, 0};
        break;
      case Collective::Scatter:
        l = RankLayout{isRoot ? n * count : 0, count, isRoot, 0, ownBlock};
        break;
      case Collective::Alltoall:
        l = RankLayout{n * count, n * count, true, 0, 0};
        break;
      case Collective::Alltoallv:
      case Collective::Barrier:
        break;  // alltoallv below; a barrier has no buffers
    }
  }
  setup.hasInPlace = setup.collective != Collective::Alltoallv && setup.collective != Collective::Barrier;
  setup.scratchStartsDefined = setup.collective == Collective::Barrier;
  if (setup.collective == Collective::Alltoallv) {
    std::string error = describeAlltoallv(setup);
    if (!error.empty()) return error;
  }
  setup.fullHash.assign(reducedElements, 0);
  for (std::size_t i = 0; i < reducedElements; ++i) {
    for (int r = 0; r < setup.size; ++r) setup.fullHash[i] += contribution(r, i);
  }
  return {};
}

Expected Setup::expected(int rank, std::size_t e) const {
  using Kind = Expected::Kind;
  const auto r = static_cast<std::size_t>(rank);
  switch (collective) {
    case Collective::Allreduce:
    case Collective::Reduce:
      return {Kind::Reduction, 0, e};
    case Collective::ReduceScatter:
      return {Kind::Reduction, 0, r * count + e};
    case Collective::Allgather:
    case Collective::Gather:
      return {Kind::Element, static_cast<int>(e / count), e % count};
    case Collective::Broadcast:
      return {Kind::Element, root, e};
    case Collective::Scatter:
      return {Kind::Element, root, r * count + e};
    case Collective::Alltoall:
      return {Kind::Element, static_cast<int>(e / count), r * count + e % count};
    case Collective::Alltoallv: {
      const std::int32_t peer = outputOwner[r][e];
      if (peer < 0) return {};
      const auto p = static_cast<std::size_t>(peer);
      return {Kind::Element, peer, alltoallv.sendOffsets[p][r] + (e - alltoallv.recvOffsets[r][p])};
    }
    case Collective::Barrier:
      break;
  }
  return {};
}

}  // namespace banyan::algorithms::symbolic

// Two-level hierarchical allgather as a schedule.
//
// Terms
//   host, leader, locals   as in hierarchical_allreduce.cpp: the lowest rank of each host is
//             its leader; leaders are numbered in rank order (leader index i of L leaders).
//   members   the ranks of one host, ascending (its leader first).
//   block     Output block b (elements [b * count, (b + 1) * count)) ends up holding rank b's
//             Input; every block travels in slices of at most sliceCount elements.
//
// Phases
//   1. gather: every local sends its Input to its leader, which receives it into the local's
//      block of its own Output.
//   2. ring: for s in [0, L - 1), leader i sends the blocks of host (i - s) mod L (its members
//      in order, slice by slice) to leader i + 1 and receives those of host (i - s - 1) mod L
//      from leader i - 1. At s = 0 it sends its own block from Input and its locals' blocks as
//      each arrives; later it forwards a slice as soon as that slice has arrived, so the ring's
//      steps overlap as ringAllgather's do.
//   3. hand-back: the leader sends each local every block but the local's own, in the order
//      the blocks become complete at the leader (its own host's, then each ring step's), each
//      slice right after it arrived. A local knows the layout, so it receives the same spans
//      in the same order.
// Every rank copies its Input into its own block (in place the executor skips that Copy).
//
// Bytes: a host's network link carries the other hosts' blocks once, (n - k) blocks in and its
// own k blocks out for k ranks per host, against n - 1 each way for every rank that crosses in
// the flat ring; with 2 hosts of 2 ranks, 2 blocks instead of 3. Inside the host the leader
// sends n - 1 blocks to each local over shared memory.

#include "algorithms/hierarchical.hpp"

#include "algorithms/ring.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace banyan::algorithms {

Schedule hierarchicalAllgather(int rank, const std::vector<int>& hostOfRank, std::size_t count,
                               std::size_t sliceCount) {
  const int size = static_cast<int>(hostOfRank.size());
  if (size < 1 || rank < 0 || rank >= size || sliceCount == 0) {
    throw std::invalid_argument("hierarchicalAllgather: need 0 <= rank < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  const std::size_t slices = (count + sliceCount - 1) / sliceCount;
  const auto sliceOf = [&](int block, std::size_t j, BufferId buffer) {
    const ElementRange part = evenPart(count, static_cast<int>(slices), static_cast<int>(j));
    const std::size_t base = buffer == BufferId::Input ? 0 : static_cast<std::size_t>(block) * count;
    return Span{buffer, base + part.offset, part.count};
  };

  // Hosts in leader order, each with its members ascending.
  std::vector<std::vector<int>> members;
  std::vector<int> hostIndex(static_cast<std::size_t>(size), -1);  // rank -> leader index of its host
  std::unordered_map<int, int> indexOfHost;  // host -> leader index (a scan of the leaders made this O(ranks x hosts))
  for (int r = 0; r < size; ++r) {
    const int h = hostOfRank[static_cast<std::size_t>(r)];
    const auto [at, added] = indexOfHost.try_emplace(h, static_cast<int>(members.size()));
    const int index = at->second;
    if (added) members.emplace_back();
    members[static_cast<std::size_t>(index)].push_back(r);
    hostIndex[static_cast<std::size_t>(r)] = index;
  }
  const int hosts = static_cast<int>(members.size());
  const int mine = hostIndex[static_cast<std::size_t>(rank)];
  const std::vector<int>& myHost = members[static_cast<std::size_t>(mine)];
  const int leader = myHost[0];

  // The order in which blocks become complete at the leader: its host's members, then the
  // hosts the ring brings, step by step.
  std::vector<int> arrival = myHost;
  for (int s = 0; s < hosts - 1; ++s) {
    const int from = ((mine - s - 1) % hosts + hosts) % hosts;
    const auto& more = members[static_cast<std::size_t>(from)];
    arrival.insert(arrival.end(), more.begin(), more.end());
  }

  auto addCopies = [&] {
    for (std::size_t j = 0; j < slices; ++j) {
      schedule.add(copyStep(sliceOf(rank, j, BufferId::Output), sliceOf(rank, j, BufferId::Input)));
    }
  };

  if (rank != leader) {
    for (std::size_t j = 0; j < slices; ++j) schedule.add(sendStep(leader, sliceOf(rank, j, BufferId::Input)));
    for (int block : arrival) {
      if (block == rank) continue;
      for (std::size_t j = 0; j < slices; ++j) schedule.add(recvStep(leader, sliceOf(block, j, BufferId::Output)));
    }
    addCopies();
    return schedule;
  }

  // written[block * slices + j]: the Recv that filled that slice of Output (none: own block,
  // read from Input).
  constexpr std::uint32_t kFromInput = 0xffffffffu;
  std::vector<std::uint32_t> written(static_cast<std::size_t>(size) * slices, kFromInput);
  const auto source = [&](int block, std::size_t j) {
    Step send = sendStep(-1, block == rank ? sliceOf(rank, j, BufferId::Input) : sliceOf(block, j, BufferId::Output));
    const std::uint32_t writer = written[static_cast<std::size_t>(block) * slices + j];
    if (writer != kFromInput) send.dependOn(writer);
    return send;
  };

  // Phase 1: the locals' blocks.
  for (std::size_t m = 1; m < myHost.size(); ++m) {
    for (std::size_t j = 0; j < slices; ++j) {
      written[static_cast<std::size_t>(myHost[m]) * slices + j] =
          schedule.add(recvStep(myHost[m], sliceOf(myHost[m], j, BufferId::Output)));
    }
  }
  // Phase 2: the leaders' ring over whole hosts.
  if (hosts > 1) {
    const int next = members[static_cast<std::size_t>((mine + 1) % hosts)][0];
    const int prev = members[static_cast<std::size_t>((mine - 1 + hosts) % hosts)][0];
    for (int s = 0; s < hosts - 1; ++s) {
      const auto& out = members[static_cast<std::size_t>(((mine - s) % hosts + hosts) % hosts)];
      const auto& in = members[static_cast<std::size_t>(((mine - s - 1) % hosts + hosts) % hosts)];
      // Interleave each step's sends and receives slice by slice, as the ring does.
      const std::size_t most = std::max(out.size(), in.size());
      for (std::size_t m = 0; m < most; ++m) {
        for (std::size_t j = 0; j < slices; ++j) {
          if (m < out.size()) {
            Step send = source(out[m], j);
            send.peer = next;
            schedule.add(send);
          }
          if (m < in.size()) {
            written[static_cast<std::size_t>(in[m]) * slices + j] =
                schedule.add(recvStep(prev, sliceOf(in[m], j, BufferId::Output)));
          }
        }
      }
    }
  }
  // Phase 3: hand every block to each local in arrival order.
  for (int block : arrival) {
    for (std::size_t m = 1; m < myHost.size(); ++m) {
      if (block == myHost[m]) continue;
      for (std::size_t j = 0; j < slices; ++j) {
        Step send = source(block, j);
        send.peer = myHost[m];
        schedule.add(send);
      }
    }
  }
  addCopies();
  return schedule;
}

}  // namespace banyan::algorithms

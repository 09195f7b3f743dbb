// Ordered allreduce, reduce-scatter and reduce: the schedules of deterministic mode (ordered.hpp).
//
// Terms
//   block     the elements one rank owns and reduces: block b is evenPart(count, size, b) of
//             the vector for allreduce and reduce, Input [b * count, (b + 1) * count) for
//             reduce-scatter. Blocks may be empty when count < size; nothing moves for them.
//   slice     a block is cut into slices of at most sliceCount elements; slice j of block b is
//             the same elements on every rank, so a sender and the owner agree on each message.
//   contribution  rank q's slice j of block b: what q sends to the owner b.
//   fold      on the owner, per slice: acc = x0 op x1, acc = acc op x2, ..., and the last
//             Reduce, acc op x(size-1), writes the result where it belongs and is marked
//             finalize (avg divides there, once). x(rank) is read from Input, the others from
//             the Scratch slot their message landed in. The order is the rank order and nothing
//             else: the size of slices and when messages arrive change which steps wait, never
//             which operands a Reduce combines.
//   slot      received contributions land in kOrderedRecvSlots Scratch slots, reused in fold
//             order; a Recv waits for the Reduce that read its slot's previous message.
//   acc       two Scratch slices, alternating between slices of the owner's block.
//
// Phases. 1: every rank sends each of its blocks but its own to the owner, slice by slice,
// owners in the order rank+1, rank+2, ... (each pair's messages are in slice order, which is
// all the matching needs). 2: the owner folds. 3, allreduce: the owner sends each finished
// slice to every other rank, which receives it into its Output (a direct allgather: pure data
// movement); reduce: every owner but the root sends it to the root. In place, a rank's Input
// block b is its Output block b, so the Recv of block b's result waits for the Send of its
// contribution to b.
//
// Cost: the ring's bytes ((size - 1) / size of the vector out and in, per phase), in
// size - 1 messages per slice and phase instead of one ring step each, and the ring's
// (size - 1) element-wise reductions per element, all on the owner.

#include "algorithms/ordered.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "algorithms/ring.hpp"

namespace banyan::algorithms {

namespace {

enum class Kind { Allreduce, ReduceScatter, Reduce };

struct Shape {
  Kind kind = Kind::Allreduce;
  int rank = 0;
  int size = 1;
  int root = 0;
  std::size_t count = 0;  // allreduce, reduce: the vector; reduce-scatter: one block
  std::size_t slice = 1;
};

ElementRange blockOf(const Shape& s, int b) {
  if (s.kind == Kind::ReduceScatter) return {static_cast<std::size_t>(b) * s.count, s.count};
  return evenPart(s.count, s.size, b);
}

std::size_t slicesOf(const Shape& s, const ElementRange& block) { return (block.count + s.slice - 1) / s.slice; }

ElementRange sliceOf(const Shape& s, const ElementRange& block, std::size_t j) {
  const std::size_t offset = j * s.slice;
  return {block.offset + offset, std::min(s.slice, block.count - offset)};
}

class Builder {
 public:
  explicit Builder(const Shape& shape)
      : s_(shape), mine_(blockOf(shape, shape.rank)), sent_(static_cast<std::size_t>(shape.size)) {
    slot_ = std::min(s_.slice, mine_.count);
    const std::size_t recvs = slicesOf(s_, mine_) * static_cast<std::size_t>(s_.size - 1);
    slots_ = std::min(kOrderedRecvSlots, recvs);
    consumer_.assign(slots_, kNone);
    schedule_.scratchCount = (2 + slots_) * slot_;
  }

  Schedule build() {
    sendContributions();
    for (std::size_t j = 0; j < slicesOf(s_, mine_); ++j) fold(j);
    if (s_.kind == Kind::Allreduce) allgather();
    if (s_.kind == Kind::Reduce && s_.rank == s_.root) gatherAtRoot();
    return std::move(schedule_);
  }

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  void sendContributions() {
    for (int k = 1; k < s_.size; ++k) {
      const int b = (s_.rank + k) % s_.size;
      const ElementRange block = blockOf(s_, b);
      for (std::size_t j = 0; j < slicesOf(s_, block); ++j) {
        const ElementRange part = sliceOf(s_, block, j);
        sent_[static_cast<std::size_t>(b)].push_back(
            schedule_.add(sendStep(b, Span{BufferId::Input, part.offset, part.count})));
      }
    }
  }

  // Where the finished slice goes: Output (reduce-scatter's from 0), or on a rank of a reduce
  // that is not the root, the acc slot it is sent from.
  Span resultOf(const ElementRange& part, const Span& acc) const {
    if (s_.kind == Kind::ReduceScatter) return Span{BufferId::Output, part.offset - mine_.offset, part.count};
    if (s_.kind == Kind::Reduce && s_.rank != s_.root) return acc;
    return Span{BufferId::Output, part.offset, part.count};
  }

  // Receives rank q's contribution to `part` into the next slot: (step, span).
  std::pair<std::uint32_t, Span> receive(int q, const ElementRange& part) {
    const std::size_t slot = received_++ % slots_;
    const Span into{BufferId::Scratch, (2 + slot) * slot_, part.count};
    Step recv = recvStep(q, into);
    if (consumer_[slot] != kNone) recv.dependOn(consumer_[slot]);
    lastSlot_ = slot;
    return {schedule_.add(recv), into};
  }

  void fold(std::size_t j) {
    const ElementRange part = sliceOf(s_, mine_, j);
    const Span acc{BufferId::Scratch, (j % 2) * slot_, part.count};
    const Span result = resultOf(part, acc);
    const Span own{BufferId::Input, part.offset, part.count};
    std::uint32_t previous = kNone;  // the Reduce before, or the Recv of x0
    Span first = own;                // x0, until the first Reduce
    std::size_t firstSlot = SIZE_MAX;
    for (int q = 0; q < s_.size; ++q) {
      Span operand = own;
      std::uint32_t arrived = kNone;
      if (q != s_.rank) std::tie(arrived, operand) = receive(q, part);
      const std::size_t slot = q != s_.rank ? lastSlot_ : SIZE_MAX;
      if (q == 0) {
        first = operand;
        previous = arrived;
        firstSlot = slot;
        continue;
      }
      const bool last = q + 1 == s_.size;
      Step reduce = reduceStep(last ? result : acc, q == 1 ? first : acc, operand, /*finalize=*/last);
      if (previous != kNone) reduce.dependOn(previous);
      if (arrived != kNone) reduce.dependOn(arrived);
      if (q == 1 && accFree_[j % 2] != kNone) reduce.dependOn(accFree_[j % 2]);
      previous = schedule_.add(reduce);
      if (slot != SIZE_MAX) consumer_[slot] = previous;
      if (q == 1 && firstSlot != SIZE_MAX) consumer_[firstSlot] = previous;
    }
    finals_.push_back(previous);
    accFree_[j % 2] = previous;
    if (s_.kind == Kind::Reduce && s_.rank != s_.root) {
      Step send = sendStep(s_.root, result);
      send.dependOn(previous);
      accFree_[j % 2] = schedule_.add(send);
    }
  }

  // Receives block b's finished slices into Output, each after this rank's contribution to it
  // has left (in place, Input block b is Output block b).
  void receiveResults(int b) {
    const ElementRange block = blockOf(s_, b);
    for (std::size_t j = 0; j < slicesOf(s_, block); ++j) {
      const ElementRange part = sliceOf(s_, block, j);
      Step recv = recvStep(b, Span{BufferId::Output, part.offset, part.count});
      recv.dependOn(sent_[static_cast<std::size_t>(b)][j]);
      schedule_.add(recv);
    }
  }

  void allgather() {
    for (std::size_t j = 0; j < finals_.size(); ++j) {
      const ElementRange part = sliceOf(s_, mine_, j);
      for (int k = 1; k < s_.size; ++k) {
        Step send = sendStep((s_.rank + k) % s_.size, Span{BufferId::Output, part.offset, part.count});
        send.dependOn(finals_[j]);
        schedule_.add(send);
      }
    }
    for (int k = 1; k < s_.size; ++k) receiveResults((s_.rank - k + s_.size) % s_.size);
  }

  void gatherAtRoot() {
    for (int k = 1; k < s_.size; ++k) receiveResults((s_.rank + k) % s_.size);
  }

  const Shape& s_;
  const ElementRange mine_;
  Schedule schedule_;
  std::size_t slot_ = 0;   // elements per Scratch slot
  std::size_t slots_ = 0;  // receive slots
  std::size_t received_ = 0;
  std::size_t lastSlot_ = 0;
  std::vector<std::uint32_t> consumer_;  // per receive slot: the Reduce that read it last
  std::uint32_t accFree_[2] = {kNone, kNone};
  std::vector<std::vector<std::uint32_t>> sent_;  // per owner: the Sends of our contribution
  std::vector<std::uint32_t> finals_;             // per slice of our block: its last Reduce
};

Schedule ordered(const Shape& s, const char* what) {
  if (s.size < 1 || s.rank < 0 || s.rank >= s.size || s.root < 0 || s.root >= s.size || s.slice < 1) {
    throw std::invalid_argument(std::string(what) + ": need 0 <= rank, root < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (s.count == 0) return schedule;
  if (s.size == 1) {
    if (s.kind != Kind::Reduce || s.rank == s.root)
      schedule.add(copyStep(Span{BufferId::Output, 0, s.count}, Span{BufferId::Input, 0, s.count}));
    return schedule;
  }
  return Builder(s).build();
}

}  // namespace

Schedule orderedAllreduce(int rank, int size, std::size_t count, std::size_t sliceCount) {
  return ordered({Kind::Allreduce, rank, size, 0, count, sliceCount}, "orderedAllreduce");
}

Schedule orderedReduceScatter(int rank, int size, std::size_t count, std::size_t sliceCount) {
  return ordered({Kind::ReduceScatter, rank, size, 0, count, sliceCount}, "orderedReduceScatter");
}

Schedule orderedReduce(int rank, int size, int root, std::size_t count, std::size_t sliceCount) {
  return ordered({Kind::Reduce, rank, size, root, count, sliceCount}, "orderedReduce");
}

}  // namespace banyan::algorithms

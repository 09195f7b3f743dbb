// Symbolic checker, part 3b: simulation in a random valid order (model: symbolic.hpp).

#include "symbolic/symbolic_internal.hpp"

#include <algorithm>
#include <random>
#include <vector>

namespace banyan::algorithms::symbolic {
namespace {

class Simulation {
 public:
  Simulation(const Setup& setup, bool inPlace, std::uint64_t seed)
      : setup_(setup), inPlace_(inPlace), random_(seed), ranks_(static_cast<std::size_t>(setup.size)) {
    const auto n = static_cast<std::size_t>(setup.size);
    channels_.assign(n * n, {});
    sendsStarted_.assign(n * n, 0);
    recvsPosted_.assign(n * n, 0);
    for (int r = 0; r < setup.size; ++r) {
      RankState& state = ranks_[static_cast<std::size_t>(r)];
      const std::size_t steps = setup.schedules[static_cast<std::size_t>(r)].steps.size();
      total_ += steps;
      state.remaining.resize(steps);
      state.status.assign(steps, Status::Waiting);
      state.sendHead.assign(n, 0);
      state.recvHead.assign(n, 0);
      for (int buffer = 0; buffer < 3; ++buffer) {
        state.buffers[buffer].assign(setup.physicalCount(r, buffer, inPlace), Value{});
      }
      const std::size_t inputs = setup.inputCount(r);
      if (inputs != 0) {
        Value* input = at(r, Span{BufferId::Input, 0, inputs});
        for (std::size_t i = 0; i < inputs; ++i) {
          input[i] = Value{contribution(r, i), static_cast<std::int32_t>(i), 1, true, false};
        }
      }
      if (setup.scratchStartsDefined) {
        for (Value& v : state.buffers[2]) v.defined = true;  // a token's content is meaningless
      }
    }
  }

  std::string run() {
    for (int r = 0; r < setup_.size; ++r) {
      const auto& steps = setup_.schedules[static_cast<std::size_t>(r)].steps;
      for (std::uint32_t i = 0; i < steps.size(); ++i) {
        ranks_[static_cast<std::size_t>(r)].remaining[i] = steps[i].depCount;
        if (steps[i].depCount == 0) becomeReady(r, i);
      }
    }
    while (!pool_.empty()) {
      // Mostly among the most recently enabled actions (their data is still in cache), now
      // and then anywhere: any order is valid, and some actions wait a long time.
      const std::uint64_t draw = random_();
      const std::size_t pick = (draw & 15) == 0 || pool_.size() <= kWindow ? (draw >> 4) % pool_.size()
                                                                           : pool_.size() - 1 - (draw >> 4) % kWindow;
      const Action action = pool_[pick];
      pool_[pick] = pool_.back();
      pool_.pop_back();
      std::string error = perform(action);
      if (!error.empty()) return error;
    }
    if (completed_ != total_) return deadlock();
    return finalCheck();
  }

 private:
  static constexpr std::size_t kWindow = 32;
  enum class Status : std::uint8_t { Waiting, Ready, Started, Done };
  enum class ActionKind : std::uint8_t { Local, StartSend, PostRecv, Transfer };
  struct Action {
    ActionKind kind;
    int rank;             // Transfer: the sender
    int peer;             // Transfer: the receiver
    std::uint32_t index;  // step, or message number for Transfer
  };
  struct Channel {
    std::vector<Value> data;         // every message sent, captured when its send started
    std::vector<std::size_t> begin;  // where message k starts in data
  };
  struct RankState {
    std::vector<Value> buffers[3];
    std::vector<std::uint32_t> remaining;
    std::vector<Status> status;
    std::vector<std::size_t> sendHead, recvHead;  // per peer: next send to start / recv to post
  };

  std::size_t pair(int from, int to) const {
    return static_cast<std::size_t>(from) * static_cast<std::size_t>(setup_.size) + static_cast<std::size_t>(to);
  }
  Value* at(int rank, const Span& span) {
    const Place p = setup_.place(rank, span, inPlace_);
    return ranks_[static_cast<std::size_t>(rank)].buffers[p.buffer].data() + p.offset;
  }

  void becomeReady(int rank, std::uint32_t i) {
    RankState& state = ranks_[static_cast<std::size_t>(rank)];
    state.status[i] = Status::Ready;
    const Step& step = setup_.step(rank, i);
    const auto r = static_cast<std::size_t>(rank);
    const auto p = static_cast<std::size_t>(step.peer);
    switch (step.kind) {
      case StepKind::Send:
        if (setup_.sends[r][p][state.sendHead[p]] == i) pool_.push_back({ActionKind::StartSend, rank, step.peer, i});
        break;
      case StepKind::Recv:
        if (setup_.recvs[r][p][state.recvHead[p]] == i) pool_.push_back({ActionKind::PostRecv, rank, step.peer, i});
        break;
      default:
        pool_.push_back({ActionKind::Local, rank, -1, i});
    }
  }

  void complete(int rank, std::uint32_t i) {
    RankState& state = ranks_[static_cast<std::size_t>(rank)];
    state.status[i] = Status::Done;
    ++completed_;
    const auto& begin = setup_.dependentsBegin[static_cast<std::size_t>(rank)];
    const auto& list = setup_.dependents[static_cast<std::size_t>(rank)];
    for (std::uint32_t k = begin[i]; k < begin[i + 1]; ++k) {
      if (--state.remaining[list[k]] == 0) becomeReady(rank, list[k]);
    }
  }

  std::string uninitialized(int rank, std::uint32_t i, const Span& span, std::size_t e) const {
    const Place p = setup_.place(rank, span, inPlace_);
    return fmt::format("{}: reads uninitialized data at {}[{}]", setup_.where(rank, i), placeBufferName(p.buffer),
                       p.offset + e);
  }

  std::string perform(const Action& action) {
    const int rank = action.rank;
    const auto r = static_cast<std::size_t>(rank);
    RankState& state = ranks_[r];
    switch (action.kind) {
      case ActionKind::StartSend: {
        const std::uint32_t i = action.index;
        const Step& step = setup_.step(rank, i);
        const Value* from = at(rank, step.a);
        for (std::size_t e = 0; e < step.a.count; ++e) {
          if (!from[e].defined) return uninitialized(rank, i, step.a, e);
        }
        const std::size_t link = pair(rank, step.peer);
        const std::uint32_t k = setup_.messageIndex[r][i];
        Channel& channel = channels_[link];
        channel.begin.push_back(channel.data.size());  // message k: sends start in order
        channel.data.insert(channel.data.end(), from, from + step.a.count);
        state.status[i] = Status::Started;
        ++sendsStarted_[link];
        const auto p = static_cast<std::size_t>(step.peer);
        const auto& queue = setup_.sends[r][p];
        if (++state.sendHead[p] < queue.size() && state.status[queue[state.sendHead[p]]] == Status::Ready) {
          pool_.push_back({ActionKind::StartSend, rank, step.peer, queue[state.sendHead[p]]});
        }
        if (recvsPosted_[link] > k) pool_.push_back({ActionKind::Transfer, rank, step.peer, k});
        return {};
      }
      case ActionKind::PostRecv: {
        const std::uint32_t i = action.index;
        const Step& step = setup_.step(rank, i);
        state.status[i] = Status::Started;
        const std::size_t link = pair(step.peer, rank);
        const std::uint32_t k = setup_.messageIndex[r][i];
        ++recvsPosted_[link];
        const auto p = static_cast<std::size_t>(step.peer);
        const auto& queue = setup_.recvs[r][p];
        if (++state.recvHead[p] < queue.size() && state.status[queue[state.recvHead[p]]] == Status::Ready) {
          pool_.push_back({ActionKind::PostRecv, rank, step.peer, queue[state.recvHead[p]]});
        }
        if (sendsStarted_[link] > k) pool_.push_back({ActionKind::Transfer, step.peer, rank, k});
        return {};
      }
      case ActionKind::Transfer: {
        const int sender = action.rank;
        const int receiver = action.peer;
        const std::uint32_t k = action.index;
        const std::uint32_t sendIndex =
            setup_.sends[static_cast<std::size_t>(sender)][static_cast<std::size_t>(receiver)][k];
        const std::uint32_t recvIndex =
            setup_.recvs[static_cast<std::size_t>(receiver)][static_cast<std::size_t>(sender)][k];
        const Channel& channel = channels_[pair(sender, receiver)];
        const Step& recv = setup_.step(receiver, recvIndex);
        const Value* message = channel.data.data() + channel.begin[k];
        std::copy(message, message + recv.dst.count, at(receiver, recv.dst));
        complete(receiver, recvIndex);
        complete(sender, sendIndex);
        return {};
      }
      case ActionKind::Local: {
        const std::uint32_t i = action.index;
        const Step& step = setup_.step(rank, i);
        if (step.kind == StepKind::Copy) {
          const Value* from = at(rank, step.a);
          Value* to = at(rank, step.dst);
          if (from != to) {
            for (std::size_t e = 0; e < step.a.count; ++e) {
              if (!from[e].defined) return uninitialized(rank, i, step.a, e);
              to[e] = from[e];
            }
          }
        } else {
          std::string error = reduce(rank, i, step);
          if (!error.empty()) return error;
        }
        complete(rank, i);
        return {};
      }
    }
    return {};
  }

  std::string reduce(int rank, std::uint32_t i, const Step& step) {
    const Value* a = at(rank, step.a);
    const Value* b = at(rank, step.b);
    Value* dst = at(rank, step.dst);
    for (std::size_t e = 0; e < step.dst.count; ++e) {
      if (!a[e].defined) return uninitialized(rank, i, step.a, e);
      if (!b[e].defined) return uninitialized(rank, i, step.b, e);
      if (a[e].finalized || b[e].finalized) {
        return fmt::format("{}: reduces data that was already finalized (element {} of the span)",
                           setup_.where(rank, i), e);
      }
      Value v;
      v.hash = a[e].hash + b[e].hash;
      v.terms = static_cast<std::uint16_t>(a[e].terms + b[e].terms);
      v.element = a[e].element == b[e].element ? a[e].element : -1;
      v.defined = true;
      if (step.finalize) {
        if (!isFullReduction(v)) {
          return fmt::format(
              "{}: finalizes a partial reduction (element {} of the span holds {} "
              "of {} contributions{})",
              setup_.where(rank, i), e, v.terms, setup_.size, v.element < 0 ? ", of different elements" : "");
        }
        v.finalized = true;
      } else if (setup_.size > 1 && isFullReduction(v)) {
        return fmt::format(
            "{}: completes the reduction (element {} of the span) without "
            "finalize",
            setup_.where(rank, i), e);
      }
      dst[e] = v;
    }
    return {};
  }

  bool isFullReduction(const Value& v) const {
    if (v.element < 0 || v.terms != static_cast<std::uint32_t>(setup_.size)) return false;
    const auto element = static_cast<std::size_t>(v.element);
    return element < setup_.fullHash.size() && v.hash == setup_.fullHash[element];
  }

  std::string deadlock() const {
    // Report the first rank's first step that has all its deps but cannot finish: the one the
    // rest of that rank waits on.
    for (int rank = 0; rank < setup_.size; ++rank) {
      const RankState& state = ranks_[static_cast<std::size_t>(rank)];
      for (std::uint32_t i = 0; i < state.status.size(); ++i) {
        if (state.status[i] == Status::Waiting || state.status[i] == Status::Done) continue;
        const Step& step = setup_.step(rank, i);
        const std::uint32_t k = setup_.messageIndex[static_cast<std::size_t>(rank)][i];
        std::string why;
        if (state.status[i] == Status::Ready) {
          why = "it is queued behind an earlier message to the same peer that never starts";
        } else if (step.kind == StepKind::Send) {
          why = fmt::format("rank {} never posts the matching receive (message {})", step.peer, k);
        } else {
          why = fmt::format("rank {} never starts the matching send (message {})", step.peer, k);
        }
        return fmt::format("deadlock: {}: never completes: {} ({} of {} steps completed)", setup_.where(rank, i), why,
                           completed_, total_);
      }
    }
    return fmt::format("deadlock: {} of {} steps completed", completed_, total_);
  }

  std::string finalCheck() {
    for (int rank = 0; rank < setup_.size; ++rank) {
      const std::size_t outputs = setup_.outputCount(rank);
      if (outputs == 0) continue;
      const Value* out = at(rank, Span{BufferId::Output, 0, outputs});
      for (std::size_t e = 0; e < outputs; ++e) {
        const std::string what = mismatch(out[e], setup_.expected(rank, e));
        if (!what.empty()) {
          return fmt::format("rank {}: output element {} {} after all steps completed", rank, e, what);
        }
      }
    }
    return {};
  }

  // How a final Output value differs from what it should be ("" when it does not).
  std::string mismatch(const Value& v, const Expected& expected) const {
    switch (expected.kind) {
      case Expected::Kind::Untouched:
        return v.defined ? "is written, but no block covers it" : "";
      case Expected::Kind::Element:
        if (!v.defined) return "is never written";
        if (v.terms != 1 || v.finalized || v.hash != contribution(expected.rank, expected.element)) {
          return fmt::format("does not hold element {} of rank {}", expected.element, expected.rank);
        }
        return {};
      case Expected::Kind::Reduction:
        if (!v.defined) return "is never written";
        if (v.element != static_cast<std::int64_t>(expected.element)) {
          return v.element < 0 ? "mixes contributions of different elements"
                               : fmt::format("holds element {}, expected {}", v.element, expected.element);
        }
        if (!isFullReduction(v)) {
          return fmt::format("holds {} contributions, expected each of the {} ranks once", v.terms, setup_.size);
        }
        if (!v.finalized && setup_.size > 1) return "holds the full reduction but was never finalized";
        return {};
    }
    return {};
  }

  const Setup& setup_;
  bool inPlace_;
  std::mt19937_64 random_;
  std::vector<RankState> ranks_;
  std::vector<Action> pool_;
  std::vector<Channel> channels_;                          // per pair (sender, receiver)
  std::vector<std::uint32_t> sendsStarted_, recvsPosted_;  // per pair (sender, receiver)
  std::size_t completed_ = 0;
  std::size_t total_ = 0;
};

}  // namespace

std::string simulate(const Setup& setup, bool inPlace, std::uint64_t seed) {
  return Simulation(setup, inPlace, seed).run();
}

}  // namespace banyan::algorithms::symbolic

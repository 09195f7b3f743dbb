// The symbolic checker (see symbolic.hpp for what it checks and its model of execution).
//
// Terms used below
//   variant   out-of-place or in-place. The in-place variant maps Input spans onto Output
//             (offset + inputBase(rank)) before anything touches memory.
//   place     a span after that mapping: (physical buffer, offset, count).
//   message k the k-th Send from rank a to rank b, matched with the k-th Recv on b from a.
//
// The race check walks each rank's steps in index order and keeps, per physical element, the
// last writer and the readers since then. Deps only point backwards, so two steps i < j are
// ordered iff j reaches i through deps; checking each read against the last write, and each
// write against the reads since the last write (or the last write when there are none), covers
// every conflicting pair by transitivity. Reachability is a depth-first search from j that
// never goes below i, memoised per pair.

#include "algorithms/symbolic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <unordered_set>
#include <vector>

namespace banyan::algorithms {

namespace {

constexpr std::uint32_t kNone = 0xffffffffu;

enum class Collective { Allreduce, Allgather };

struct Value {
  std::uint64_t hash = 0;     // sum of contribution hashes
  std::int32_t element = -1;  // element index shared by all contributions, -1 if mixed
  std::uint16_t terms = 0;    // number of contributions
  bool defined = false;
  bool finalized = false;
};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t contribution(int rank, std::size_t element) {
  return mix((static_cast<std::uint64_t>(rank) << 40) ^ static_cast<std::uint64_t>(element));
}

struct Place {
  int buffer = 0;  // 0 Input, 1 Output, 2 Scratch (physical)
  std::size_t offset = 0;
  std::size_t count = 0;
};

bool overlaps(const Place& x, const Place& y) {
  return x.buffer == y.buffer && x.offset < y.offset + y.count && y.offset < x.offset + x.count;
}

bool same(const Place& x, const Place& y) {
  return x.buffer == y.buffer && x.offset == y.offset && x.count == y.count;
}

const char* placeBufferName(int buffer) {
  return buffer == 0 ? "in" : buffer == 1 ? "out" : "scr";
}

// Everything about one check that does not change between variants and seeds.
struct Setup {
  Collective collective = Collective::Allreduce;
  int size = 0;
  std::size_t count = 0;
  std::vector<Schedule> schedules;
  // Per rank and peer, the step indices of the Sends to / Recvs from that peer, in order.
  std::vector<std::vector<std::vector<std::uint32_t>>> sends, recvs;
  // Per rank and step: which message of its (peer, direction) the step is; and the steps that
  // depend on it (CSR).
  std::vector<std::vector<std::uint32_t>> messageIndex;
  std::vector<std::vector<std::uint32_t>> dependentsBegin, dependents;
  // Allreduce: per element, the hash of the full reduction {(r, i) for every r}.
  std::vector<std::uint64_t> fullHash;

  std::size_t inputCount() const { return count; }
  std::size_t outputCount() const {
    return collective == Collective::Allgather ? count * static_cast<std::size_t>(size) : count;
  }
  std::size_t inputBase(int rank) const {
    return collective == Collective::Allgather ? count * static_cast<std::size_t>(rank) : 0;
  }
  std::size_t bufferCount(int rank, BufferId buffer) const {
    switch (buffer) {
      case BufferId::Input: return inputCount();
      case BufferId::Output: return outputCount();
      case BufferId::Scratch: return schedules[static_cast<std::size_t>(rank)].scratchCount;
    }
    return 0;
  }
  Place place(int rank, const Span& span, bool inPlace) const {
    if (span.buffer == BufferId::Input && inPlace) {
      return Place{1, span.offset + inputBase(rank), span.count};
    }
    return Place{static_cast<int>(span.buffer), span.offset, span.count};
  }
  const Step& step(int rank, std::uint32_t index) const {
    return schedules[static_cast<std::size_t>(rank)].steps[index];
  }
  std::string where(int rank, std::uint32_t index) const {
    return fmt::format("rank {}, {}", rank, describeStep(step(rank, index), index));
  }
};

// ---------------------------------------------------------------------------------------------
// 1 + 2: each schedule on its own, then message matching. Fills the Setup's indexes.

std::string checkSpan(const Setup& setup, int rank, std::uint32_t index, const Span& span,
                      const char* role) {
  const std::size_t limit = setup.bufferCount(rank, span.buffer);
  if (span.count == 0) {
    return fmt::format("{}: empty {} span", setup.where(rank, index), role);
  }
  if (span.count > limit || span.offset > limit - span.count) {
    return fmt::format("{}: {} span is out of bounds (buffer has {} elements)",
                       setup.where(rank, index), role, limit);
  }
  return {};
}

std::string checkEachSchedule(Setup& setup) {
  const int size = setup.size;
  const auto n = static_cast<std::size_t>(size);
  setup.sends.assign(n, std::vector<std::vector<std::uint32_t>>(n));
  setup.recvs.assign(n, std::vector<std::vector<std::uint32_t>>(n));
  setup.messageIndex.assign(n, {});
  setup.dependentsBegin.assign(n, {});
  setup.dependents.assign(n, {});

  for (int rank = 0; rank < size; ++rank) {
    const auto r = static_cast<std::size_t>(rank);
    const auto& steps = setup.schedules[r].steps;
    setup.messageIndex[r].assign(steps.size(), kNone);
    std::vector<std::uint32_t> dependentCount(steps.size() + 1, 0);
    for (std::uint32_t i = 0; i < steps.size(); ++i) {
      const Step& step = steps[i];
      if (step.depCount > Step::kMaxDeps) {
        return fmt::format("{}: {} deps, more than {}", setup.where(rank, i), step.depCount,
                           Step::kMaxDeps);
      }
      for (std::uint8_t d = 0; d < step.depCount; ++d) {
        if (step.deps[d] >= i) {
          return fmt::format("{}: depends on #{}, which is not an earlier step",
                             setup.where(rank, i), step.deps[d]);
        }
        ++dependentCount[step.deps[d]];
      }
      std::string error;
      switch (step.kind) {
        case StepKind::Send:
        case StepKind::Recv: {
          if (step.peer < 0 || step.peer >= size || step.peer == rank) {
            return fmt::format("{}: invalid peer {}", setup.where(rank, i), step.peer);
          }
          const auto p = static_cast<std::size_t>(step.peer);
          auto& queue = step.kind == StepKind::Send ? setup.sends[r][p] : setup.recvs[r][p];
          setup.messageIndex[r][i] = static_cast<std::uint32_t>(queue.size());
          queue.push_back(i);
          error = step.kind == StepKind::Send ? checkSpan(setup, rank, i, step.a, "source")
                                              : checkSpan(setup, rank, i, step.dst, "destination");
          break;
        }
        case StepKind::Reduce:
          error = checkSpan(setup, rank, i, step.dst, "destination");
          if (error.empty()) error = checkSpan(setup, rank, i, step.a, "first operand");
          if (error.empty()) error = checkSpan(setup, rank, i, step.b, "second operand");
          if (error.empty() && (step.a.count != step.dst.count || step.b.count != step.dst.count)) {
            error = fmt::format("{}: operand lengths differ", setup.where(rank, i));
          }
          break;
        case StepKind::Copy:
          error = checkSpan(setup, rank, i, step.dst, "destination");
          if (error.empty()) error = checkSpan(setup, rank, i, step.a, "source");
          if (error.empty() && step.a.count != step.dst.count) {
            error = fmt::format("{}: source and destination lengths differ", setup.where(rank, i));
          }
          break;
      }
      if (!error.empty()) return error;
    }
    // Dependents, as compressed rows.
    auto& begin = setup.dependentsBegin[r];
    begin.assign(steps.size() + 1, 0);
    for (std::size_t i = 0; i < steps.size(); ++i) begin[i + 1] = begin[i] + dependentCount[i];
    auto& list = setup.dependents[r];
    list.assign(begin.back(), 0);
    std::vector<std::uint32_t> fill(begin.begin(), begin.end() - 1);
    for (std::uint32_t i = 0; i < steps.size(); ++i) {
      for (std::uint8_t d = 0; d < steps[i].depCount; ++d) list[fill[steps[i].deps[d]]++] = i;
    }
  }

  for (int a = 0; a < size; ++a) {
    for (int b = 0; b < size; ++b) {
      const auto& out = setup.sends[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)];
      const auto& in = setup.recvs[static_cast<std::size_t>(b)][static_cast<std::size_t>(a)];
      const std::size_t common = std::min(out.size(), in.size());
      for (std::size_t k = 0; k < common; ++k) {
        const std::size_t sent = setup.step(a, out[k]).a.count;
        const std::size_t received = setup.step(b, in[k]).dst.count;
        if (sent != received) {
          return fmt::format("{}: message {} to rank {} has {} elements, but its receive ({}) "
                             "expects {}",
                             setup.where(a, out[k]), k, b, sent, setup.where(b, in[k]), received);
        }
      }
      if (out.size() > common) {
        return fmt::format("{}: send has no matching receive (rank {} receives {} messages from "
                           "rank {}, rank {} sends {})",
                           setup.where(a, out[common]), b, in.size(), a, a, out.size());
      }
      if (in.size() > common) {
        return fmt::format("{}: receive has no matching send (rank {} sends {} messages to "
                           "rank {}, rank {} receives {})",
                           setup.where(b, in[common]), a, out.size(), b, b, in.size());
      }
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// 3a: operand overlap and data races, per rank and variant.

class RaceCheck {
 public:
  RaceCheck(const Setup& setup, int rank, bool inPlace)
      : setup_(setup), rank_(rank), inPlace_(inPlace),
        steps_(setup.schedules[static_cast<std::size_t>(rank)].steps) {
    for (int buffer = 0; buffer < 3; ++buffer) {
      const std::size_t n = buffer == 0 ? (inPlace ? 0 : setup.inputCount())
                          : buffer == 1 ? setup.outputCount()
                                        : setup.schedules[static_cast<std::size_t>(rank)].scratchCount;
      lastWrite_[buffer].assign(n, kNone);
      readers_[buffer].assign(n, kNone);
    }
    visited_.assign(steps_.size(), 0);
  }

  std::string run(bool races) {
    for (std::uint32_t j = 0; j < steps_.size(); ++j) {
      const Step& step = steps_[j];
      Place reads[2];
      int readCount = 0;
      Place write;
      bool writes = false;
      switch (step.kind) {
        case StepKind::Send:
          reads[readCount++] = place(step.a);
          break;
        case StepKind::Recv:
          write = place(step.dst);
          writes = true;
          break;
        case StepKind::Reduce:
          reads[readCount++] = place(step.a);
          reads[readCount++] = place(step.b);
          write = place(step.dst);
          writes = true;
          break;
        case StepKind::Copy:
          reads[readCount++] = place(step.a);
          write = place(step.dst);
          writes = true;
          if (same(reads[0], write)) readCount = 0, writes = false;  // no-op copy
          break;
      }
      for (int k = 0; k < readCount && writes; ++k) {
        if (overlaps(reads[k], write) && !same(reads[k], write)) {
          return fmt::format("{}: destination partially overlaps an operand",
                             setup_.where(rank_, j));
        }
      }
      if (!races) continue;
      for (int k = 0; k < readCount; ++k) {
        std::string error = read(j, reads[k]);
        if (!error.empty()) return error;
      }
      if (writes) {
        std::string error = writeTo(j, write);
        if (!error.empty()) return error;
      }
    }
    return {};
  }

 private:
  struct Reader {
    std::uint32_t step;
    std::uint32_t next;
  };

  Place place(const Span& span) const { return setup_.place(rank_, span, inPlace_); }

  std::string read(std::uint32_t j, const Place& p) {
    auto& last = lastWrite_[p.buffer];
    auto& head = readers_[p.buffer];
    for (std::size_t e = p.offset; e < p.offset + p.count; ++e) {
      if (last[e] != kNone && last[e] != j && !ordered(last[e], j)) return race(last[e], j, p, e);
      if (head[e] == kNone || pool_[head[e]].step != j) {
        pool_.push_back(Reader{j, head[e]});
        head[e] = static_cast<std::uint32_t>(pool_.size() - 1);
      }
    }
    return {};
  }

  std::string writeTo(std::uint32_t j, const Place& p) {
    auto& last = lastWrite_[p.buffer];
    auto& head = readers_[p.buffer];
    for (std::size_t e = p.offset; e < p.offset + p.count; ++e) {
      if (head[e] == kNone) {
        if (last[e] != kNone && !ordered(last[e], j)) return race(last[e], j, p, e);
      } else {
        for (std::uint32_t at = head[e]; at != kNone; at = pool_[at].next) {
          const std::uint32_t i = pool_[at].step;
          if (i != j && !ordered(i, j)) return race(i, j, p, e);
        }
      }
      last[e] = j;
      head[e] = kNone;
    }
    return {};
  }

  std::string race(std::uint32_t i, std::uint32_t j, const Place& p, std::size_t element) const {
    return fmt::format("{}: data race with #{} ({}) on {}[{}]: no chain of deps orders them",
                       setup_.where(rank_, j), i, describeStep(steps_[i], i),
                       placeBufferName(p.buffer), element);
  }

  // Whether step j (transitively) depends on step i < j.
  bool ordered(std::uint32_t i, std::uint32_t j) {
    const std::uint64_t key = (static_cast<std::uint64_t>(i) << 32) | j;
    if (key == lastKey_) return true;
    if (known_.count(key) != 0) {
      lastKey_ = key;
      return true;
    }
    ++stamp_;
    stack_.clear();
    stack_.push_back(j);
    bool found = false;
    while (!stack_.empty() && !found) {
      const std::uint32_t u = stack_.back();
      stack_.pop_back();
      const Step& step = steps_[u];
      for (std::uint8_t d = 0; d < step.depCount; ++d) {
        const std::uint32_t v = step.deps[d];
        if (v == i) {
          found = true;
          break;
        }
        if (v < i || visited_[v] == stamp_) continue;
        visited_[v] = stamp_;
        stack_.push_back(v);
      }
    }
    if (found) {
      known_.insert(key);
      lastKey_ = key;
    }
    return found;
  }

  const Setup& setup_;
  int rank_;
  bool inPlace_;
  const std::vector<Step>& steps_;
  std::vector<std::uint32_t> lastWrite_[3];
  std::vector<std::uint32_t> readers_[3];  // head of each element's reader list in pool_
  std::vector<Reader> pool_;
  std::vector<std::uint32_t> visited_;
  std::vector<std::uint32_t> stack_;
  std::uint32_t stamp_ = 0;
  std::uint64_t lastKey_ = ~0ull;
  std::unordered_set<std::uint64_t> known_;
};

// ---------------------------------------------------------------------------------------------
// 3b: the simulation.

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
      state.buffers[0].assign(inPlace ? 0 : setup.inputCount(), Value{});
      state.buffers[1].assign(setup.outputCount(), Value{});
      state.buffers[2].assign(setup.schedules[static_cast<std::size_t>(r)].scratchCount, Value{});
      for (std::size_t i = 0; i < setup.inputCount(); ++i) {
        Value& v = inPlace ? state.buffers[1][setup.inputBase(r) + i] : state.buffers[0][i];
        v = Value{contribution(r, i), static_cast<std::int32_t>(i), 1, true, false};
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
      const std::size_t pick = (draw & 15) == 0 || pool_.size() <= kWindow
                                   ? (draw >> 4) % pool_.size()
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
    int rank;   // Transfer: the sender
    int peer;   // Transfer: the receiver
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
    return static_cast<std::size_t>(from) * static_cast<std::size_t>(setup_.size) +
           static_cast<std::size_t>(to);
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
    return fmt::format("{}: reads uninitialized data at {}[{}]", setup_.where(rank, i),
                       placeBufferName(p.buffer), p.offset + e);
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
          return fmt::format("{}: finalizes a partial reduction (element {} of the span holds {} "
                             "of {} contributions{})",
                             setup_.where(rank, i), e, v.terms, setup_.size,
                             v.element < 0 ? ", of different elements" : "");
        }
        v.finalized = true;
      } else if (setup_.size > 1 && isFullReduction(v)) {
        return fmt::format("{}: completes the reduction (element {} of the span) without "
                           "finalize", setup_.where(rank, i), e);
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
        return fmt::format("deadlock: {}: never completes: {} ({} of {} steps completed)",
                           setup_.where(rank, i), why, completed_, total_);
      }
    }
    return fmt::format("deadlock: {} of {} steps completed", completed_, total_);
  }

  std::string finalCheck() const {
    const bool allreduce = setup_.collective == Collective::Allreduce;
    for (int rank = 0; rank < setup_.size; ++rank) {
      const auto& out = ranks_[static_cast<std::size_t>(rank)].buffers[1];
      for (std::size_t e = 0; e < out.size(); ++e) {
        const Value& v = out[e];
        std::string what;
        if (!v.defined) {
          what = "is never written";
        } else if (allreduce) {
          if (v.element != static_cast<std::int64_t>(e)) {
            what = v.element < 0 ? "mixes contributions of different elements"
                                 : fmt::format("holds element {}", v.element);
          } else if (!isFullReduction(v)) {
            what = fmt::format("holds {} contributions, expected each of the {} ranks once",
                               v.terms, setup_.size);
          } else if (!v.finalized && setup_.size > 1) {
            what = "holds the full reduction but was never finalized";
          }
        } else {
          const std::size_t block = e / setup_.count;
          const std::size_t element = e % setup_.count;
          if (v.terms != 1 || v.finalized ||
              v.hash != contribution(static_cast<int>(block), element)) {
            what = fmt::format("does not hold element {} of rank {}", element, block);
          }
        }
        if (!what.empty()) {
          return fmt::format("rank {}: output element {} {} after all steps completed", rank, e, what);
        }
      }
    }
    return {};
  }

  const Setup& setup_;
  bool inPlace_;
  std::mt19937_64 random_;
  std::vector<RankState> ranks_;
  std::vector<Action> pool_;
  std::vector<Channel> channels_;  // per pair (sender, receiver)
  std::vector<std::uint32_t> sendsStarted_, recvsPosted_;  // per pair (sender, receiver)
  std::size_t completed_ = 0;
  std::size_t total_ = 0;
};

// ---------------------------------------------------------------------------------------------

std::string check(Collective collective, int size, std::size_t count,
                  const std::function<Schedule(int rank)>& make, const CheckOptions& options) {
  if (size < 1) return "size must be at least 1";
  Setup setup;
  setup.collective = collective;
  setup.size = size;
  setup.count = count;
  for (int r = 0; r < size; ++r) setup.schedules.push_back(make(r));
  if (collective == Collective::Allreduce) {
    setup.fullHash.assign(count, 0);
    for (std::size_t i = 0; i < count; ++i) {
      for (int r = 0; r < size; ++r) setup.fullHash[i] += contribution(r, i);
    }
  }

  std::string error = checkEachSchedule(setup);
  if (!error.empty()) return error;

  for (int variant = 0; variant < 2; ++variant) {
    const bool inPlace = variant == 1;
    if (inPlace ? !options.inPlace : !options.outOfPlace) continue;
    const char* label = inPlace ? "in place" : "out of place";
    for (int r = 0; r < size; ++r) {
      error = RaceCheck(setup, r, inPlace).run(options.races);
      if (!error.empty()) return fmt::format("{}: {}", label, error);
    }
    for (int run = 0; run < options.runs; ++run) {
      const std::uint64_t seed = options.seed + static_cast<std::uint64_t>(run);
      error = Simulation(setup, inPlace, seed).run();
      if (!error.empty()) return fmt::format("{} (seed {}): {}", label, seed, error);
    }
  }
  return {};
}

}  // namespace

std::string checkAllreduce(int size, std::size_t count,
                           const std::function<Schedule(int rank)>& make,
                           const CheckOptions& options) {
  return check(Collective::Allreduce, size, count, make, options);
}

std::string checkAllgather(int size, std::size_t count,
                           const std::function<Schedule(int rank)>& make,
                           const CheckOptions& options) {
  return check(Collective::Allgather, size, count, make, options);
}

}  // namespace banyan::algorithms

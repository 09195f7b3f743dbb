// Symbolic checker, part 3a: operand overlap and data races (method: symbolic.cpp header).

#include "symbolic/symbolic_internal.hpp"

#include <unordered_set>
#include <vector>

namespace banyan::algorithms::symbolic {
namespace {

class RaceCheck {
 public:
  RaceCheck(const Setup& setup, int rank, bool inPlace)
      : setup_(setup), rank_(rank), inPlace_(inPlace), steps_(setup.schedules[static_cast<std::size_t>(rank)].steps) {
    for (int buffer = 0; buffer < 3; ++buffer) {
      const std::size_t n = setup.physicalCount(rank, buffer, inPlace);
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
          return fmt::format("{}: destination partially overlaps an operand", setup_.where(rank_, j));
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
    return fmt::format("{}: data race with #{} ({}) on {}[{}]: no chain of deps orders them", setup_.where(rank_, j), i,
                       describeStep(steps_[i], i), placeBufferName(p.buffer), element);
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

}  // namespace

std::string checkRaces(const Setup& setup, int rank, bool inPlace, bool races) {
  return RaceCheck(setup, rank, inPlace).run(races);
}

}  // namespace banyan::algorithms::symbolic

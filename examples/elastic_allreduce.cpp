// Training that survives a lost rank: allreduces in a loop for about ten seconds; when a rank
// dies (SIGKILL it from outside, rank 0 included), every survivor gets an error naming it,
// shrinks the communicator to the survivors, checks its results there and carries on.
//
//   export WORLD_SIZE=4 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500
//   for r in 0 1 2 3; do RANK=$r ./build/examples/elastic_allreduce & done
//   sleep 3; kill -9 <pid of any rank>; wait
//
// Each survivor ends with "continued on 3 ranks". Under torchrun's variables the store lives in
// rank 0's process; shrink() needs neither (docs/fault-tolerance.md). Arguments: the run's
// length in seconds (default 10) and the floats per allreduce (default 65536). BANYAN_HEARTBEAT_MS
// and BANYAN_HEARTBEAT_MISSES set how soon a stopped (SIGSTOP) rank counts as lost.

#include <banyan/banyan.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// What rank `original` (its rank in the first communicator) contributes to step `step`: whole
// numbers, so the sum is exact in float whatever the order of the additions.
float contribution(int original, long step) { return static_cast<float>((original + 1) * (step % 97 + 1)); }

// The original ranks of the communicator's members, in its rank order.
std::vector<int> membersOf(banyan::Communicator& comm, int original) {
  std::vector<int> members(static_cast<std::size_t>(comm.size()));
  comm.allgather(&original, members.data(), 1, banyan::DataType::i32);
  return members;
}

// Seconds since the epoch: the moments printed above, to compare with when a rank was killed.
double wallClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 10.0;
  const std::size_t count = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 65536;
  std::optional<banyan::Communicator> comm;
  try {
    comm.emplace(banyan::Communicator::fromEnvironment());
  } catch (const banyan::Error& error) {
    std::fprintf(stderr, "elastic_allreduce: %s\n", error.what());
    return 2;
  }
  const int original = comm->rank();
  std::vector<int> members = membersOf(*comm, original);
  std::printf("rank %d of %d: running\n", original, comm->size());
  std::fflush(stdout);
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  // count floats of data, then one that says "this rank's time is up": the loop ends on every
  // rank at the same step, when any rank says so.
  std::vector<float> buffer(count + 1);
  std::map<int, long> stepsOnSize;  // world size -> steps checked on it
  long step = 0;
  int shrinks = 0;
  for (bool done = false; !done;) {
    try {
      for (std::size_t i = 0; i < count; ++i) buffer[i] = contribution(original, step + static_cast<long>(i));
      buffer[count] = Clock::now() >= end ? 1.0f : 0.0f;
      comm->allreduce(buffer.data(), buffer.size(), banyan::DataType::f32, banyan::ReduceOp::sum);
      for (std::size_t i = 0; i < count; ++i) {
        float expected = 0;
        for (int member : members) expected += contribution(member, step + static_cast<long>(i));
        if (buffer[i] != expected) {
          std::fprintf(stderr, "rank %d (originally %d): step %ld element %zu is %g, expected %g\n", comm->rank(),
                       original, step, i, buffer[i], expected);
          return 1;
        }
      }
      ++stepsOnSize[comm->size()];
      ++step;
      done = buffer[count] > 0;
    } catch (const banyan::Error& error) {
      std::printf("rank %d (originally %d): step %ld failed at %.3f: %s\n", comm->rank(), original, step, wallClock(),
                  error.what());
      std::fflush(stdout);
      try {
        comm.emplace(comm->shrink());
        members = membersOf(*comm, original);
        ++shrinks;
        // A collective can end on some ranks and fail on others (those still waiting for the
        // lost rank's part), so the survivors may disagree by a step: all resume from the
        // earliest, as a trainer resumes from its last step every rank committed.
        std::int64_t resume = step;
        comm->allreduce(&resume, &resume, 1, banyan::DataType::i64, banyan::ReduceOp::min);
        if (resume < step) --stepsOnSize[static_cast<int>(members.size()) + 1];
        step = resume;
        std::printf("rank %d (originally %d): shrunk to %d ranks at %.3f; resuming at step %ld\n", comm->rank(),
                    original, comm->size(), wallClock(), step);
      } catch (const banyan::Error& again) {
        std::fprintf(stderr, "rank %d: shrink failed: %s\n", original, again.what());
        return 3;
      }
    }
  }
  std::printf("rank %d (originally %d): continued on %d ranks after %d shrink(s); steps checked:", comm->rank(),
              original, comm->size(), shrinks);
  for (const auto& [size, steps] : stepsOnSize) std::printf(" %ld on %d", steps, size);
  std::printf("\n");
  return 0;
}

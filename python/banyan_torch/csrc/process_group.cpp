#include "process_group.hpp"

#include "errors.hpp"
#include "store_adapter.hpp"

#include <torch/csrc/distributed/c10d/sequence_num.hpp>

#include <cstdlib>
#include <string>

namespace banyan::torch_backend {
namespace {

Options optionsFor(std::chrono::milliseconds timeout) {
  Options options;
  // torch's group timeout plays BANYAN_TIMEOUT's part; a non-positive one means "torch's
  // default", which banyan's own default (or BANYAN_TIMEOUT) then supplies.
  if (timeout.count() > 0) options.timeout = timeout;
  // A torch process runs more threads than banyan's rank count suggests (the waiter, banyan's
  // progress thread, the completion thread, torch's own), so the default busy polling
  // starves the peers it waits for. Measured with bench/torch.sh, 2 ranks on 2 cores, 1 KiB
  // all_reduce: 116 us with the default 50 us spin, 26 us without (gloo 125 us in the same
  // run); 1 MiB: 527 us against 359 us. So a torch group does not spin unless BANYAN_SPIN_US
  // asks it to (only its presence is checked here; src/config parses it as usual).
  if (std::getenv("BANYAN_SPIN_US") == nullptr) options.spin = std::chrono::microseconds(0);
  return options;
}

constexpr const char* kSequenceKey = "banyan/sequence_number";

std::string firstLine(const std::exception& e) {
  std::string s(e.what());
  const auto end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

}  // namespace

ProcessGroupBanyan::ProcessGroupBanyan(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                       std::chrono::milliseconds timeout, const Communicator* family)
    : c10d::ProcessGroup(rank, size),
      store_(store),
      timeout_(timeout),
      // torch prefixes the store per group, and ranks outside a subgroup never call this.
      comm_(family ? Communicator::createWithOwnStore(std::make_shared<C10dStore>(store), rank, size,
                                                      optionsFor(timeout), *family)
                   : Communicator::createWithOwnStore(std::make_shared<C10dStore>(store), rank, size,
                                                      optionsFor(timeout))),
      completer_(std::make_unique<Completer>()) {
  setSequenceNumberForGroup();
  init();
}

ProcessGroupBanyan::ProcessGroupBanyan(Communicator comm, std::chrono::milliseconds timeout)
    : c10d::ProcessGroup(comm.rank(), comm.size()),
      timeout_(timeout),
      comm_(std::move(comm)),
      completer_(std::make_unique<Completer>()) {
  setSequenceNumberForGroup();
  init();
}

ProcessGroupBanyan::~ProcessGroupBanyan() {
  // Ends whatever is still pending (with Aborted) and completes those Works before the
  // completion thread stops.
  comm_.close();
  completer_.reset();
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::launch(c10d::OpType type, const char* name, banyan::Work work,
                                                          Staging staging, std::vector<at::Tensor> outputs,
                                                          std::chrono::milliseconds opTimeout,
                                                          std::function<int()> source, bool counted) {
  if (sequenceNum_ && counted) sequenceNum_->increment();
  std::optional<std::chrono::milliseconds> deadline;
  if (opTimeout != c10d::kUnsetTimeout) deadline = opTimeout;
  auto result = c10::make_intrusive<BanyanWork>(rank_, type, name, std::move(work), std::move(staging),
                                                std::move(outputs), deadline, std::move(source));
  completer_->watch(result);
  return result;
}

void ProcessGroupBanyan::checkRoot(int64_t root, const char* op) const {
  if (root < 0 || root >= size_) throwError("{}: root rank {} is outside the group of {} ranks", op, root, size_);
}

void ProcessGroupBanyan::checkPeer(int peer, const char* op) const {
  if (peer < 0 || peer >= size_) throwError("{}: peer rank {} is outside the group of {} ranks", op, peer, size_);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupBanyan::barrier(const c10d::BarrierOptions& opts) {
  return launch(c10d::OpType::BARRIER, "barrier", comm_.barrierAsync(), Staging{}, {}, opts.timeout);
}

// The errors carry gloo's wording (ProcessGroupGloo::monitoredBarrier in torch 1.13), which
// programs and torch's own tests match on: "Rank 0 timed out in monitoredBarrier after T ms"
// when rank 0's time runs out before it has seen a rank (not with wait_all_ranks, which waits
// the whole timeout), "Rank N failed to pass monitoredBarrier in T ms" / "Ranks N, M failed
// ..." for ranks that did not arrive, and "Rank N successfully reached monitoredBarrier, but
// received errors while waiting for send/recv from rank 0" on the ranks rank 0 did not release.
void ProcessGroupBanyan::monitoredBarrier(const c10d::BarrierOptions& opts, bool waitAllRanks) {
  if (!store_) {
    throwError(
        "monitored_barrier needs the c10d store of a group made by torch; a group made by "
        "banyan_torch.shrink has none (use barrier() on it)");
  }
  const auto timeout = opts.timeout == c10d::kUnsetTimeout ? timeout_ : opts.timeout;
  const std::string prefix = "banyan/monitored_barrier/" + std::to_string(monitoredBarriers_++) + "/";
  const std::string released = prefix + "released";
  if (rank_ != 0) {
    store_->set(prefix + std::to_string(rank_), {1});
    try {
      store_->wait({released}, timeout);
    } catch (const std::exception& e) {
      throwError(
          "monitored_barrier: Rank {} successfully reached monitoredBarrier, but received errors while waiting "
          "for send/recv from rank 0: it was not released by rank 0 within {} ms (rank 0 failed, is stuck, or "
          "found a rank missing; see rank 0's error): {}",
          rank_, timeout.count(), firstLine(e));
    }
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  std::vector<int> missing;
  for (int r = 1; r < size_; ++r) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!waitAllRanks && left.count() <= 0) {
      std::string done;
      for (int d = 1; d < r; ++d) done += (done.empty() ? "" : ", ") + std::to_string(d);
      throwError("monitored_barrier: Rank 0 timed out in monitoredBarrier after {} ms. {}", timeout.count(),
                 done.empty() ? std::string("No ranks successfully processed in monitoredBarrier.")
                              : "Successfully processed ranks: " + done);
    }
    const std::string key = prefix + std::to_string(r);
    try {
      if (missing.empty()) {
        store_->wait({key}, std::max(left, std::chrono::milliseconds(1)));
      } else if (!store_->check({key})) {
        missing.push_back(r);  // after the deadline: only look
      }
    } catch (const std::exception&) {
      missing.push_back(r);
      if (!waitAllRanks) break;
    }
  }
  if (!missing.empty()) {
    std::string ranks;
    for (int r : missing) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    throwError(
        "monitored_barrier: [Rank 0]: Rank{} {} failed to pass monitoredBarrier in {} ms (did not reach the "
        "barrier{})",
        missing.size() > 1 ? "s" : "", ranks, timeout.count(),
        waitAllRanks ? "" : "; the first missing rank, wait_all_ranks=True lists all");
  }
  store_->set(released, {1});
}

void ProcessGroupBanyan::setSequenceNumberForGroup() {
  if (!store_) {
    // Made by shrink: every survivor starts the new group at the same number.
    sequenceNum_ = c10d::SequenceNum(0);
  } else if (rank_ == 0) {
    const std::uint64_t start = sequenceNum_ ? sequenceNum_->get() : 0;
    store_->set(kSequenceKey, c10d::toVec<uint8_t>(start, 8));
    sequenceNum_ = c10d::SequenceNum(start);
  } else {
    store_->wait({kSequenceKey}, timeout_);
    sequenceNum_ = c10d::SequenceNum(c10d::fromVec<uint8_t>(store_->get(kSequenceKey)));
  }
}

uint64_t ProcessGroupBanyan::getSequenceNumberForGroup() {
  if (!sequenceNum_) return 0;
  return sequenceNum_->get();
}

}  // namespace banyan::torch_backend

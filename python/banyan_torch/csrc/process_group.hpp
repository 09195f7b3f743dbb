#pragma once
// ProcessGroupBanyan: torch.distributed's process-group interface (c10d::ProcessGroup, torch
// 1.13) over a banyan::Communicator. Each operation checks its tensors on the caller, stages
// contiguous buffers (staging.hpp), starts the banyan *Async collective and returns a
// BanyanWork at once; results land when the Work completes (work.hpp).
//
// Files: process_group.cpp (construction, launch, barriers, sequence numbers),
// collectives.cpp (the data-moving collectives), sparse.cpp (all_reduce of sparse tensors),
// point_to_point.cpp (send/recv).

#include "buffer_pool.hpp"
#include "work.hpp"

#include <banyan/communicator.hpp>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>

namespace banyan::torch_backend {

class ProcessGroupBanyan : public c10d::ProcessGroup {
 public:
  // Joins the group through `store` (already prefixed per group by torch). `timeout` bounds
  // every operation and the bootstrap (BANYAN_TIMEOUT's role).
  // `family`: a banyan communicator of this process (the default group's) whose event loop
  // and progress thread the group shares (Communicator::createWithOwnStore); null: its own.
  ProcessGroupBanyan(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                     std::chrono::milliseconds timeout, const Communicator* family = nullptr);
  // A group over a communicator made without a c10d store: the survivors of shrink(). Its
  // sequence numbers start at 0 on every rank, and monitoredBarrier() (which needs a c10d
  // store) refuses.
  ProcessGroupBanyan(Communicator comm, std::chrono::milliseconds timeout);
  ~ProcessGroupBanyan() override;

  // The communicator, for revoke/agree/shrink/lostRanks (module.cpp). Those are thread-safe
  // beside running operations.
  Communicator& communicator() { return comm_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  const std::string getBackendName() const override { return "banyan"; }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                     const c10d::AllreduceCoalescedOptions& opts) override;
  // The sum of a float32 tensor, compressed on the wire (banyan::Compression; docs/numerics.md),
  // in place; `residual` (may be null) is the tensor's ErrorFeedback. Not a c10d operation:
  // banyan_torch.compression's DDP comm hook calls it (module.cpp).
  c10::intrusive_ptr<c10d::Work> compressedAllreduce(at::Tensor& tensor, CompressionFormat format,
                                                     ErrorFeedback* residual);
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather_coalesced(std::vector<std::vector<at::Tensor>>& outputLists,
                                                     std::vector<at::Tensor>& inputs,
                                                     const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
                                        const c10d::GatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
                                         const c10d::ScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                      const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor& output, at::Tensor& input,
                                               std::vector<int64_t>& outputSplits, std::vector<int64_t>& inputSplits,
                                               const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                          const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dstRank, int tag) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) override;
  c10::intrusive_ptr<c10d::Work> recvAnysource(std::vector<at::Tensor>& tensors, int tag) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;

  // As gloo: rank 0 waits for every other rank to arrive, within opts.timeout (or the group's
  // timeout), and raises naming the ranks that did not (all of them with waitAllRanks); the
  // others wait for rank 0's release. Runs through the c10d store, not the communicator, so a
  // rank that is stuck inside a collective is still reported.
  void monitoredBarrier(const c10d::BarrierOptions& opts, bool waitAllRanks) override;

  // Rank 0's count is published through the store and adopted by the others; every operation
  // then adds one, on every rank, so unequal numbers mean the ranks' programs diverged.
  void setSequenceNumberForGroup() override;
  uint64_t getSequenceNumberForGroup() override;

 private:
  // Wraps a started banyan operation in a Work that the completion thread will finish.
  // Collectives count in the sequence number; point-to-point (`source` given, or `counted`
  // false) does not, as with gloo, since only some ranks take part.
  c10::intrusive_ptr<c10d::Work> launch(c10d::OpType type, const char* name, banyan::Work work, Staging staging,
                                        std::vector<at::Tensor> outputs, std::chrono::milliseconds opTimeout,
                                        std::function<int()> source = {}, bool counted = true);
  // allreduce of a sparse COO tensor (sparse.cpp).
  c10::intrusive_ptr<c10d::Work> allreduceSparse(at::Tensor& tensor, const c10d::AllreduceOptions& opts);
  void checkRoot(int64_t root, const char* op) const;
  void checkPeer(int peer, const char* op) const;

  c10::intrusive_ptr<c10d::Store> store_;  // null for a group made by shrink
  std::chrono::milliseconds timeout_;
  Communicator comm_;
  std::uint64_t monitoredBarriers_ = 0;
  BufferPool sparseBuffers_;  // the values that sparse all_reduce receives (sparse.cpp)
  // Declared last: destroyed first, after the destructor has closed the communicator, so it
  // completes every Work that close() ended.
  std::unique_ptr<Completer> completer_;
};

}  // namespace banyan::torch_backend

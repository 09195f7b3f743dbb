// The public Communicator: each call becomes a CollectiveCall or PointToPointCall and goes to
// the communicator's ApiFront (communicator_impl.hpp); blocking calls wait on their Work.

#include "runtime/communicator_impl.hpp"
#include "runtime/shrink.hpp"

#include "bootstrap/environment.hpp"
#include "common/log.hpp"

#include <banyan/communicator.hpp>
#include <banyan/tcp_store.hpp>

#include <algorithm>

namespace banyan {

// ---- public API: thin forwarding --------------------------------------------------------

Communicator Communicator::create(std::shared_ptr<Store> store, int rank, int size, const Options& options) {
  return Communicator(std::make_unique<detail::CommunicatorImpl>(std::move(store), rank, size, options));
}

Communicator Communicator::createWithOwnStore(std::shared_ptr<Store> store, int rank, int size,
                                              const Options& options) {
  // Number 0 on every rank: the store is this communicator's alone, so its keys cannot meet
  // another's, and shared-memory segment names stay unique through the nonce they carry.
  return Communicator(std::make_unique<detail::CommunicatorImpl>(std::move(store), rank, size, options, 0));
}

Communicator Communicator::fromEnvironment(const Options& options) {
  auto job = bootstrap::jobFromEnvironment();
  if (!job) {
    fail(ErrorCode::InvalidUsage,
         "Communicator::fromEnvironment: no job found in the environment; set BANYAN_RANK, BANYAN_SIZE and "
         "BANYAN_STORE_ADDR (banyan's launcher does), or RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT "
         "(torchrun), or start it with srun or with a PMIx launcher (mpirun, srun --mpi=pmix)");
  }
  const std::string source = job->source;
  const std::string detail = job->detail.empty() ? "" : " (" + job->detail + ")";
  Communicator communicator = create(std::move(job->store), job->rank, job->size, options);
  // After create(): the log level is the communicator's from here.
  log::info(log::Where{log::Subsystem::Bootstrap, communicator.rank()},
            "job found through {} variables: rank {} of {}{}", source, communicator.rank(), communicator.size(),
            detail);
  return communicator;
}

Communicator::Communicator(std::unique_ptr<detail::CommunicatorImpl> impl) : impl_(std::move(impl)) {}
Communicator::Communicator(Communicator&&) noexcept = default;
Communicator& Communicator::operator=(Communicator&&) noexcept = default;
Communicator::~Communicator() = default;

int Communicator::rank() const { return impl_->rank(); }
int Communicator::size() const { return impl_->size(); }

namespace {

// The request of a reducing collective: a premultiplied sum travels as sum plus its factor.
CollectiveCall reducing(Collective kind, const void* send, void* recv, std::size_t count, DataType type, Reduction op,
                        int root = 0) {
  CollectiveCall request{kind, send, recv, count, type, op.op(), root};
  if (op.premultiplied()) request.premulFactor = op.factor();
  return request;
}

detail::CommunicatorImpl& checked(const std::unique_ptr<detail::CommunicatorImpl>& impl, const char* what) {
  if (!impl) fail(ErrorCode::InvalidUsage, "{} on a moved-from Communicator", what);
  return *impl;
}

}  // namespace

Communicator Communicator::createWithOwnStore(std::shared_ptr<Store> store, int rank, int size, const Options& options,
                                              const Communicator& family) {
  auto shared = checked(family.impl_, "createWithOwnStore (the family communicator)").family();
  return Communicator(
      std::make_unique<detail::CommunicatorImpl>(std::move(store), rank, size, options, 0, std::move(shared)));
}

void Communicator::allreduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op) {
  checked(impl_, "allreduce").enqueue(reducing(Collective::Allreduce, send, recv, count, type, op), true).wait();
}

void Communicator::allreduce(void* buffer, std::size_t count, DataType type, Reduction op) {
  allreduce(buffer, buffer, count, type, op);
}

Work Communicator::allreduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op) {
  return checked(impl_, "allreduce").enqueue(reducing(Collective::Allreduce, send, recv, count, type, op), false);
}

void Communicator::allreduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op,
                             const Compression& compression) {
  CollectiveCall call = reducing(Collective::Allreduce, send, recv, count, type, op);
  call.compression = compression;
  checked(impl_, "allreduce").enqueue(call, true).wait();
}

void Communicator::allreduce(void* buffer, std::size_t count, DataType type, Reduction op,
                             const Compression& compression) {
  allreduce(buffer, buffer, count, type, op, compression);
}

Work Communicator::allreduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op,
                                  const Compression& compression) {
  CollectiveCall call = reducing(Collective::Allreduce, send, recv, count, type, op);
  call.compression = compression;
  return checked(impl_, "allreduce").enqueue(call, false);
}

void Communicator::allgather(const void* send, void* recv, std::size_t count, DataType type) {
  checked(impl_, "allgather").enqueue({Collective::Allgather, send, recv, count, type, ReduceOp::sum}, true).wait();
}

void Communicator::allgather(void* buffer, std::size_t count, DataType type) {
  auto& impl = checked(impl_, "allgather");
  // In place: this rank's block already sits at its place in the buffer.
  const auto* own = buffer == nullptr ? nullptr
                                      : static_cast<std::byte*>(buffer) +
                                            static_cast<std::size_t>(impl.rank()) * count * dataTypeSize(type);
  impl.enqueue({Collective::Allgather, own, buffer, count, type, ReduceOp::sum}, true).wait();
}

Work Communicator::allgatherAsync(const void* send, void* recv, std::size_t count, DataType type) {
  return checked(impl_, "allgather").enqueue({Collective::Allgather, send, recv, count, type, ReduceOp::sum}, false);
}

namespace {

// `count` elements into a buffer: where this rank's block of an in-place call sits.
const std::byte* blockOf(const void* buffer, int block, std::size_t count, DataType type) {
  if (buffer == nullptr) return nullptr;
  return static_cast<const std::byte*>(buffer) + static_cast<std::size_t>(block) * count * dataTypeSize(type);
}

}  // namespace

void Communicator::reduceScatter(const void* send, void* recv, std::size_t recvCount, DataType type, Reduction op) {
  checked(impl_, "reduceScatter")
      .enqueue(reducing(Collective::ReduceScatter, send, recv, recvCount, type, op), true)
      .wait();
}

void Communicator::reduceScatter(void* buffer, std::size_t recvCount, DataType type, Reduction op) {
  auto& impl = checked(impl_, "reduceScatter");
  // In place: the result replaces this rank's own block of the buffer.
  void* own = const_cast<std::byte*>(blockOf(buffer, impl.rank(), recvCount, type));
  impl.enqueue(reducing(Collective::ReduceScatter, buffer, own, recvCount, type, op), true).wait();
}

Work Communicator::reduceScatterAsync(const void* send, void* recv, std::size_t recvCount, DataType type,
                                      Reduction op) {
  return checked(impl_, "reduceScatter")
      .enqueue(reducing(Collective::ReduceScatter, send, recv, recvCount, type, op), false);
}

Work Communicator::broadcastAsync(void* buffer, std::size_t count, DataType type, int root) {
  auto& impl = checked(impl_, "broadcast");
  // Only the root's buffer is read; elsewhere it is only written.
  const void* send = impl.rank() == root ? buffer : nullptr;
  return impl.enqueue({Collective::Broadcast, send, buffer, count, type, ReduceOp::sum, root}, false);
}

void Communicator::broadcast(void* buffer, std::size_t count, DataType type, int root) {
  auto& impl = checked(impl_, "broadcast");
  const void* send = impl.rank() == root ? buffer : nullptr;
  impl.enqueue({Collective::Broadcast, send, buffer, count, type, ReduceOp::sum, root}, true).wait();
}

void Communicator::reduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op, int root) {
  checked(impl_, "reduce").enqueue(reducing(Collective::Reduce, send, recv, count, type, op, root), true).wait();
}

void Communicator::reduce(void* buffer, std::size_t count, DataType type, Reduction op, int root) {
  auto& impl = checked(impl_, "reduce");
  // Off the root the buffer is only read: the schedule keeps partial results in scratch.
  void* recv = impl.rank() == root ? buffer : nullptr;
  impl.enqueue(reducing(Collective::Reduce, buffer, recv, count, type, op, root), true).wait();
}

Work Communicator::reduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op, int root) {
  return checked(impl_, "reduce").enqueue(reducing(Collective::Reduce, send, recv, count, type, op, root), false);
}

void Communicator::gather(const void* send, void* recv, std::size_t count, DataType type, int root) {
  checked(impl_, "gather").enqueue({Collective::Gather, send, recv, count, type, ReduceOp::sum, root}, true).wait();
}

Work Communicator::gatherAsync(const void* send, void* recv, std::size_t count, DataType type, int root) {
  return checked(impl_, "gather").enqueue({Collective::Gather, send, recv, count, type, ReduceOp::sum, root}, false);
}

void Communicator::scatter(const void* send, void* recv, std::size_t count, DataType type, int root) {
  checked(impl_, "scatter").enqueue({Collective::Scatter, send, recv, count, type, ReduceOp::sum, root}, true).wait();
}

Work Communicator::scatterAsync(const void* send, void* recv, std::size_t count, DataType type, int root) {
  return checked(impl_, "scatter").enqueue({Collective::Scatter, send, recv, count, type, ReduceOp::sum, root}, false);
}

void Communicator::alltoall(const void* send, void* recv, std::size_t countPerPeer, DataType type) {
  checked(impl_, "alltoall")
      .enqueue({Collective::Alltoall, send, recv, countPerPeer, type, ReduceOp::sum}, true)
      .wait();
}

Work Communicator::alltoallAsync(const void* send, void* recv, std::size_t countPerPeer, DataType type) {
  return checked(impl_, "alltoall")
      .enqueue({Collective::Alltoall, send, recv, countPerPeer, type, ReduceOp::sum}, false);
}

namespace {

CollectiveCall alltoallvRequest(const void* send, std::span<const std::size_t> sendCounts,
                                std::span<const std::size_t> sendOffsets, void* recv,
                                std::span<const std::size_t> recvCounts, std::span<const std::size_t> recvOffsets,
                                DataType type) {
  auto tables = std::make_shared<BlockTables>();
  tables->sendCounts.assign(sendCounts.begin(), sendCounts.end());
  tables->sendOffsets.assign(sendOffsets.begin(), sendOffsets.end());
  tables->recvCounts.assign(recvCounts.begin(), recvCounts.end());
  tables->recvOffsets.assign(recvOffsets.begin(), recvOffsets.end());
  std::size_t total = 0;
  for (std::size_t count : sendCounts) total += count;  // overflow is caught by validateBlocks
  return {Collective::Alltoallv, send, recv, total, type, ReduceOp::sum, 0, std::move(tables)};
}

}  // namespace

void Communicator::alltoallv(const void* send, std::span<const std::size_t> sendCounts,
                             std::span<const std::size_t> sendOffsets, void* recv,
                             std::span<const std::size_t> recvCounts, std::span<const std::size_t> recvOffsets,
                             DataType type) {
  checked(impl_, "alltoallv")
      .enqueue(alltoallvRequest(send, sendCounts, sendOffsets, recv, recvCounts, recvOffsets, type), true)
      .wait();
}

Work Communicator::alltoallvAsync(const void* send, std::span<const std::size_t> sendCounts,
                                  std::span<const std::size_t> sendOffsets, void* recv,
                                  std::span<const std::size_t> recvCounts, std::span<const std::size_t> recvOffsets,
                                  DataType type) {
  return checked(impl_, "alltoallv")
      .enqueue(alltoallvRequest(send, sendCounts, sendOffsets, recv, recvCounts, recvOffsets, type), false);
}

void Communicator::send(const void* data, std::size_t count, DataType type, int peer, int tag) {
  checked(impl_, "send").enqueue(PointToPointCall{true, data, nullptr, count, type, peer, tag}, true).wait();
}

Work Communicator::sendAsync(const void* data, std::size_t count, DataType type, int peer, int tag) {
  return checked(impl_, "send").enqueue(PointToPointCall{true, data, nullptr, count, type, peer, tag}, false);
}

int Communicator::recv(void* data, std::size_t count, DataType type, int peer, int tag) {
  Work work = checked(impl_, "recv").enqueue(PointToPointCall{false, nullptr, data, count, type, peer, tag}, true);
  work.wait();
  return work.source();
}

Work Communicator::recvAsync(void* data, std::size_t count, DataType type, int peer, int tag) {
  return checked(impl_, "recv").enqueue(PointToPointCall{false, nullptr, data, count, type, peer, tag}, false);
}

void Communicator::groupStart() { checked(impl_, "groupStart").groupStart(); }

Work Communicator::groupEnd() { return checked(impl_, "groupEnd").groupEnd(); }

// The barrier's messages are one-byte tokens in scratch, hence u8.
void Communicator::barrier() {
  checked(impl_, "barrier")
      .enqueue({Collective::Barrier, nullptr, nullptr, 0, DataType::u8, ReduceOp::sum}, true)
      .wait();
}

Work Communicator::barrierAsync() {
  return checked(impl_, "barrier")
      .enqueue({Collective::Barrier, nullptr, nullptr, 0, DataType::u8, ReduceOp::sum}, false);
}

void Communicator::checkSpanSizes(std::size_t sendCount, std::size_t recvCount, int factor) const {
  if (recvCount != sendCount * static_cast<std::size_t>(factor)) {
    fail(ErrorCode::InvalidUsage, "{}: receive span holds {} elements, expected {} ({} x {}) on rank {}",
         factor == 1 ? "allreduce" : "allgather", recvCount, sendCount * static_cast<std::size_t>(factor), sendCount,
         factor, rank());
  }
}

void Communicator::close() {
  if (impl_) impl_->close();
}

// The same path as close(): it posts the failure of everything to the event loop, which the
// thread driving it (a blocked caller, or the progress thread) runs at its next look, so the
// blocked calls end before close() takes over the loop.
void Communicator::abort() { close(); }

void Communicator::revoke() { checked(impl_, "revoke").revoke(); }

Agreement Communicator::agree(std::uint64_t flag) {
  auto& impl = checked(impl_, "agree");
  const auto agreed = impl.control().agree(flag, {}, std::chrono::steady_clock::now() + impl.config().timeout);
  return Agreement{agreed.flag, agreed.failed};
}

Communicator Communicator::shrink() { return Communicator(detail::shrinkCommunicator(checked(impl_, "shrink"))); }

std::vector<int> Communicator::lostRanks() const { return checked(impl_, "lostRanks").control().lost(); }

std::optional<Communicator> Communicator::split(int color, int key) {
  auto& impl = checked(impl_, "split");
  const int n = impl.size();
  // Everyone's (color, key), through this communicator itself.
  const std::int64_t mine[2] = {color, key};
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(n));
  allgather(mine, all.data(), 2, DataType::i64);
  const std::uint64_t splitNumber = impl.nextSplit();
  // Every rank takes a communicator number here, joining or not, so the numbers of
  // communicators made later still agree across ranks.
  const std::uint64_t id = detail::takeCommunicatorId();
  if (color < 0) return std::nullopt;
  std::vector<std::pair<std::int64_t, int>> members;  // (key, parent rank)
  for (int r = 0; r < n; ++r) {
    if (all[2 * static_cast<std::size_t>(r)] == color)
      members.emplace_back(all[2 * static_cast<std::size_t>(r) + 1], r);
  }
  std::sort(members.begin(), members.end());
  const int newRank = static_cast<int>(
      std::find_if(members.begin(), members.end(), [&](const auto& m) { return m.second == impl.rank(); }) -
      members.begin());
  // The new communicator's keys live under this one's, per split call and color, so groups of
  // different colors and later splits never meet in the store.
  auto store = std::make_shared<PrefixStore>(fmt::format("{}split/{}/{}/", impl.storePrefix(), splitNumber, color),
                                             impl.store());
  // The new communicator runs on this one's event loop and progress thread (progress_driver.hpp).
  return Communicator(std::make_unique<detail::CommunicatorImpl>(
      std::move(store), newRank, static_cast<int>(members.size()), impl.options(), id, impl.family()));
}

std::optional<Communicator> Communicator::subset(std::span<const int> ranks) {
  auto& impl = checked(impl_, "subset");
  int position = -1;
  std::vector<bool> seen(static_cast<std::size_t>(impl.size()), false);
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const int r = ranks[i];
    if (r < 0 || r >= impl.size()) {
      fail(ErrorCode::InvalidUsage, "subset: rank {} (entry {}) is outside 0..{} on rank {}", r, i, impl.size() - 1,
           impl.rank());
    }
    if (seen[static_cast<std::size_t>(r)]) {
      fail(ErrorCode::InvalidUsage, "subset: rank {} is listed twice on rank {}", r, impl.rank());
    }
    seen[static_cast<std::size_t>(r)] = true;
    if (r == impl.rank()) position = static_cast<int>(i);
  }
  return split(position < 0 ? -1 : 0, position);
}

}  // namespace banyan

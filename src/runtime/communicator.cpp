// Communicator: checks the caller's arguments, queues operations for the progress thread,
// and owns everything an operation needs (transport, schedule cache, scratch memory).

#include "runtime/communicator_impl.hpp"

#include "bootstrap/environment.hpp"
#include "common/log.hpp"
#include "observe/communicator_summary.hpp"
#include "runtime/link_probe.hpp"
#include "runtime/selector_setup.hpp"
#include "security/key_source.hpp"
#include "transports/shm/segment.hpp"

#include <banyan/communicator.hpp>
#include <banyan/tcp_store.hpp>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sched.h>
#include <random>


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
         "(torchrun); under mpirun use banyan::mpi::createCommunicator");
  }
  const std::string source = job->source;
  Communicator communicator = create(std::move(job->store), job->rank, job->size, options);
  // After create(): the log level is the communicator's from here.
  log::info(log::Where{log::Subsystem::Bootstrap, communicator.rank()}, "job found through {} variables: rank {} of {}",
            source, communicator.rank(), communicator.size());
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
detail::Request reducing(Collective kind, const void* send, void* recv, std::size_t count, DataType type,
                         Reduction op, int root = 0) {
  detail::Request request{kind, send, recv, count, type, op.op(), root};
  if (op.premultiplied()) request.premulFactor = op.factor();
  return request;
}

detail::CommunicatorImpl& checked(const std::unique_ptr<detail::CommunicatorImpl>& impl, const char* what) {
  if (!impl) fail(ErrorCode::InvalidUsage, "{} on a moved-from Communicator", what);
  return *impl;
}

}  // namespace

void Communicator::allreduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op) {
  checked(impl_, "allreduce").enqueue(reducing(Collective::Allreduce, send, recv, count, type, op), true).wait();
}

void Communicator::allreduce(void* buffer, std::size_t count, DataType type, Reduction op) {
  allreduce(buffer, buffer, count, type, op);
}

Work Communicator::allreduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op) {
  return checked(impl_, "allreduce").enqueue(reducing(Collective::Allreduce, send, recv, count, type, op), false);
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

Work Communicator::reduceScatterAsync(const void* send, void* recv, std::size_t recvCount, DataType type, Reduction op) {
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
  checked(impl_, "gather")
      .enqueue({Collective::Gather, send, recv, count, type, ReduceOp::sum, root}, true)
      .wait();
}

Work Communicator::gatherAsync(const void* send, void* recv, std::size_t count, DataType type, int root) {
  return checked(impl_, "gather")
      .enqueue({Collective::Gather, send, recv, count, type, ReduceOp::sum, root}, false);
}

void Communicator::scatter(const void* send, void* recv, std::size_t count, DataType type, int root) {
  checked(impl_, "scatter")
      .enqueue({Collective::Scatter, send, recv, count, type, ReduceOp::sum, root}, true)
      .wait();
}

Work Communicator::scatterAsync(const void* send, void* recv, std::size_t count, DataType type, int root) {
  return checked(impl_, "scatter")
      .enqueue({Collective::Scatter, send, recv, count, type, ReduceOp::sum, root}, false);
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

detail::Request alltoallvRequest(const void* send, std::span<const std::size_t> sendCounts,
                                 std::span<const std::size_t> sendOffsets, void* recv,
                                 std::span<const std::size_t> recvCounts, std::span<const std::size_t> recvOffsets,
                                 DataType type) {
  auto tables = std::make_shared<detail::BlockTables>();
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
  checked(impl_, "send").enqueue(detail::PointToPointRequest{true, data, nullptr, count, type, peer, tag}, true).wait();
}

Work Communicator::sendAsync(const void* data, std::size_t count, DataType type, int peer, int tag) {
  return checked(impl_, "send").enqueue(detail::PointToPointRequest{true, data, nullptr, count, type, peer, tag}, false);
}

int Communicator::recv(void* data, std::size_t count, DataType type, int peer, int tag) {
  Work work =
      checked(impl_, "recv").enqueue(detail::PointToPointRequest{false, nullptr, data, count, type, peer, tag}, true);
  work.wait();
  return work.source();
}

Work Communicator::recvAsync(void* data, std::size_t count, DataType type, int peer, int tag) {
  return checked(impl_, "recv").enqueue(detail::PointToPointRequest{false, nullptr, data, count, type, peer, tag},
                                        false);
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
    if (all[2 * static_cast<std::size_t>(r)] == color) members.emplace_back(all[2 * static_cast<std::size_t>(r) + 1], r);
  }
  std::sort(members.begin(), members.end());
  const int newRank = static_cast<int>(
      std::find_if(members.begin(), members.end(), [&](const auto& m) { return m.second == impl.rank(); }) -
      members.begin());
  // The new communicator's keys live under this one's, per split call and color, so groups of
  // different colors and later splits never meet in the store.
  auto store = std::make_shared<PrefixStore>(
      fmt::format("{}split/{}/{}/", impl.storePrefix(), splitNumber, color), impl.store());
  return Communicator(std::make_unique<detail::CommunicatorImpl>(std::move(store), newRank,
                                                                 static_cast<int>(members.size()), impl.options(), id));
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

namespace detail {

// ---- set-up -------------------------------------------------------------------------

namespace {

std::atomic<std::uint64_t> gCommunicatorCount{0};  // see takeCommunicatorId

}  // namespace

std::uint64_t takeCommunicatorId() { return gCommunicatorCount++; }

namespace {

std::uint64_t randomNonce() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device() ^ 1;
}

}  // namespace

CommunicatorImpl::CommunicatorImpl(std::shared_ptr<Store> store, int rank, int size, const Options& options,
                                   std::optional<std::uint64_t> givenId)
    : options_(options),
      config_(config::resolve(options)),
      rank_(rank),
      size_(size),
      store_(std::move(store)),
      work_(asio::make_work_guard(io_)),
      timer_(io_) {
  log::setLevel(config_.logLevel);
  log::setSubsystems(config_.logSubsystems);
  // A rank that has a core to itself spins with `pause`; when ranks outnumber cores it spins
  // with sched_yield, so the peer it waits for gets the core (measured, 4 ranks on 2 cores,
  // 8 B allreduce: blocking at once 60-70 us, yield-spin 200 us ~29 us; 2 ranks: pause-spin
  // 50 us ~7 us against ~14-40 us blocking). Without a topology probe yet, the job is assumed
  // to share this host.
  yieldWhileSpinning_ = static_cast<unsigned>(size) > std::thread::hardware_concurrency();
  spin_ = config_.spin.value_or(std::chrono::microseconds(yieldWhileSpinning_ ? 200 : 50));
  if (!store_) fail(ErrorCode::InvalidUsage, "Communicator::create: the store is null");
  if (size_ < 1) fail(ErrorCode::InvalidUsage, "Communicator::create: size {} must be at least 1", size_);
  if (rank_ < 0 || rank_ >= size_) {
    fail(ErrorCode::InvalidUsage, "Communicator::create: rank {} is outside 0..{}", rank_, size_ - 1);
  }
  const std::uint64_t id = givenId ? *givenId : takeCommunicatorId();
  name_ = fmt::format("communicator {}", id);
  id_ = static_cast<std::int64_t>(id);
  prefix_ = fmt::format("banyan/{}/", id);

  // Rank 0 draws the nonce every hello must carry; reading it is also the moment each rank
  // learns that rank 0 exists.
  const std::string nonceKey = prefix_ + "nonce";
  if (rank_ == 0) {
    const std::string text = std::to_string(randomNonce());
    store_->set(nonceKey, Store::Bytes(text.begin(), text.end()), config_.timeout);
  }
  const auto nonceBytes = store_->get(nonceKey, config_.timeout);
  std::uint64_t nonce = 0;
  const auto* text = reinterpret_cast<const char*>(nonceBytes.data());
  if (std::from_chars(text, text + nonceBytes.size(), nonce).ec != std::errc()) {
    fail(ErrorCode::Remote, "{}: the store holds a malformed '{}' (another program uses these keys?)", name_, nonceKey);
  }

  // The job key every TCP connection of this communicator proves it holds (docs/security.md).
  const auto key = security::communicatorKey(config_.auth, *store_, rank_, prefix_ + "authkey", config_.timeout);

  auto setup = runtime::setUpTransports(io_, store_, {rank_, size_, nonce, id, prefix_, "", key, nullptr}, config_);
  log::info(logAs(log::Subsystem::Init), "{}: rank {} of {} on {} host(s), {}; slice {} B, timeout {} ms", name_,
            rank_, size_, setup.layout.hostCount, setup.summary, config_.sliceBytes, config_.timeout.count());
  log::info(logAs(log::Subsystem::Init), "topology: {}", observe::topologySummary(setup.layout));
  log::info(logAs(log::Subsystem::Transport), "transports per peer: {}",
            observe::peerTransports(*setup.transport, rank_, size_));
  layout_ = std::move(setup.layout);
  transport_ = std::move(setup.transport);
  if (setup.sharedMemory && layout_.hostCount == 1 && config_.shmCollectives) {
    shmCollectives_ = std::make_unique<intrahost::ShmCollectives>(
        io_, store_,
        intrahost::ShmCollectivesParams{rank_, size_, fmt::format("banyan-{:016x}-c{}", nonce, id), prefix_,
                                        config_.crossMemoryBytes, config_.timeout, config_.checkCalls});
    log::info(logAs(log::Subsystem::Init),
              "{}: allreduce and allgather run directly in shared memory, except sizes a BANYAN_ALGO band forces "
              "onto a schedule",
              name_);
  }
  // Point-to-point gets connections of its own (see p2p/point_to_point.hpp); TCP ones form on
  // first use, shared-memory rings now. Its hellos carry a nonce of their own, so a connection
  // meant for one channel can never join the other.
  constexpr std::uint64_t kPointToPointNonce = 0x7032702d6e6f6e63ull;
  auto channel = runtime::setUpTransports(
      io_, store_, {rank_, size_, nonce ^ kPointToPointNonce, id, fmt::format("{}p2p/", prefix_), "p", key, setup.liveness}, config_, &layout_);
  p2pTransport_ = std::move(channel.transport);
  p2p_ = std::make_unique<p2p::PointToPoint>(*p2pTransport_, rank_, size_, config_.p2pEagerBytes, name_);
  if (setup.sharedMemory && layout_.localRanks.front() == rank_) {
    // A job killed while setting up may have left segments in /dev/shm; their creators are
    // gone. One rank per host sweeps, and only now: every segment of this communicator has been
    // created (replacing any stale one under its name) and mapped, so the sweep cannot race a
    // peer that is replacing a stale segment under one of our names.
    transport::shm::removeStale("/banyan-");
  }
  executor_ = std::make_unique<runtime::Executor>(
      *transport_, [this](std::function<void()> work) { asio::post(io_, std::move(work)); });
  if (!config_.tracePath.empty()) {
    const observe::RecorderIdentity identity{name_, id, rank_, size_};
    tracer_ = std::make_unique<observe::Tracer>(
        observe::FlightRecorder::expandPath(config_.tracePath, identity, static_cast<long>(getpid()), log::hostName()),
        rank_, id);
  }
  if (!config_.flightRecorderPath.empty()) {
    recorder_ = std::make_unique<observe::FlightRecorder>(observe::RecorderIdentity{name_, id, rank_, size_},
                                                          config_.flightRecorderSize, config_.flightRecorderPath);
  }
  // The topology probe measures links through the executor, driven from here: the progress
  // thread does not run yet.
  selector_ = runtime::makeSelector(*store_, rank_, size_, prefix_, layout_, config_,
                                    [this](int a, int b, std::size_t bulkBytes, auto deadline) {
                                      return runtime::measureLink(
                                          *executor_,
                                          [this] {
                                            // Yield when idle: the peer may need this core.
                                            if (transport_->poll() + io_.poll() == 0) sched_yield();
                                          },
                                          rank_, a, b,
                                          bulkBytes, deadline);
                                    },
                                    logAs(log::Subsystem::Tuning));
  plans_.setHosts(selector_->topology().hostOfRank);
  if (shmCollectives_) {
    selector_->setSharedMemory(
        [this](Collective kind, std::size_t bytes) { return shmCollectives_->handles(kind, bytes); }, "");
  } else {
    selector_->setSharedMemory({}, layout_.hostCount > 1 ? fmt::format("the communicator spans {} hosts", layout_.hostCount)
                                   : !setup.sharedMemory ? std::string("the transport is not shared memory")
                                                         : std::string("BANYAN_SHM_COLLECTIVES=0"));
  }
  // Traced from here on: the probe's measurements above are not the user's operations.
  if (tracer_) executor_->setTracer(tracer_.get());
  if (log::enabled(log::LogLevel::Info, log::Subsystem::Tuning)) {
    // The selector says "shm" itself where the shared-memory engine takes a call.
    for (const auto& line : observe::algorithmTable(
             {}, [this](Collective kind, std::size_t bytes) { return selector_->choose(kind, bytes).algorithm; })) {
      log::info(logAs(log::Subsystem::Tuning), "algorithms by bytes: {}", line);
    }
  }
  progress_ = std::thread([this] { progressLoop(); });
}

CommunicatorImpl::~CommunicatorImpl() { close(); }

void CommunicatorImpl::close() {
  std::lock_guard lock(closeMutex_);
  if (!progress_.joinable()) return;
  {
    std::lock_guard enqueue(enqueueMutex_);
    closed_ = true;  // refuse new work from here on
  }
  asio::post(io_, [this] {
    failEverything(Status::make(ErrorCode::Aborted, "{} was closed on rank {}", name_, rank_));
  });
  {
    // Whoever drives now runs the handler above, which ends every operation, and then stops
    // driving; if nobody drives, we run it here.
    std::lock_guard driver(driverMutex_);
    io_.poll();
  }
  {
    std::lock_guard wake(wakeMutex_);
    closing_ = true;
  }
  wake_.notify_all();
  progress_.join();
  if (tracer_) {
    executor_->setTracer(nullptr);
    tracer_.reset();  // writes the trace's closing "]"
  }
  shmCollectives_.reset();
  p2p_.reset();
  p2pTransport_.reset();
  transport_.reset();
}

// ---- enqueue (user thread) ------------------------------------------------------------

std::shared_ptr<WorkState> CommunicatorImpl::newState() {
  return std::make_shared<WorkState>(std::chrono::steady_clock::now() + config_.timeout, spin_, this);
}

Work CommunicatorImpl::enqueue(const Request& request, bool blocking) {
  validate(request);
  if (auto grouped = collectIfGrouped(&request, nullptr, blocking, name(request.kind))) return *grouped;
  auto state = newState();
  // A blocking call that finds nobody driving becomes the driver at once and queues its
  // operation itself, skipping a trip through the event loop (a post and a wake of epoll).
  std::unique_lock driver(driverMutex_, std::defer_lock);
  if (blocking) driver.try_lock();
  bool startHere = false;
  {
    // One lock orders sequence numbers and posts, so issue order is execution order even
    // when several user threads call at once.
    std::lock_guard lock(enqueueMutex_);
    if (closed_) fail(ErrorCode::InvalidUsage, "{} on {} after close() (rank {})", name(request.kind), name_, rank_);
    Pending pending{request, ++sequence_, state};
    recordQueued(pending);
    ++outstanding_;
    if (driver.owns_lock() && postedStarts_ == 0) {
      // Nothing posted is waiting to start before it, so queueing here keeps issue order; and
      // anything another thread posts from now on runs under driverMutex_, after us.
      queue_.push_back(std::move(pending));
      startHere = true;
    } else {
      ++postedStarts_;
      asio::post(io_, [this, pending = std::move(pending)]() mutable {
        --postedStarts_;
        queue_.push_back(std::move(pending));
        startNext();
      });
    }
  }
  // Outside enqueueMutex_: starting may complete operations, whose callbacks may enqueue more.
  if (startHere) startNext();
  if (!blocking) {
    // The caller goes back to computing: the progress thread drives. (A blocking caller
    // drives itself in Work::wait, and waking the progress thread would only race it.)
    std::lock_guard wake(wakeMutex_);
    wake_.notify_one();
  }
  return Work(state);
}

Work CommunicatorImpl::enqueue(const PointToPointRequest& request, bool blocking) {
  validate(request);
  if (auto grouped = collectIfGrouped(nullptr, &request, blocking, request.isSend ? "send" : "recv")) return *grouped;
  auto state = newState();
  // As for collectives: a blocking call that finds nobody driving starts its own send or
  // receive at once, skipping a trip through the event loop and a hand-off to the progress
  // thread; anything else is posted to the loop.
  std::unique_lock driver(driverMutex_, std::defer_lock);
  if (blocking) driver.try_lock();
  std::uint64_t number = 0;
  bool startHere = false;
  {
    // Started in issue order under one lock, so two sends to one peer with one tag leave in
    // the order they were called, even from several threads.
    std::lock_guard lock(enqueueMutex_);
    if (closed_) {
      fail(ErrorCode::InvalidUsage, "{} on {} after close() (rank {})", request.isSend ? "send" : "recv", name_, rank_);
    }
    number = ++p2pSequence_;
    ++outstanding_;
    if (driver.owns_lock() && postedPointToPoint_ == 0) {
      startHere = true;
    } else {
      ++postedPointToPoint_;
      asio::post(io_, [this, request, number, state] {
        --postedPointToPoint_;
        startPointToPoint(request, number, state);
      });
    }
  }
  if (startHere) startPointToPoint(request, number, state);
  if (!blocking) {
    std::lock_guard wake(wakeMutex_);
    wake_.notify_one();
  }
  return Work(state);
}

// ---- groups ---------------------------------------------------------------------------

void CommunicatorImpl::groupStart() {
  std::lock_guard lock(groupMutex_);
  if (groupDepth_ > 0 && groupOwner_ != std::this_thread::get_id()) {
    fail(ErrorCode::InvalidUsage, "groupStart on {}: another thread has a group open (rank {})", name_, rank_);
  }
  groupOwner_ = std::this_thread::get_id();
  ++groupDepth_;
  groupOpen_ = true;
}

std::optional<Work> CommunicatorImpl::collectIfGrouped(const Request* collective,
                                                       const PointToPointRequest* pointToPoint, bool blocking,
                                                       const char* what) {
  if (!groupOpen_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(groupMutex_);
  if (groupDepth_ == 0 || groupOwner_ != std::this_thread::get_id()) return std::nullopt;
  if (blocking) {
    fail(ErrorCode::InvalidUsage,
         "blocking {} inside a group on {} would wait for itself (groupEnd starts the group's calls); use the Async "
         "call (rank {})", what, name_, rank_);
  }
  Grouped call;
  if (collective != nullptr) call.collective = *collective;
  if (pointToPoint != nullptr) call.pointToPoint = *pointToPoint;
  call.state = newState();
  grouped_.push_back(call);
  return Work(call.state);
}

namespace {

// Allreduces up to this size (each) are fused in a group: below it a call's cost is mostly
// per-message latency, which fusing pays once; above it the packing copies start to cost more
// than the latency they save. A fused call carries at most kFusedBytes.
constexpr std::size_t kFuseEachBytes = 256 * 1024;
constexpr std::size_t kFusedBytes = 4 * 1024 * 1024;

bool fusable(const Request& r) {
  return r.kind == Collective::Allreduce && r.count * dataTypeSize(r.type) <= kFuseEachBytes;
}

bool sameReduction(const Request& a, const Request& b) {
  return a.type == b.type && a.op == b.op && a.premulFactor == b.premulFactor;
}

}  // namespace

Work CommunicatorImpl::groupEnd() {
  std::vector<Grouped> calls;
  {
    std::lock_guard lock(groupMutex_);
    if (groupDepth_ == 0 || groupOwner_ != std::this_thread::get_id()) {
      fail(ErrorCode::InvalidUsage, "groupEnd on {} without a groupStart on this thread (rank {})", name_, rank_);
    }
    if (--groupDepth_ > 0) return Work();  // an inner group: the outermost end issues
    calls.swap(grouped_);
    groupOpen_ = false;
  }
  if (calls.empty()) return Work();

  // The group's own Work ends when every call has, with the first error.
  auto group = std::make_shared<WorkState>(calls.back().state->deadline(), spin_, this);
  struct Tally {
    std::mutex mutex;
    std::size_t remaining;
    Status first;
  };
  auto tally = std::make_shared<Tally>();
  tally->remaining = calls.size();
  for (const auto& call : calls) {
    call.state->addAfterDone([tally, group](const std::optional<Error>& error) {
      Status status;
      {
        std::lock_guard lock(tally->mutex);
        if (error && tally->first.isOk()) tally->first = Status(error->code(), error->detail());
        if (--tally->remaining > 0) return;
        status = tally->first;
      }
      group->complete(status);
    });
  }

  // Runs of consecutive small allreduces (among the group's collectives) with one reduction
  // become one fused allreduce; its parts' Works end when it does.
  std::vector<Grouped> batch;
  std::size_t runStart = 0;  // index into batch of the open run's first collective
  bool runOpen = false;
  for (auto& call : calls) {
    if (!call.collective) {
      batch.push_back(std::move(call));
      continue;
    }
    const Request& r = *call.collective;
    Grouped* head = runOpen ? &batch[runStart] : nullptr;
    if (head != nullptr && fusable(r) && sameReduction(*head->collective, r) &&
        (head->collective->count + r.count) * dataTypeSize(r.type) <= kFusedBytes) {
      Request& fused = *head->collective;
      if (!fused.fused) {
        // The run's first call becomes the fused call's first part.
        auto parts = std::make_shared<FusedAllreduce>();
        parts->parts.push_back({fused.send, fused.recv, fused.count, head->state});
        fused.fused = parts;
        head->state = std::make_shared<WorkState>(head->state->deadline(), spin_, this);
        // Whichever way the fused call ends (run, failed, or dropped from the queue by a
        // failure or close), its parts end with it. After a run they have ended already, with
        // their results unpacked; complete() is first-call-wins.
        head->state->addCallback([parts](const std::optional<Error>& error) {
          const Status status = error ? Status(error->code(), error->detail()) : Status::ok();
          for (const auto& part : parts->parts) part.state->complete(status);
        });
      }
      fused.fused->parts.push_back({r.send, r.recv, r.count, call.state});
      fused.count += r.count;
      continue;
    }
    runOpen = fusable(r);
    runStart = batch.size();
    batch.push_back(std::move(call));
  }

  {
    std::lock_guard lock(enqueueMutex_);
    if (closed_) {
      const Status closed = Status::make(ErrorCode::InvalidUsage, "groupEnd on {} after close() (rank {})", name_, rank_);
      for (auto& call : batch) {
        if (call.collective && call.collective->fused) {
          for (auto& part : call.collective->fused->parts) part.state->complete(closed);
        } else {
          call.state->complete(closed);
        }
      }
      return Work(group);
    }
    struct Start {
      std::optional<Pending> collective;
      std::optional<PointToPointRequest> pointToPoint;
      std::uint64_t number = 0;
      std::shared_ptr<WorkState> state;
    };
    std::vector<Start> starts;
    for (auto& call : batch) {
      ++outstanding_;
      if (call.collective) {
        starts.push_back({Pending{*call.collective, ++sequence_, call.state}, std::nullopt, 0, nullptr});
        recordQueued(*starts.back().collective);
      } else {
        starts.push_back({std::nullopt, call.pointToPoint, ++p2pSequence_, call.state});
      }
    }
    ++postedStarts_;
    ++postedPointToPoint_;
    asio::post(io_, [this, starts = std::move(starts)]() mutable {
      --postedStarts_;
      --postedPointToPoint_;
      for (auto& start : starts) {
        if (start.collective) {
          queue_.push_back(std::move(*start.collective));
        } else {
          startPointToPoint(*start.pointToPoint, start.number, start.state);
        }
      }
      startNext();
    });
  }
  std::lock_guard wake(wakeMutex_);
  wake_.notify_one();
  return Work(group);
}

void CommunicatorImpl::validate(const PointToPointRequest& r) const {
  const char* what = r.isSend ? "send" : "recv";
  if (!isValid(r.type)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid data type (value {}) on rank {}", what, static_cast<int>(r.type), rank_);
  }
  const bool anySource = !r.isSend && r.peer == Communicator::kAnySource;
  if (!anySource && (r.peer < 0 || r.peer >= size_)) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): peer {} is outside 0..{}{} on rank {}", what, r.count, r.peer,
         size_ - 1, r.isSend ? "" : " (or kAnySource)", rank_);
  }
  if (r.tag < 0) fail(ErrorCode::InvalidUsage, "{}(count={}): tag {} is negative on rank {}", what, r.count, r.tag, rank_);
  if (r.count > (std::size_t{1} << 60) / dataTypeSize(r.type)) {
    fail(ErrorCode::InvalidUsage, "{}: count {} of {} overflows the address space on rank {}", what, r.count,
         toString(r.type), rank_);
  }
  if (r.count > 0 && (r.isSend ? r.send == nullptr : r.recv == nullptr)) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): buffer is null on rank {}", what, r.count, rank_);
  }
}

// "send #3 to rank 2 (count=16, f32, tag=5) on rank 0 of 4"
std::string CommunicatorImpl::describe(const PointToPointRequest& r, std::uint64_t number) const {
  const std::string peer = r.peer == Communicator::kAnySource ? "any rank" : fmt::format("rank {}", r.peer);
  return fmt::format("{} #{} {} {} (count={}, {}, tag={}) on rank {} of {}", r.isSend ? "send" : "recv", number,
                     r.isSend ? "to" : "from", peer, r.count, toString(r.type), r.tag, rank_, size_);
}

// Rejects what would crash or corrupt, naming the argument, before anything is queued.
void CommunicatorImpl::validate(const Request& r) const {
  const char* what = name(r.kind);
  if (!isValid(r.type)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid data type (value {}) on rank {}", what, static_cast<int>(r.type), rank_);
  }
  if (!isValid(r.op)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid reduce op (value {}) on rank {}", what, static_cast<int>(r.op), rank_);
  }
  if (reduces(r.kind) && !isDefined(r.type, r.op)) {
    fail(ErrorCode::InvalidUsage, "{}: {} is not defined on {} (bitwise ops need an integer type) on rank {}", what,
         toString(r.op), toString(r.type), rank_);
  }
  if (r.premulFactor) {
    const bool floating = r.type == DataType::f32 || r.type == DataType::f64 || r.type == DataType::f16 ||
                          r.type == DataType::bf16;
    if (!floating) {
      fail(ErrorCode::InvalidUsage, "{}: premul_sum needs a floating-point type, not {}, on rank {}", what,
           toString(r.type), rank_);
    }
    if (!std::isfinite(*r.premulFactor)) {
      fail(ErrorCode::InvalidUsage, "{}: premul_sum factor {} is not finite on rank {}", what, *r.premulFactor, rank_);
    }
  }
  if (isRooted(r.kind) && (r.root < 0 || r.root >= size_)) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): root {} is outside 0..{} on rank {}", what, r.count, r.root, size_ - 1,
         rank_);
  }
  if (r.kind == Collective::Alltoallv) return validateBlocks(r);
  const std::size_t element = dataTypeSize(r.type);
  // Buffers hold up to size * count elements (allgather, reduce-scatter, gather, alltoall).
  if (r.count > std::numeric_limits<std::size_t>::max() / element / static_cast<std::size_t>(size_) ||
      r.count > (std::size_t{1} << 60)) {
    fail(ErrorCode::InvalidUsage, "{}: count {} of {} overflows the address space on rank {}", what, r.count,
         toString(r.type), rank_);
  }
  if (r.count == 0) return;
  validateBuffers(r);
}

// Null buffers and overlap, for a request whose count is not zero. Each collective says how
// many elements this rank's send and receive buffers hold (zero: the rank has no such buffer,
// and it may be null), and where the send buffer sits when the call is in place.
void CommunicatorImpl::validateBuffers(const Request& r) const {
  const char* what = name(r.kind);
  const std::size_t n = static_cast<std::size_t>(size_);
  const bool isRoot = rank_ == r.root;
  const std::size_t c = r.count;
  std::size_t sendElements = c, recvElements = c;
  // In place, by convention per collective: the send buffer equals the receive buffer
  // (SameBuffer), is the receive buffer's block `block` (SendIsBlock), or contains the receive
  // buffer as its block `block` (RecvIsBlock).
  enum class InPlace { SameBuffer, SendIsBlock, RecvIsBlock, Never } inPlace = InPlace::SameBuffer;
  int block = rank_;
  const char* inPlaceRule = "send == recv";
  switch (r.kind) {
    case Collective::Allreduce:
      break;
    case Collective::Allgather:
      recvElements = n * c;
      inPlace = InPlace::SendIsBlock;
      inPlaceRule = "send == recv + rank * count * element size";
      break;
    case Collective::ReduceScatter:
      sendElements = n * c;
      inPlace = InPlace::RecvIsBlock;
      inPlaceRule = "recv == send + rank * recvCount * element size";
      break;
    case Collective::Broadcast:
      sendElements = isRoot ? c : 0;
      break;
    case Collective::Reduce:
      recvElements = isRoot ? c : 0;
      break;
    case Collective::Gather:
      recvElements = isRoot ? n * c : 0;
      inPlace = InPlace::SendIsBlock;
      block = r.root;
      inPlaceRule = "on the root, send == recv + root * count * element size";
      break;
    case Collective::Scatter:
      sendElements = isRoot ? n * c : 0;
      inPlace = InPlace::RecvIsBlock;
      block = r.root;
      inPlaceRule = "on the root, recv == send + root * count * element size";
      break;
    case Collective::Alltoall:
      sendElements = recvElements = n * c;
      inPlace = InPlace::Never;
      break;
    case Collective::Barrier:
    case Collective::Alltoallv:  // validateBlocks
      return;
  }
  if (sendElements > 0 && r.send == nullptr) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): send buffer is null on rank {}", what, r.count, rank_);
  }
  if (recvElements > 0 && r.recv == nullptr) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): receive buffer is null on rank {}", what, r.count, rank_);
  }
  if (sendElements == 0 || recvElements == 0) return;  // one buffer: nothing can overlap

  // Out of place, the buffers must not overlap: the schedule would read what it already wrote.
  const std::size_t element = dataTypeSize(r.type);
  const auto* sendBegin = static_cast<const std::byte*>(r.send);
  const auto* recvBegin = static_cast<const std::byte*>(r.recv);
  const std::size_t blockBytes = static_cast<std::size_t>(block) * c * element;
  const bool overlap = sendBegin < recvBegin + recvElements * element && recvBegin < sendBegin + sendElements * element;
  if (!overlap) return;
  bool isInPlace = false;
  switch (inPlace) {
    case InPlace::SameBuffer: isInPlace = sendBegin == recvBegin; break;
    case InPlace::SendIsBlock: isInPlace = sendBegin == recvBegin + blockBytes; break;
    case InPlace::RecvIsBlock: isInPlace = recvBegin == sendBegin + blockBytes; break;
    case InPlace::Never:
      // The pairwise schedule would overwrite a block before sending it; copying the input
      // aside would hide a second buffer of the full size, so the caller decides.
      fail(ErrorCode::InvalidUsage,
           "{}(count={}): send and receive buffers overlap on rank {}; {} works out of place only (copy the "
           "input to a separate buffer first)",
           what, r.count, rank_, what);
  }
  if (!isInPlace) {
    fail(ErrorCode::InvalidUsage,
         "{}(count={}): send and receive buffers overlap without being in place on rank {} (in place means {})", what,
         r.count, rank_, inPlaceRule);
  }
}

// Alltoallv: four tables of size() entries, blocks that fit the address space, receive blocks
// that do not overlap, and send and receive buffers that do not overlap (out of place only).
void CommunicatorImpl::validateBlocks(const Request& r) const {
  const BlockTables& t = *r.blocks;
  const std::size_t n = static_cast<std::size_t>(size_);
  const std::pair<const char*, const std::vector<std::size_t>*> tables[] = {
      {"sendCounts", &t.sendCounts}, {"sendOffsets", &t.sendOffsets},
      {"recvCounts", &t.recvCounts}, {"recvOffsets", &t.recvOffsets}};
  for (const auto& [label, table] : tables) {
    if (table->size() != n) {
      fail(ErrorCode::InvalidUsage, "alltoallv: {} has {} entries, expected one per rank ({}) on rank {}", label,
           table->size(), n, rank_);
    }
  }
  const std::size_t element = dataTypeSize(r.type);
  const std::size_t limit = (std::size_t{1} << 60) / element;
  // Extent of each buffer in elements, checking every block on the way.
  const auto extent = [&](const std::vector<std::size_t>& counts, const std::vector<std::size_t>& offsets,
                          const char* side) {
    std::size_t end = 0;
    for (std::size_t p = 0; p < n; ++p) {
      if (counts[p] > limit || offsets[p] > limit - counts[p]) {
        fail(ErrorCode::InvalidUsage, "alltoallv: {} block for rank {} (offset {}, count {}) overflows the address "
             "space on rank {}", side, p, offsets[p], counts[p], rank_);
      }
      if (counts[p] != 0) end = std::max(end, offsets[p] + counts[p]);
    }
    return end;
  };
  const std::size_t sendEnd = extent(t.sendCounts, t.sendOffsets, "send");
  const std::size_t recvEnd = extent(t.recvCounts, t.recvOffsets, "receive");
  if (sendEnd > 0 && r.send == nullptr) {
    fail(ErrorCode::InvalidUsage, "alltoallv: send buffer is null but sendCounts are not all zero on rank {}", rank_);
  }
  if (recvEnd > 0 && r.recv == nullptr) {
    fail(ErrorCode::InvalidUsage, "alltoallv: receive buffer is null but recvCounts are not all zero on rank {}", rank_);
  }
  // Receive blocks must not overlap: sort them by offset and compare neighbours.
  std::vector<std::size_t> order;
  for (std::size_t p = 0; p < n; ++p) {
    if (t.recvCounts[p] != 0) order.push_back(p);
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t.recvOffsets[a] < t.recvOffsets[b]; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const std::size_t before = order[i - 1], after = order[i];
    if (t.recvOffsets[before] + t.recvCounts[before] > t.recvOffsets[after]) {
      fail(ErrorCode::InvalidUsage, "alltoallv: receive blocks from ranks {} and {} overlap on rank {}", before, after,
           rank_);
    }
  }
  if (sendEnd == 0 || recvEnd == 0) return;
  const auto* sendBegin = static_cast<const std::byte*>(r.send);
  const auto* recvBegin = static_cast<const std::byte*>(r.recv);
  if (sendBegin < recvBegin + recvEnd * element && recvBegin < sendBegin + sendEnd * element) {
    fail(ErrorCode::InvalidUsage,
         "alltoallv: send and receive buffers overlap on rank {}; alltoallv works out of place only", rank_);
  }
}

const char* CommunicatorImpl::name(Collective kind) { return apiName(kind); }

void CommunicatorImpl::recordQueued(const Pending& p) {
  if (!recorder_) return;
  const Request& r = p.request;
  observe::CallDetails details;
  if (r.fused) details.fusedCalls = r.fused->parts.size();
  details.premulFactor = r.premulFactor;
  if (reduces(r.kind)) details.op = toString(r.op);
  if (isRooted(r.kind)) details.root = r.root;
  recorder_->queued(p.sequence, name(r.kind), r.count, r.count * dataTypeSize(r.type), r.type, details);
}

// "broadcast #7 (count=1024, f32, root=2) on rank 1 of 4"; the op only where it matters.
std::string CommunicatorImpl::describe(const Pending& p) const {
  const Request& r = p.request;
  if (r.kind == Collective::Barrier) return fmt::format("barrier #{} on rank {} of {}", p.sequence, rank_, size_);
  std::string details = fmt::format("count={}, {}", r.count, toString(r.type));
  if (r.fused) details += fmt::format(", {} calls fused", r.fused->parts.size());
  if (r.premulFactor) {
    details += fmt::format(", premul_sum({})", *r.premulFactor);
  } else if (reduces(r.kind)) {
    details += fmt::format(", {}", toString(r.op));
  }
  if (isRooted(r.kind)) details += fmt::format(", root={}", r.root);
  return fmt::format("{} #{} ({}) on rank {} of {}", name(r.kind), p.sequence, details, rank_, size_);
}

}  // namespace detail
}  // namespace banyan

// A communicator's set-up and close: the collaborators of communicator_impl.hpp built in order,
// wired together, and taken down.

#include "runtime/communicator_impl.hpp"

#include "bootstrap/counting_store.hpp"
#include "bootstrap/store_roots.hpp"
#include "common/log.hpp"
#include "observe/communicator_summary.hpp"
#include "runtime/link_probe.hpp"
#include "runtime/selector_setup.hpp"
#include "security/key_source.hpp"
#include "transports/shm/segment.hpp"

#include <fmt/ranges.h>
#include <unistd.h>

#include <sched.h>
#include <charconv>
#include <random>
#include <thread>

namespace banyan::detail {

namespace {

std::atomic<std::uint64_t> gCommunicatorCount{0};  // see takeCommunicatorId

std::uint64_t randomNonce() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device() ^ 1;
}

// A rank that has a core to itself spins with `pause`; when ranks outnumber cores it spins
// with sched_yield, so the peer it waits for gets the core (measured, 4 ranks on 2 cores,
// 8 B allreduce: blocking at once 60-70 us, yield-spin 200 us ~29 us; 2 ranks: pause-spin
// 50 us ~7 us against ~14-40 us blocking). Without a topology probe yet, the job is assumed
// to share this host.
bool ranksOutnumberCores(int size) { return static_cast<unsigned>(size) > std::thread::hardware_concurrency(); }

std::chrono::microseconds spinWindow(const config::Config& config, int size) {
  return config.spin.value_or(std::chrono::microseconds(ranksOutnumberCores(size) ? 200 : 50));
}

// The communicator's view of the store: every request counted (the INFO summary says how many
// its creation made). Null stays null, for the constructor to refuse.
std::shared_ptr<bootstrap::CountingStore> counted(std::shared_ptr<Store> store) {
  return store ? std::make_shared<bootstrap::CountingStore>(std::move(store)) : nullptr;
}

// With several store roots, the requests this process sent each so far: ", per store root [3, 5]".
std::string requestsPerRoot(const Store& store) {
  const auto* roots = bootstrap::findRoots(store);
  return roots ? fmt::format(", per store root so far [{}]", fmt::join(roots->requestsPerRoot(), ", ")) : "";
}

}  // namespace

std::uint64_t takeCommunicatorId() { return gCommunicatorCount++; }

CommunicatorImpl::CommunicatorImpl(std::shared_ptr<Store> store, int rank, int size, const Options& options,
                                   std::optional<std::uint64_t> givenId, Family family)
    : options_(options),
      config_(config::resolve(options)),
      storeCount_(counted(std::move(store))),
      store_(storeCount_),
      driver_(family.driver ? std::move(family.driver)
                            : std::make_shared<ProgressDriver>(spinWindow(config_, size), ranksOutnumberCores(size))),
      share_(config_.shareConnections ? std::move(family.share) : runtime::ConnectionShare{}) {
  log::setLevel(config_.logLevel);
  log::setSubsystems(config_.logSubsystems);
  if (!store_) fail(ErrorCode::InvalidUsage, "Communicator::create: the store is null");
  if (size < 1) fail(ErrorCode::InvalidUsage, "Communicator::create: size {} must be at least 1", size);
  if (rank < 0 || rank >= size) {
    fail(ErrorCode::InvalidUsage, "Communicator::create: rank {} is outside 0..{}", rank, size - 1);
  }
  const std::uint64_t id = givenId ? *givenId : takeCommunicatorId();
  identity_ = Identity{rank, size, static_cast<std::int64_t>(id), fmt::format("communicator {}", id),
                       fmt::format("banyan/{}/", id)};
  member_ = driver_->join();
  executor_ = memberExecutor(driver_->io(), member_);
  // A member of a running family sets up holding the driver lock from its first object on the
  // event loop (the transports) to its last engine: until then no handler of its own may run on
  // the progress thread. The family's other operations wait meanwhile (docs/architecture.md).
  std::unique_lock<std::mutex> creating;
  try {
    setUp(creating);
  } catch (...) {
    if (!creating.owns_lock() && driver_->started()) creating = driver_->takeOver();
    leaveFamily();
    p2p_.reset();
    p2pTransport_.reset();
    transport_.reset();
    connections_.reset();
    if (creating.owns_lock()) driver_->handBack(std::move(creating));
    if (driver_->leave()) driver_->stop();
    throw;
  }
  if (creating.owns_lock()) {
    driver_->handBack(std::move(creating));
  } else {
    driver_->start();
  }
}

void CommunicatorImpl::setUp(std::unique_lock<std::mutex>& creating) {
  const int rank = identity_.rank, size = identity_.size;
  const auto id = static_cast<std::uint64_t>(identity_.number);
  const std::uint64_t nonce = agreeNonce();
  // The job key every TCP connection of this communicator proves it holds (docs/security.md).
  const auto key = security::communicatorKey(config_.auth, *store_, rank,
                                             bootstrap::everyRootKey(identity_.prefix, "authkey"), config_.timeout);
  control_ = std::make_unique<resilience::ControlPlane>(
      rank, size, nonce, runtime::listenAddress(*store_, config_),
      resilience::LivenessSettings{config_.heartbeat, config_.heartbeatMisses}, identity_.name, identity_.number);
  if (driver_->started()) creating = driver_->takeOver();
  // Connections of its own, unless every rank can send through its family's (decided from what
  // all ranks publish with their host identities).
  auto own = std::make_shared<runtime::SharedConnections>(driver_, nonce);
  runtime::TransportParams params{rank, size, nonce, id, identity_.prefix, "", key, nullptr, control_->address()};
  if (share_.connections) {
    params.connectionRank = share_.rank;
    params.connectionsId = share_.connections->id();
  }
  auto setup = runtime::setUpTransports(own->executor(), store_, params, config_);
  if (setup.connectionRanks.empty()) {
    connections_ = std::move(own);
  } else {
    own.reset();
    connections_ = share_.connections;
    connectionRanks_ = setup.connectionRanks;
    setup.transport = connections_->collectives->openChannels({nonce, connectionRanks_}, executor_);
    for (int r = 0; r < size; ++r) setup.sharedMemory |= r != rank && setup.transport->transportOf(r) == "shm";
  }
  log::info(identity_.logAs(log::Subsystem::Init), "{}: rank {} of {} on {} host(s), {}; slice {} B, timeout {} ms",
            identity_.name, rank, size, setup.layout.hostCount, setup.summary, config_.sliceBytes,
            config_.timeout.count());
  log::info(identity_.logAs(log::Subsystem::Init), "topology: {}", observe::topologySummary(setup.layout));
  log::info(identity_.logAs(log::Subsystem::Transport), "transports per peer: {}",
            observe::peerTransports(*setup.transport, rank, size));
  // Heartbeats from here on: the rest of set-up (the link probe above all) can take seconds on
  // a loaded machine, and neighbours that finished theirs watch this rank already.
  startControlPlane(setup);
  try {
    setUpEngines(setup, nonce, key);
    setUpObservers();
    setUpSelector(setup);
  } catch (const Error& e) {
    throwLossBehind(e);
    // This rank is going: its peers should hear why, not find it gone.
    control_->leave(fmt::format("{} could not be set up on rank {}: {}", identity_.name, identity_.rank, e.detail()));
    control_->sayGoodbye();
    throw;
  }
  failures_ = std::make_unique<FailureAccounts>(store_, identity_, config_.timeout, *control_);
  runner_ =
      std::make_unique<OperationRunner>(RunnerParts{*driver_, executor_, *schedule_, shm_.get(), *p2p_, *selector_,
                                                    *failures_, *control_, recorder_.get(), tracer_.get()},
                                        identity_, config_);
  front_ = std::make_unique<ApiFront>(identity_, config_.timeout, *driver_, executor_, *runner_, recorder_.get());
  logAlgorithmTable();
  log::info(identity_.logAs(log::Subsystem::Init), "{}: created with {} store requests from rank {}{}{}",
            identity_.name, storeCount_->requests(), rank, requestsPerRoot(*store_),
            creating.owns_lock() ? ", sharing its parent's event loop" : "");
}

Family CommunicatorImpl::family() {
  std::lock_guard lock(closeMutex_);
  if (closed_)
    fail(ErrorCode::InvalidUsage, "{} is closed on rank {}: no communicator can share its event loop", identity_.name,
         identity_.rank);
  Family family{driver_, {}};
  if (!connectionRanks_.empty()) {
    family.share = {connections_, connectionRanks_[static_cast<std::size_t>(identity_.rank)]};
  }
  return family;
}

// Holding the driver lock (or before the progress thread runs): no handler of this communicator
// runs from here on, and the driver polls none of its engines.
void CommunicatorImpl::leaveFamily() {
  member_->on.store(false, std::memory_order_release);
  for (const Engine* engine : {static_cast<const Engine*>(schedule_.get()), static_cast<const Engine*>(shm_.get()),
                               static_cast<const Engine*>(p2p_.get())}) {
    if (engine) driver_->removeEngine(*engine);
  }
}

// Set-up failed (a store wait timed out, a peer's segment never came): if a rank was lost
// meanwhile, say so, as an operation would. The notice may still be on its way.
void CommunicatorImpl::throwLossBehind(const Error& failed) {
  constexpr std::chrono::milliseconds kNoticeWait{300};
  if (auto loss = control_->firstLoss(kNoticeWait)) {
    fail(ErrorCode::Remote, "{}: set-up on rank {} failed: {} (this rank saw: {})", identity_.name, identity_.rank,
         control_->describe(*loss), failed.detail());
  }
}

// A loss or a revocation the control channel hears of ends every operation here, through the
// event loop: whoever drives runs it, or the next call does. (One heard before the runner
// exists, during set-up, reaches the first operation through OperationRunner::noticeBreak.)
void CommunicatorImpl::startControlPlane(const runtime::TransportSetup& setup) {
  control_->setListener([this](const Status& why) {
    asio::post(executor_, [this, why] {
      if (runner_) runner_->breakAfterGrace(why);
    });
    driver_->wakeProgressThread();
  });
  control_->start(setup.controlAddresses, setup.liveness);
  log::info(identity_.logAs(log::Subsystem::Init), "{}: control channel on {}, heartbeats {}", identity_.name,
            control_->address(),
            config_.heartbeat.count() > 0
                ? fmt::format("every {} ms, lost after {} missed", config_.heartbeat.count(), config_.heartbeatMisses)
                : std::string("off"));
}

void CommunicatorImpl::revoke() { control_->revoke(fmt::format("revoke() was called on rank {}", identity_.rank)); }

// Rank 0 draws the nonce every hello must carry; reading it is also the moment each rank
// learns that rank 0 exists.
std::uint64_t CommunicatorImpl::agreeNonce() {
  const std::string nonceKey = bootstrap::everyRootKey(identity_.prefix, "nonce");
  if (identity_.rank == 0) {
    const std::string text = std::to_string(randomNonce());
    store_->set(nonceKey, Store::Bytes(text.begin(), text.end()), config_.timeout);
  }
  const auto nonceBytes = store_->get(nonceKey, config_.timeout);
  std::uint64_t nonce = 0;
  const auto* text = reinterpret_cast<const char*>(nonceBytes.data());
  if (std::from_chars(text, text + nonceBytes.size(), nonce).ec != std::errc()) {
    fail(ErrorCode::Remote, "{}: the store holds a malformed '{}' (another program uses these keys?)", identity_.name,
         nonceKey);
  }
  return nonce;
}

// The engines, in the order the driver polls them: schedules over the collectives' transport,
// the shared-memory engine (when every rank is on this host), point-to-point.
void CommunicatorImpl::setUpEngines(runtime::TransportSetup& setup, std::uint64_t nonce,
                                    const std::optional<security::JobKey>& key) {
  const int rank = identity_.rank, size = identity_.size;
  const auto id = static_cast<std::uint64_t>(identity_.number);
  layout_ = std::move(setup.layout);
  setUpConnections(setup, nonce, key);
  schedule_ = std::make_unique<runtime::ScheduleEngine>(
      *transport_, [this](std::function<void()> work) { asio::post(executor_, std::move(work)); }, rank, size,
      config_.sliceBytes);
  driver_->addEngine(*schedule_);
  if (setup.sharedMemory && layout_.hostCount == 1 && config_.shmCollectives) {
    shm_ = std::make_unique<intrahost::ShmCollectives>(
        executor_, store_,
        intrahost::ShmCollectivesParams{rank, size, transport::shm::communicatorSegmentName(nonce, id),
                                        identity_.prefix, config_.crossMemoryBytes, config_.timeout, config_.checkCalls,
                                        setup.liveness});
    driver_->addEngine(*shm_);
    log::info(identity_.logAs(log::Subsystem::Init),
              "{}: allreduce and allgather run directly in shared memory, except sizes a BANYAN_ALGO band forces "
              "onto a schedule",
              identity_.name);
  }
  p2p_ = std::make_unique<p2p::PointToPoint>(*p2pTransport_, rank, size, config_.p2pEagerBytes, identity_.name);
  driver_->addEngine(*p2p_);
  if (setup.sharedMemory && layout_.localRanks.front() == rank) {
    // A job killed while setting up may have left segments in /dev/shm; their creators are
    // gone. One rank per host sweeps, and only now: every segment of this communicator has been
    // created (replacing any stale one under its name) and mapped, so the sweep cannot race a
    // peer that is replacing a stale segment under one of our names.
    transport::shm::removeStale("/banyan-");
  }
}

void CommunicatorImpl::setUpConnections(runtime::TransportSetup& setup, std::uint64_t nonce,
                                        const std::optional<security::JobKey>& key) {
  const int rank = identity_.rank, size = identity_.size;
  if (!connectionRanks_.empty()) {
    transport_ = std::move(setup.transport);
    p2pTransport_ = connections_->pointToPoint->openChannels({nonce, connectionRanks_}, executor_);
    return;
  }
  // Point-to-point gets connections of its own (see p2p/point_to_point.hpp); TCP ones form on
  // first use, shared-memory rings now. Its hellos carry a nonce of their own, so a connection
  // meant for one channel can never join the other.
  constexpr std::uint64_t kPointToPointNonce = 0x7032702d6e6f6e63ull;
  auto pointToPoint =
      runtime::setUpTransports(connections_->executor(), store_,
                               {rank, size, nonce ^ kPointToPointNonce, static_cast<std::uint64_t>(identity_.number),
                                fmt::format("{}p2p/", identity_.prefix), "p", key, setup.liveness, ""},
                               config_, &layout_);
  // This communicator's own messages go on a channel too (numbered with its nonce), so that the
  // connections can outlive it for the communicators made from it, and nothing of theirs runs on
  // its executor. Always, whatever BANYAN_SHARE_CONNECTIONS says: every rank must put a pair's
  // messages on the same channel. A transport that cannot carry channels (ofi) is used as it is,
  // and then no communicator made from this one can share (every rank learns that from the
  // others' published shares).
  std::vector<int> ranks(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) ranks[static_cast<std::size_t>(r)] = r;
  using Unshared = transport::PerPeerTransport::Unshared;
  bool borrowedCollectives = false, borrowedPoints = false;
  transport_ = setup.transport->openChannels({nonce, ranks}, executor_, Unshared::Borrow, &borrowedCollectives);
  p2pTransport_ = pointToPoint.transport->openChannels({nonce, ranks}, executor_, Unshared::Borrow, &borrowedPoints);
  connections_->collectives = std::move(setup.transport);
  connections_->pointToPoint = std::move(pointToPoint.transport);
  if (config_.shareConnections && !borrowedCollectives && !borrowedPoints) connectionRanks_ = std::move(ranks);
}

void CommunicatorImpl::setUpObservers() {
  const auto id = static_cast<std::uint64_t>(identity_.number);
  const observe::RecorderIdentity who{identity_.name, id, identity_.rank, identity_.size};
  if (!config_.tracePath.empty()) {
    tracer_ = std::make_unique<observe::Tracer>(
        observe::FlightRecorder::expandPath(config_.tracePath, who, static_cast<long>(getpid()), log::hostName()),
        identity_.rank, id);
  }
  if (!config_.flightRecorderPath.empty()) {
    recorder_ = std::make_unique<observe::FlightRecorder>(who, config_.flightRecorderSize, config_.flightRecorderPath);
  }
}

// The topology probe measures links through the executor, driven from here: the progress
// thread does not run yet.
void CommunicatorImpl::setUpSelector(const runtime::TransportSetup& setup) {
  const auto measure = [this](int a, int b, std::size_t bulkBytes, auto deadline) {
    const auto pollOnce = [this] {
      // Yield when idle: the peer may need this core.
      if (schedule_->poll() + driver_->io().poll() == 0) sched_yield();
    };
    return runtime::measureLink(schedule_->executor(), pollOnce, identity_.rank, a, b, bulkBytes, deadline);
  };
  selector_ = runtime::makeSelector(*store_, identity_.rank, identity_.size, identity_.prefix, layout_, config_,
                                    measure, identity_.logAs(log::Subsystem::Tuning));
  schedule_->setHosts(selector_->topology().hostOfRank);
  if (shm_) {
    selector_->setSharedMemory([this](Collective kind, std::size_t bytes) { return shm_->handles(kind, bytes); }, "");
  } else {
    selector_->setSharedMemory({}, layout_.hostCount > 1
                                       ? fmt::format("the communicator spans {} hosts", layout_.hostCount)
                                   : !setup.sharedMemory ? std::string("the transport is not shared memory")
                                                         : std::string("BANYAN_SHM_COLLECTIVES=0"));
  }
  // Traced from here on: the probe's measurements above are not the user's operations.
  if (tracer_) schedule_->executor().setTracer(tracer_.get());
}

void CommunicatorImpl::logAlgorithmTable() const {
  if (!log::enabled(log::LogLevel::Info, log::Subsystem::Tuning)) return;
  // The selector says "shm" itself where the shared-memory engine takes a call.
  for (const auto& line : observe::algorithmTable(
           {}, [this](Collective kind, std::size_t bytes) { return selector_->choose(kind, bytes).algorithm; })) {
    log::info(identity_.logAs(log::Subsystem::Tuning), "algorithms by bytes: {}", line);
  }
}

CommunicatorImpl::~CommunicatorImpl() { close(); }

void CommunicatorImpl::close() {
  std::lock_guard lock(closeMutex_);
  if (closed_) return;
  closed_ = true;
  front_->close();  // refuse new work from here on
  asio::post(executor_, [this] {
    runner_->failEverything(
        Status::make(ErrorCode::Aborted, "{} was closed on rank {}", identity_.name, identity_.rank));
  });
  {
    // Whoever drives now runs the handler above, which ends every operation; we take the loop
    // over (the family's other members may keep the progress thread busy) and run it if not.
    auto driving = driver_->takeOver();
    driver_->io().poll();
    leaveFamily();
    // The connections may be the family's, in use by its other members on the progress thread:
    // this member's channels end (and the connections close, if it was their last) under the lock.
    p2p_.reset();
    p2pTransport_.reset();
    transport_.reset();
    connections_.reset();
    driver_->handBack(std::move(driving));
  }
  if (driver_->leave()) driver_->stop();
  control_.reset();  // after the last operation ended: its account went out through it
  if (tracer_) {
    schedule_->executor().setTracer(nullptr);
    tracer_.reset();  // writes the trace's closing "]"
  }
  shm_.reset();
}

}  // namespace banyan::detail

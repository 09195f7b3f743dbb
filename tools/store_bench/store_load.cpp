#include "tools/store_bench/store_load.hpp"

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace banyan::tools {

namespace {

using Clock = std::chrono::steady_clock;

// Thousands of client threads: a small stack each (they hold a few strings) instead of the
// default 8 MiB, so 8192 of them reserve 2 GiB of address space, not 64.
constexpr std::size_t kClientStackBytes = 256 * 1024;
// connect, creation, requests
constexpr std::size_t kPhases = 3;

std::string entryOf(int rank, std::uint16_t port) {
  // The shape of what exchangeHosts publishes: identity, pid, control address, share.
  return fmt::format("bench-host-{}\n{}\n127.0.0.1:{}\ntcp", rank % 97, 100000 + rank, 20000 + (rank + port) % 40000);
}

// The combined value as gatherPublished writes it: "<length>:<entry>" per rank.
std::string combinedOf(int clients, std::uint16_t port) {
  std::string all;
  for (int rank = 0; rank < clients; ++rank) {
    const std::string entry = entryOf(rank, port);
    all += fmt::format("{}:{}", entry.size(), entry);
  }
  return all;
}

Store::Bytes bytesOf(const std::string& text) { return Store::Bytes(text.begin(), text.end()); }

double percentile(std::vector<float>& values, double fraction) {
  if (values.empty()) return 0;
  const auto at = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(at), values.end());
  return values[at];
}

double millisecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

struct Shared {
  const StoreLoadOptions& options;
  const std::string combined;
  std::barrier<std::function<void()>> sync;
  // When each barrier completed (before anyone is released): the start of each phase.
  std::vector<Clock::time_point> phaseStarts;
  // [client][phase]: when that client finished that phase.
  std::vector<std::array<Clock::time_point, kPhases>> phaseEnds;
  std::vector<std::vector<float>> latencyUs;
  std::atomic<int> failedConnections{0};
  std::atomic<int> failedRequests{0};
  std::atomic<int> wrongValues{0};
  std::mutex errorMutex;
  std::string firstError;

  Shared(const StoreLoadOptions& o)
      : options(o),
        combined(combinedOf(o.clients, o.port)),
        sync(o.clients + 1, std::function<void()>([this] { phaseStarts.push_back(Clock::now()); })),
        phaseEnds(static_cast<std::size_t>(o.clients)),
        latencyUs(static_cast<std::size_t>(o.clients)) {}

  void noteError(std::atomic<int>& counter, const std::string& what) {
    ++counter;
    std::lock_guard lock(errorMutex);
    if (firstError.empty()) firstError = what;
  }

  std::string key(const std::string& name) const { return options.keyPrefix + name; }
};

void creation(Shared& shared, TcpStore& store, int rank) {
  const auto& options = shared.options;
  if (rank == 0) {
    for (int other = 1; other < options.clients; ++other) {
      const auto value = store.get(shared.key(fmt::format("host/{}", other)), options.timeout);
      if (value != bytesOf(entryOf(other, options.port))) {
        shared.noteError(shared.wrongValues, fmt::format("client 0 read a wrong value for host/{}", other));
      }
    }
    store.set(shared.key("hosts"), bytesOf(shared.combined), options.timeout);
    return;
  }
  store.set(shared.key(fmt::format("host/{}", rank)), bytesOf(entryOf(rank, options.port)), options.timeout);
  if (store.get(shared.key("hosts"), options.timeout) != bytesOf(shared.combined)) {
    shared.noteError(shared.wrongValues, fmt::format("client {} read a wrong combined value", rank));
  }
}

void requests(Shared& shared, TcpStore& store, int rank) {
  const auto& options = shared.options;
  auto& latencies = shared.latencyUs[static_cast<std::size_t>(rank)];
  latencies.reserve(static_cast<std::size_t>(2 * options.pairs));
  const std::string key = shared.key(fmt::format("pair/{}", rank));
  for (int i = 0; i < options.pairs; ++i) {
    const auto value = bytesOf(fmt::format("{:064}", static_cast<long long>(rank) * 1000003 + i));
    auto t0 = Clock::now();
    store.set(key, value, options.timeout);
    auto t1 = Clock::now();
    const bool right = store.get(key, options.timeout) == value;
    auto t2 = Clock::now();
    latencies.push_back(std::chrono::duration<float, std::micro>(t1 - t0).count());
    latencies.push_back(std::chrono::duration<float, std::micro>(t2 - t1).count());
    if (!right) shared.noteError(shared.wrongValues, fmt::format("client {} read back a wrong value", rank));
  }
}

void runClient(Shared& shared, int rank) {
  const auto index = static_cast<std::size_t>(rank);
  TcpStore store(shared.options.host, shared.options.port);
  bool connected = false;
  shared.sync.arrive_and_wait();
  try {
    store.add(shared.key("connect"), 1, shared.options.timeout);
    connected = true;
  } catch (const std::exception& e) {
    shared.noteError(shared.failedConnections, fmt::format("client {} could not connect: {}", rank, e.what()));
  }
  shared.phaseEnds[index][0] = Clock::now();
  std::size_t phaseIndex = 1;
  // Each later phase: a client that could not connect stays out of it (counted once above).
  for (auto phase : {&creation, &requests}) {
    shared.sync.arrive_and_wait();
    if (connected) {
      try {
        phase(shared, store, rank);
      } catch (const std::exception& e) {
        shared.noteError(shared.failedRequests, fmt::format("client {}: {}", rank, e.what()));
      }
    }
    shared.phaseEnds[index][phaseIndex++] = Clock::now();
  }
  shared.sync.arrive_and_wait();
}

// The time from the phase's start until its last client finished it.
double phaseMs(const Shared& shared, std::size_t phase) {
  Clock::time_point last = shared.phaseStarts[phase];
  for (const auto& ends : shared.phaseEnds) last = std::max(last, ends[phase]);
  return millisecondsBetween(shared.phaseStarts[phase], last);
}

struct ClientThread {
  Shared* shared;
  int rank;
};

void* clientMain(void* argument) {
  auto* client = static_cast<ClientThread*>(argument);
  runClient(*client->shared, client->rank);
  return nullptr;
}

}  // namespace

StoreLoadResult runStoreLoad(const StoreLoadOptions& options) {
  if (options.clients < 1 || options.clients > kMaxStoreClients) {
    throw std::invalid_argument(fmt::format("clients must be 1..{}, not {}", kMaxStoreClients, options.clients));
  }
  Shared shared(options);
  std::vector<ClientThread> arguments;
  for (int rank = 0; rank < options.clients; ++rank) arguments.push_back({&shared, rank});
  std::vector<pthread_t> threads(static_cast<std::size_t>(options.clients));
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, kClientStackBytes);
  for (std::size_t i = 0; i < threads.size(); ++i) {
    if (const int err = pthread_create(&threads[i], &attributes, clientMain, &arguments[i]); err != 0) {
      // The threads already started wait at the barrier for ever: nothing to return to.
      fmt::print(stderr, "store load: cannot start client thread {} of {}: {}\n", i, options.clients,
                 std::strerror(err));
      std::_Exit(1);
    }
  }
  pthread_attr_destroy(&attributes);

  StoreLoadResult result;
  for (std::size_t barrier = 0; barrier <= kPhases; ++barrier) shared.sync.arrive_and_wait();
  for (auto& thread : threads) pthread_join(thread, nullptr);
  result.connectMs = phaseMs(shared, 0);
  result.creationMs = phaseMs(shared, 1);
  result.requestsMs = phaseMs(shared, 2);

  std::vector<float> latencies;
  for (auto& each : shared.latencyUs) latencies.insert(latencies.end(), each.begin(), each.end());
  result.requestsPerSecond =
      result.requestsMs > 0 ? static_cast<double>(latencies.size()) / (result.requestsMs / 1e3) : 0;
  result.p50Us = percentile(latencies, 0.50);
  result.p99Us = percentile(latencies, 0.99);
  result.failedConnections = shared.failedConnections;
  result.failedRequests = shared.failedRequests;
  result.wrongValues = shared.wrongValues;
  result.firstError = shared.firstError;
  return result;
}

}  // namespace banyan::tools

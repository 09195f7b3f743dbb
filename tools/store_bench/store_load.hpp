#pragma once
// The load banyan-store-bench puts on a store server (bench/store_scale.sh), and the
// [store-scale] test: N TcpStore clients, one thread each, in three phases that all clients
// start together.
//
//   connect   every client connects (lazily, on its first call) and makes one Add (a Check
//             would do, but PyTorch 1.13's Python TCPStore, the peer, has no check())
//   creation  the exchange of transport_setup.cpp's gatherPublished: every client but 0 sets
//             its key; client 0 gets every key in turn and sets one combined value; every
//             other client gets (waits for) it and checks it is the expected one
//   requests  every client makes `pairs` set/get pairs on its own key, each one timed
//
// A thread per client because a client blocks in get() until a key is set, as a rank does: the
// server then holds N connections and N parked waiters at once, as it would for a real job.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace banyan::tools {

struct StoreLoadOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int clients = 1;
  int pairs = 20;                              // set/get pairs per client in the requests phase
  std::chrono::milliseconds timeout{120'000};  // every store call's deadline
  std::string keyPrefix = "store-bench/";      // keeps runs against one server apart
};

struct StoreLoadResult {
  double connectMs = 0;  // from the start until the last client has its answer
  double creationMs = 0;
  double requestsMs = 0;
  double requestsPerSecond = 0;
  double p50Us = 0;  // latency of one request of the requests phase
  double p99Us = 0;
  int failedConnections = 0;  // clients whose connect phase failed (refused, reset, timed out)
  int failedRequests = 0;     // failed calls after a client had connected
  int wrongValues = 0;        // answers that were not what was set
  std::string firstError;     // the message of the first failure, "" when none
};

// Runs the three phases against the server at options.host:options.port. Never throws for a
// client's failure: failures are counted (a clean run has all three counts 0).
StoreLoadResult runStoreLoad(const StoreLoadOptions& options);

// The largest number of clients runStoreLoad takes (a thread and a descriptor each).
inline constexpr int kMaxStoreClients = 8192;

}  // namespace banyan::tools

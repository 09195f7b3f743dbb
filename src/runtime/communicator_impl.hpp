#pragma once
// What a Communicator is made of. One progress thread runs an asio::io_context that drives
// the transport, the executor and the timeout timer; user threads only queue requests.

#include "common/status.hpp"
#include "config/config.hpp"
#include "runtime/collective.hpp"
#include "runtime/executor.hpp"
#include "runtime/plan_cache.hpp"
#include "runtime/scratch_buffer.hpp"
#include "runtime/work_state.hpp"
#include "transports/tcp/tcp_transport.hpp"

#include <banyan/options.hpp>
#include <banyan/store.hpp>
#include <banyan/work.hpp>

#include <asio.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace banyan::detail {

using runtime::Collective;

struct Request {
  Collective kind;
  const void* send;
  void* recv;
  std::size_t count;
  DataType type;
  ReduceOp op;
};

class CommunicatorImpl {
 public:
  CommunicatorImpl(std::shared_ptr<Store> store, int rank, int size, const Options& options);
  ~CommunicatorImpl();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Checks `request` (throws InvalidUsage) and queues it; returns its Work.
  Work enqueue(const Request& request);
  void close();

 private:
  struct Pending {
    Request request;
    std::uint64_t sequence;
    std::shared_ptr<WorkState> state;
  };

  static const char* name(Collective kind);
  void validate(const Request& request) const;
  std::string describe(const Pending& pending) const;
  std::size_t sliceElements(std::size_t elementSize) const;

  // Progress thread only, from here on.
  void progressLoop();
  void startNext();
  void startOperation(Pending pending);
  void finishOperation(const std::shared_ptr<WorkState>& state, const Status& status);
  void failEverything(const Status& why);

  const config::Config config_;
  std::chrono::microseconds spin_{0};  // config_.spin, or its automatic value
  const int rank_;
  const int size_;
  std::shared_ptr<Store> store_;
  std::string name_;    // "communicator 3", for messages
  std::string prefix_;  // store key prefix of this communicator

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer timer_;
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<runtime::Executor> executor_;
  std::thread progress_;

  std::mutex enqueueMutex_;
  std::mutex closeMutex_;
  std::atomic<bool> closed_{false};
  std::uint64_t sequence_ = 0;  // under enqueueMutex_

  std::deque<Pending> queue_;
  std::unique_ptr<Pending> current_;
  bool running_ = false;
  bool starting_ = false;
  Status broken_;
  runtime::PlanCache plans_;
  runtime::ScratchBuffer scratch_;
};

}  // namespace banyan::detail

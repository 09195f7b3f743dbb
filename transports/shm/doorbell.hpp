#pragma once
// Wakes a rank that sleeps in its event loop when a peer on the same host has written to
// shared memory for it.
//
// Shared memory has no file descriptor to wait on, and a rank's progress thread sleeps in
// epoll (inside asio) so that it also hears its TCP sockets. So each rank binds a Unix datagram
// socket in the abstract namespace, named after the job and the rank, and registers it with
// the event loop; a peer that finds the rank's `sleeping` word set sends it one byte. The
// word is in shared memory: a rank sets it just before it blocks and clears it when it wakes,
// so a busy rank costs its peers nothing but a load.
//
// The lost-wake-up race is closed by ordering: the sleeper stores `sleeping = 1`, fences, and
// looks for work once more before blocking; the waker publishes its data, fences, and then
// loads `sleeping`. At least one of the two sees the other's store.

#include <asio.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace banyan::transport::shm {

class Doorbell {
 public:
  // Binds "\0<name>"; `onRing` runs on the event loop after each wake-up.
  Doorbell(const asio::any_io_executor& io, const std::string& name, std::function<void()> onRing);
  ~Doorbell();

  // Sends a wake-up to the doorbell bound as `name` (non-blocking; a full queue already holds
  // a wake-up, so that case is ignored).
  void ring(const std::string& name);

 private:
  void arm();

  asio::local::datagram_protocol::socket socket_;
  // Rings go out through one unbound socket per process (senderSocket() in doorbell.cpp), not
  // one per doorbell: a communicator has up to three doorbells, and a job with many groups
  // many communicators (issue 23: 3 sockets per rank per group saved).
  int sender_ = -1;
  std::function<void()> onRing_;
};

// Sets or clears a shared `sleeping` word with the fence the protocol above needs.
inline void announceSleep(std::atomic<std::uint32_t>& word) {
  word.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// After publishing data: true if the reader announced sleep, which this call also clears
// (so exactly one waker rings).
inline bool takeSleeper(std::atomic<std::uint32_t>& word) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return word.load(std::memory_order_relaxed) != 0 && word.exchange(0, std::memory_order_relaxed) != 0;
}

}  // namespace banyan::transport::shm

#include "store_adapter.hpp"

#include <banyan/error.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>

namespace banyan::torch_backend {
namespace {

// c10::Error's what() carries a C++ backtrace; the first line is the message.
std::string firstLine(const char* text) {
  std::string s(text);
  const auto end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

// Store failures become banyan errors naming the call and the key; c10d reports a deadline as
// a message containing "timeout" (TCPStore) or "Timeout" (FileStore/HashStore).
[[noreturn]] void rethrow(const std::exception& e, const char* call, const std::string& key,
                          std::chrono::milliseconds timeout) {
  const std::string what = firstLine(e.what());
  const bool timedOut = what.find("imeout") != std::string::npos || what.find("imed out") != std::string::npos;
  throw Error(timedOut ? ErrorCode::Timeout : ErrorCode::Remote, "c10d store " + std::string(call) + "('" + key +
                                                                     "') failed within " +
                                                                     std::to_string(timeout.count()) + " ms: " + what);
}

}  // namespace

C10dStore::C10dStore(c10::intrusive_ptr<c10d::Store> store) : store_(std::move(store)) {
  if (!store_) throw Error(ErrorCode::InvalidUsage, "banyan process group: the c10d store is null");
  if (const char* master = std::getenv("MASTER_ADDR")) localAddress_ = localAddressTowards(master);
}

void C10dStore::set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) {
  try {
    store_->set(key, value);
  } catch (const std::exception& e) {
    rethrow(e, "set", key, timeout);
  }
}

Store::Bytes C10dStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  try {
    // c10d's get() waits with the store's own timeout; wait() first applies ours.
    store_->wait({key}, timeout);
    return store_->get(key);
  } catch (const std::exception& e) {
    rethrow(e, "get", key, timeout);
  }
}

std::int64_t C10dStore::add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) {
  try {
    return store_->add(key, delta);
  } catch (const std::exception& e) {
    rethrow(e, "add", key, timeout);
  }
}

void C10dStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  try {
    store_->wait(keys, timeout);
  } catch (const std::exception& e) {
    rethrow(e, "wait", keys.empty() ? std::string() : keys.front(), timeout);
  }
}

bool C10dStore::check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  try {
    return store_->check(keys);
  } catch (const std::exception& e) {
    rethrow(e, "check", keys.empty() ? std::string() : keys.front(), timeout);
  }
}

std::string localAddressTowards(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), "9", &hints, &found) != 0 || found == nullptr) return {};
  std::string result;
  for (addrinfo* a = found; a != nullptr && result.empty(); a = a->ai_next) {
    const int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* address = local.ss_family == AF_INET
                                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
      if (::inet_ntop(local.ss_family, address, text, sizeof(text)) != nullptr) result = text;
    }
    ::close(fd);
  }
  freeaddrinfo(found);
  return result;
}

}  // namespace banyan::torch_backend

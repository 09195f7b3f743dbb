// TcpStore client: one non-blocking socket, every wait a poll() bounded by the call's deadline.
//
// After any failure (timeout, reset, a reply that makes no sense) the connection is dropped:
// its state is unknown (a late reply to a timed-out get could still arrive), and the next call
// reconnects. The server notices the close and forgets the abandoned waiter.
//
// With a job key (security/key_source.hpp) every new connection first proves it holds the key
// and checks that the server does too (security/handshake.hpp), within the call's deadline.

#include <banyan/tcp_store.hpp>

#include "bootstrap/store_protocol.hpp"
#include "common/host_port.hpp"
#include "common/status.hpp"
#include "security/handshake.hpp"
#include "security/key_source.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace banyan {

namespace {

namespace protocol = bootstrap::protocol;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{10};
constexpr milliseconds kMaxBackoff{200};

// Connect errors worth retrying until the deadline: the server may not be listening yet, or
// the network not up yet.
bool retryableConnectError(int err) {
  return err == ECONNREFUSED || err == ECONNRESET || err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH ||
         err == EAGAIN || err == EINTR || err == ECONNABORTED;
}

// "get('addr/3')", "wait('a', 'b', 'c', ... 7 keys)"
std::string describeCall(protocol::Command command, const std::vector<std::string>& keys) {
  constexpr std::size_t kShownKeys = 3;
  std::string text = fmt::format("{}(", protocol::commandName(command));
  for (std::size_t i = 0; i < keys.size() && i < kShownKeys; ++i) {
    text += fmt::format("{}'{}'", i ? ", " : "", keys[i]);
  }
  if (keys.size() > kShownKeys) text += fmt::format(", ... {} keys", keys.size());
  return text + ")";
}

// Milliseconds left until `deadline`, rounded up so a poll never wakes just before it.
int pollTimeout(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<milliseconds>(left).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 1 << 30));
}

std::string socketAddressText(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text, sizeof text);
  }
  return text;
}

}  // namespace

struct TcpStore::Impl {
  std::string host;
  std::uint16_t port;
  std::string endpoint;                 // "host:port" for messages
  std::optional<security::JobKey> key;  // resolved at construction; none: no authentication
  bool freshWithoutKey = false;         // the current call opened an unauthenticated connection
  std::string servedBy;                 // "rank 0" when a rank's process serves the store, else ""
  bool answeredBefore = false;          // a connection to the server has succeeded

  // Serialises calls. A call queued behind a long get() still honours its own deadline, so
  // this is a flag under a condition variable rather than a plain mutex. (Not std::timed_mutex:
  // ThreadSanitizer does not understand the pthread_mutex_clocklock it is built on.)
  std::mutex busyMutex;
  std::condition_variable idle;
  bool busy = false;
  int fd = -1;

  mutable std::mutex addressMutex;
  std::string localAddress;

  // What one call knows about itself, for its messages.
  struct Call {
    std::string what;  // "get('addr/3')"
    Clock::time_point deadline;
    milliseconds timeout;
  };

  ~Impl() { disconnect(); }

  void disconnect() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  [[noreturn]] void timedOut(const Call& call, const std::string& detail) {
    disconnect();
    fail(ErrorCode::Timeout, "store {} at {} timed out after {} ms{}{}", call.what, endpoint, call.timeout.count(),
         detail.empty() ? "" : ": ", detail);
  }

  [[noreturn]] void failed(const Call& call, ErrorCode code, const std::string& detail) {
    disconnect();
    fail(code, "store {} at {}: {}", call.what, endpoint, detail);
  }

  // The serving rank's process closed the connection or stopped listening: that is what its
  // exit looks like from here. Only for errors that mean exactly that (a close, a reset, a
  // refusal after it had answered), never for a timeout or an unreachable network.
  [[noreturn]] void serverGone(const Call& call, const std::string& event, const std::string& detail) {
    disconnect();
    fail(ErrorCode::Remote, "the store at {}, served by {}'s process, {} ({} has probably exited): store {}{}{}",
         endpoint, servedBy, event, servedBy, call.what, detail.empty() ? "" : ": ", detail);
  }

  // A send or receive error: the serving rank's exit when it is a reset, else a plain failure.
  [[noreturn]] void transferFailed(const Call& call, const char* what, int err) {
    if (!servedBy.empty() && (err == ECONNRESET || err == EPIPE)) {
      serverGone(call, "closed the connection", errnoText(err));
    }
    failed(call, ErrorCode::Remote, std::string(what) + " failed: " + errnoText(err));
  }

  // One attempt on one address: 0 when connected (fd set), else the errno of the failure.
  int tryConnect(const addrinfo& address, const Call& call) {
    int s = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address.ai_protocol);
    if (s < 0) return errno;
    int err = 0;
    if (::connect(s, address.ai_addr, address.ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{s, POLLOUT, 0};
        const int ready = ::poll(&p, 1, pollTimeout(call.deadline));
        if (ready == 0) {
          err = ETIMEDOUT;
        } else if (ready < 0) {
          err = errno;
        } else {
          socklen_t length = sizeof err;
          if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
        }
      }
    }
    if (err != 0) {
      ::close(s);
      return err;
    }
    int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd = s;
    answeredBefore = true;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      std::lock_guard lock(addressMutex);
      localAddress = socketAddressText(local);
    }
    return 0;
  }

  // Connects, retrying refused connections with a growing pause until the deadline.
  void connect(const Call& call) {
    auto backoff = kFirstBackoff;
    std::string lastError;
    for (;;) {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* addresses = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses);
      if (rc == 0) {
        // Try every address ("localhost" may be ::1 and 127.0.0.1). Give up before the
        // deadline only when none failed in a way that time could cure.
        bool worthRetrying = false;
        bool allRefused = true;
        for (addrinfo* a = addresses; a != nullptr && fd < 0; a = a->ai_next) {
          const int err = tryConnect(*a, call);
          if (err == 0) break;
          lastError = errnoText(err);
          worthRetrying = worthRetrying || retryableConnectError(err);
          allRefused = allRefused && (err == ECONNREFUSED || err == ECONNRESET);
        }
        ::freeaddrinfo(addresses);
        if (fd >= 0) return;
        // A server that answered before and now refuses on every address has closed its
        // listener: a rank's process that serves it does so only when it ends, so waiting
        // would not help. (One refusal alone proves nothing: "localhost" may be ::1 first.)
        if (answeredBefore && !servedBy.empty() && allRefused) {
          serverGone(call, "refuses connections it accepted before", lastError);
        }
        if (!worthRetrying) failed(call, ErrorCode::System, "cannot connect: " + lastError);
      } else if (rc == EAI_AGAIN) {
        lastError = std::string("cannot resolve host: ") + ::gai_strerror(rc);
      } else {
        failed(call, ErrorCode::System,
               std::string("cannot resolve host: ") + (rc == EAI_SYSTEM ? errnoText(errno) : ::gai_strerror(rc)));
      }
      const auto now = Clock::now();
      if (now >= call.deadline) {
        // Not proof of an exit: the serving rank may not have started yet.
        timedOut(call, "could not connect (" + lastError + ")" +
                           (servedBy.empty() ? ""
                                             : fmt::format("; the store is served by {}'s process: has {} started, "
                                                           "or has it exited?",
                                                           servedBy, servedBy)));
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, call.deadline - now));
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }

  void sendAll(const protocol::Bytes& frame, const Call& call) {
    std::size_t sent = 0;
    while (sent < frame.size()) {
      const ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) transferFailed(call, "send", errno);
      waitReady(POLLOUT, call);
    }
  }

  void receiveAll(std::uint8_t* data, std::size_t size, const Call& call) {
    std::size_t received = 0;
    while (received < size) {
      const ssize_t n = ::recv(fd, data + received, size - received, 0);
      if (n > 0) {
        received += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0 && !servedBy.empty() && !freshWithoutKey) serverGone(call, "closed the connection", "");
      if (n == 0) {
        failed(call, ErrorCode::Remote,
               std::string("the server closed the connection") +
                   (freshWithoutKey ? " (a server that requires authentication closes connections without the job "
                                      "key: is BANYAN_AUTH_KEY or BANYAN_AUTH set differently here?)"
                                    : ""));
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) transferFailed(call, "receive", errno);
      waitReady(POLLIN, call);
    }
  }

  void waitReady(short events, const Call& call) {
    pollfd p{fd, events, 0};
    for (;;) {
      const int ready = ::poll(&p, 1, pollTimeout(call.deadline));
      if (ready > 0) return;  // readable, writable or an error the next recv/send reports
      if (ready == 0) timedOut(call, "");
      if (errno != EINTR) failed(call, ErrorCode::System, "poll failed: " + errnoText(errno));
    }
  }

  // The connector's half of the challenge-response, on a fresh connection.
  void authenticate(const Call& call) {
    const security::StoreHello hello{security::freshNonce()};
    const security::StoreHelloBytes helloBytes = security::encodeStoreHello(hello);
    sendAll(protocol::Bytes(helloBytes.begin(), helloBytes.end()), call);
    security::ChallengeBytes challengeBytes{};
    try {
      receiveAll(challengeBytes.data(), challengeBytes.size(), call);
    } catch (const Error& error) {
      if (error.code() == ErrorCode::Timeout) throw;
      failed(call, ErrorCode::Unauthenticated,
             "the server closed the connection instead of answering the authentication: it holds another job key "
             "(BANYAN_AUTH_KEY) or runs with BANYAN_AUTH=off");
    }
    security::Challenge challenge;
    if (auto status = security::decodeChallenge(challengeBytes.data(), challengeBytes.size(), challenge); !status) {
      failed(call, ErrorCode::Unauthenticated, status.message());
    }
    if (!security::verifyMac(*key, security::Role::Acceptor, helloBytes, hello.clientNonce, challenge.serverNonce,
                             challenge.mac)) {
      failed(call, ErrorCode::Unauthenticated,
             "authentication failed: the server could not prove it holds this job's key (another BANYAN_AUTH_KEY?)");
    }
    const auto proof = security::encodeProof(
        {security::computeMac(*key, security::Role::Connector, helloBytes, hello.clientNonce, challenge.serverNonce)});
    sendAll(protocol::Bytes(proof.begin(), proof.end()), call);
  }

  // Sends one request and returns the Ok payload of its answer.
  protocol::Bytes call(const protocol::Request& request, milliseconds timeout) {
    const milliseconds bounded = std::max(timeout, milliseconds::zero());
    Call call{describeCall(request.command, request.keys), Clock::now() + bounded, bounded};
    // Encode first: a key over the limit is the caller's error, not a reason to connect.
    const protocol::Bytes frame = protocol::encodeRequest(request);

    {
      std::unique_lock lock(busyMutex);
      if (!idle.wait_until(lock, call.deadline, [this] { return !busy; })) {
        fail(ErrorCode::Timeout, "store {} at {} timed out after {} ms waiting for another call on the same client",
             call.what, endpoint, bounded.count());
      }
      busy = true;
    }
    struct Release {
      Impl& impl;
      ~Release() {
        {
          std::lock_guard lock(impl.busyMutex);
          impl.busy = false;
        }
        impl.idle.notify_one();
      }
    } release{*this};
    freshWithoutKey = false;
    if (fd < 0) {
      connect(call);
      if (key) authenticate(call);
      freshWithoutKey = !key;
    }
    sendAll(frame, call);

    std::uint8_t header[protocol::kHeaderBytes];
    receiveAll(header, sizeof header, call);
    std::uint32_t length = 0;
    if (auto status = protocol::decodeFrameLength(header, protocol::kMaxResponseBytes, length); !status) {
      failed(call, ErrorCode::Remote, "malformed reply: " + status.message());
    }
    protocol::Bytes body(length);
    receiveAll(body.data(), body.size(), call);
    protocol::Response response;
    if (auto status = protocol::decodeResponse(body.data(), body.size(), response); !status) {
      failed(call, ErrorCode::Remote, "malformed reply: " + status.message());
    }
    if (response.status == protocol::ResponseStatus::Error) {
      // The request was understood and refused; the connection is still in step.
      fail(ErrorCode::InvalidUsage, "store {} at {} refused: {}", call.what, endpoint,
           std::string(response.payload.begin(), response.payload.end()));
    }
    return std::move(response.payload);
  }
};

TcpStore::TcpStore(std::string host, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  // An IPv6 literal is written in brackets in messages, as it would be in an address.
  impl_->endpoint = hostPortText(host, port);
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->key = security::configuredKey();
}

TcpStore::~TcpStore() = default;

void TcpStore::set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) {
  protocol::Request request{protocol::Command::Set, {key}, value, 0};
  impl_->call(request, timeout);
}

Store::Bytes TcpStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  return impl_->call({protocol::Command::Get, {key}, {}, 0}, timeout);
}

std::int64_t TcpStore::add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) {
  const protocol::Request request{protocol::Command::Add, {key}, {}, delta};
  const protocol::Bytes payload = impl_->call(request, timeout);
  std::int64_t value = 0;
  if (auto status = protocol::decodeAddResult(payload, value); !status) {
    fail(ErrorCode::Remote, "store add('{}') at {}: malformed reply: {}", key, impl_->endpoint, status.message());
  }
  return value;
}

void TcpStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  if (keys.empty()) return;
  impl_->call({protocol::Command::Wait, keys, {}, 0}, timeout);
}

bool TcpStore::check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  if (keys.empty()) return true;
  const protocol::Bytes payload = impl_->call({protocol::Command::Check, keys, {}, 0}, timeout);
  bool allSet = false;
  if (auto status = protocol::decodeCheckResult(payload, allSet); !status) {
    fail(ErrorCode::Remote, "store {} at {}: malformed reply: {}", describeCall(protocol::Command::Check, keys),
         impl_->endpoint, status.message());
  }
  return allSet;
}

void TcpStore::setServedBy(std::string rankName) { impl_->servedBy = std::move(rankName); }

std::string TcpStore::localAddress() const {
  std::lock_guard lock(impl_->addressMutex);
  return impl_->localAddress;
}

}  // namespace banyan

// TcpStoreServer: one io_context on one background thread serves every connection. The key
// map and the waiter lists are touched only from that thread, so they need no lock.
//
// With a job key (security/key_source.hpp: BANYAN_AUTH_KEY or the launcher's), a session
// serves nothing before the client has proven it holds the key (security/handshake.hpp), within
// kAuthDeadline; without one the store is open to anyone who reaches its port (docs/security.md).
//
// A Check answers at once from the keys held now; a Get or Wait on a key that is not there yet parks its session on
// that key; a Set or Add of the key wakes it (server side: clients never poll). A session keeps reading while parked so
// that a client that gives up (closes) is noticed and its waiter dropped.

#include <banyan/tcp_store.hpp>

#include "bootstrap/store_protocol.hpp"
#include "common/host_port.hpp"
#include "common/log.hpp"
#include "common/status.hpp"
#include "security/handshake.hpp"
#include "security/key_source.hpp"

#include <sys/socket.h>
#include <unistd.h>
#include <asio.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace banyan {

namespace {

using asio::ip::tcp;
using bootstrap::protocol::Bytes;
using bootstrap::protocol::Command;
using bootstrap::protocol::Request;

// Requests read ahead of the one being served, and responses queued unsent, per connection.
// Beyond this the session stops reading, so a client that pipelines without reading its
// answers cannot make the server buffer without bound.
constexpr std::size_t kMaxPipelined = 8;
// After a failed accept (EMFILE ...) wait before trying again rather than spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(20);
// A client has this long to finish the challenge-response (one round trip for a member); a
// stranger that says nothing loses its connection then instead of holding it.
constexpr auto kAuthDeadline = std::chrono::seconds(30);

std::string errorText(const std::error_code& ec) {
  if (ec.category() == std::system_category() || ec.category() == asio::error::get_system_category()) {
    return errnoText(ec.value());
  }
  return ec.message();
}

class Session;

// A stored value, shared by the map and every answer in flight that carries it: when a Set
// wakes thousands of parked Gets (every rank waiting for rank 0's combined value at creation),
// they all send this one buffer, rather than a copy each (N copies of an O(N) value: at 8192
// clients, 3 GB queued on the server). A Set replaces the pointer; answers queued before keep
// the old value alive until sent.
using SharedValue = std::shared_ptr<const Bytes>;

// One answer waiting to be written: the whole frame in `head`, or the frame's header in `head`
// and its payload in `value` (a Get answered with the stored value).
struct Reply {
  Bytes head;
  SharedValue value;
};

struct StoreState {
  std::unordered_map<std::string, SharedValue> values;
  std::unordered_map<std::string, std::vector<std::weak_ptr<Session>>> waiters;
  // Strong references: a parked session with no operation in flight must stay alive.
  std::unordered_set<std::shared_ptr<Session>> sessions;
  // sessions.size(), published for waitForClientsToLeave() on another thread.
  std::mutex connectedMutex;
  std::condition_variable connectedChanged;
  std::size_t connected = 0;

  void publishConnected() {
    {
      std::lock_guard lock(connectedMutex);
      connected = sessions.size();
    }
    connectedChanged.notify_all();
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, StoreState& state, const std::optional<security::JobKey>& key)
      : socket_(std::move(socket)), state_(state), key_(key), authTimer_(socket_.get_executor()) {}

  void start() {
    if (key_) return authenticate();
    readHeader();
  }

  // A key this session is parked on was set: serve the head request again.
  void wake() {
    if (closed_ || !parked_) return;
    parked_ = false;
    processPending();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    std::error_code ignored;
    authTimer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    unpark();
    state_.sessions.erase(shared_from_this());
    state_.publishConnected();
  }

 private:
  // The acceptor's half of the challenge-response. The magic is read alone first, so a client
  // that sends a plain request (one without the key) is refused at once, not at the deadline.
  void authenticate() {
    authTimer_.expires_after(kAuthDeadline);
    authTimer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->refuse("authentication: nothing proven within the deadline");
    });
    asio::async_read(
        socket_, asio::buffer(hello_.data(), 4), [self = shared_from_this()](std::error_code ec, std::size_t) {
          if (ec) return self->close();
          if (helloMagic(self->hello_) != security::kStoreHelloMagic) {
            return self->refuse("a request without authentication (a stranger, or a client without the job key)");
          }
          asio::async_read(self->socket_, asio::buffer(self->hello_.data() + 4, self->hello_.size() - 4),
                           [self](std::error_code ec, std::size_t) { self->onHello(ec); });
        });
  }

  static std::uint32_t helloMagic(const security::StoreHelloBytes& bytes) {
    return static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
           static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
  }

  void onHello(std::error_code ec) {
    if (ec) return close();
    security::StoreHello hello;
    if (auto status = security::decodeStoreHello(hello_.data(), hello_.size(), hello); !status) {
      return refuse(status.message());
    }
    clientNonce_ = hello.clientNonce;
    serverNonce_ = security::freshNonce();
    challenge_ = security::encodeChallenge(
        {serverNonce_, security::computeMac(*key_, security::Role::Acceptor, hello_, clientNonce_, serverNonce_)});
    asio::async_write(socket_, asio::buffer(challenge_), [self = shared_from_this()](std::error_code ec, std::size_t) {
      if (ec) return self->close();
      asio::async_read(self->socket_, asio::buffer(self->proof_),
                       [self](std::error_code ec, std::size_t) { self->onProof(ec); });
    });
  }

  void onProof(std::error_code ec) {
    // A client that leaves after the challenge is most likely one that found our proof wrong
    // (another job key): worth a line, as any failed authentication.
    if (ec) return refuse(fmt::format("authentication: no proof came back ({})", errorText(ec)));
    security::Proof proof;
    if (auto status = security::decodeProof(proof_.data(), proof_.size(), proof); !status) {
      return refuse(status.message());
    }
    if (!security::verifyMac(*key_, security::Role::Connector, hello_, clientNonce_, serverNonce_, proof.mac)) {
      return refuse("authentication failed: the proof does not match this job's key");
    }
    authTimer_.cancel();
    readHeader();
  }

  void refuse(const std::string& why) {
    if (closed_) return;
    std::error_code endpointError;
    const auto remote = socket_.remote_endpoint(endpointError);
    log::warn(log::Where{log::Subsystem::Bootstrap, -1}, "store: refused connection from {}: {}",
              endpointError ? std::string("?") : hostPortText(remote.address().to_string(), remote.port()), why);
    close();
  }

  void readHeader() {
    if (closed_ || reading_) return;
    if (pending_.size() >= kMaxPipelined) return;  // resumed when the queue drains
    reading_ = true;
    asio::async_read(socket_, asio::buffer(header_),
                     [self = shared_from_this()](std::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(std::error_code ec) {
    if (ec) return close();
    std::uint32_t length = 0;
    if (!bootstrap::protocol::decodeFrameLength(header_.data(), bootstrap::protocol::kMaxRequestBytes, length)) {
      return close();  // malformed: drop this connection, keep serving the others
    }
    body_.resize(length);
    asio::async_read(socket_, asio::buffer(body_),
                     [self = shared_from_this()](std::error_code ec, std::size_t) { self->onBody(ec); });
  }

  void onBody(std::error_code ec) {
    reading_ = false;
    if (ec) return close();
    Request request;
    if (!bootstrap::protocol::decodeRequest(body_.data(), body_.size(), request)) return close();
    Bytes().swap(body_);  // do not keep a 64 MiB value's buffer per idle connection
    pending_.push_back(std::move(request));
    processPending();
    readHeader();
  }

  // Serves queued requests in order until one has to wait for a key.
  void processPending() {
    while (!closed_ && !parked_ && !pending_.empty() && outbox_.size() < kMaxPipelined) {
      if (!serve(pending_.front())) {
        parked_ = true;
        return;
      }
      pending_.pop_front();
    }
    readHeader();
  }

  // Answers `request` and returns true, or parks on a missing key and returns false.
  bool serve(Request& request) {
    using bootstrap::protocol::errorResponse;
    using bootstrap::protocol::okResponse;
    switch (request.command) {
      case Command::Set: {
        const std::string& key = request.keys[0];
        state_.values[key] = std::make_shared<const Bytes>(std::move(request.value));
        send(okResponse());
        notify(key);
        return true;
      }
      case Command::Get: {
        auto it = state_.values.find(request.keys[0]);
        if (it == state_.values.end()) return park(request.keys[0]);
        sendValue(it->second);
        return true;
      }
      case Command::Add: {
        const std::string& key = request.keys[0];
        std::int64_t current = 0;
        SharedValue& stored = state_.values[key];
        if (stored && !stored->empty()) {
          const char* begin = reinterpret_cast<const char*>(stored->data());
          const char* end = begin + stored->size();
          auto [ptr, err] = std::from_chars(begin, end, current);
          if (err != std::errc() || ptr != end) {
            send(errorResponse(fmt::format("add('{}'): the key holds a value that is not a decimal integer", key)));
            return true;
          }
        }
        std::int64_t next = 0;
        if (__builtin_add_overflow(current, request.delta, &next)) {
          send(errorResponse(fmt::format("add('{}'): {} + {} overflows int64", key, current, request.delta)));
          return true;
        }
        // Counters are stored as decimal text, so get() of a counter reads "3" (as in c10d).
        const std::string text = std::to_string(next);
        stored = std::make_shared<const Bytes>(text.begin(), text.end());
        send(okResponse(bootstrap::protocol::encodeAddResult(next)));
        notify(key);
        return true;
      }
      case Command::Wait:
        for (const auto& key : request.keys) {
          if (!state_.values.count(key)) return park(key);
        }
        send(okResponse());
        return true;
      case Command::Check: {
        const bool allSet = std::all_of(request.keys.begin(), request.keys.end(),
                                        [this](const std::string& key) { return state_.values.count(key) != 0; });
        send(okResponse(bootstrap::protocol::encodeCheckResult(allSet)));
        return true;
      }
    }
    close();
    return true;
  }

  bool park(const std::string& key) {
    parkedKey_ = key;
    state_.waiters[key].push_back(weak_from_this());
    return false;
  }

  void unpark() {
    if (!parked_) return;
    auto it = state_.waiters.find(parkedKey_);
    if (it == state_.waiters.end()) return;
    auto& list = it->second;
    std::erase_if(list, [this](const std::weak_ptr<Session>& w) {
      auto s = w.lock();
      return !s || s.get() == this;
    });
    if (list.empty()) state_.waiters.erase(it);
  }

  // Wakes the sessions parked on `key`. Deferred through the executor, so a woken session
  // never runs inside this one's processPending().
  void notify(const std::string& key) {
    auto it = state_.waiters.find(key);
    if (it == state_.waiters.end()) return;
    auto list = std::move(it->second);
    state_.waiters.erase(it);
    for (auto& weak : list) {
      if (auto session = weak.lock()) {
        asio::post(socket_.get_executor(), [session] { session->wake(); });
      }
    }
  }

  void send(const bootstrap::protocol::Response& response) {
    queue({bootstrap::protocol::encodeResponse(response), nullptr});
  }

  // An Ok answer whose payload is `value` itself, not a copy.
  void sendValue(const SharedValue& value) { queue({bootstrap::protocol::encodeOkResponseHead(value->size()), value}); }

  void queue(Reply reply) {
    outbox_.push_back(std::move(reply));
    if (outbox_.size() == 1) writeNext();
  }

  void writeNext() {
    if (closed_ || outbox_.empty()) return;
    const Reply& reply = outbox_.front();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(reply.head),
                                                    reply.value ? asio::buffer(*reply.value) : asio::const_buffer()};
    asio::async_write(socket_, buffers, [self = shared_from_this()](std::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->outbox_.pop_front();
      self->writeNext();
      self->processPending();
    });
  }

  tcp::socket socket_;
  StoreState& state_;
  const std::optional<security::JobKey>& key_;  // the server's; outlives every session
  asio::steady_timer authTimer_;
  security::StoreHelloBytes hello_{};
  security::ChallengeBytes challenge_{};
  security::ProofBytes proof_{};
  security::Nonce clientNonce_{};
  security::Nonce serverNonce_{};
  std::array<std::uint8_t, bootstrap::protocol::kHeaderBytes> header_{};
  Bytes body_;
  std::deque<Request> pending_;
  std::deque<Reply> outbox_;
  std::string parkedKey_;
  bool reading_ = false;
  bool parked_ = false;
  bool closed_ = false;
};

}  // namespace

struct TcpStoreServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer retryTimer{io};
  StoreState state;
  // Resolved once, at construction (security::storeServerKey()).
  std::optional<security::JobKey> key = security::storeServerKey();
  std::uint16_t port = 0;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](std::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        retryTimer.expires_after(kAcceptRetryDelay);
        retryTimer.async_wait([this](std::error_code timerEc) {
          if (!timerEc) accept();
        });
        return;
      }
      std::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(socket), state, key);
      state.sessions.insert(session);
      state.publishConnected();
      session->start();
      accept();
    });
  }

  void start() {
    port = acceptor.local_endpoint().port();
    accept();
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    io.stop();
    if (thread.joinable()) thread.join();
    // The loop is stopped: nothing else touches the sessions now.
    for (const auto& session : std::vector(state.sessions.begin(), state.sessions.end())) {
      session->close();
    }
    std::error_code ignored;
    acceptor.close(ignored);
  }
};

TcpStoreServer::TcpStoreServer(const std::string& host, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto endpoints =
      resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    fail(ErrorCode::System, "store server cannot resolve {}: {}", hostPortText(host, port),
         ec ? errorText(ec) : "no address");
  }
  // A name with both families ("localhost") listens on IPv4, which every client can reach.
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  for (const auto& entry : endpoints) {
    if (entry.endpoint().address().is_v4()) {
      endpoint = entry.endpoint();
      break;
    }
  }
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // The IPv6 wildcard serves IPv4 clients too, whatever net.ipv6.bindv6only says.
  if (!ec && endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    acceptor.set_option(asio::ip::v6_only(false), ec);
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    fail(ErrorCode::System, "store server cannot listen on {}: {}", hostPortText(host, port), errorText(ec));
  }
  impl_->start();
}

TcpStoreServer::TcpStoreServer(int listeningFd) : impl_(std::make_unique<Impl>()) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(listeningFd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int err = errno;
    ::close(listeningFd);
    fail(ErrorCode::System, "store server cannot adopt socket fd {}: {}", listeningFd, errnoText(err));
  }
  const auto protocol = address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  std::error_code ec;
  impl_->acceptor.assign(protocol, listeningFd, ec);
  if (ec) {
    ::close(listeningFd);
    fail(ErrorCode::System, "store server cannot adopt socket fd {}: {}", listeningFd, errorText(ec));
  }
  impl_->start();
}

TcpStoreServer::~TcpStoreServer() = default;

std::uint16_t TcpStoreServer::port() const { return impl_->port; }

std::size_t TcpStoreServer::waitForClientsToLeave(std::chrono::milliseconds timeout) {
  auto& state = impl_->state;
  std::unique_lock lock(state.connectedMutex);
  state.connectedChanged.wait_for(lock, timeout, [&] { return state.connected == 0; });
  return state.connected;
}

}  // namespace banyan

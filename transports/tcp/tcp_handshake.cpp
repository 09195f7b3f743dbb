// The TCP transport's challenge-response (security/handshake.hpp has the messages and why they
// resist replay): the acceptor's half, then the connector's. Both run inside the greeting's
// deadline, which closes the socket if the other end stalls.

#include "transports/tcp/tcp_transport_impl.hpp"

namespace banyan::transport::tcp {

void TcpTransport::Impl::challenge(const std::shared_ptr<Greeting>& entry, const Hello& hello,
                                   const std::string& from) {
  entry->serverNonce = security::freshNonce();
  const security::Challenge challenge{
      entry->serverNonce,
      security::computeMac(*params.key, security::Role::Acceptor, entry->hello, hello.clientNonce, entry->serverNonce)};
  entry->challenge = security::encodeChallenge(challenge);
  const auto refuse = [this, entry, from](const std::string& why) {
    endGreeting(entry);
    log::warn(log::Where{log::Subsystem::Transport, params.rank}, "tcp: refused connection from {}: {}", from, why);
    asio::error_code ignored;
    entry->socket->close(ignored);
  };
  asio::async_write(
      *entry->socket, asio::buffer(entry->challenge),
      [this, entry, hello, refuse](const asio::error_code& writeError, std::size_t) {
        if (shutDown) return;
        if (writeError)
          return refuse(fmt::format("authentication: sending the challenge failed: {}",
                                    entry->timedOut ? "timed out" : writeError.message()));
        asio::async_read(
            *entry->socket, asio::buffer(entry->proof),
            [this, entry, hello, refuse](const asio::error_code& readError, std::size_t) {
              if (shutDown) return;
              if (readError) {
                return refuse(fmt::format("authentication: no proof came back ({})",
                                          entry->timedOut ? "timed out" : readError.message()));
              }
              security::Proof proof;
              if (auto status = security::decodeProof(entry->proof.data(), entry->proof.size(), proof); !status) {
                return refuse(status.message());
              }
              if (!security::verifyMac(*params.key, security::Role::Connector, entry->hello, hello.clientNonce,
                                       entry->serverNonce, proof.mac)) {
                return refuse("authentication failed: the proof does not match this job's key");
              }
              // Checked again now: the slot may have filled while this connection authenticated.
              if (connected(static_cast<int>(hello.rank), hello.socketIndex)) {
                return refuse(fmt::format("second connection {} from rank {}", hello.socketIndex, hello.rank));
              }
              endGreeting(entry);
              asio::error_code endpointError;
              const auto remote = entry->socket->remote_endpoint(endpointError);
              peers[hello.rank].address = endpointError ? std::string("?") : endpointText(remote);
              adopt(static_cast<int>(hello.rank), hello.socketIndex,
                    std::make_unique<tcp::socket>(std::move(*entry->socket)));
            });
      });
}

void TcpTransport::Impl::answerChallenge(const std::shared_ptr<Greeting>& entry, int peerRank, std::uint32_t index) {
  const auto failAuth = [this, entry, peerRank](ErrorCode code, const std::string& why) {
    endGreeting(entry);
    asio::error_code ignored;
    entry->socket->close(ignored);
    failPeer(peerRank, Status::make(code, "authenticating with {} failed: {}", who(peerRank), why));
  };
  asio::async_read(
      *entry->socket, asio::buffer(entry->challenge),
      [this, entry, peerRank, index, failAuth](const asio::error_code& readError, std::size_t) {
        if (shutDown) return;
        if (readError) {
          if (entry->timedOut) {
            return failAuth(ErrorCode::Timeout,
                            fmt::format("no challenge within {} ms (BANYAN_TIMEOUT)", params.timeout.count()));
          }
          // An acceptor that runs without authentication, or with another key's hello check,
          // closes without answering.
          return failAuth(ErrorCode::Unauthenticated,
                          fmt::format("it closed the connection instead of answering ({}): it runs with another "
                                      "BANYAN_AUTH_KEY or BANYAN_AUTH setting, or it failed",
                                      readError.message()));
        }
        security::Challenge challenge;
        if (auto status = security::decodeChallenge(entry->challenge.data(), entry->challenge.size(), challenge);
            !status) {
          return failAuth(ErrorCode::Unauthenticated, status.message());
        }
        const Hello hello = [&] {
          Hello parsed;
          (void)decodeHello(entry->hello, parsed);  // our own hello: always well-formed
          return parsed;
        }();
        if (!security::verifyMac(*params.key, security::Role::Acceptor, entry->hello, hello.clientNonce,
                                 challenge.serverNonce, challenge.mac)) {
          return failAuth(ErrorCode::Unauthenticated,
                          "it could not prove it holds this job's key (another BANYAN_AUTH_KEY, or not a rank of "
                          "this job at that address)");
        }
        entry->serverNonce = challenge.serverNonce;
        entry->proof = security::encodeProof({security::computeMac(*params.key, security::Role::Connector, entry->hello,
                                                                   hello.clientNonce, challenge.serverNonce)});
        asio::async_write(*entry->socket, asio::buffer(entry->proof),
                          [this, entry, peerRank, index, failAuth](const asio::error_code& writeError, std::size_t) {
                            if (shutDown) return;
                            if (writeError) {
                              return failAuth(ErrorCode::Remote,
                                              fmt::format("sending the proof failed: {}", writeError.message()));
                            }
                            endGreeting(entry);
                            adopt(peerRank, index, std::make_unique<tcp::socket>(std::move(*entry->socket)));
                          });
      });
}

}  // namespace banyan::transport::tcp

// The job key and the challenge-response of src/security/: pure encode/decode (every malformed
// or truncated message refused with a clear Status), the MACs (a wrong key, a flipped byte, a
// replayed server nonce or a reflected MAC all fail), the TCP hello's new fields, and a TcpStore
// session that must authenticate (real sockets, one process).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <banyan/tcp_store.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "security/handshake.hpp"
#include "security/job_key.hpp"
#include "security/key_source.hpp"
#include "support/scoped_env.hpp"
#include "transports/tcp/tcp_wire.hpp"

using namespace banyan;
using banyan::test::ScopedEnv;
using namespace banyan::security;
using namespace std::chrono_literals;

namespace {

// A hello as a TCP connector would send it.
transport::tcp::HelloBytes someHello(const Nonce& clientNonce) {
  transport::tcp::Hello hello{0x1234, 1, 0, transport::tcp::kHelloAuthenticating, clientNonce};
  return transport::tcp::encodeHello(hello);
}

// Every length but the right one, and a wrong magic, is refused with Unauthenticated.
template <typename Decode, typename Bytes>
void checkRefusesMalformed(Decode decode, const Bytes& good, const char* what) {
  for (std::size_t size = 0; size <= good.size() + 1; ++size) {
    if (size == good.size()) continue;
    std::vector<std::uint8_t> bytes(good.begin(), good.end());
    bytes.resize(size, 0);
    const Status status = decode(bytes.data(), bytes.size());
    INFO(what << " of " << size << " bytes");
    CHECK_FALSE(status.isOk());
    CHECK(status.code() == ErrorCode::Unauthenticated);
    CHECK_THAT(status.message(), Catch::Contains(std::to_string(size) + " bytes"));
  }
  CHECK_FALSE(decode(nullptr, good.size()).isOk());
  for (std::size_t byte = 0; byte < 4; ++byte) {
    std::vector<std::uint8_t> bytes(good.begin(), good.end());
    bytes[byte] ^= 0x20;
    const Status status = decode(bytes.data(), bytes.size());
    CHECK_FALSE(status.isOk());
    CHECK_THAT(status.message(), Catch::Contains("magic"));
  }
}

}  // namespace

TEST_CASE("job keys: derived the same from the same text, random otherwise, hex both ways", "[security]") {
  CHECK(deriveKey("correct horse") == deriveKey("correct horse"));
  CHECK_FALSE(deriveKey("correct horse") == deriveKey("correct horse "));
  CHECK_FALSE(deriveKey("") == deriveKey("x"));
  const JobKey a = randomKey();
  const JobKey b = randomKey();
  CHECK_FALSE(a == b);

  const std::string hex = toHex(a);
  CHECK(hex.size() == 64);
  JobKey back;
  REQUIRE(fromHex(hex, "test", back).isOk());
  CHECK(back == a);

  Status status = fromHex(hex.substr(1), "BANYAN_JOB_KEY", back);
  CHECK(status.code() == ErrorCode::InvalidUsage);
  CHECK_THAT(status.message(), Catch::Contains("BANYAN_JOB_KEY") && Catch::Contains("63 characters"));
  std::string bad = hex;
  bad[10] = 'g';
  status = fromHex(bad, "BANYAN_JOB_KEY", back);
  CHECK_FALSE(status.isOk());
  CHECK_THAT(status.message(), Catch::Contains("hex digits only"));
  CHECK_FALSE(fromHex(hex + "00", "x", back).isOk());
}

TEST_CASE("key sources: BANYAN_AUTH=off, BANYAN_AUTH_KEY over BANYAN_JOB_KEY, a malformed key named", "[security]") {
  ScopedEnv passphrase("BANYAN_AUTH_KEY", nullptr);
  ScopedEnv jobKey("BANYAN_JOB_KEY", nullptr);
  {
    ScopedEnv off("BANYAN_AUTH", "off");
    ScopedEnv text("BANYAN_AUTH_KEY", "secret");
    CHECK_FALSE(configuredKey().has_value());
  }
  {
    ScopedEnv text("BANYAN_AUTH_KEY", "secret");
    ScopedEnv launcher("BANYAN_JOB_KEY", toHex(randomKey()).c_str());
    REQUIRE(configuredKey().has_value());
    CHECK(*configuredKey() == deriveKey("secret"));
  }
  {
    const JobKey drawn = randomKey();
    ScopedEnv launcher("BANYAN_JOB_KEY", toHex(drawn).c_str());
    CHECK(configuredKey() == std::optional<JobKey>(drawn));
  }
  {
    ScopedEnv launcher("BANYAN_JOB_KEY", "abc");
    CHECK_THROWS_WITH(configuredKey(), Catch::Contains("BANYAN_JOB_KEY"));
  }
  {
    ScopedEnv wrong("BANYAN_AUTH", "maybe");
    CHECK_THROWS_WITH(config::resolveAuth(), Catch::Contains("BANYAN_AUTH") && Catch::Contains("on or off"));
  }
  CHECK_FALSE(configuredKey().has_value());
}

TEST_CASE("handshake messages round-trip; every truncated, extended or mislabelled one is refused", "[security]") {
  const Challenge challenge{freshNonce(), Mac{1, 2, 3}};
  const ChallengeBytes challengeBytes = encodeChallenge(challenge);
  Challenge decodedChallenge;
  REQUIRE(decodeChallenge(challengeBytes.data(), challengeBytes.size(), decodedChallenge).isOk());
  CHECK(decodedChallenge.serverNonce == challenge.serverNonce);
  CHECK(decodedChallenge.mac == challenge.mac);
  checkRefusesMalformed(
      [](const std::uint8_t* data, std::size_t size) {
        Challenge out;
        return decodeChallenge(data, size, out);
      },
      challengeBytes, "challenge");

  const Proof proof{Mac{9, 8, 7}};
  const ProofBytes proofBytes = encodeProof(proof);
  Proof decodedProof;
  REQUIRE(decodeProof(proofBytes.data(), proofBytes.size(), decodedProof).isOk());
  CHECK(decodedProof.mac == proof.mac);
  checkRefusesMalformed(
      [](const std::uint8_t* data, std::size_t size) {
        Proof out;
        return decodeProof(data, size, out);
      },
      proofBytes, "proof");

  const StoreHello hello{freshNonce()};
  StoreHelloBytes helloBytes = encodeStoreHello(hello);
  StoreHello decodedHello;
  REQUIRE(decodeStoreHello(helloBytes.data(), helloBytes.size(), decodedHello).isOk());
  CHECK(decodedHello.clientNonce == hello.clientNonce);
  checkRefusesMalformed(
      [](const std::uint8_t* data, std::size_t size) {
        StoreHello out;
        return decodeStoreHello(data, size, out);
      },
      helloBytes, "store hello");
  helloBytes[4] = 7;
  const Status status = decodeStoreHello(helloBytes.data(), helloBytes.size(), decodedHello);
  CHECK(status.code() == ErrorCode::Unauthenticated);
  CHECK_THAT(status.message(), Catch::Contains("version 7"));
}

TEST_CASE("a TCP hello carries its flags and client nonce; unknown flags are refused", "[security][framing]") {
  using namespace banyan::transport::tcp;
  const Nonce nonce = freshNonce();
  HelloBytes bytes = someHello(nonce);
  Hello decoded;
  REQUIRE(decodeHello(bytes, decoded).isOk());
  CHECK(decoded.flags == kHelloAuthenticating);
  CHECK(decoded.clientNonce == nonce);
  bytes[24] = 0x02;  // an undefined flag
  CHECK_THAT(decodeHello(bytes, decoded).message(), Catch::Contains("unknown flags"));
  // A refused hello leaves nothing half-decoded behind (found by fuzz_tcp_framing).
  CHECK(decoded.flags == kHelloAuthenticating);
  CHECK(decodeHello(encodeHello(decoded), decoded).isOk());
  bytes = someHello(nonce);
  bytes[29] = 1;  // reserved
  CHECK_FALSE(decodeHello(bytes, decoded).isOk());
  bytes = someHello(nonce);
  bytes[4] = 1;  // a version-1 peer (no authentication) is told apart
  CHECK_THAT(decodeHello(bytes, decoded).message(), Catch::Contains("version 1"));
}

TEST_CASE("MACs: the right key verifies; a wrong key, a flipped byte, a replay or a reflection does not",
          "[security]") {
  const JobKey key = randomKey();
  const Nonce client = freshNonce();
  const Nonce server = freshNonce();
  const auto hello = someHello(client);

  const Mac acceptor = computeMac(key, Role::Acceptor, hello, client, server);
  const Mac connector = computeMac(key, Role::Connector, hello, client, server);
  CHECK(verifyMac(key, Role::Acceptor, hello, client, server, acceptor));
  CHECK(verifyMac(key, Role::Connector, hello, client, server, connector));

  // Another key, on either side.
  const JobKey other = deriveKey("not this job");
  CHECK_FALSE(verifyMac(other, Role::Acceptor, hello, client, server, acceptor));
  CHECK_FALSE(verifyMac(key, Role::Connector, hello, client, server,
                        computeMac(other, Role::Connector, hello, client, server)));

  // Reflection: the acceptor's own MAC sent back as the connector's proof.
  CHECK_FALSE(verifyMac(key, Role::Connector, hello, client, server, acceptor));

  // Replay: a proof recorded for one server nonce, offered against a fresh one.
  const Nonce fresh = freshNonce();
  CHECK_FALSE(verifyMac(key, Role::Connector, hello, client, fresh, connector));

  // Any flipped bit of the MAC, the hello (another rank, communicator, connection) or a nonce.
  for (std::size_t i = 0; i < kMacBytes; ++i) {
    Mac flipped = connector;
    flipped[i] ^= 0x01;
    CHECK_FALSE(verifyMac(key, Role::Connector, hello, client, server, flipped));
  }
  for (std::size_t i = 0; i < hello.size(); ++i) {
    auto altered = hello;
    altered[i] ^= 0x80;
    CHECK_FALSE(verifyMac(key, Role::Connector, altered, client, server, connector));
  }
  Nonce alteredClient = client;
  alteredClient[31] ^= 1;
  CHECK_FALSE(verifyMac(key, Role::Connector, hello, alteredClient, server, connector));
  // A hello one byte shorter is another transcript even if the bytes line up.
  CHECK_FALSE(verifyMac(key, Role::Connector, std::span(hello.data(), hello.size() - 1), client, server, connector));
}

namespace {

// A raw TCP connection to 127.0.0.1:port.
int rawConnect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  return fd;
}

}  // namespace

TEST_CASE("a TcpStore with a job key serves only clients that prove it", "[security][store]") {
  ScopedEnv quiet("BANYAN_DEBUG", "none");
  ScopedEnv passphrase("BANYAN_AUTH_KEY", nullptr);
  ScopedEnv auth("BANYAN_AUTH", nullptr);
  const JobKey key = randomKey();
  std::optional<TcpStoreServer> server;
  {
    const ScopedServerKey serverKey(key);
    server.emplace("127.0.0.1", 0);
  }
  const std::uint16_t port = server->port();
  {
    ScopedEnv member("BANYAN_JOB_KEY", toHex(key).c_str());
    TcpStore store("127.0.0.1", port);
    store.set("k", {1, 2, 3}, 5s);
    CHECK(store.get("k", 5s) == Store::Bytes{1, 2, 3});
  }
  SECTION("a client with another key is told, and learns nothing") {
    ScopedEnv other("BANYAN_AUTH_KEY", "another job");
    TcpStore store("127.0.0.1", port);
    try {
      store.get("k", 5s);
      FAIL("a client with the wrong key was served");
    } catch (const Error& error) {
      CHECK(error.code() == ErrorCode::Unauthenticated);
      CHECK_THAT(error.what(), Catch::Contains("could not prove") && Catch::Contains("BANYAN_AUTH_KEY"));
    }
  }
  SECTION("a client without a key is closed at once, with a hint") {
    ScopedEnv off("BANYAN_AUTH", "off");
    TcpStore store("127.0.0.1", port);
    CHECK_THROWS_WITH(store.get("k", 5s), Catch::Contains("closed the connection") && Catch::Contains("BANYAN_AUTH"));
  }
  SECTION("a replayed client handshake gets no answer to its request") {
    // Record what a real client sends (hello, proof, one get) by serving it from a socket of
    // our own that speaks the server's part with a challenge of our choosing, then replay it.
    ScopedEnv member("BANYAN_JOB_KEY", toHex(key).c_str());
    const int fake = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fake, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fake, 1) == 0);
    socklen_t length = sizeof address;
    ::getsockname(fake, reinterpret_cast<sockaddr*>(&address), &length);
    TcpStore victim("127.0.0.1", ntohs(address.sin_port));
    std::thread client([&] {
      try {
        victim.get("k", 2s);
      } catch (const Error&) {
        // our fake server never answers the get
      }
    });
    const int accepted = ::accept(fake, nullptr, nullptr);
    std::vector<std::uint8_t> recorded(kStoreHelloSize);
    REQUIRE(::recv(accepted, recorded.data(), recorded.size(), MSG_WAITALL) == static_cast<ssize_t>(kStoreHelloSize));
    StoreHello hello;
    REQUIRE(decodeStoreHello(recorded.data(), recorded.size(), hello).isOk());
    const Nonce serverNonce = freshNonce();
    const auto challenge =
        encodeChallenge({serverNonce, computeMac(key, Role::Acceptor, recorded, hello.clientNonce, serverNonce)});
    REQUIRE(::send(accepted, challenge.data(), challenge.size(), 0) == static_cast<ssize_t>(challenge.size()));
    std::vector<std::uint8_t> rest(kProofSize + 4 + 1 + 4 + 1);  // proof, then get('k')
    REQUIRE(::recv(accepted, rest.data(), rest.size(), MSG_WAITALL) == static_cast<ssize_t>(rest.size()));
    recorded.insert(recorded.end(), rest.begin(), rest.end());
    client.join();
    ::close(accepted);
    ::close(fake);

    // Replayed byte for byte to the real server: its challenge has a fresh nonce, so the
    // recorded proof fails and the get is never answered (the connection closes).
    const int replay = rawConnect(port);
    REQUIRE(::send(replay, recorded.data(), recorded.size(), 0) == static_cast<ssize_t>(recorded.size()));
    std::vector<std::uint8_t> answer(4096);
    std::size_t got = 0;
    for (;;) {
      const ssize_t n = ::recv(replay, answer.data() + got, answer.size() - got, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(replay);
    CHECK(got == kChallengeSize);  // the challenge alone: no value
  }
  SECTION("a stranger's check is not answered: it cannot learn which keys exist") {
    const int stranger = rawConnect(port);
    // A well-formed check('k') frame (store_protocol.hpp), without the handshake.
    const std::uint8_t check[] = {10, 0, 0, 0, 5, 1, 0, 0, 0, 1, 0, 0, 0, 'k'};
    REQUIRE(::send(stranger, check, sizeof check, 0) == static_cast<ssize_t>(sizeof check));
    char answer[64];
    CHECK(::recv(stranger, answer, sizeof answer, 0) <= 0);
    ::close(stranger);
    ScopedEnv member("BANYAN_JOB_KEY", toHex(key).c_str());
    TcpStore store("127.0.0.1", port);
    CHECK(store.check({"k"}, 5s));
    CHECK_FALSE(store.check({"k", "absent"}, 5s));
  }
  SECTION("random bytes are dropped without an answer") {
    const int stranger = rawConnect(port);
    const char junk[] = "\x10\x00\x00\x00garbage garbage garbage";
    REQUIRE(::send(stranger, junk, sizeof junk, 0) == static_cast<ssize_t>(sizeof junk));
    char answer[64];
    CHECK(::recv(stranger, answer, sizeof answer, 0) <= 0);
    ::close(stranger);
  }
  // And the members are still served.
  ScopedEnv member("BANYAN_JOB_KEY", toHex(key).c_str());
  TcpStore store("127.0.0.1", port);
  CHECK(store.get("k", 5s) == Store::Bytes{1, 2, 3});
}

TEST_CASE("a client with a key refuses a store server that has none", "[security][store]") {
  ScopedEnv passphrase("BANYAN_AUTH_KEY", nullptr);
  ScopedEnv auth("BANYAN_AUTH", nullptr);
  std::optional<TcpStoreServer> server;
  {
    const ScopedServerKey none(std::nullopt);
    server.emplace("127.0.0.1", 0);
  }
  ScopedEnv member("BANYAN_AUTH_KEY", "secret");
  TcpStore store("127.0.0.1", server->port());
  try {
    store.set("k", {1}, 5s);
    FAIL("an unauthenticated server was trusted");
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::Unauthenticated);
    CHECK_THAT(error.what(), Catch::Contains("authentication"));
  }
}

TEST_CASE("communicator keys: published by rank 0 when none is configured, never when one is", "[security][store]") {
  ScopedEnv passphrase("BANYAN_AUTH_KEY", nullptr);
  ScopedEnv jobKey("BANYAN_JOB_KEY", nullptr);
  ScopedEnv auth("BANYAN_AUTH", nullptr);
  std::optional<TcpStoreServer> server;
  {
    const ScopedServerKey none(std::nullopt);
    server.emplace("127.0.0.1", 0);
  }
  TcpStore store("127.0.0.1", server->port());  // no key: an open store, as under torchrun

  // No key anywhere: rank 0 draws one and the others read the same from the store.
  const auto drawn = communicatorKey(config::resolveAuth(), store, 0, "c0/authkey", 5s);
  const auto read = communicatorKey(config::resolveAuth(), store, 1, "c0/authkey", 5s);
  REQUIRE(drawn.has_value());
  CHECK(read == drawn);

  // BANYAN_AUTH_KEY on rank 0: the store holds only a marker, never the key or the text.
  {
    ScopedEnv text("BANYAN_AUTH_KEY", "secret");
    CHECK(communicatorKey(config::resolveAuth(), store, 0, "c1/authkey", 5s) == deriveKey("secret"));
  }
  const auto published = store.get("c1/authkey", 5s);
  const std::string marker(published.begin(), published.end());
  CHECK_THAT(marker, !Catch::Contains("secret") && !Catch::Contains(toHex(deriveKey("secret"))));
  // ... so a rank without a key fails at once, saying what to set.
  try {
    communicatorKey(config::resolveAuth(), store, 1, "c1/authkey", 5s);
    FAIL("a rank without a key joined one whose rank 0 has BANYAN_AUTH_KEY");
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::Unauthenticated);
    CHECK_THAT(error.what(), Catch::Contains("BANYAN_AUTH_KEY"));
  }

  // BANYAN_AUTH=off: no key, nothing in the store.
  ScopedEnv off("BANYAN_AUTH", "off");
  CHECK_FALSE(communicatorKey(config::resolveAuth(), store, 0, "c2/authkey", 5s).has_value());
  CHECK_THROWS_AS(store.get("c2/authkey", 100ms), Error);
}

#pragma once
// The challenge-response by which the two ends of a connection prove to each other that they
// hold the job key, without sending it. Pure functions (no I/O, no clock) so that every message
// shape, and every malformed one, is unit-tested and fuzzed without a socket.
//
// The exchange, for any connection (a transport's, or a store session's):
//   connector -> acceptor   hello: the connection's own first message (it names who connects
//                           and carries a fresh 32-byte client nonce)
//   acceptor  -> connector  challenge: u32 magic 'BNYC' | server nonce[32] | mac[32]
//                           mac = HMAC-SHA256(key, "banyan acceptor v1" | transcript)
//   connector -> acceptor   proof:     u32 magic 'BNYP' | mac[32]
//                           mac = HMAC-SHA256(key, "banyan connector v1" | transcript)
//   transcript = u32 len(hello) | hello | client nonce | server nonce
// The acceptor adopts the connection only after checking the proof; the connector sends nothing
// else before it has checked the challenge. A recorded handshake replayed later fails because
// the acceptor's nonce is fresh, a reflected one because the two labels differ, and a hello
// altered on the way (another rank, another communicator) because the hello is in the MAC.
//
// Not covered (docs/security.md): what follows the handshake is neither encrypted nor MAC'd per
// frame, so an attacker on the path who can rewrite TCP segments can still read or alter data.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.hpp"
#include "security/job_key.hpp"

namespace banyan::security {

inline constexpr std::size_t kNonceBytes = 32;
inline constexpr std::size_t kMacBytes = 32;
using Nonce = std::array<std::uint8_t, kNonceBytes>;
using Mac = std::array<std::uint8_t, kMacBytes>;

inline constexpr std::uint32_t kChallengeMagic = 0x434e5942;   // "BNYC"
inline constexpr std::uint32_t kProofMagic = 0x504e5942;       // "BNYP"
inline constexpr std::uint32_t kStoreHelloMagic = 0x534e5942;  // "BNYS"
inline constexpr std::uint32_t kStoreHelloVersion = 1;

struct Challenge {
  Nonce serverNonce{};
  Mac mac{};
};
inline constexpr std::size_t kChallengeSize = 4 + kNonceBytes + kMacBytes;
using ChallengeBytes = std::array<std::uint8_t, kChallengeSize>;

struct Proof {
  Mac mac{};
};
inline constexpr std::size_t kProofSize = 4 + kMacBytes;
using ProofBytes = std::array<std::uint8_t, kProofSize>;

// A TcpStore client's hello: u32 magic 'BNYS' | u32 version | client nonce[32]. (A transport
// connection's hello is its own, transports/tcp/tcp_wire.hpp, with the nonce inside.)
struct StoreHello {
  Nonce clientNonce{};
};
inline constexpr std::size_t kStoreHelloSize = 8 + kNonceBytes;
using StoreHelloBytes = std::array<std::uint8_t, kStoreHelloSize>;

// 32 bytes from the operating system's random source: a fresh nonce per handshake.
Nonce freshNonce();

ChallengeBytes encodeChallenge(const Challenge& challenge);
ProofBytes encodeProof(const Proof& proof);
StoreHelloBytes encodeStoreHello(const StoreHello& hello);

// Each decoder takes exactly its message's size and checks its magic (and version); anything
// else is refused with ErrorCode::Unauthenticated saying what was wrong. They read nothing
// beyond `size` bytes.
Status decodeChallenge(const std::uint8_t* data, std::size_t size, Challenge& out);
Status decodeProof(const std::uint8_t* data, std::size_t size, Proof& out);
Status decodeStoreHello(const std::uint8_t* data, std::size_t size, StoreHello& out);

enum class Role { Acceptor, Connector };

// The MAC the given role sends over this handshake's transcript.
Mac computeMac(const JobKey& key, Role role, std::span<const std::uint8_t> hello, const Nonce& clientNonce,
               const Nonce& serverNonce);

// Constant-time check that `mac` is what `role` must send for this transcript.
bool verifyMac(const JobKey& key, Role role, std::span<const std::uint8_t> hello, const Nonce& clientNonce,
               const Nonce& serverNonce, const Mac& mac);

}  // namespace banyan::security

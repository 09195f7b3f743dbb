#pragma once
// What crosses a TCP connection, byte for byte. Every field is little-endian and fixed-size so
// the layout is visible here rather than implied by a struct's padding.
//
// Hello (the connecting side sends it once, first):
//   u32 magic 'BNYH' | u32 version | u64 communicator nonce | u32 rank | u32 socket index |
//   u32 flags (bit 0: authenticating) | u32 reserved (0) | client nonce[32]
// With authentication on, the challenge and proof of security/handshake.hpp follow it, and the
// hello's bytes are part of what both MACs cover (so its rank and nonce cannot be altered).
// Frame header (before every message):
//   u32 magic 'BNYF' | u32 flags (bit 0: channel closed) | u64 channel | u64 tag | u64 payload length
// The payload follows the header directly and is written from / read into the caller's buffer.
// The channel is the communicator of the family the message belongs to (0: the transport's own;
// transport.hpp, openChannel). A "channel closed" frame has no payload: the sender's channel
// shut down, so the receiver's receives on it from that sender fail.

#include "common/status.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace banyan::transport::tcp {

inline constexpr std::uint32_t kHelloMagic = 0x484e5942;  // "BNYH"
inline constexpr std::uint32_t kFrameMagic = 0x464e5942;  // "BNYF"
// 2: the hello carries flags and a client nonce, and may be followed by a challenge-response.
// 3: frames carry a channel and flags.
inline constexpr std::uint32_t kProtocolVersion = 3;
inline constexpr std::uint32_t kFrameChannelClosed = 1;
inline constexpr std::uint32_t kHelloAuthenticating = 1;
// A payload longer than this is taken for garbage rather than trusted (2^48 bytes = 256 TiB).
inline constexpr std::uint64_t kMaxPayload = std::uint64_t{1} << 48;

struct Hello {
  std::uint64_t nonce = 0;
  std::uint32_t rank = 0;
  std::uint32_t socketIndex = 0;
  std::uint32_t flags = 0;  // kHelloAuthenticating
  std::array<std::uint8_t, 32> clientNonce{};
};
inline constexpr std::size_t kHelloSize = 64;
using HelloBytes = std::array<std::uint8_t, kHelloSize>;

struct FrameHeader {
  std::uint64_t tag = 0;
  std::uint64_t length = 0;
  std::uint64_t channel = 0;
  std::uint32_t flags = 0;  // kFrameChannelClosed
};
inline constexpr std::size_t kFrameHeaderSize = 32;
using FrameHeaderBytes = std::array<std::uint8_t, kFrameHeaderSize>;

HelloBytes encodeHello(const Hello& hello);
// Checks magic, version and the unused bits; the caller checks nonce/rank against what it expects.
// On refusal `out` is left untouched.
Status decodeHello(const HelloBytes& bytes, Hello& out);

FrameHeaderBytes encodeFrameHeader(const FrameHeader& header);
// Checks magic, the flags (known, and no payload on a channel-closed frame) and the length bound.
Status decodeFrameHeader(const FrameHeaderBytes& bytes, FrameHeader& out);

}  // namespace banyan::transport::tcp

#include "transports/tcp/tcp_wire.hpp"

#include <algorithm>

namespace banyan::transport::tcp {
namespace {

template <typename T>
void put(std::uint8_t* at, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) at[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

template <typename T>
T get(const std::uint8_t* at) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(at[i]) << (8 * i);
  return value;
}

}  // namespace

HelloBytes encodeHello(const Hello& hello) {
  HelloBytes bytes{};
  put<std::uint32_t>(&bytes[0], kHelloMagic);
  put<std::uint32_t>(&bytes[4], kProtocolVersion);
  put<std::uint64_t>(&bytes[8], hello.nonce);
  put<std::uint32_t>(&bytes[16], hello.rank);
  put<std::uint32_t>(&bytes[20], hello.socketIndex);
  put<std::uint32_t>(&bytes[24], hello.flags);
  put<std::uint32_t>(&bytes[28], 0);
  std::copy(hello.clientNonce.begin(), hello.clientNonce.end(), bytes.begin() + 32);
  return bytes;
}

Status decodeHello(const HelloBytes& bytes, Hello& out) {
  const auto magic = get<std::uint32_t>(&bytes[0]);
  if (magic != kHelloMagic) {
    return Status::make(ErrorCode::Remote, "connection opened without a banyan hello (magic {:#010x})", magic);
  }
  const auto version = get<std::uint32_t>(&bytes[4]);
  if (version != kProtocolVersion) {
    return Status::make(ErrorCode::Remote, "peer speaks protocol version {}, this build speaks {}", version,
                        kProtocolVersion);
  }
  // Decoded into a local and handed out only whole: a refused hello leaves `out` as it was.
  Hello hello;
  hello.nonce = get<std::uint64_t>(&bytes[8]);
  hello.rank = get<std::uint32_t>(&bytes[16]);
  hello.socketIndex = get<std::uint32_t>(&bytes[20]);
  hello.flags = get<std::uint32_t>(&bytes[24]);
  const auto reserved = get<std::uint32_t>(&bytes[28]);
  if ((hello.flags & ~kHelloAuthenticating) != 0 || reserved != 0) {
    return Status::make(ErrorCode::Remote, "hello with unknown flags {:#x} (reserved {:#x})", hello.flags, reserved);
  }
  std::copy(bytes.begin() + 32, bytes.end(), hello.clientNonce.begin());
  out = hello;
  return Status::ok();
}

FrameHeaderBytes encodeFrameHeader(const FrameHeader& header) {
  FrameHeaderBytes bytes{};
  put<std::uint32_t>(&bytes[0], kFrameMagic);
  put<std::uint32_t>(&bytes[4], header.flags);
  put<std::uint64_t>(&bytes[8], header.channel);
  put<std::uint64_t>(&bytes[16], header.tag);
  put<std::uint64_t>(&bytes[24], header.length);
  return bytes;
}

Status decodeFrameHeader(const FrameHeaderBytes& bytes, FrameHeader& out) {
  const auto magic = get<std::uint32_t>(&bytes[0]);
  const auto flags = get<std::uint32_t>(&bytes[4]);
  if (magic != kFrameMagic || (flags & ~kFrameChannelClosed) != 0) {
    return Status::make(ErrorCode::Remote, "garbled frame header (magic {:#010x}, flags {:#x})", magic, flags);
  }
  out.flags = flags;
  out.channel = get<std::uint64_t>(&bytes[8]);
  out.tag = get<std::uint64_t>(&bytes[16]);
  out.length = get<std::uint64_t>(&bytes[24]);
  if ((flags & kFrameChannelClosed) != 0 && out.length != 0) {
    return Status::make(ErrorCode::Remote, "a channel-closed frame announces {} bytes of payload", out.length);
  }
  if (out.length > kMaxPayload) {
    return Status::make(ErrorCode::Remote, "frame announces {} bytes, more than the {} byte bound", out.length,
                        kMaxPayload);
  }
  return Status::ok();
}

}  // namespace banyan::transport::tcp

#include "transports/tcp/tcp_wire.hpp"

#include <catch2/catch.hpp>

using namespace banyan;
using namespace banyan::transport::tcp;

TEST_CASE("frame headers round-trip and reject garbage", "[framing]") {
  FrameHeader header{0x1234567890abcdefULL, 1ULL << 40, 0xfedcba9876543210ULL};
  FrameHeader decoded;
  REQUIRE(decodeFrameHeader(encodeFrameHeader(header), decoded).isOk());
  CHECK(decoded.tag == header.tag);
  CHECK(decoded.length == header.length);
  CHECK(decoded.channel == header.channel);
  CHECK(decoded.flags == 0);

  auto bytes = encodeFrameHeader(header);
  bytes[0] ^= 0xff;
  Status status = decodeFrameHeader(bytes, decoded);
  CHECK_FALSE(status.isOk());
  CHECK(status.code() == ErrorCode::Remote);
  CHECK_THAT(status.message(), Catch::Contains("garbled frame header"));

  bytes = encodeFrameHeader({1, kMaxPayload + 1});
  status = decodeFrameHeader(bytes, decoded);
  CHECK_FALSE(status.isOk());
  CHECK_THAT(status.message(), Catch::Contains("bound"));

  bytes = encodeFrameHeader(header);
  bytes[5] = 1;  // unknown flag bits must be zero
  CHECK_FALSE(decodeFrameHeader(bytes, decoded).isOk());

  // A channel-closed frame carries no payload.
  REQUIRE(decodeFrameHeader(encodeFrameHeader({0, 0, 9, kFrameChannelClosed}), decoded).isOk());
  CHECK(decoded.flags == kFrameChannelClosed);
  CHECK(decoded.channel == 9);
  CHECK_FALSE(decodeFrameHeader(encodeFrameHeader({0, 8, 9, kFrameChannelClosed}), decoded).isOk());
}

TEST_CASE("hellos round-trip and name a wrong version", "[framing]") {
  Hello hello{42, 7, 2};
  Hello decoded;
  REQUIRE(decodeHello(encodeHello(hello), decoded).isOk());
  CHECK(decoded.nonce == 42);
  CHECK(decoded.rank == 7);
  CHECK(decoded.socketIndex == 2);

  auto bytes = encodeHello(hello);
  bytes[4] = 99;
  Status status = decodeHello(bytes, decoded);
  CHECK_FALSE(status.isOk());
  CHECK_THAT(status.message(), Catch::Contains("protocol version 99"));

  bytes = encodeHello(hello);
  bytes[1] = 0;
  CHECK_THAT(decodeHello(bytes, decoded).message(), Catch::Contains("without a banyan hello"));
}

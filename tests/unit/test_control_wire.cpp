// The control channel's datagrams (src/resilience/control_wire.hpp): every kind round-trips, and
// anything that is not a whole, well-formed datagram of a known kind is refused.

#include "resilience/control_wire.hpp"

#include <catch2/catch.hpp>

using namespace banyan::resilience;

namespace {

ControlMessage sample(MessageKind kind) {
  ControlMessage m;
  m.kind = kind;
  m.nonce = 0x1234567890abcdefull;
  m.from = 3;
  m.entered = 42;
  m.subject = 2;
  m.detectedBy = 1;
  m.text = "its process exited";
  m.ballot = Ballot{7, 0b1010, {0, 2, 5}, "127.0.0.1:4000"};
  return m;
}

const MessageKind kKinds[] = {MessageKind::Heartbeat, MessageKind::Failure, MessageKind::Revoke, MessageKind::Propose,
                              MessageKind::Query,     MessageKind::Decide,  MessageKind::Goodbye};

}  // namespace

TEST_CASE("every control datagram decodes to what was encoded", "[unit][resilience]") {
  for (const MessageKind kind : kKinds) {
    const auto bytes = encode(sample(kind));
    const auto back = decode(bytes.data(), bytes.size());
    REQUIRE(back);
    CHECK(back->kind == kind);
    CHECK(back->nonce == 0x1234567890abcdefull);
    CHECK(back->from == 3);
    CHECK(encode(*back) == bytes);
    if (kind == MessageKind::Failure) {
      CHECK((back->subject == 2 && back->detectedBy == 1 && back->text == "its process exited"));
    }
    if (kind == MessageKind::Decide) {
      CHECK((back->ballot.epoch == 7 && back->ballot.flag == 0b1010));
      CHECK(back->ballot.failed == std::vector<int>{0, 2, 5});
      CHECK(back->ballot.payload == "127.0.0.1:4000");
    }
    if (kind == MessageKind::Heartbeat) CHECK(back->entered == 42);
  }
}

TEST_CASE("truncated, padded or foreign datagrams are refused", "[unit][resilience]") {
  for (const MessageKind kind : kKinds) {
    const auto bytes = encode(sample(kind));
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode(bytes.data(), cut));
    auto padded = bytes;
    padded.push_back(0);
    CHECK_FALSE(decode(padded.data(), padded.size()));
    auto magic = bytes;
    magic[0] = 'X';
    CHECK_FALSE(decode(magic.data(), magic.size()));
    auto version = bytes;
    version[4] = 2;
    CHECK_FALSE(decode(version.data(), version.size()));
    auto unknown = bytes;
    unknown[5] = 99;
    CHECK_FALSE(decode(unknown.data(), unknown.size()));
  }
  // A failed-rank list longer than the datagram, and a negative sender.
  auto m = sample(MessageKind::Propose);
  auto bytes = encode(m);
  bytes[bytes.size() - 3 * 4 - 4] = 0xff;  // count's low byte
  CHECK_FALSE(decode(bytes.data(), bytes.size()));
  m.from = -1;
  bytes = encode(m);
  CHECK_FALSE(decode(bytes.data(), bytes.size()));
}

TEST_CASE("long texts are cut to what a datagram carries", "[unit][resilience]") {
  auto m = sample(MessageKind::Failure);
  m.text.assign(3 * kMaxText, 'x');
  const auto bytes = encode(m);
  const auto back = decode(bytes.data(), bytes.size());
  REQUIRE(back);
  CHECK(back->text.size() == kMaxText);
}

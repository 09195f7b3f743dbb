#include "resilience/control_wire.hpp"

#include <algorithm>
#include <cstring>

namespace banyan::resilience {

namespace {

constexpr std::uint8_t kMagic[4] = {'B', 'N', 'Y', 'C'};
constexpr std::uint8_t kVersion = 1;

class Writer {
 public:
  void bytes(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    out_.insert(out_.end(), p, p + size);
  }
  template <typename T>
  void number(T value) {
    bytes(&value, sizeof value);
  }
  void text(const std::string& value, std::size_t limit) {
    const auto size = static_cast<std::uint16_t>(std::min(value.size(), limit));
    number(size);
    bytes(value.data(), size);
  }
  void ranks(const std::vector<int>& list) {
    number(static_cast<std::uint32_t>(list.size()));
    for (int rank : list) number(static_cast<std::int32_t>(rank));
  }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
};

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool bytes(void* into, std::size_t size) {
    if (size > size_ - at_) return false;
    std::memcpy(into, data_ + at_, size);
    at_ += size;
    return true;
  }
  template <typename T>
  bool number(T& value) {
    return bytes(&value, sizeof value);
  }
  bool text(std::string& value) {
    std::uint16_t size = 0;
    if (!number(size) || size > kMaxText || size > size_ - at_) return false;
    value.assign(reinterpret_cast<const char*>(data_ + at_), size);
    at_ += size;
    return true;
  }
  bool ranks(std::vector<int>& list) {
    std::uint32_t count = 0;
    if (!number(count) || count > kMaxFailedRanks || count * sizeof(std::int32_t) > size_ - at_) return false;
    list.resize(count);
    for (auto& rank : list) {
      std::int32_t value = 0;
      number(value);
      if (value < 0) return false;
      rank = value;
    }
    return true;
  }
  bool finished() const { return at_ == size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

}  // namespace

std::vector<std::uint8_t> encode(const ControlMessage& m) {
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.number(kVersion);
  w.number(static_cast<std::uint8_t>(m.kind));
  w.number(std::uint16_t{0});
  w.number(m.nonce);
  w.number(static_cast<std::int32_t>(m.from));
  switch (m.kind) {
    case MessageKind::Heartbeat:
      w.number(m.entered);
      break;
    case MessageKind::Goodbye:
      break;
    case MessageKind::Failure:
      w.number(static_cast<std::int32_t>(m.subject));
      w.number(static_cast<std::int32_t>(m.detectedBy));
      w.text(m.text, kMaxText);
      break;
    case MessageKind::Revoke:
      w.number(static_cast<std::int32_t>(m.subject));
      w.text(m.text, kMaxText);
      break;
    case MessageKind::Propose:
      w.number(m.ballot.epoch);
      w.number(m.ballot.flag);
      w.ranks(m.ballot.failed);
      break;
    case MessageKind::Query:
      w.number(m.ballot.epoch);
      break;
    case MessageKind::Decide:
      w.number(m.ballot.epoch);
      w.number(m.ballot.flag);
      w.ranks(m.ballot.failed);
      w.text(m.ballot.payload, kMaxText);
      break;
  }
  return w.take();
}

std::optional<ControlMessage> decode(const std::uint8_t* data, std::size_t size) {
  Reader r(data, size);
  std::uint8_t magic[4];
  std::uint8_t version = 0, kind = 0;
  std::uint16_t reserved = 0;
  std::int32_t from = 0;
  ControlMessage m;
  if (!r.bytes(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0) return std::nullopt;
  if (!r.number(version) || version != kVersion || !r.number(kind) || !r.number(reserved) || reserved != 0) {
    return std::nullopt;
  }
  if (!r.number(m.nonce) || !r.number(from) || from < 0) return std::nullopt;
  m.from = from;
  m.kind = static_cast<MessageKind>(kind);
  std::int32_t subject = 0, detectedBy = 0;
  bool ok = false;
  switch (m.kind) {
    case MessageKind::Heartbeat:
      ok = r.number(m.entered);
      break;
    case MessageKind::Goodbye:
      ok = true;
      break;
    case MessageKind::Failure:
      ok = r.number(subject) && r.number(detectedBy) && r.text(m.text) && subject >= 0 && detectedBy >= 0;
      m.subject = subject;
      m.detectedBy = detectedBy;
      break;
    case MessageKind::Revoke:
      ok = r.number(subject) && r.text(m.text) && subject >= 0;
      m.subject = subject;
      break;
    case MessageKind::Propose:
      ok = r.number(m.ballot.epoch) && r.number(m.ballot.flag) && r.ranks(m.ballot.failed);
      break;
    case MessageKind::Query:
      ok = r.number(m.ballot.epoch);
      break;
    case MessageKind::Decide:
      ok = r.number(m.ballot.epoch) && r.number(m.ballot.flag) && r.ranks(m.ballot.failed) && r.text(m.ballot.payload);
      break;
    default:
      return std::nullopt;
  }
  if (!ok || !r.finished()) return std::nullopt;
  return m;
}

}  // namespace banyan::resilience

#include "bootstrap/store_protocol.hpp"

#include <algorithm>
#include <cstring>

namespace banyan::bootstrap::protocol {

namespace {

void putU8(Bytes& out, std::uint8_t value) { out.push_back(value); }

void putU32(Bytes& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

void putU64(Bytes& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

void putBytes(Bytes& out, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), bytes, bytes + size);
}

std::uint32_t loadU32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

std::uint64_t loadU64(const std::uint8_t* p) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | p[i];
  return value;
}

// Writes the length prefix into the 4 bytes reserved at the front of `frame`.
void sealFrame(Bytes& frame) {
  const auto length = static_cast<std::uint32_t>(frame.size() - kHeaderBytes);
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<std::uint8_t>(length >> (8 * i));
}

void checkKey(const std::string& key) {
  if (key.size() > kMaxKeyBytes) {
    fail(ErrorCode::InvalidUsage, "store key '{}...' is {} bytes, more than the limit of {}", key.substr(0, 64),
         key.size(), kMaxKeyBytes);
  }
}

// Bounds-checked cursor over a received body: every read says whether the bytes were there.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool u8(std::uint8_t& value) {
    if (remaining() < 1) return false;
    value = data_[offset_++];
    return true;
  }
  bool u32(std::uint32_t& value) {
    if (remaining() < 4) return false;
    value = loadU32(data_ + offset_);
    offset_ += 4;
    return true;
  }
  bool i64(std::int64_t& value) {
    if (remaining() < 8) return false;
    value = static_cast<std::int64_t>(loadU64(data_ + offset_));
    offset_ += 8;
    return true;
  }
  // A u32 length (at most `max`) followed by that many bytes, into a std::string or Bytes.
  template <typename Out>
  Status lengthPrefixed(Out& value, std::size_t max, const char* what) {
    std::uint32_t length = 0;
    if (!u32(length)) return truncated(what);
    if (length > max) {
      return Status::make(ErrorCode::Remote, "{} of {} bytes exceeds the limit of {}", what, length, max);
    }
    if (remaining() < length) return truncated(what);
    const auto* begin = reinterpret_cast<const typename Out::value_type*>(data_ + offset_);
    value.assign(begin, begin + length);
    offset_ += length;
    return {};
  }
  Status string(std::string& value, std::size_t max, const char* what) { return lengthPrefixed(value, max, what); }
  Status bytes(Bytes& value, std::size_t max, const char* what) { return lengthPrefixed(value, max, what); }
  std::size_t remaining() const { return size_ - offset_; }
  static Status truncated(const char* what) {
    return Status::make(ErrorCode::Remote, "frame ends inside its {}", what);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

}  // namespace

const char* commandName(Command command) {
  switch (command) {
    case Command::Set:
      return "set";
    case Command::Get:
      return "get";
    case Command::Add:
      return "add";
    case Command::Wait:
      return "wait";
    case Command::Check:
      return "check";
  }
  return "unknown";
}

Bytes encodeRequest(const Request& request) {
  const std::size_t expectedKeys = takesKeyList(request.command) ? request.keys.size() : 1;
  if (request.keys.size() != expectedKeys) {
    fail(ErrorCode::Internal, "store {} request with {} keys", commandName(request.command), request.keys.size());
  }
  for (const auto& key : request.keys) checkKey(key);

  Bytes frame(kHeaderBytes);
  putU8(frame, static_cast<std::uint8_t>(request.command));
  switch (request.command) {
    case Command::Set:
      if (request.value.size() > kMaxValueBytes) {
        fail(ErrorCode::InvalidUsage, "store set('{}'): value of {} bytes is more than the limit of {}",
             request.keys[0], request.value.size(), kMaxValueBytes);
      }
      putU32(frame, static_cast<std::uint32_t>(request.keys[0].size()));
      putBytes(frame, request.keys[0].data(), request.keys[0].size());
      putU32(frame, static_cast<std::uint32_t>(request.value.size()));
      putBytes(frame, request.value.data(), request.value.size());
      break;
    case Command::Get:
      putU32(frame, static_cast<std::uint32_t>(request.keys[0].size()));
      putBytes(frame, request.keys[0].data(), request.keys[0].size());
      break;
    case Command::Add:
      putU32(frame, static_cast<std::uint32_t>(request.keys[0].size()));
      putBytes(frame, request.keys[0].data(), request.keys[0].size());
      putU64(frame, static_cast<std::uint64_t>(request.delta));
      break;
    case Command::Wait:
    case Command::Check:
      if (request.keys.size() > kMaxWaitKeys) {
        fail(ErrorCode::InvalidUsage, "store {} on {} keys: more than the limit of {}", commandName(request.command),
             request.keys.size(), kMaxWaitKeys);
      }
      putU32(frame, static_cast<std::uint32_t>(request.keys.size()));
      for (const auto& key : request.keys) {
        putU32(frame, static_cast<std::uint32_t>(key.size()));
        putBytes(frame, key.data(), key.size());
      }
      break;
  }
  sealFrame(frame);
  return frame;
}

Bytes encodeResponse(const Response& response) {
  Bytes frame(kHeaderBytes);
  frame.reserve(kHeaderBytes + 1 + response.payload.size());
  putU8(frame, static_cast<std::uint8_t>(response.status));
  putBytes(frame, response.payload.data(), response.payload.size());
  sealFrame(frame);
  return frame;
}

Bytes encodeOkResponseHead(std::size_t payloadBytes) {
  Bytes head;
  head.reserve(kHeaderBytes + 1);
  putU32(head, static_cast<std::uint32_t>(1 + payloadBytes));
  putU8(head, static_cast<std::uint8_t>(ResponseStatus::Ok));
  return head;
}

Response okResponse(Bytes payload) { return {ResponseStatus::Ok, std::move(payload)}; }

Response errorResponse(const std::string& message) {
  const std::size_t size = std::min(message.size(), kMaxErrorBytes);
  return {ResponseStatus::Error, Bytes(message.begin(), message.begin() + size)};
}

Status decodeFrameLength(const std::uint8_t* header, std::size_t maxBody, std::uint32_t& length) {
  length = loadU32(header);
  if (length == 0) return Status(ErrorCode::Remote, "empty frame");
  if (length > maxBody) {
    return Status::make(ErrorCode::Remote, "frame of {} bytes exceeds the limit of {}", length, maxBody);
  }
  return {};
}

Status decodeRequest(const std::uint8_t* body, std::size_t size, Request& request) {
  Reader reader(body, size);
  std::uint8_t command = 0;
  if (!reader.u8(command)) return Reader::truncated("command");
  request = Request{};
  request.keys.resize(1);
  Status status;
  switch (static_cast<Command>(command)) {
    case Command::Set:
      request.command = Command::Set;
      status = reader.string(request.keys[0], kMaxKeyBytes, "key");
      if (status) status = reader.bytes(request.value, kMaxValueBytes, "value");
      break;
    case Command::Get:
      request.command = Command::Get;
      status = reader.string(request.keys[0], kMaxKeyBytes, "key");
      break;
    case Command::Add:
      request.command = Command::Add;
      status = reader.string(request.keys[0], kMaxKeyBytes, "key");
      if (status && !reader.i64(request.delta)) status = Reader::truncated("delta");
      break;
    case Command::Wait:
    case Command::Check: {
      request.command = static_cast<Command>(command);
      std::uint32_t count = 0;
      if (!reader.u32(count)) return Reader::truncated("key count");
      if (count > kMaxWaitKeys) {
        return Status::make(ErrorCode::Remote, "{} on {} keys exceeds the limit of {}", commandName(request.command),
                            count, kMaxWaitKeys);
      }
      // Each key takes at least its 4-byte length: a count the body cannot hold is rejected
      // before the vector is sized by it.
      if (count > reader.remaining() / 4) return Reader::truncated("key list");
      request.keys.resize(count);
      for (auto& key : request.keys) {
        status = reader.string(key, kMaxKeyBytes, "key");
        if (!status) break;
      }
      break;
    }
    default:
      return Status::make(ErrorCode::Remote, "unknown command {}", command);
  }
  if (!status) return status;
  if (reader.remaining() != 0) {
    return Status::make(ErrorCode::Remote, "{} trailing bytes after a {} request", reader.remaining(),
                        commandName(request.command));
  }
  return {};
}

Status decodeResponse(const std::uint8_t* body, std::size_t size, Response& response) {
  if (size < 1) return Reader::truncated("status");
  if (body[0] > static_cast<std::uint8_t>(ResponseStatus::Error)) {
    return Status::make(ErrorCode::Remote, "unknown response status {}", body[0]);
  }
  response.status = static_cast<ResponseStatus>(body[0]);
  response.payload.assign(body + 1, body + size);
  return {};
}

Status decodeCheckResult(const Bytes& payload, bool& allSet) {
  if (payload.size() != 1 || payload[0] > 1) {
    return Status::make(ErrorCode::Remote, "check result of {} bytes{}, expected one byte 0 or 1", payload.size(),
                        payload.size() == 1 ? fmt::format(" ({})", payload[0]) : "");
  }
  allSet = payload[0] == 1;
  return {};
}

Bytes encodeCheckResult(bool allSet) { return Bytes{static_cast<std::uint8_t>(allSet ? 1 : 0)}; }

Status decodeAddResult(const Bytes& payload, std::int64_t& value) {
  if (payload.size() != 8) {
    return Status::make(ErrorCode::Remote, "add result of {} bytes, expected 8", payload.size());
  }
  value = static_cast<std::int64_t>(loadU64(payload.data()));
  return {};
}

Bytes encodeAddResult(std::int64_t value) {
  Bytes out;
  putU64(out, static_cast<std::uint64_t>(value));
  return out;
}

}  // namespace banyan::bootstrap::protocol

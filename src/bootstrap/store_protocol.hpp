#pragma once
// The TcpStore wire protocol. Pure encode/decode functions, no I/O, so that every frame shape
// (and every malformed one) is unit-tested without a socket.
//
// Every frame is {u32 length, body[length]}; integers are little-endian on the wire.
//
//   request body   u8 command, then
//     Set          u32 keyLength, key, u32 valueLength, value
//     Get          u32 keyLength, key
//     Add          u32 keyLength, key, i64 delta
//     Wait         u32 keyCount, keyCount x (u32 keyLength, key)
//     Check        u32 keyCount, keyCount x (u32 keyLength, key)   (as Wait; answered at once)
//   response body  u8 status, then
//     Ok           the result: Get -> the value, Add -> i64 new value, Check -> u8 1 if every
//                  key is set, 0 if any is missing; Set/Wait -> nothing
//     Error        a UTF-8 message (the server's reason, e.g. a counter that is not a number)
//
// Lengths are checked against the k* bounds below before anything is allocated: a peer that
// declares a 4 GiB frame is disconnected, it does not make the server allocate 4 GiB.

#include "common/status.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace banyan::bootstrap::protocol {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kHeaderBytes = 4;
inline constexpr std::size_t kMaxKeyBytes = 4 * 1024;
inline constexpr std::size_t kMaxValueBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxWaitKeys = 1024;
inline constexpr std::size_t kMaxErrorBytes = 4 * 1024;
// The largest legal bodies: a Set of a maximal key and value, and a Get answer of a maximal
// value (a maximal Wait or Check, 1024 x 4 KiB keys, is smaller than either).
inline constexpr std::size_t kMaxRequestBytes = 1 + 4 + kMaxKeyBytes + 4 + kMaxValueBytes;
inline constexpr std::size_t kMaxResponseBytes = 1 + kMaxValueBytes;

// Check is Wait that never parks: the server answers from what it holds now, so a client
// learns in one round trip that a key is absent (a rank that died before writing it).
enum class Command : std::uint8_t { Set = 1, Get = 2, Add = 3, Wait = 4, Check = 5 };
enum class ResponseStatus : std::uint8_t { Ok = 0, Error = 1 };

const char* commandName(Command command);

struct Request {
  Command command = Command::Get;
  std::vector<std::string> keys;  // exactly one, except for Wait and Check
  Bytes value;                    // Set
  std::int64_t delta = 0;         // Add
};

struct Response {
  ResponseStatus status = ResponseStatus::Ok;
  Bytes payload;  // the result when Ok, the message text when Error
};

// Whole frames, length prefix included. Throw banyan::Error(InvalidUsage) for a request that
// breaks a bound (key or value too long), so the caller learns it before anything is sent.
Bytes encodeRequest(const Request& request);
Bytes encodeResponse(const Response& response);
Response okResponse(Bytes payload = {});
// The frame header and status of an Ok response whose `payloadBytes` of payload follow from a
// buffer of their own: the server answers a Get with the stored value itself, one buffer shared
// by every waiter it wakes, not a copy per answer.
Bytes encodeOkResponseHead(std::size_t payloadBytes);
Response errorResponse(const std::string& message);

// The body length in a frame header, checked against `maxBody`.
Status decodeFrameLength(const std::uint8_t* header, std::size_t maxBody, std::uint32_t& length);

// Bodies, length prefix excluded. A Status failure (code Remote) says what was wrong.
Status decodeRequest(const std::uint8_t* body, std::size_t size, Request& request);
Status decodeResponse(const std::uint8_t* body, std::size_t size, Response& response);

// A Wait or Check: a list of keys rather than exactly one.
inline bool takesKeyList(Command command) { return command == Command::Wait || command == Command::Check; }

// The u8 answer of a Check from an Ok payload: true when every key was set.
Status decodeCheckResult(const Bytes& payload, bool& allSet);
Bytes encodeCheckResult(bool allSet);

// The i64 result of an Add from an Ok payload.
Status decodeAddResult(const Bytes& payload, std::int64_t& value);
Bytes encodeAddResult(std::int64_t value);

}  // namespace banyan::bootstrap::protocol

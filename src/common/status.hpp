#pragma once
// Errors as values, for event loops and completion callbacks where throwing is wrong.
// A Status becomes a banyan::Error at the API (toError / throwIfError).

#include <banyan/error.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <utility>

namespace banyan {

class Status {
 public:
  Status() = default;  // ok
  Status(ErrorCode code, std::string message) : failed_(true), code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  template <typename... Args>
  static Status make(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
    return Status(code, fmt::format(format, std::forward<Args>(args)...));
  }

  bool isOk() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // A copy whose message is "<context>: <message>", to add where-information on the way up.
  Status withContext(const std::string& context) const;
  // A copy that records which rank was lost (its connection closed, its process exited), so
  // the communicator can ask whether that rank had failed first (failure propagation).
  // `exited`: its process is known to have ended, so it can write no account any more and the
  // look-up need not wait for one (a closed connection alone may belong to a live rank that is
  // about to write its account).
  Status withLostPeer(int rank, bool exited = false) const {
    Status copy = *this;
    copy.lostPeer_ = rank;
    copy.lostPeerExited_ = exited;
    return copy;
  }
  int lostPeer() const { return lostPeer_; }  // -1: none recorded
  bool lostPeerExited() const { return lostPeerExited_; }
  // A copy that records that `rank` sent a message this rank did not expect (another tag or
  // length: the two ranks are in different calls), so the communicator can name both calls.
  Status withMismatch(int rank, std::uint64_t theirTag) const {
    Status copy = *this;
    copy.mismatchPeer_ = rank;
    copy.mismatchTag_ = theirTag;
    return copy;
  }
  int mismatchPeer() const { return mismatchPeer_; }          // -1: none recorded
  std::uint64_t mismatchTag() const { return mismatchTag_; }  // the tag the peer's message carried
  Error toError() const { return Error(code_, message_); }
  void throwIfError() const {
    if (failed_) throw toError();
  }

 private:
  bool failed_ = false;
  ErrorCode code_ = ErrorCode::Internal;
  std::string message_;
  int lostPeer_ = -1;
  bool lostPeerExited_ = false;
  int mismatchPeer_ = -1;
  std::uint64_t mismatchTag_ = 0;
};

// Throws banyan::Error(code, formatted message).
template <typename... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

// "Connection refused (errno 111)"
std::string errnoText(int err);

}  // namespace banyan

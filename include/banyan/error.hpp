#pragma once
// The one exception type banyan throws at its API. Inside the runtime errors travel as
// values (banyan::Status); they become a banyan::Error where they reach the caller.

#include <stdexcept>
#include <string>
#include <string_view>

namespace banyan {

enum class ErrorCode {
  InvalidUsage,     // the caller passed something wrong (null buffer, bad dtype, closed communicator)
  System,           // the operating system refused (socket, mmap, fork ...); message has errno text
  Remote,           // a peer failed, closed its connection or sent something that makes no sense
  Timeout,          // a deadline passed (BANYAN_TIMEOUT or an explicit one)
  Aborted,          // the operation was ended by abort() / close() or an earlier failure
  NotSupported,     // valid request this build or transport cannot do
  Internal,         // a banyan bug: please report it
  Unauthenticated,  // a connection or store session could not prove it belongs to the job (job key)
};

std::string_view toString(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  // `message` says what and where; what() prefixes it with "banyan <Code>: ".
  Error(ErrorCode code, const std::string& message);

  ErrorCode code() const noexcept { return code_; }
  // The message without the "banyan <Code>: " prefix.
  const std::string& detail() const noexcept { return detail_; }

 private:
  ErrorCode code_;
  std::string detail_;
};

}  // namespace banyan

#include <banyan/error.hpp>

#include <string>

namespace banyan {

std::string_view toString(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidUsage:
      return "InvalidUsage";
    case ErrorCode::System:
      return "System";
    case ErrorCode::Remote:
      return "Remote";
    case ErrorCode::Timeout:
      return "Timeout";
    case ErrorCode::Aborted:
      return "Aborted";
    case ErrorCode::NotSupported:
      return "NotSupported";
    case ErrorCode::Internal:
      return "Internal";
    case ErrorCode::Unauthenticated:
      return "Unauthenticated";
  }
  return "UnknownError";
}

Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error("banyan " + std::string(toString(code)) + ": " + message), code_(code), detail_(message) {}

}  // namespace banyan

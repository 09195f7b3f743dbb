// The shared pieces of the C entry points (capi_call.hpp), and the entry points that describe
// the library rather than act on a communicator: version, last error, status names.

#include "capi/capi_call.hpp"

#include <string_view>
#include <utility>

// The header's version is written by hand; this keeps it honest.
static_assert(std::string_view(BANYAN_VERSION) == BANYAN_VERSION_STRING,
              "include/banyan/banyan.h: BANYAN_VERSION differs from meson.build's project version");

namespace banyan::capi {

namespace {
// One per thread, so that threads sharing a communicator never read each other's failures.
thread_local std::string lastError;
}  // namespace

void setLastError(std::string message) noexcept {
  try {
    lastError = std::move(message);
  } catch (...) {
    // No memory for the text: keep the code (returned by the caller) and a text that needs none.
    lastError.clear();
  }
}

banyan_status statusOf(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidUsage:
      return BANYAN_ERR_INVALID_USAGE;
    case ErrorCode::System:
      return BANYAN_ERR_SYSTEM;
    case ErrorCode::Remote:
      return BANYAN_ERR_REMOTE;
    case ErrorCode::Timeout:
      return BANYAN_ERR_TIMEOUT;
    case ErrorCode::Aborted:
      return BANYAN_ERR_ABORTED;
    case ErrorCode::NotSupported:
      return BANYAN_ERR_NOT_SUPPORTED;
    case ErrorCode::Internal:
      return BANYAN_ERR_INTERNAL;
    case ErrorCode::Unauthenticated:
      return BANYAN_ERR_UNAUTHENTICATED;
  }
  return BANYAN_ERR_INTERNAL;
}

void requireArgument(const void* pointer, const char* function, const char* argument) {
  if (pointer == nullptr) throw Error(ErrorCode::InvalidUsage, std::string(function) + ": " + argument + " is NULL");
}

DataType dataTypeOf(const banyan_dtype& dtype, const char* function) {
  const int value = rawEnumValue(dtype);
  if (value < 0 || value >= kDataTypeCount) {
    throw Error(ErrorCode::InvalidUsage, std::string(function) + ": dtype " + std::to_string(value) +
                                             " is not a banyan_dtype (0.." + std::to_string(kDataTypeCount - 1) + ")");
  }
  return static_cast<DataType>(value);
}

ReduceOp reduceOpOf(const banyan_op& op, const char* function) {
  const int value = rawEnumValue(op);
  if (value < 0 || value >= kReduceOpCount) {
    throw Error(ErrorCode::InvalidUsage, std::string(function) + ": op " + std::to_string(value) +
                                             " is not a banyan_op (0.." + std::to_string(kReduceOpCount - 1) + ")");
  }
  return static_cast<ReduceOp>(value);
}

Communicator& communicatorOf(banyan_comm* comm, const char* function) {
  requireArgument(comm, function, "comm");
  return comm->comm;
}

const Communicator& communicatorOf(const banyan_comm* comm, const char* function) {
  requireArgument(comm, function, "comm");
  return comm->comm;
}

}  // namespace banyan::capi

extern "C" {

const char* banyan_version(void) { return BANYAN_VERSION_STRING; }

const char* banyan_last_error(void) { return banyan::capi::lastError.c_str(); }

const char* banyan_status_name(banyan_status status) {
  switch (banyan::capi::rawEnumValue(status)) {
    case BANYAN_OK:
      return "OK";
    case BANYAN_ERR_INVALID_USAGE:
      return "InvalidUsage";
    case BANYAN_ERR_SYSTEM:
      return "System";
    case BANYAN_ERR_REMOTE:
      return "Remote";
    case BANYAN_ERR_TIMEOUT:
      return "Timeout";
    case BANYAN_ERR_ABORTED:
      return "Aborted";
    case BANYAN_ERR_NOT_SUPPORTED:
      return "NotSupported";
    case BANYAN_ERR_INTERNAL:
      return "Internal";
    case BANYAN_ERR_UNAUTHENTICATED:
      return "Unauthenticated";
  }
  return "Unknown";
}

size_t banyan_dtype_size(banyan_dtype dtype) {
  const int value = banyan::capi::rawEnumValue(dtype);
  if (value < 0 || value >= banyan::kDataTypeCount) return 0;
  return banyan::dataTypeSize(static_cast<banyan::DataType>(value));
}

}  // extern "C"

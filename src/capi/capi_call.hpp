#pragma once
// What every C entry point shares: the handles behind the opaque C types, the thread-local
// last-error text, the argument checks, and guarded(), the one place C++ exceptions stop.
//
// Each entry point is `return guarded("banyan_x", [&] { ... });`: the body throws a
// banyan::Error for anything wrong (the checks below do, and so does the C++ API), and guarded()
// turns whatever escapes into a status code plus a message that names the C function, because a
// C caller (or Python over ctypes) cannot catch a C++ exception: one crossing the ABI would
// terminate the process.

#include <banyan/banyan.h>
#include <banyan/communicator.hpp>
#include <banyan/error.hpp>
#include <banyan/types.hpp>
#include <banyan/work.hpp>

#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

// The C handles are plain structs around the C++ objects (global namespace: they complete the
// C header's incomplete types).
struct banyan_comm {
  banyan::Communicator comm;
};
struct banyan_work {
  banyan::Work work;
};

namespace banyan::capi {

// Stores the message banyan_last_error() returns on this thread.
void setLastError(std::string message) noexcept;

// The C status of a banyan error code.
banyan_status statusOf(ErrorCode code) noexcept;

// Throws InvalidUsage naming `function` and `argument` when `pointer` is null.
void requireArgument(const void* pointer, const char* function, const char* argument);
// The C++ enums of C values, or InvalidUsage naming the function when out of range (a C enum
// parameter may hold any int).
// A C caller may put any int in an enum parameter. In C++ loading a value outside the enum's
// range (0..15 for banyan_dtype) is undefined, and the optimiser may drop the range check after
// it (seen under UBSan), so the parameter's bits are read as an int without a load of the enum.
template <typename CEnum>
int rawEnumValue(const CEnum& value) {
  static_assert(sizeof(CEnum) == sizeof(int), "a C enum of banyan.h is int-sized");
  int raw = 0;
  std::memcpy(&raw, &value, sizeof raw);
  return raw;
}
DataType dataTypeOf(const banyan_dtype& dtype, const char* function);
ReduceOp reduceOpOf(const banyan_op& op, const char* function);

// Communicator behind a handle; InvalidUsage for NULL.
Communicator& communicatorOf(banyan_comm* comm, const char* function);
const Communicator& communicatorOf(const banyan_comm* comm, const char* function);

// Stores in *out (checked non-null by the caller) a handle to the Work `start()` returns. The
// handle is allocated before the operation starts: running out of memory afterwards would lose
// the only handle to an operation that still uses the caller's buffers.
template <typename Start>
void startWork(banyan_work** out, Start&& start) {
  auto handle = std::make_unique<banyan_work>();
  handle->work = start();
  *out = handle.release();
}

template <typename Body>
banyan_status guarded(const char* function, Body&& body) noexcept {
  try {
    body();
    return BANYAN_OK;
  } catch (const Error& error) {
    setLastError(std::string(error.what()) + " (in " + function + ")");
    return statusOf(error.code());
  } catch (const std::bad_alloc&) {
    setLastError(std::string("banyan System: out of memory (in ") + function + ")");
    return BANYAN_ERR_SYSTEM;
  } catch (const std::exception& error) {
    setLastError(std::string("banyan Internal: ") + error.what() + " (in " + function + ")");
    return BANYAN_ERR_INTERNAL;
  } catch (...) {
    setLastError(std::string("banyan Internal: unknown exception (in ") + function + ")");
    return BANYAN_ERR_INTERNAL;
  }
}

}  // namespace banyan::capi

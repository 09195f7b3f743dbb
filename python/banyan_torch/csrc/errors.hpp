#pragma once
// Errors raised to Python. A std::runtime_error becomes a Python RuntimeError through
// pybind11; messages start with "banyan" and name the collective and the offending argument.

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace banyan::torch_backend {

template <typename... Args>
[[noreturn]] void throwError(fmt::format_string<Args...> format, Args&&... args) {
  throw std::runtime_error("banyan: " + fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace banyan::torch_backend

#pragma once
// Sets an environment variable (or unsets it, with nullptr) for the scope of a test, and puts
// back what was there. Unit tests only: ranks of multi-process tests take their environment
// from LaunchOptions::environment instead.

#include <cstdlib>
#include <optional>
#include <string>

namespace banyan::test {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace banyan::test

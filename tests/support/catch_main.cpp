#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

// Progress for `make test`: tools/run-tests.sh sends the JUnit report to a file, so a suite that
// runs for minutes would print nothing until it ends. With RUN_TESTS_PROGRESS=<cases to run> (a
// test-run knob, not read by banyan) each binary prints a line to stdout at most every
// kEvery, and at once for a failed case: the time, how many cases are done, how many failed.
namespace {

class ProgressListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testRunStarting(const Catch::TestRunInfo& info) override {
    TestEventListenerBase::testRunStarting(info);
    const char* total = std::getenv("RUN_TESTS_PROGRESS");
    enabled_ = total != nullptr && *total != '\0';
    if (enabled_) total_ = total;
    started_ = lastLine_ = Clock::now();
  }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    TestEventListenerBase::testCaseEnded(stats);
    if (!enabled_) return;
    ++done_;
    const bool failed = stats.totals.assertions.failed > 0;
    if (failed) ++failed_;
    const auto now = Clock::now();
    if (!failed && now - lastLine_ < kEvery) return;
    lastLine_ = now;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count();
    std::printf("   [%ld:%02ld] %d of %s cases done, %d failed%s%s\n", static_cast<long>(seconds / 60),
                static_cast<long>(seconds % 60), done_, total_.c_str(), failed_, failed ? "; failed: " : "",
                failed ? stats.testInfo.name.c_str() : "");
    std::fflush(stdout);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kEvery{20};
  bool enabled_ = false;
  std::string total_;
  int done_ = 0;
  int failed_ = 0;
  Clock::time_point started_;
  Clock::time_point lastLine_;
};

}  // namespace

CATCH_REGISTER_LISTENER(ProgressListener)

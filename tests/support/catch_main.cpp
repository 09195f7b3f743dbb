#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

// Progress for `make test`: tools/run-tests.sh sends the JUnit report to a file, so a suite that
// runs for minutes would print nothing until it ends. With RUN_TESTS_PROGRESS=<cases to run> (a
// test-run knob, not read by banyan) each binary prints a line to stdout at most every
// kEvery, and at once for a failed case: the time, how many cases are done, how many failed.
// With RUN_TESTS_DURATIONS=<file> it also appends "seconds<TAB>case name" to the file for each
// case, measured around the whole case (the JUnit report times sections only), so that
// tools/run-tests.sh can name the slowest: the suite's time is CI's budget.
namespace {

class ProgressListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testRunStarting(const Catch::TestRunInfo& info) override {
    TestEventListenerBase::testRunStarting(info);
    const char* total = std::getenv("RUN_TESTS_PROGRESS");
    enabled_ = total != nullptr && *total != '\0';
    if (enabled_) total_ = total;
    const char* durations = std::getenv("RUN_TESTS_DURATIONS");
    if (durations != nullptr && *durations != '\0') durations_.open(durations, std::ios::app);
    started_ = lastLine_ = Clock::now();
  }

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    caseStarted_ = Clock::now();
  }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    TestEventListenerBase::testCaseEnded(stats);
    const auto now = Clock::now();
    if (durations_.is_open()) {
      durations_ << std::chrono::duration<double>(now - caseStarted_).count() << '\t' << stats.testInfo.name << '\n';
      durations_.flush();
    }
    if (!enabled_) return;
    ++done_;
    const bool failed = stats.totals.assertions.failed > 0;
    if (failed) ++failed_;
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
  std::ofstream durations_;
  Clock::time_point started_;
  Clock::time_point lastLine_;
  Clock::time_point caseStarted_;
};

}  // namespace

CATCH_REGISTER_LISTENER(ProgressListener)

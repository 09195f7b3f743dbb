// The C work handles (banyan.h, "Work handles"): waits return the operation's own error as a
// status, so a C caller checks one value whether the call or the operation failed.

#include "capi/capi_call.hpp"

#include <chrono>

using banyan::capi::guarded;
using banyan::capi::requireArgument;

extern "C" {

banyan_status banyan_work_wait(banyan_work* work) {
  return guarded("banyan_work_wait", [&] {
    requireArgument(work, "banyan_work_wait", "work");
    work->work.wait();
  });
}

banyan_status banyan_work_wait_for(banyan_work* work, long timeout_ms, int* done) {
  constexpr const char* f = "banyan_work_wait_for";
  // *done is written before the operation's error is thrown: an ended, failed operation is done.
  return guarded(f, [&] {
    requireArgument(work, f, "work");
    requireArgument(done, f, "done");
    bool ended = false;
    try {
      ended = work->work.waitFor(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
    } catch (...) {
      *done = 1;  // it ended, with the error guarded() reports
      throw;
    }
    *done = ended ? 1 : 0;
  });
}

banyan_status banyan_work_test(banyan_work* work, int* done) {
  return guarded("banyan_work_test", [&] {
    requireArgument(work, "banyan_work_test", "work");
    requireArgument(done, "banyan_work_test", "done");
    *done = work->work.test() ? 1 : 0;
  });
}

banyan_status banyan_work_source(banyan_work* work, int* source) {
  return guarded("banyan_work_source", [&] {
    requireArgument(work, "banyan_work_source", "work");
    requireArgument(source, "banyan_work_source", "source");
    *source = work->work.source();
  });
}

void banyan_work_free(banyan_work* work) { delete work; }

}  // extern "C"

// How the kill/stop matrix (tools/banyan_fault_trials.cpp) reads a survivor's report:
// tests/support/fault_trial.hpp blamesVictim, on the report texts issue 18 quotes and on the
// ways a report can name the lost rank without blaming it.

#include "support/fault_trial.hpp"

#include <catch2/catch.hpp>

using banyan::test::faults::blamesVictim;

namespace {

// A survivor two hops away: its neighbour, rank 1, failed first and said why.
constexpr const char* kChain =
    "allreduce #7 (count=4, f32, sum) on rank 3 of 4: rank 1 at 127.0.0.1:4001 closed its connection (End of "
    "file); rank 1 had failed before it closed: allreduce #7 (count=4, f32, sum) on rank 1 of 4: rank 2 at "
    "127.0.0.1:4002 closed its connection (Connection reset by peer); its process exited; rank 2 reported no "
    "failure: it died or was cut off";

}  // namespace

TEST_CASE("fault judgement: the store host's exit blamed instead of the victim is wrong", "[faults]") {
  const char* text =
      "allreduce #5 (count=4, f32, sum) on rank 3 of 4: rank 0 at 127.0.0.1:4000 closed its connection "
      "(Connection reset by peer); its process exited; rank 0 reported no failure: it died or was cut off";
  CHECK_FALSE(blamesVictim(text, 2, 4));
  CHECK(blamesVictim(text, 0, 4));
}

TEST_CASE("fault judgement: the innermost account of a chain is the cause", "[faults]") {
  CHECK(blamesVictim(kChain, 2, 4));
  // Rank 1 appears only as the neighbour that had failed before it closed: a bystander.
  CHECK_FALSE(blamesVictim(kChain, 1, 4));
}

TEST_CASE("fault judgement: a timeout names the victim only when it waited on it alone", "[faults]") {
  const std::string head =
      "allgather #4 (count=4, f32) on rank 1 of 4: not done within the 2000 ms timeout (BANYAN_TIMEOUT); waiting for ";
  CHECK_FALSE(blamesVictim(head + "receive 1 of 1 from rank 0 at 127.0.0.1:4000", 2, 4));
  CHECK(blamesVictim(head + "receive 1 of 1 from rank 2 at 127.0.0.1:4002", 2, 4));
  CHECK_FALSE(blamesVictim(head + "receive 1 of 1 from rank 0 at a, send 1 of 1 to rank 2 at b", 2, 4));
  // A cause stated before the list counts, whatever the list holds.
  CHECK(blamesVictim("allgather #4 on rank 1 of 4: rank 2 stopped answering; waiting for receive from rank 0", 2, 4));
}

TEST_CASE("fault judgement: 'rank 2 of 4' and 'rank 21' are not rank 2", "[faults]") {
  CHECK_FALSE(blamesVictim("broadcast #1 on rank 2 of 4: rank 21 at 127.0.0.1:4021 closed its connection", 2, 32));
  CHECK_FALSE(blamesVictim("store get('banyan/0/host/2') at 127.0.0.1:4000 timed out after 2000 ms", 2, 4));
}

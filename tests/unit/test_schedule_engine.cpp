// The schedule engine returns planning failures as values: a call that no schedule of the chosen
// algorithm fits fails with a Status naming the call and the algorithm, before anything reaches
// the transport, and the engine stays usable. (The API front refuses such calls first, so the
// path is reachable only from inside; this is the guard for a selector or generator defect.)

#include "runtime/schedule_engine.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

using namespace banyan;

namespace {

// Counts what the engine hands it; delivers nothing (the cases below never get that far).
class CountingTransport final : public transport::Transport {
 public:
  std::string_view name() const override { return "counting"; }
  void send(int, std::uint64_t, const void*, std::size_t, transport::Completion) override { ++posted; }
  void recv(int, std::uint64_t, void*, std::size_t, transport::Completion) override { ++posted; }
  void shutdown(const Status&) override {}
  std::string describePeer(int) const override { return ""; }
  int posted = 0;
};

}  // namespace

TEST_CASE("a call no schedule fits is refused as a value, before any message", "[engine]") {
  CountingTransport transport;
  std::vector<std::function<void()>> deferred;
  runtime::ScheduleEngine engine(
      transport, [&](std::function<void()> work) { deferred.push_back(std::move(work)); },
      /*rank=*/0, /*size=*/3, /*sliceBytes=*/1 << 20);
  std::vector<float> buffer(16, 1.0f);
  // Root 5 of 3 ranks: the registry says the binomial broadcast cannot plan it.
  const CollectiveCall call{
      Collective::Broadcast, buffer.data(), buffer.data(), buffer.size(), DataType::f32, ReduceOp::sum, 5};
  bool done = false;
  Status refused;
  REQUIRE_NOTHROW(
      refused = engine.start(call, tuning::Algorithm::BinomialTree, 1, 1 << 16, [&](const Status&) { done = true; }));
  CHECK(refused.code() == ErrorCode::Internal);
  CHECK_THAT(refused.message(), Catch::Contains("broadcast cannot be planned with"));
  CHECK_THAT(refused.message(), Catch::Contains("root"));
  CHECK_FALSE(done);  // onDone is for started operations only
  CHECK(transport.posted == 0);
  CHECK_FALSE(engine.busy());

  // A call that fits runs on the same engine afterwards: its first steps reach the transport.
  const CollectiveCall fits{
      Collective::Broadcast, buffer.data(), buffer.data(), buffer.size(), DataType::f32, ReduceOp::sum, 0};
  CHECK(engine.start(fits, tuning::Algorithm::BinomialTree, 2, 2 << 16, [&](const Status&) { done = true; }).isOk());
  CHECK(engine.busy());
  CHECK(transport.posted > 0);
  engine.fail(Status(ErrorCode::Aborted, "test over"));
  for (auto& work : deferred) work();
  CHECK(done);
}

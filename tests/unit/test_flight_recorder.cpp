// The flight recorder's ring, path pattern and JSON, without a job: a dump must be valid JSON
// (checked by Python's strict parser, as tools/banyan-flight reads it) whatever the messages hold.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/log.hpp"
#include "observe/flight_recorder.hpp"
#include "support/files.hpp"

using namespace banyan;
using banyan::observe::FlightRecorder;
using banyan::observe::RecorderIdentity;
using banyan::test::makeTempDir;
using banyan::test::readFile;

TEST_CASE("flight recorder path patterns", "[observe]") {
  const RecorderIdentity first{"communicator 0", 0, 3, 8};
  const RecorderIdentity later{"communicator 2", 2, 1, 4};
  CHECK(FlightRecorder::expandPath("/tmp/fr-%r.json", first, 77, "node1") == "/tmp/fr-3.json");
  CHECK(FlightRecorder::expandPath("/tmp/fr-%h-%p-%c-%r.json", later, 77, "node1") == "/tmp/fr-node1-77-2-1.json");
  // Without %r or %c, the path still differs per rank and per communicator.
  CHECK(FlightRecorder::expandPath("/tmp/fr", first, 77, "h") == "/tmp/fr.r3");
  CHECK(FlightRecorder::expandPath("/tmp/fr", later, 77, "h") == "/tmp/fr.r1.c2");
  CHECK(FlightRecorder::expandPath("/tmp/100%%-%x-%r", first, 77, "h") == "/tmp/100%-%x-3");
}

TEST_CASE("the flight recorder keeps the last N operations, oldest first, as valid JSON", "[observe]") {
  const std::string dir = makeTempDir("banyan-fr-unit");
  const std::string path = dir + "/dump-0.json";
  {
    FlightRecorder recorder({"communicator \"odd\"\n", 0, 0, 2}, 4, dir + "/dump-%r.json");
    for (std::uint64_t s = 1; s <= 10; ++s) {
      recorder.queued(s, "allreduce", 16, 64, DataType::f32, {.op = "sum"});
      if (s < 10) recorder.started(s, "ring");
      if (s < 9) recorder.finished(s, Status::ok());
    }
    recorder.finished(9, Status::make(ErrorCode::Timeout, "waiting for \"rank 1\"\\ \t\x01 done"));
    recorder.transferStarted(1, true, 1, 5, 64, DataType::f32);
    recorder.transferFinished(1, Status::ok());
    recorder.transferStarted(2, false, -1, 6, 8, DataType::u8);  // a receive from any rank, pending
    CHECK(recorder.dump("test: \"quoted\"") == path);
  }
  const std::string text = readFile(path);
  INFO(text);
  // Operations 7..10 survive the ring of 4; 1..6 are gone.
  CHECK(text.find("\"sequence\": 6,") == std::string::npos);
  const auto seven = text.find("\"sequence\": 7,");
  const auto ten = text.find("\"sequence\": 10,");
  REQUIRE(seven != std::string::npos);
  REQUIRE(ten != std::string::npos);
  CHECK(seven < ten);
  CHECK_THAT(text, Catch::Contains("\"last_queued\": 10,\n  \"last_started\": 9,\n  \"last_finished\": 9"));
  CHECK_THAT(text, Catch::Contains("\"state\": \"failed\""));
  CHECK_THAT(text, Catch::Contains("\"state\": \"queued\""));
  CHECK_THAT(text, Catch::Contains("\\u0001"));
  // Python's parser is strict (control characters, escapes): the file must load, with the
  // fields the analysis tool uses.
  const std::string check =
      "/usr/bin/python3 -c \"import json,sys; d=json.load(open(sys.argv[1])); "
      "assert [o['sequence'] for o in d['operations']] == [7,8,9,10], d; "
      "assert d['operations'][2]['error'].startswith('Timeout: waiting for \\\"rank 1\\\"'); "
      "assert d['communicator'] == 'communicator \\\"odd\\\"\\n'; "
      "assert [(t['op'], t['peer'], t['tag'], t['state']) for t in d['point_to_point']] == "
      "[('send', 1, 5, 'done'), ('recv', -1, 6, 'running')], d['point_to_point']\" " +
      path;
  CHECK(std::system(check.c_str()) == 0);
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("a flight recorder that cannot write says so and returns no path", "[observe]") {
  FlightRecorder recorder({"communicator 0", 0, 0, 1}, 8, "/nonexistent-dir/fr-%r.json");
  recorder.queued(1, "barrier", 0, 0, DataType::u8, {});
  log::setLevel(log::LogLevel::None);  // the warning is expected here
  const std::string written = recorder.dump("test");
  log::setLevel(log::LogLevel::Warn);
  CHECK(written.empty());
}

TEST_CASE("the flight recorder describes fused, premultiplied and rooted calls", "[observe]") {
  FlightRecorder recorder({"communicator 0", 0, 0, 4}, 8, "/tmp/unused-%r.json");
  recorder.queued(1, "allreduce", 48, 192, DataType::f32, {"sum", -1, 3, 0.25});
  recorder.queued(2, "broadcast", 8, 32, DataType::f32, {.op = "", .root = 2});
  const std::string text = recorder.toJson("test");
  CHECK_THAT(text, Catch::Contains("\"details\": \"3 calls fused, premul_sum(0.25)\""));
  CHECK_THAT(text, Catch::Contains("\"details\": \"root=2\""));
}

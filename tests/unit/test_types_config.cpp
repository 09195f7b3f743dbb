#include "config/config.hpp"
#include "support/scoped_env.hpp"
#include "tuning/algo_override.hpp"

#include <banyan/error.hpp>
#include <banyan/types.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace banyan;
using banyan::test::ScopedEnv;
using namespace std::chrono_literals;

TEST_CASE("data types and ops have sizes and names that parse back", "[config]") {
  for (int i = 0; i < kDataTypeCount; ++i) {
    const auto type = static_cast<DataType>(i);
    CHECK(isValid(type));
    CHECK(dataTypeSize(type) > 0);
    CHECK(parseDataType(toString(type)) == type);
  }
  for (int i = 0; i < kReduceOpCount; ++i) {
    const auto op = static_cast<ReduceOp>(i);
    CHECK(parseReduceOp(toString(op)) == op);
  }
  CHECK_FALSE(isValid(static_cast<DataType>(kDataTypeCount)));
  CHECK(dataTypeSize(static_cast<DataType>(200)) == 0);
  CHECK(parseDataType("bfloat16") == DataType::bf16);
  CHECK_FALSE(parseDataType("f128"));
}

TEST_CASE("durations and byte sizes parse with units and name the variable when wrong", "[config]") {
  CHECK(config::parseDuration("5", "X") == 5000ms);
  CHECK(config::parseDuration("1500ms", "X") == 1500ms);
  CHECK(config::parseDuration("2m", "X") == 120000ms);
  CHECK(config::parseBytes("64K", "X") == 65536);
  CHECK(config::parseBytes("4M", "X") == 4u << 20);
  CHECK(config::parseBytes("1g", "X") == 1u << 30);
  CHECK_THROWS_WITH(config::parseDuration("soon", "BANYAN_TIMEOUT"),
                    Catch::Contains("BANYAN_TIMEOUT") && Catch::Contains("soon"));
  CHECK_THROWS_WITH(config::parseDuration("0", "BANYAN_TIMEOUT"), Catch::Contains("more than 0"));
  CHECK_THROWS_WITH(config::parseBytes("12Q", "BANYAN_SLICE_BYTES"), Catch::Contains("unknown suffix"));
}

TEST_CASE("BANYAN_STORE_LINGER: a duration, 0 for no wait, 60 s unset", "[config]") {
  {
    ScopedEnv linger("BANYAN_STORE_LINGER", nullptr);
    CHECK(config::resolveStoreLinger() == 60s);
  }
  {
    ScopedEnv linger("BANYAN_STORE_LINGER", "0");
    CHECK(config::resolveStoreLinger() == 0ms);
  }
  {
    ScopedEnv linger("BANYAN_STORE_LINGER", "1500ms");
    CHECK(config::resolveStoreLinger() == 1500ms);
  }
  ScopedEnv linger("BANYAN_STORE_LINGER", "forever");
  CHECK_THROWS_WITH(config::resolveStoreLinger(), Catch::Contains("BANYAN_STORE_LINGER") && Catch::Contains("forever"));
}

TEST_CASE("options override the environment, which overrides defaults", "[config]") {
  ScopedEnv timeout("BANYAN_TIMEOUT", "7s");
  ScopedEnv slice("BANYAN_SLICE_BYTES", nullptr);
  ScopedEnv transport("BANYAN_TRANSPORT", nullptr);
  ScopedEnv sockets("BANYAN_SOCKETS_PER_PEER", "2");

  config::Config fromEnv = config::resolve({});
  CHECK(fromEnv.timeout == 7000ms);
  CHECK(fromEnv.socketsPerPeer == 2);
  CHECK(fromEnv.sliceBytes == config::Config{}.sliceBytes);

  Options options;
  options.timeout = 250ms;
  options.socketsPerPeer = 4;
  config::Config fromCode = config::resolve(options);
  CHECK(fromCode.timeout == 250ms);
  CHECK(fromCode.socketsPerPeer == 4);
}

TEST_CASE("Options::algo and Options::topoFile replace BANYAN_ALGO and BANYAN_TOPO_FILE", "[config]") {
  ScopedEnv algo("BANYAN_ALGO", "allreduce:0-:ring");
  ScopedEnv topo("BANYAN_TOPO_FILE", "/tmp/from-env.txt");
  const config::Config fromEnv = config::resolve({});
  CHECK(fromEnv.algo == "allreduce:0-:ring");
  CHECK(fromEnv.algoSource == "BANYAN_ALGO");
  CHECK(fromEnv.topoFile == "/tmp/from-env.txt");

  Options options;
  options.algo = "allgather:0-:bruck";
  options.topoFile = "";
  const config::Config fromCode = config::resolve(options);
  CHECK(fromCode.algo == "allgather:0-:bruck");  // whole, not merged with the environment's bands
  CHECK(fromCode.algoSource == "Options::algo");
  CHECK(fromCode.topoFile.empty());  // an empty file name probes
  CHECK_THROWS_WITH(tuning::parseAlgoOverride("allreduce:0-:pigeon", fromCode.algoSource),
                    Catch::Contains("Options::algo: band '0-:pigeon'"));
}

TEST_CASE("Options::tuneFile replaces BANYAN_TUNE_FILE; an empty one means no table", "[config]") {
  ScopedEnv tune("BANYAN_TUNE_FILE", "/tmp/from-env.tune");
  CHECK(config::resolve({}).tuneFile == "/tmp/from-env.tune");
  Options options;
  options.tuneFile = "";
  CHECK(config::resolve(options).tuneFile.empty());
  options.tuneFile = "/tmp/from-code.tune";
  CHECK(config::resolve(options).tuneFile == "/tmp/from-code.tune");
}

TEST_CASE("bad configuration is refused naming the variable", "[config]") {
  {
    ScopedEnv transport("BANYAN_TRANSPORT", "carrier-pigeon");
    CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("carrier-pigeon") && Catch::Contains("BANYAN_TRANSPORT"));
  }
  {
    ScopedEnv sockets("BANYAN_SOCKETS_PER_PEER", "0");
    CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_SOCKETS_PER_PEER"));
  }
  {
    ScopedEnv slice("BANYAN_SLICE_BYTES", "8");
    CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_SLICE_BYTES"));
  }
  {
    ScopedEnv check("BANYAN_CHECK", "yes");
    CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_CHECK") && Catch::Contains("0 or 1"));
  }
  Options options;
  options.timeout = -1ms;
  CHECK_THROWS_AS(config::resolve(options), Error);
}

TEST_CASE("BANYAN_CHECK switches the call check off and on", "[config]") {
  CHECK(config::resolve({}).checkCalls);
  {
    ScopedEnv check("BANYAN_CHECK", "0");
    CHECK_FALSE(config::resolve({}).checkCalls);
  }
  ScopedEnv check("BANYAN_CHECK", "1");
  CHECK(config::resolve({}).checkCalls);
}

TEST_CASE("BANYAN_DETERMINISTIC and Options::deterministic", "[config][deterministic]") {
  CHECK_FALSE(config::resolve({}).deterministic);
  {
    ScopedEnv on("BANYAN_DETERMINISTIC", "1");
    CHECK(config::resolve({}).deterministic);
    Options off;
    off.deterministic = false;
    CHECK_FALSE(config::resolve(off).deterministic);  // the code's field wins
  }
  Options on;
  on.deterministic = true;
  CHECK(config::resolve(on).deterministic);
  ScopedEnv bad("BANYAN_DETERMINISTIC", "yes");
  CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_DETERMINISTIC: 'yes' must be 0 or 1"));
}

TEST_CASE("every variable the code reads is in docs/configuration.md", "[config]") {
  std::ifstream file(BANYAN_SOURCE_DIR "/docs/configuration.md");
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  for (const auto& variable : config::variables()) {
    INFO(variable.name);
    CHECK_THAT(text.str(), Catch::Contains(std::string("`") + variable.name + "`"));
    CHECK_THAT(text.str(), Catch::Contains(variable.meaning));
  }
}

TEST_CASE("BANYAN_TRANSPORT=ofi and the BANYAN_OFI_* variables", "[config][ofi]") {
  ScopedEnv transport("BANYAN_TRANSPORT", "ofi");
#ifdef BANYAN_HAVE_OFI
  ScopedEnv provider("BANYAN_OFI_PROVIDER", "tcp;ofi_rxm");
  ScopedEnv rma("BANYAN_OFI_RMA_BYTES", "1M");
  ScopedEnv cache("BANYAN_OFI_MR_CACHE", "0");
  const config::Config config = config::resolve({});
  CHECK(config.transport == "ofi");
  CHECK(config.ofiProvider == "tcp;ofi_rxm");
  CHECK(config.ofiRmaBytes == 1024 * 1024);
  CHECK(config.ofiRegistrationCache == 0);
  {
    ScopedEnv notify("BANYAN_OFI_RMA_NOTIFY", "pigeon");
    CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_OFI_RMA_NOTIFY") && Catch::Contains("pigeon"));
  }
  {
    ScopedEnv badCache("BANYAN_OFI_MR_CACHE", "lots");
    CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_OFI_MR_CACHE"));
  }
#else
  // A build without libfabric says why ofi is missing and how to get it.
  CHECK_THROWS_WITH(config::resolve({}),
                    Catch::Contains("built without libfabric") && Catch::Contains("libfabric-dev"));
#endif
}

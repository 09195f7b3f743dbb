#include "bootstrap/slurm_environment.hpp"

#include <banyan/tcp_store.hpp>

#include "bootstrap/serving_store.hpp"
#include "common/host_port.hpp"
#include "common/status.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace banyan::bootstrap {

namespace {

constexpr std::size_t kMaxHosts = 1'000'000;

const char* getEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::string required(const char* name) {
  const char* value = getEnv(name);
  if (value == nullptr) {
    fail(ErrorCode::InvalidUsage, "{} is not set, but SLURM_PROCID is (an srun step sets both)", name);
  }
  return value;
}

bool allDigits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// One bracket's ranges, "01-03,7", as the texts they stand for ("01", "02", "03", "7").
std::vector<std::string> expandRanges(const std::string& inside, const std::string& whole, const char* what) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= inside.size()) {
    const std::size_t comma = std::min(inside.find(',', start), inside.size());
    const std::string part = inside.substr(start, comma - start);
    const std::size_t dash = part.find('-');
    const std::string low = part.substr(0, dash);
    const std::string high = dash == std::string::npos ? low : part.substr(dash + 1);
    if (!allDigits(low) || !allDigits(high) || low.size() > 9 || high.size() > 9) {
      fail(ErrorCode::InvalidUsage, "{}='{}': '{}' in [...] is not a number or a range a-b", what, whole, part);
    }
    const long from = std::stol(low);
    const long to = std::stol(high);
    if (to < from) fail(ErrorCode::InvalidUsage, "{}='{}': range '{}' runs backwards", what, whole, part);
    if (out.size() + static_cast<std::size_t>(to - from) >= kMaxHosts) {
      fail(ErrorCode::InvalidUsage, "{}='{}' names more than {} hosts", what, whole, kMaxHosts);
    }
    for (long v = from; v <= to; ++v) out.push_back(fmt::format("{:0{}}", v, low.size()));
    start = comma + 1;
  }
  return out;
}

// One host expression, "rack[1-2]-n[01-02]": every bracket group multiplies the list.
void expandHost(const std::string& text, const std::string& whole, const char* what, std::vector<std::string>& out) {
  const std::size_t open = text.find('[');
  if (open == std::string::npos) {
    if (text.find(']') != std::string::npos) fail(ErrorCode::InvalidUsage, "{}='{}': ']' without '['", what, whole);
    out.push_back(text);
    return;
  }
  const std::size_t close = text.find(']', open);
  if (close == std::string::npos) fail(ErrorCode::InvalidUsage, "{}='{}': '[' without ']'", what, whole);
  const std::string prefix = text.substr(0, open);
  if (prefix.find(']') != std::string::npos) fail(ErrorCode::InvalidUsage, "{}='{}': ']' without '['", what, whole);
  for (const std::string& middle : expandRanges(text.substr(open + 1, close - open - 1), whole, what)) {
    expandHost(prefix + middle + text.substr(close + 1), whole, what, out);
    if (out.size() > kMaxHosts)
      fail(ErrorCode::InvalidUsage, "{}='{}' names more than {} hosts", what, whole, kMaxHosts);
  }
}

// The store address and who serves it, from BANYAN_STORE_ADDR, MASTER_ADDR/MASTER_PORT, or the
// first node and a port derived from the ids.
void readStoreAddress(SlurmStep& step) {
  if (const char* address = getEnv("BANYAN_STORE_ADDR")) {
    std::tie(step.storeHost, step.storePort) = parseHostPort(address, "BANYAN_STORE_ADDR");
    step.rankZeroServes = false;
    step.storeFrom = "BANYAN_STORE_ADDR (served elsewhere)";
    return;
  }
  const char* port = getEnv("MASTER_PORT");
  step.storePort = port ? static_cast<std::uint16_t>(parseInteger("MASTER_PORT", port, 1, 65535))
                        : derivedStorePort(step.jobId, step.stepId);
  const char* host = getEnv("MASTER_ADDR");
  step.storeHost = host ? host : step.nodes.front();
  step.storeFrom = fmt::format("{}, {}", host ? "MASTER_ADDR" : "the first node of the step",
                               port ? "MASTER_PORT" : "port derived from SLURM_JOB_ID and SLURM_STEP_ID");
}

}  // namespace

bool slurmStepPresent() {
  return getEnv("SLURM_PROCID") != nullptr && (getEnv("SLURM_STEP_ID") != nullptr || getEnv("SLURM_STEPID") != nullptr);
}

std::vector<std::string> expandNodeList(const std::string& text, const char* what) {
  std::vector<std::string> hosts;
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ',';
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (depth < 0) fail(ErrorCode::InvalidUsage, "{}='{}': ']' without '['", what, text);
    if (depth > 1) fail(ErrorCode::InvalidUsage, "{}='{}': nested brackets", what, text);
    if (c != ',' || depth != 0) continue;
    const std::string item = text.substr(start, i - start);
    if (item.empty()) fail(ErrorCode::InvalidUsage, "{}='{}' has an empty host name", what, text);
    expandHost(item, text, what, hosts);
    start = i + 1;
  }
  if (depth != 0) fail(ErrorCode::InvalidUsage, "{}='{}': '[' without ']'", what, text);
  return hosts;
}

std::uint16_t derivedStorePort(const std::string& jobId, const std::string& stepId) {
  const long long job = parseInteger("SLURM_JOB_ID", jobId, 0, 1LL << 40);
  const long long stepNumber = parseInteger("SLURM_STEP_ID", stepId, 0, 1LL << 32);
  return static_cast<std::uint16_t>(12000 + (job * 16 + stepNumber) % 20000);
}

SlurmStep readSlurmStep() {
  SlurmStep step;
  step.rank = static_cast<int>(parseInteger("SLURM_PROCID", required("SLURM_PROCID"), 0, 1 << 30));
  step.size = static_cast<int>(parseInteger("SLURM_NTASKS", required("SLURM_NTASKS"), 1, 1 << 30));
  if (step.rank >= step.size) {
    fail(ErrorCode::InvalidUsage, "SLURM_PROCID={} is not below SLURM_NTASKS={}", step.rank, step.size);
  }
  if (const char* local = getEnv("SLURM_LOCALID")) {
    step.localRank = static_cast<int>(parseInteger("SLURM_LOCALID", local, 0, 1 << 30));
  }
  const char* listName = getEnv("SLURM_STEP_NODELIST")  ? "SLURM_STEP_NODELIST"
                         : getEnv("SLURM_JOB_NODELIST") ? "SLURM_JOB_NODELIST"
                                                        : "SLURM_NODELIST";
  step.nodes = expandNodeList(required(listName), listName);
  step.jobId = required("SLURM_JOB_ID");
  step.stepId = getEnv("SLURM_STEP_ID") ? required("SLURM_STEP_ID") : required("SLURM_STEPID");
  parseInteger("SLURM_JOB_ID", step.jobId, 0, 1LL << 40);
  parseInteger("SLURM_STEP_ID", step.stepId, 0, 1LL << 32);
  readStoreAddress(step);
  return step;
}

std::optional<JobEnvironment> jobFromSlurm() {
  if (!slurmStepPresent()) return std::nullopt;
  const SlurmStep step = readSlurmStep();
  JobEnvironment job;
  job.rank = step.rank;
  job.size = step.size;
  job.localRank = step.localRank;
  job.source = "SLURM_*";
  job.detail = fmt::format("job {} step {}, local rank {}, store at {} from {}", step.jobId, step.stepId,
                           step.localRank, hostPortText(step.storeHost, step.storePort), step.storeFrom);
  std::shared_ptr<Store> store;
  if (step.rank == 0 && step.rankZeroServes) {
    // Rank 0 serves where the others look: on the store host itself, so it must run there.
    if (!isLocalAddress(step.storeHost)) {
      fail(ErrorCode::InvalidUsage,
           "Slurm bootstrap: rank 0 serves the store at {} ({}), but {} is not an address of the host rank 0 "
           "runs on; set MASTER_ADDR to rank 0's host, or BANYAN_STORE_ADDR to a store served elsewhere",
           step.storeHost, step.storeFrom, step.storeHost);
    }
    std::unique_ptr<TcpStoreServer> server;
    try {
      server = std::make_unique<TcpStoreServer>(step.storeHost, step.storePort);
    } catch (const Error& e) {
      fail(e.code(), "Slurm bootstrap: rank 0 cannot serve the store on port {} ({}): {}", step.storePort,
           step.storeFrom, e.detail());
    }
    store = std::make_shared<ServingStore>(std::move(server), step.storeHost);
  } else {
    auto client = std::make_shared<TcpStore>(step.storeHost, step.storePort);
    if (step.rankZeroServes) client->setServedBy("rank 0");  // the store dies with rank 0's process
    store = std::move(client);
  }
  // Steps that share a store server (BANYAN_STORE_ADDR, or a reused MASTER_PORT) stay apart.
  job.store = std::make_shared<PrefixStore>(fmt::format("slurm-{}.{}/", step.jobId, step.stepId), std::move(store));
  return job;
}

}  // namespace banyan::bootstrap

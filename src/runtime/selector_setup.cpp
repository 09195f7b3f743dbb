#include "runtime/selector_setup.hpp"

#include "bootstrap/store_roots.hpp"

#include "common/status.hpp"
#include "topology/probe.hpp"

#include <fmt/format.h>

namespace banyan::runtime {

namespace {

std::string describe(const std::optional<tuning::TuneTable>& table) {
  return table ? fmt::format("{:016x} {}", table->hash(), table->path) : std::string("none");
}

std::string hashOf(const std::string& described) { return described.substr(0, described.find(' ')); }

std::string asString(const Store::Bytes& bytes) { return {bytes.begin(), bytes.end()}; }

std::string explain(const std::string& described) {
  return described == "none"
             ? std::string("no BANYAN_TUNE_FILE")
             : fmt::format("table {} (hash {})", described.substr(described.find(' ') + 1), hashOf(described));
}

}  // namespace

void agreeTuneTable(Store& store, int rank, int size, const std::string& storePrefix,
                    const std::optional<tuning::TuneTable>& table, std::chrono::milliseconds timeout) {
  if (size == 1) return;
  const std::string mine = describe(table);
  // Rank 0's hash and verdict are read by every rank: on every store root; the others' on their
  // own (bootstrap/store_roots.hpp).
  const auto key = [&](int r) {
    return r == 0 ? bootstrap::everyRootKey(storePrefix, "tune-hash") : bootstrap::rankKey(storePrefix, "tune/hash", r);
  };
  const std::string verdictKey = bootstrap::everyRootKey(storePrefix, "tune-verdict");
  const auto differ = [](const std::string& root, int r, const std::string& theirs) {
    return fmt::format(
        "BANYAN_TUNE_FILE differs between ranks: rank 0 has {}, rank {} has {}; every rank must "
        "follow the same table",
        explain(root), r, explain(theirs));
  };
  if (rank == 0) {
    store.set(key(0), Store::Bytes(mine.begin(), mine.end()), timeout);
    if (!table) return;
    std::vector<std::string> keys;
    for (int r = 1; r < size; ++r) keys.push_back(key(r));
    std::string verdict = "ok";
    try {
      store.wait(keys, timeout);
      for (int r = 1; r < size && verdict == "ok"; ++r) {
        const std::string theirs = asString(store.get(key(r), timeout));
        if (hashOf(theirs) != hashOf(mine)) verdict = differ(mine, r, theirs);
      }
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Timeout) throw;
      fail(ErrorCode::Timeout,
           "BANYAN_TUNE_FILE: rank 0 has {}, but not every rank published its table's hash within {} ms (is "
           "BANYAN_TUNE_FILE set on every rank?): {}",
           explain(mine), timeout.count(), e.what());
    }
    store.set(verdictKey, Store::Bytes(verdict.begin(), verdict.end()), timeout);
    if (verdict != "ok") fail(ErrorCode::InvalidUsage, "{}", verdict);
    return;
  }
  const std::string root = asString(store.get(key(0), timeout));
  if (root == "none") {
    // Rank 0 checks nothing then: only this rank can tell, and it fails alone.
    if (table) fail(ErrorCode::InvalidUsage, "{}", differ(root, rank, mine));
    return;
  }
  store.set(key(rank), Store::Bytes(mine.begin(), mine.end()), timeout);
  // Rank 0's verdict, so that every rank fails with the same message when one rank differs.
  const std::string verdict = asString(store.get(verdictKey, timeout));
  if (verdict != "ok") fail(ErrorCode::InvalidUsage, "{}", verdict);
}

std::unique_ptr<tuning::Selector> makeSelector(Store& store, int rank, int size, const std::string& storePrefix,
                                               const topology::HostLayout& layout, const config::Config& config,
                                               const LinkMeasurer& measure, const log::Where& where) {
  // Parse BANYAN_ALGO and the tuning table first: a typo fails before any probing is spent.
  auto bands = tuning::parseAlgoOverride(config.algo, config.algoSource);
  std::optional<tuning::TuneTable> table;
  if (!config.tuneFile.empty()) table = tuning::loadTuneTable(config.tuneFile);
  agreeTuneTable(store, rank, size, storePrefix, table, config.timeout);
  topology::ProbeParams params;
  params.rank = rank;
  params.size = size;
  params.storePrefix = storePrefix;
  params.hostOfRank = layout.hostOfRank;
  if (layout.hostCount > 1) {
    // The interface whose speed matters is the one the TCP transport listens on.
    params.tcpAddress = config.socketAddr.empty() ? store.localAddress() : config.socketAddr;
  }
  if (config.topoFile.empty() && size > 1) {
    // 1 MiB messages: long enough to reach a link's rate, a few ms at 1 Gbit/s each.
    constexpr std::size_t kBulkBytes = 1 << 20;
    const auto deadline = std::chrono::steady_clock::now() + config.timeout;
    int intraPeer = -1, interPeer = -1;
    for (int r = 1; r < size; ++r) {
      const bool local = layout.hostOfRank[static_cast<std::size_t>(r)] == layout.hostOfRank[0];
      if (local && intraPeer < 0) intraPeer = r;
      if (!local && interPeer < 0) interPeer = r;
    }
    if (intraPeer > 0 && (rank == 0 || rank == intraPeer))
      params.measuredIntra = measure(0, intraPeer, kBulkBytes, deadline);
    if (interPeer > 0 && (rank == 0 || rank == interPeer))
      params.measuredInter = measure(0, interPeer, kBulkBytes, deadline);
  }
  params.file = config.topoFile;
  params.dumpFile = config.topoDumpFile;
  params.timeout = config.timeout;
  auto selector =
      std::make_unique<tuning::Selector>(topology::discover(store, params), std::move(bands), config.algoSource);
  if (table) {
    // Every rank holds the same table and topology, so every rank takes or ignores it alike.
    if (const std::string why = table->layoutMismatch(selector->topology()); !why.empty()) {
      log::info(where, "BANYAN_TUNE_FILE ignored: {}; the cost model decides", why);
    } else {
      log::info(where, "BANYAN_TUNE_FILE {}: {} measured bands for layout {} (hash {:016x})", table->path,
                table->entries.size(), tuning::layoutName(table->hosts, table->ranksPerHost), table->hash());
      selector->setTable(std::move(*table));
    }
  }
  if (config.deterministic) {
    selector->setDeterministic(true);
    log::info(where,
              "BANYAN_DETERMINISTIC: allreduce, reduce_scatter and reduce fold in rank order (the shared-memory "
              "engine on one host for allreduce, else the ordered schedule); {}, tuning tables and the cost model "
              "do not choose for them",
              config.algoSource);
  }
  return selector;
}

}  // namespace banyan::runtime

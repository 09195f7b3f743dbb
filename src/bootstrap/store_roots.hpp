#pragma once
// Several store roots for the largest jobs (issue 19; docs/launchers.md, "Several store roots"):
// one Store made of k TCP stores. Root 0 is the job's store (the one its launcher gave); roots
// 1..k-1 carry the keys of their blocks of ranks. Rank q belongs to root q * k / n (blocks of
// consecutive ranks: a host's ranks, usually consecutive, share a root, and the leaders that serve
// roots, the first rank of each block, sit on different hosts).
//
// Where a key lives is read from its last path segment, so the runtime's keys say it themselves
// (rankKey and everyRootKey below) and any prefix in front (PrefixStore, a communicator's own)
// changes nothing:
//   "<...>/@<q>"   written by rank q (read by a few): on rank q's root;
//   "<...>/*<name>" written once, read by every rank (the nonce, the host list): set on every
//                   root, read from the reader's own;
//   anything else  on root 0 (counters, failure accounts, the agreement: rare and small).
// Every rank computes a key's root from the key alone: no lookup. A wait or check on keys of
// several roots asks each root in turn, within the one deadline.

#include <banyan/store.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace banyan::bootstrap {

// "<prefix><name>/@<rank>": the key rank `rank` writes, on its root.
std::string rankKey(const std::string& prefix, const std::string& name, int rank);
// "<prefix>*<name>": written by one rank on every root, read by each from its own.
std::string everyRootKey(const std::string& prefix, const std::string& name);

class MultiRootStore final : public Store {
 public:
  // roots[0] is the job's store. `rank` and `size` are this process's in the job: they decide
  // which root is its own and which root each rank's keys live on. `names` (by root, "" for
  // none): what a root's errors are prefixed with ("BANYAN_STORE_ROOTS entry 2, 'host:port'").
  MultiRootStore(std::vector<std::shared_ptr<Store>> roots, int rank, int size, std::vector<std::string> names = {});

  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  std::string localAddress() const override;

  int rootCount() const { return static_cast<int>(roots_.size()); }
  // The root rank `rank`'s keys live on (a rank of the job or of a smaller communicator on it).
  int rootOf(int rank) const;
  int ownRoot() const { return rootOf(rank_); }
  // Requests this process has sent to each root so far (a set on every root counts k).
  std::vector<std::uint64_t> requestsPerRoot() const;

 private:
  int routeOf(const std::string& key) const;  // a root, or -1 for every root
  // The root a read of `key` goes to: its own root, or this rank's for a key set on every root.
  int readRootOf(const std::string& key) const;
  template <typename Call>
  auto onRoot(int root, Call&& call);

  std::vector<std::shared_ptr<Store>> roots_;
  std::vector<std::string> names_;
  int rank_;
  int size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> requests_;
};

// The MultiRootStore under `store` (through counting, forwarding and prefix stores), or null.
const MultiRootStore* findRoots(const Store& store);

}  // namespace banyan::bootstrap

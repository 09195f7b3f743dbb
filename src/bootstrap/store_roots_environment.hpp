#pragma once
// BANYAN_STORE_ROOTS=host:port,host:port,...: the store roots beyond the job's store
// (store_roots.hpp; docs/launchers.md, "Several store roots"). Entry j names root j + 1. The
// leader of a root (the first rank of its block) serves it when the entry names an address of
// its own host, as rank 0 serves MASTER_ADDR:MASTER_PORT under torchrun's variables; otherwise
// the root is someone else's to serve (banyan-store-server, a launcher).

#include <banyan/store.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace banyan::bootstrap {

// The entries of a BANYAN_STORE_ROOTS value, each parsed; throws InvalidUsage naming the entry
// (its number and text) that is empty or not host:port with a port in 1..65535.
std::vector<std::pair<std::string, std::uint16_t>> parseStoreRoots(const std::string& text);

// The first rank of root `root`'s block, of `roots` roots over `size` ranks.
int rootLeader(int root, int roots, int size);

// `jobStore` when BANYAN_STORE_ROOTS is unset; else a MultiRootStore over it (root 0) and the
// roots listed, serving this rank's root when it leads it. Throws InvalidUsage for a bad value
// or more roots than ranks, the server's error naming the entry when it cannot listen.
std::shared_ptr<Store> withStoreRoots(std::shared_ptr<Store> jobStore, int rank, int size);

}  // namespace banyan::bootstrap

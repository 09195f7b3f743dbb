// The groups a training job makes, from one world communicator: data-parallel and
// tensor-parallel groups (split by color), a reversed copy of the world, each with an allreduce
// and an alltoall. The groups send over the world's connections (docs/architecture.md, "Groups
// over their parent's connections"): each rank prints how many TCP connections it had before
// the groups and after them.
//
//   RANK=r WORLD_SIZE=n MASTER_ADDR=host MASTER_PORT=port ./groups_example   (or under mpirun)
//
// Exits 1 if a result is wrong.

#include <banyan/banyan.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

// This process's established TCP connections: its sockets found in /proc/net/tcp{,6}, state 01.
int establishedTcpConnections() {
  std::set<std::string> mine;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) mine.insert(target.substr(8, target.size() - 9));
  }
  int count = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state == "01" && mine.count(inode) != 0) ++count;
    }
  }
  return count;
}

// An allreduce and an alltoall in `group`, checked.
bool exercise(banyan::Communicator& group) {
  std::int64_t value = group.rank() + 1;
  group.allreduce(&value, &value, 1, banyan::DataType::i64, banyan::ReduceOp::sum);
  bool right = value == static_cast<std::int64_t>(group.size()) * (group.size() + 1) / 2;
  std::vector<std::int32_t> out(static_cast<std::size_t>(group.size()), group.rank());
  std::vector<std::int32_t> in(out.size(), -1);
  group.alltoall(out.data(), in.data(), 1, banyan::DataType::i32);
  for (int r = 0; r < group.size(); ++r) right = right && in[static_cast<std::size_t>(r)] == r;
  return right;
}

}  // namespace

int main() {
  auto world = banyan::Communicator::fromEnvironment();
  const int rank = world.rank(), size = world.size();
  bool right = exercise(world);  // every pair of the world is connected now
  const int before = establishedTcpConnections();

  // Tensor-parallel groups of 2 neighbours, data-parallel groups across them, a reversed world.
  const int tensor = size % 2 == 0 ? 2 : 1;
  std::vector<banyan::Communicator> groups;
  const auto keep = [&groups](std::optional<banyan::Communicator> made) {
    if (made) groups.push_back(std::move(*made));
  };
  keep(world.split(rank / tensor, rank));  // tensor-parallel
  keep(world.split(rank % tensor, rank));  // data-parallel
  keep(world.split(0, size - rank));       // the world, reversed
  for (auto& group : groups) right = exercise(group) && right;
  const int after = establishedTcpConnections();
  // No rank leaves (closing its connections, which its peers would then not count) before every
  // rank has counted.
  world.barrier();

  std::printf("rank %d: %zu groups %s; TCP connections before the groups %d, after %d\n", rank, groups.size(),
              right ? "right" : "WRONG", before, after);
  return right ? 0 : 1;
}

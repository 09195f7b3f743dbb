#include "common/call.hpp"

#include <fmt/format.h>

namespace banyan {

std::string describeCall(Collective kind, std::size_t count, DataType type, ReduceOp op, int root,
                         std::uint64_t sequence) {
  if (kind == Collective::Barrier) return fmt::format("barrier() #{}", sequence);
  std::string args = fmt::format("count={},{}", count, toString(type));
  if (reduces(kind)) args += fmt::format(",{}", toString(op));
  if (isRooted(kind)) args += fmt::format(",root={}", root);
  return fmt::format("{}({}) #{}", apiName(kind), args, sequence);
}

}  // namespace banyan

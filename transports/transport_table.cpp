#include "transports/transport_kind.hpp"

namespace banyan::transport {

// Each transport folder's row (<name>_kind.cpp).
namespace shm {
std::unique_ptr<TransportKind> makeShmKind();
}
namespace ofi {
std::unique_ptr<TransportKind> makeOfiKind();
}
namespace tcp {
std::unique_ptr<TransportKind> makeTcpKind();
}

std::vector<std::unique_ptr<TransportKind>> transportTable() {
  std::vector<std::unique_ptr<TransportKind>> table;
  table.push_back(shm::makeShmKind());
  table.push_back(ofi::makeOfiKind());
  table.push_back(tcp::makeTcpKind());
  return table;
}

}  // namespace banyan::transport

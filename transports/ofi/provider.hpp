#pragma once
// Which libfabric provider banyan uses, and how it says so.
//
// banyan asks for reliable datagram endpoints (FI_EP_RDM) with tagged messages, and RMA where
// the provider has it. A provider named by BANYAN_OFI_PROVIDER is used as it is ("tcp;ofi_rxm",
// "shm", "verbs;ofi_rxm", ...). Without a name, only a real fabric (RDMA NIC) is taken, the
// fastest kind first; the software providers (tcp, sockets, net, udp, shm) are never chosen
// behind the user's back, since banyan's own TCP and shared-memory transports do their job
// better. When BANYAN_TRANSPORT=ofi forces libfabric without a name, the best fabric is taken
// if there is one, else whatever libfabric itself ranks first.

#include <rdma/fabric.h>

#include <memory>
#include <string>
#include <vector>

namespace banyan::transport::ofi {

struct InfoDeleter {
  void operator()(fi_info* info) const { fi_freeinfo(info); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

// The libfabric API version banyan is written against (FI_MR_ENDPOINT needs 1.7; 1.9 is the
// oldest this code was reasoned about).
constexpr std::uint32_t kApiVersion = FI_VERSION(1, 9);

struct ProviderRequest {
  std::string provider;  // "": choose (see above)
  bool forced = false;   // BANYAN_TRANSPORT=ofi: a software provider is acceptable without a name
  // Local address for providers that bind to an IP interface (tcp, sockets, verbs over IPoIB);
  // "" lets libfabric choose. Tried first; if no interface has it, libfabric chooses.
  std::string node;
};

// The fi_info banyan will open, or nullptr when nothing fits and the caller should do
// without libfabric (auto mode). Throws banyan::Error(NotSupported) when a named provider
// does not exist or cannot give what banyan needs, naming what is available instead.
InfoPtr chooseProvider(const ProviderRequest& request);

// "tcp;ofi_rxm" with fabric, domain, address format, progress, mr_mode, message and tag
// limits, RMA and remote CQ data: one line, for the INFO log and banyan-topo.
std::string describeProvider(const fi_info& info);

// True for the providers that drive a real NIC (verbs, efa, psm2/3, opx, cxi, ...), false for
// libfabric's software providers.
bool isRealFabric(const std::string& provider);

// Names of every provider offering RDM endpoints with tagged messages on this machine.
std::vector<std::string> availableProviders();

// "FI_MR_LOCAL|FI_MR_VIRT_ADDR", "none" for 0.
std::string mrModeText(int mrMode);

}  // namespace banyan::transport::ofi

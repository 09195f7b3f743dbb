#pragma once
// Whether this host has a fabric device that a libfabric provider banyan would choose on its
// own could drive, answered from sysfs and /dev without loading libfabric (docs/ofi.md,
// "Loading the module"). In auto mode with no provider named, banyan loads the ofi module
// only when this finds one: a host without one would get TCP from libfabric's answer anyway,
// since the software providers are never chosen unnamed (provider.hpp).
//
// A device is any entry of
//   /sys/class/infiniband   RDMA devices: InfiniBand and RoCE (verbs), AWS EFA (efa_*),
//                           Omni-Path (hfi1_*: opx, psm2), Intel RDMA (irdma: psm3), usnic,
//                           and the software RDMA devices rxe/siw (verbs would serve them)
//   /sys/class/cxi          HPE Slingshot (cxi)
//   /dev/hfi1*, /dev/ipath* Omni-Path and QLogic adapters without their sysfs class (psm2, psm)
//   /dev/kgni*              Cray Aries (gni)
// A provider that runs without any device (psm3 over plain sockets) is found only when
// named (BANYAN_OFI_PROVIDER), as the software providers are.

#include <string>

namespace banyan::transport::ofi {

struct FabricDevice {
  bool found = false;
  std::string path;  // the first device seen, e.g. "/sys/class/infiniband/mlx5_0"
};

// `root` prefixes every path (tests point it at a directory of their own); "" is "/".
FabricDevice findFabricDevice(const std::string& root = "");

}  // namespace banyan::transport::ofi

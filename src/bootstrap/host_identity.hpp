#pragma once
// Which host a rank runs on, as a string every rank of the host computes alike: the hostname
// plus the kernel's boot id (two VMs cloned from one image share a hostname, never a boot id).
// BANYAN_HOST_ID overrides it, e.g. to make ranks in different network namespaces of one
// machine count as different hosts.

#include <string>

namespace banyan::bootstrap {

std::string hostIdentity();

}  // namespace banyan::bootstrap

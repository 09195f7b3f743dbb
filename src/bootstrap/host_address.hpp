#pragma once
// The address other hosts reach this one on, for a rank that serves the store and publishes
// where it is (the PMIx bootstrap, banyan-mpi).

#include <string>

namespace banyan::bootstrap {

// gethostname(); throws banyan::Error(System) when it fails.
std::string localHostName();

// The first non-loopback IPv4 address the host name resolves to; when the name does not resolve
// to one (no DNS entry, as in containers and network namespaces), the first non-loopback
// interface's address; else the name itself.
std::string advertisedAddress();

}  // namespace banyan::bootstrap

#pragma once
// The boundary between libbanyan and the ofi transport's module (libbanyan-ofi.so), the only
// part of banyan that links libfabric (docs/ofi.md, "Loading the module"). libbanyan loads the
// module with dlopen (ofi_loader.hpp) and asks it, through one C symbol, for an OfiModule:
// the transport table's ofi row and the fabric report of banyan-topo. Everything else of the
// ofi transport stays behind this class.
//
// The module is built with the libbanyan it is loaded by: both sides share C++ types
// (TransportKind, SetUpContext, Config), so the entry point refuses a module of another
// banyan version or module ABI, and the loader reports that as an error naming the path.

#include <memory>
#include <string>

#include "config/config.hpp"
#include "transports/transport_kind.hpp"

namespace banyan::transport::ofi {

// Raised whenever the OfiModule class or what it passes changes shape.
constexpr int kModuleAbi = 1;

class OfiModule {
 public:
  virtual ~OfiModule() = default;
  // A fresh ofi row of the transport table (what transportTable() would have built in).
  virtual std::unique_ptr<TransportKind> makeKind() = 0;
  // banyan-topo's "Fabric: ..." lines for this configuration (the choice a rank would make).
  virtual std::string describeFabric(const config::Config& config) = 0;
};

}  // namespace banyan::transport::ofi

// The module's one exported entry point (looked up by name with dlsym). Returns the process's
// module object (never freed: libfabric is never unloaded), or null when `abi` or `version`
// (libbanyan's project version) are not the module's own.
extern "C" banyan::transport::ofi::OfiModule* banyan_ofi_module(int abi, const char* version);
inline constexpr const char* kOfiModuleEntry = "banyan_ofi_module";

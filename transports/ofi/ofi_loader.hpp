#pragma once
// Finding and loading the ofi transport's module, libbanyan-ofi.so (docs/ofi.md, "Loading the
// module"). libbanyan does not link libfabric: Debian's libfabric links the PSM libraries,
// whose load-time constructors install handlers for SIGSEGV and the other fatal signals, so
// linking it would turn every crash of every program that links banyan into exit status 1 and
// a .btr file. The module is loaded only when the ofi row is used (ofi_kind.cpp), once per
// process, and never unloaded.
//
// Where: BANYAN_OFI_MODULE when set (only there); else libbanyan-ofi.so in the directory of
// the libbanyan that is running (dladdr of one of its functions), then in the build directory
// banyan was built in.
//
// Loading it, and the module's first use (its first fi_getinfo and endpoint), run under a
// ProcessStateGuard (common/process_state.hpp): every signal disposition and the CPU affinity
// mask that the libraries changed are put back, and one WARN line per process names what was
// undone at each of the two moments.

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "transports/ofi/ofi_module.hpp"

namespace banyan::transport::ofi {

// The paths tried, in order, for this configuration.
std::vector<std::string> moduleCandidates(const config::Config& config);

// The process's module, loaded on first call. Throws banyan::Error(NotSupported) naming every
// path tried and why each failed when none loads (the answer is kept: later calls throw the same).
OfiModule& loadModule(const config::Config& config, int rank);

// Runs `body` under a ProcessStateGuard the first time it is called in the process; later
// calls just run it. The module calls it around its first fi_getinfo and endpoint (not the
// address exchange after them, so the guard's window stays short: a disposition another
// thread changes inside it would be taken back too). `rank` names the WARN line's rank.
void firstUseGuarded(int rank, const std::function<void()>& body);

}  // namespace banyan::transport::ofi

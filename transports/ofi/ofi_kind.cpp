// The ofi row of the transport table (transport_kind.hpp), libbanyan's side of it: whether to
// load the ofi module at all, and if so the module's row (ofi_module.cpp) does the work. The
// module (libbanyan-ofi.so, the one part of banyan that links libfabric) is loaded when
//   - BANYAN_TRANSPORT=ofi forces it (a missing module is then an error naming the paths tried),
//   - BANYAN_OFI_PROVIDER names a provider (the same), or
//   - in auto mode, this host has a fabric device (fabric_probe.hpp; a module that does not
//     load is then a WARN, and those peers get TCP).
// Otherwise this rank publishes that it has no provider, as a rank without libfabric always
// did, so that its peers' rows can answer (ofi_exchange.hpp). docs/ofi.md, "Loading the module".

#include <fmt/format.h>

#include <atomic>
#include <memory>

#include "common/log.hpp"
#include "common/status.hpp"
#include "transports/ofi/fabric_probe.hpp"
#include "transports/ofi/ofi_exchange.hpp"
#include "transports/ofi/ofi_loader.hpp"
#include "transports/transport_kind.hpp"

namespace banyan::transport::ofi {
namespace {

// Why this rank should load the module ("" when it should not), and whether a failure to load
// it is an error (asked for) or only a WARN (a device was seen).
struct Reason {
  std::string why;
  bool asked = false;
};

Reason reasonToLoad(const SetUpContext& context) {
  if (context.forced() == "ofi") return {"BANYAN_TRANSPORT=ofi", true};
  if (!context.config.ofiProvider.empty())
    return {fmt::format("BANYAN_OFI_PROVIDER={}", context.config.ofiProvider), true};
  const FabricDevice device = findFabricDevice();
  if (device.found) return {fmt::format("fabric device {}", device.path), false};
  return {};
}

class OfiKind final : public TransportKind {
 public:
  std::string_view name() const override { return "ofi"; }
#ifdef BANYAN_HAVE_OFI
  bool available() const override { return true; }
#else
  bool available() const override { return false; }
#endif

  void publish(const SetUpContext& context, const std::vector<int>& candidates) override {
    if (OfiModule* module = moduleFor(context)) {
      inner_ = module->makeKind();
      inner_->publish(context, candidates);
      return;
    }
    exchangeAddresses(context, candidates, "", "");
  }

  bool canReach(const SetUpContext& context, int peer) const override {
    return inner_ != nullptr && inner_->canReach(context, peer);
  }

  OpenedTransport open(const SetUpContext& context, const std::vector<int>& peers) override {
    // Never called without the module: this rank then reaches nobody over ofi (canReach).
    if (!inner_) fail(ErrorCode::Internal, "ofi: rank {} was asked to open ofi without its module", context.rank);
    return inner_->open(context, peers);
  }

 private:
  // The loaded module, or null where this rank does without it.
  OfiModule* moduleFor(const SetUpContext& context) const {
    if (!available()) return nullptr;
    const Reason reason = reasonToLoad(context);
    const log::Where where{log::Subsystem::Transport, context.rank};
    if (reason.why.empty()) {
      log::info(where, "ofi: no fabric device and no provider named: libfabric not loaded, TCP between hosts");
      return nullptr;
    }
    try {
      return &loadModule(context.config, context.rank);
    } catch (const Error& error) {
      if (reason.asked) fail(error.code(), "{}: {}", reason.why, error.detail());
      // Once per process: every communicator (and its point-to-point channel) would repeat it.
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) log::warn(where, "{}, but {}; using TCP between hosts", reason.why, error.detail());
      return nullptr;
    }
  }

  std::unique_ptr<TransportKind> inner_;
};

}  // namespace

std::unique_ptr<TransportKind> makeOfiKind() { return std::make_unique<OfiKind>(); }

}  // namespace banyan::transport::ofi

#include "transports/ofi/provider.hpp"

#include <fmt/format.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/status.hpp"
#include "transports/ofi/membership.hpp"

namespace banyan::transport::ofi {
namespace {

// Fastest first. Slingshot (cxi), EFA, Omni-Path (opx, psm2), psm3 (Intel Ethernet/RoCE),
// verbs (InfiniBand, RoCE; reached through ofi_rxm for RDM), older psm and usnic.
constexpr const char* kFabricRanking[] = {"cxi", "efa", "opx", "psm3", "psm2", "verbs", "psm", "usnic", "gni"};

std::string coreOf(const std::string& provider) { return provider.substr(0, provider.find(';')); }

int rankOf(const std::string& provider) {
  const std::string core = coreOf(provider);
  for (std::size_t i = 0; i < std::size(kFabricRanking); ++i) {
    if (core == kFabricRanking[i]) return static_cast<int>(i);
  }
  return static_cast<int>(std::size(kFabricRanking));
}

// What banyan asks of every provider: reliable datagrams with tagged messages (and RMA when
// `rma`), completions with their data, and every memory-registration rule the code handles.
// FI_MR_RAW (keys wider than 64 bits), FI_MR_MMU_NOTIFY and FI_MR_RMA_EVENT are not handled,
// so they are not offered: providers that need them are not returned.
// `membership`: also directed receives and source addresses, to keep strangers out
// (membership.hpp); asked first, and left out for a provider that cannot give them.
InfoPtr makeHints(const std::string& provider, bool rma, bool membership) {
  InfoPtr hints(fi_allocinfo());
  if (!hints) fail(ErrorCode::System, "ofi: fi_allocinfo failed (out of memory)");
  hints->caps = FI_TAGGED | FI_MSG | (rma ? FI_RMA : 0) | (membership ? kMembershipCaps : 0);
  // Operation contexts begin with an fi_context2, so providers that borrow them may.
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->ep_attr->type = FI_EP_RDM;
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
  // One thread at a time touches the domain: the transport serialises every call.
  hints->domain_attr->threading = FI_THREAD_DOMAIN;
  hints->tx_attr->msg_order = FI_ORDER_SAS;
  if (!provider.empty()) hints->fabric_attr->prov_name = strdup(provider.c_str());
  return hints;
}

// fi_getinfo, or nullptr when the provider has nothing that fits (any other error throws).
InfoPtr getInfo(const std::string& provider, bool rma, const std::string& node, bool membership = false) {
  InfoPtr hints = makeHints(provider, rma, membership);
  fi_info* found = nullptr;
  const int ret = fi_getinfo(kApiVersion, node.empty() ? nullptr : node.c_str(), nullptr, node.empty() ? 0 : FI_SOURCE,
                             hints.get(), &found);
  if (ret == -FI_ENODATA || ret == -FI_ENOENT || ret == -FI_EADDRNOTAVAIL || ret == -FI_ENODEV) return nullptr;
  if (ret != 0) {
    fail(ErrorCode::System, "ofi: fi_getinfo(provider '{}', node '{}'): {}", provider, node, fi_strerror(-ret));
  }
  return InfoPtr(found);
}

bool bindsToIp(const fi_info& info) {
  return info.addr_format == FI_SOCKADDR || info.addr_format == FI_SOCKADDR_IN || info.addr_format == FI_SOCKADDR_IN6;
}

// The first entry of `list` from `provider` exactly (libfabric matches names loosely: "tcp"
// also returns "tcp;ofi_rxm"), detached from the rest of the list.
InfoPtr takeExact(InfoPtr list, const std::string& provider) {
  for (fi_info* i = list.get(); i != nullptr; i = i->next) {
    if (provider.empty() || provider == i->fabric_attr->prov_name) {
      fi_info* next = i->next;
      i->next = nullptr;
      InfoPtr one(fi_dupinfo(i));
      i->next = next;
      return one;
    }
  }
  return nullptr;
}

// The named provider with RMA if it has it, else without, each with the membership
// capabilities if it has them; bound to `node` where it binds to IPs.
InfoPtr openNamed(const std::string& provider, const std::string& node) {
  for (const bool rma : {true, false}) {
    for (const bool membership : {true, false}) {
      InfoPtr any = takeExact(getInfo(provider, rma, "", membership), provider);
      if (!any) continue;
      if (!node.empty() && bindsToIp(*any)) {
        if (InfoPtr bound = takeExact(getInfo(provider, rma, node, membership), provider)) return bound;
      }
      return any;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> availableProviders() {
  std::vector<std::string> names;
  InfoPtr all = getInfo("", false, "");
  for (fi_info* i = all.get(); i != nullptr; i = i->next) {
    std::string name = i->fabric_attr->prov_name;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  }
  return names;
}

bool isRealFabric(const std::string& provider) {
  return rankOf(provider) < static_cast<int>(std::size(kFabricRanking));
}

InfoPtr chooseProvider(const ProviderRequest& request) {
  if (!request.provider.empty()) {
    InfoPtr info = openNamed(request.provider, request.node);
    if (info) return info;
    const auto names = availableProviders();
    fail(ErrorCode::NotSupported,
         "BANYAN_OFI_PROVIDER='{}': no libfabric provider of that name offers what banyan needs (reliable-datagram "
         "endpoints with tagged messages); available here: {}",
         request.provider, names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
  }
  // No name: the best real fabric, if any.
  std::string best;
  for (const auto& name : availableProviders()) {
    if (isRealFabric(name) && (best.empty() || rankOf(name) < rankOf(best))) best = name;
  }
  if (!best.empty()) return openNamed(best, request.node);
  if (!request.forced) return nullptr;
  // Forced without a fabric: libfabric's own first choice (it ranks providers itself).
  const auto names = availableProviders();
  if (names.empty()) return nullptr;
  return openNamed(names.front(), request.node);
}

std::string mrModeText(int mrMode) {
  static constexpr std::pair<int, const char*> kBits[] = {
      {FI_MR_LOCAL, "FI_MR_LOCAL"},         {FI_MR_RAW, "FI_MR_RAW"},           {FI_MR_VIRT_ADDR, "FI_MR_VIRT_ADDR"},
      {FI_MR_ALLOCATED, "FI_MR_ALLOCATED"}, {FI_MR_PROV_KEY, "FI_MR_PROV_KEY"}, {FI_MR_MMU_NOTIFY, "FI_MR_MMU_NOTIFY"},
      {FI_MR_RMA_EVENT, "FI_MR_RMA_EVENT"}, {FI_MR_ENDPOINT, "FI_MR_ENDPOINT"}, {FI_MR_HMEM, "FI_MR_HMEM"},
  };
  std::string text;
  for (const auto& [bit, name] : kBits) {
    if ((mrMode & bit) == 0) continue;
    if (!text.empty()) text += '|';
    text += name;  // appended, not "|" + name: g++ 12 at -O3 warns falsely (-Wrestrict) on that
  }
  return text.empty() ? "none" : text;
}

std::string describeProvider(const fi_info& info) {
  const auto progress = [](fi_progress p) {
    return p == FI_PROGRESS_AUTO ? "auto" : p == FI_PROGRESS_MANUAL ? "manual" : "unspecified";
  };
  char* format = fi_tostr(&info.addr_format, FI_TYPE_ADDR_FORMAT);
  return fmt::format(
      "provider {} (fabric {}, domain {}, version {}.{}), address format {}, data progress {}, mr_mode {}, max "
      "message {} B, inject {} B, {}, remote CQ data {} B, {}",
      info.fabric_attr->prov_name, info.fabric_attr->name ? info.fabric_attr->name : "?",
      info.domain_attr->name ? info.domain_attr->name : "?", FI_MAJOR(info.fabric_attr->prov_version),
      FI_MINOR(info.fabric_attr->prov_version), format ? format : "?", progress(info.domain_attr->data_progress),
      mrModeText(info.domain_attr->mr_mode), info.ep_attr->max_msg_size, info.tx_attr->inject_size,
      (info.caps & FI_RMA) != 0 ? "RMA" : "no RMA", info.domain_attr->cq_data_size,
      (info.caps & kMembershipCaps) == kMembershipCaps ? "directed receives and source addresses"
                                                       : "no directed receives or source addresses");
}

}  // namespace banyan::transport::ofi

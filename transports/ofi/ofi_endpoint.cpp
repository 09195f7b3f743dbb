#include "transports/ofi/ofi_endpoint.hpp"

#include <fmt/format.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string_view>

#include "common/status.hpp"

namespace banyan::transport::ofi {
namespace {

// The unexpected-message buffer asked of the sockets provider (its own largest, 64 MiB).
constexpr std::size_t kSocketsBufferedBytes = std::size_t{1} << 26;

// The other half of removeDeadShmRegion: when every rank of a job died, nobody removed their
// regions, and this process may have inherited one of their pids. A region named after this
// pid that exists before this process opened its first shm endpoint is such a leftover (pids
// are unique among live processes), so the first open removes them; later opens in the same
// process must not, since those regions are its own and live.
void removeStaleOwnRegions() {
  static std::atomic<pid_t> cleanedFor{0};
  const pid_t self = ::getpid();
  if (cleanedFor.exchange(self) == self) return;
  const std::string prefix = fmt::format("{}:", self);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) ::shm_unlink(name.c_str());
  }
}

}  // namespace

std::string fiText(ssize_t ret) { return fmt::format("{} ({})", fi_strerror(static_cast<int>(-ret)), -ret); }

void Endpoint::open(fi_info& info) {
  providerName_ = info.fabric_attr->prov_name;
  auto check = [&](int ret, const char* call) {
    if (ret != 0) fail(ErrorCode::System, "ofi ({}): {}: {}", providerName_, call, fiText(ret));
  };
  check(fi_fabric(info.fabric_attr, &fabric_, nullptr), "fi_fabric");
  check(fi_domain(fabric_, &info, &domain_, nullptr), "fi_domain");

  fi_cq_attr cqAttr{};
  cqAttr.format = FI_CQ_FORMAT_DATA;
  cqAttr.wait_obj = FI_WAIT_FD;
  if (fi_cq_open(domain_, &cqAttr, &cq_, nullptr) != 0) {
    cqAttr.wait_obj = FI_WAIT_NONE;  // the provider has no descriptor to wait on: the driver naps
    check(fi_cq_open(domain_, &cqAttr, &cq_, nullptr), "fi_cq_open");
  } else if (fi_control(&cq_->fid, FI_GETWAIT, &waitFd_) != 0) {
    waitFd_ = -1;
  }

  fi_av_attr avAttr{};
  avAttr.type = info.domain_attr->av_type != FI_AV_UNSPEC ? info.domain_attr->av_type : FI_AV_TABLE;
  check(fi_av_open(domain_, &avAttr, &av_, nullptr), "fi_av_open");
  if (providerName_ == "shm") removeStaleOwnRegions();
  // libfabric 1.17's sockets offers total_buffered_recv 0: a message that comes before its
  // receive is posted is then left in the socket, and the connection carries nothing more
  // until that receive is posted ("Exceeded buffered recv limit" at FI_LOG_LEVEL=warn, tens of
  // thousands of times a call with 64-byte slices). Early messages are the rule in pipelined
  // collectives, so ask for the provider's largest buffer (its endpoint takes the value from
  // this info); past it, the connection waits as before.
  if (providerName_ == "sockets" && info.rx_attr->total_buffered_recv < kSocketsBufferedBytes) {
    info.rx_attr->total_buffered_recv = kSocketsBufferedBytes;
  }
  check(fi_endpoint(domain_, &info, &ep_, nullptr), "fi_endpoint");
  check(fi_ep_bind(ep_, &av_->fid, 0), "fi_ep_bind(av)");
  check(fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
  check(fi_enable(ep_), "fi_enable");
}

void Endpoint::closeEndpoint() {
  if (ep_ != nullptr) fi_close(&ep_->fid);
  ep_ = nullptr;
}

void Endpoint::close() {
  closeEndpoint();
  if (av_ != nullptr) fi_close(&av_->fid);
  if (cq_ != nullptr) fi_close(&cq_->fid);
  if (domain_ != nullptr) fi_close(&domain_->fid);
  if (fabric_ != nullptr) fi_close(&fabric_->fid);
  av_ = nullptr;
  cq_ = nullptr;
  domain_ = nullptr;
  fabric_ = nullptr;
}

std::string Endpoint::address() const {
  std::string name(64, '\0');
  std::size_t length = name.size();
  int ret = fi_getname(&ep_->fid, name.data(), &length);
  if (ret == -FI_ETOOSMALL) {
    name.resize(length);
    ret = fi_getname(&ep_->fid, name.data(), &length);
  }
  if (ret != 0) fail(ErrorCode::System, "ofi ({}): fi_getname: {}", providerName_, fiText(ret));
  name.resize(length);
  return name;
}

fi_addr_t Endpoint::insert(const std::string& address, int rank, std::string& where) {
  fi_addr_t addr = FI_ADDR_UNSPEC;
  const int inserted = fi_av_insert(av_, address.data(), 1, &addr, 0, nullptr);
  if (inserted != 1) {
    fail(ErrorCode::System, "ofi ({}): adding rank {}'s address to the address vector: {}", providerName_, rank,
         inserted < 0 ? fiText(inserted) : std::string("not inserted"));
  }
  char text[128] = {};
  std::size_t length = sizeof text;
  fi_av_straddr(av_, address.data(), text, &length);
  where = text;
  return addr;
}

void removeDeadShmRegion(const std::string& providerName, const std::string& where) {
  constexpr std::string_view kPrefix = "fi_shm://";
  if (providerName != "shm" || where.rfind(kPrefix, 0) != 0) return;
  const std::string name = where.substr(kPrefix.size());
  if (!name.empty() && name.find('/') == std::string::npos) ::shm_unlink(name.c_str());
}

}  // namespace banyan::transport::ofi

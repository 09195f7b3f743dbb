// ofi-shm-pool-repro: shows, with libfabric alone, why 5 ranks with 64-byte slices stalled over
// libfabric 1.17's shm provider (docs/ofi.md, "Flow control over shm").
//
//   ofi-shm-pool-repro [POSTED]     default: the provider's rx_attr->size
//
// shm keeps posted receives and unexpected messages (arrived, no receive posted yet) in one pool
// of rx_attr->size entries. A message that finds neither a matching receive nor a free entry
// stays at the head of the receiver's command queue, and every message behind it waits too,
// even one whose receive is posted. Two endpoints in this process: the receiver posts POSTED
// receives for tag A; the sender sends one message with tag B (no receive: unexpected), then one
// with tag A. With POSTED below the pool size the A message completes; with POSTED equal to it
// the B message takes no entry, blocks the queue, and the A message never completes, however
// long the receiver reads its queue: nothing fails, nothing spins, nothing more is delivered.
//
// Prints one line and exits 0 when the A message completed, 1 when it did not within 2 s,
// 2 on a libfabric error.

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

[[noreturn]] void die(const char* call, long ret) {
  std::fprintf(stderr, "ofi-shm-pool-repro: %s: %s (%ld)\n", call, fi_strerror(static_cast<int>(-ret)), -ret);
  std::exit(2);
}

void check(long ret, const char* call) {
  if (ret != 0) die(call, ret);
}

struct Endpoint {
  fid_cq* cq = nullptr;
  fid_av* av = nullptr;
  fid_ep* ep = nullptr;
};

Endpoint open(fid_domain* domain, fi_info* info) {
  Endpoint e;
  fi_cq_attr cqAttr{};
  cqAttr.format = FI_CQ_FORMAT_TAGGED;
  check(fi_cq_open(domain, &cqAttr, &e.cq, nullptr), "fi_cq_open");
  fi_av_attr avAttr{};
  avAttr.type = FI_AV_TABLE;
  check(fi_av_open(domain, &avAttr, &e.av, nullptr), "fi_av_open");
  check(fi_endpoint(domain, info, &e.ep, nullptr), "fi_endpoint");
  check(fi_ep_bind(e.ep, &e.av->fid, 0), "fi_ep_bind(av)");
  check(fi_ep_bind(e.ep, &e.cq->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
  check(fi_enable(e.ep), "fi_enable");
  return e;
}

// Reads `cq` until a completion with `context` arrives or the deadline passes; also reads the
// other queue, since shm moves data only when its queues are read (manual progress).
bool await(fid_cq* cq, fid_cq* other, void* context, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  fi_cq_tagged_entry entry{};
  while (std::chrono::steady_clock::now() < deadline) {
    fi_cq_read(other, &entry, 0);  // progress only
    const ssize_t ret = fi_cq_read(cq, &entry, 1);
    if (ret == 1 && entry.op_context == context) return true;
    if (ret < 0 && ret != -FI_EAGAIN) die("fi_cq_read", ret);
  }
  return false;
}

// Sends one message, reading both queues while the provider answers -FI_EAGAIN (the first
// send to a new peer waits for the receiver to map the sender's region).
void send(const Endpoint& from, const Endpoint& to, fi_addr_t dest, void* data, std::size_t bytes, std::uint64_t tag,
          fi_context2* context) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  fi_cq_tagged_entry entry{};
  for (;;) {
    const ssize_t ret = fi_tsend(from.ep, data, bytes, nullptr, dest, tag, context);
    if (ret == 0) return;
    if (ret != -FI_EAGAIN || std::chrono::steady_clock::now() > deadline) die("fi_tsend", ret);
    fi_cq_read(from.cq, &entry, 0);
    fi_cq_read(to.cq, &entry, 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  constexpr std::uint64_t kTagA = 1;
  constexpr std::uint64_t kTagB = 2;
  fi_info* hints = fi_allocinfo();
  hints->caps = FI_TAGGED;
  hints->ep_attr->type = FI_EP_RDM;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->fabric_attr->prov_name = strdup("shm");
  fi_info* info = nullptr;
  check(fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints, &info), "fi_getinfo(shm)");
  const std::size_t pool = info->rx_attr->size;
  const std::size_t posted = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : pool;

  fid_fabric* fabric = nullptr;
  fid_domain* domain = nullptr;
  check(fi_fabric(info->fabric_attr, &fabric, nullptr), "fi_fabric");
  check(fi_domain(fabric, info, &domain, nullptr), "fi_domain");
  Endpoint receiver = open(domain, info);
  Endpoint sender = open(domain, info);
  char name[256];
  std::size_t length = sizeof name;
  check(fi_getname(&receiver.ep->fid, name, &length), "fi_getname");
  fi_addr_t to = FI_ADDR_UNSPEC;
  if (fi_av_insert(sender.av, name, 1, &to, 0, nullptr) != 1) die("fi_av_insert", FI_EINVAL);

  std::vector<fi_context2> receives(posted);
  std::vector<char> buffers(posted * 8);
  for (std::size_t i = 0; i < posted; ++i) {
    check(fi_trecv(receiver.ep, &buffers[i * 8], 8, nullptr, FI_ADDR_UNSPEC, kTagA, 0, &receives[i]), "fi_trecv");
  }
  char payload[8] = "banyan";
  fi_context2 sendB{}, sendA{};
  send(sender, receiver, to, payload, sizeof payload, kTagB, &sendB);
  send(sender, receiver, to, payload, sizeof payload, kTagA, &sendA);
  const bool arrived = await(receiver.cq, sender.cq, &receives[0], std::chrono::milliseconds(2000));
  std::printf("shm pool %zu, %zu receives posted, one unexpected message then one expected: the expected one %s\n",
              pool, posted, arrived ? "completed" : "did NOT complete in 2 s (queue blocked behind the unexpected one)");

  fi_close(&sender.ep->fid);
  fi_close(&receiver.ep->fid);
  for (Endpoint* e : {&sender, &receiver}) {
    fi_close(&e->av->fid);
    fi_close(&e->cq->fid);
  }
  fi_close(&domain->fid);
  fi_close(&fabric->fid);
  fi_freeinfo(info);
  fi_freeinfo(hints);
  return arrived ? 0 : 1;
}

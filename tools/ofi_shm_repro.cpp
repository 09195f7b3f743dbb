// ofi-shm-repro: shows, with libfabric alone, the two faults of libfabric 1.17's shm
// provider that made 4 and 5 ranks with 64-byte slices stall or give wrong sums (docs/ofi.md,
// "Three shm bugs").
//
//   ofi-shm-repro pool [POSTED]   default POSTED: the provider's rx_attr->size
//   ofi-shm-repro ignore
//
// pool: shm keeps posted receives and unexpected messages (arrived, no receive posted yet) in one pool
// of rx_attr->size entries. A message that finds neither a matching receive nor a free entry
// stays at the head of the receiver's command queue, and every message behind it waits too,
// even one whose receive is posted. Two endpoints in this process: the receiver posts POSTED
// receives for tag A; the sender sends one message with tag B (no receive: unexpected), then one
// with tag A. With POSTED below the pool size the A message completes; with POSTED equal to it
// the B message takes no entry, blocks the queue, and the A message never completes, however
// long the receiver reads its queue: nothing fails, nothing spins, nothing more is delivered.
//
// ignore: a receive's entry is reused for an unexpected message without resetting the entry's
// ignore bits, and a later receive is matched against the unexpected message through those
// stale bits. The receiver posts one receive with an ignore mask (tag 0x10, ignore 0xf: tags
// 0x10-0x1f) and gets a message for it; then message 0x1 arrives unexpected; then the receiver
// posts a receive for tag 0x2 (ignore 0), which should not match 0x1, yet takes it.
//
// Prints one line and exits 0 when the provider behaved as the spec says, 1 when it did not,
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
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const char* call, long ret) {
  std::fprintf(stderr, "ofi-shm-repro: %s: %s (%ld)\n", call, fi_strerror(static_cast<int>(-ret)), -ret);
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

struct Fabric {
  fi_info* info = nullptr;
  fid_fabric* fabric = nullptr;
  fid_domain* domain = nullptr;
  Endpoint receiver, sender;
  fi_addr_t to = FI_ADDR_UNSPEC;

  Fabric() {
    fi_info* hints = fi_allocinfo();
    hints->caps = FI_TAGGED;
    hints->ep_attr->type = FI_EP_RDM;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->fabric_attr->prov_name = strdup("shm");
    check(fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints, &info), "fi_getinfo(shm)");
    fi_freeinfo(hints);
    check(fi_fabric(info->fabric_attr, &fabric, nullptr), "fi_fabric");
    check(fi_domain(fabric, info, &domain, nullptr), "fi_domain");
    receiver = open(domain, info);
    sender = open(domain, info);
    char name[256];
    std::size_t length = sizeof name;
    check(fi_getname(&receiver.ep->fid, name, &length), "fi_getname");
    if (fi_av_insert(sender.av, name, 1, &to, 0, nullptr) != 1) die("fi_av_insert", FI_EINVAL);
  }
  ~Fabric() {
    fi_close(&sender.ep->fid);
    fi_close(&receiver.ep->fid);
    for (Endpoint* e : {&sender, &receiver}) {
      fi_close(&e->av->fid);
      fi_close(&e->cq->fid);
    }
    fi_close(&domain->fid);
    fi_close(&fabric->fid);
    fi_freeinfo(info);
  }
};

int pool(std::size_t posted) {
  constexpr std::uint64_t kTagA = 1;
  constexpr std::uint64_t kTagB = 2;
  Fabric f;
  const std::size_t size = f.info->rx_attr->size;
  if (posted == 0) posted = size;
  std::vector<fi_context2> receives(posted);
  std::vector<char> buffers(posted * 8);
  for (std::size_t i = 0; i < posted; ++i) {
    check(fi_trecv(f.receiver.ep, &buffers[i * 8], 8, nullptr, FI_ADDR_UNSPEC, kTagA, 0, &receives[i]), "fi_trecv");
  }
  char payload[8] = "banyan";
  fi_context2 sendB{}, sendA{};
  send(f.sender, f.receiver, f.to, payload, sizeof payload, kTagB, &sendB);
  send(f.sender, f.receiver, f.to, payload, sizeof payload, kTagA, &sendA);
  const bool arrived = await(f.receiver.cq, f.sender.cq, &receives[0], std::chrono::milliseconds(2000));
  std::printf(
      "pool: shm pool %zu, %zu receives posted, one unexpected message then one expected: the expected one %s\n", size,
      posted, arrived ? "completed" : "did NOT complete in 2 s (queue blocked behind the unexpected one)");
  return arrived ? 0 : 1;
}

int ignore() {
  Fabric f;
  char masked[8] = {}, wanted[8] = {};
  char first[8] = "first", early[8] = "early";
  fi_context2 maskedRecv{}, wantedRecv{}, send1{}, send2{};
  // A masked receive, completed: its entry goes back to the pool with ignore 0xf.
  check(fi_trecv(f.receiver.ep, masked, sizeof masked, nullptr, FI_ADDR_UNSPEC, 0x10, 0xf, &maskedRecv), "fi_trecv");
  send(f.sender, f.receiver, f.to, first, sizeof first, 0x13, &send1);
  if (!await(f.receiver.cq, f.sender.cq, &maskedRecv, std::chrono::milliseconds(2000))) {
    std::printf("ignore: the masked receive did not complete\n");
    return 2;
  }
  // Message 0x1 arrives before any receive for it: it takes that entry, stale mask and all.
  send(f.sender, f.receiver, f.to, early, sizeof early, 0x1, &send2);
  fi_cq_tagged_entry entry{};
  for (int i = 0; i < 100; ++i) fi_cq_read(f.receiver.cq, &entry, 0);  // progress: it lands unexpected
  // A receive for tag 0x2, exact: must not take message 0x1.
  check(fi_trecv(f.receiver.ep, wanted, sizeof wanted, nullptr, FI_ADDR_UNSPEC, 0x2, 0, &wantedRecv), "fi_trecv");
  const bool wrong = await(f.receiver.cq, f.sender.cq, &wantedRecv, std::chrono::milliseconds(500));
  std::printf(
      "ignore: a receive for tag 0x2 (ignore 0) after a masked receive and an unexpected message with tag 0x1: %s\n",
      wrong ? "took the message with tag 0x1 (wrong match through the stale mask)" : "did not match it (correct)");
  return wrong ? 1 : 0;
}

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "pool") return pool(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0);
  if (what == "ignore") return ignore();
  std::fprintf(stderr, "usage: ofi-shm-repro pool [POSTED] | ignore\n");
  return 2;
}

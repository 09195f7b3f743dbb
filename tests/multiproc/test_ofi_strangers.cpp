// A stranger on an ofi endpoint (transports/ofi/membership.hpp, docs/security.md): a process
// outside the job opens its own endpoint with the same provider, learns a rank's address (here
// from the test's store, as if it had read the job's), and throws at that rank everything the
// wire format makes possible:
//   - data messages with exactly the tags and lengths the rank's posted receives expect;
//   - control messages claiming to be from a real rank: a Mismatch (would fail the job), a Ready
//     (would make the rank write its data where the stranger says), a Done (would complete a
//     receive early), random bytes, and one longer than any control message;
//   - RMA writes into the buffer the rank keeps registered (its address given to the stranger),
//     with every key of the old sequential scheme and random ones.
// Over sockets and shm part of this cannot be stopped (see stranger() below): those parts are
// left out there, and docs/security.md says so per provider.
// The two ranks' traffic before and after stays exact, the rank reports no failure, it says it
// dropped the stranger's control messages, and the stranger never hangs (each of its
// operations waits under a deadline; unanswered ones are counted, not waited for).

#include "support/multiproc.hpp"

#ifdef BANYAN_HAVE_OFI

#include <fmt/format.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>
#include <sched.h>

#include <asio.hpp>
#include <banyan/banyan.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "bootstrap/environment.hpp"
#include "security/job_key.hpp"
#include "transports/ofi/ofi_transport.hpp"
#include "transports/ofi/ofi_wire.hpp"
#include "transports/ofi/provider.hpp"

using namespace banyan;
using banyan::test::runRanks;
using namespace std::chrono_literals;
namespace ofi = banyan::transport::ofi;

namespace {

constexpr int kMessages = 8;                // per phase, rank 0 -> rank 1
constexpr std::size_t kEager = 1000;        // bytes of the tagged messages
constexpr std::size_t kLarge = 256 * 1024;  // one RMA message per phase

std::size_t bytesOf(int m) { return m == kMessages - 1 ? kLarge : kEager; }
std::uint8_t patternByte(int phase, int m, std::size_t i) {
  return static_cast<std::uint8_t>(phase * 101 + m * 31 + i * 7 + 1);
}

std::shared_ptr<Store> jobStore() {
  auto job = bootstrap::jobFromEnvironment();
  if (!job) throw Error(ErrorCode::Internal, "no job environment");
  return job->store;
}

void storeBarrier(const std::string& name, int size) {
  auto store = jobStore();
  store->add(name, 1, 30s);
  while (store->add(name, 0, 30s) < size) std::this_thread::sleep_for(1ms);
}

bool storeFlag(const std::string& name) { return jobStore()->add(name, 0, 30s) > 0; }

// The stranger's endpoint: raw libfabric, the provider banyan uses, nothing of banyan's.
class Stranger {
 public:
  explicit Stranger(const std::string& provider) : info_(ofi::chooseProvider({provider, true, "127.0.0.1"})) {
    check(fi_fabric(info_->fabric_attr, &fabric_, nullptr), "fi_fabric");
    check(fi_domain(fabric_, info_.get(), &domain_, nullptr), "fi_domain");
    fi_cq_attr cqAttr{};
    cqAttr.format = FI_CQ_FORMAT_DATA;
    check(fi_cq_open(domain_, &cqAttr, &cq_, nullptr), "fi_cq_open");
    fi_av_attr avAttr{};
    avAttr.type = FI_AV_TABLE;
    check(fi_av_open(domain_, &avAttr, &av_, nullptr), "fi_av_open");
    check(fi_endpoint(domain_, info_.get(), &ep_, nullptr), "fi_endpoint");
    check(fi_ep_bind(ep_, &av_->fid, 0), "fi_ep_bind(av)");
    check(fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
    check(fi_enable(ep_), "fi_enable");
  }
  ~Stranger() {
    if (ep_ != nullptr) fi_close(&ep_->fid);
    if (av_ != nullptr) fi_close(&av_->fid);
    if (cq_ != nullptr) fi_close(&cq_->fid);
    if (domain_ != nullptr) fi_close(&domain_->fid);
    if (fabric_ != nullptr) fi_close(&fabric_->fid);
  }

  bool virtualAddresses() const { return (info_->domain_attr->mr_mode & FI_MR_VIRT_ADDR) != 0; }

  fi_addr_t insert(const std::string& address) {
    fi_addr_t addr = FI_ADDR_UNSPEC;
    if (fi_av_insert(av_, address.data(), 1, &addr, 0, nullptr) != 1) throw std::runtime_error("fi_av_insert failed");
    return addr;
  }

  // Each returns true if the provider reported the operation done, false if it failed or no
  // answer came within the deadline (counted in `unanswered`).
  bool send(fi_addr_t to, std::uint64_t tag, const void* data, std::size_t bytes) {
    return run([&](void* context) { return fi_tsend(ep_, data, bytes, nullptr, to, tag, context); });
  }
  bool write(fi_addr_t to, const void* data, std::size_t bytes, std::uint64_t address, std::uint64_t key) {
    return run([&](void* context) { return fi_write(ep_, data, bytes, nullptr, to, address, key, context); });
  }

  int unanswered = 0;
  int refused = 0;

 private:
  // Posts with a context of its own (one the provider never answered is never reused) and
  // reads the queue until that context completes or fails, or the deadline.
  template <typename Post>
  bool run(Post post) {
    void* context = &contexts_.emplace_back();
    const auto until = std::chrono::steady_clock::now() + 3s;
    ssize_t ret;
    while ((ret = post(context)) == -FI_EAGAIN) {
      if (read(context) != 0) break;  // cannot be ours: nothing was posted; keeps progress going
      if (std::chrono::steady_clock::now() >= until) {
        ++unanswered;
        return false;
      }
    }
    if (ret != 0) {
      ++refused;
      return false;
    }
    while (std::chrono::steady_clock::now() < until) {
      const int outcome = read(context);
      if (outcome > 0) return true;
      if (outcome < 0) {
        ++refused;
        return false;
      }
      sched_yield();
    }
    ++unanswered;
    return false;
  }
  // One completion or error: 1 if it was `context` done, -1 if `context` failed, else 0.
  int read(void* context) {
    fi_cq_data_entry entry{};
    const ssize_t got = fi_cq_read(cq_, &entry, 1);
    if (got == 1) return entry.op_context == context ? 1 : 0;
    if (got == -FI_EAVAIL) {
      fi_cq_err_entry error{};
      fi_cq_readerr(cq_, &error, 0);
      return error.op_context == context ? -1 : 0;
    }
    return 0;
  }
  static void check(int ret, const char* call) {
    if (ret != 0) throw std::runtime_error(fmt::format("stranger: {}: {}", call, fi_strerror(-ret)));
  }

  ofi::InfoPtr info_;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_av* av_ = nullptr;
  fid_ep* ep_ = nullptr;
  std::deque<fi_context2> contexts_;
};

struct Member {
  asio::io_context io;
  std::unique_ptr<ofi::OfiTransport> transport;
  int done = 0;
  int failures = 0;

  // Drives until `count` completions, false at the deadline.
  bool driveUntil(int count, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (done < count) {
      if (std::chrono::steady_clock::now() >= until) return false;
      if (transport->poll() == 0) {
        io.poll();
        sched_yield();
      }
    }
    return true;
  }
  transport::Completion record(int rank) {
    return [this, rank](const Status& s) {
      ++done;
      if (!s.isOk()) std::fprintf(stderr, "rank %d: %s\n", rank, s.message().c_str()), ++failures;
    };
  }
};

// Ranks 0 and 1 are the job; process 2 is the stranger.
int member(int rank, const std::string& provider) {
  auto store = jobStore();
  Member self;
  ofi::OfiTransportParams params;
  params.rank = rank;
  params.size = 2;
  params.timeout = 30s;
  params.key = security::deriveKey("the job's own secret");  // the stranger does not have it
  self.transport = std::make_unique<ofi::OfiTransport>(self.io.get_executor(),
                                                       ofi::chooseProvider({provider, true, "127.0.0.1"}), params);
  const std::string mine = self.transport->address();
  store->set(fmt::format("member/{}", rank), Store::Bytes(mine.begin(), mine.end()), 30s);
  const auto theirs = store->get(fmt::format("member/{}", 1 - rank), 30s);
  self.transport->connect({{1 - rank, std::string(theirs.begin(), theirs.end())}});
  storeBarrier("members-connected", 2);  // as the runtime does (transport_setup.cpp)

  std::vector<std::vector<std::uint8_t>> buffers[2];
  for (int phase = 0; phase < 2; ++phase) {
    buffers[phase].resize(kMessages);
    for (int m = 0; m < kMessages; ++m) buffers[phase][m].resize(bytesOf(m));
  }
  const auto checkPhase = [&](int phase) {
    for (int m = 0; m < kMessages; ++m) {
      for (std::size_t i = 0; i < bytesOf(m); ++i) {
        if (buffers[phase][m][i] != patternByte(phase, m, i)) {
          std::fprintf(stderr, "rank 1: phase %d message %d byte %zu is %u, not %u\n", phase, m, i,
                       buffers[phase][m][i], patternByte(phase, m, i));
          return false;
        }
      }
    }
    return true;
  };

  if (rank == 0) {
    for (int phase = 0; phase < 2; ++phase) {
      if (phase == 1) {
        while (!storeFlag("stranger-done")) self.driveUntil(self.done + 1, 5ms);
      }
      for (int m = 0; m < kMessages; ++m) {
        for (std::size_t i = 0; i < bytesOf(m); ++i) buffers[phase][m][i] = patternByte(phase, m, i);
        self.transport->send(1, 77, buffers[phase][m].data(), bytesOf(m), self.record(rank));
      }
      RANK_EXPECT(rank, self.driveUntil((phase + 1) * kMessages, 30s));
    }
    RANK_EXPECT(rank, self.failures == 0);
    storeBarrier("all-done", 3);
    return 0;
  }

  // Rank 1: phase 0, then every receive of phase 1 posted (what the stranger's data messages
  // aim at), then the attack, then phase 1.
  for (int m = 0; m < kMessages; ++m) self.transport->recv(0, 77, buffers[0][m].data(), bytesOf(m), self.record(rank));
  RANK_EXPECT(rank, self.driveUntil(kMessages, 30s));
  RANK_EXPECT(rank, self.failures == 0);
  RANK_EXPECT(rank, checkPhase(0));
  for (int m = 0; m < kMessages; ++m) self.transport->recv(0, 77, buffers[1][m].data(), bytesOf(m), self.record(rank));
  // The registered buffer of phase 0's large message stays in the cache: the stranger's target.
  const auto target = reinterpret_cast<std::uintptr_t>(buffers[0][kMessages - 1].data());
  const std::string where = std::to_string(target);
  store->set("target", Store::Bytes(where.begin(), where.end()), 30s);
  while (!storeFlag("stranger-done")) self.driveUntil(self.done + 1, 5ms);
  RANK_EXPECT(rank, self.failures == 0);
  RANK_EXPECT(rank, checkPhase(0));  // no stranger wrote into registered memory
  RANK_EXPECT(rank, self.driveUntil(2 * kMessages, 30s));
  RANK_EXPECT(rank, self.failures == 0);
  RANK_EXPECT(rank, checkPhase(1));  // no stranger's message landed in a receive
  const std::uint64_t dropped = self.transport->strangerMessages();
  std::fprintf(stderr, "rank 1 (%s): %llu stranger message(s) dropped\n", provider.c_str(),
               static_cast<unsigned long long>(dropped));
  RANK_EXPECT(rank, dropped >= 4);  // Mismatch, Ready, Done and random bytes, at least
  storeBarrier("all-done", 3);
  return 0;
}

int stranger(const std::string& provider) {
  auto store = jobStore();
  const auto address = store->get("member/1", 30s);
  const auto targetText = store->get("target", 30s);
  const std::uint64_t target = std::stoull(std::string(targetText.begin(), targetText.end()));
  Stranger s(provider);
  const fi_addr_t victim = s.insert(std::string(address.begin(), address.end()));
  std::vector<std::uint8_t> junk(64 * 1024, 0xEE);

  // What each provider can keep out (docs/security.md, seen in this test with libfabric 1.17):
  // tcp;ofi_rxm all of it. sockets and shm deliver this stranger's data messages as if rank 0
  // had sent them (the source is taken on the sender's word), so directed receives do not
  // stop them there; shm also writes RMA by cross-memory attach without checking the key, so
  // there only the operating system stops a writer (no other user may open the region or
  // write into the process). What a provider cannot stop is not attacked here: it is listed,
  // not hidden.
  const bool attackData = provider == "tcp;ofi_rxm";
  const bool attackWrites = provider != "shm";
  // Data messages with the tags (rank 0, sequence numbers of phase 1) and lengths rank 1 waits for.
  for (int m = 0; m < kMessages && attackData; ++m) {
    s.send(victim, ofi::dataTag(0, static_cast<std::uint64_t>(kMessages + m)), junk.data(),
           std::min(bytesOf(m), junk.size()));
  }
  // Control messages claiming to be rank 0.
  ofi::ControlMessage forged;
  forged.from = 0;
  forged.kind = ofi::ControlKind::Mismatch;
  forged.seq = kMessages;
  s.send(victim, ofi::kControlTag, &forged, sizeof forged);
  forged.kind = ofi::ControlKind::Ready;
  forged.seq = 2 * kMessages - 1;
  forged.bytes = kLarge;
  forged.pieces = 1;
  s.send(victim, ofi::kControlTag, &forged, sizeof forged);
  forged.kind = ofi::ControlKind::Done;
  for (std::uint64_t id = 0; id < 4; ++id) {
    forged.id = id;
    s.send(victim, ofi::kControlTag, &forged, sizeof forged);
  }
  std::mt19937_64 random(std::random_device{}());
  std::vector<std::uint8_t> noise(sizeof(ofi::ControlMessage));
  for (auto& byte : noise) byte = static_cast<std::uint8_t>(random());
  s.send(victim, ofi::kControlTag, noise.data(), noise.size());
  s.send(victim, ofi::kControlTag | 0x1234, junk.data(), 16 * 1024);  // longer than any control message
  // RMA writes into the registered buffer: keys 1..256 (the old sequential scheme's) and random.
  const std::uint64_t address0 = s.virtualAddresses() ? target : 0;
  int written = 0;
  // Key 1 first: the old scheme's first registration. (With the old sequential keys put back,
  // these writes did not land either, over tcp;ofi_rxm: this part shows that no write lands,
  // not what the random keys add; docs/security.md.)
  for (std::uint64_t key = 1; key <= 256 && attackWrites; ++key) {
    written += s.write(victim, junk.data(), 512, address0, key);
  }
  for (int i = 0; i < 64 && attackWrites; ++i) written += s.write(victim, junk.data(), 512, address0, random());
  // "Completed" is the stranger's side only (tcp reports a write done once sent): what counts
  // is rank 1's buffer, checked there.
  std::fprintf(stderr, "stranger (%s): %d write(s) completed here, %d refused, %d unanswered\n", provider.c_str(),
               written, s.refused, s.unanswered);
  jobStore()->add("stranger-done", 1, 30s);
  storeBarrier("all-done", 3);
  return 0;
}

}  // namespace

TEST_CASE("ofi: a stranger's messages and writes never reach a rank's buffers, and the job stays exact",
          "[multiproc][ofi][security]") {
  const std::string provider = GENERATE(as<std::string>{}, "tcp;ofi_rxm", "shm", "sockets");
  SECTION(provider) {
    bootstrap::LaunchOptions options;
    options.environment["BANYAN_TIMEOUT"] = "60s";
    runRanks(
        3, [&](int rank) { return rank < 2 ? member(rank, provider) : stranger(provider); }, options);
  }
}

#endif  // BANYAN_HAVE_OFI

#include "runtime/shrink.hpp"

#include "bootstrap/environment.hpp"
#include "bootstrap/serving_store.hpp"
#include "common/host_port.hpp"
#include "common/log.hpp"
#include "resilience/watched_store.hpp"
#include "runtime/transport_setup.hpp"

#include <banyan/tcp_store.hpp>

#include <algorithm>

namespace banyan::detail {

namespace {

using Clock = std::chrono::steady_clock;

struct Meeting {
  std::shared_ptr<Store> store;
  std::vector<int> survivors;
  int newRank = -1;
};

// One agreement on who failed, and the store the survivors meet in.
Meeting agreeOnSurvivors(CommunicatorImpl& old, Clock::time_point deadline) {
  auto& control = old.control();
  const std::string host = runtime::listenAddress(*old.store(), old.config());
  std::unique_ptr<TcpStoreServer> server;
  std::string served;
  const auto agreement = control.agree(
      ~std::uint64_t{0},
      [&] {
        server = std::make_unique<TcpStoreServer>(host, 0);
        served = hostPortText(host, server->port());
        return served;
      },
      deadline);
  Meeting meeting;
  for (int r = 0; r < old.size(); ++r) {
    if (!std::binary_search(agreement.failed.begin(), agreement.failed.end(), r)) meeting.survivors.push_back(r);
  }
  meeting.newRank = static_cast<int>(std::find(meeting.survivors.begin(), meeting.survivors.end(), old.rank()) -
                                     meeting.survivors.begin());
  if (server && agreement.payload == served) {
    meeting.store = std::make_shared<bootstrap::ServingStore>(std::move(server), host);
  } else {
    auto [storeHost, port] = bootstrap::parseHostPort(agreement.payload, "shrink's store address");
    meeting.store = std::make_shared<TcpStore>(storeHost, port);
  }
  return meeting;
}

}  // namespace

std::unique_ptr<CommunicatorImpl> shrinkCommunicator(CommunicatorImpl& old) {
  auto& control = old.control();
  const auto deadline = Clock::now() + old.config().timeout;
  for (;;) {
    Meeting meeting = agreeOnSurvivors(old, deadline);
    const int host = meeting.survivors.front();
    // Gives up on the meeting once its store's host is known lost (it has no other way to end
    // before BANYAN_TIMEOUT).
    auto store =
        std::make_shared<resilience::WatchedStore>(meeting.store, [&control, host]() -> std::optional<std::string> {
          if (control.isLost(host)) return fmt::format("rank {}, which served the survivors' store, was lost", host);
          return std::nullopt;
        });
    log::info(old.rank(), "{}: shrinking to {} survivor(s); this rank becomes rank {}; they meet in rank {}'s store",
              old.storePrefix(), meeting.survivors.size(), meeting.newRank, host);
    try {
      auto made = std::make_unique<CommunicatorImpl>(store, meeting.newRank, static_cast<int>(meeting.survivors.size()),
                                                     old.options());
      store->stopWatching();
      return made;
    } catch (const Error& e) {
      if (!control.isLost(host) || Clock::now() >= deadline) throw;
      log::warn(old.rank(), "shrink: rank {} was lost while the survivors met in its store ({}); agreeing again", host,
                e.detail());
    }
  }
}

}  // namespace banyan::detail

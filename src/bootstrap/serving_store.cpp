#include "bootstrap/serving_store.hpp"

#include "common/log.hpp"
#include "config/config.hpp"

#include <algorithm>
#include <utility>

namespace banyan::bootstrap {

namespace {
// A normal end: the other ranks close within moments of this one. Past this, say why the
// process is not exiting.
constexpr std::chrono::milliseconds kQuietWait{5000};
}  // namespace

detail::ServerHolder::ServerHolder(std::unique_ptr<TcpStoreServer> server, std::chrono::milliseconds lingerFor)
    : ownedServer(std::move(server)), linger(lingerFor) {}

detail::ServerHolder::~ServerHolder() {
  if (!ownedServer || linger.count() <= 0) return;
  const log::Where where{log::Subsystem::Bootstrap, -1};
  const auto quiet = std::min(linger, kQuietWait);
  std::size_t left = ownedServer->waitForClientsToLeave(quiet);
  if (left != 0 && linger > quiet) {
    log::warn(where,
              "store: this process serves the job's store (port {}) and is done with it, but {} other "
              "connection(s) still hold it after {} ms; waiting up to {} ms more for those ranks to finish "
              "(BANYAN_STORE_LINGER)",
              ownedServer->port(), left, quiet.count(), (linger - quiet).count());
    left = ownedServer->waitForClientsToLeave(linger - quiet);
  }
  if (left != 0) {
    log::warn(where,
              "store: closing the job's store (port {}) with {} connection(s) still open after "
              "BANYAN_STORE_LINGER={} ms: those ranks will find it gone",
              ownedServer->port(), left, linger.count());
  }
}

ServingStore::ServingStore(std::unique_ptr<TcpStoreServer> server, const std::string& connectHost)
    : detail::ServerHolder(std::move(server), config::resolveStoreLinger()),
      TcpStore(connectHost, ownedServer->port()) {}

}  // namespace banyan::bootstrap

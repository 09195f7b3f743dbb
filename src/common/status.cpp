#include "common/status.hpp"

#include <cstring>

namespace banyan {

Status Status::withContext(const std::string& context) const {
  if (!failed_) return *this;
  Status copy(code_, context + ": " + message_);
  copy.lostPeer_ = lostPeer_;
  copy.lostPeerExited_ = lostPeerExited_;
  copy.mismatchPeer_ = mismatchPeer_;
  copy.mismatchTag_ = mismatchTag_;
  return copy;
}

std::string errnoText(int err) {
  char buffer[256];
  // GNU strerror_r returns the message pointer (maybe not `buffer`).
  const char* text = strerror_r(err, buffer, sizeof buffer);
  return fmt::format("{} (errno {})", text, err);
}

}  // namespace banyan

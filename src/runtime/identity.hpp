#pragma once
// Who a communicator is, as every collaborator names it in messages, logs and store keys.

#include "common/log.hpp"

#include <cstdint>
#include <string>

namespace banyan::detail {

struct Identity {
  int rank = 0;
  int size = 1;
  std::int64_t number = -1;  // numbers the communicators of a process (takeCommunicatorId)
  std::string name;          // "communicator 3", for messages
  std::string prefix;        // its store keys: "banyan/3/"

  log::Where logAs(log::Subsystem subsystem) const { return {subsystem, rank, number}; }
};

}  // namespace banyan::detail

#pragma once
// Communicator::shrink(): a new communicator of the survivors of `old`, ranked in their old
// order, made without the failed ranks and without `old`'s store (which may have died with its
// host, rank 0 under torchrun or mpirun). The survivors agree on who failed over the control
// channel (resilience/control_plane.hpp); the coordinator of that agreement, the lowest
// survivor, serves a fresh store for the new communicator, and its address travels in the
// decision. If that rank dies before the new communicator is made, the survivors agree again
// without it, until BANYAN_TIMEOUT.

#include "runtime/communicator_impl.hpp"

#include <memory>

namespace banyan::detail {

std::unique_ptr<CommunicatorImpl> shrinkCommunicator(CommunicatorImpl& old);

}  // namespace banyan::detail

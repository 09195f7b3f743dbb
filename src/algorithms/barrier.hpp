#pragma once
// Barrier schedules. A barrier moves no data: its messages are one-element tokens in Scratch
// whose content is meaningless (the executor may send whatever the scratch holds). It has no
// Input or Output. What it guarantees: no rank completes its schedule before every rank has
// started its own.

#include "algorithms/schedule.hpp"

namespace banyan::algorithms {

// Dissemination: ceil(log2(size)) rounds, any rank count (dissemination_barrier.cpp).
// Scratch: 2 elements (the outgoing and the incoming token).
Schedule disseminationBarrier(int rank, int size);

}  // namespace banyan::algorithms

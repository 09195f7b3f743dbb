#pragma once

#include <cstdint>

namespace banyan {

// Allreduce and Allgather come first: the shared-memory engine stores these values in its
// segment (intrahost/shm_collectives.cpp), so they must keep their numbers.
enum class Collective : std::uint8_t {
  Allreduce,
  Allgather,
  ReduceScatter,
  Broadcast,
  Reduce,
  Gather,
  Scatter,
  Alltoall,
  Barrier,
  Alltoallv,
};

// The API's name of a collective ("reduceScatter"), as errors and logs name calls.
inline const char* apiName(Collective kind) {
  switch (kind) {
    case Collective::Allreduce:
      return "allreduce";
    case Collective::Allgather:
      return "allgather";
    case Collective::ReduceScatter:
      return "reduceScatter";
    case Collective::Broadcast:
      return "broadcast";
    case Collective::Reduce:
      return "reduce";
    case Collective::Gather:
      return "gather";
    case Collective::Scatter:
      return "scatter";
    case Collective::Alltoall:
      return "alltoall";
    case Collective::Barrier:
      return "barrier";
    case Collective::Alltoallv:
      return "alltoallv";
  }
  return "operation";
}

// Rooted collectives: their Request carries a root, and buffers on other ranks may be absent.
inline bool isRooted(Collective kind) {
  return kind == Collective::Broadcast || kind == Collective::Reduce || kind == Collective::Gather ||
         kind == Collective::Scatter;
}

// Collectives that combine values, so the reduce op matters.
inline bool reduces(Collective kind) {
  return kind == Collective::Allreduce || kind == Collective::ReduceScatter || kind == Collective::Reduce;
}

}  // namespace banyan

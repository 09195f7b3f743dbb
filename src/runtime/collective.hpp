#pragma once

#include <cstdint>

namespace banyan::runtime {

enum class Collective : std::uint8_t { Allreduce, Allgather };

}  // namespace banyan::runtime

#pragma once
// Umbrella header: everything a training program needs.

#include <banyan/communicator.hpp>
#include <banyan/compression.hpp>
#include <banyan/error.hpp>
#include <banyan/options.hpp>
#include <banyan/store.hpp>
#include <banyan/tcp_store.hpp>
#include <banyan/types.hpp>
#include <banyan/work.hpp>

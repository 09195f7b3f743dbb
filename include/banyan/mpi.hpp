#pragma once
// Bootstrapping under mpirun: link banyan-mpi (pkg-config banyan-mpi) and build a communicator
// from an MPI communicator. MPI is used only for the rendezvous (rank 0's store address is
// broadcast); the collectives then run over banyan's own transports.

#include <banyan/communicator.hpp>
#include <banyan/options.hpp>

#include <mpi.h>

namespace banyan::mpi {

// Collective over `comm`: every rank of it must call this. Rank r of `comm` becomes rank r of
// the returned communicator. Rank 0 serves the rendezvous store for as long as its
// communicator lives.
Communicator createCommunicator(MPI_Comm comm, const Options& options = {});

}  // namespace banyan::mpi

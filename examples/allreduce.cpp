// The smallest complete banyan program: every rank contributes its rank number, and every
// rank ends with the sum. Run it with any launcher banyan understands (docs/launchers.md), e.g.
//   mpirun (PMIx):  mpirun -np 4 ./allreduce_example
//   Slurm:          srun -n 4 ./allreduce_example   (or sbatch examples/allreduce.sbatch)
//   torchrun-style: RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 ./allreduce_example &
//                   RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 ./allreduce_example
// Build outside the tree with:  g++ -std=c++20 allreduce.cpp $(pkg-config --cflags --libs banyan)

#include <banyan/banyan.hpp>

#include <cstdio>
#include <vector>

int main() {
  try {
    auto comm = banyan::Communicator::fromEnvironment();
    std::vector<float> values(1024, static_cast<float>(comm.rank()));
    comm.allreduce(values.data(), values.size(), banyan::DataType::f32, banyan::ReduceOp::sum);

    const float expected = static_cast<float>(comm.size() * (comm.size() - 1) / 2);
    std::printf("rank %d of %d: sum %.0f (expected %.0f)\n", comm.rank(), comm.size(), values[0], expected);
    return values[0] == expected ? 0 : 1;
  } catch (const banyan::Error& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  }
}

"""banyan from Python without torch: every rank contributes its rank number, every rank ends
with the sum; then the same asynchronously, and a gather of each rank's row.

    PYTHONPATH=build/python /usr/bin/python3 -m banyan.run -n 4 examples/numpy_allreduce.py

Exit status 0 when every check holds on this rank, 1 otherwise.
"""

import sys

import numpy as np

import banyan


def main():
    with banyan.Communicator.from_environment() as comm:
        x = np.full(1024, comm.rank, dtype=np.float32)
        comm.allreduce(x)  # in place, sum
        expected = comm.size * (comm.size - 1) / 2
        ok = bool(np.all(x == expected))

        # Async: the call returns at once; the buffer is banyan's until wait() returns.
        y = np.arange(8, dtype=np.int64) * (comm.rank + 1)
        total = np.empty_like(y)
        work = comm.allreduce_async(y, banyan.MAX, out=total)
        work.wait()
        ok = ok and np.array_equal(total, np.arange(8) * comm.size)

        rows = np.empty((comm.size, 3), dtype=np.float64)
        comm.allgather(np.full(3, comm.rank, dtype=np.float64), rows)
        ok = ok and np.array_equal(rows[:, 0], np.arange(comm.size))

        # One write per line: the ranks usually share one terminal or pipe.
        sys.stdout.write(f"rank {comm.rank} of {comm.size}: sum {x[0]:.0f} (expected {expected:.0f}), "
                         f"{'all checks passed' if ok else 'WRONG'}\n")
        sys.stdout.flush()
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

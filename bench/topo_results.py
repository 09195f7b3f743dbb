"""The result files of bench/topo.sh, read once for bench/topo_summary.py and bench/topo_model.py.

Each OUT/LAYOUT_COLLECTIVE.tsv is tools/banyan_algo_compare.cpp's table: '#' lines (the header,
"# load A B C -> D E F" per size, "# not a candidate here: ...") and one line per size and
variant, "collective bytes variant median_us min_us max_us busbw_GBps", where bytes is the
bench's size (allreduce, broadcast: the buffer; allgather: what each rank receives;
reduce_scatter: what each rank sends) and variant is "auto", "auto-table" (the choice following a measured tuning table) or an algorithm's name.
"""

import os
from collections import defaultdict, namedtuple

Row = namedtuple("Row", "median_us min_us max_us busbw")


def human(n):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def read(paths):
    """(layout, collective) -> variant -> bytes -> Row; (layout) -> load lines; and
    (layout, collective) -> bytes -> the algorithm auto runs: the selector's "# pick" from the
    shared topology, or on one host "shm" for allreduce and allgather, which the
    shared-memory engine takes before the model is asked (src/tuning/selector.hpp)."""
    table = defaultdict(lambda: defaultdict(dict))
    loads = defaultdict(list)
    picks = defaultdict(dict)
    for path in paths:
        layout, rest = os.path.basename(path).split("_", 1)
        with open(path) as f:
            for line in f:
                if line.startswith("# load "):
                    loads[layout].append(line[len("# load "):].strip())
                    continue
                if line.startswith("# pick "):
                    _, _, size, algorithm = line.split()[:4]
                    collective = rest.rsplit(".", 1)[0]
                    one_host = layout.startswith("1x")
                    engine = one_host and collective in ("allreduce", "allgather")
                    picks[(layout, collective)][int(size)] = "shm" if engine else algorithm
                    continue
                if line.startswith("#") or not line.strip():
                    continue
                collective, size, variant, med, low, high, busbw = line.split()
                table[(layout, collective)][variant][int(size)] = Row(float(med), float(low), float(high),
                                                                      float(busbw))
    return table, loads, picks


def choose_bytes(collective, size, ranks):
    """The bench's size in the bytes the selector's choose() and --predictions count: allgather
    one rank's block, reduce_scatter the received block, the others the buffer."""
    return size // ranks if collective in ("allgather", "reduce_scatter") else size

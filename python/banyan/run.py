"""Starts the ranks of a job on this machine: `python3 -m banyan.run -n 4 script.py [args...]`.

Each rank is a process running `python3 script.py args...` (the same interpreter as this one), or
the program itself with --no-python; each finds the job with Communicator.from_environment()
(BANYAN_RANK, BANYAN_SIZE, BANYAN_STORE_ADDR). This process serves the job's store while they run.
It is libbanyan's own local launcher (banyan_launch_local, the one the multi-process tests use),
not a second implementation. Exit status: 0 if every rank exited with 0, else the first failing
rank's status (128 + signal for a killed rank); 124 if --timeout passed.
"""

import argparse
import ctypes
import sys

from ._library import lib
from .errors import Error, from_status


def parse(argv):
    parser = argparse.ArgumentParser(prog="python3 -m banyan.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--nproc", type=int, required=True, help="number of ranks")
    parser.add_argument("--timeout", type=float, default=7 * 24 * 3600,
                        help="seconds after which ranks still running are killed (default: a week)")
    parser.add_argument("--no-python", action="store_true", help="run the program itself, not python3 program")
    parser.add_argument("program")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    command = ([] if args.no_python else [sys.executable]) + [args.program] + args.args
    encoded = (ctypes.c_char_p * (len(command) + 1))(*[a.encode() for a in command], None)
    codes = (ctypes.c_int * max(args.nproc, 1))()
    # Flushed first: the ranks are forked, and output buffered here would be written by each.
    sys.stdout.flush()
    sys.stderr.flush()
    status = lib.banyan_launch_local(args.nproc, encoded, int(args.timeout * 1000), codes)
    if status != 0:
        error = from_status(status, lib.banyan_last_error().decode(errors="replace"))
        print(f"banyan.run: {error}", file=sys.stderr)
        return 124 if error.code_name == "Timeout" else 1
    failed = [(rank, code) for rank, code in enumerate(codes[:args.nproc]) if code != 0]
    for rank, code in failed:
        print(f"banyan.run: rank {rank} exited with {code}", file=sys.stderr)
    return failed[0][1] if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Error as e:
        print(f"banyan.run: {e}", file=sys.stderr)
        sys.exit(1)

"""torchrun for Python 3.11: `python3 -m banyan_torch.run [torchrun arguments] script.py ...`.

torch 1.13's launcher parses its --redirects/--tee options (default "0") with Std.from_str,
which finds a value by iterating the Std IntFlag. Python 3.11 changed flag iteration to skip
0 and multi-bit values, so "0" (the default) and "3" map to None and every launch fails with
"AttributeError: 'NoneType' object has no attribute 'get'". This module replaces from_str
with one that builds Std from the integer directly, then runs torchrun unchanged.
(`python3 -m torch.distributed.run -r 1 -t 1 ...` also avoids the bug, at the price of
redirecting every rank's output to log files.)
"""

import re
import sys

from torch.distributed.elastic.multiprocessing import api as _api


def _std_from_str(vm):
    if re.match(_api._VALUE_REGEX, vm):
        return _api.Std(int(vm))
    if re.match(_api._MAPPING_REGEX, vm):
        return {int(i): _api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} does not match: <{_api._VALUE_REGEX}> or <{_api._MAPPING_REGEX}>")


def patch():
    """Installs the fixed parser (harmless on Pythons where the original works)."""
    _api.Std.from_str = staticmethod(_std_from_str)


def main(argv=None):
    patch()
    from torch.distributed import run as _run

    _run.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()

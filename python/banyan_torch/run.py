"""torchrun for Python 3.11: `python3 -m banyan_torch.run [torchrun arguments] script.py ...`.

torch 1.13's launcher parses its --redirects/--tee options (default "0") with Std.from_str,
which finds a value by iterating the Std IntFlag. Python 3.11 changed flag iteration to skip
0 and multi-bit values, so "0" (the default) and "3" map to None and every launch fails with
"AttributeError: 'NoneType' object has no attribute 'get'". This module replaces from_str
with one that builds Std from the integer directly, then runs torchrun unchanged.
(`python3 -m torch.distributed.run -r 1 -t 1 ...` also avoids the bug, at the price of
redirecting every rank's output to log files.)

--keep-survivors (banyan's own option, the first argument): torchrun's agent stops every worker
of the node as soon as one fails, which defeats a job that survives a lost rank with
banyan_torch.shrink (examples/torch_elastic.py). With this option the agent lets the others run
while any is still running, and reports the failure once all have ended (so the launch still
ends with a failure, and --max-restarts still restarts the group then). One node's agent only
watches its own workers: across nodes, see docs/torch.md.
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


def keep_survivors():
    """Makes the agent wait for every worker of the node instead of stopping them all when one
    fails (see the module's docstring)."""
    original = _api.SubprocessContext._poll

    def _poll(self):
        for local_rank in list(self._running_local_ranks):
            handler = self.subprocess_handlers[local_rank]
            exitcode = handler.proc.poll()
            if exitcode is None:
                continue
            self._running_local_ranks.discard(local_rank)
            if exitcode != 0:
                self._failures[local_rank] = _api.ProcessFailure(
                    local_rank=local_rank, pid=handler.proc.pid, exitcode=exitcode,
                    error_file=self.error_files[local_rank])
        if self._running_local_ranks:
            return None
        return original(self)  # all ended: torchrun's own result, with the failures recorded

    _api.SubprocessContext._poll = _poll


def main(argv=None):
    argv = list(argv if argv is not None else sys.argv[1:])
    patch()
    if argv[:1] == ["--keep-survivors"]:
        argv.pop(0)
        keep_survivors()
    from torch.distributed import run as _run

    _run.main(argv)


if __name__ == "__main__":
    main()

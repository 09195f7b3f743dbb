"""Work: the handle of an async operation (banyan_work)."""

import ctypes

from ._library import check, lib
from .errors import Timeout

# A Work's result for a receive: wait() then returns the source rank.
SOURCE = object()


class Work:
    """An operation in flight. Its buffers belong to banyan until wait() (or a test() that says
    True) has returned: do not read or change them before. The Work keeps them alive, and if it
    is dropped before the operation has ended, it waits for the end first (an operation always
    ends by its deadline, BANYAN_TIMEOUT), so memory banyan may still write is never freed."""

    def __init__(self, handle, buffers, result=None):
        self._handle = handle
        self._buffers = buffers
        self._result = result

    def wait(self, timeout=None):
        """Waits for the end and returns the operation's result (the output array, or the source
        rank of a receive); raises its banyan.Error if it failed. With `timeout` (seconds), raises
        banyan.Timeout if it has not ended by then (the operation keeps going)."""
        if timeout is None:
            check(lib.banyan_work_wait(self._handle))
        else:
            done = ctypes.c_int(0)
            check(lib.banyan_work_wait_for(self._handle, max(0, int(timeout * 1000)), ctypes.byref(done)))
            if not done.value:
                raise Timeout(f"banyan Timeout: Work.wait: the operation had not ended after {timeout} s "
                              "(it keeps going; wait again)")
        self._buffers = None
        return self.source if self._result is SOURCE else self._result

    def test(self):
        """True once the operation has ended, successfully or not. Never blocks."""
        done = ctypes.c_int(0)
        check(lib.banyan_work_test(self._handle, ctypes.byref(done)))
        return bool(done.value)

    @property
    def source(self):
        """For an ended receive, the rank its message came from; -1 otherwise."""
        source = ctypes.c_int(-1)
        check(lib.banyan_work_source(self._handle, ctypes.byref(source)))
        return source.value

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if not handle:
            return
        # At interpreter exit the module's globals may be gone already; a destructor must not raise.
        try:
            if self._buffers is not None:
                lib.banyan_work_wait(handle)  # its error, if any, was the caller's to see
            lib.banyan_work_free(handle)
        except Exception:  # noqa: BLE001 (nothing to report to from a destructor)
            pass

"""Loads libbanyan and declares the C interface (include/banyan/banyan.h) for ctypes.

Which library: $BANYAN_LIBRARY if set; else the build's libbanyan when this package is the copy
in the build directory (build/python/banyan); else the installed one; else whatever the dynamic
loader finds as libbanyan.so.0. The package and the library it loads must be of one version:
checked at load.
"""

import ctypes
import os

from . import _paths
from .errors import from_status

_c_int_p = ctypes.POINTER(ctypes.c_int)
_size_p = ctypes.POINTER(ctypes.c_size_t)
_handle = ctypes.c_void_p
_handle_p = ctypes.POINTER(ctypes.c_void_p)
_sz, _int, _ptr = ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p

# name -> argument types; every one returns a banyan_status (int) unless listed in _OTHER.
_SIGNATURES = {
    "banyan_comm_from_env": [_handle_p],
    "banyan_comm_destroy": [_handle],
    "banyan_comm_close": [_handle],
    "banyan_comm_abort": [_handle],
    "banyan_comm_rank": [_handle, _c_int_p],
    "banyan_comm_size": [_handle, _c_int_p],
    "banyan_comm_split": [_handle, _int, _int, _handle_p],
    "banyan_comm_subset": [_handle, _c_int_p, _int, _handle_p],
    "banyan_comm_revoke": [_handle],
    "banyan_comm_agree": [_handle, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64), _c_int_p, _int, _c_int_p],
    "banyan_comm_shrink": [_handle, _handle_p],
    "banyan_comm_lost_ranks": [_handle, _c_int_p, _int, _c_int_p],
    "banyan_allreduce": [_handle, _ptr, _ptr, _sz, _int, _int],
    "banyan_allreduce_async": [_handle, _ptr, _ptr, _sz, _int, _int, _handle_p],
    "banyan_broadcast": [_handle, _ptr, _sz, _int, _int],
    "banyan_broadcast_async": [_handle, _ptr, _sz, _int, _int, _handle_p],
    "banyan_reduce": [_handle, _ptr, _ptr, _sz, _int, _int, _int],
    "banyan_reduce_async": [_handle, _ptr, _ptr, _sz, _int, _int, _int, _handle_p],
    "banyan_allgather": [_handle, _ptr, _ptr, _sz, _int],
    "banyan_allgather_async": [_handle, _ptr, _ptr, _sz, _int, _handle_p],
    "banyan_reduce_scatter": [_handle, _ptr, _ptr, _sz, _int, _int],
    "banyan_reduce_scatter_async": [_handle, _ptr, _ptr, _sz, _int, _int, _handle_p],
    "banyan_alltoall": [_handle, _ptr, _ptr, _sz, _int],
    "banyan_alltoall_async": [_handle, _ptr, _ptr, _sz, _int, _handle_p],
    "banyan_gather": [_handle, _ptr, _ptr, _sz, _int, _int],
    "banyan_gather_async": [_handle, _ptr, _ptr, _sz, _int, _int, _handle_p],
    "banyan_scatter": [_handle, _ptr, _ptr, _sz, _int, _int],
    "banyan_scatter_async": [_handle, _ptr, _ptr, _sz, _int, _int, _handle_p],
    "banyan_barrier": [_handle],
    "banyan_barrier_async": [_handle, _handle_p],
    "banyan_send": [_handle, _ptr, _sz, _int, _int, _int],
    "banyan_send_async": [_handle, _ptr, _sz, _int, _int, _int, _handle_p],
    "banyan_recv": [_handle, _ptr, _sz, _int, _int, _int, _c_int_p],
    "banyan_recv_async": [_handle, _ptr, _sz, _int, _int, _int, _handle_p],
    "banyan_work_wait": [_handle],
    "banyan_work_wait_for": [_handle, ctypes.c_long, _c_int_p],
    "banyan_work_test": [_handle, _c_int_p],
    "banyan_work_source": [_handle, _c_int_p],
    "banyan_launch_local": [_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long, _c_int_p],
}
_OTHER = {
    "banyan_version": ([], ctypes.c_char_p),
    "banyan_last_error": ([], ctypes.c_char_p),
    "banyan_work_free": ([_handle], None),
}


def _library_path():
    chosen = os.environ.get("BANYAN_LIBRARY")
    if chosen:
        return chosen
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.realpath(here) == os.path.realpath(_paths.BUILD_PACKAGE_DIR) and os.path.exists(_paths.BUILD_LIBRARY):
        return _paths.BUILD_LIBRARY
    if os.path.exists(_paths.INSTALLED_LIBRARY):
        return _paths.INSTALLED_LIBRARY
    return "libbanyan.so.0"


def _load():
    path = _library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"banyan: cannot load libbanyan from {path}: {e} (set BANYAN_LIBRARY to its path)") from e
    for name, argtypes in _SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = ctypes.c_int
    for name, (argtypes, restype) in _OTHER.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    version = lib.banyan_version().decode()
    if version != _paths.VERSION:
        raise ImportError(f"banyan: {path} is libbanyan {version}, but this package is {_paths.VERSION}: "
                          "set BANYAN_LIBRARY to the libbanyan it was built with")
    return lib, path


lib, path = _load()


def check(status):
    """Raises the banyan.Error of a failed call (the message is this thread's last error)."""
    if status != 0:
        raise from_status(status, lib.banyan_last_error().decode(errors="replace"))

"""banyan for Python without torch: collectives on numpy arrays and other buffers.

    import numpy as np, banyan
    comm = banyan.Communicator.from_environment()   # under python3 -m banyan.run -n 4 script.py
    x = np.full(1024, comm.rank, dtype=np.float32)
    comm.allreduce(x)                                # in place, sum
    work = comm.allgather_async(x, out)              # async: work.wait()

A thin layer (ctypes) over libbanyan's C interface, include/banyan/banyan.h; it imports neither
torch nor numpy (numpy arrays are used through the buffer protocol). Errors are banyan.Error
subclasses carrying the code (banyan.Timeout, banyan.Remote, banyan.InvalidUsage, ...).
"""

from ._buffers import BF16, F16, F32, F64, I8, I16, I32, I64, U8
from ._library import lib as _lib
from .communicator import ANY_SOURCE, AVG, BAND, BOR, BXOR, MAX, MIN, PROD, SUM, Communicator
from .errors import (Aborted, Error, Internal, InvalidUsage, NotSupported, Remote, System, Timeout,
                     Unauthenticated)
from .work import Work

__version__ = _lib.banyan_version().decode()

__all__ = ["Communicator", "Work", "Error", "InvalidUsage", "System", "Remote", "Timeout", "Aborted", "NotSupported",
           "Internal", "Unauthenticated", "SUM", "PROD", "MIN", "MAX", "AVG", "BAND", "BOR", "BXOR", "ANY_SOURCE",
           "F32", "F64", "F16", "BF16", "I8", "U8", "I16", "I32", "I64"]

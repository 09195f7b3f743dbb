"""banyan's errors as Python exceptions: one class per banyan_status code, all under banyan.Error.

Each carries `code` (the banyan_status number, 1..8) and `code_name` ("Timeout", ...), and its
message is libbanyan's own text, which names the rank, peer, operation and C function. Where a
Python exception family fits, the class is also a member of it (InvalidUsage is a ValueError,
Timeout a TimeoutError), so generic handlers catch them too.
"""


class Error(Exception):
    """Base of every banyan error. `code` is the banyan_status value, `code_name` its name."""

    code = 0
    code_name = "Error"

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidUsage(Error, ValueError):
    code, code_name = 1, "InvalidUsage"


class System(Error, OSError):
    code, code_name = 2, "System"


class Remote(Error):
    code, code_name = 3, "Remote"


class Timeout(Error, TimeoutError):
    code, code_name = 4, "Timeout"


class Aborted(Error):
    code, code_name = 5, "Aborted"


class NotSupported(Error):
    code, code_name = 6, "NotSupported"


class Internal(Error):
    code, code_name = 7, "Internal"


class Unauthenticated(Error):
    code, code_name = 8, "Unauthenticated"


_BY_CODE = {cls.code: cls for cls in (InvalidUsage, System, Remote, Timeout, Aborted, NotSupported, Internal,
                                     Unauthenticated)}


def from_status(status, message):
    """The exception for a failed call's status and libbanyan's message."""
    cls = _BY_CODE.get(status)
    if cls is None:
        return Error(f"banyan status {status}: {message}", code=status)
    return cls(message)

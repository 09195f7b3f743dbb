"""Buffers for the collectives: any object with the buffer protocol (numpy arrays, bytearray,
array.array, memoryview, ...), checked before libbanyan sees it, because libbanyan gets a bare
pointer and a count and cannot check either.

The element type comes from the buffer's format (numpy float32 is "f", int64 "l" ...); a format
banyan has no type for (uint32, bool, complex, big-endian) is refused rather than reinterpreted.
Buffers must be C-contiguous; buffers banyan writes must be writable.
"""

import ctypes

from .errors import InvalidUsage

# banyan_dtype values (banyan.h).
F32, F64, F16, BF16, I8, U8, I32, I64, I16 = range(9)
NAMES = {F32: "f32", F64: "f64", F16: "f16", BF16: "bf16", I8: "i8", U8: "u8", I32: "i32", I64: "i64", I16: "i16"}

# Floating formats by letter; integer formats by (signed, size) since 'l', 'q', 'i' differ in size
# between platforms.
_FLOATS = {"f": F32, "d": F64, "e": F16}
_SIGNED = {1: I8, 2: I16, 4: I32, 8: I64}
_INTEGER_LETTERS = {"b": True, "h": True, "i": True, "l": True, "q": True, "n": True, "B": False, "c": False}


def dtype_of_format(fmt, itemsize):
    """The banyan dtype of a buffer format, or None."""
    if fmt[:1] in "@=<":
        fmt = fmt[1:]  # native (little-endian here) byte order
    if fmt in _FLOATS:
        return _FLOATS[fmt]
    if fmt in _INTEGER_LETTERS:
        if not _INTEGER_LETTERS[fmt]:
            return U8 if itemsize == 1 else None
        return _SIGNED.get(itemsize)
    return None


class Buffer:
    """A checked view of one buffer: its address, element count and banyan dtype. Holds the
    exported buffer (and so the object) until released, so an async operation keeps its memory."""

    def __init__(self, obj, what, writable):
        try:
            view = memoryview(obj)
        except TypeError:
            raise InvalidUsage(f"{what}: a {type(obj).__name__} is not a buffer (numpy array, bytearray, ...)") from None
        if not view.c_contiguous:
            raise InvalidUsage(f"{what}: the buffer is not C-contiguous (numpy: np.ascontiguousarray(x))")
        if writable and view.readonly:
            raise InvalidUsage(f"{what}: the buffer is read-only, and banyan writes its result into it")
        found = dtype_of_format(view.format, view.itemsize)
        if found is None:
            raise InvalidUsage(f"{what}: elements of format {view.format!r} ({view.itemsize} bytes) have no banyan "
                               f"dtype; supported: float32/64/16, int8/16/32/64, uint8")
        self.dtype = found
        self.count = view.nbytes // view.itemsize
        self.itemsize = view.itemsize
        self.view = view
        self._anchor = None
        if view.nbytes == 0:
            self.address = None
        elif view.readonly:
            # ctypes exports only writable buffers; a read-only input is sent from a copy.
            self._anchor = (ctypes.c_char * view.nbytes).from_buffer_copy(view)
            self.address = ctypes.addressof(self._anchor)
        else:
            self._anchor = (ctypes.c_char * view.nbytes).from_buffer(view.cast("B"))
            self.address = ctypes.addressof(self._anchor)


def check_same_type(what, first, second):
    if first.dtype != second.dtype:
        raise InvalidUsage(f"{what}: the buffers' element types differ ({NAMES[first.dtype]} and "
                           f"{NAMES[second.dtype]})")


def check_count(what, buffer, name, wanted, why):
    if buffer.count != wanted:
        raise InvalidUsage(f"{what}: {name} holds {buffer.count} elements, but {wanted} are needed ({why})")

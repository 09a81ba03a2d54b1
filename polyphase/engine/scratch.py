"""Reusable scratch memory for the engine's temporaries.

A freshly allocated large array costs a page fault per page the first time it
is written: on the development machine ~7 ms for the 32 MB of phase streams
of a 2**22-sample float64 signal split 147 ways, more than the split itself
(6.4 ms).  Temporaries that never leave the engine (phase streams, stacked
GEMM inputs, Winograd tiles) are therefore carved out of a buffer that is
kept between calls.  Buffers are per thread (the kernels release the GIL, so
two threads may run at once) and per named slot (one call may need several
temporaries at the same time).  Results handed to the caller never come
from here.
"""

from __future__ import annotations

import threading
from math import prod

import numpy as np

# Buffers larger than this are not kept after the call that needed them.
KEEP_BYTES = 1 << 28

_local = threading.local()


def scratch(slot: str, shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array that may reuse memory of ``slot``.

    The array is valid until the next call with the same ``slot`` in this
    thread.

    Examples
    --------
    >>> a = scratch("example", (2, 3), np.float64)
    >>> a.shape, a.dtype, a.flags.c_contiguous
    ((2, 3), dtype('float64'), True)
    """
    dtype = np.dtype(dtype)
    nbytes = prod(shape) * dtype.itemsize
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    buf = pool.get(slot)
    if buf is None or buf.nbytes < nbytes:
        # 64-byte aligned, so every view starts on a cache line
        buf = np.empty(nbytes + 64, dtype=np.uint8)
        offset = (-buf.ctypes.data) % 64
        buf = buf[offset:offset + nbytes]
        if nbytes <= KEEP_BYTES:
            pool[slot] = buf
        else:
            pool.pop(slot, None)
    return buf[:nbytes].view(dtype).reshape(shape)


def release() -> None:
    """Free this thread's scratch buffers."""
    _local.pool = {}

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

import sys
import threading
import weakref
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
    """Free this thread's scratch buffers and its kept result buffers."""
    _local.pool = {}
    _local.results = []


# Results at least this large are recycled (smaller ones are cheap to fault
# in), and buffers up to RESULT_KEEP_BYTES are kept for it (two per thread;
# :func:`release` frees them).  At 128 MB an upsampler by 4 of 2**22 float64
# samples (134 MB out) faulted its pages in at every call: L = 4 with 64
# taps, one thread, on the EPYC, 23.7 against 12.3 ms at 512 MB (scipy
# 125 ms); L = 8 37.2 against 14.2 ms.
RECYCLE_BYTES = 1 << 20
RESULT_KEEP_BYTES = 1 << 29


def result(shape, dtype) -> np.ndarray:
    """A new uninitialised array for a result the caller will own.

    A large result is carved out of the buffer of this thread's previous
    large result when the caller has let go of that one: the array (and every
    view of it) is gone, so only this module still refers to the buffer.  Its
    pages are then already mapped, and writing the result does not pay a
    page fault per page -- 2.7 ms of zeroing for 32 MB here, as much as an
    8-tap interpolator's arithmetic.  While the caller holds a result (or
    any view of it), a fresh buffer is allocated as ``np.empty`` would.

    Examples
    --------
    >>> a = result((1 << 18,), np.float64)
    >>> b = result((1 << 18,), np.float64)      # a is alive: fresh memory
    >>> np.shares_memory(a, b)
    False
    >>> del a, b
    >>> c = result((1 << 18,), np.float64)      # recycles a's buffer
    """
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    nbytes = prod(shape) * dtype.itemsize
    if nbytes < RECYCLE_BYTES:
        return np.empty(shape, dtype=dtype)
    kept = getattr(_local, "results", None)
    if kept is None:
        kept = _local.results = []
    # The smallest kept buffer that is free and large enough.  (The first
    # one alternated between two: after a 64 MB result, the calls for a
    # 4 MB image took the 64 MB buffer, then the 4 MB one, and so on, twice
    # the memory through the caches.)  Views of a view keep a reference
    # to the array that owns the memory (numpy collapses bases), so the
    # owner is what is kept and counted: the kept pair's reference and
    # getrefcount's argument are the only ones once the caller has dropped
    # the result and all its views.
    # Each kept item is (owner, offset of its first 64-byte line).
    best = -1
    for i in range(len(kept)):
        if kept[i][0].nbytes >= nbytes + 64 and sys.getrefcount(kept[i][0]) <= 2 and \
                (best < 0 or kept[i][0].nbytes < kept[best][0].nbytes):
            best = i
    if best >= 0:
        owner, offset = item = kept.pop(best)
        # (a weak reference: a strong one would keep the buffer from the
        # next call, which then took the other kept buffer, and calls
        # alternated between two: twice the memory in cache -- upfirdn L=2
        # with 8 taps on 2**22 float32 samples, 4.5 against 2.4 ms)
        _local.recycled = weakref.ref(owner)
    else:
        # (the offset found once: numpy's ctypes attribute is slow)
        owner = np.empty(nbytes + 64, dtype=np.uint8)
        offset = (-owner.__array_interface__["data"][0]) % 64
        item = (owner, offset)
        _local.recycled = None
    if owner.nbytes <= RESULT_KEEP_BYTES:
        kept.append(item)
        del kept[:-2]                 # the last two results of this thread
    del item
    # One array made straight on the buffer.  Right after a kernel has
    # written a few MB, which pushes Python's code and data out of the
    # core's caches, each numpy call costs 5-10 us: a slice, a view and a
    # reshape took 31 us there, this 19 (one thread, on the Xeon).
    return np.ndarray(shape, dtype, owner, offset)


def mapped(out) -> int:
    """1 if ``out`` (or a view of it) is this thread's last :func:`result`
    and was carved out of a recycled buffer, whose pages are mapped, else 0
    (an int: the kernels take it as an argument, and
    :func:`.groups.run` passes no bools).

    Kernels write a large output with non-temporal stores only then
    (:data:`.simd.STREAM_BYTES`).  A fresh page is zeroed by the system when
    first written, which leaves its lines in cache; a non-temporal store
    must then evict those lines, and cost more than the read it saves: on
    the Xeon, a (65536, 64) float64 signal upsampled by 2 along axis 0 took
    23 ms streamed against 15 ms plain into fresh memory, and 5 against 10 ms
    into a recycled buffer.

    Examples
    --------
    >>> release()                                # (no buffers kept yet)
    >>> a = result((1 << 18,), np.float64)      # fresh memory
    >>> mapped(a)
    0
    >>> del a
    >>> b = result((1 << 18,), np.float64)      # a's buffer again
    >>> mapped(b), mapped(b.reshape(2, -1)), mapped(np.empty(4))
    (1, 1, 0)
    """
    ref = getattr(_local, "recycled", None)
    # (a view's base is the array that owns the memory: numpy collapses bases)
    return int(ref is not None and out.base is ref())

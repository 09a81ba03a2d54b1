"""Exact comparison of two arrays' bits, for the caches of built operators."""

from __future__ import annotations

from .._lazy import submodule
from .jit import njit


@njit(cache=True, nogil=True)
def same_bits(a, b):
    """Whether the 1-D integer arrays ``a`` and ``b`` of one length hold the
    same values (the bits of two float arrays, viewed as integers).

    ``np.array_equal`` writes a boolean array and reduces it: two passes
    through numpy's ufunc machinery, whose code and tables are out of the
    caches again after a few milliseconds of kernel.  Right after a
    64-channel layer it took 80-94 us for a 64x64x4x4 weight against 28-31
    for this one pass, which the cached layer lookup pays on every
    functional call (:meth:`polyphase._cache.BuildCache.get_for`).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(300)
    >>> b = a.copy()
    >>> bool(same_bits(a, b)), bool(same_bits(a, b[::-1].copy()))
    (True, False)
    """
    differ = 0
    for i in range(a.size):
        differ |= a[i] ^ b[i]           # (no branch: the loop vectorises)
    return differ == 0


@njit(cache=True, nogil=True)
def differing_parts(a, b, job0, job1):
    """How many of the parts ``[job0, job1)`` of ``a`` and ``b``
    (:data:`PART` elements each, the last one shorter) differ: the jobs of
    :func:`same`."""
    n = 0
    for j in range(job0, job1):
        # (slices, so that the loop's index is known not to be negative: with
        # it running from j * PART, LLVM did not vectorise it, 17x slower)
        lo, hi = j * PART, min((j + 1) * PART, a.size)
        n += not same_bits(a[lo:hi], b[lo:hi])
    return n


# Elements a job of same() compares; arrays of at least PARALLEL_BITS
# elements are compared in parallel (when numba has several threads).
PART, PARALLEL_BITS = 1 << 16, 1 << 18


def same(a, b) -> bool:
    """:func:`same_bits`, in parallel jobs on large arrays: it reads both
    arrays from memory or L3 once, ~0.5 ms for the 9.4 MB of a 512-channel
    3x3 layer's weights, which a functional call of the layer pays on one
    thread.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(1 << 19)
    >>> b = a.copy()
    >>> b[-1] = 0
    >>> same(a, a.copy()), same(a, b)
    (True, False)
    """
    engine = submodule("polyphase.engine")
    groups = engine._parallel(a.size, 1) if a.size >= PARALLEL_BITS else 0
    if not groups:
        return bool(same_bits(a, b))
    return engine._jobs(differing_parts, (a, b), -(-a.size // PART), groups) == 0

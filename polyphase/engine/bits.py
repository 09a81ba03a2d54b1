"""Exact comparison of two arrays' bits, for the caches of built operators."""

from __future__ import annotations

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

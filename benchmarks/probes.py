"""Machine probes for the benchmark's table: work with a known bound.

:func:`register_loop` is U9's ceiling (see ``benchmarks.__main__``): what two
threads gain over one on work that touches no memory, so that the 2-thread
ratio of a case can be read against the machine rather than against 2.
"""

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
def register_loop(a, parts, reps):
    """``parts`` equal parts (numba's threads share them) of ``reps``
    rounds of a multiply-add on each of ``a``'s first 256 elements, kept in
    registers (16 float32 vectors, independent chains): no loads or stores
    in the loop.  Returns the sums, so that the work is not optimised away.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.full(512, 0.5, np.float32)
    >>> float(register_loop(a, 2, 1)[0]) == 256 * 0.5
    True
    """
    out = np.zeros(parts)
    for p in prange(parts):
        acc = np.zeros(256, np.float32)
        for _ in range(reps):
            for i in range(256):
                acc[i] = acc[i] * a[i] + a[i + 256]
        out[p] = acc.sum()
    return out


@njit(parallel=True, cache=True)
def copy_parts(src, dst, parts):
    """``dst[:] = src`` in ``parts`` equal parts (numba's threads share
    them): U9's memory ceiling, what two threads gain over one on work
    bound by the memory, to read U9's memory-bound rows against.  Returns
    ``dst``'s last element, so that the copy is not optimised away.

    Examples
    --------
    >>> import numpy as np
    >>> src, dst = np.arange(10.0), np.zeros(10)
    >>> float(copy_parts(src, dst, 3)), bool((dst == src).all())
    (9.0, True)
    """
    n = src.size
    for p in prange(parts):
        lo, hi = p * n // parts, (p + 1) * n // parts
        # (a loop over views from 0: indexed from lo, the loop did not
        # vectorise, and a thread copied at 8 GB/s against np.copyto's 24)
        d, s = dst[lo:hi], src[lo:hi]
        for i in range(hi - lo):
            d[i] = s[i]
    return dst[n - 1]

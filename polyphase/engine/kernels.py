"""numba kernels that run a polyphase matrix over blocks.

The input is cut into ``M`` phase streams ``xq[q, b] = x[b*M + q]``; output
phase ``p`` of block ``b`` is ``sum c * xq[q, b - k]`` over the nonzero taps
``(q, k, c)`` of row ``p``.  Only nonzero taps are stored, so an inserted zero
is never multiplied, and only output samples inside the requested window are
computed.  Each output sample is written once (gather form), so ``prange`` over
(lane, block chunk) jobs needs no atomics.
"""

import numpy as np
from numba import njit, prange

# Output blocks per job: the accumulator (CHUNK samples) stays in L1 and a job
# is long enough to amortise the per-job set-up.
CHUNK = 2048


@njit(cache=True, nogil=True)
def deinterleave(x, pre, M, out):
    """``out[lane, q, b] = x[lane, b*M + q - pre]`` (zero outside ``x``)."""
    lanes, n = x.shape
    nblocks = out.shape[2]
    for lane in range(lanes):
        row = x[lane]
        for q in range(M):
            dst = out[lane, q]
            for b in range(nblocks):
                i = b * M + q - pre
                if 0 <= i < n:
                    dst[b] = row[i]
                else:
                    dst[b] = 0


@njit(cache=True, nogil=True, inline="always")
def _chunk(xq, ptr, tq, tk, tc, L, bs, be, w0, out, acc):
    """Output blocks ``[bs, be)`` of one lane, all phases, inside the window.

    ``xq`` is ``(M, B)`` (input block 0 at column 0), ``out`` the lane's output
    window starting at output index ``w0``.
    """
    nout = out.shape[0]
    nblocks_in = xq.shape[1]
    for p in range(L):
        # blocks whose phase-p sample falls inside [w0, w0 + nout)
        lo = max(bs, -((p - w0) // L))
        hi = min(be, (w0 + nout - 1 - p) // L + 1)
        if lo >= hi:
            continue
        n = hi - lo
        a = acc[:n]
        a[:] = 0
        for j in range(ptr[p], ptr[p + 1]):
            k = tk[j]
            c = tc[j]
            b0 = max(lo, k)
            b1 = min(hi, nblocks_in + k)
            if b0 >= b1:
                continue
            src = xq[tq[j], b0 - k:b1 - k]
            dst = a[b0 - lo:b1 - lo]
            for i in range(b1 - b0):
                dst[i] += c * src[i]
        first = lo * L + p - w0
        for i in range(n):
            out[first + i * L] = a[i]


@njit(cache=True, nogil=True)
def run_serial(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out):
    acc = np.empty(CHUNK, dtype=out.dtype)
    for lane in range(xq.shape[0]):
        for bs in range(b_first, b_first + nblocks, CHUNK):
            be = min(bs + CHUNK, b_first + nblocks)
            _chunk(xq[lane], ptr, tq, tk, tc, L, bs, be, w0, out[lane], acc)


@njit(cache=True, nogil=True, parallel=True)
def run_parallel(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out):
    lanes = xq.shape[0]
    nchunks = (nblocks + CHUNK - 1) // CHUNK
    for job in prange(lanes * nchunks):
        lane = job // nchunks
        bs = b_first + (job - lane * nchunks) * CHUNK
        be = min(bs + CHUNK, b_first + nblocks)
        acc = np.empty(CHUNK, dtype=out.dtype)
        _chunk(xq[lane], ptr, tq, tk, tc, L, bs, be, w0, out[lane], acc)

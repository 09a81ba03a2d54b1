"""numba gather kernel for channel-agnostic 2-D polyphase matrices.

The input is cut into ``M1*M2`` phase images ``xq[s, b1, b2]``; output phase
``(p1, p2)`` of block ``(b1, b2)`` is ``sum c * xq[s, b1 - k1, b2 - k2]`` over
the nonzero taps of that phase.  A job is one row of output blocks ``b1``: for
each output phase the taps are accumulated along ``b2`` over unit-stride runs
of phase-image rows (up to four taps per accumulator pass), then the row is
written interleaved.  Jobs write disjoint output rows, so ``prange`` over them
needs no synchronisation.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _one_tap(a, row, k2, c, lo, hi):
    b0 = max(lo, k2)
    b1 = min(hi, row.shape[0] + k2)
    if b0 < b1:
        src = row[b0 - k2:b1 - k2]
        dst = a[b0 - lo:b1 - lo]
        for i in range(b1 - b0):
            dst[i] += c * src[i]


@njit(cache=True, nogil=True, inline="always")
def _inside(k2, lo, hi, nb2):
    return lo >= k2 and hi <= nb2 + k2


@njit(cache=True, nogil=True)
def _block_row(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1, w1, w2, out, acc, live):
    """Output block row ``b1`` of one lane: rows ``b1*L1 + p1`` of the window.

    ``live`` is scratch for the indices of the taps whose source row exists.
    Taps that read whole rows are applied four (or two) at a time, so the
    accumulator is loaded and stored once per four (two) multiply-adds.
    """
    n1out, n2out = out.shape
    nb1, nb2 = xq.shape[1], xq.shape[2]
    for p1 in range(L1):
        r1 = b1 * L1 + p1 - w1
        if r1 < 0 or r1 >= n1out:
            continue
        orow = out[r1]
        for p2 in range(L2):
            lo = -((p2 - w2) // L2)                      # first block in the window
            hi = (w2 + n2out - 1 - p2) // L2 + 1
            if lo >= hi:
                continue
            n = hi - lo
            a = acc[:n]
            a[:] = 0
            nfull = 0
            for j in range(ptr[p1 * L2 + p2], ptr[p1 * L2 + p2 + 1]):
                src_row = b1 - tk1[j]
                if src_row < 0 or src_row >= nb1:
                    continue
                if _inside(tk2[j], lo, hi, nb2):
                    live[nfull] = j
                    nfull += 1
                else:
                    _one_tap(a, xq[ts[j], src_row], tk2[j], tc[j], lo, hi)
            t = 0
            while t + 4 <= nfull:
                j0, j1, j2, j3 = live[t], live[t + 1], live[t + 2], live[t + 3]
                s0 = xq[ts[j0], b1 - tk1[j0], lo - tk2[j0]:hi - tk2[j0]]
                s1 = xq[ts[j1], b1 - tk1[j1], lo - tk2[j1]:hi - tk2[j1]]
                s2 = xq[ts[j2], b1 - tk1[j2], lo - tk2[j2]:hi - tk2[j2]]
                s3 = xq[ts[j3], b1 - tk1[j3], lo - tk2[j3]:hi - tk2[j3]]
                c0, c1, c2, c3 = tc[j0], tc[j1], tc[j2], tc[j3]
                for i in range(n):
                    a[i] += c0 * s0[i] + c1 * s1[i] + c2 * s2[i] + c3 * s3[i]
                t += 4
            if t + 2 <= nfull:
                j0, j1 = live[t], live[t + 1]
                s0 = xq[ts[j0], b1 - tk1[j0], lo - tk2[j0]:hi - tk2[j0]]
                s1 = xq[ts[j1], b1 - tk1[j1], lo - tk2[j1]:hi - tk2[j1]]
                c0, c1 = tc[j0], tc[j1]
                for i in range(n):
                    a[i] += c0 * s0[i] + c1 * s1[i]
                t += 2
            if t < nfull:
                j0 = live[t]
                _one_tap(a, xq[ts[j0], b1 - tk1[j0]], tk2[j0], tc[j0], lo, hi)
            first = lo * L2 + p2 - w2
            for i in range(n):
                orow[first + i * L2] = a[i]


@njit(cache=True, nogil=True)
def _rows(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out, job0, job1):
    acc = np.empty(out.shape[2] // L2 + 2, dtype=out.dtype)
    live = np.empty(ts.shape[0], dtype=np.int64)
    for job in range(job0, job1):
        lane = job // nrows
        b1 = b1_first + job - lane * nrows
        _block_row(xq[lane], ptr, ts, tk1, tk2, tc, L1, L2, b1, w1, w2, out[lane], acc,
                   live)


@njit(cache=True, nogil=True)
def run_serial(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out):
    _rows(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out,
          0, xq.shape[0] * nrows)


@njit(cache=True, nogil=True, parallel=True)
def run_parallel(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out,
                 ngroups):
    njobs = xq.shape[0] * nrows
    for g in prange(ngroups):
        _rows(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out,
              g * njobs // ngroups, (g + 1) * njobs // ngroups)

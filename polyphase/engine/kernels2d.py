"""numba gather kernel for channel-agnostic 2-D polyphase matrices.

The input is cut into ``M1*M2`` phase images ``xq[s, b1, b2]``; output phase
``(p1, p2)`` of block ``(b1, b2)`` is ``sum c * xq[s, b1 - k1, b2 - k2]`` over
the nonzero taps of that phase.  A job is one row of output blocks ``b1``: for
each output phase the taps are accumulated along ``b2`` into a contiguous
scratch row over unit-stride runs of phase-image rows (up to four taps per
pass), then the scratch rows of all column phases are interleaved into the
output row.  At about 1 ns per output sample (512x512, 3x3, stride 2) the
kernel is bound by per-row overhead, not arithmetic: the loops vectorise.  Jobs write disjoint output rows, so ``prange`` over them
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


@njit(cache=True, nogil=True, inline="always")
def _interior(a, xq, ts, tk1, tk2, tc, live, nlive, b1, lo, hi):
    """``a[b - lo] += sum of the live taps`` for blocks ``[lo, hi)``, all inside."""
    n = hi - lo
    if n <= 0:
        return
    t = 0
    while t + 4 <= nlive:
        j0, j1, j2, j3 = live[t], live[t + 1], live[t + 2], live[t + 3]
        s0 = xq[ts[j0], b1 - tk1[j0], lo - tk2[j0]:hi - tk2[j0]]
        s1 = xq[ts[j1], b1 - tk1[j1], lo - tk2[j1]:hi - tk2[j1]]
        s2 = xq[ts[j2], b1 - tk1[j2], lo - tk2[j2]:hi - tk2[j2]]
        s3 = xq[ts[j3], b1 - tk1[j3], lo - tk2[j3]:hi - tk2[j3]]
        c0, c1, c2, c3 = tc[j0], tc[j1], tc[j2], tc[j3]
        for i in range(n):
            a[i] += c0 * s0[i] + c1 * s1[i] + c2 * s2[i] + c3 * s3[i]
        t += 4
    if t + 2 <= nlive:
        j0, j1 = live[t], live[t + 1]
        s0 = xq[ts[j0], b1 - tk1[j0], lo - tk2[j0]:hi - tk2[j0]]
        s1 = xq[ts[j1], b1 - tk1[j1], lo - tk2[j1]:hi - tk2[j1]]
        c0, c1 = tc[j0], tc[j1]
        for i in range(n):
            a[i] += c0 * s0[i] + c1 * s1[i]
        t += 2
    if t < nlive:
        j0 = live[t]
        s0 = xq[ts[j0], b1 - tk1[j0], lo - tk2[j0]:hi - tk2[j0]]
        c0 = tc[j0]
        for i in range(n):
            a[i] += c0 * s0[i]


@njit(cache=True, nogil=True)
def _block_row(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1, w1, w2, out, acc, live):
    """Output block row ``b1`` of one lane: rows ``b1*L1 + p1`` of the window.

    ``live`` is scratch for the indices of the taps whose source row exists.
    In the interior of a row taps are applied four (or two) at a time, so the
    accumulator is loaded and stored once per four (two) multiply-adds.
    """
    n1out, n2out = out.shape
    nb1, nb2 = xq.shape[1], xq.shape[2]
    blo = w2 // L2
    bhi = (w2 + n2out - 1) // L2 + 1
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
            a = acc[p2][lo - blo:hi - blo]      # row first: keeps the C layout
            a[:] = 0
            nlive = 0
            kmin, kmax = nb2 + hi, -nb2 - hi
            for j in range(ptr[p1 * L2 + p2], ptr[p1 * L2 + p2 + 1]):
                if 0 <= b1 - tk1[j] < nb1:
                    live[nlive] = j
                    nlive += 1
                    kmin = min(kmin, tk2[j])
                    kmax = max(kmax, tk2[j])
            if nlive == 0:
                continue
            # interior blocks, where every live tap reads inside its row: taps
            # four at a time; the edges (at most a few blocks) one tap at a time
            ilo = min(max(lo, kmax), hi)
            ihi = max(min(hi, nb2 + kmin), ilo)
            _interior(a[ilo - lo:ihi - lo], xq, ts, tk1, tk2, tc, live, nlive, b1, ilo, ihi)
            if ilo > lo or ihi < hi:
                for t in range(nlive):
                    j = live[t]
                    row = xq[ts[j], b1 - tk1[j]]
                    if ilo > lo:
                        _one_tap(a, row, tk2[j], tc[j], lo, ilo)
                    if ihi < hi:
                        _one_tap(a[ihi - lo:], row, tk2[j], tc[j], ihi, hi)
        # Interleave the phase rows: blocks wholly inside the window first,
        # then the (at most two) that straddle its ends.
        ilo = -(-w2 // L2)
        ihi = max((w2 + n2out) // L2, ilo)
        if L2 == 2:
            r0, r1_ = acc[0], acc[1]
            for b in range(ilo, ihi):
                orow[2 * b - w2] = r0[b - blo]
                orow[2 * b + 1 - w2] = r1_[b - blo]
        else:
            for p2 in range(L2):
                row = acc[p2]
                for b in range(ilo, ihi):
                    orow[b * L2 + p2 - w2] = row[b - blo]
        for b in (blo, bhi - 1):
            if ilo <= b < ihi:
                continue
            for p2 in range(L2):
                k = b * L2 + p2 - w2
                if 0 <= k < n2out:
                    orow[k] = acc[p2, b - blo]


@njit(cache=True, nogil=True)
def _rows(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out, job0, job1):
    acc = np.empty((L2, out.shape[2] // L2 + 2), dtype=out.dtype)
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


@njit(cache=True, nogil=True, parallel=True)
def interleave_blocks(y, s1, s2, out):
    """``out[lane, c, n1, n2] = y[p1, p2, c, lane, b1, b2]`` at ``n = b*L + p - s``.

    The depth-to-space step of the GEMM path for 2-D: ``y`` holds the output
    phases as separate planes; ``out`` is the cropped, interleaved window
    starting at output index ``(s1, s2)`` relative to block ``(0, 0)``.  One
    pass, contiguous reads along ``b2`` (a numpy transpose of this 6-D layout
    measured several times slower).
    """
    L1, L2, C, lanes, nb1, nb2 = y.shape
    n1, n2 = out.shape[2], out.shape[3]
    for job in prange(lanes * C):
        lane = job // C
        c = job - lane * C
        for r in range(n1):
            b1, p1 = divmod(r + s1, L1)
            orow = out[lane, c, r]
            for p2 in range(L2):
                src = y[p1, p2, c, lane, b1]
                first = -((p2 - s2) // L2)            # first b2 with index >= 0
                last = min(nb2, (n2 - 1 + s2 - p2) // L2 + 1)
                for b2 in range(first, last):
                    orow[b2 * L2 + p2 - s2] = src[b2]

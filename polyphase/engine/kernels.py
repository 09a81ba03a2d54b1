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



# Blocks per de-interleave tile: a tile of the input (TILE * M samples) stays in
# cache while it is scattered into the M phase streams.
TILE = 256


# From this many phases on, the interior is split as a blocked transpose.
WIDE = 16


@njit(cache=True, nogil=True, inline="always")
def _transpose_blocks(row, pre, M, out, i0, i1):
    """``out[q, b] = row[b*M + q - pre]`` for interior blocks ``[i0, i1)``.

    For many phases a pass per phase reads one sample per cache line (a
    gather from L2 for M = 147: 13.6 ms for 2**22 doubles).  Here each block's
    ``M`` samples are read contiguously and scattered to the phases, block
    after block, so the ``M`` output lines being filled stay in L1 (a
    line takes 8 doubles: 8 consecutive blocks).
    """
    for b in range(i0, i1):
        seg = row[b * M - pre:b * M - pre + M]
        col = out[:, b]
        for q in range(M):
            col[q] = seg[q]


@njit(cache=True, nogil=True)
def deinterleave(x, pre, M, out):
    """``out[lane, q, b] = x[lane, b*M + q - pre]`` (zero outside ``x``).

    Tiled: reading each phase with stride ``M`` over the whole signal would
    stream it from memory ``M`` times (21 ms of a 45 ms call for M = 147).
    Blocks that lie wholly inside ``x`` are copied without bounds checks.
    """
    lanes, n = x.shape
    nblocks = out.shape[2]
    if M == 2:
        _deinterleave2(x, pre, out)
        return
    # interior blocks: 0 <= b*M - pre and b*M + M - 1 - pre < n
    first = -(-pre // M)
    last = (n + pre) // M
    for lane in range(lanes):
        row = x[lane]
        for t0 in range(0, nblocks, TILE):
            t1 = min(t0 + TILE, nblocks)
            i0, i1 = max(t0, first), min(t1, last)
            if i0 < i1:
                if M >= WIDE:
                    _transpose_blocks(row, pre, M, out[lane], i0, i1)
                else:
                    for q in range(M):
                        src = row[i0 * M + q - pre:]
                        inner = out[lane, q, i0:i1]     # zero-based view
                        for b in range(i1 - i0):
                            inner[b] = src[b * M]
            for q in range(M):
                dst = out[lane, q]
                for b in range(t0, t1):
                    if i0 <= b < i1:
                        continue
                    i = b * M + q - pre
                    dst[b] = row[i] if 0 <= i < n else 0


@njit(cache=True, nogil=True, inline="always")
def split2(row, pre, d0, d1):
    """``d0[b], d1[b] = row[2b - pre], row[2b + 1 - pre]`` (zero outside ``row``).

    Both phases in one pass: an interleaved load LLVM vectorises; a stride-2
    pass per phase does not (measured 3.9 against 1.2 ms for a 2048x2048
    image).  Also the 2-D engine's split of image rows.
    """
    n, nblocks = row.shape[0], d0.shape[0]
    # blocks b >= b0 (the first with 2*b0 - pre >= 0) whose two samples
    # 2b - pre and 2b + 1 - pre are both inside the row
    b0 = max(0, -(-pre // 2))
    offset = 2 * b0 - pre                        # >= 0 (pre may be negative)
    npairs = max(0, min((n - offset) // 2, nblocks - b0))
    src = row[offset:]
    v0, v1 = d0[b0:b0 + npairs], d1[b0:b0 + npairs]
    for t in range(npairs):
        v0[t] = src[2 * t]
        v1[t] = src[2 * t + 1]
    for b in range(min(b0, nblocks)):             # the edge blocks
        _split2_edge(row, pre, d0, d1, b)
    for b in range(b0 + npairs, nblocks):
        _split2_edge(row, pre, d0, d1, b)


@njit(cache=True, nogil=True, inline="always")
def _split2_edge(row, pre, d0, d1, b):
    i = 2 * b - pre
    d0[b] = row[i] if 0 <= i < row.shape[0] else 0
    d1[b] = row[i + 1] if 0 <= i + 1 < row.shape[0] else 0


@njit(cache=True, nogil=True)
def _deinterleave2(x, pre, out):
    """:func:`deinterleave` for ``M = 2``, row by row (:func:`split2`)."""
    for lane in range(x.shape[0]):
        split2(x[lane], pre, out[lane, 0], out[lane, 1])


@njit(cache=True, nogil=True, inline="always")
def _one_tap(a, xq, q, k, c, lo, hi):
    """``a[b - lo] += c * xq[q, b - k]`` for the blocks of ``[lo, hi)`` in range."""
    b0 = max(lo, k)
    b1 = min(hi, xq.shape[1] + k)
    if b0 < b1:
        src = xq[q, b0 - k:b1 - k]
        dst = a[b0 - lo:b1 - lo]
        for i in range(b1 - b0):
            dst[i] += c * src[i]


@njit(cache=True, nogil=True, inline="always")
def _phase(a, xq, ptr, tq, tk, tc, p, lo, hi):
    """``a[b - lo] = sum c * xq[q, b - k]`` over the taps of phase ``p``, ``b`` in ``[lo, hi)``.

    Taps are applied eight (then four) at a time where all of them read
    inside the input, so the accumulator is loaded and stored once per eight
    multiply-adds (measured 30 -> 32 GMAC/s f32 over four at a time, and far
    above one at a time, which is bound by the accumulator's loads and stores).
    """
    n = hi - lo
    nb = xq.shape[1]
    a[:] = 0
    j, end = ptr[p], ptr[p + 1]
    while j + 8 <= end:
        kmax = tk[j]
        kmin = tk[j]
        for jj in range(j + 1, j + 8):
            kmax = max(kmax, tk[jj])
            kmin = min(kmin, tk[jj])
        if lo < kmax or hi > nb + kmin:
            break
        s0 = xq[tq[j], lo - tk[j]:hi - tk[j]]
        s1 = xq[tq[j + 1], lo - tk[j + 1]:hi - tk[j + 1]]
        s2 = xq[tq[j + 2], lo - tk[j + 2]:hi - tk[j + 2]]
        s3 = xq[tq[j + 3], lo - tk[j + 3]:hi - tk[j + 3]]
        s4 = xq[tq[j + 4], lo - tk[j + 4]:hi - tk[j + 4]]
        s5 = xq[tq[j + 5], lo - tk[j + 5]:hi - tk[j + 5]]
        s6 = xq[tq[j + 6], lo - tk[j + 6]:hi - tk[j + 6]]
        s7 = xq[tq[j + 7], lo - tk[j + 7]:hi - tk[j + 7]]
        c0, c1, c2, c3 = tc[j], tc[j + 1], tc[j + 2], tc[j + 3]
        c4, c5, c6, c7 = tc[j + 4], tc[j + 5], tc[j + 6], tc[j + 7]
        for i in range(n):
            a[i] += ((c0 * s0[i] + c1 * s1[i]) + (c2 * s2[i] + c3 * s3[i])) + \
                    ((c4 * s4[i] + c5 * s5[i]) + (c6 * s6[i] + c7 * s7[i]))
        j += 8
    while j + 4 <= end:
        k0, k1, k2, k3 = tk[j], tk[j + 1], tk[j + 2], tk[j + 3]
        if (lo >= max(max(k0, k1), max(k2, k3))
                and hi <= nb + min(min(k0, k1), min(k2, k3))):
            s0 = xq[tq[j], lo - k0:hi - k0]
            s1 = xq[tq[j + 1], lo - k1:hi - k1]
            s2 = xq[tq[j + 2], lo - k2:hi - k2]
            s3 = xq[tq[j + 3], lo - k3:hi - k3]
            c0, c1, c2, c3 = tc[j], tc[j + 1], tc[j + 2], tc[j + 3]
            for i in range(n):
                a[i] += (c0 * s0[i] + c1 * s1[i]) + (c2 * s2[i] + c3 * s3[i])
        else:
            for jj in range(j, j + 4):
                _one_tap(a, xq, tq[jj], tk[jj], tc[jj], lo, hi)
        j += 4
    for jj in range(j, end):
        _one_tap(a, xq, tq[jj], tk[jj], tc[jj], lo, hi)


@njit(cache=True, nogil=True, inline="always")
def _chunk(xq, ptr, tq, tk, tc, L, bs, be, w0, out, acc):
    """Output blocks ``[bs, be)`` of one lane, all phases, inside the window.

    ``xq`` is ``(M, B)`` (input block 0 at column 0), ``out`` the lane's output
    window starting at output index ``w0``.  Each phase is accumulated into
    ``acc`` and then stored with stride ``L``.  (Accumulating all phases first
    and interleaving them in one pass measured slower, 15.6 against 17.5
    GMAC/s for f32 L=2 K=64.)
    """
    nout = out.shape[0]
    for p in range(L):
        lo = max(bs, -((p - w0) // L))
        hi = min(be, (w0 + nout - 1 - p) // L + 1)
        if lo >= hi:
            continue
        n = hi - lo
        a = acc[:n]
        _phase(a, xq, ptr, tq, tk, tc, p, lo, hi)
        # a zero-based view: an index LLVM cannot prove non-negative gets a
        # wraparound check that stops vectorisation
        dst = out[lo * L + p - w0:]
        for i in range(n):
            dst[i * L] = a[i]


@njit(cache=True, nogil=True)
def _jobs(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out, chunk, job0, job1):
    """Jobs ``[job0, job1)``: job ``j`` is the ``chunk`` output blocks number
    ``j % nchunks`` of lane ``j // nchunks``."""
    nchunks = (nblocks + chunk - 1) // chunk
    acc = np.empty(chunk, dtype=out.dtype)
    for job in range(job0, job1):
        lane = job // nchunks
        bs = b_first + (job - lane * nchunks) * chunk
        be = min(bs + chunk, b_first + nblocks)
        _chunk(xq[lane], ptr, tq, tk, tc, L, bs, be, w0, out[lane], acc)


@njit(cache=True, nogil=True)
def run_serial(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out, chunk):
    njobs = xq.shape[0] * ((nblocks + chunk - 1) // chunk)
    _jobs(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out, chunk, 0, njobs)


@njit(cache=True, nogil=True, parallel=True)
def run_parallel(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out, chunk, ngroups):
    """Jobs split into ``ngroups`` contiguous groups, one ``prange`` index each.

    Every output sample belongs to exactly one job, so groups write disjoint
    samples and need no synchronisation.
    """
    njobs = xq.shape[0] * ((nblocks + chunk - 1) // chunk)
    for g in prange(ngroups):
        _jobs(xq, ptr, tq, tk, tc, L, b_first, nblocks, w0, out, chunk,
              g * njobs // ngroups, (g + 1) * njobs // ngroups)

"""numba kernels that run a polyphase matrix over blocks.

The input is cut into ``M`` phase streams ``xq[q, b] = x[b*M + q]`` (job by
job, for the input blocks each job reads, while ``M < WIDE``); output
phase ``p`` of block ``b`` is ``sum c * xq[q, b - k]`` over the nonzero taps
``(q, k, c)`` of row ``p``.  Only nonzero taps are stored, so an inserted zero
is never multiplied, and only output samples inside the requested window are
computed.  Neighbouring phases that read the same samples run as a pair
(:mod:`polyphase.engine.phase_pairs`).  Each output sample is written once
(gather form), so jobs of (lane, block chunk) run in parallel
(:func:`.groups.run`) with no atomics.

Compile time (issue goal: 3 s a kernel): the helpers, down to the smallest,
are numba functions of their own rather than ``inline="always"``, which
copies and re-types the callee at every call site (35 s for the first
version of the pair kernel; the small helpers' 21 call sites in the 3/2
kind, 0.3-0.4 s), and no helper takes a literal argument, which would
compile a copy per value.  A helper only kernels call is compiled once, to
code its callers link (:func:`.jit.njit`, ``internal=True``), and LLVM
inlines the small ones there: the kernels' machine code calls none of them.
"""

import numpy as np

from .jit import njit

from . import simd
from .inline_builtins import empty1, empty2, flag, flat, imax, imin, matrix, zero_fill


# Blocks per de-interleave tile: a tile of the input (TILE * M samples) stays in
# cache while it is scattered into the M phase streams.
TILE = 256


# Let LLVM fuse ``a * b + c`` into one FMA (one rounding instead of two, no
# reordering): half the arithmetic instructions in the tap loops.
CONTRACT = {"contract"}


# From this many phases on, the interior is split as a blocked transpose.
WIDE = 16


@njit(cache=True, nogil=True, inline="always")
def _transpose_blocks(row, pre, M, out, i0, i1):
    """``out[q, b] = row[b*M + q - pre]`` for interior blocks ``[i0, i1)``.

    For many phases a pass per phase over the whole tile reads one sample
    per cache line (a gather from L2 for M = 147: 13.6 ms for 2**22
    doubles).  Here eight blocks' ``8 * M`` samples (in L1) are spread to
    the phases at a time, a run of eight samples -- one cache line of
    doubles -- into each phase.  (Block by block, each block's ``M``
    samples to the ``M`` phases, every write went to another line; when the
    phases' rows lie a multiple of 4 KB apart, as for M = 16 or 32 on
    2**16 samples, those lines fall in one L1 set, more of them than its
    ways, and every write missed: M = 16 on 2**16 doubles took 0.23 ms, 3x
    scipy's whole decimation.)
    """
    for b0 in range(i0, i1, 8):
        n = imin(8, i1 - b0)
        seg = row[b0 * M - pre:]
        for q in range(M):
            dst = out[q, b0:b0 + n]
            for j in range(n):
                dst[j] = seg[j * M + q]


@njit(cache=True, nogil=True)
def deinterleave(x, pre, M, out):
    """``out[lane, q, b] = x[lane, b*M + q - pre]`` (zero outside ``x``).

    Tiled: reading each phase with stride ``M`` over the whole signal would
    stream it from memory ``M`` times (21 ms of a 45 ms call for M = 147).
    Blocks that lie wholly inside ``x`` are copied without bounds checks.
    """
    lanes, n = x.shape
    nblocks = out.shape[2]
    if M <= simd.SPLIT_MAX:        # whole rows, all phases in one pass
        for lane in range(lanes):
            split_phases(x[lane], M, -pre, out[lane])
        return
    # interior blocks: 0 <= b*M - pre and b*M + M - 1 - pre < n
    first = -(-pre // M)
    last = (n + pre) // M
    for lane in range(lanes):
        row = x[lane]
        for t0 in range(0, nblocks, TILE):
            t1 = imin(t0 + TILE, nblocks)
            i0, i1 = imax(t0, first), imin(t1, last)
            if i0 < i1:
                if M >= WIDE:
                    _transpose_blocks(row, pre, M, out[lane], i0, i1)
                else:
                    for q in range(M):
                        src = row[i0 * M + q - pre:]
                        inner = out[lane, q, i0:i1]     # zero-based view
                        for b in range(i1 - i0):
                            inner[b] = src[b * M]
            # the blocks of the tile outside [i0, i1): before and after it
            # (at the signal's ends only; a test per block cost a branch
            # per sample)
            for q in range(M):
                dst = out[lane, q]
                for b in range(t0, imax(t0, imin(i0, t1))):
                    _edge(row, b * M + q - pre, dst, b)
                for b in range(imax(t0, imin(imax(i1, i0), t1)), t1):
                    _edge(row, b * M + q - pre, dst, b)


@njit(cache=True, internal=True, nogil=True)
def _edge(row, col, d, j):
    d[j] = row[col] if 0 <= col < row.shape[0] else 0


@njit(cache=True, internal=True, nogil=True)
def split_phases(row, M, so, P):
    """``P[m, j] = row[M*j + so + m]`` for all ``M`` phases (zero outside ``row``).

    All phases in one pass, a vector of each at a time, for ``M`` up to
    ``simd.SPLIT_MAX`` (:func:`.simd.split_run`; a pass per phase with a
    variable stride compiles to gathers: M = 2 on a 2048x2048 image took 3.9
    against 1.2 ms, M = 4 on 2**20 doubles 1.3 against 0.4 ms; M = 5-8 on
    2**22 doubles, the whole signal, 4.7-4.8 against 2.4-2.9 ms, float32
    1.6-2.1 against 1.1-1.4).  Rows of ``P`` that
    start a cache line take whole lines: split jobs of 2048 float64 blocks
    into 3 phases ran at 0.40 ms per 2**20 samples into such rows, 0.58-0.68
    into rows at other offsets (each vector stored into two lines), where
    LLVM's loops of literal stride took 0.52 and 0.3-0.4 s more to compile
    (see docs/design-notes.rst).  Also the 2-D kernels' split of image rows.
    """
    n, ncp = row.shape[0], P.shape[1]
    j0 = imin(imax(0, -(so // M)), ncp)           # first j with M*j + so >= 0
    j1 = imax(j0, imin(ncp, (n - so) // M))       # ... and M*j + so + M - 1 < n
    src = row[M * j0 + so:]      # zero-based views: a signed index stops LLVM
    cnt = j1 - j0
    if not simd.split_run(src, M, P, j0, cnt):
        # (M > SPLIT_MAX, or fewer samples than a vector) 64 blocks at a time,
        # phase by phase: the tile's M*64 samples stay in L1 while its
        # phases are gathered
        for t0 in range(0, cnt, 64):
            t1 = imin(t0 + 64, cnt)
            for m in range(M):
                s = src[M * t0 + m:]
                d = P[m, j0 + t0:j0 + t1]
                for t in range(t1 - t0):
                    d[t] = s[M * t]
    for m in range(M):
        # outside the row: zeros; then the two blocks that straddle its
        # ends, sample by sample.  (Loops, not slice assignments and a
        # helper: a split of 256 float32 samples into 3 phases took 305
        # against 163 ns, of 4096 into 2 1430 against 360 ns.)
        d = P[m]
        for j in range(j0 - 1):
            d[j] = 0
        for j in range(j1 + 1, ncp):
            d[j] = 0
        for j in (j0 - 1, j1):
            if 0 <= j < ncp:
                col = M * j + so + m
                d[j] = row[col] if 0 <= col < n else 0


@njit(cache=True, internal=True, nogil=True)
def pad_plane(src, s0, n1, n2, dst, d0, m1, m2, top, left):
    """``dst[d0:d0 + m1*m2]`` = the ``n1 x n2`` plane at ``src[s0:]`` with
    ``top`` rows and ``left`` columns of zeros before it (negative: the
    plane's first rows or columns left out) and zeros after it, as an
    ``m1 x m2`` plane.  One memset, then the rows at unsigned offsets (a
    signed index checks for wraparound at each access, and the loop stays
    scalar: N8 C512 7x7 into 9x9, one thread, 0.17 ms, against 0.3-0.45
    by numpy's sliced copies and 0.36 by a signed loop)."""
    zero_fill(dst[d0:d0 + m1 * m2])
    j0, j1 = imax(0, -left), imin(n2, m2 - left)
    if j1 <= j0:
        return
    for i in range(imax(0, -top), imin(n1, m1 - top)):
        a = np.uint64(d0 + (i + top) * m2 + left + j0)
        b = np.uint64(s0 + i * n2 + j0)
        for k in range(np.uint64(j1 - j0)):
            dst[a + k] = src[b + k]


# split_columns prefetches the rows this many bytes of a row's samples
# further on (rows of more are left to the hardware's prefetcher, which
# follows them).  The rows it reads are short and every M1-th one, which
# the hardware did not prefetch: N8 C16 -> 16 128x128 k4 s2 on the bands
# (kernels_direct.run_bands), one thread, 4.9-5.2 -> 3.5-3.9 ms, of which
# the loads of x had been ~40 % of the samples of perf (one value tried).
PREFETCH_BYTES = 2048


@njit(cache=True, internal=True, nogil=True)
def split_columns(xf, base, n1, n2, row0, rstep, count, S, col0, cols, cpf, d0, dstep,
                   pstep, zeros):
    """``cp[i, k, j] = img[row0 + i*rstep, col0 + S*j + k]`` (zero outside
    the image) for the rows ``i < count`` and columns ``j < cols``; ``img``
    is the ``n1 x n2`` image at ``xf[base:]`` and ``cp[i, k, j]`` is
    ``cpf[d0 + i*dstep + k*pstep + j]``.  ``S`` = 2, 3, 4 or 6 split a
    vector of each phase per :mod:`.simd` call, ``S`` = 1 is a copy; the
    columns at the image's edges, and other ``S``, go a sample at a time.  (Also the GEMM path's
    phase streams, :func:`.kernels2d.phase_streams`: every ``M1``-th row,
    phases a stream apart.)

    The zeros (rows and columns outside the image) are written only when
    ``zeros`` is set: the callers split every channel of a chunk into the
    same place, where the zeros of the first channel stay.  Writing them
    for every channel, a sample at a time, was most of the split (the
    64-channel strided conv2d: 0.17 of 0.29 ms per chunk)."""
    G = simd.lanes(xf.dtype)
    jlo = imin(imax(0, -(col0 // S)), cols)                  # col0 + S*j >= 0
    jhi = imax(jlo, imin(cols, (n2 - col0) // S))           # ... + S - 1 < n2
    # the columns j with some sample inside the image: col0 + S*j + S - 1 >= 0
    # and col0 + S*j < n2
    jin0 = imin(imax(0, -((col0 + S - 1) // S)), cols)
    jin1 = imax(jin0, imin(cols, -((col0 - n2) // S)))
    line = 64 // xf.itemsize
    ahead = PREFETCH_BYTES // imax(1, S * cols * xf.itemsize)
    c0, c1 = imax(col0, 0), imin(col0 + S * cols, n2)
    for i in range(-ahead, count):
        if ahead and i + ahead < count:
            # (the rows between too: the next call's, of the next row phase)
            r = row0 + (i + ahead) * rstep
            for pr in range(imax(0, r), imin(n1, r + rstep)):
                for a in range(base + pr * n2 + c0, base + pr * n2 + c1, line):
                    simd.prefetch(xf, a)
        if i < 0:
            continue
        xr = row0 + i * rstep
        d = d0 + i * dstep
        if xr < 0 or xr >= n1:
            if zeros:
                for k in range(S):
                    for j in range(cols):
                        cpf[d + k * pstep + j] = 0
            continue
        s = base + xr * n2 + col0                     # + S*j >= 0 from jlo on
        j = 0 if S in (2, 3, 4, 6) else jlo
        if S == 1:
            # a copy (zero-based views, which LLVM vectorises: a sample at a
            # time below, the transposed layers' streams took 1.5-1.9x longer)
            src, dst = xf[s + jlo:], cpf[d + jlo:]
            for t in range(jhi - jlo):
                dst[t] = src[t]
            j = jhi
        if S in (2, 3, 4, 6):
            # vectors of columns: inside the image plain ones, the others
            # (the image's edges, zeros outside it, the row's end) windows of
            # masked loads and stores.  (The edges a sample at a time were
            # ~20 ns a row, as much as the products of a C16 -> 16 layer's
            # 16x16 outputs, k3 s2.)
            while j < cols:
                at, lo, hi = s + S * j, -(col0 + S * j), n2 - col0 - S * j
                if jlo <= j and j + G <= jhi:
                    if S == 2:
                        simd.deinterleave2(xf, at, cpf, d + j, pstep)
                    elif S == 3:
                        simd.deinterleave3(xf, at, cpf, d + j, pstep)
                    elif S == 4:
                        simd.deinterleave4(xf, at, cpf, d + j, pstep)
                    else:
                        simd.deinterleave6(xf, at, cpf, d + j, pstep)
                else:
                    count = imin(G, cols - j)
                    if S == 2:
                        simd.deinterleave2_window(xf, at, cpf, d + j, pstep, lo, hi, count)
                    elif S == 3:
                        simd.deinterleave3_window(xf, at, cpf, d + j, pstep, lo, hi, count)
                    elif S == 4:
                        simd.deinterleave4_window(xf, at, cpf, d + j, pstep, lo, hi, count)
                    else:
                        simd.deinterleave6_window(xf, at, cpf, d + j, pstep, lo, hi, count)
                j += G
            continue
        a0, a1 = (0, jlo) if zeros else (jin0, jlo)
        b0, b1 = (j, cols) if zeros else (j, imax(j, jin1))
        for k in range(S):
            for jj in range(a0, a1):
                col = col0 + S * jj + k
                cpf[d + k * pstep + jj] = xf[s - col0 + col] if 0 <= col < n2 else 0
            for jj in range(b0, b1):
                col = col0 + S * jj + k
                cpf[d + k * pstep + jj] = xf[s - col0 + col] if 0 <= col < n2 else 0


# (_inside, _stream, _four, _phase_range, _edge and unpack were inlined
# into their callers' numba IR while every function cost machine code and
# wrappers of its own: 0.4 s less then.  As link-only helpers, functions
# again, the first calls of the 2/3 and 3/2 kinds took 2.84 -> 2.57 and
# 3.03 -> 2.66 s on the Xeon, run time unchanged; see the module docstring)
@njit(cache=True, internal=True, nogil=True)
def _inside(taps, j, jend, lo, hi, nb):
    """Whether taps ``j:jend`` read inside the input for all blocks ``[lo, hi)``.

    (``jend`` rather than a count: a literal count argument would compile
    one copy per count.)
    """
    kmax = taps[j, 1]
    kmin = taps[j, 1]
    for jj in range(j + 1, jend):
        kmax = imax(kmax, taps[jj, 1])
        kmin = imin(kmin, taps[jj, 1])
    return lo >= kmax and hi <= nb + kmin


@njit(cache=True, internal=True, nogil=True)
def _stream(xq, taps, j, lo, hi):
    """Input samples tap ``j`` reads for blocks ``[lo, hi)`` (a zero-based view)."""
    return xq[taps[j, 0], lo - taps[j, 1]:hi - taps[j, 1]]


@njit(cache=True, internal=True, nogil=True, fastmath=CONTRACT)
def _edge_tap(a, xq, q, k, c, lo, hi):
    """``a[b - lo] += c * xq[q, b - k]`` for the blocks of ``[lo, hi)`` in range."""
    b0 = imax(lo, k)
    b1 = imin(hi, xq.shape[1] + k)
    if b0 < b1:
        src = xq[q, b0 - k:b1 - k]
        dst = a[b0 - lo:b1 - lo]
        for i in range(b1 - b0):
            dst[i] += c * src[i]


@njit(cache=True, internal=True, nogil=True, fastmath={"reassoc"})
def not_finite(a):
    """Sum of ``a - a`` over a 1-D array: zero unless an element is ``inf`` or
    ``NaN``.  (``reassoc`` only lets LLVM vectorise the sum; it assumes
    nothing about NaN.)  One call over a flat view: a call per row of a
    512x512 image cost more than the sums.  For the kernels only (no Python
    wrapper: see :func:`.jit.njit`'s ``internal``)."""
    t = a.dtype.type(0)
    for j in range(a.shape[0]):
        t += a[j] - a[j]
    return t


@njit(cache=True, internal=True, nogil=True)
def _four(coef, j, end):
    """Taps ``j+1, j+2, j+3`` clamped to ``end - 1``, and their coefficients
    (0 past ``end``): fewer than four taps run as four, the missing ones
    reading tap ``end - 1``'s samples again with coefficient 0."""
    last = end - 1
    t1, t2, t3 = imin(j + 1, last), imin(j + 2, last), imin(j + 3, last)
    zero = coef.dtype.type(0)
    return (t1, t2, t3, coef[t1] if j + 1 < end else zero,
            coef[t2] if j + 2 < end else zero, coef[t3] if j + 3 < end else zero)


@njit(cache=True, internal=True, nogil=True, fastmath=CONTRACT)
def _taps1(a, xq, taps, coef, j, end, lo, hi, exact):
    """``a[b - lo] += sum c * xq[q, b - k]`` over taps ``j:end``, ``b`` in
    ``[lo, hi)``; returns :func:`not_finite` of the samples a padded pass
    multiplied by 0 (see below).

    ``c`` is ``coef[j]``, a column of a plan's coefficients (one compiled copy
    for both columns; a literal column index would compile one each).  Taps
    are applied four at a time where all of them read inside the input, so
    the accumulator is loaded and stored once per four multiply-adds (far
    faster than one at a time, which is bound by the accumulator's loads and
    stores), and so are a last two or three (:func:`_four`; a last single
    tap runs alone), rather than a pass each: upfirdn L=2 with 5 or 7 taps,
    memory-bound, ran at half the speed of 8 taps.  A sample multiplied by 0 gives NaN if it is ``inf``:
    the caller then runs again with ``exact``, which runs those taps one at
    a time.  (Padding with a stream of zeros instead, exact for any data,
    cost 0.6-0.8 s more cold JIT and 10-15 % on 8 taps.)  A further pass of
    eight at a time was 3-6 % faster on decimation (M=2, 64 taps) but cost
    0.3 s of the kernel's 3 s cold compile, so it went.
    """
    n = hi - lo
    nb = xq.shape[1]
    bad = 0.0
    while j < end:
        stop = imin(j + 4, end)
        # (a last tap alone: one pass of its own, which reads less than four
        # padded ones and needs no check)
        if _inside(taps, j, stop, lo, hi, nb) and stop - j > 1 \
                and not (exact and stop - j < 4):
            t1, t2, t3, c1, c2, c3 = _four(coef, j, end)
            s0, s1 = _stream(xq, taps, j, lo, hi), _stream(xq, taps, t1, lo, hi)
            s2, s3 = _stream(xq, taps, t2, lo, hi), _stream(xq, taps, t3, lo, hi)
            c0 = coef[j]
            for i in range(n):
                a[i] += (c0 * s0[i] + c1 * s1[i]) + (c2 * s2[i] + c3 * s3[i])
            if stop - j < 4:
                bad += abs(not_finite(s3))   # (a float for complex data too)
        else:
            for jj in range(j, stop):
                _edge_tap(a, xq, taps[jj, 0], taps[jj, 1], coef[jj], lo, hi)
        j = stop
    return bad


def _taps2_kernel(out):
    """:func:`_taps2`, and with ``out`` the kernel for L = 2 whose single
    pass may write the output itself (a closure constant: the other kinds
    do not compile that loop; a name of its own, see :func:`.jit.njit`)."""
    @njit(cache=True, internal=True, nogil=True, fastmath=CONTRACT,
          name="_taps2_out" if out else "_taps2")
    def _taps2(a0, a1, xq, taps, coef, j, end, lo, hi, exact, dst, stream):
        """:func:`_taps1` for a pair of phases: ``coef[:, 0]`` into ``a0``,
        ``coef[:, 1]`` into ``a1``.

        Each input load feeds two multiply-adds (see :mod:`.phase_pairs`).
        Four taps at a time, the last one to three too (:func:`_four`, and
        :func:`_taps1` on ``exact``): eight ran no faster (16 coefficients
        spill registers) and cost 0.4 s more to compile.  Returns the first
        tap not run, :func:`_taps1`'s ``bad`` and whether the output is
        written; the caller runs the rest through :func:`_taps1` (not called
        from here: each level of calls between numba functions re-optimises
        the code below it when compiling).  The first pass sets ``a0`` and
        ``a1`` rather than adding to them (the caller zeroes them when no
        pass ran).

        When one pass runs all the taps and ``dst`` is not empty (the kernel
        for L = 2, phases ``p, p + 1`` that are the whole output there),
        that pass writes them interleaved, ``dst[2i + 0/1]``
        (:func:`.simd.pair_taps4_run`),
        rather than into ``a0, a1`` for a store pass after it: short
        filters are bound by memory, and stores spread over the pass overlap
        their misses with its loads and arithmetic, where a pass of stores
        alone waits on them; a large output into a recycled buffer is
        streamed (``stream``).  upfirdn L=2 with 8 taps, 2**22 samples, one
        thread, on the Xeon: float32 6.5-6.9 -> 2.6-2.7 ms, float64
        13.3-13.5 -> 5.3-5.9 ms (see docs/design-notes.rst).
        """
        n = hi - lo
        nb = xq.shape[1]
        start = j
        bad = 0.0
        while j < end and _inside(taps, j, imin(j + 4, end), lo, hi, nb) \
                and not (exact and end - j < 4):
            t1, t2, t3, c1, c2, c3 = _four(coef[:, 0], j, end)
            d1, d2, d3 = _four(coef[:, 1], j, end)[3:]
            s0, s1 = _stream(xq, taps, j, lo, hi), _stream(xq, taps, t1, lo, hi)
            s2, s3 = _stream(xq, taps, t2, lo, hi), _stream(xq, taps, t3, lo, hi)
            c0, d0 = coef[j, 0], coef[j, 1]
            if end - j < 4:
                bad += abs(not_finite(s3))
            if out:
                if j == start and end - j <= 4 and dst.shape[0] > 0:
                    simd.pair_taps4_run(s0, s1, s2, s3, (c0, c1, c2, c3, d0, d1, d2, d3),
                                        dst, n, stream)
                    return end, bad, True
            if j == start:              # the first pass sets: no zeroing pass before
                for i in range(n):
                    v0, v1, v2, v3 = s0[i], s1[i], s2[i], s3[i]
                    a0[i] = (c0 * v0 + c1 * v1) + (c2 * v2 + c3 * v3)
                    a1[i] = (d0 * v0 + d1 * v1) + (d2 * v2 + d3 * v3)
            else:
                for i in range(n):
                    v0, v1, v2, v3 = s0[i], s1[i], s2[i], s3[i]
                    a0[i] += (c0 * v0 + c1 * v1) + (c2 * v2 + c3 * v3)
                    a1[i] += (d0 * v0 + d1 * v1) + (d2 * v2 + d3 * v3)
            j = imin(j + 4, end)
        return j, bad, False    # the caller runs the rest one phase at a time
    return _taps2


_taps2 = _taps2_kernel(False)
_taps2_out = _taps2_kernel(True)


@njit(cache=True, internal=True, nogil=True)
def _phase_range(p, L, bs, be, w0, nout):
    """Blocks ``[lo, hi)`` of ``[bs, be)`` whose phase-``p`` sample is in the window."""
    return imax(bs, -((p - w0) // L)), imin(be, (w0 + nout - 1 - p) // L + 1)


@njit(cache=True, internal=True, nogil=True)
def _store(a, out, p, L, lo, hi, w0):
    """Phase ``p``'s samples of blocks ``[lo, hi)`` (``a[0]`` is block ``lo``) into ``out``."""
    # a zero-based view: an index LLVM cannot prove non-negative gets a
    # wraparound check that stops vectorisation
    dst = out[lo * L + p - w0:]
    for i in range(hi - lo):
        dst[i * L] = a[i]


@njit(cache=True, internal=True, nogil=True)
def _store2(a0, a1, out, p, L, lo, hi, w0):
    """:func:`_store` for neighbouring phases ``p, p + 1`` in one pass.

    With ``L`` a constant 2 the pass is one contiguous run that LLVM
    interleaves with shuffles; a variable stride compiles to scatters (f32
    L=2 K=64: 10.4 against 14.4 ms).
    """
    dst = out[lo * L + p - w0:]
    if L == 2:
        for i in range(hi - lo):
            dst[2 * i] = a0[i]
            dst[2 * i + 1] = a1[i]
    else:
        for i in range(hi - lo):
            dst[i * L] = a0[i]
            dst[i * L + 1] = a1[i]


# Phases per block up to which the 1-D kernel accumulates every phase of a
# job and interleaves them in one pass (:func:`run_jobs`): the job's outputs
# (JOB_BYTES_SHORT or _LONG) then sit in ``L`` rows instead of one pair.
# (A pass per phase with a variable stride ``L`` compiles to single
# elements; so did one loop over all phases.)
GATHER_MAX = 8


@njit(cache=True, internal=True, nogil=True)
def _store_all(acc, covered, out, L, bs, be, w0):
    """All ``L`` phases of blocks ``[bs, be)`` into ``out``: phase ``p`` of
    block ``b`` is ``acc[p, b - bs]``, or zero where bit ``p`` of ``covered``
    is clear (a phase without taps); samples outside the window are not
    written.

    The blocks whose every phase is inside the window are one contiguous run
    of ``out``, written in order; the window's edges a phase at a time.
    Against a pass per pair of phases with stride ``L`` after each pair's
    taps, one thread, 2**21 samples, old and new code in alternating
    processes: L = 3 with 9 taps 4.9-5.2 -> 3.2-3.4 ms (float32), 7.2-7.4
    -> 5.8-6.0 (float64); L = 4 with 8 taps 5.7-6.1 -> 3.5-3.7 (float32),
    with 16 taps 5.3-5.9 -> 2.8-3.1; L = 3 with 64 taps 4.2-4.9 -> 4.0;
    L = 2 unchanged.  On 2**20 samples, float32: L = 5 with 10 taps 4.4-4.5
    -> 3.4, L = 6 with 12 5.0-5.2 -> 3.5-3.7, L = 7 with 14 6.7-6.9 ->
    5.8-6.2, L = 8 with 16 7.0-7.7 -> 4.7-4.9 (float64 L = 5: unchanged).
    The kernels with this pass (``gather``, see :func:`job_kernel`) took
    0.5-0.6 s longer to compile (5.0-5.1 against 4.5 s when all kinds were
    one kernel).
    """
    nout = out.shape[0]
    for p in range(L):
        if not covered >> p & 1:
            acc[p, :be - bs] = 0
    # phase p's blocks [lo_p, hi_p) shrink as p grows: all phases are inside
    # from lo_0 (the largest lo) to hi_(L-1) (the smallest hi)
    # (L * 0, not a literal 0: a literal argument compiles a copy of the helper)
    lo, _ = _phase_range(L * 0, L, bs, be, w0, nout)
    _, hi = _phase_range(L - 1, L, bs, be, w0, nout)
    for p in range(L):
        lp, hp = _phase_range(p, L, bs, be, w0, nout)
        if lp < imin(lo, hp):
            _store(acc[p, lp - bs:], out, p, L, lp, imin(lo, hp), w0)
        if imax(hi, lp) < hp:
            s = imax(hi, lp)
            _store(acc[p, s - bs:], out, p, L, s, hp, w0)
    if lo >= hi:
        return
    # a vector of blocks of every phase at a time, interleaved in registers
    # (:func:`.simd.interleave3` ..; loops of literal stride, which LLVM
    # vectorises itself, were as fast and took 1.3 s to compile for L = 3-8)
    G = simd.lanes(out.dtype)
    af, of = flat(acc), out
    s, d, step, cnt = lo - bs, lo * L - w0, acc.shape[1], hi - lo
    for i in range(0, cnt, G):
        n = imin(G, cnt - i)
        if L == 3:
            simd.interleave3(af, s + i, step, of, d + 3 * i, n)
        elif L == 4:
            simd.interleave4(af, s + i, step, of, d + 4 * i, n)
        elif L == 5:
            simd.interleave5(af, s + i, step, of, d + 5 * i, n)
        elif L == 6:
            simd.interleave6(af, s + i, step, of, d + 6 * i, n)
        elif L == 7:
            simd.interleave7(af, s + i, step, of, d + 7 * i, n)
        else:
            simd.interleave8(af, s + i, step, of, d + 8 * i, n)


@njit(cache=True, internal=True, nogil=True)
def unpack(ints, coefs):
    """The :class:`~polyphase.engine.phase_pairs.PhasePlan` tuple from
    :meth:`~polyphase.engine.phase_pairs.PhasePlan.packed` (views)."""
    G, nc, nt, ne, nx = ints[0], ints[1], ints[2], ints[3], ints[4]
    o = 5
    groups = matrix(ints[o:], G, 2)
    o += 2 * G
    cptr = ints[o:o + nc]
    o += nc
    ctaps = matrix(ints[o:], nt, 2)
    o += 2 * nt
    eptr = ints[o:o + ne]
    o += ne
    etaps = matrix(ints[o:], nx, 2)
    ccoef = matrix(coefs, nt, 2)
    ecoef = matrix(coefs[2 * nt:], nx, 1)
    return groups, cptr, ctaps, ccoef, eptr, etaps, ecoef


def _jobs_kernel(gather, split, pairs):
    """:func:`run_jobs` for one kind of signal: ``gather`` (L from 3 to
    ``GATHER_MAX``: all phases of a job accumulated, then one interleave),
    ``split`` (each job splits the input blocks it reads into phases, else
    ``xq`` holds phase streams) and ``pairs`` (L > 1: phases in pairs).  One
    source, a compiled kernel for each kind: a signal compiles only the code
    its kind runs, the first call of a kernel is what the issue's J1 times
    (see :func:`job_kernel`).  Each kind's code has a name of its own
    (``run_jobs_gather_split_pairs`` .., see :func:`.jit.njit`)."""
    kind = "".join(f"_{word}" for word, on in
                   (("gather", gather), ("split", split), ("pairs", pairs)) if on)

    @njit(cache=True, nogil=True, fastmath=CONTRACT, name="run_jobs" + kind)
    def run_jobs(xq, ints, coefs, L, b_first, nblocks, w0, out, mapped, chunk, exact, job0,
                 job1):
        """Jobs ``[job0, job1)`` of output blocks ``[b_first, b_first + nblocks)``.

        Returns 0 unless a tap pass of fewer than four taps read an ``inf`` or
        ``NaN`` (see :func:`_taps1`): the caller then runs the jobs again with
        ``exact`` (1), which runs those taps one at a time.

        Job ``j`` is the ``chunk`` output blocks number ``j % nchunks`` of lane
        ``j // nchunks``; ``ints, coefs`` are a
        :class:`~polyphase.engine.phase_pairs.PhasePlan`, packed.  Both paths
        call this directly, the parallel one by address (:func:`.groups.run`):
        one level of calls less to compile.

        The last four of ``ints`` (after the packed plan) are ``split = (pre, M,
        kmin, kmax)`` (one array argument less to unbox: ~0.4 us of a call on
        256 samples): ``M = 0`` when ``xq`` holds the phase
        streams ``(lanes, M, B)`` (the kernels without ``split``).  Else
        ``xq`` is the signal ``(lanes, 1, n)``
        (``pre`` zeros before it in its first block) and each job splits the
        input blocks its taps read (delays ``kmin..kmax``) into a buffer that stays in
        cache (:func:`split_phases`), rather than the whole signal going through
        memory once more as phase streams first (M = 8, 9 taps, 2**20 doubles:
        0.56 against 0.80 ms, scipy 0.57).  With ``gather`` (L from 3 to
        ``GATHER_MAX``) all phases of a job are interleaved in one pass after
        its taps (:func:`_store_all`).  ``mapped`` (0 or 1,
        :func:`.scratch.mapped`): ``out`` was carved out of a recycled
        buffer, and a large one is then streamed where a single pass writes
        it (L = 2, :func:`.simd.pair_taps4_run`).
        """
        groups, cptr, ctaps, ccoef, eptr, etaps, ecoef = unpack(ints, coefs)
        nchunks = (nblocks + chunk - 1) // chunk
        acc = empty2(out, L if gather else 2, chunk)
        n = ints.shape[0]
        pre, M, kmin, kmax = ints[n - 4], ints[n - 3], ints[n - 2], ints[n - 1]
        if split:
            nbx = (xq.shape[2] + pre + M - 1) // M          # blocks of the streams
            G = simd.lanes(out.dtype)
            local = empty1(out, M * (chunk + kmax - kmin + G))
        # a large output into a recycled buffer: L = 2's single passes
        # stream it (see _taps2)
        stream = flag(not gather and mapped != 0 and out.size * out.itemsize >= simd.STREAM_BYTES)
        bad = 0.0
        for job in range(job0, job1):
            lane = job // nchunks
            bs = b_first + (job - lane * nchunks) * chunk
            be = imin(bs + chunk, b_first + nblocks)
            if split:
                # the input blocks the taps read, inside the phase streams:
                # block `base` is the buffer's column 0 (taps reading outside
                # are skipped as they would be on the whole streams)
                base = imin(imax(bs - kmax, 0), nbx)
                end = imax(imin(be - kmin, nbx), base)
                # (C order: unit strides; rows of whole vectors, each
                # starting a line: see split_phases)
                P = matrix(local, M, -(-(end - base) // G) * G)
                split_phases(xq[lane, 0], M, base * M - pre, P)
            else:
                base = 0
                P = xq[lane]
            # Output blocks [cs, ce) of the lane (`P` holds input block 0 at
            # column 0), all phases, inside the window (`row`, output index
            # `cw` at its column 0).  Each group of phases is accumulated into
            # the rows of `acc` and stored with stride L; with `gather` each
            # phase has a row of its own (block `cs` at column 0) and all rows
            # are interleaved in one pass after the groups (for L = 2 the
            # pairs' stores are that pass already: accumulating both phases
            # first measured slower, 15.6 against 17.5 GMAC/s for f32 L=2
            # K=64).  (Written out here, not a function inlined by numba:
            # its inlining took 0.19 s of the kernel's cold compile.)
            cs, ce, cw, row = bs - base, be - base, w0 - base * L, out[lane]
            nout = row.shape[0]
            covered = groups.shape[0] * 0       # (not a literal 0: one type for every use)
            for g in range(groups.shape[0]):
                p0, p1 = groups[g, 0], groups[g, 1]
                lo0, hi0 = _phase_range(p0, L, cs, ce, cw, nout)
                if p1 < 0:
                    if lo0 < hi0:
                        a = acc[p0, lo0 - cs:hi0 - cs] if gather else acc[0, :hi0 - lo0]
                        zero_fill(a)
                        bad += _taps1(a, P, ctaps, ccoef[:, 0], cptr[g], cptr[g + 1],
                                      lo0, hi0, exact)
                        if gather:
                            covered |= 1 << p0
                        else:
                            _store(a, row, p0, L, lo0, hi0, cw)
                    continue
                if pairs:       # (else none: their code is not compiled)
                    lo1, hi1 = _phase_range(p1, L, cs, ce, cw, nout)
                    lo, hi = imin(lo0, lo1), imax(hi0, hi1)    # (a block outside one phase's
                    if lo >= hi:                             # range is computed, not stored)
                        continue
                    if gather:
                        a0, a1 = acc[p0, lo - cs:hi - cs], acc[p1, lo - cs:hi - cs]
                    else:
                        a0, a1 = acc[0, :hi - lo], acc[1, :hi - lo]
                    # L = 2 and the pair is all of the output there: a
                    # single pass may write it (see _taps2)
                    fuse = not gather and L == 2 and p1 == p0 + 1 and lo0 == lo1 and \
                        hi0 == hi1 and eptr[p0] == eptr[p0 + 1] and \
                        eptr[p1] == eptr[p1 + 1] and simd.real(out)
                    dst = row[lo * L + p0 - cw:] if fuse else row[:0]
                    # (a global per branch, not a closure variable holding the
                    # one the kind calls: a dispatcher in a closure made a kernel
                    # loaded from the cache start numba's compiler, see jit.py)
                    if gather:
                        j, bad2, done = _taps2(a0, a1, P, ctaps, ccoef, cptr[g], cptr[g + 1],
                                               lo, hi, exact, dst, stream)
                    else:
                        j, bad2, done = _taps2_out(a0, a1, P, ctaps, ccoef, cptr[g],
                                                   cptr[g + 1], lo, hi, exact, dst, stream)
                    bad += bad2
                    if done:
                        continue
                    if j == cptr[g]:                         # (else its first pass set them)
                        zero_fill(a0)
                        zero_fill(a1)
                    # (calls only when there is work: each call between numba functions
                    # costs reference counting on its arrays, ~5 % of an 8-tap filter)
                    if j < cptr[g + 1]:
                        bad += _taps1(a0, P, ctaps, ccoef[:, 0], j, cptr[g + 1], lo, hi, exact)
                        bad += _taps1(a1, P, ctaps, ccoef[:, 1], j, cptr[g + 1], lo, hi, exact)
                    if eptr[p0] < eptr[p0 + 1]:
                        bad += _taps1(a0, P, etaps, ecoef[:, 0], eptr[p0], eptr[p0 + 1],
                                      lo, hi, exact)
                    if eptr[p1] < eptr[p1 + 1]:
                        bad += _taps1(a1, P, etaps, ecoef[:, 0], eptr[p1], eptr[p1 + 1],
                                      lo, hi, exact)
                    if gather:
                        covered |= (1 << p0) | (1 << p1)
                        continue
                    if p1 == p0 + 1 and lo0 == lo1 and hi0 == hi1:
                        _store2(a0, a1, row, p0, L, lo, hi, cw)
                        continue
                    if lo0 < hi0:
                        _store(a0[lo0 - lo:], row, p0, L, lo0, hi0, cw)
                    if lo1 < hi1:
                        _store(a1[lo1 - lo:], row, p1, L, lo1, hi1, cw)
            if gather:
                _store_all(acc, covered, row, L, cs, ce, cw)
        if stream:
            simd.fence()
        return bad
    return run_jobs


# The 1-D kernel's kinds, by (gather, split, pairs); gather has pairs (L >= 3).
# A kernel's first call compiles only what its kind runs: with all of them in
# one kernel (split or not, pairs or not) the first call of L = 2 or of M = 2
# compiled in 3.8-3.9 s on the Xeon (the J1: <= 3 s), both paths
# included; a user of both kinds now compiles two kernels.
RUN_JOBS = {(gather, split, pairs): _jobs_kernel(gather, split, pairs)
            for gather in (False, True) for split in (False, True)
            for pairs in (False, True) if pairs or not gather}


def job_kernel(L, M):
    """The 1-D kernel (:func:`run_jobs`) for ``L`` phases and the jobs'
    split ``M`` (0: the kernel reads phase streams).

    Examples
    --------
    >>> job_kernel(2, 0) is RUN_JOBS[False, False, True]     # L=2: pairs
    True
    >>> job_kernel(3, 2) is RUN_JOBS[True, True, True]       # 3/2: gather, split
    True
    >>> job_kernel(1, 5) is RUN_JOBS[False, True, False]     # decimation
    True
    """
    return RUN_JOBS[2 < L <= GATHER_MAX, bool(M), L > 1]

"""numba kernel for channel-mixing phases: a direct, register-blocked product.

The GEMM path lays each input phase out as flat streams ``flat[q, c, :]``
(lanes and blocks on one padded grid), so tap ``t`` of an output phase reads
stream ``tq[t]`` shifted by ``ts[t]``; output row ``r`` (output phase and
channel) at grid column ``p`` is::

    out[r, p] = sum_t sum_c Wt[t, c, r] * flat[tq[t], c, ts[t] + p]

Here that sum runs in registers: ``NB`` output rows times ``V`` vectors of
``G`` grid columns are accumulated (:func:`.simd.rows_fma_taps8x2`), each
input vector loaded once for ``NB`` broadcast multiply-adds and each
broadcast coefficient serving ``V`` vectors, over all taps and input
channels, then stored once.  No stacked copy of the input is made.

Measured on a stride-1 3x3 layer (N8, C64 -> 64, 32x32, float32, one
thread), on the grid alone: on the EPYC (one 512-bit FMA a cycle), with one
vector of columns and scalar code LLVM's SLP vectoriser turned into vector
instructions, 50-56 GMAC/s (87-97 % of its FMA peak; ``NB = 4``: 39,
load-bound), where the stacked route (im2col copies, then OpenBLAS) reached
34 and torch's oneDNN about 50.  On the Xeon (two 512-bit FMA units a core,
OpenBLAS sgemm at 78 GMAC/s) that code reached 32 GMAC/s: LLVM's tuning for
Intel server cores prefers 256-bit vectors, so SLP split each accumulator in
two, and eight chains of multiply-adds do not keep two FMA units busy.
Explicit 512-bit vectors, two of them per row (16 accumulators): see
:func:`polyphase.engine.gemm._direct_applies` for the measurements and
where the kernel runs.

Layers that do not upsample write their output in place: :func:`run_bands`
(vectors over output columns, from bands of phase streams in cache),
:func:`run_planes` (1x1 layers, on ``x`` itself) and :func:`run_points`
(strided 2-D layers: vectors over output channels, ``x``'s samples
broadcast where they lie, so no phase streams at all).
"""

import numpy as np
from .inline_builtins import empty1, flat as flat_view, imax, imin
from .kernels import pad_plane, split_columns
from .jit import njit

from . import simd
from .registers import lanes

# Output rows per register block: 8 rows of V = 2 vectors of accumulators,
# each input vector serving 8 multiply-adds.
NB, V = 8, 2

# Grid columns per chunk (a multiple of every V * G): C_in rows of it stay in
# L2 while every block of output rows reads it (the whole width per block of
# rows streamed 8 MB eight times for a 64-channel conv1d: 50 against ~9 ms).
CHUNK = 256


@njit(cache=True, internal=True, nogil=True)
def _columns(flat, L, toff, Wt, out, c0, c1):
    """Grid columns ``[c0, c1)`` (a multiple of ``V * G`` wide) of every row;
    ``flat`` is the streams flattened, channel ``c`` of tap ``t`` starting at
    ``c * L + toff[t]``."""
    step = V * lanes(flat.dtype)
    T, C, R = Wt.shape
    wf = flat_view(Wt)
    of = flat_view(out)
    ostride = out.shape[1]
    for q0 in range(c0, c1, CHUNK):
        for r0 in range(0, R, NB):
            for p0 in range(q0, imin(q0 + CHUNK, c1), step):
                simd.rows_fma_taps8x2(flat, p0, L, toff, wf, r0, R, C, of,
                                      r0 * ostride + p0, ostride)


@njit(cache=True, nogil=True)
def run_jobs(flat, L, toff, Wt, out, job0, job1):
    """``out[r, p]`` for the columns ``p`` of jobs ``[job0, job1)``: job ``j``
    is columns ``[j * CHUNK, (j + 1) * CHUNK)`` of ``out.shape[1]`` (a
    multiple of ``V * G``); ``flat`` must reach ``C * L + toff.max() +
    out.shape[1]``.  Jobs write disjoint columns."""
    _columns(flat, L, toff, Wt, out, job0 * CHUNK, imin(job1 * CHUNK, out.shape[1]))


# (a function of its own, not inlined: one compiled body for its call site)
@njit(cache=True, internal=True, nogil=True)
def _phases(L2, x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0, pitch, W,
            rows, ostep):
    if L2 == 2:
        simd.phases_fma8x2(x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0,
                           pitch, W, rows, ostep)
    elif L2 == 3:
        simd.phases_fma4x3(x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0,
                           pitch, W, rows, ostep)
    else:
        simd.phases_fma4x4(x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0,
                           pitch, W, rows, ostep)


@njit(cache=True, nogil=True)
def run_phases(flat, L, toff, tsplit, Wt, out, dims, job0, job1):
    """A layer that upsamples by ``(L1, L2)`` (``L2`` 2 to 4), its products
    on the phase streams' grid straight into its output ``out`` ``(lanes, R,
    H, W)``, the output phases interleaved in registers
    (:func:`.simd.phases_fma8x2`): no product on the grid, no interleave.

    Output ``(lane, r, L1*I + e1, L2*J + e2)`` sums the taps ``[tsplit[k],
    tsplit[k + 1])`` of ``toff`` and ``Wt`` ``(taps, C, Rp)``, ``k = e1*L2 +
    e2``, of the flat streams ``flat`` (channels ``L`` apart) at grid column
    ``lane*S + I*P2 + J``: each output phase's taps, their block shifts
    folded into ``toff``.  ``dims`` is ``(L1, L2, S, P2, rpj, nI, seg,
    rowwise)``: ``nI`` rows of blocks an image, ``P2`` grid columns a row
    (the blocks of a row, then padding); job ``j`` is block rows ``[(j //
    nseg) % rgroups * rpj, ...)`` (``rpj`` of them) of image ``j //
    (rgroups * nseg)``, and of them the blocks ``[(j % nseg) * seg, ...)``
    (``seg`` a multiple of ``G``: a 1-D layer's one row in parts).  A call
    takes ``G`` grid columns: ``rowwise``, from a row's first block on
    (rows of a whole number of vectors), else on over the end of a row into
    the next (rows of fewer blocks than a vector fill it), its stores
    leaving out the padding.  Its blocks of output rows go outer: their
    weights stay in L1 while the job's input, in L2, serves each of them.
    """
    T, C, Rp = Wt.shape
    R, H, W = out.shape[1], out.shape[2], out.shape[3]
    L1, L2, S, P2, rpj, nI, seg, rowwise = dims[0], dims[1], dims[2], dims[3], dims[4], \
        dims[5], dims[6], dims[7] != 0
    G = lanes(flat.dtype)
    RB = 8 if L2 == 2 else 4
    wf = flat_view(Wt)
    of = flat_view(out)
    HW = H * W
    rgroups = -(-nI // rpj)
    last = -(-W // L2)                      # the blocks of an output row
    nseg = -(-last // seg) if nI == 1 else 1
    if nI > 1:
        seg = P2                            # (2-D: whole rows)
    for job in range(job0, job1):
        lane = job // (rgroups * nseg)
        i0 = (job // nseg) % rgroups * rpj
        i1 = imin(i0 + rpj, nI)
        c0 = job % nseg * seg
        for r0 in range(0, R, RB):
            nr = imin(RB, R - r0)
            # (a row's or a vector's output phases one after the other: their
            # taps read the same input rows, which are then in L1; N8 C64 32x32
            # k3 s2, one thread: 7.5-8.0 ms with the rows of each phase in turn,
            # 6.8-6.9 so)
            if rowwise:
                # (each row's blocks, in vectors from its first: no call
                # takes the padding where a row is a whole number of them)
                for i in range(i0, i1):
                    for e1 in range(imin(L1, H - i * L1)):
                        for j in range(c0, imin(last, c0 + seg), G):
                            _phases(L2, flat, lane * S + i * P2 + j, L, toff, tsplit, e1 * L2,
                                    wf, r0, Rp, C, of, (lane * R + r0) * HW + (i * L1 + e1) * W,
                                    HW, nr, j, P2, W, 1, L1 * W)
                continue
            for p in range(i0 * P2, (i1 - 1) * P2 + last, G):
                i = p // P2
                j = p - i * P2
                if j >= last and j + G <= P2:
                    continue                    # (padding only)
                for e1 in range(imin(L1, H)):
                    # (the block rows from i on with an output row of phase e1)
                    rows = imin(i1, (H - e1 + L1 - 1) // L1) - i
                    if rows > 0:
                        _phases(L2, flat, lane * S + p, L, toff, tsplit, e1 * L2, wf, r0, Rp,
                                C, of, (lane * R + r0) * HW + (i * L1 + e1) * W, HW, nr, j,
                                P2, W, rows, L1 * W)


def phases_pay(pitch, L2, itemsize):
    """Whether :func:`run_phases` takes rows of ``pitch`` grid columns: a
    vector's columns span at most two rows."""
    return pitch >= 64 // itemsize // L2 + 1


def phases_rowwise(blocks, pitch, itemsize):
    """Whether :func:`run_phases`' calls start at each row's first block
    (``rowwise``), for rows of ``blocks`` output blocks and ``pitch`` grid
    columns: when the row's whole vectors take no more columns than the
    grid's row (no call then takes the padding; N8 C64 16x16 k3 s2, one
    thread, 1.86-1.92 ms with calls on over the rows' ends, 1.72-1.77 so)."""
    G = 64 // itemsize
    return -(-blocks // G) * G <= pitch


@njit(cache=True, nogil=True, inline="always")
def _row(x, src, L, toff, wf, r0, R, C, of, dst, HW, a, b):
    """Columns ``[a, b)`` of eight output rows from ``of[dst + r*HW]`` on,
    column ``j`` reading ``x[c*L + toff[t] + src + j]``: blocks of two vectors,
    then at most one masked block of two or of one."""
    half = lanes(x.dtype)
    step = V * half
    j = a
    while j + step <= b:
        simd.rows_fma_taps8x2(x, src + j, L, toff, wf, r0, R, C, of, dst + j, HW)
        j += step
    if j + half < b:
        simd.rows_fma_taps8x2_part(x, src + j, L, toff, wf, r0, R, C, of, dst + j, HW, b - j)
    elif j < b:
        simd.rows_fma_taps8x1_part(x, src + j, L, toff, wf, r0, R, C, of, dst + j, HW, b - j)


@njit(cache=True, nogil=True)
def run_planes(x, L, toff, Wt, out, S, rpj, seg, job0, job1):
    """A 1x1 layer's products straight into its output ``out`` ``(lanes, R,
    W)`` (C-ordered, ``R = Wt.shape[2]``, one tap, ``toff = [0]``): row ``l``
    of ``out`` sums the channel planes of image ``l`` of ``x``, channel ``c``
    the ``W`` elements from ``l * S + c * L`` on (``x`` itself, no copy).

    Job ``j`` is images ``[(j // nseg) * rpj, ...)`` (``rpj`` of them, the
    last group shorter) and columns ``[(j % nseg) * seg, ...)`` of each
    (``seg`` a multiple of ``V * G`` or ``W``; ``nseg = ceil(W / seg)``): about
    ``CHUNK`` columns, which every block of output rows reads while they are
    in cache, as in :func:`run_jobs`.  The end of a plane takes masked loads
    and stores.
    """
    T, C, R = Wt.shape
    W = out.shape[2]
    wf = flat_view(Wt)
    of = flat_view(out)
    nseg = (W + seg - 1) // seg
    for j in range(job0, job1):
        g0 = (j // nseg) * rpj
        g1 = imin(g0 + rpj, out.shape[0])
        x0 = (j % nseg) * seg
        x1 = imin(x0 + seg, W)
        for r0 in range(0, R, NB):
            for lane in range(g0, g1):
                _row(x, lane * S, L, toff, wf, r0, R, C, of, (lane * R + r0) * W, W, x0, x1)


@njit(cache=True, nogil=True, inline="always")
def _odd_lines(n, G):
    """``n`` rounded up to an odd number of ``G``-element lines."""
    lines = -(-n // G)
    return (lines + 1 - lines % 2) * G


@njit(cache=True, nogil=True)
def run_bands(xf, dims, shift, taps, Wt, out, band, job0, job1):
    """The products of a layer that does not upsample, straight into its
    output, reading ``x`` itself: each job splits the band of
    input its output rows read into phase streams in a buffer that stays in
    cache, then multiplies.  For a layer that does not upsample, by ``M1 x
    M2`` (``M1 = 1``: 1-D).

    ``xf`` is ``x`` ``(lanes, C, n1, n2)`` flat (C-ordered); ``dims`` is
    ``(lanes, C, n1, n2, M1, M2, H, W, o1, o2)``: output ``(lane, i, j)`` is
    the sum over taps ``t`` (``taps[t] = (q, k1, k2)``, ``q = m1*M2 + m2``)
    of ``Wt[t, c, :]`` times stream ``q`` at block ``(o1 + i - k1, o2 + j -
    k2)``, stream block ``(B1, B2)`` being ``x[lane, c, B1*M1 + m1 -
    shift[0], B2*M2 + m2 - shift[1]]`` (zero outside ``x``).  ``out`` is
    ``(lanes, R, H * W)``.  Job ``j`` is rows ``[r0, r0 + band[0])`` (rows
    ``(j // nseg) * band[0]`` on, within one image) by columns ``[(j % nseg)
    * band[1], ...)`` of an image (``nseg = ceil(W / band[1])``).

    The phase streams of the whole input went through memory once more
    (written, then read by the products): N8 C64 64x64 k2 s2, one thread,
    interleaved with torch's calls (which take the caches), streams 1.1-2.0
    ms and products 2.6 of 4.5 ms (torch 3.4).
    """
    C, n1, n2 = dims[1], dims[2], dims[3]
    M1, M2, H, W, o1, o2 = dims[4], dims[5], dims[6], dims[7], dims[8], dims[9]
    T, _, R = Wt.shape
    Q = M1 * M2
    k1lo, k1hi, k2lo, k2hi = taps[0, 1], taps[0, 1], taps[0, 2], taps[0, 2]
    for t in range(1, T):
        k1lo, k1hi = imin(k1lo, taps[t, 1]), imax(k1hi, taps[t, 1])
        k2lo, k2hi = imin(k2lo, taps[t, 2]), imax(k2hi, taps[t, 2])
    rpj, seg = band[0], band[1]
    G = lanes(xf.dtype)
    buf = empty1(xf, Q * (C * (_odd_lines((rpj + k1hi - k1lo) * (seg + k2hi - k2lo), G) + G)
                          + G))
    wf = flat_view(Wt)
    of = flat_view(out)
    toff = empty1(taps[:, 0], T)
    HW = H * W
    rgroups = -(-H // rpj)
    nseg = -(-W // seg)
    for job in range(job0, job1):
        lane = job // (rgroups * nseg)
        i0 = (job // nseg) % rgroups * rpj
        i1 = imin(i0 + rpj, H)
        x0 = job % nseg * seg
        x1 = imin(x0 + seg, W)
        nr = i1 - i0 + k1hi - k1lo
        pitch = x1 - x0 + k2hi - k2lo
        # channels and phases an odd number of lines apart: a multiple of 4
        # KB put the 16 phases of a k4 s4 layer, and their loads, in one L1
        # set (the products ran at 25 GMAC/s)
        L = _odd_lines(nr * pitch, G)
        QS = _odd_lines(C * L, G)
        B1, B2 = o1 + i0 - k1hi, o2 + x0 - k2hi
        for m1 in range(M1):
            for c in range(C):
                split_columns(xf, (lane * C + c) * n1 * n2, n1, n2, B1 * M1 + m1 - shift[0],
                              M1, nr, M2, B2 * M2 - shift[1], pitch, buf,
                              m1 * M2 * QS + c * L, pitch, QS, True)
        for t in range(T):
            toff[t] = taps[t, 0] * QS + (k1hi - taps[t, 1]) * pitch + k2hi - taps[t, 2]
        # the band's rows and the output's follow one another: one row (rows
        # of 16 columns would each take a block of one vector)
        whole = pitch == W and x1 - x0 == W
        rows, a, b = (1, 0, (i1 - i0) * W) if whole else (i1 - i0, x0, x1)
        for r0 in range(0, R, NB):
            i = 0
            if not whole and W <= G:
                # rows of one vector: two at a time
                while i + 1 < rows:
                    simd.rows_fma_taps8x2_rows(buf, i * pitch, L, toff, wf, r0, R, C, of,
                                               (lane * R + r0) * HW + (i0 + i) * W, HW,
                                               pitch, W, W)
                    i += 2
            for i in range(i, rows):
                _row(buf, i * pitch - x0, L, toff, wf, r0, R, C, of,
                     (lane * R + r0) * HW + (i0 + i) * W, HW, a, b)


# (_valid_taps and _inside link-only, not inlined: the kernel's first
# call compiled in 2.86 against 2.46 s inlined)
@njit(cache=True, internal=True, nogil=True)
def _valid_taps(a1, a2, i, j, M1, M2, n1, n2, rows, cols, C, R, xoff, doff, ps):
    """The taps whose sample of output ``(i, j)`` lies inside the image
    (along the rows when ``rows`` is set, along the columns when ``cols``
    is), into ``xoff``, ``doff`` (:func:`run_points`); returns how many."""
    T = a1.shape[0]
    m = 0
    for t in range(T):
        r, c = i * M1 + a1[t], j * M2 + a2[t]
        if (rows and (r < 0 or r >= n1)) or (cols and (c < 0 or c >= n2)):
            continue
        xoff[m] = (a1[t] * n2 + a2[t]) * ps
        doff[m] = t * C * R
        m += 1
    return m


@njit(cache=True, internal=True, nogil=True)
def _inside(a, M, n, count):
    """The outputs ``[lo, hi)`` of ``count`` whose samples ``o*M + a[t]`` all
    lie in ``[0, n)``."""
    lo, hi = 0, count
    for t in range(a.shape[0]):
        lo = imax(lo, -(a[t] // M))                    # ceil(-a / M)
        hi = imin(hi, (n - 1 - a[t]) // M + 1 if n - 1 - a[t] >= 0 else 0)
    lo = imin(lo, count)
    return lo, imax(lo, hi)


# (a function of its own, not inlined: its three call sites share one
# compiled body)
@njit(cache=True, internal=True, nogil=True)
def _points(P, x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob, os, add):
    if P == 16:
        simd.points_fma16x1(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob,
                            os, add)
    elif P == 8:
        simd.points_fma8x2(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob,
                           os, add)
    else:
        simd.points_fma4x4(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob,
                           os, add)


@njit(cache=True, internal=True, nogil=True)
def _across_images(xf, l0, l1, c0, C, plane, cs, ps, n1, n2, M1, M2, H, W, a1, a2, xoff, doff,
                   nc, wf, dc, block, tile, P, of, R, r0, nch, add, place):
    """One chunk of input channels of :func:`run_points`' job of images
    ``[l0, l1)``, ``P`` images a call at one output point, each point with
    the taps that read inside ``x`` (small images: no padding to multiply,
    every call ``P`` points whatever the image's width); channel ``c`` of
    an image at ``c * cs``, its sample ``p`` at ``p * ps``.  Output point
    ``(i, j)`` goes to ``(i * L1 + d1, j * L2 + d2)`` of planes of ``Ho x
    Wo``, where that lies inside, ``place`` being ``(Ho * Wo, Wo, Ho, L1,
    L2, d1, d2)`` (an output phase of a transposed layer straight into
    place)."""
    HW, Wo, Ho, L1, L2, d1, d2 = place[0], place[1], place[2], place[3], place[4], \
        place[5], place[6]
    for i in range(H):
        oi = i * L1 + d1
        for j in range(W):
            oj = j * L2 + d2
            if oi < 0 or oi >= Ho or oj < 0 or oj >= Wo:
                continue
            nt = _valid_taps(a1, a2, i, j, M1, M2, n1, n2, True, True, C, block, xoff, doff,
                             ps)
            for l in range(l0, l1, P):
                nj = imin(P, l1 - l)
                at = l * C * plane + c0 * cs + (i * M1 * n2 + j * M2) * ps
                _points(P, xf, at, at, C * plane, P, nj, xoff[:nt], doff[:nt], cs, nc, wf,
                        dc, block, tile, 0, 0, P, False)
                for k in range(nj):
                    o = ((l + k) * R + r0) * HW + oi * Wo + oj
                    for ch in range(nch):
                        if add:
                            of[o + ch * HW] += tile[ch * P + k]
                        else:
                            of[o + ch * HW] = tile[ch * P + k]


@njit(cache=True, nogil=True)
def run_points(xf, dims, offsets, Wt, out, split, job0, job1):
    """The products of a layer that does not upsample, straight from ``x``
    into its output, with vectors over output channels: each
    :func:`.simd.points_fma4x4` call sums four output points of ``4 * G``
    channels (:func:`.simd.points_fma8x2`: eight of ``2 * G``, when ``Wt``'s
    blocks are ``2 * G`` channels; :func:`.simd.points_fma16x1`: sixteen of
    ``G``, N8 C16 -> 16 32x32 k3 s2 on one thread in 0.15 ms against 0.26
    on the bands and 0.17 for torch), broadcasting ``x``'s samples (read in
    place, at any stride or dilation) against vectors of weights.  ``dims``
    is :func:`run_bands`'s, ``offsets`` where each tap reads ``x``
    (:func:`point_offsets`); ``Wt`` is
    ``(blocks, T, C, block)``, the output channels in blocks (zero weights
    after the last channel; :func:`point_weights`); ``out`` is ``(lanes, R,
    H * W)``.

    ``split`` is ``(rows, images, channels, across, last)``
    (:func:`point_split`), then where the outputs go (``(H * W, W, H, 1,
    1, 0, 0)``: in place; other places for calls across images only, see
    :func:`_across_images`):
    a job is one block of output channels of ``rows`` output rows of one
    image, or of whole images, ``images`` of them (``across``: ``P`` of
    them a call, :func:`_across_images`); its input channels go
    ``channels`` at a time, each chunk's sums added to the last's, so that
    the chunk's weights stay in L2 while the job's points read them (a
    block's weights for all 512 channels of a 3x3 layer, 1.2 MB, did not:
    N8 C512 -> 512 7x7 k3 s2 ran at 25 GMAC/s).  A block's weights are one
    run of memory: a chunk of them then spans few pages.  Jobs go block by
    block over the same images and rows, which share their input.  With
    ``last`` set, ``xf`` is ``x`` channels last, ``(lanes, n1, n2, C)``
    (:func:`channels_last`).

    With ``P`` points a call, the rows go ``P`` at a time.  Points whose
    taps all read inside ``x`` go ``P`` at a time in raster order; the rows
    at the edges (padding) ``P`` along the row with the taps inside that
    row, and the columns at the edges ``P`` down the column with the taps
    inside that column (into a tile, then into place).  A block of fewer
    channels than a whole one (the last, when ``R`` is not a whole number
    of blocks) goes through a buffer of ``P`` rows, then its channels into
    place: the block stores all of its channels.
    """
    lanes_, C, n1, n2 = dims[0], dims[1], dims[2], dims[3]
    M1, M2, H, W = dims[4], dims[5], dims[6], dims[7]
    T, block = Wt.shape[1], Wt.shape[3]
    R = out.shape[1]
    P = 16 * lanes(xf.dtype) // block
    a1, a2 = offsets[0], offsets[1]
    ilo, ihi = _inside(a1, M1, n1, H)
    jlo, jhi = _inside(a2, M2, n2, W)
    # every tap (the inner points'), and those inside an edge row or column
    xall = empty1(a1, T)
    dall = empty1(a1, T)
    plane = n1 * n2
    # (x channels last: its channels' samples at one point are one run)
    cs, ps = (1, C) if split[4] else (plane, 1)
    _valid_taps(a1, a2, 0, 0, M1, M2, n1, n2, False, False, C, block, xall, dall, ps)
    xoff = empty1(a1, T)
    doff = empty1(a1, T)
    wf = flat_view(Wt)
    of = flat_view(out)
    HW = H * W
    rpj, ipj, cpc, across = split[0], split[1], split[2], split[3] != 0
    rgroups = -(-H // rpj)
    blocks = -(-R // block)
    tile = empty1(xf, P * block)
    stage = empty1(xf, block * P * W if R % block else 1)
    for job in range(job0, job1):
        r0 = job % blocks * block
        i0 = job // blocks % rgroups * rpj
        i1 = imin(i0 + rpj, H)
        l0 = job // (blocks * rgroups) * ipj
        nch = imin(block, R - r0)
        staged = nch < block
        dst = stage if staged else of
        for c0 in range(0, C, cpc):
            nc = imin(cpc, C - c0)
            # (the first chunk stores its sums, the others add theirs)
            add = c0 > 0
            into = add and not staged
            dc = (r0 * T * C) + c0 * block
            if across:
                _across_images(xf, l0, imin(l0 + ipj, lanes_), c0, C, plane, cs, ps, n1, n2,
                               M1, M2, H, W, a1, a2, xoff, doff, nc, wf, dc, block, tile, P, of,
                               R, r0, nch, add, split[5:12])
                continue
            for lane in range(l0, imin(l0 + ipj, lanes_)):
                xl = lane * C * plane + c0 * cs
                for g0 in range(i0, i1, P):
                    g1 = imin(g0 + P, i1)
                    # output row i at dst[base + i * W:], channels os apart
                    base, os = (-g0 * W, P * W) if staged else ((lane * R + r0) * HW, HW)
                    # the points whose taps all lie inside x, P at a time in
                    # raster order (over the end of a row onto the next)
                    ia, ib, wi = imax(g0, ilo), imin(g1, ihi), jhi - jlo
                    total = imax(0, ib - ia) * wi
                    q = 0
                    while q < total:
                        i, j = ia + q // wi, jlo + q % wi
                        m = imin(P, jhi - j)
                        nj = imin(P, total - q) if wi >= P else imin(m, total - q)
                        _points(P, xf, xl + (i * M1 * n2 + j * M2) * ps,
                                xl + ((i + 1) * M1 * n2 + jlo * M2) * ps, M2 * ps, m, nj,
                                xall, dall, cs, nc, wf, dc, block, dst, base + i * W + j,
                                base + (i + 1) * W + jlo, os, into)
                        q += nj
                    # the rows at the edges, with the taps inside each
                    for i in range(g0, g1):
                        if ilo <= i < ihi:
                            continue
                        nt = _valid_taps(a1, a2, i, 0, M1, M2, n1, n2, True, False, C, block,
                                         xoff, doff, ps)
                        for j in range(jlo, jhi, P):
                            at, o = xl + (i * M1 * n2 + j * M2) * ps, base + i * W + j
                            _points(P, xf, at, at, M2 * ps, P, imin(P, jhi - j), xoff[:nt],
                                    doff[:nt], cs, nc, wf, dc, block, dst, o, o, os, into)
                    # the columns at the edges, down the rows that are
                    # inside, with the taps inside each column
                    for e in range(jlo + W - jhi):
                        j = e if e < jlo else jhi + e - jlo
                        i = g0
                        while i < g1:
                            inner = ilo <= i < ihi
                            nj = imin(g1, ihi) - i if inner else 1
                            nt = _valid_taps(a1, a2, i, j, M1, M2, n1, n2, not inner, True, C,
                                             block, xoff, doff, ps)
                            at = xl + (i * M1 * n2 + j * M2) * ps
                            _points(P, xf, at, at, M1 * n2 * ps, P, nj, xoff[:nt], doff[:nt],
                                    cs, nc, wf, dc, block, tile, 0, 0, P, False)
                            for ch in range(nch):
                                o = base + ch * os + i * W + j
                                for k in range(nj):
                                    if into:
                                        dst[o + k * W] += tile[ch * P + k]
                                    else:
                                        dst[o + k * W] = tile[ch * P + k]
                            i += nj
                    if staged:
                        n = (g1 - g0) * W
                        for ch in range(nch):
                            src = stage[ch * P * W:ch * P * W + n]
                            row = of[(lane * R + r0 + ch) * HW + g0 * W:]
                            if add:
                                for k in range(n):
                                    row[k] += src[k]
                            else:
                                for k in range(n):
                                    row[k] = src[k]


@njit(cache=True, nogil=True)
def channels_last(x, out, job0, job1):
    """``out[l, p, c] = x[l, c, p]``: images ``x`` ``(lanes, C, n)`` channels
    last, image ``l`` for the jobs ``l`` in ``[job0, job1)``, in tiles of
    ``G x G`` through registers (:func:`.simd.transpose_tile`; element by
    element, 2.5-3x slower than numpy's copy of the transposed view)."""
    C, n = x.shape[1], x.shape[2]
    G = lanes(x.dtype)
    xf, of = flat_view(x), flat_view(out)
    for l in range(job0, job1):
        for c in range(0, C, G):
            rows = imin(G, C - c)
            for p in range(0, n, G):
                simd.transpose_tile(xf, (l * C + c) * n + p, n, rows, of, (l * n + p) * C + c,
                                    C, imin(G, n - p))


def point_block(cout, itemsize):
    """The output channels of a block of :func:`run_points`: ``G`` (sixteen
    points a call) or ``2 * G`` (eight) for layers of at most that many,
    else ``4 * G`` (four points), or ``2 * G`` where that leaves fewer
    channels spare.  N8 C32 -> 32 32x32 k3 s2, one thread, float32: on
    blocks of 64 channels, half of them unused, 0.76 ms; on blocks of 32
    0.45-0.47 ms (torch 0.46, thirty-fourth session).  k3 s2, ms on blocks
    of 64 / of 32: C96 24x24 2.10-2.25 (Winograd) / 1.96, C160 20x20
    4.3-4.9 / 4.0-4.2 (thirty-fifth session; blocks of 16 for more than 32
    channels were slower than 64 with a quarter spare: C48 24x24 0.62 /
    0.70, C112 24x24 2.72-2.80 / 3.47-3.51)."""
    G = 64 // itemsize
    if cout <= G:
        return G
    if cout <= 2 * G:
        return 2 * G
    # (blocks of 2 * G where they leave fewer channels spare)
    return min((4 * G, 2 * G), key=lambda b: -(-cout // b) * b)


def points_a_call(block, itemsize):
    """Output points a call of :func:`run_points`'s block sums for blocks of
    ``block`` channels: the block holds 16 vectors of accumulators."""
    return 16 * (64 // itemsize) // block


def point_weights(Wt, block):
    """``Wt`` ``(T, C, Rp)`` (:func:`weights`) as :func:`run_points` takes
    it: ``(blocks, T, C, block)``, C-contiguous.  (Rows of all ``Rp``
    channels put a chunk's weights for one block 2 KB apart for 512
    channels: a chunk spanned ~460 pages, past the L1 TLB's 72 entries.)"""
    T, C, Rp = Wt.shape
    return np.ascontiguousarray(Wt.reshape(T, C, Rp // block, block).transpose(2, 0, 1, 3))


def point_split(lanes, H, W, cin, taps, cout, itemsize, inside=1.0):
    """``(rows, images, channels, across, last)`` of a job of :func:`run_points`
    and its chunks of input channels, and the number of jobs, for ``lanes``
    images of ``H x W`` outputs: about ``POINTS`` outputs a job, in whole
    groups of ``P`` rows (the edge columns go ``P`` rows at a time), or
    whole images when an image has fewer, as long as there are
    ``POINT_JOBS`` jobs; and input channels whose weights (for one block of
    output channels) take at most ``POINT_WEIGHTS`` bytes.  ``across`` (1
    or 0): the job's calls take ``P`` images at one output point, each
    point with only its taps that read inside ``x``, where a job has at
    least ``P`` images and ``inside`` (:func:`inside_share`) is at most
    ``ACROSS_SHARE``, or the rows are narrower than a call (whose points
    then stop at the end of a row: N8 C256 -> 256 2x2 outputs, 5x5 k3 s2
    unpadded, one thread, 0.83 -> 0.53 ms; 3x3 outputs C512 5.37 -> 4.50,
    k2 s2 C256 0.52 -> 0.46).  ``last`` (1 or 0): those calls read ``x``
    channels last (a copy, :func:`channels_last`), from ``LAST_CHANNELS``
    input channels on."""
    block = point_block(cout, itemsize)
    P = points_a_call(block, itemsize)
    blocks = -(-cout // block)
    rows = min(H, -(-max(1, POINTS // W) // P) * P)
    wanted = inside <= ACROSS_SHARE or W < P            # (calls across images)
    images = 1
    if rows == H:
        images = _even(lanes, max(1, min(POINTS // (H * W), lanes * blocks // POINT_JOBS,
                                         lanes)))
        # (a call's worth of images a job to go across, down to ACROSS_JOBS
        # jobs: 4x4 outputs, ratio to torch, one thread / two, N4 C256 0.79
        # / 0.71 -> 0.98 / 0.97x, N8 C128 0.92 / 0.91 -> 1.00 / 0.95x)
        if images < P and wanted and P * H * W <= POINTS and \
                -(-lanes // P) * blocks >= ACROSS_JOBS and _even(lanes, P) >= P:
            images = _even(lanes, P)
    chunks = -(-(taps * cin * block * itemsize) // POINT_WEIGHTS)
    channels = -(-cin // chunks)
    jobs = -(-lanes // images) * -(-H // rows) * blocks
    across = int(images >= P and wanted)
    last = int(across and cin >= LAST_CHANNELS)
    return np.array((rows, images, channels, across, last), dtype=np.int64), jobs


def _even(lanes, images):
    """As few images a job as make as many jobs as ``images`` a job: N8
    C512 14x14 took 5 images a job, then 3, and the thread whose jobs had
    5 took 1.25x as long as an even half."""
    return -(-lanes // -(-lanes // images))


def _taps_inside(dims, offsets):
    """``(rows, cols)``, boolean ``(H, T)`` and ``(W, T)``: whether tap
    ``t`` of output row ``i`` (column ``j``) reads a row (column) inside
    ``x``, from :func:`run_bands`'s ``dims`` and :func:`point_offsets`'
    ``offsets``."""
    n1, n2, M1, M2, H, W = (int(v) for v in dims[2:8])
    a1, a2 = offsets
    rows = np.arange(H)[:, None] * M1 + a1
    cols = np.arange(W)[:, None] * M2 + a2
    return (rows >= 0) & (rows < n1), (cols >= 0) & (cols < n2)


def inside_share(dims, offsets):
    """The share of a layer's products (outputs times taps) whose tap reads
    inside ``x`` (:func:`_taps_inside`): the rest multiply the padding."""
    rows, cols = _taps_inside(dims, offsets)
    inside = rows.sum(0) * cols.sum(0)
    return float(inside.sum()) / max(1, inside.size * rows.shape[0] * cols.shape[0])


# A job's calls go across its images where at most this share of the
# products read inside x (N8 k3 s2 padding 1, one thread, float32, ms
# padded or with edges / across: 4x4 outputs (inside 0.69) C512 -> 512
# 6.39 / 5.14, C256 1.53 / 1.16; 6x6 (0.89) C256 3.38-3.51 / 3.25-3.32;
# 7x7 (0.91) C256 4.90 / 4.66-4.69, C256 -> 512 9.79 / 9.26-9.43, C512
# 19.5-19.8 / 18.8-19.0, N16 C128 2.37-2.39 / 2.20-2.22; but 8x8 (0.92)
# C256 5.95-6.12 / 6.27-6.44, N16 C128 2.92-2.98 / 2.93-3.02: the calls'
# samples, an image apart, each read a line of their own)
ACROSS_SHARE = 0.91

# Calls across images read x channels last (a copy) from this many input
# channels (point_split).  In place, a call's P images read P lines of x for
# each channel and tap, and a chunk's channels' lines (171 of them, 44 KB
# for four images) do not stay in L1 from one tap to the next: the block
# sums ran at 46 GMAC/s across images against 56 along a row, alone on
# synthetic data (one thread, float32, 4x4 points by 64 channels, three
# chunks of 171 channels of a 512-channel 3x3 layer).  Channels last, one
# line serves G channels: 56 across too.  N8 k3 s2 p1, one thread, float32,
# ms in place / channels last (copy included), medians of seven runs of
# each tree in alternation: 14x14 C512 21.4 / 18.0, C256 4.88 / 4.79; N4
# 7x7 C512 3.23 / 3.10; conv_transpose2d k4 s2 C512 -> 256 2x2 3.02 / 2.40,
# 4x4 6.51 / 6.39.  Below 256 the copy cost more than it saved: N16 C128
# 14x14 +5 %, C64 8x8 +12 %.  (Along rows, channels last was slower where
# it did not go across: C128 28x28 4.4 -> 5.1 ms.)
LAST_CHANNELS = 256


# Outputs (points, times every output channel) a job of run_points computes;
# the jobs whole images make at least (two threads, four groups each); the
# bytes of a chunk's weights, half of the EPYC's L2 (N8 k3 s2, 128-512
# channels, one thread: 256 KB to 1 MB within the noise, 2-8 %; no chunks,
# all 1.2 MB of a 512-channel block, 1.3-1.35x slower)
POINTS, POINT_JOBS, POINT_WEIGHTS = 1024, 8, 1 << 19

# The jobs a layer's calls across images must make at least (point_split):
# one a thread.  At 4 (two a thread), N8 layers of one block of output
# channels never went across; at 2, one thread / two, ms: conv2d C64 8x8 k3
# s2 0.120 / 0.100 -> 0.105 / 0.071-0.077; each output phase of transposed
# layers (gemm._phase_points) N8 k6 s3 6x6 C128 -> 64 2.55 / 1.41-1.64 ->
# 2.25-2.37 / 1.24-1.49, k4 s2 4x4 C64 -> 64 0.353 / 0.32-0.34 -> 0.31 /
# 0.26-0.31; two blocks, k4 s2 4x4 C256 -> 128 1.37-1.42 / 0.81-1.01 ->
# 1.39-1.46 / 0.78-0.90; k3 s2 8x8 C128 -> 64 0.93-0.96 / 0.53-0.84 ->
# 0.96-0.97 / 0.54-0.58.
ACROSS_JOBS = 2


def point_offsets(dims, shift, taps):
    """``(a1, a2)``, ``(2, T)`` int64: tap ``t`` of output ``(i, j)`` reads
    ``x`` at row ``i * M1 + a1[t]`` and column ``j * M2 + a2[t]``, from
    :func:`run_bands`'s ``dims``, ``shift`` and ``taps``."""
    M1, M2, o1, o2 = dims[4], dims[5], dims[8], dims[9]
    return np.ascontiguousarray(np.stack(
        ((o1 - taps[:, 1]) * M1 + taps[:, 0] // M2 - shift[0],
         (o2 - taps[:, 2]) * M2 + taps[:, 0] % M2 - shift[1])), dtype=np.int64)


def padding_pays(dims, offsets, cout, itemsize):
    """The rows and columns of zeros ``((top, bottom), (left, right))`` to
    put around ``x`` so that every output's taps read inside it, when
    :func:`run_points` then takes less time (copy included); None
    otherwise.

    Its edge points go in calls of their own, each of ``P`` points (four
    or eight, :func:`point_block`) of which a small image leaves some
    unused (a 4x4 output has its first row and column at the edge: six
    calls of four for 16 points, against four when padded).
    A call is counted as its taps plus ``T`` (measured: an edge call costs
    more than its taps, most likely from the lines its samples, down a
    column, touch), the copy as ``x``'s bytes at four a cycle against
    sixteen multiply-adds a tap and channel; padding pays when the edges
    cost ``PAD_GAIN`` times as much.  N8, 3x3 stride 2, one thread,
    float32, ms with edges / padded (the copy included): C512 -> 512 7x7
    10.5 / 7.6, C256 4x4 1.10 / 0.90, 6x6 1.53 / 1.30, 12x12 4.72 / 3.77,
    k4 8x8 5.16 / 3.02; kept: 10x10 2.68 / 2.99, 14x14 4.89 / 5.26."""
    lanes, C, n1, n2, M1, M2, H, W = (int(v) for v in dims[:8])
    a1, a2 = offsets
    T = a1.shape[0]
    block = point_block(cout, itemsize)
    P = points_a_call(block, itemsize)
    lo1, lo2 = max(0, -int(a1.min())), max(0, -int(a2.min()))
    hi1 = max(0, (H - 1) * M1 + int(a1.max()) - n1 + 1)
    hi2 = max(0, (W - 1) * M2 + int(a2.max()) - n2 + 1)
    if lo1 == hi1 == lo2 == hi2 == 0:
        return None
    rows, cols = _taps_inside(dims, offsets)
    inner_cols = [j for j in range(W) if cols[j].all()]
    wi = len(inner_cols)
    edges = padded = 0
    for g0 in range(0, H, P):
        group = range(g0, min(g0 + P, H))
        inner = [i for i in group if rows[i].all()]
        total = len(inner) * wi
        edges += 2 * T * (-(-total // P) if wi >= P else len(inner) if wi else 0)
        edges += sum(-(-wi // P) * (int(rows[i].sum()) + T) for i in group if i not in inner)
        for j in range(W):
            if j in inner_cols:
                continue
            runs = len([i for i in group if i not in inner]) + (1 if inner else 0)
            edges += runs * T + sum(int((cols[j] & rows[i]).sum()) for i in group
                                    if i not in inner) + (int(cols[j].sum()) if inner else 0)
        padded += 2 * T * -(-len(group) * W // P)
    work = lanes * -(-cout // block) * C * 16
    copy = lanes * C * (n1 + lo1 + hi1) * (n2 + lo2 + hi2) * itemsize / 4
    if edges * work < PAD_GAIN * (padded * work + copy):
        return None
    return (lo1, hi1), (lo2, hi2)


PAD_GAIN = 1.2


@njit(cache=True, nogil=True)
def pad_planes(x, out, top, left, job0, job1):
    """``out[j]`` = plane ``j`` of ``x`` ``(planes, n1, n2)`` with ``top``
    rows and ``left`` columns of zeros before it and zeros after it, for
    the planes ``[job0, job1)`` (:func:`padding_pays`;
    :func:`.kernels.pad_plane`)."""
    n1, n2 = x.shape[1], x.shape[2]
    m1, m2 = out.shape[1], out.shape[2]
    xf, of = flat_view(x), flat_view(out)
    for j in range(job0, job1):
        pad_plane(xf, j * n1 * n2, n1, n2, of, j * m1 * m2, m1, m2, top, left)


def band_jobs(H, W, halo, depth, itemsize):
    """``(rpj, seg)`` of :func:`run_bands` for images of ``H x W`` outputs
    whose taps span ``halo = (rows, columns)`` block delays and read
    ``depth`` input rows (phases times channels): ``CHUNK`` columns a job at
    most, and a band of input of at most ``BAND_BYTES``."""
    rpj, seg, _ = row_jobs(H, W)
    per_row = depth * (min(seg, W) + halo[1]) * itemsize
    return max(1, min(rpj, H, BAND_BYTES // per_row - halo[0])), seg


# The band of input a job of run_bands splits and multiplies, at most (half
# the EPYC's L2).  One thread, interleaved with torch's calls, 256 KB ->
# 512 KB: N8 C64 48x48 k3 s3 2.90-2.92 -> 2.48-2.64 ms (fewer rows of halo
# split twice), k4 s4 5.5-5.7 -> 5.4, k2 s2 and k7 s2 within 2 %; 1 MB
# no better, 32-64 KB 1.1-1.6x slower (k2 s2 4.4 -> 5.4-6.2 ms).
BAND_BYTES = 1 << 19


def row_jobs(rows, W):
    """``(rpj, seg, njobs)`` of :func:`run_planes` for ``rows`` output rows of
    ``W`` columns: about ``CHUNK`` columns a job.  (Fewer columns for jobs
    whose input is large, at most 256 KB a job, measured no faster: N8 C64
    64x64 k4 s4, 1024 input rows an output, 7.19 against 7.14 ms.)"""
    if W >= CHUNK:
        rpj, seg = 1, CHUNK
    else:
        rpj, seg = CHUNK // W, W
    return rpj, seg, -(-rows // rpj) * -(-W // seg)


def n_jobs(columns):
    """Jobs of :func:`run_jobs` for ``columns`` columns."""
    return -(-columns // CHUNK)


def weights(W, taps, cin, rows=None):
    """``Wt`` for :func:`products` from a GEMM-path entry's ``W`` (one group,
    ``(1, R, T * C_in)``, columns in (tap, channel) order): ``(T, C_in,
    rows)``, the rows after ``R`` zero (``rows`` a multiple of ``NB``, ``R``
    by default)."""
    R = W.shape[1]
    Wt = np.zeros((taps, cin, R if rows is None else rows), W.dtype)
    Wt[:, :, :R] = W[0].reshape(R, taps, cin).transpose(1, 2, 0)
    return Wt

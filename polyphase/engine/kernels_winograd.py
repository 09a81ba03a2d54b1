"""numba transforms of the Winograd path (see :mod:`.winograd`): F(3, 2) and
F(2, 3) in 1-D, F(2x2, 2x2) and F(2x2, 3x3) in 2-D.

Tile ``t`` of a chunk is tile ``(lane, r1, r2)`` in row-major order over
``(lanes, nt1, nt2)`` (1-D: ``(lanes, nt2)``); its output blocks are
``(T*r2 + j)`` in 1-D (``T`` = 3 or 2 outputs a tile) and ``(2*r1 + i,
2*r2 + j)`` in 2-D.  The transforms
walk runs of tiles along a tile row: ~700 tiles in 1-D, where views made per
run are cheap and the loops over them vectorise; 16 to 33 for the 2-D layers
measured, where the loops index flat buffers with unsigned offsets instead
(views made per run cost ~20 ns each and took the output transform of a
64-channel transposed layer to 27 ms; a signed index LLVM cannot prove
non-negative compiles to a wraparound check per access).  The transforms
run serially: they alternate with the BLAS products chunk by chunk, and
numba's OpenMP threads, spinning after a parallel region, fought
OpenBLAS's threads for the two cores.

In 1-D the data transform is ``BT d = (d0 - d2, d1 + d2, d2 - d1, d3 - d1)``
and the output transform ``AT m = (m0 + m1 + m2, m1 - m2, m1 + m2 + m3)`` for
F(3, 2), ``(m0 + m1 + m2, m1 - m2 - m3)`` for F(2, 3).
"""

import numpy as np
from .inline_builtins import empty2, empty3, flat, imax, imin
from .jit import njit

from . import simd
from .kernels import split_columns
from .kernels2d import interleave_planes
from .winograd import AT, AT3


@njit(cache=True, nogil=True, inline="always")
def _run_of_tiles(t, end, nt1, nt2):
    """``lane, r1, r2, cnt``: tile ``t`` and how many tiles of its row follow
    it up to ``end`` (one run)."""
    lane = t // (nt1 * nt2)
    r1 = (t - lane * nt1 * nt2) // nt2
    r2 = t - lane * nt1 * nt2 - r1 * nt2
    return lane, r1, r2, imin(nt2 - r2, end - t)


@njit(cache=True, nogil=True, inline="always")
def transform_input1(x, off, jmin, M, nt, t0, n, v, cp):
    """``v[k, ch, t - t0] = (BT d)[k]`` for the ``n`` 4-sample tiles ``d`` of the
    chunk, channel ``ch``, of the signals ``x`` (lanes, C_in, n_x).

    Channel ``ch = iq * C_in + c`` is channel ``c`` of input phase ``iq``;
    ``d[a]`` of tile ``(lane, r)`` is ``x[lane, c, off[iq] + (T*r + a)*M]``
    (``T``: outputs a tile, 3 or 2), zero outside the signal.  The samples the
    chunk's tiles of each signal read are first split into their ``S = T*M``
    phases (``cp``: ``(images, S,
    W)``, in cache; ``jmin`` is the smallest ``(off[iq] + a*M) // S``), so that
    ``d[a]`` of a run of tiles is a unit-stride run of one phase and
    :func:`.simd.bt4` transforms a vector of tiles at once (the stride-3 loads
    of the tiles from phase streams took 1.7 ms for the 64-channel strided
    layer, N8 L4096 k4 float32).  ``v`` is C-contiguous.
    """
    lanes_, cin, nx = x.shape
    nq = off.shape[0]
    S = cp.shape[1]
    W = cp.shape[2]
    G = simd.lanes(x.dtype)
    xf, cpf, vf = flat(x), flat(cp), flat(v)
    plane, vrow = v.shape[1] * v.shape[2], v.shape[2]
    lane_a, lane_b = t0 // nt, (t0 + n - 1) // nt
    # d[a] of a lane's first tile in the chunk, from the start of its cp image
    coff = empty2(np.int64, nq, 4)
    jmax = jmin
    for iq in range(nq):
        for a in range(4):
            col = off[iq] + a * M
            coff[iq, a] = (col % S) * W + col // S - jmin
            jmax = imax(jmax, col // S)
    for c in range(cin):
        for lane in range(lane_a, lane_b + 1):
            ra = imax(t0, lane * nt) - lane * nt
            rb = imin(t0 + n, (lane + 1) * nt) - 1 - lane * nt
            # (np.int64: literal arguments would compile split_columns a second
            # time, apart from transform_input2's)
            split_columns(xf, (lane * cin + c) * nx, np.int64(1), nx, np.int64(0),
                           np.int64(1), np.int64(1), S, S * (ra + jmin),
                           imin(W, rb - ra + 1 + jmax - jmin), cpf, (lane - lane_a) * S * W,
                           S * W, W, c == 0)
        for iq in range(nq):
            c0, c1, c2, c3 = coff[iq, 0], coff[iq, 1], coff[iq, 2], coff[iq, 3]
            dbase = (iq * cin + c) * vrow - t0
            t = t0
            while t < t0 + n:
                lane, _, r, cnt = _run_of_tiles(t, t0 + n, 1, nt)
                ra = imax(t0, lane * nt) - lane * nt
                a0 = (lane - lane_a) * S * W + r - ra
                o = dbase + t
                i = 0
                while i + G <= cnt:
                    simd.bt4(cpf, a0 + i + c0, a0 + i + c1, a0 + i + c2, a0 + i + c3, vf,
                             o + i, plane)
                    i += G
                if i < cnt:                   # the rest: one masked vector
                    simd.bt4_part(cpf, a0 + i + c0, a0 + i + c1, a0 + i + c2, a0 + i + c3,
                                  vf, o + i, plane, cnt - i)
                t += cnt


@njit(cache=True, nogil=True, inline="always")
def transform_output1(m, R, n, phase0, L, crop, nb, nt, t0, out, T):
    """``out[lane, c, B*L + p - crop] = (AT m_r)[j]`` for the tiles of the chunk,
    ``B = T*r2 + j``: straight into the result (lanes, C_out, n), interleaved
    over the output phases, with no product buffer in between; ``T`` is 3
    (F(3, 2)) or 2 (F(2, 3)).

    ``m`` holds the four planes of products (rows, tiles; the first ``R``
    rows and ``n`` tiles are the chunk's).  Row ``r`` is output phase
    ``p = phase0 + r // C_out`` of channel ``c = r % C_out``; blocks at or past
    ``nb`` and samples outside ``out`` are dropped.
    """
    cout, nout = out.shape[1], out.shape[2]
    G = simd.lanes(out.dtype)
    mf, of = flat(m), flat(out)
    plane, mrow = m.shape[1] * m.shape[2], m.shape[2]
    for row in range(R):
        p = phase0 + row // cout
        c = row % cout
        shift = p - crop                                 # sample = B*L + shift
        # blocks whose samples lie inside the output
        blo = imax(0, -(shift // L))
        bhi = imin(nb, (nout - 1 - shift) // L + 1)
        t = t0
        while t < t0 + n:
            lane, _, r, cnt = _run_of_tiles(t, t0 + n, 1, nt)
            b0 = t - t0
            a0, a1 = m[0, row, b0:b0 + cnt], m[1, row, b0:b0 + cnt]    # zero-based views
            a2, a3 = m[2, row, b0:b0 + cnt], m[3, row, b0:b0 + cnt]
            dst = out[lane, c]
            # tiles whose T blocks are all kept
            lo = imin(imax(-(-blo // T) - r, 0), cnt)
            hi = imax(imin((bhi - T) // T + 1 - r, cnt), lo)
            for i in range(lo):
                _edge_out(a0[i], a1[i], a2[i], a3[i], T, T * (r + i), blo, bhi, L, shift, dst)
            if hi > lo:
                y = dst[T * (r + lo) * L + shift:]            # zero-based view
                k0 = 0
                if L == 1:
                    # a vector of tiles at a time, their outputs interleaved
                    # into whole vectors (0.8 -> 0.5 ms of the 64-channel
                    # strided conv1d's ~6)
                    src = row * mrow + b0 + lo
                    dst0 = ((lane * cout + c) * nout) + T * (r + lo) + shift
                    while k0 + G <= hi - lo:
                        if T == 3:
                            simd.at4(mf, src + k0, plane, of, dst0 + 3 * k0)
                        else:
                            simd.at4_2(mf, src + k0, plane, of, dst0 + 2 * k0)
                        k0 += G
                    if k0 < hi - lo:          # the rest: one masked vector
                        if T == 3:
                            simd.at4_part(mf, src + k0, plane, of, dst0 + 3 * k0,
                                          hi - lo - k0)
                        else:
                            simd.at4_2_part(mf, src + k0, plane, of, dst0 + 2 * k0,
                                            hi - lo - k0)
                        k0 = hi - lo
                for k in range(k0, hi - lo):            # (output phases L > 1)
                    y0, y1, y2 = _at1(a0[lo + k], a1[lo + k], a2[lo + k], a3[lo + k], T)
                    y[T * L * k] = y0
                    y[T * L * k + L] = y1
                    if T == 3:
                        y[T * L * k + 2 * L] = y2
            for i in range(hi, cnt):
                _edge_out(a0[i], a1[i], a2[i], a3[i], T, T * (r + i), blo, bhi, L, shift, dst)
            t += cnt


@njit(cache=True, nogil=True, inline="always")
def _at1(m0, m1, m2, m3, T):
    """``AT m`` of one tile: F(3, 2)'s three outputs (``T = 3``) or F(2, 3)'s
    two (and a zero)."""
    s12 = m1 + m2
    if T == 3:
        return m0 + s12, m1 - m2, s12 + m3
    return m0 + s12, m1 - m2 - m3, m0 - m0


@njit(cache=True, internal=True, nogil=True)
def _edge_out(m0, m1, m2, m3, T, B, blo, bhi, L, shift, dst):
    """The kept samples of one tile of :func:`transform_output1` (first block ``B``),
    cut by the window or the end of the blocks."""
    y0, y1, y2 = _at1(m0, m1, m2, m3, T)
    if blo <= B < bhi:
        dst[B * L + shift] = y0
    if blo <= B + 1 < bhi:
        dst[(B + 1) * L + shift] = y1
    if T == 3 and blo <= B + 2 < bhi:
        dst[(B + 2) * L + shift] = y2


@njit(cache=True, nogil=True, inline="always")
def transform_input2(x, off1, off2, margin, M1, M2, nt1, nt2, t0, n, v, cp):
    """``v[e, :, ch, t - t0] = BT d BT^T`` for the ``n`` ``A x A`` tiles ``d`` of
    the chunk, channel ``ch``, of the images ``x`` (lanes, C_in, n1, n2), for
    each entry ``e``; ``A`` is 3 (F(2x2, 2x2)) or 4 (F(2x2, 3x3)), as ``v``
    has 9 or 16 points.

    Channel ``ch = iq * C_in + c`` is channel ``c`` of input phase ``iq``;
    ``d[a, b]`` of tile ``(lane, r1, r2)`` of entry ``e`` is
    ``x[lane, c, off1[e, iq] + (2*r1 + a)*M1, off2[e, iq] + (2*r2 + b)*M2]``,
    zero outside the image.  For each channel, the rows the chunk's tiles
    read are first split into their ``S = 2*M2`` column phases (``cp``:
    ``(images, rows, S, W)``, ``margin`` zero columns first; a few tens of KB,
    in cache), once for all entries and phases: then ``d[., b]`` of a run of
    tiles along a tile row is a unit-stride run of one column phase, and
    :func:`.simd.bt3x3` (:func:`.simd.bt4x4`) transforms a vector of tiles at
    once.  ``v`` is C-contiguous.

    Measured on the 64-channel strided layer (N8, 64x64, k4, float32): 4.2
    ms with stride-2 reads from phase images, 3.9 ms with LLVM's vectorised
    loops over runs of 16 tiles (each entry of such a loop pays run-time
    alias checks of its 18 streams), ~2.5 ms with the explicit vectors.
    """
    lanes_, cin, n1, n2 = x.shape
    E, nq = off1.shape
    A = 4 if v.shape[1] == 16 else 3
    S = 2 * M2
    T = nt1 * nt2
    R, W = cp.shape[1], cp.shape[3]
    G = simd.lanes(x.dtype)
    xf, cpf, vf = flat(x), flat(cp), flat(v)
    plane, vrow = v.shape[2] * v.shape[3], v.shape[3]
    # (loops, not off1.min(): each numpy function is one more overload to
    # compile, 0.5 s of the first call for these two)
    o1min, o1max = off1[0, 0], off1[0, 0]
    for e in range(E):
        for iq in range(nq):
            o1min, o1max = imin(o1min, off1[e, iq]), imax(o1max, off1[e, iq])
    lane_a, lane_b = t0 // T, (t0 + n - 1) // T
    # d[., b] of tile r2 = 0 of each entry and phase, from the start of a cp row
    coff = empty3(np.int64, E, nq, 4)
    for e in range(E):
        for iq in range(nq):
            for b in range(A):
                col = off2[e, iq] + b * M2
                coff[e, iq, b] = (col % S) * W + margin + col // S
    step = M1 * S * W                       # from d[a, .] to d[a + 1, .]
    for c in range(cin):
        for lane in range(lane_a, lane_b + 1):
            ra = (imax(t0, lane * T) - lane * T) // nt2
            rb = (imin(t0 + n, (lane + 1) * T) - 1 - lane * T) // nt2
            row0 = o1min + 2 * M1 * ra
            split_columns(xf, (lane * cin + c) * n1 * n2, n1, n2, row0, np.int64(1),
                           o1max + (2 * rb + A - 1) * M1 - row0 + 1, S, -S * margin, W, cpf,
                           (lane - lane_a) * R * S * W, S * W, W, c == 0)
        for e in range(E):
            for iq in range(nq):
                c0, c1, c2, c3 = coff[e, iq, 0], coff[e, iq, 1], coff[e, iq, 2], coff[e, iq, 3]
                dbase = ((e * v.shape[1]) * v.shape[2] + iq * cin + c) * vrow - t0
                t = t0
                while t < t0 + n:
                    lane, r1, r2, cnt = _run_of_tiles(t, t0 + n, nt1, nt2)
                    ra = (imax(t0, lane * T) - lane * T) // nt2
                    # the cp row of d[0, .] of this run's first tile
                    i0 = off1[e, iq] + 2 * M1 * (r1 - ra) - o1min
                    a0 = ((lane - lane_a) * R + i0) * S * W + r2
                    o = dbase + t
                    i = 0
                    while i + G <= cnt:
                        if A == 3:
                            simd.bt3x3(cpf, a0 + i, a0 + step + i, a0 + 2 * step + i, c0, c1,
                                       c2, vf, o + i, plane)
                        else:
                            simd.bt4x4(cpf, a0 + i, a0 + step + i, a0 + 2 * step + i,
                                       a0 + 3 * step + i, c0, c1, c2, c3, vf, o + i, plane)
                        i += G
                    if i < cnt:
                        # the rest of the run: one masked vector (a tile at a
                        # time, rows of 8 tiles -- 32x32 images -- took 1.5 ms
                        # of the 64-channel strided layer's 4.0)
                        if A == 3:
                            simd.bt3x3_part(cpf, a0 + i, a0 + step + i, a0 + 2 * step + i, c0,
                                            c1, c2, vf, o + i, plane, cnt - i)
                        else:
                            simd.bt4x4_part(cpf, a0 + i, a0 + step + i, a0 + 2 * step + i,
                                            a0 + 3 * step + i, c0, c1, c2, c3, vf, o + i,
                                            plane, cnt - i)
                    t += cnt


# AT of F(2, 2) (3 points, a zero column added) and of F(2, 3) (4 points),
# for the tiles at the edges: the matrices of :mod:`.winograd`
_AT3 = np.pad(AT[2], ((0, 0), (0, 1))).astype(np.int64)
_AT4 = AT3.astype(np.int64)


@njit(cache=True, nogil=True, inline="always")
def _at2x2(m, row, b):
    """``AT M AT^T``, row-major, of tile ``b`` of ``row``: ``M[p] = m[p, row,
    b]`` is 3x3 (F(2x2, 2x2): the sums of its 2x2 windows) or 4x4 (F(2x2,
    3x3): ``AT = [[1, 1, 1, 0], [0, 1, -1, -1]]``).  Additions and
    subtractions only, as the vector transforms (no ``0 * inf``)."""
    A = 4 if m.shape[0] == 16 else 3
    AT = _AT4 if A == 4 else _AT3
    y00 = y01 = y10 = y11 = m[0, row, b] - m[0, row, b]
    for a in range(A):
        for c in range(A):
            v = m[a * A + c, row, b]
            y00 = _add(y00, v, AT[0, a] * AT[0, c])
            y01 = _add(y01, v, AT[0, a] * AT[1, c])
            y10 = _add(y10, v, AT[1, a] * AT[0, c])
            y11 = _add(y11, v, AT[1, a] * AT[1, c])
    return y00, y01, y10, y11


@njit(cache=True, nogil=True, inline="always")
def _add(y, v, w):
    """``y + w * v`` for ``w`` in -1, 0, 1, without multiplying."""
    if w == 1:
        return y + v
    if w == -1:
        return y - v
    return y


@njit(cache=True, nogil=True, inline="always")
def transform_output2(m, R, n, phase0, cout, planes, L1, L2, crop1, crop2, nb1, nb2,
                      nt1, nt2, t0, out):
    """``out[lane, c, B1*L1 + p1 - crop1, B2*L2 + p2 - crop2] = (AT M_r AT^T)[i, j]``
    for the tiles of the chunk, ``B = 2*r + (i, j)``: straight into the result
    (lanes, C_out, n1, n2), interleaved over the output phases.  ``M`` is
    3x3 or 4x4 as ``m`` has 9 or 16 planes.

    Row ``r`` of ``m`` is output phase ``p = phase0 + r // cout`` (row-major
    ``(p1, p2)`` over ``(L1, L2)``) of channel ``c = r % cout``; blocks at or
    past ``nb`` and samples outside ``out`` are dropped.  With ``planes``,
    ``out`` is ``(lanes, phases * C_out, nb1, nb2)`` instead and phase ``p`` of
    channel ``c`` goes to its plane ``p * cout + c``, block by block.
    """
    n1, n2 = out.shape[2], out.shape[3]
    P = R // cout
    A = 4 if m.shape[0] == 16 else 3
    G = simd.lanes(m.dtype)
    mf, of = flat(m), flat(out)
    plane = m.shape[1] * m.shape[2]
    for job in range(R):
        # the phases of a channel one after the other: they fill the same
        # rows of the output
        c = job // P
        row = (job - c * P) * cout + c
        p = phase0 + row // cout
        # sample = B*Lp + s; a phase plane holds its blocks one after the other
        s1, s2 = p // L2 - crop1, p % L2 - crop2
        Lp1, Lp2 = L1, L2
        if planes:
            s1, s2, c, Lp1, Lp2 = 0, 0, p * cout + c, 1, 1
        # blocks whose samples lie inside the output
        blo1, bhi1 = imax(0, -(s1 // Lp1)), imin(nb1, (n1 - 1 - s1) // Lp1 + 1)
        blo2, bhi2 = imax(0, -(s2 // Lp2)), imin(nb2, (n2 - 1 - s2) // Lp2 + 1)
        t = t0
        while t < t0 + n:
            lane, r1, r2, cnt = _run_of_tiles(t, t0 + n, nt1, nt2)
            B1 = 2 * r1
            top, bottom = blo1 <= B1 < bhi1, blo1 <= B1 + 1 < bhi1
            b0 = t - t0
            img = out[lane, c]
            # tiles whose two columns are both kept
            lo = imin(imax(-(-blo2 // 2) - r2, 0), cnt)
            hi = imax(imin((bhi2 - 2) // 2 + 1 - r2, cnt), lo)
            for i in range(lo):
                _edge_out2(m, row, b0 + i, B1, 2 * (r2 + i), blo1, bhi1, blo2, bhi2,
                           Lp1, Lp2, s1, s2, img)
            R0 = imax(B1 * Lp1 + s1, 0)
            R1 = imax((B1 + 1) * Lp1 + s1, 0)
            u0 = imax(2 * (r2 + lo) * Lp2 + s2, 0)
            # a vector of tiles at a time, both columns of each interleaved
            # (Lp1 = Lp2 = 1: a layer with several output phases writes
            # planes, one with a single phase writes its samples in a row)
            at = row * m.shape[2] + b0 + lo
            o0 = ((lane * out.shape[1] + c) * n1 + R0) * n2 + u0
            o1 = o0 + (R1 - R0) * n2
            k = 0
            while k + G <= hi - lo:
                if A == 3:
                    simd.at3x3(mf, at + k, plane, of, o0 + 2 * k, o1 + 2 * k, top, bottom)
                else:
                    simd.at4x4(mf, at + k, plane, of, o0 + 2 * k, o1 + 2 * k, top, bottom)
                k += G
            if k < hi - lo:
                if A == 3:
                    simd.at3x3_part(mf, at + k, plane, of, o0 + 2 * k, o1 + 2 * k, top,
                                    bottom, hi - lo - k)
                else:
                    simd.at4x4_part(mf, at + k, plane, of, o0 + 2 * k, o1 + 2 * k, top,
                                    bottom, hi - lo - k)
            for i in range(hi, cnt):
                _edge_out2(m, row, b0 + i, B1, 2 * (r2 + i), blo1, bhi1, blo2, bhi2,
                           Lp1, Lp2, s1, s2, img)
            t += cnt


@njit(cache=True, internal=True, nogil=True)
def _edge_out2(m, row, b, B1, B2, blo1, bhi1, blo2, bhi2, L1, L2, s1, s2, img):
    """The kept samples of one tile of :func:`transform_output2` (first block
    ``(B1, B2)``)."""
    y = _at2x2(m, row, b)
    for k in range(4):
        i, j = B1 + k // 2, B2 + k % 2
        if blo1 <= i < bhi1 and blo2 <= j < bhi2:
            img[i * L1 + s1, j * L2 + s2] = y[k]


@njit(cache=True, nogil=True, inline="always")
def products(UT, v, m, n, check, span):
    """``m[p, r, t] = sum_k U[p, r, k] * v[p, k, t]`` for the tiles ``t < n``,
    over the rows ``span[p, 0] <= k < span[p, 1]`` (the others' weights are
    zero, :func:`.winograd._spans`):
    the Winograd products of a chunk, from ``UT`` = ``U`` as ``(points, R /
    4, K, 4)``, C-contiguous (:func:`.winograd.blocked_rows`), and the
    scratch planes ``v`` (points, K', w) and ``m`` (points, R', w).  ``R`` is a multiple of 4; ``n`` below one
    vector of lanes takes a plain loop.

    Four output rows times four vectors of tiles stay in registers over all
    ``K`` (:func:`.simd.rows_fma4x4`; each loaded row of ``v`` serves four
    rows), the last block of tiles overlapping the one before it.  OpenBLAS
    on the same products, which packs ``v`` first, ran at 43.7 against 48.0
    GMAC/s here (points 9, R 64, K 256, 227 tiles, float32, one thread).
    """
    P, R4, K = UT.shape[0], UT.shape[1], UT.shape[2]
    R = 4 * R4
    G = simd.lanes(v.dtype)
    B = 4 * G
    vplane, vrow = v.shape[1] * v.shape[2], v.shape[2]
    mplane, mrow = m.shape[1] * m.shape[2], m.shape[2]
    uf, vf, mf = flat(UT), flat(v), flat(m)
    if n < G:
        # (fewer tiles than a vector)
        for p in range(P):
            for r in range(R):
                for t in range(n):
                    m[p, r, t] = 0
                for k in range(span[p, 0], span[p, 1]):
                    u = UT[p, r // 4, k, r % 4]
                    for t in range(n):
                        m[p, r, t] += u * v[p, k, t]
        return
    # a chunk narrower than a block (a small layer's, or a thread's part of
    # one) runs a vector of tiles at a time, the last one overlapping (a
    # plain loop took N4 C256 -> 128 8x8 k4 s2 transposed ~4x longer)
    W = B if n >= B else G
    for p in range(P):
        k0, nk = span[p, 0], span[p, 1] - span[p, 0]
        for r0 in range(0, R, 4):
            for t in range(0, n, W):
                t0 = imin(t, n - W)
                xo, do = p * vplane + k0 * vrow + t0, ((p * R4 + r0 // 4) * K + k0) * 4
                if W == B:
                    simd.rows_fma4x4(vf, xo, vrow, uf, do, 4, nk,
                                     mf, p * mplane + r0 * mrow + t0, mrow, check, False)
                else:
                    simd.rows_fma4x1(vf, xo, vrow, uf, do, 4, nk,
                                     mf, p * mplane + r0 * mrow + t0, mrow, check, False)


@njit(cache=True, nogil=True, internal=True)
def chunks2(x, off1, off2, margin, M1, M2, nt1, nt2, first, last, width, cp, v, UT, m,
            phases, cout, planes, L1, L2, crop1, crop2, nb1, nb2, out, check, spans):
    """The chunks of tiles ``[first, last)`` of a 2-D layer's entries that
    share their input phases (:func:`.winograd.run2`): :func:`transform_input2`,
    then per entry ``e`` :func:`products` with ``UT[e]`` and
    :func:`transform_output2` as output phase ``phases[e]``, in one call (~20
    us of Python dispatch a chunk otherwise: 0.25 ms of a 64-channel strided
    conv2d's ~10).  ``v`` and ``m`` are the scratch of a chunk of ``width``
    tiles."""
    E, P, R = UT.shape[0], UT.shape[1], 4 * UT.shape[2]
    for t0 in range(first, last, width):
        n = imin(width, last - t0)
        transform_input2(x, off1, off2, margin, M1, M2, nt1, nt2, t0, n, v, cp)
        for e in range(E):
            me = m[P * e:P * e + P]
            products(UT[e], v[e], me, n, check, spans[e])
            transform_output2(me, R, n, phases[e], cout, planes, L1, L2, crop1, crop2, nb1,
                              nb2, nt1, nt2, t0, out)


@njit(cache=True, nogil=True, internal=True)
def chunks1(x, off, jmin, M, nt, first, last, width, cp, v, UT, m, phase0, L, crop, nb, out,
            check, T, span):
    """The chunks of tiles ``[first, last)`` of one entry of a 1-D layer
    (:func:`.winograd.run1`): :func:`transform_input1`, :func:`products` and
    :func:`transform_output1` in one call (see :func:`chunks2`); ``v`` and
    ``m`` are the scratch of a chunk of ``width`` tiles; ``T`` outputs a tile."""
    R = 4 * UT.shape[1]
    for t0 in range(first, last, width):
        n = imin(width, last - t0)
        transform_input1(x, off, jmin, M, nt, t0, n, v, cp)
        products(UT, v, m, n, check, span)
        transform_output1(m, R, n, phase0, L, crop, nb, nt, t0, out, T)


@njit(cache=True, nogil=True, inline="always")
def _part(k, K, first, last, unit):
    """Tiles ``[a, b)`` of part ``k`` of ``K`` of the tiles ``[first,
    last)``, cut between units of ``unit`` tiles from ``first`` (blocks of
    64, as :func:`.winograd._tile_range`, or a lane's tiles)."""
    units = (last - first + unit - 1) // unit
    return (imin(last, first + units * k // K * unit),
            imin(last, first + units * (k + 1) // K * unit))


@njit(cache=True, nogil=True)
def parts2(x, off1, off2, margin, M1, M2, nt1, nt2, first, last, nparts, width, UT, cps, vs,
           ms, phases, cout, planes, L1, L2, crop1, crop2, nb1, nb2, target, check, spans,
           views, out, job0, job1):
    """Part ``job0`` of ``nparts`` of the tiles ``[first, last)`` of a 2-D
    layer's entries that share their input phases (:func:`chunks2`
    into ``target``), part ``k`` in scratch of its own: ``cps[k]``,
    ``vs[k]`` and ``ms[k]`` (:func:`.winograd.run2`).  ``planes`` 0: ``target`` is the
    result, the parts cut between blocks of 64 tiles; 1: ``target`` holds
    the output phases as planes (:func:`chunks2`), interleaved later; 2:
    as 1, the parts cut between lanes, each of which then interleaves its
    lanes' planes ``views`` (``target`` as
    :func:`.kernels2d.interleave_blocks` takes it) into ``out`` while they
    are in cache (``views`` and ``out`` None otherwise)."""
    T = nt1 * nt2
    # (one part a call: numba's threads get a group of one job each)
    k = job0
    a, b = _part(k, nparts, first, last, T if planes == 2 else 64)
    if a >= b:
        return
    chunks2(x, off1, off2, margin, M1, M2, nt1, nt2, a, b, width, cps[k], vs[k], UT, ms[k],
            phases, cout, planes != 0, L1, L2, crop1, crop2, nb1, nb2, target, check, spans)
    # (``views`` None where nothing is interleaved here: numba then prunes
    # the branch, and a strided layer's first call compiles no interleave)
    if views is not None:
        interleave_planes(views, crop1, crop2, out, a // T * cout, b // T * cout)


@njit(cache=True, nogil=True)
def parts1(x, off, jmin, M, nt, first, last, nparts, width, UT, cps, vs, ms, phase0, L, crop,
           nb, out, check, T, span, job0, job1):
    """Part ``job0`` of ``nparts`` of the tiles ``[first, last)`` of one
    entry of a 1-D layer (:func:`chunks1`), in scratch of its own (see
    :func:`parts2`)."""
    a, b = _part(job0, nparts, first, last, 64)
    if a < b:
        chunks1(x, off, jmin, M, nt, a, b, width, cps[job0], vs[job0, 0], UT, ms[job0], phase0,
                L, crop, nb, out, check, T, span)

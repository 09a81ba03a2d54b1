"""numba transforms of the Winograd path (see :mod:`.winograd`): F(3, 2) in
1-D, F(2x2, 2x2) in 2-D.

Tile ``t`` of a chunk is tile ``(lane, r1, r2)`` in row-major order over
``(lanes, nt1, nt2)`` (1-D: ``(lanes, nt2)``); its output blocks are
``(3*r2 + j)`` in 1-D and ``(2*r1 + i, 2*r2 + j)`` in 2-D.  The transforms
walk runs of tiles along a tile row (at most ``nt2`` tiles: 16 to 33 for the
2-D layers measured, ~700 in 1-D), so everything per run must be cheap: the views are made once per channel or
output row, and the run offsets are unsigned, so numba adds no
negative-index wraparound to the loads and stores (a signed index LLVM
cannot prove non-negative compiles to a check per access; views made per run
cost ~20 ns each and took the output transform of a 64-channel transposed
layer to 27 ms).  The transforms run serially: they alternate with the BLAS
products chunk by chunk, and numba's OpenMP threads, spinning after a
parallel region, fought OpenBLAS's threads for the two cores.

In 1-D the data transform is ``BT d = (d0 - d2, d1 + d2, d2 - d1, d3 - d1)``
and the output transform ``AT m = (m0 + m1 + m2, m1 - m2, m1 + m2 + m3)``.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _run_of_tiles(t, end, nt1, nt2):
    """``lane, r1, r2, cnt``: tile ``t`` and how many tiles of its row follow
    it up to ``end`` (one run)."""
    lane = t // (nt1 * nt2)
    r1 = (t - lane * nt1 * nt2) // nt2
    r2 = t - lane * nt1 * nt2 - r1 * nt2
    return lane, r1, r2, min(nt2 - r2, end - t)


@njit(cache=True, nogil=True)
def transform_input1(x, qs, off, M, nt, t0, v):
    """``v[:, ch, t - t0] = BT d`` for the 4-sample tiles ``d`` of channel ``ch``,
    read straight from the signal ``x`` (lanes, C_in, n).

    Channel ``ch = iq * C_in + c`` is channel ``c`` of input phase ``qs[iq]``;
    ``d[a]`` of tile ``(lane, r)`` is ``x[lane, c, off[iq] + (3*r + a)*M]``, zero
    outside the signal.  Reading ``x`` with stride ``M`` instead of first
    splitting it into phase streams saves a pass over the input and the
    zeroing of the streams (1.4 of 8.8 ms on the 64-channel 1-D layer).
    """
    cin, nx = x.shape[1], x.shape[2]
    n = v.shape[2]
    step = 3 * M
    for ch in range(qs.shape[0] * cin):
        iq = ch // cin
        c = ch - iq * cin
        o = off[iq]
        # tiles whose four samples are all inside the signal
        rr_lo = max(0, -(o // step))
        rr_hi = (nx - 1 - step - o) // step + 1
        v0, v1, v2, v3 = v[0, ch], v[1, ch], v[2, ch], v[3, ch]
        t = t0
        while t < t0 + n:
            lane, _, r, cnt = _run_of_tiles(t, t0 + n, 1, nt)
            src = x[lane, c]
            lo = min(max(rr_lo - r, 0), cnt)
            hi = max(min(rr_hi - r, cnt), lo)
            b0 = t - t0
            for i in range(lo):
                _edge_tile(src, o + (r + i) * step, M, v, ch, b0 + i)
            u0 = np.uint64(o + (r + lo) * step)
            m, st = np.uint64(M), np.uint64(step)
            for i in range(np.uint64(hi - lo)):
                u, b = u0 + st * i, np.uint64(b0 + lo) + i
                d0, d1, d2, d3 = src[u], src[u + m], src[u + 2 * m], src[u + 3 * m]
                v0[b], v1[b], v2[b], v3[b] = d0 - d2, d1 + d2, d2 - d1, d3 - d1
            for i in range(hi, cnt):
                _edge_tile(src, o + (r + i) * step, M, v, ch, b0 + i)
            t += cnt


@njit(cache=True, nogil=True)
def _edge_tile(src, start, M, v, ch, b):
    """One tile of :func:`transform_input1` that reaches past the signal."""
    n = src.shape[0]
    d0 = src[start] if 0 <= start < n else 0
    d1 = src[start + M] if 0 <= start + M < n else 0
    d2 = src[start + 2 * M] if 0 <= start + 2 * M < n else 0
    d3 = src[start + 3 * M] if 0 <= start + 3 * M < n else 0
    v[0, ch, b], v[1, ch, b], v[2, ch, b], v[3, ch, b] = d0 - d2, d1 + d2, d2 - d1, d3 - d1


@njit(cache=True, nogil=True)
def transform_output1(m, phase0, L, crop, nb, nt, t0, out):
    """``out[lane, c, B*L + p - crop] = (AT m_r)[j]`` for the tiles of the chunk,
    ``B = 3*r2 + j``: straight into the result (lanes, C_out, n), interleaved
    over the output phases, with no product buffer in between.

    Row ``r`` of ``m`` is output phase ``p = phase0 + r // C_out`` of channel
    ``c = r % C_out``; blocks at or past ``nb`` and samples outside ``out`` are
    dropped.
    """
    cout, nout = out.shape[1], out.shape[2]
    n = m.shape[2]
    for row in range(m.shape[1]):
        p = phase0 + row // cout
        c = row % cout
        # blocks whose sample B*L + p - crop lies inside the output
        blo = max(0, -((p - crop) // L))
        bhi = min(nb, (nout - 1 + crop - p) // L + 1)
        m0, m1, m2, m3 = m[0, row], m[1, row], m[2, row], m[3, row]
        t = t0
        while t < t0 + n:
            lane, _, r, cnt = _run_of_tiles(t, t0 + n, 1, nt)
            dst = out[lane, c]
            # tiles whose three blocks are all kept
            lo = min(max(-(-blo // 3) - r, 0), cnt)
            hi = max(min((bhi - 3) // 3 + 1 - r, cnt), lo)
            b0 = t - t0
            for i in range(lo):
                _edge_out(m, row, b0 + i, 3 * (r + i), blo, bhi, L, p - crop, dst)
            u0 = np.uint64(3 * (r + lo) * L + p - crop)
            ll, st = np.uint64(L), np.uint64(3 * L)
            for i in range(np.uint64(hi - lo)):
                u, b = u0 + st * i, np.uint64(b0 + lo) + i
                s12 = m1[b] + m2[b]
                dst[u] = m0[b] + s12
                dst[u + ll] = m1[b] - m2[b]
                dst[u + 2 * ll] = s12 + m3[b]
            for i in range(hi, cnt):
                _edge_out(m, row, b0 + i, 3 * (r + i), blo, bhi, L, p - crop, dst)
            t += cnt


@njit(cache=True, nogil=True)
def _edge_out(m, row, b, B, blo, bhi, L, shift, dst):
    """The kept blocks of one tile of :func:`transform_output1` (first block ``B``)."""
    m0, m1, m2, m3 = m[0, row, b], m[1, row, b], m[2, row, b], m[3, row, b]
    y0, y1, y2 = m0 + (m1 + m2), m1 - m2, (m1 + m2) + m3
    if blo <= B < bhi:
        dst[B * L + shift] = y0
    if blo <= B + 1 < bhi:
        dst[(B + 1) * L + shift] = y1
    if blo <= B + 2 < bhi:
        dst[(B + 2) * L + shift] = y2


@njit(cache=True, nogil=True)
def transform_input2(flat, qs, bases, S, st1, nt1, nt2, t0, v):
    """``v[:, ch, t - t0] = BT d BT^T`` for the 3x3 tiles ``d`` of channel ``ch``.

    Channel ``ch = iq * C_in + c`` is channel ``c`` of input phase ``qs[iq]``;
    tile ``d[a, b]`` of tile ``t`` is stream column
    ``bases[iq] + lane*S + (2*r1 + a)*st1 + 2*r2 + b`` (never negative).
    Along a row ``BT`` gives ``(d0 - d1, d1, d2 - d1)``; across rows the same.
    """
    cin = flat.shape[1]
    n = v.shape[2]
    two = np.uint64(2)
    for ch in range(qs.shape[0] * cin):
        iq = ch // cin
        src = flat[qs[iq], ch - iq * cin]
        v0, v1, v2 = v[0, ch], v[1, ch], v[2, ch]
        v3, v4, v5 = v[3, ch], v[4, ch], v[5, ch]
        v6, v7, v8 = v[6, ch], v[7, ch], v[8, ch]
        t = t0
        while t < t0 + n:
            lane, r1, r2, cnt = _run_of_tiles(t, t0 + n, nt1, nt2)
            p0 = np.uint64(bases[iq] + lane * S + 2 * r1 * st1 + 2 * r2)
            p1 = p0 + np.uint64(st1)
            p2 = p1 + np.uint64(st1)
            o = np.uint64(t - t0)
            for i in range(np.uint64(cnt)):
                a, b = p0 + two * i, o + i
                x00, x01, x02 = src[a], src[a + 1], src[a + 2]
                a = p1 + two * i
                x10, x11, x12 = src[a], src[a + 1], src[a + 2]
                a = p2 + two * i
                x20, x21, x22 = src[a], src[a + 1], src[a + 2]
                e00, e02 = x00 - x01, x02 - x01
                e10, e12 = x10 - x11, x12 - x11
                e20, e22 = x20 - x21, x22 - x21
                v0[b], v1[b], v2[b] = e00 - e10, x01 - x11, e02 - e12
                v3[b], v4[b], v5[b] = e10, x11, e12
                v6[b], v7[b], v8[b] = e20 - e10, x21 - x11, e22 - e12
            t += cnt


@njit(cache=True, nogil=True)
def transform_output2(m, S, st1, nt1, nt2, nb1, nb2, t0, rows):
    """``rows[r, col + i*st1 + j] = (AT M_r AT^T)[i, j]`` for the tiles of the chunk.

    ``col = lane*S + 2*r1*st1 + 2*r2`` is the tile's first output block (a
    column of the flat output grid); the far row and column of a tile are
    dropped where they pass ``nb1`` / ``nb2``.  ``AT M AT^T`` sums 2x2
    windows of the 3x3 ``M``.
    """
    n = m.shape[2]
    two = np.uint64(2)
    for r in range(m.shape[1]):
        dst = rows[r]
        m0, m1, m2 = m[0, r], m[1, r], m[2, r]
        m3, m4, m5 = m[3, r], m[4, r], m[5, r]
        m6, m7, m8 = m[6, r], m[7, r], m[8, r]
        t = t0
        while t < t0 + n:
            lane, r1, r2, cnt = _run_of_tiles(t, t0 + n, nt1, nt2)
            o = np.uint64(t - t0)
            col = np.uint64(lane * S + 2 * r1 * st1 + 2 * r2)
            low = col + np.uint64(st1)
            # tiles whose second column is inside (the last one of an odd row is not)
            full = np.uint64(min(cnt, (nb2 - 2 * r2) // 2))
            bottom = 2 * r1 + 1 < nb1
            for i in range(full):
                b, c = o + i, col + two * i
                s14 = m1[b] + m4[b]
                s47 = m4[b] + m7[b]
                dst[c] = (m0[b] + m3[b]) + s14
                dst[c + 1] = s14 + (m2[b] + m5[b])
                if bottom:
                    c = low + two * i
                    dst[c] = (m3[b] + m6[b]) + s47
                    dst[c + 1] = s47 + (m5[b] + m8[b])
            for i in range(full, np.uint64(cnt)):
                b = o + i
                dst[col + two * i] = (m0[b] + m1[b]) + (m3[b] + m4[b])
                if bottom:
                    dst[low + two * i] = (m3[b] + m4[b]) + (m6[b] + m7[b])
            t += cnt

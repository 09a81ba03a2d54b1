"""numba transforms of the Winograd F(2x2, 2x2) path (see :mod:`.winograd`).

Tile ``t`` of a chunk is tile ``(lane, r1, r2)`` in row-major order over
``(lanes, nt1, nt2)``; its output blocks are ``(2*r1 + i, 2*r2 + j)``.  Both
transforms walk runs of tiles along a tile row (at most ``nt2`` tiles: 16 to
33 for the layers measured), so everything per run must be cheap: the views
are made once per channel or output row, and the run offsets are unsigned, so
numba adds no negative-index wraparound to the loads and stores (a signed
index LLVM cannot prove non-negative compiles to a check per access; views
made per run cost ~20 ns each and took the output transform of a 64-channel
transposed layer to 27 ms).  The transforms run serially: they alternate with
the BLAS products chunk by chunk, and numba's OpenMP threads, spinning after a
parallel region, fought OpenBLAS's threads for the two cores.
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
def transform_input(flat, qs, bases, S, st1, nt1, nt2, t0, v):
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
def transform_output(m, S, st1, nt1, nt2, nb1, nb2, t0, rows):
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

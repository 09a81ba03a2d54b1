"""numba transforms of the Winograd F(2x2, 2x2) path (see :mod:`.winograd`).

Tile ``t`` of a chunk is tile ``(lane, r1, r2)`` in row-major order over
``(lanes, nt1, nt2)``; its output blocks are ``(2*r1 + i, 2*r2 + j)``.  Both
transforms walk runs of tiles along a tile row, so the reads (input) and
writes (output) go along a stream row, and every store goes through a
zero-based view (an index LLVM cannot prove non-negative gets a wraparound
check that stops vectorisation).  ``prange`` runs over channels (input) and
output rows (output): independent outputs.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _row(dst, xa, nu, cnt):
    """``dst[i] = (BT d)[nu]`` along a tile row ``xa`` (3 samples a tile, step 2)."""
    if nu == 0:
        for i in range(cnt):
            dst[i] = xa[2 * i] - xa[2 * i + 1]
    elif nu == 1:
        for i in range(cnt):
            dst[i] = xa[2 * i + 1]
    else:
        for i in range(cnt):
            dst[i] = xa[2 * i + 2] - xa[2 * i + 1]


@njit(cache=True, nogil=True, inline="always")
def _row_diff(dst, xa, xb, nu, cnt):
    """``dst[i] = (BT d)[nu]`` of row ``xa`` minus that of row ``xb``."""
    if nu == 0:
        for i in range(cnt):
            dst[i] = (xa[2 * i] - xa[2 * i + 1]) - (xb[2 * i] - xb[2 * i + 1])
    elif nu == 1:
        for i in range(cnt):
            dst[i] = xa[2 * i + 1] - xb[2 * i + 1]
    else:
        for i in range(cnt):
            dst[i] = (xa[2 * i + 2] - xa[2 * i + 1]) - (xb[2 * i + 2] - xb[2 * i + 1])


@njit(cache=True, nogil=True, parallel=True)
def transform_input(flat, qs, bases, S, st1, nt1, nt2, t0, v):
    """``v[:, ch, t - t0] = BT d BT^T`` for the 3x3 tiles ``d`` of channel ``ch``.

    Channel ``ch = iq * C_in + c`` is channel ``c`` of input phase ``qs[iq]``;
    tile ``d[a, b]`` of tile ``t`` is stream column
    ``bases[iq] + lane*S + (2*r1 + a)*st1 + 2*r2 + b``.  One loop per output
    plane, each reading at most two rows: with more arrays in one loop LLVM
    needs more runtime alias checks than it allows and leaves the loop scalar
    (measured 20 ns per tile and channel).
    """
    cin = flat.shape[1]
    n = v.shape[2]
    per = nt1 * nt2
    for ch in prange(qs.shape[0] * cin):
        iq = ch // cin
        src = flat[qs[iq], ch - iq * cin]
        t = t0
        while t < t0 + n:
            lane = t // per
            r1 = (t - lane * per) // nt2
            r2 = t - lane * per - r1 * nt2
            cnt = min(nt2 - r2, t0 + n - t)
            p0 = bases[iq] + lane * S + 2 * r1 * st1 + 2 * r2
            x0 = src[p0:p0 + 2 * cnt + 1]
            x1 = src[p0 + st1:p0 + st1 + 2 * cnt + 1]
            x2 = src[p0 + 2 * st1:p0 + 2 * st1 + 2 * cnt + 1]
            o = t - t0
            for nu in range(3):
                # across the rows: (row0 - row1, row1, row2 - row1)
                _row_diff(v[nu, ch, o:o + cnt], x0, x1, nu, cnt)
                _row(v[3 + nu, ch, o:o + cnt], x1, nu, cnt)
                _row_diff(v[6 + nu, ch, o:o + cnt], x2, x1, nu, cnt)
            t += cnt


@njit(cache=True, nogil=True, inline="always")
def _scatter(orow, vals, first, step, cnt):
    """``orow[first + i*step] = vals[i]`` for the ``i < cnt`` that land inside ``orow``."""
    n2 = orow.shape[0]
    i0 = 0 if first >= 0 else (-first + step - 1) // step
    i1 = min(cnt, (n2 - first + step - 1) // step) if n2 > first else 0
    if i0 < i1:
        dst = orow[first + i0 * step:]                 # zero-based view
        for i in range(i1 - i0):
            dst[i * step] = vals[i0 + i]


@njit(cache=True, nogil=True, parallel=True)
def transform_output(m, S, st1, nt1, nt2, t0, phase0, L1, L2, s1, s2, out):
    """Output tiles ``AT M AT^T`` of the chunk, written straight into ``out``.

    Row ``r`` of ``m`` is output channel ``r % C_out`` of output phase
    ``phase0 + r // C_out`` (row-major over ``(L1, L2)``); output block
    ``(b1, b2)`` of phase ``(p1, p2)`` is sample ``(b1*L1 + p1 - s1,
    b2*L2 + p2 - s2)`` of ``out`` (lanes, C_out, n1, n2), and samples outside
    ``out`` are dropped.  Writing the final layout here saves the product
    buffer and the interleaving pass over it.  Each tile row is summed into
    two scratch rows (vectorised) and then stored with stride ``2*L2``.
    """
    cout, n1 = out.shape[1], out.shape[2]
    n = m.shape[2]
    per = nt1 * nt2
    for r in prange(m.shape[1]):
        phase = phase0 + r // cout
        co = r - (r // cout) * cout
        p1 = phase // L2
        p2 = phase - p1 * L2
        y0 = np.empty(nt2, dtype=m.dtype)
        y1 = np.empty(nt2, dtype=m.dtype)
        t = t0
        while t < t0 + n:
            lane = t // per
            r1 = (t - lane * per) // nt2
            r2 = t - lane * per - r1 * nt2
            cnt = min(nt2 - r2, t0 + n - t)
            o = t - t0
            m0, m1, m2 = m[0, r, o:o + cnt], m[1, r, o:o + cnt], m[2, r, o:o + cnt]
            m3, m4, m5 = m[3, r, o:o + cnt], m[4, r, o:o + cnt], m[5, r, o:o + cnt]
            m6, m7, m8 = m[6, r, o:o + cnt], m[7, r, o:o + cnt], m[8, r, o:o + cnt]
            first = 2 * r2 * L2 + p2 - s2
            row = 2 * r1 * L1 + p1 - s1
            if 0 <= row < n1:
                for i in range(cnt):
                    y0[i] = (m0[i] + m1[i]) + (m3[i] + m4[i])
                    y1[i] = (m1[i] + m2[i]) + (m4[i] + m5[i])
                orow = out[lane, co, row]
                _scatter(orow, y0, first, 2 * L2, cnt)
                _scatter(orow, y1, first + L2, 2 * L2, cnt)
            if 0 <= row + L1 < n1:
                for i in range(cnt):
                    y0[i] = (m3[i] + m4[i]) + (m6[i] + m7[i])
                    y1[i] = (m4[i] + m5[i]) + (m7[i] + m8[i])
                orow = out[lane, co, row + L1]
                _scatter(orow, y0, first, 2 * L2, cnt)
                _scatter(orow, y1, first + L2, 2 * L2, cnt)
            t += cnt

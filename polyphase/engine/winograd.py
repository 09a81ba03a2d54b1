"""Winograd F(2x2, 2x2) for channel-mixing 2-D phases whose taps are 2x2 boxes.

After the polyphase split, a stride-2 convolution with a 4x4 kernel is, for
each output phase, a sum over input phases ``q`` of *stride-1* 2x2
correlations -- for the transposed layer (one input phase, four output
phases) as for the strided one (four input phases, one output phase).  A 2x2
correlation of a 3x3 input tile giving a 2x2 output tile takes 9
multiplications by Winograd's minimal filtering instead of 16, and with
channels every multiplication is a ``C_out x C_in`` matrix product: 9 BLAS
products per tile batch instead of 16 (1.78x fewer multiply-adds).

With the points {0, 1, inf} every transform has coefficients 0 and +-1
(``y0 = (d0 - d1) g0 + d1 (g0 + g1)``, ``y1 = d1 (g0 + g1) + (d2 - d1) g1``),
so the rounding error is that of a few extra additions, the same order as
the direct sum.  In one dimension::

    V = BT d,  U = G g,  y = AT (U * V)
    BT = [[1, -1, 0], [0, 1, 0], [0, -1, 1]]
    G  = [[1, 0], [1, 1], [0, 1]]
    AT = [[1, 1, 0], [0, 1, 1]]

and in two, ``V = BT d BT^T``, ``U = G g G^T``, ``y = AT M AT^T``.
"""

from __future__ import annotations

import numpy as np

# Only worth it when the products are large enough for BLAS to run near peak:
# below this many input channels (times input phases) and output rows the
# transforms cost more than the multiply-adds they save.
MIN_CHANNELS = 16

# Bytes of transformed input per tile chunk (kept in cache between the
# transform and the BLAS products).
CHUNK_BYTES = 1 << 22

_G = np.array([[1, 0], [1, 1], [0, 1]])


def plan(taps, W, cin):
    """Winograd form of one GEMM-path phase entry, or ``None``.

    ``taps`` is ``(T, 3)``: input phase ``q`` and delays ``(k1, k2)``; ``W`` is
    ``(1, R, T * C_in)`` (one channel group).  Applies when the taps of each
    input phase are exactly a full 2x2 box of delays.  Returns ``(qs, kmin, U)``:
    the input phases, each box's smallest delays ``(k1, k2)`` and the
    transformed weights ``U`` of shape ``(9, R, n_q * C_in)``.
    """
    if W.shape[0] != 1 or taps.shape[1] != 3:
        return None
    qs = np.unique(taps[:, 0])
    R = W.shape[1]
    if qs.size * cin < MIN_CHANNELS or R < MIN_CHANNELS:
        return None
    We = W[0].reshape(R, taps.shape[0], cin)
    kmin = np.zeros((qs.size, 2), dtype=np.int64)
    g = np.zeros((2, 2, R, qs.size, cin), dtype=W.dtype)
    for iq, q in enumerate(qs):
        sel = np.flatnonzero(taps[:, 0] == q)
        k = taps[sel, 1:]
        lo = k.min(axis=0)
        if sel.size != 4 or (k.max(axis=0) - lo != 1).any() or \
                np.unique(k, axis=0).shape[0] != 4:
            return None
        kmin[iq] = lo
        for t, (k1, k2) in zip(sel, k):
            # tap (k1, k2) reads the tile at offset (1 - (k1 - lo1), 1 - (k2 - lo2))
            g[1 - (k1 - lo[0]), 1 - (k2 - lo[1]), :, iq] = We[:, t]
    g = g.reshape(2, 2, R, qs.size * cin)
    U = np.einsum("xu,yv,uvrc->xyrc", _G, _G, g).reshape(9, R, qs.size * cin)
    return qs, kmin, np.ascontiguousarray(U.astype(W.dtype))


def run(flat, plans, front_g_lo, strides, lanes, S, nblocks, rows):
    """All output phases through the Winograd form, into the product ``rows``.

    ``flat`` are the flat phase streams ``(M, C_in, F)``; output block
    ``(lane, b1, b2)`` sits at flat-grid column ``col = lane*S + b1*st1 + b2``
    and a tap with delays ``(k1, k2)`` reads stream column
    ``front_g_lo + col - k1*st1 - k2``.  ``plans`` holds one :func:`plan` per
    entry of the GEMM plan: one for all phases (stacked) or one per phase.
    ``rows`` is the GEMM path's product ``(phases, C_out, ncols)``.  The
    streams must hold one more row and column of blocks than the direct form
    reads (the far row and column of the last tiles of odd sizes).
    """
    from . import kernels_winograd as kw
    from .scratch import scratch

    st1 = strides[0]
    nt1, nt2 = -(-nblocks[0] // 2), -(-nblocks[1] // 2)
    ntiles = lanes * nt1 * nt2
    for entry, (qs, kmin, U) in enumerate(plans):
        # stream column of each tile's corner d[0, 0] (delay kmin + 1 on both axes)
        bases = (front_g_lo - (kmin[:, 0] + 1) * st1 - (kmin[:, 1] + 1)).astype(np.int64)
        cz, R = U.shape[2], U.shape[1]
        out_rows = rows.reshape(-1, rows.shape[-1]) if len(plans) == 1 else rows[entry]
        width = max(64, min(ntiles, CHUNK_BYTES // (9 * max(cz, R) * flat.itemsize)))
        V = scratch("winograd-v", (9, cz, width), flat.dtype)
        Mt = scratch("winograd-m", (9, R, width), flat.dtype)
        qs64 = qs.astype(np.int64)
        for t0 in range(0, ntiles, width):
            n = min(width, ntiles - t0)
            v, m = V[:, :, :n], Mt[:, :, :n]
            kw.transform_input(flat, qs64, bases, S, st1, nt1, nt2, t0, v)
            np.matmul(U, v, out=m)
            kw.transform_output(m, S, st1, nt1, nt2, nblocks[0], nblocks[1], t0, out_rows)

"""The channel-mixing and N-D path: one matrix product per polyphase tap.

Taps are grouped by (output phase, input phase, block delay); each group is a
``C_out x C_in`` weight matrix applied to a shifted window of one input phase
stream with one BLAS call (``np.tensordot``), batch and blocks folded into the
columns.  Only the output blocks that meet the requested window are computed.
"""

from __future__ import annotations

from math import prod

import numpy as np

from ..system import _flat


def _phase_streams(x, downs, pre):
    """``(prod(M), C, lanes, *blocks)`` phase streams of ``x`` (lanes, C, *n).

    ``pre[a]`` zeros are prepended along axis ``a`` so that column 0 starts a
    block; the end is zero-padded to whole blocks.
    """
    lanes, cin = x.shape[:2]
    d = len(downs)
    pads = [(0, 0), (0, 0)]
    blocks = []
    for a, (M, p0) in enumerate(zip(downs, pre)):
        n = x.shape[2 + a] + p0
        nb = -(-n // M)
        blocks.append(nb)
        pads.append((p0, nb * M - n))
    xp = np.pad(x, pads)
    shape = [lanes, cin]
    for nb, M in zip(blocks, downs):
        shape += [nb, M]
    xp = xp.reshape(shape)
    # (lanes, C, B1, M1, ..., Bd, Md) -> (M1..Md, C, lanes, B1..Bd)
    order = [3 + 2 * a for a in range(d)] + [1, 0] + [2 + 2 * a for a in range(d)]
    return xp.transpose(order).reshape((prod(downs), cin, lanes) + tuple(blocks))


def run_gemm(pm, x, dtype, in_origin, starts, lengths):
    """See :func:`polyphase.engine.run`.

    A channel-agnostic ``pm`` must get one channel (the caller folds channels
    into lanes).
    """
    d = pm.ndim
    lanes, cin = x.shape[:2]
    cout = 1 if pm.channels is None else pm.channels[0]
    ups, downs = pm.ups, pm.downs
    origin_block = [o // M for o, M in zip(in_origin, downs)]
    pre = [o - b * M for o, b, M in zip(in_origin, origin_block, downs)]
    xq = _phase_streams(x.astype(dtype, copy=False), downs, pre)
    in_blocks = xq.shape[3:]
    first = [s // L for s, L in zip(starts, ups)]
    nblocks = [(s + n - 1) // L - f + 1 for s, n, L, f in zip(starts, lengths, ups, first)]
    y = np.zeros((prod(ups), cout, lanes) + tuple(nblocks), dtype=dtype)

    # group taps by (row phase, column phase, delay); weights per group
    rows = _flat(pm.p, ups)
    cols = _flat(pm.q, downs)
    keys = np.column_stack([rows, cols, pm.k])
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    weights = np.zeros((groups.shape[0], cout, cin), dtype=dtype)
    np.add.at(weights, (inverse, pm.o, pm.i), pm.c.astype(dtype))

    for g, (r, q, *k) in enumerate(groups):
        out_sl, in_sl = [], []
        for a in range(d):
            kk = k[a] + origin_block[a]
            lo = max(first[a], kk)
            hi = min(first[a] + nblocks[a], in_blocks[a] + kk)
            if lo >= hi:
                break
            out_sl.append(slice(lo - first[a], hi - first[a]))
            in_sl.append(slice(lo - kk, hi - kk))
        else:
            src = xq[(q, slice(None), slice(None)) + tuple(in_sl)]
            y[(r, slice(None), slice(None)) + tuple(out_sl)] += np.tensordot(
                weights[g], src, axes=([1], [0]))

    # interleave: (L1..Ld, C, lanes, b1..bd) -> (lanes, C, b1, L1, ..., bd, Ld)
    y = y.reshape(tuple(ups) + (cout, lanes) + tuple(nblocks))
    order = [d + 1, d] + [x for a in range(d) for x in (d + 2 + a, a)]
    y = y.transpose(order).reshape((lanes, cout) + tuple(
        nb * L for nb, L in zip(nblocks, ups)))
    crop = tuple(slice(s - f * L, s - f * L + n)
                 for s, f, L, n in zip(starts, first, ups, lengths))
    return np.ascontiguousarray(y[(slice(None), slice(None)) + crop])

"""The channel-mixing and N-D path: one matrix product per output phase.

For output phase ``p`` the taps are ``(input phase q, block delay k, C_out x C_in
weight)``.  Stacking the shifted input phase streams of all ``T`` taps along the
channel axis (im2col over taps) turns the phase into one BLAS product

    Y_p (C_out, lanes * blocks) = W_p (C_out, T * C_in) @ X_p (T * C_in, lanes * blocks)

which keeps BLAS at its best (one large product instead of ``T`` small ones)
and writes each output sample once.  The input streams are zero-padded by the
largest delays, so every tap reads a full window; only the output blocks that
meet the requested window are computed.  The plan (taps and stacked weights per
phase) is cached on the polyphase matrix.
"""

from __future__ import annotations

from math import prod

import numpy as np

from ..system import _flat


def _phase_streams(x, downs, pre, pad_lo=None, pad_hi=None):
    """``(prod(M), C, lanes, *blocks)`` phase streams of ``x`` (lanes, C, *n).

    ``pre[a]`` zeros are prepended along axis ``a`` so that column 0 starts a
    block, the end is zero-padded to whole blocks, and ``pad_lo[a]`` /
    ``pad_hi[a]`` whole zero blocks are added before / after.
    """
    lanes, cin = x.shape[:2]
    d = len(downs)
    pad_lo = pad_lo or (0,) * d
    pad_hi = pad_hi or (0,) * d
    pads = [(0, 0), (0, 0)]
    blocks = []
    for a, (M, p0) in enumerate(zip(downs, pre)):
        n = x.shape[2 + a] + p0
        nb = -(-n // M)
        blocks.append(nb + pad_lo[a] + pad_hi[a])
        pads.append((p0 + pad_lo[a] * M, (nb + pad_hi[a]) * M - n))
    xp = np.pad(x, pads)
    shape = [lanes, cin]
    for nb, M in zip(blocks, downs):
        shape += [nb, M]
    xp = xp.reshape(shape)
    # (lanes, C, B1, M1, ..., Bd, Md) -> (M1..Md, C, lanes, B1..Bd)
    order = [3 + 2 * a for a in range(d)] + [1, 0] + [2 + 2 * a for a in range(d)]
    return xp.transpose(order).reshape((prod(downs), cin, lanes) + tuple(blocks))


def channel_groups(pm) -> int:
    """Largest ``G`` such that output block ``g`` only reads input block ``g``.

    Grouped and depthwise convolutions are block diagonal over channels; a
    dense ``C_out x C_in`` product would multiply the zero blocks.
    """
    cout, cin = pm.channels or (1, 1)
    g0 = np.gcd(cout, cin)
    for g in range(g0, 1, -1):
        if g0 % g == 0 and np.array_equal(pm.o // (cout // g), pm.i // (cin // g)):
            return g
    return 1


def _plan(pm, dtype):
    """Channel groups ``G`` and, per output phase, the taps ``(q, k)`` and ``W_p``.

    ``W_p`` has shape ``(G, C_out/G, T * C_in/G)``: one batched product per
    phase, with no zero block of a grouped convolution.  When every output
    phase reads the same taps (a transposed convolution whose kernel size is a
    multiple of the stride), the phases are stacked into one entry of
    ``prod(L) * C_out/G`` rows: one larger BLAS product runs closer to peak
    than ``prod(L)`` small ones, and no zero weight is added.
    """
    key = ("gemm", np.dtype(dtype).str)
    cache = pm.__dict__.setdefault("_plans", {})
    if key in cache:
        return cache[key]
    cout, cin = pm.channels or (1, 1)
    G = channel_groups(pm)
    diag = np.arange(G)
    rows = _flat(pm.p, pm.ups)
    cols = _flat(pm.q, pm.downs)
    plan = []
    # one int64 key per (input phase, delay) tap position
    kmin = pm.k.min(axis=0) if pm.nnz else np.zeros(pm.ndim, dtype=np.int64)
    spans = (pm.k.max(axis=0) - kmin + 1) if pm.nnz else np.ones(pm.ndim, dtype=np.int64)
    tap_key = cols.astype(np.int64)
    for a in range(pm.ndim):
        tap_key = tap_key * spans[a] + (pm.k[:, a] - kmin[a])
    for r in range(prod(pm.ups)):
        sel = rows == r
        keys, first, tap_of = np.unique(tap_key[sel], return_index=True,
                                        return_inverse=True)
        taps = np.column_stack([cols[sel][first], pm.k[sel][first]])
        W = np.zeros((cout, keys.size, cin), dtype=dtype)
        W[pm.o[sel], tap_of.reshape(-1), pm.i[sel]] = pm.c[sel].astype(dtype)
        W = W.reshape(G, cout // G, keys.size, G, cin // G)[diag, :, :, diag, :]
        plan.append((taps, W.reshape(G, cout // G, -1)))
    if len(plan) > 1 and all(np.array_equal(t, plan[0][0]) for t, _ in plan):
        plan = [(plan[0][0], np.concatenate([W for _, W in plan], axis=1))]
    cache[key] = (G, plan)
    return G, plan


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
    first = [s // L for s, L in zip(starts, ups)]
    nblocks = [(s + n - 1) // L - f + 1 for s, n, L, f in zip(starts, lengths, ups, first)]
    # Input block j of stream column c is block c - pad_lo + origin_block; pad
    # so that output blocks [first, first + nblocks) read inside for every k.
    kmin, kmax = pm.k.min(axis=0), pm.k.max(axis=0)
    n_in = [-(-(n + p0) // M) for n, p0, M in zip(x.shape[2:], pre, downs)]
    pad_lo = [max(0, int(kmax[a]) + origin_block[a] - first[a]) for a in range(d)]
    pad_hi = [max(0, first[a] + nblocks[a] - int(kmin[a]) - origin_block[a] - n_in[a])
              for a in range(d)]
    xq = _phase_streams(x.astype(dtype, copy=False), downs, pre, pad_lo, pad_hi)

    y = np.empty((prod(ups), cout, lanes) + tuple(nblocks), dtype=dtype)
    G, plan = _plan(pm, dtype)
    # (the loop may replace y by the one product that holds every phase)
    for r, (taps, W) in enumerate(plan):
        if taps.shape[0] == 0:                   # a structurally zero phase
            y[r] = 0
            continue
        stack = np.empty((taps.shape[0], cin, lanes) + tuple(nblocks), dtype=dtype)
        for t, (q, *k) in enumerate(taps):
            # output block b reads stream column b - k - origin_block + pad_lo
            sl = tuple(slice(f - kk - ob + pl, f - kk - ob + pl + nb) for f, kk, ob, pl, nb
                       in zip(first, k, origin_block, pad_lo, nblocks))
            stack[t] = xq[(q, slice(None), slice(None)) + sl]
        # (T, C_in, cols) -> (G, T * C_in/G, cols): a copy only when G > 1
        cols = stack.reshape(taps.shape[0], G, cin // G, -1).transpose(1, 0, 2, 3)
        product = np.matmul(W, cols.reshape(G, W.shape[2], -1))
        if len(plan) == 1:                        # all phases at once (or only one)
            # rows of group g are (phase, C_out/G): put the phase first
            product = product.reshape(G, prod(ups), cout // G, -1).transpose(1, 0, 2, 3)
            y = product.reshape(y.shape)
        else:
            y[r] = product.reshape((cout, lanes) + tuple(nblocks))

    crop = [s - f * L for s, f, L in zip(starts, first, ups)]
    if d == 2:
        from .kernels2d import interleave_blocks
        out = np.empty((lanes, cout) + tuple(lengths), dtype=dtype)
        interleave_blocks(y.reshape(tuple(ups) + (cout, lanes) + tuple(nblocks)),
                          np.int64(crop[0]), np.int64(crop[1]), out)
        return out

    # interleave: (L1..Ld, C, lanes, b1..bd) -> (lanes, C, b1, L1, ..., bd, Ld)
    y = y.reshape(tuple(ups) + (cout, lanes) + tuple(nblocks))
    order = [d + 1, d] + [x for a in range(d) for x in (d + 2 + a, a)]
    y = y.transpose(order).reshape((lanes, cout) + tuple(
        nb * L for nb, L in zip(nblocks, ups)))
    window = tuple(slice(c, c + n) for c, n in zip(crop, lengths))
    return np.ascontiguousarray(y[(slice(None), slice(None)) + window])

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

    # Flatten each stream over (lanes, *blocks).  A tap with delay k then reads
    # the flat stream shifted by one offset, so its rows of the stacked GEMM
    # input are contiguous copies; the product is computed on the flat grid
    # (a few junk columns where a shift wraps around a row) and the output
    # blocks are read off it with strides.
    P = xq.shape[3:]
    S = prod(P)
    strides = [prod(P[a + 1:]) for a in range(d)]
    base = [f - ob + pl for f, ob, pl in zip(first, origin_block, pad_lo)]
    g_lo = sum(b * st for b, st in zip(base, strides))
    g_hi = (lanes - 1) * S + sum((b + nb - 1) * st
                                 for b, nb, st in zip(base, nblocks, strides)) + 1
    ncols = g_hi - g_lo
    offsets = pm.k @ np.array(strides, dtype=np.int64)
    front = max(0, int(offsets.max()) - g_lo)
    back = max(0, g_hi - int(offsets.min()) - lanes * S)
    flat = xq.reshape(xq.shape[0], cin, lanes * S)
    if front or back:
        flat = np.pad(flat, ((0, 0), (0, 0), (front, back)))
    itemsize = np.dtype(dtype).itemsize
    grid_shape = (lanes,) + tuple(nblocks)
    grid_strides = tuple(v * itemsize for v in [S] + strides)

    y = np.empty((prod(ups), cout, lanes) + tuple(nblocks), dtype=dtype)
    G, plan = _plan(pm, dtype)
    for r, (taps, W) in enumerate(plan):
        if taps.shape[0] == 0:                   # a structurally zero phase
            y[r] = 0
            continue
        stack = np.empty((taps.shape[0], cin, ncols), dtype=dtype)
        for t, (q, *k) in enumerate(taps):
            start = front + g_lo - sum(kk * st for kk, st in zip(k, strides))
            stack[t] = flat[q, :, start:start + ncols]
        # (T, C_in, cols) -> (G, T * C_in/G, cols): a copy only when G > 1
        cols = stack.reshape(taps.shape[0], G, cin // G, ncols).transpose(1, 0, 2, 3)
        product = np.matmul(W, cols.reshape(G, W.shape[2], ncols))
        # rows of group g are (phase, C_out/G) when all phases share the taps
        phases = prod(ups) if len(plan) == 1 else 1
        product = product.reshape(G, phases, cout // G, ncols).transpose(1, 0, 2, 3)
        product = np.ascontiguousarray(product).reshape(phases, cout, ncols)
        blocks = np.lib.stride_tricks.as_strided(
            product, shape=(phases, cout) + grid_shape,
            strides=product.strides[:2] + grid_strides, writeable=False)
        if len(plan) == 1:
            y[:] = blocks
        else:
            y[r] = blocks[0]

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

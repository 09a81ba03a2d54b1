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

from .._lazy import submodule
from ..system import _flat
from .scratch import result, scratch


def stream_blocks(n, downs, pre, pad_lo=None, pad_hi=None):
    """Blocks per axis of the phase streams of a signal of shape ``n``.

    ``pre[a]`` zeros are prepended along axis ``a`` so that sample 0 sits at
    phase ``pre[a]`` of a block, the end is zero-padded to whole blocks, and
    ``pad_lo[a]`` / ``pad_hi[a]`` whole zero blocks are added before / after.
    """
    d = len(downs)
    pad_lo = pad_lo or (0,) * d
    pad_hi = pad_hi or (0,) * d
    return tuple(-(-(na + p0) // M) + lo + hi
                 for na, M, p0, lo, hi in zip(n, downs, pre, pad_lo, pad_hi))


def fill_phase_streams(x, downs, pre, pad_lo, dest):
    """Scatter ``x`` (lanes, C, *n) into phase streams ``dest``.

    ``dest`` has axes ``(prod(M), C, lanes, *blocks)`` (any strides) and is
    zero where no sample of ``x`` lands: stream ``m`` (row-major over the
    per-axis phases) holds ``x[..., B*M + m - pre - pad_lo*M]`` at block ``B``.
    One strided copy per phase, straight from ``x``: no padded intermediate and
    no transposed copy of it.
    """
    d = len(downs)
    xt = x.swapaxes(0, 1)                       # (C, lanes, *n), a view
    for m, phase in enumerate(np.ndindex(*downs)):
        src, dst = [slice(None)] * 2, [m, slice(None), slice(None)]
        for a in range(d):
            M, n = downs[a], x.shape[2 + a]
            shift = pre[a] + pad_lo[a] * M - phase[a]     # x index = B*M - shift
            b0 = max(0, -(-shift // M))
            j0 = b0 * M - shift
            count = max(0, -(-(n - j0) // M))
            src.append(slice(j0, j0 + (count - 1) * M + 1, M) if count else slice(0, 0))
            dst.append(slice(b0, b0 + count))
        dest[tuple(dst)] = xt[tuple(src)]


def _phase_streams(x, downs, pre, pad_lo, flat, front, P):
    """:func:`fill_phase_streams` for 1-D and 2-D signals, zeros included, by
    the numba kernel (:func:`.kernels2d.phase_streams`): the streams from
    element ``front`` of each row of ``flat`` ``(Q, C, L)``, blocks ``P``."""
    shift = [p + lo * M for p, lo, M in zip(pre, pad_lo, downs)]
    lanes, cin = x.shape[:2]
    n = x.shape[2:]
    if len(downs) == 1:
        n, P, downs, shift = (1,) + n, (1,) + tuple(P), (1,) + tuple(downs), [0] + shift
    Q, C, L = flat.shape
    dims = np.array((lanes, cin) + tuple(n) + tuple(P), dtype=np.int64)
    at = np.array((front, C * L, L, prod(P)), dtype=np.int64)
    k2 = submodule("polyphase.engine.kernels2d")
    _run_kernel(k2.phase_streams,
                (np.ascontiguousarray(x).reshape(-1), dims, np.int64(shift[0]),
                 np.int64(shift[1]), np.int64(downs[0]), np.int64(downs[1]),
                 flat.reshape(-1), at), cin * lanes * downs[0], x.size, 1)


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


def _delays(pm):
    """The distinct block delays ``k`` of ``pm``'s taps (cached: a layer has
    ``C_out * C_in`` taps per delay, and reducing over them on every call cost
    ~2 ms for a 64x64x4x4 layer)."""
    cache = pm.__dict__.setdefault("_plans", {})
    if "delays" not in cache:
        cache["delays"] = np.unique(pm.k, axis=0)
    return cache["delays"]


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


# Bytes of stacked GEMM input per column chunk: the chunk is written and read
# back by BLAS while it is still in cache (the whole stack of a 64-channel
# layer is ~35 MB, larger than L3).  Measured on N8 C64 64x64 k4: 48 GMAC/s on
# cache-sized chunks against 38 on the whole stack.
CHUNK_BYTES = 1 << 22


def run_gemm(pm, x, dtype, in_origin, starts, lengths, algorithm="auto"):
    """See :func:`polyphase.engine.run`.

    A channel-agnostic ``pm`` must get one channel (the caller folds channels
    into lanes).  ``algorithm`` is ``"im2col"`` (one product per phase over
    stacked taps), ``"winograd"`` (F(3, 2) in 1-D, F(2x2, 2x2) in 2-D, see
    :mod:`.winograd`) or
    ``"auto"``: Winograd for the phases it applies to.
    """
    d = pm.ndim
    lanes, cin = x.shape[:2]
    cout = 1 if pm.channels is None else pm.channels[0]
    ups, downs = pm.ups, pm.downs
    origin_block, pre, first, nblocks = _blocks(pm, in_origin, starts, lengths)
    G, plan = _plan(pm, dtype)
    if algorithm == "auto":
        out = _pointwise(pm, x, dtype, in_origin, starts, lengths, G, plan)
        if out is not None:
            return out
        # the points, the output phases on them, or Winograd (straight from
        # x into the result: no phase streams, no product)
        route = layer_route(pm, x.shape, dtype, in_origin, starts, lengths)
        if route is not None:
            return run_layer_route(route, x)
    elif algorithm == "winograd":
        fast = _winograd_plans(pm, dtype, plan, cin)
        if not fast:
            raise ValueError("algorithm='winograd' needs 1-D or 2-D phases whose taps lie "
                             "in boxes of 2 or 3 delays per axis")
        return run_winograd_route(_winograd_call(pm, fast, lanes, in_origin, starts, lengths),
                                  x)
    pad_lo, P = _stream_grid(pm, x.shape[2:], (origin_block, pre, first, nblocks))
    delays = _delays(pm)
    # (the direct kernel writes whole blocks of rows: a phase's C_out rows
    # may get spare ones, which the view below leaves out)
    direct = _direct_applies(pm, dtype, algorithm, G, plan)
    if _bands_apply(pm, dtype, direct, plan, lengths, P):
        # no output phases to interleave: straight into the output, from x
        return _direct_bands(pm, x, dtype, plan[0], origin_block, pre, first, lengths)

    # Each stream is flat over (lanes, *blocks).  A tap with delay k then reads
    # the flat stream shifted by one offset, so its rows of the stacked GEMM
    # input are contiguous copies; the product is computed on the flat grid
    # (a few junk columns where a shift wraps around a row) and the output
    # blocks are read off it with strides.
    S = prod(P)
    strides = [prod(P[a + 1:]) for a in range(d)]
    base = [f - ob + pl for f, ob, pl in zip(first, origin_block, pad_lo)]
    g_lo = sum(b * st for b, st in zip(base, strides))
    g_hi = (lanes - 1) * S + sum((b + nb - 1) * st
                                 for b, nb, st in zip(base, nblocks, strides)) + 1
    ncols = g_hi - g_lo
    offsets = delays @ np.array(strides, dtype=np.int64)
    front = max(0, int(offsets.max()) - g_lo)
    back = max(0, g_hi - int(offsets.min()) - lanes * S)
    # (+ _DIRECT_PAD: the direct kernel computes whole vectors of columns)
    flat = scratch("flat", (prod(downs), cin, front + lanes * S + back + _DIRECT_PAD),
                   dtype)
    streams = flat[:, :, front:front + lanes * S].reshape((prod(downs), cin, lanes) + P)
    if d <= 2:
        # (every sample of the streams written, zeros included)
        flat[:, :, :front] = 0
        flat[:, :, front + lanes * S:] = 0
        _phase_streams(x.astype(dtype, copy=False), downs, pre, pad_lo, flat, front, P)
    else:
        flat.fill(0)
        fill_phase_streams(x.astype(dtype, copy=False), downs, pre, pad_lo, streams)

    crop = [s - f * L for s, f, L in zip(starts, first, ups)]
    if _phases_apply(pm, dtype, algorithm, G, lengths, P):
        return _direct_phases(pm, dtype, plan, flat, front + g_lo, S, strides, crop, lanes,
                              lengths)

    # (scratch only for d <= 2, whose interleave copies it into a new array;
    # for d >= 3 the reshape below may return a view of it)
    width = -(-ncols // _DIRECT_PAD) * _DIRECT_PAD if direct else ncols
    crows = direct or cout
    product = scratch("product", (prod(ups), crows, width), dtype) if d <= 2 else \
        np.empty((prod(ups), crows, width), dtype=dtype)
    for r, (taps, W) in enumerate(plan):
        # rows of group g are (phase, C_out/G) when all phases share the taps
        rows = product if len(plan) == 1 else product[r:r + 1]
        if taps.shape[0] == 0:                   # a structurally zero phase
            rows[...] = 0
            continue
        starts_t = _tap_starts(taps, front + g_lo, strides)
        if direct:
            _direct_products(pm, dtype, r, flat, taps, starts_t, W, rows)
        else:
            _stacked_products(flat, taps[:, 0], starts_t, W, G, rows, ncols)

    # the output blocks as a strided view of the product (no copy)
    itemsize = np.dtype(dtype).itemsize
    grid_strides = tuple(v * itemsize for v in [S] + strides)
    y = np.lib.stride_tricks.as_strided(
        product, shape=tuple(ups) + (cout, lanes) + tuple(nblocks),
        strides=tuple(product.strides[0] * prod(ups[a + 1:]) for a in range(d))
        + (product.strides[1],) + grid_strides)
    if d <= 2:
        # (on numba's threads after the direct kernel's products, which ran
        # there: a 64-channel transposed layer's, N8 16x16 k3 s2, two
        # threads, took 0.35 ms of 1.5 on one)
        return _interleaved(y, crop, lengths, bool(direct))

    # interleave: (L1..Ld, C, lanes, b1..bd) -> (lanes, C, b1, L1, ..., bd, Ld)
    order = [d + 1, d] + [x for a in range(d) for x in (d + 2 + a, a)]
    y = y.transpose(order).reshape((lanes, cout) + tuple(
        nb * L for nb, L in zip(nblocks, ups)))
    window = tuple(slice(c, c + n) for c, n in zip(crop, lengths))
    return np.ascontiguousarray(y[(slice(None), slice(None)) + window])


def _interleaved(y, crop, lengths, threads):
    """The output window of a 1-D or 2-D layer from its phases' blocks ``y``
    ``(L1, [L2,] C, lanes, b1[, b2])`` (any strides), its first sample
    ``crop`` samples into block 0, in a new array; on numba's threads
    (``threads``) or on this one (:func:`.kernels2d.interleave_jobs`)."""
    d = len(lengths)
    cout, lanes = y.shape[d:d + 2]
    out = result((lanes, cout) + tuple(lengths), y.dtype)
    if d == 1:      # a 2-D problem of one block row
        y, out, crop = y[None, :, :, :, None], out[:, :, None], [0] + list(crop)
    engine = submodule("polyphase.engine")
    engine._jobs(submodule("polyphase.engine.kernels2d").interleave_jobs,
                 (y, np.int64(crop[0]), np.int64(crop[1]), out), lanes * cout,
                 engine._parallel(out.size, 1) if threads else 0, by_address=False)
    return out[:, :, 0] if d == 1 else out


# Columns of slack after the flat streams and in the product rows: the direct
# kernel computes whole blocks of two vectors of columns (32 float32).
_DIRECT_PAD = 32
_DIRECT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _direct_applies(pm, dtype, algorithm, G, plan):
    """The rows per output phase the direct kernel writes when the stacked
    products run on it instead of BLAS (:func:`_direct_rows`), else 0.

    Measured against im2col + OpenBLAS, interleaved, one thread, on the EPYC
    with the kernel's first form (one vector of columns, SLP-vectorised
    scalar code): 1.09-1.46x faster on stride-1 and transposed layers (3x3
    and 5x5, 32-64 channels, 1-D and 2-D) and on a 3-channel 7x7 stride-2
    stem (1.38x), but 0.91-0.97x on strided 64-channel layers (k3 and k5,
    stride 2), which then kept im2col.  With two threads its column chunks
    run in parallel groups (:func:`_direct_products`), against im2col and
    OpenBLAS on both cores (one process, interleaved): 1.2-2.1x faster (N8
    C64 -> 64 32x32 k3: 4.4 against 5.6 ms; C64 -> 3 64x64 k4 s2
    transposed: 7.7 against 16.1; 3-channel stems 1.3-1.6x).  (A ``prange``
    version measured before did not scale, 9.7 against 10.2 ms, most likely
    from the reference counts its jobs took on the shared arrays, which
    :func:`.groups.run` does not take.)

    On the Xeon that form reached 27-32 GMAC/s on the grid; with explicit
    512-bit vectors, two per row (:func:`.simd.rows_fma_taps8x2`), 50-68
    (old and new code in alternating processes).  Whole layers against
    torch in one process: transposed C64 -> 64 32x32 k3 s2 1.14 -> 1.84x,
    C64 -> 3 64x64 k4 s2 0.79-0.86 -> 1.11x, the 3-channel stems 0.45-0.48
    -> 0.62-0.66x.  Strided 64-channel layers the Winograd route does not
    take now run here too: N8 C64 -> 64 32x32 k7 s2 10.2 against 14.9 ms
    by im2col, 48x48 k3 s3 3.96 against 4.19, 32 channels 64x64 k4 s4 3.36
    against 3.90.
    """
    if algorithm != "auto" or G != 1 or np.dtype(dtype) not in _DIRECT_DTYPES:
        return 0
    return _direct_rows(plan, 1 if pm.channels is None else pm.channels[0]) or 0


def _direct_rows(plan, cout):
    """Rows per output phase of the product the direct kernel writes (blocks
    of ``NB``), or None when it cannot: ``cout``, or when each plan entry is
    one phase's ``cout`` rows, ``cout`` rounded up to whole blocks (zero
    weights in the spare rows).  A decoder's last layer (N8, C64 -> 3,
    64x64, k4 s2) took 19.5 ms by im2col and BLAS products of three rows,
    where torch took 13."""
    NB = submodule("polyphase.engine.kernels_direct").NB
    if all(W.shape[1] % NB == 0 for _, W in plan):
        return cout
    if all(W.shape[1] == cout for _, W in plan):
        return -(-cout // NB) * NB
    return None


def _stream_grid(pm, n, blocks):
    """``(pad_lo, P)``: the whole zero blocks the phase streams of a signal of
    shape ``n`` get before its first block per axis, so that the output
    blocks of the window (``blocks``, :func:`_blocks`) read inside for every
    tap, and the streams' blocks per axis (their grid) with those and the
    ones after."""
    pad_lo, pad_hi = _stream_pads(pm, n, blocks)
    return pad_lo, stream_blocks(n, pm.downs, blocks[1], pad_lo, pad_hi)


def _stream_pads(pm, n, blocks):
    """``(pad_lo, pad_hi)``: the whole zero blocks before and after the
    blocks of a signal of shape ``n`` (``blocks``: :func:`_blocks`) that the
    output blocks of the window read, per axis (:func:`_stream_grid`)."""
    origin_block, pre, first, nblocks = blocks
    # Input block j of stream column c is block c - pad_lo + origin_block; pad
    # so that output blocks [first, first + nblocks) read inside for every k.
    kmin, kmax = _delay_bounds(pm)
    n_in = stream_blocks(n, pm.downs, pre)
    pad_lo = [max(0, kmax[a] + origin_block[a] - first[a]) for a in range(pm.ndim)]
    pad_hi = [max(0, first[a] + nblocks[a] - kmin[a] - origin_block[a] - n_in[a])
              for a in range(pm.ndim)]
    return pad_lo, pad_hi


def _delay_bounds(pm):
    """The least and the greatest block delay per axis of ``pm``'s taps, as
    tuples of ints (cached: numpy's reductions were ~3 us of each call)."""
    cache = pm.__dict__.setdefault("_plans", {})
    if "delay bounds" not in cache:
        delays = _delays(pm)
        cache["delay bounds"] = (tuple(int(v) for v in delays.min(axis=0)),
                                 tuple(int(v) for v in delays.max(axis=0)))
    return cache["delay bounds"]


def _bands_apply(pm, dtype, direct, plan, lengths, P):
    """Whether a layer that does not upsample runs on :func:`_direct_bands`
    (the phase streams' grid ``P`` blocks a row): one plan entry whose
    output channels the direct kernel's rows hold (``direct``:
    :func:`_direct_applies`), rows that fill its vectors
    (:func:`_rows_pay`)."""
    cout = 1 if pm.channels is None else pm.channels[0]
    return pm.ndim <= 2 and len(plan) == 1 and all(L == 1 for L in pm.ups) \
        and direct == cout and _rows_pay(lengths[-1], P[-1], dtype)


def _direct_first(pm, dtype, G, plan, shape, in_origin, starts, lengths):
    """Whether a layer that the Winograd route takes runs on a direct kernel
    instead -- a transposed layer on :func:`_direct_phases`, a strided 2-D
    one on :func:`_direct_bands` -- where that kernel applies
    (:func:`_phases_apply`, :func:`_bands_apply`) and the multiply-adds
    Winograd saves per output pixel (all output channels,
    :func:`_winograd_counts`) are fewer than ``WINOGRAD_TRANSFORMS[d]``
    times the input and output channels, which its transforms read and
    write: on few channels the transforms cost more than the products they
    save.  (Not 1-D strided layers, whose F(3, 2) beat the bands on 16-32
    channels: C16 4096 samples k4 s2 0.45 / 0.50 ms, C32 1.52 / 1.67, k3 s2
    1.25 / 1.39.)  Strided, ms Winograd / bands: C16 -> 16 32x32 k3 s2 0.33
    / 0.25 (torch 0.17) (22), 64x64 0.75 / 0.74 (22), C64 -> 16 2.89 / 2.82
    (36), k5 s2 32x32 0.53 / 0.46 (26); kept: k4 s2 C16 -> 16 64x64 0.89 /
    1.03 (56), C16 -> 32 1.28 / 1.69 (75).

    Measured, one thread, float32, ms Winograd / phases (in brackets the
    saving over ``C_in + C_out``), N8 unless said: 2-D k4 s2 32x32 C16 ->
    16 1.06 / 0.83 (14), C32 -> 32 3.18 / 2.85 (28), C16 -> 64 4.23 /
    3.29 (22), C64 -> 16 3.09 / 2.93 (22), but 64x64 11.6 / 12.5, C32 ->
    64 6.18 / 5.85 (37), C64 -> 32 5.34 / 5.70 (37), C48 -> 48 5.70 / 6.46
    (42), C64 -> 64 9.8 / 11.3 (56); N4 40x40 k6 s3 C32 -> 16 4.6 / 3.4 (19), C64 -> 16 7.5 / 6.6
    (22), C16 -> 32 6.9 / 4.5 (19); C64 -> 64 32x32 32.2 / 38.5 (56); k5
    s2 C16 -> 16 1.59 / 1.16 (26), C32 -> 32 4.42 / 4.33 (51); k6 s2 C16
    -> 16 1.40 / 1.56 (40).  1-D k4 s2 (F(3, 2)) C16 -> 16 4096 samples
    1.91 / 1.00 (5), C32 -> 32 2048 2.50 / 1.64 (11), C64 -> 32 3.98 /
    3.36 (14), C16 -> 64 7.20 / 4.18 (9), C64 -> 16 4.92 / 3.96 (9), C64
    -> 64 4096 13.8 / 13.9 (21), C128 -> 64 1024 6.12 / 6.83 (28); k6 s3
    C32 -> 32 3.93 / 2.91 (11), C64 -> 64 11.4 / 11.9 (21).
    """
    strided = all(L == 1 for L in pm.ups)
    if strided != any(M != 1 for M in pm.downs) or strided and pm.ndim != 2:
        return False                    # (stride-1 and rational layers, 1-D strided)
    cin, cout = shape[0], 1 if pm.channels is None else pm.channels[0]
    taps, products = _winograd_counts(pm, dtype, plan, cin)
    if (taps - products) * cout >= WINOGRAD_TRANSFORMS[pm.ndim] * (cin + cout):
        return False
    P = _stream_grid(pm, shape[1:], _blocks(pm, in_origin, starts, lengths))[1]
    if strided:
        return _bands_apply(pm, dtype, _direct_applies(pm, dtype, "auto", G, plan), plan,
                            lengths, P)
    return _phases_apply(pm, dtype, "auto", G, lengths, P)


# (see _direct_first)
WINOGRAD_TRANSFORMS = {1: 20, 2: 36}


def _winograd_counts(pm, dtype, plan, cin):
    """``(taps, products)``: the multiply-adds per output of ``pm``'s GEMM
    ``plan`` and of its Winograd route, or None where that route does not
    apply (cached on ``pm``: worked out at each call it was ~5 us of a
    layer's Python)."""
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("winograd counts", np.dtype(dtype).str)
    if key not in cache:
        fast = _winograd_plans(pm, dtype, plan, cin)
        counts = None
        if fast is not None:
            tile = submodule("polyphase.engine.winograd").tile(pm.ndim, fast.box) ** pm.ndim
            # (an entry's rows are its outputs per sample of its tiles)
            rows = np.array([W.shape[1] for _, W in plan], dtype=float)
            taps = np.array([t.shape[0] * cin for t, _ in plan], dtype=float)
            products = np.diff(fast.spans, axis=-1).sum(axis=(1, 2)) / tile
            counts = (float(rows @ taps / rows.sum()), float(rows @ products / rows.sum()))
        cache[key] = counts
    return cache[key]


def _phases_apply(pm, dtype, algorithm, G, lengths, P):
    """Whether a layer that upsamples by 2 to 4 along its last axis (1-D or
    2-D, real, one channel group) runs on :func:`_direct_phases`, its output
    phases interleaved in registers: when a vector of the phase streams'
    grid (``P`` its blocks a row) spans at most two of its rows
    (:func:`.kernels_direct.phases_pay`).

    Against the product on the grid and its interleave (N8, C64 -> 64,
    k3 s2, float32, ms, one thread / two threads, the benchmarks' runner):
    16x16 2.14 / 2.0 -> 1.72 / 1.03 (torch 2.0 / 1.1), 32x32 8.2 -> 6.8;
    C64 -> 3 64x64 k4 s2 9.5 -> 6.5; conv_transpose1d 1024 k3 s2 2.66 ->
    2.35; rows of 8 blocks (a vector's calls on over a row's end) C64 8x8
    0.76 -> 0.60, 20x20 3.30 -> 2.89, C128 -> 64 8x8 1.27 -> 1.11."""
    L2 = pm.ups[-1]
    return algorithm == "auto" and G == 1 and np.dtype(dtype) in _DIRECT_DTYPES and \
        pm.ndim <= 2 and 2 <= L2 <= 4 and submodule(
            "polyphase.engine.kernels_direct").phases_pay(P[-1], L2, np.dtype(dtype).itemsize)


def _rows_pay(width, pitch, dtype):
    """Whether output rows of ``width`` are written straight by the direct
    kernel (:func:`.kernels_direct.run_bands`, ``run_planes``) rather than
    through the product on the grid, whose rows are ``pitch`` columns apart,
    and an interleave: its vectors a row (the last one masked) must use at
    least 0.85 of the share of columns the grid uses.  (Rows of 8 float32 would fill half of
    their vector: N8 C256 -> 64 8x8 1x1, one thread, 0.35 ms against 0.22
    by np.matmul.)"""
    G = 64 // np.dtype(dtype).itemsize
    return width / (-(-width // G) * G) >= 0.85 * width / pitch


def _points_apply(pm, dtype, G, plan, cin, lengths):
    """Whether a strided 2-D layer (or a 1-D one on a short signal) runs on
    :func:`.kernels_direct.run_points`
    (vectors over output channels, in blocks of ``4 * G``, reading ``x`` in
    place): when the blocks' spare channels, which it computes and drops,
    are at most a quarter of them, and each output sums at least
    ``POINT_TAPS`` products over at least ``POINT_CHANNELS`` input channels;
    of the layers the Winograd route takes, those whose Winograd products
    per output are at least ``WINOGRAD_SHARE[0]`` of the taps, or
    ``WINOGRAD_SHARE[1]`` on images of at most ``WINOGRAD_SMALL`` outputs
    times blocks of output channels (fewer by twice the share of the
    blocks' spare channels), on blocks of one vector, or with at least
    ``WINOGRAD_WIDE`` input times output channels, and
    all of them on images of at most ``WINOGRAD_TINY`` outputs, and those
    of one block of output channels whose share is at least
    ``WINOGRAD_SHARE[2]`` on images of at most ``POINT_FEW``.  On images
    of at most ``POINT_FEW`` outputs the block's spare channels and the
    products an output sums do not count.

    Measured against the other routes, one thread, float32, interleaved
    with torch (N8, 64 -> 64 channels unless said):

    * ``k = stride``, which the bands' split cost most: 64x64 k2 s2 4.4 ->
      3.7 ms, k4 s4 6.3 -> 3.2, 48x48 k3 s3 3.0 -> 1.7, 68x68 k4 s4 (rows
      of 17 outputs, the grid product) 8.7 -> 4.0; 16 channels 32x32 k4
      s4 0.44 -> 0.23;
    * against Winograd: k4 s3 (products 0.77 of the taps) 48x48 3.7 -> 2.8
      ms, 96x96 12.9 -> 11.6, 192x192 (N2) 12.4 -> 11.8; k5 s4 (0.81)
      32x32 2.6 -> 1.15, 256x256 (N2) 28.2 -> 23.5; k3 s2 (0.69) 16x16 0.71
      -> 0.44, 32x32 1.82 -> 1.52, 40x40 2.62 -> 2.43, 48x48 3.39 against
      3.19, 64x64 6.65 against 6.90, 128x128 (N2) 5.65 against 5.81, 256
      channels 14x14 8.1 -> 5.8, 64 -> 128 channels 16x16 0.97 -> 0.84,
      24x24 1.92 -> 1.66, 32x32 2.82 against 3.02, 128 -> 128 32x32 5.43
      against 6.12, 128 -> 64 32x32 3.32 -> 2.90, 32 -> 64 32x32 0.96 ->
      0.82: where the outputs times the blocks of channels are at most 400
      (one loss of 6 %, 48x48); k4 s2 (0.56) 16x16 0.78 against 0.75,
      32x32 2.29 against 2.70, 64x64 8.6 against 11.2;
    * within 3 % of the bands on k4 s2 (128 and 48 output channels), k5
      s2 and k7 s2 layers;
    * slower on 3-channel stems (C3 -> 64 128x128 k7 s2: 4.2 against 3.0
      ms; 64x64 k4 s2: 1.2 against 0.6) and on 8 channels k2 s2 (0.91
      against 0.48): each call's 64 stores of four, a line apart, cost
      more than its few products.
    """
    if G != 1 or np.dtype(dtype) not in _DIRECT_DTYPES or pm.ndim > 2 or len(plan) != 1 \
            or any(L != 1 for L in pm.ups) or all(M == 1 for M in pm.downs):
        return False
    if pm.ndim == 1:
        # short signals that Winograd would take (its tiles along one short
        # row), as one row of an image: N8, one thread, float32, ms
        # Winograd / points (torch): C256 16 samples k4 s2 0.84 / 0.40
        # (0.53), C512 8 k3 s2 2.07 / 0.65 (0.68), C128 32 k4 s2 0.33 / 0.22
        # (0.23), C64 64 0.18 / 0.14 (0.14), C256 64 k3 s2 1.43 / 1.08
        # (1.04); not the bands' k8 s4 (C128 128 samples 0.73 / 0.80)
        return cin >= POINT_CHANNELS and prod(lengths) <= POINT_FEW and _winograd_pays(pm) \
            and _winograd_share(pm, dtype, plan, cin) is not None
    cout = 1 if pm.channels is None else pm.channels[0]
    block = submodule("polyphase.engine.kernels_direct").point_block(
        cout, np.dtype(dtype).itemsize)
    taps = plan[0][0].shape[0]
    outputs, blocks = prod(lengths), -(-cout // block)
    # (on small images the spare channels and few taps are waived: the other
    # routes' fixed costs weigh more there, see POINT_FEW)
    if cin < POINT_CHANNELS or outputs > POINT_FEW and \
            (cout < 0.75 * blocks * block or taps * cin < POINT_TAPS):
        return False
    share = _winograd_share(pm, dtype, plan, cin)
    # (blocks of one vector, at most 16 float32 output channels and sixteen
    # points a call, where Winograd saves least, k3 s2: whatever the
    # image's size.  N8, one thread, float32, ms on the bands / the points:
    # C16 -> 16 128x128 2.27-2.55 / 2.10-2.23, C32 -> 8 64x64 0.94-1.01 /
    # 0.89-0.95, C8 -> 16 64x64 0.37-0.39 / 0.36-0.37.  Winograd keeps k4
    # s2 and k5 s2: C16 -> 16 64x64 k4 s2 0.79-0.81 / 0.91-0.96.)
    one_vector = block * np.dtype(dtype).itemsize == 64
    # (the blocks' spare channels, computed and dropped, take from the points'
    # lead over Winograd: k3 s2, N8, one thread, float32, ms points /
    # Winograd, output points times blocks: a quarter spare, C48 40x40 (400)
    # 1.69 / 1.53-1.56, C96 24x24 (288) 2.35 / 2.09-2.13, C144 20x20 (300)
    # 3.84-4.03 / 3.62-3.65, but C48 24x24 (144) 0.61 / 0.73-0.75, C96 16x16
    # (128) 1.08 / 1.13; an eighth, C56 32x32 (256) 1.27 / 1.32, C112 24x24
    # (288) 2.77-2.91 / 2.67-2.82; a twelfth, C176 16x16 (192) 2.98-3.00 /
    # 3.03-3.10)
    small = WINOGRAD_SMALL * (1 - 2 * (1 - cout / (blocks * block)))
    # (blocks counted as blocks of four vectors where there are several of
    # two, kernels_direct.point_block: C96 24x24 and C160 20x20 on the
    # points, 1.5 x 144 and 2.5 x 100)
    wide = blocks * block * np.dtype(dtype).itemsize / 256 if blocks > 1 else blocks
    return share is None or share >= WINOGRAD_SHARE[0] or outputs <= WINOGRAD_TINY or \
        outputs <= POINT_FEW and blocks == 1 and share >= WINOGRAD_SHARE[2] or \
        share >= WINOGRAD_SHARE[1] and (outputs * wide <= small or one_vector
                                        or cin * cout >= WINOGRAD_WIDE)


# (see _points_apply)
POINT_CHANNELS, POINT_TAPS = 8, 128
# Images of at most this many outputs (8x8) take the points however few
# output channels fill their block and however few taps an output sums: the
# other routes' fixed costs (phase streams, the grid's product and its
# interleave, Winograd's edge tiles) are most of such a call.  N8, float32,
# one thread, one process per route, ms, before / points: C16 -> 8 24x24 k2
# s3 0.19 / 0.06 (torch 0.07), C8 -> 64 16x16 k2 s2 0.17 / 0.06, C16 -> 16
# 16x16 k3 s2 0.13 / 0.09, C8 -> 8 0.13 / 0.07, C16 -> 4 0.16 / 0.09, C8 ->
# 16 16x16 k4 s4 0.14 / 0.05, C64 -> 16 16x16 k4 s2 0.46 / 0.37, N4 C16 ->
# 16 8x8 k3 s2 0.051 / 0.050.  (At 16x16 outputs they lose some: C16 -> 16
# 32x32 k4 s2 0.37 / 0.44, 64x64 k3 s2 0.79 / 1.14.)
POINT_FEW = 64
def _winograd_share(pm, dtype, plan, cin):
    """The Winograd route's products per output against the taps of
    ``pm``'s plan, or None where that route does not apply."""
    counts = _winograd_counts(pm, dtype, plan, cin)
    return None if counts is None else counts[1] / counts[0]


# Layers the Winograd route takes run here instead when its products per
# output are at least WINOGRAD_SHARE[0] of the taps (k4 s3, k5 s4), or
# WINOGRAD_SHARE[1] (k3 s2) on images of at most WINOGRAD_SMALL outputs
# times blocks of output channels, or with at least WINOGRAD_WIDE input
# times output channels (see _points_apply).  That last: the Winograd
# route's products slow down as the channels grow (their input rows, K =
# 4 phases x C_in, no longer stay in L1 between blocks of output rows), the
# points' do not.  N8, k3 s2, one thread, float32, points against
# Winograd, ms: 128 -> 256 28x28 9.6-10.1 / 11.1-11.3, 256 -> 256 28x28
# 20.4 / 22.4-22.9, 256 -> 512 14x14 11.7 / 14.3, 192 -> 192 24x24 7.4 /
# 7.1 (the one loss, 4 %); Winograd kept: 128 -> 128 32x32 7.0 / 5.3-6.0,
# 96 -> 96 32x32 4.9 / 3.3, 64 -> 128 56x56 9.3 / 8.1-8.4.
WINOGRAD_SHARE, WINOGRAD_SMALL, WINOGRAD_WIDE = (0.75, 0.65, 0.55), 400, 1 << 15
# Images of at most WINOGRAD_TINY outputs (7x7) run on the points whatever
# the Winograd route's share: its 2x2 tiles cover a 4x4 output with four, a
# 5x5 or 7x7 with a quarter more outputs than there are, and its edge tiles
# are most of them, where the points pad the image once (the thirty-first
# session's padding).  N8, k4 s2 unless said, float32, one thread, one
# process per route, ms, Winograd / points: C64 8x8 (N16) 0.60 / 0.37, 10x10
# 0.70 / 0.33, 12x12 0.66 / 0.43, 14x14 0.81-0.82 / 0.57-0.58, k5 14x14 1.04-
# 1.06 / 0.84; C128 8x8 0.79-0.81 / 0.69, 12x12 2.00-2.03 / 1.48-1.49, k5
# 12x12 2.6-2.8 / 2.3; C256 8x8 3.2-3.3 / 2.8-3.0, 12x12 7.1 / 6.1-6.4; C32
# 12x12 0.26 / 0.17.  At 8x8 outputs (POINT_FEW) the points take layers of
# one block of output channels whose Winograd products are at least
# WINOGRAD_SHARE[2] of the taps (k4 s2, 0.56), one thread / two: C64 16x16
# 0.75 / 0.40 against 0.68 / 0.38, N4 0.40 / 0.39 against 0.36 / 0.22 (the
# route's 64 tiles ran on one thread), C32 -> 64 0.41 / 0.23 against 0.37 /
# 0.23, C64 -> 32 0.55 / 0.30 against 0.38 / 0.23, C128 -> 64 1.44 / 0.74
# against 1.34 / 0.71.  Winograd keeps k5 s2 (0.49: C64 0.97 / 0.51
# against 1.00 / 0.55) and two blocks (C128 -> 128 k4 s2 2.2-2.3 against
# 2.5-2.6).
WINOGRAD_TINY = 49


def _image_layer(pm, x, dtype, entry, origin_block, pre, first, lengths, out=None):
    """What :func:`.kernels_direct.run_bands` and ``run_points`` take of a
    layer that does not upsample: ``x`` contiguous ``(lanes, C, n1, n2)``,
    its taps ``(q, k1, k2)``, ``dims``, ``pre`` and a new output (or
    ``out``), a 1-D layer as an image of one row."""
    _, W = entry
    lanes, cin = x.shape[:2]
    x = np.ascontiguousarray(x, dtype=dtype)
    n, downs, lengths = x.shape[2:], tuple(pm.downs), tuple(lengths)
    o = [f - b for f, b in zip(first, origin_block)]
    if pm.ndim == 1:
        n, downs, pre, o, lengths = (1,) + n, (1,) + downs, (0,) + tuple(pre), [0] + o, \
            (1,) + lengths
        x = x.reshape((lanes, cin) + n)
    if out is None:
        out = result((lanes, W.shape[1]) + tuple(lengths[-pm.ndim:]), dtype)
    dims = np.array((lanes, cin) + n + downs + tuple(lengths) + tuple(o), dtype=np.int64)
    return x, _image_taps(pm, entry)[0], dims, np.array(pre, dtype=np.int64), out


def _image_taps(pm, entry):
    """``(taps, halo)``: the taps ``(q, k1, k2)`` of ``pm``'s one plan
    ``entry`` (a 1-D layer's as an image of one row) and the spans of their
    delays along both axes less one (cached on ``pm``)."""
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("image taps", id(entry[0]))
    if key not in cache:
        taps = entry[0]
        if pm.ndim == 1:
            taps = np.column_stack([taps[:, 0], np.zeros(len(taps), np.int64), taps[:, 1]])
        taps = np.ascontiguousarray(taps, dtype=np.int64)
        # (the entry's taps kept with them: their id, the key, is not reused)
        cache[key] = (taps, taps[:, 1:].max(axis=0) - taps[:, 1:].min(axis=0), entry[0])
    return cache[key][:2]


def _direct_bands(pm, x, dtype, entry, origin_block, pre, first, lengths):
    """The one plan entry of a layer that does not upsample, by the direct
    kernel on ``x`` itself (:func:`.kernels_direct.run_bands`), into a new
    output."""
    kd = submodule("polyphase.engine.kernels_direct")
    x, taps, dims, pre, out = _image_layer(pm, x, dtype, entry, origin_block, pre, first,
                                           lengths)
    lanes, cin, _, _, M1, M2, H, width = dims[:8]
    cout = out.shape[1]
    Wt, _ = _direct_weights(pm, dtype, 0, entry[0], entry[1], cin, cout)
    halo = _image_taps(pm, entry)[1]
    rpj, seg = kd.band_jobs(H, width, halo, M1 * M2 * cin, x.itemsize)
    njobs = lanes * -(-H // rpj) * -(-width // seg)
    _run_kernel(kd.run_bands, (x.reshape(-1), dims, pre, taps, Wt,
                               out.reshape(lanes, cout, -1),
                               np.array((rpj, seg), dtype=np.int64)),
                njobs, out.size, taps.shape[0] * cin)
    return out


def _direct_points(pm, x, dtype, entry, origin_block, pre, first, lengths, out=None,
                   phase=0, place=None, across=False, copies=None):
    """A plan entry of a layer that does not upsample (or of one ``phase``
    of a transposed layer's, as one that does not), with vectors over
    output channels (:func:`.kernels_direct.run_points`), from ``x`` itself
    into a new output (or ``out``; ``place``, for calls across images only:
    output point ``(i, j)`` at ``(i * L1 + d1, j * L2 + d2)`` of ``out``
    ``(lanes, C, Ho, Wo)``, given as ``(Ho * Wo, Wo, Ho, L1, L2, d1,
    d2)``); ``across``: calls across images wherever a job has a call's
    worth of them, see :func:`_points_plan`; ``copies``, a dict, keeps
    ``x``'s channels-last copy for the next call on the same ``x``: the
    output phases of a transposed layer)."""
    kd = submodule("polyphase.engine.kernels_direct")
    x, taps, dims, pre, out = _image_layer(pm, x, dtype, entry, origin_block, pre, first,
                                           lengths, out)
    lanes, cin, cout = x.shape[0], x.shape[1], out.shape[1]
    pads, offsets, dims, split, njobs = _points_plan(pm, x, taps, dims, pre, (
        first, origin_block, lengths), cout, phase, across)
    if pads is not None:
        x = _zero_padded(x, pads)
    if split[4]:
        last = None if copies is None else copies.get("channels last")
        if last is None:
            last = _channels_last(x)
            if copies is not None:
                copies["channels last"] = last
        x = last
    if place is not None:
        split = np.concatenate((split[:5], np.asarray(place, dtype=np.int64)))
    wkey = ("points weights", phase, np.dtype(dtype).str)
    cache = pm.__dict__["_plans"]
    if wkey not in cache:
        block = kd.point_block(cout, x.itemsize)
        cache[wkey] = kd.point_weights(kd.weights(entry[1], entry[0].shape[0], cin,
                                                  -(-cout // block) * block), block)
    _run_kernel(kd.run_points, (x.reshape(-1), dims, offsets, cache[wkey],
                                out.reshape(lanes, cout, -1), split),
                njobs, out.size, taps.shape[0] * cin)
    return out


def _points_plan(pm, x, taps, dims, pre, window, cout, phase=0, across=False):
    """``(pads, offsets, dims, split, njobs)`` of :func:`_direct_points`
    (``x``, ``taps``, ``dims`` and ``pre`` as :func:`_image_layer` gives
    them, ``window`` its ``(first, origin_block, lengths)``), worked out
    once a shape (~0.2 ms of Python for a 16x16 output): where the taps read ``x``
    (:func:`.kernels_direct.point_offsets`, shifted by the zeros ``pads``
    around ``x`` where padding pays), the jobs (``point_split``), and the
    outputs in place, ``(H * W, W, H, 1, 1, 0, 0)`` after ``split``'s
    five (see ``place``).  With ``across``, calls go across images wherever
    a job has a call's worth of them, whatever the share of taps inside
    ``x`` (the output phases of transposed layers: N8 C128 -> 64 8x8 k3 s2,
    one thread, 0.96-1.07 -> 0.90-0.93 ms, its phases of one tap a row
    and column then placed too, :func:`_phase_places`)."""
    kd = submodule("polyphase.engine.kernels_direct")
    key = ("points", phase, across, x.shape, x.dtype.str, tuple(pre)) + \
        tuple(map(tuple, window))
    cache = pm.__dict__.setdefault("_plans", {})
    if key not in cache:
        lanes, cin, H, width = (int(v) for v in (dims[0], dims[1], dims[6], dims[7]))
        offsets = kd.point_offsets(dims, pre, taps)
        split, njobs = kd.point_split(lanes, H, width, cin, taps.shape[0], cout, x.itemsize,
                                      0.0 if across else kd.inside_share(dims, offsets))
        pads = None if split[3] else kd.padding_pays(dims, offsets, cout, x.itemsize)
        if pads is not None:
            # (every output's taps then read inside the padded x: no edge points)
            (t, b), (l, r) = pads
            offsets = offsets + np.array([[t], [l]], dtype=np.int64)
            dims[2:4] += (t + b, l + r)
        split = np.concatenate((split, np.array((H * width, width, H, 1, 1, 0, 0),
                                                dtype=np.int64)))
        cache[key] = (pads, offsets, dims, split, njobs)
    return cache[key]


def _phase_points_apply(pm, dtype, G, cin, n, blocks):
    """Whether a transposed layer (1-D or 2-D, real, one channel group) on
    input of shape ``n`` (``blocks``: :func:`_blocks`) runs on
    :func:`_phase_points`: with at least ``PHASE_POINTS[2]`` input channels
    on at most ``PHASE_POINTS[3]`` output blocks, or with at least
    ``PHASE_POINTS[0]`` on at most ``PHASE_POINTS[1]`` where the phases
    kernel does not apply (:func:`_phases_apply`).

    On such small images most of the Winograd route's tiles are at the
    edges, and the phases kernel's rows are too short for its vectors.
    One thread, float32, N8, ms Winograd (or the phases kernel) / here
    (torch): k4 s2 4x4 C64 -> 64 0.57 / 0.37 (0.26), C256 -> 128 2.64 /
    1.43 (1.42), C512 -> 256 7.74 / 5.60 (7.05), 2x2 C512 -> 256 21.7 /
    1.83 (3.31), 6x6 C256 -> 256 8.41 / 6.24 (6.60), 7x7 C256 -> 128 5.87
    / 4.28 (4.37), 8x8 C128 -> 64 1.71 / 1.51 (1.37), 9x9 2.91 / 1.76
    (1.71); k3 s2 3x3 C256 -> 256 2.17 / 1.14 (1.14), 8x8 C128 -> 64
    (phases) 1.01 / 0.95 (0.88); k5 s2 6x6 C128 -> 64 2.00 / 1.42 (1.14);
    1-D C256 -> 128 16 samples k4 s2 0.98 / 0.48 (0.44), C512 -> 256 8
    samples 2.90 / 0.87 (0.86).  Kept: 8x8 C128 -> 128 3.07 /
    3.11, C256 -> 128 5.15 / 5.43, C64 -> 64 k3 s2 (phases) 0.56 / 0.61,
    C32 -> 32 k4 s2 0.30 / 0.35, 4x4 C16 -> 16 0.14 / 0.18, 16x16 C64 -> 32
    1.51 / 1.63."""
    if G != 1 or np.dtype(dtype) not in _DIRECT_DTYPES or pm.ndim > 2 \
            or any(M != 1 for M in pm.downs) or all(L == 1 for L in pm.ups):
        return False
    few, small, many, larger = PHASE_POINTS
    outputs = prod(blocks[3])
    if cin >= many and outputs <= larger:
        return True
    return cin >= few and outputs <= small and not _phases_apply(
        pm, dtype, "auto", G, blocks[3], _stream_grid(pm, n, blocks)[1])


# (see _phase_points_apply)
PHASE_POINTS = (64, 64, 128, 100)


def _phase_points(pm, x, dtype, plan, origin_block, pre, first, nblocks, starts, lengths):
    """A transposed layer on :func:`_direct_points`: each plan entry (an
    output phase, or all of them when they share their taps) as a layer
    that does not upsample over the window's output blocks, its rows of
    output channels into a product that is then interleaved into the
    output (:func:`_interleaved`), or straight into the output where its
    calls go across images (:func:`_phase_places`)."""
    lanes, cout, ups = x.shape[0], pm.channels[0], pm.ups
    # (x as it is: each phase's points take only their taps that read
    # inside it.  Padded once for all the phases, each phase multiplied its
    # zeros too, a third of the products of N8 C128 -> 64 6x6 k6 s3: 2.75 ->
    # 2.55 ms on one thread, 2.25 with its calls across images, see
    # kernels_direct.ACROSS_JOBS; k4 s2 4x4 C512 -> 256 6.3 -> 5.1-5.35)
    crop = [s - f * L for s, f, L in zip(starts, first, ups)]
    places = _phase_places(pm, x, dtype, plan, origin_block, pre, first, nblocks, crop,
                           lengths)
    copies = {}                 # (x channels last, once for all the phases)
    if places is not None:
        out = result((lanes, cout) + tuple(lengths), dtype)
        for r, entry in enumerate(plan):
            _direct_points(pm, x, dtype, entry, origin_block, pre, first, nblocks, out, r,
                           places[r], True, copies)
        return out
    rows = plan[0][1].shape[1]
    product = scratch("phase points", (len(plan), lanes, rows) + tuple(nblocks), dtype)
    for r, entry in enumerate(plan):
        if entry[0].shape[0] == 0:               # a structurally zero phase
            product[r] = 0
            continue
        _direct_points(pm, x, dtype, entry, origin_block, pre, first, nblocks, product[r], r,
                       across=True, copies=copies)
    # (L1, [L2,] C, lanes, b1[, b2]): phase p is entry p, or its rows p * C on
    st = product.strides
    step = st[0] if len(plan) > 1 else cout * st[2]
    y = np.lib.stride_tricks.as_strided(
        product, shape=tuple(ups) + (cout, lanes) + tuple(nblocks),
        strides=tuple(step * prod(ups[a + 1:]) for a in range(pm.ndim)) + (st[2], st[1])
        + st[3:])
    return _interleaved(y, crop, lengths, True)


def _phase_places(pm, x, dtype, plan, origin_block, pre, first, nblocks, crop, lengths):
    """Where :func:`_phase_points` puts each output phase's points straight
    into the output (``place`` of :func:`_direct_points`), or None: where
    every phase is a plan entry of its own that takes calls across images
    (whose stores go a point at a time), on ``x`` unpadded.  Those layers
    skip the product and its interleave: N8 C64 -> 64 4x4 k4 s2, one
    thread, the interleave took 0.08 of 0.32 ms (~20 ns an output row of
    eight)."""
    key = ("phase places", x.shape, np.dtype(dtype).str, tuple(origin_block), tuple(pre),
           tuple(first), tuple(nblocks), tuple(crop), tuple(lengths))
    cache = pm.__dict__.setdefault("_plans", {})
    if key not in cache:
        ups, cout = pm.ups, pm.channels[0]
        places = None
        if len(plan) == prod(ups) and all(entry[0].shape[0] for entry in plan):
            Ho, Wo = (1,) + tuple(lengths) if pm.ndim == 1 else lengths
            L1, L2 = (1,) + tuple(ups) if pm.ndim == 1 else ups
            c1, c2 = [0] + list(crop) if pm.ndim == 1 else crop
            places = []
            for r, entry in enumerate(plan):
                xi, taps, dims, pre_, _ = _image_layer(pm, x, dtype, entry, origin_block, pre,
                                                       first, nblocks, x)
                pads, _, _, split, _ = _points_plan(pm, xi, taps, dims, pre_,
                                                    (first, origin_block, nblocks), cout, r,
                                                    True)
                if pads is not None or not split[3]:
                    places = None
                    break
                p1, p2 = divmod(r, L2)
                places.append(np.array((Ho * Wo, Wo, Ho, L1, L2, p1 - c1, p2 - c2),
                                       dtype=np.int64))
        cache[key] = places
    return cache[key]


def _channels_last(x):
    """``x`` ``(lanes, C, n1, n2)`` in scratch as ``(lanes, n1, n2, C)``
    (:func:`.kernels_direct.channels_last`, an image a job)."""
    lanes, C = x.shape[:2]
    last = scratch("points channels last", (lanes,) + x.shape[2:] + (C,), x.dtype)
    _run_kernel(submodule("polyphase.engine.kernels_direct").channels_last,
                (x.reshape(lanes, C, -1), last.reshape(lanes, -1, C)), lanes, x.size, 1)
    return last


def _zero_padded(x, pads):
    """``x`` ``(lanes, C, n1, n2)`` in scratch with ``pads = ((top, bottom),
    (left, right))`` rows and columns of zeros around it
    (:func:`.kernels_direct.padding_pays`)."""
    (t, b), (l, r) = pads
    n1, n2 = x.shape[2:]
    padded = scratch("points padded", x.shape[:2] + (n1 + t + b, n2 + l + r), x.dtype)
    planes = x.shape[0] * x.shape[1]
    _run_kernel(submodule("polyphase.engine.kernels_direct").pad_planes,
                (x.reshape(planes, n1, n2), padded.reshape(planes, *padded.shape[2:]),
                 np.int64(t), np.int64(l)), planes, padded.size, 1)
    return padded


def _tap_starts(taps, origin, strides):
    """Where each tap's window starts in the flat streams: ``origin`` less
    the tap's delays times the grid's strides."""
    return origin - taps[:, 1:] @ np.array(strides, dtype=np.int64)


def _direct_weights(pm, dtype, r, taps, W, cin, rows):
    """The direct kernel's weights and tap streams for plan entry ``r``
    (cached on ``pm``)."""
    kd = submodule("polyphase.engine.kernels_direct")
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("direct", np.dtype(dtype).str, r, rows)
    if key not in cache:
        cache[key] = (kd.weights(W, taps.shape[0], cin, rows),
                      np.ascontiguousarray(taps[:, 0], dtype=np.int64))
    return cache[key]


def _run_kernel(kernel, args, njobs, size, taps_per_output):
    """``kernel(*args, 0, njobs)``, its jobs in parallel groups when the work
    (``size`` outputs of ``taps_per_output`` multiply-adds) is large enough
    for threads."""
    engine = submodule("polyphase.engine")
    groups = engine._parallel(size, taps_per_output)
    if groups:
        with engine._team(groups):
            submodule("polyphase.engine.groups").run(kernel, args, njobs, groups)
    else:
        kernel(*args, 0, njobs)


def _direct_products(pm, dtype, r, flat, taps, starts_t, W, rows):
    """:func:`_stacked_products` by the register-blocked kernel
    (:mod:`.kernels_direct`): no stacked copy of the input, and each input
    vector loaded once for eight output rows.  Its chunks of columns run in
    parallel groups when the product is large enough for threads.  (Its
    vectors are explicit: it needs none of LLVM's vectorisers, see
    :mod:`.registers`.)"""
    kd = submodule("polyphase.engine.kernels_direct")
    Q, C, L = flat.shape
    Wt, tq = _direct_weights(pm, dtype, r, taps, W, C, prod(rows.shape[:-1]))
    toff = tq * (C * L) + starts_t
    out = rows.reshape(-1, rows.shape[-1])
    _run_kernel(kd.run_jobs, (flat.reshape(-1), np.int64(L), toff, Wt, out),
                kd.n_jobs(out.shape[1]), out.size, taps.shape[0] * C)


def _direct_phases(pm, dtype, plan, flat, origin, S, strides, crop, lanes, lengths):
    """The products of a layer that upsamples by ``L2`` = 2 to 4 along its
    last axis, straight into a new output with its phases interleaved
    (:func:`.kernels_direct.run_phases`): ``flat`` the phase streams,
    ``origin`` where the grid's first column lies in them, ``S`` and
    ``strides`` the grid's (an image's, then each axis'), ``crop`` the
    output's first sample in its first block."""
    kd = submodule("polyphase.engine.kernels_direct")
    Q, C, Lf = flat.shape
    cout = 1 if pm.channels is None else pm.channels[0]
    ups = tuple(pm.ups)
    # (a 1-D layer: one row of blocks, S columns, its jobs parts of it)
    if pm.ndim == 1:
        (L1, L2), (c1, c2), (H, W), P2 = (1,) + ups, [0] + crop, (1,) + tuple(lengths), S
    else:
        (L1, L2), (c1, c2), (H, W), P2 = ups, crop, tuple(lengths), strides[0]
    Wt, taps, shifts, tsplit = _phase_weights(pm, dtype, plan, C, (c1, c2))
    toff = taps[:, 0] * (C * Lf) + _tap_starts(taps, origin, strides) \
        + shifts @ np.array((P2, 1), dtype=np.int64)
    nI, nJ = -(-H // L1), -(-W // L2)
    rpj, seg = max(1, kd.CHUNK // P2), kd.CHUNK
    njobs = lanes * -(-nI // rpj) * (-(-nJ // seg) if nI == 1 else 1)
    out = result((lanes, cout) + tuple(lengths), dtype)
    rowwise = nI == 1 or kd.phases_rowwise(nJ, P2, np.dtype(dtype).itemsize)
    dims = np.array((L1, L2, S, P2, rpj, nI, seg, rowwise), dtype=np.int64)
    _run_kernel(kd.run_phases, (flat.reshape(-1), np.int64(Lf), toff, tsplit, Wt,
                                out.reshape(lanes, cout, H, W), dims),
                njobs, out.size, Wt.shape[0] * C // (L1 * L2))
    return out


def _phase_weights(pm, dtype, plan, cin, crop):
    """:func:`_direct_phases`' taps in the order of its output phases ``(e1,
    e2)`` (row and column of the output within its block, from ``crop``
    on): ``(Wt, taps, shifts, tsplit)``, ``Wt`` ``(taps, C_in, rows)``
    (:func:`.kernels_direct.weights`), the taps ``(q, k...)`` as in the
    plan, each tap's output block's shift ``(rows, columns)`` and where
    each output phase's taps start (cached on ``pm``)."""
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("phases", np.dtype(dtype).str, tuple(crop))
    if key in cache:
        return cache[key]
    kd = submodule("polyphase.engine.kernels_direct")
    cout = 1 if pm.channels is None else pm.channels[0]
    rows = -(-cout // kd.NB) * kd.NB
    ups = (1,) * (2 - pm.ndim) + tuple(pm.ups)
    parts, entries, shifts, tsplit = [], [], [], [0]
    for e1 in range(ups[0]):
        for e2 in range(ups[1]):
            (s1, r1), (s2, r2) = divmod(e1 + crop[0], ups[0]), divmod(e2 + crop[1], ups[1])
            r = r1 * ups[1] + r2
            # (one entry for every phase when they share their taps)
            taps, W = plan[0] if len(plan) == 1 else plan[r]
            if len(plan) == 1:
                W = W[:, r * cout:(r + 1) * cout]
            parts.append(kd.weights(W, taps.shape[0], cin, rows))
            entries.append(taps)
            shifts.append(np.tile((s1, s2), (taps.shape[0], 1)))
            tsplit.append(tsplit[-1] + taps.shape[0])
    cache[key] = (np.ascontiguousarray(np.concatenate(parts)),
                  np.concatenate(entries).astype(np.int64),
                  np.concatenate(shifts).astype(np.int64), np.array(tsplit, dtype=np.int64))
    return cache[key]


def _direct_planes(pm, dtype, x, taps, W, out):
    """A 1x1 layer (:func:`_pointwise`) by the direct kernel on ``x``
    ``(lanes, C_in, n)`` itself, straight into ``out`` ``(lanes, C_out, n)``
    (:func:`.kernels_direct.run_planes`)."""
    kd = submodule("polyphase.engine.kernels_direct")
    lanes, cin, n = x.shape
    Wt, _ = _direct_weights(pm, dtype, 0, taps, W, cin, out.shape[1])
    rpj, seg, njobs = kd.row_jobs(lanes, n)
    _run_kernel(kd.run_planes, (x.reshape(-1), np.int64(n), np.zeros(1, np.int64), Wt, out,
                                np.int64(cin * n), np.int64(rpj), np.int64(seg)),
                njobs, out.size, cin)


def _one_tap(pm, plan):
    """Whether ``pm`` does not upsample and its GEMM ``plan`` has one tap
    position (a 1x1 convolution, strided or not)."""
    return all(L == 1 for L in pm.ups) and len(plan) == 1 and plan[0][0].shape[0] == 1


def _pointwise(pm, x, dtype, in_origin, starts, lengths, G, plan):
    """A matrix of one tap position that does not upsample (a 1x1 convolution,
    strided or not) on a window inside the input: one batched product
    ``W @ x`` over a (strided) view of ``x``; None otherwise.

    The stacked route would copy the input into phase streams, multiply on
    their padded grid and interleave the product into the output: three
    passes around one BLAS call (N8 C64->64 32x32: 1.7 against 1.0 ms for
    torch).
    """
    if not _one_tap(pm, plan):
        return None
    (q, *k), W = plan[0][0][0], plan[0][1]
    phase = np.unravel_index(q, pm.downs)
    window = [slice(None), slice(None)]
    for a, M in enumerate(pm.downs):
        # output (block) index o reads input M*(o - k) + q, array index - in_origin
        i0 = M * (starts[a] - k[a]) + phase[a] - in_origin[a]
        i1 = i0 + M * (lengths[a] - 1)
        if lengths[a] == 0 or i0 < 0 or i1 >= x.shape[2 + a]:
            return None
        window.append(slice(i0, i1 + 1, M))
    lanes, cin = x.shape[:2]
    cout, n = W.shape[1], x.shape[2:]
    if tuple(lengths) == n and all(M == 1 for M in pm.downs) and x.dtype == dtype \
            and x.flags.c_contiguous and _rows_pay(prod(n), prod(n), dtype) \
            and _direct_applies(pm, dtype, "auto", G, plan) == cout:
        # the whole input: the direct kernel reads x in place, each image's
        # channel plane one row (channel c of image l from (l * C_in + c) *
        # prod(n) on).  N8 C64 -> 64 32x32, one thread: 0.69 against 1.00 ms
        # by np.matmul (torch 0.93).
        out = result((lanes, cout) + tuple(lengths), dtype)
        _direct_planes(pm, dtype, x.reshape(lanes, cin, -1), plan[0][0], W,
                       out.reshape(lanes, cout, -1))
        return out
    xs = np.asarray(x[tuple(window)], dtype=dtype).reshape(lanes, G, cin // G, -1)
    out = result((lanes, G, W.shape[1], xs.shape[-1]), dtype)
    np.matmul(W, xs, out=out)
    return out.reshape((lanes, G * W.shape[1]) + tuple(lengths))


def layer_route(pm, shape, dtype, in_origin, starts, lengths):
    """The route :func:`run_gemm` with ``algorithm="auto"`` takes on arrays of
    ``shape`` (lanes, C_in, \\*n) when it is the points
    (:func:`_direct_points`), the output phases on the points
    (:func:`_phase_points`) or Winograd: ``(kind, data, out shape)`` for
    :func:`run_layer_route`, plain data a layer keeps per input shape, or
    None for any other route.

    Through :func:`polyphase.finite.apply_window`, :func:`polyphase.engine.run`
    and :func:`run_gemm`, the 64-channel strided conv2d (N8, 64x64) spent
    ~0.15 ms of its ~9 a call in Python that works out the same numbers
    each time, before its threads could start; N16 C64 8x8 k3 s2 on the
    points ~30 us of 0.32 ms.
    """
    lanes, cin = shape[:2]
    if pm.channels in (None, (1, 1)) or pm.ndim not in (1, 2) or pm.nnz == 0 \
            or lanes * cin == 0 or min(lengths) <= 0 or min(shape[2:]) <= 0:
        return None                 # (the channel-agnostic kernels, or zeros)
    G, plan = _plan(pm, dtype)
    if _one_tap(pm, plan):
        return None                 # (a pointwise product, :func:`_pointwise`)
    blocks = _blocks(pm, in_origin, starts, lengths)
    out = (lanes, pm.channels[0]) + tuple(lengths)
    if _points_apply(pm, dtype, G, plan, cin, lengths):
        return "points", (pm, dtype, plan[0]) + blocks[:3] + (tuple(lengths),), out
    if _phase_points_apply(pm, dtype, G, cin, shape[2:], blocks):
        return "phase points", (pm, dtype, plan) + blocks + (tuple(starts), tuple(lengths)), out
    fast = _winograd_plans(pm, dtype, plan, cin) if _winograd_pays(pm) else None
    if not fast or _direct_first(pm, dtype, G, plan, shape[1:], in_origin, starts, lengths):
        return None
    return "winograd", _winograd_call(pm, fast, lanes, in_origin, starts, lengths), out


def run_layer_route(route, x):
    """The output of :func:`layer_route`'s call on ``x`` (lanes, C_in, \\*n)."""
    kind, data, _ = route
    if kind == "winograd":
        return run_winograd_route(data, x)
    return (_direct_points if kind == "points" else _phase_points)(data[0], x, *data[1:])


def _blocks(pm, in_origin, starts, lengths):
    """Per signal axis: the input block of ``in_origin`` and the samples
    ``pre`` it lies into that block, the first output block of the window
    and its number of output blocks."""
    ups, downs = pm.ups, pm.downs
    origin_block = tuple(o // M for o, M in zip(in_origin, downs))
    pre = tuple(o - b * M for o, b, M in zip(in_origin, origin_block, downs))
    first = tuple(s // L for s, L in zip(starts, ups))
    nblocks = tuple((s + n - 1) // L - f + 1
                    for s, n, L, f in zip(starts, lengths, ups, first))
    return origin_block, pre, first, nblocks


def _winograd_call(pm, fast, lanes, in_origin, starts, lengths):
    """``(d, plans, args, out shape)``: the :func:`.winograd.run1` (d = 1) or
    :func:`.winograd.run2` call that computes this window of ``pm``."""
    ups, downs = pm.ups, pm.downs
    origin_block, pre, first, nblocks = _blocks(pm, in_origin, starts, lengths)
    crop = tuple(s - f * L for s, f, L in zip(starts, first, ups))
    b0 = tuple(f - ob for f, ob in zip(first, origin_block))
    args = (b0, downs, pre, ups, crop, nblocks)
    if pm.ndim == 1:
        args = tuple(a[0] for a in args)
    cout = 1 if pm.channels is None else pm.channels[0]
    return pm.ndim, fast, args, (lanes, cout) + tuple(lengths)


def run_winograd_route(route, x):
    """The output of the Winograd route's call (:func:`_winograd_call`) on
    ``x`` (lanes, C_in, \\*n): straight from ``x`` into the result, no phase
    streams, no im2col."""
    from . import winograd
    d, plans, args, shape = route
    dtype = plans[0][2].dtype
    out = result(shape, dtype)
    winograd.run_lanes(winograd.run1 if d == 1 else winograd.run2,
                       np.ascontiguousarray(x, dtype=dtype), plans, args, out)
    return out


def _winograd_pays(pm):
    """Whether ``method="auto"`` takes the Winograd route where it applies:
    not for 1-D layers with a stride of ``WINOGRAD_MAX_STRIDE_1D`` or more,
    whose input transform splits that many phases of every channel for few
    products a phase.  Measured against the direct kernel
    (:func:`.kernels_direct.run_bands`), one thread, float32, N8, 64
    channels, interleaved with torch, ms Winograd / direct (torch): 2048
    samples k6 s3 3.34 / 2.74 (2.93), k8 s4 3.45 / 2.64 (2.95), k12 s4 4.29
    / 3.95 (4.25), k4 s4 1.43 / 1.41; 1024 samples k8 s4 1.70 / 1.33 (1.46),
    two threads 1.00 / 0.76 (0.82); 32 channels 4096 k8 s4 2.31 / 1.42; 128
    channels 1024 k8 s4 5.35 / 5.20.  At stride 2 Winograd is as fast or
    faster: k3 s2 1.06 / 1.05, k4 s2 2.41 / 2.73, k6 s2 3.26 / 4.06."""
    return not (pm.ndim == 1 and all(L == 1 for L in pm.ups)
                and pm.downs[0] >= WINOGRAD_MAX_STRIDE_1D)


WINOGRAD_MAX_STRIDE_1D = 3


def _winograd_plans(pm, dtype, plan, cin):
    """The Winograd form (:func:`.winograd.plan`) of every plan entry, or ``None``
    unless all entries have one."""
    if pm.ndim > 2:
        return None
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("winograd", np.dtype(dtype).str)
    if key not in cache:
        from .winograd import Plans, box_size, plan as winograd_plan
        # A strided layer whose input phases' taps lie in boxes of 2 but do
        # not fill them (k = 3, stride 2) runs with zero weights in the rest
        # of each box where that costs no more products than its taps
        # (:func:`.winograd.plan`): the same or fewer multiply-adds than
        # im2col, in the faster products (one thread: conv1d N8 C64 k3 s2
        # 8.0-8.4 -> 5.4-5.6 ms, 0.64 -> 0.95x torch; conv2d 64x64 11.1-11.3
        # -> 8.8-9.0 ms; two threads 1.35-2x).  The products skip the phases
        # whose weights at a point are zero (Plans.spans), which admits
        # k = 4 at stride 3 and k = 5 at stride 4 (2-D: 49 products per tile
        # for 64 taps, 81 for 100; N8 C64 48x48 k4 s3, one thread, 6.3-6.6
        # ms on the direct kernel, 3.8-4.2 ms here; see winograd.MAX_PRODUCTS).
        # Not for transposed layers: k = 3 at stride 2 would multiply 25
        # products per tile for 36 taps, and ran 3-8 % slower than the direct
        # kernel (N8 C64 32x32, 1-D 2048 samples).  Phases whose taps need
        # boxes of 3 delays (k3 stride 1, k5 or k6 stride 2) run F(2, 3) /
        # F(2x2, 3x3), all entries alike (one box for all the planes of a
        # call); where the taps of a transposed layer's phase do not fill the
        # box it pays no more products than its taps either.
        box = max(2, box_size([entry for entry in plan if entry[0].shape[0]]))
        partial = all(L == 1 for L in pm.ups) or box == 3
        plans = [winograd_plan(taps, W, cin, partial, box) if taps.shape[0] else None
                 for taps, W in plan]
        cache[key] = Plans(plans, box) if all(p is not None for p in plans) else None
    return cache[key]


def _stacked_products(flat, tap_q, tap_start, W, G, rows, ncols):
    """``rows[..., c] = W @ stack[:, c]`` over column chunks that fit in cache.

    ``stack`` (im2col over taps) has rows ``(tap, C_in)``: tap ``t`` is the
    flat phase stream ``tap_q[t]`` from column ``tap_start[t]``.  ``W`` is
    ``(G, R/G, T * C_in/G)``; ``rows`` is ``(phases, C_out, ncols)`` with the
    ``R = phases * C_out`` rows of ``W`` in (group, phase, C_out/G) order.
    """
    T, cin = len(tap_q), flat.shape[1]
    cg = cin // G
    phases, cout = rows.shape[:2]
    width = max(256, CHUNK_BYTES // (T * cin * flat.itemsize))
    width = min(width, ncols)
    buf = scratch("im2col", (T * cin * width,), flat.dtype)
    for c0 in range(0, ncols, width):
        n = min(width, ncols - c0)
        # (G, T, C_in/G, n), contiguous: a view of it is the GEMM's input
        stack = buf[:T * cin * n].reshape(G, T, cg, n)
        for t in range(T):
            s = tap_start[t] + c0
            stack[:, t] = flat[tap_q[t], :, s:s + n].reshape(G, cg, n)
        cols = stack.reshape(G, T * cg, n)
        if G == 1:
            np.matmul(W[0], cols[0], out=rows.reshape(phases * cout, -1)[:, c0:c0 + n])
        else:
            part = np.matmul(W, cols).reshape(G, phases, cout // G, n)
            rows[:, :, c0:c0 + n] = part.transpose(1, 0, 2, 3).reshape(phases, cout, n)
"""The direct, register-blocked products of the channel-mixing engine
(:mod:`polyphase.engine.kernels_direct`), which replace im2col + BLAS for
stride-1 and transposed layers and few-channel strided ones, serial or in
parallel groups of column chunks.

Checked against brute-force numpy convolutions and against the im2col route
on the same inputs, including windows of the operators.
"""

import numpy as np
import pytest
from helpers import record_calls, record_jobs, window_equals_without
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import gemm, kernels_direct
from polyphase.finite import windows_for


def brute_conv1d(x, w, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2], axis=2)[:, :, ::stride]
    return np.einsum("ncjk,ock->noj", win, w)


def brute_conv2d(x, w, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    return np.einsum("ncijkl,ockl->noij", win[:, :, ::stride, ::stride], w)


def record_direct(monkeypatch):
    """The calls of the direct routes: through the product
    (``_direct_products``), straight into the output from bands of the
    input (``_direct_bands``), and a transposed layer's products with its
    output phases interleaved in registers (``_direct_phases``)."""
    calls = record_calls(monkeypatch, gemm, "_direct_products")
    for name in ("_direct_bands", "_direct_phases"):
        real = getattr(gemm, name)

        def recording(*args, real=real):
            calls.append(args)
            return real(*args)

        monkeypatch.setattr(gemm, name, recording)
    return calls


@pytest.fixture
def one_thread(monkeypatch):
    """Every call serial (the parallel groups are tested on their own)."""
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)


@settings(max_examples=30, deadline=None)
@given(d=st.sampled_from([1, 2]), n=st.integers(1, 3), cin=st.integers(1, 20),
       cout=st.integers(1, 20), size=st.integers(3, 12), k=st.integers(1, 5),
       stride=st.integers(1, 3), padding=st.integers(0, 2), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_direct_matches_brute_force(d, n, cin, cout, size, k, stride, padding, seed,
                                    dtype):
    """Any number of output channels: the kernel's blocks of eight rows get
    spare rows of zero weights, which the result leaves out."""
    if size + 2 * padding < k:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, cin) + (size,) * d).astype(dtype)
        w = rng.standard_normal((cout, cin) + (k,) * d).astype(dtype)
        f, brute = (pnn.conv1d, brute_conv1d) if d == 1 else (pnn.conv2d, brute_conv2d)
        got = f(x, w, stride=stride, padding=padding)
    assert got.dtype == dtype
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, brute(x.astype(np.float64), w, stride, padding),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("cls, wshape, kw, shape", [
    (pnn.Conv2d, (16, 8, 3, 3), dict(padding=1), (2, 8, 11, 9)),
    (pnn.ConvTranspose2d, (8, 16, 3, 3), dict(stride=2, padding=1, output_padding=1),
     (2, 8, 7, 6)),
    (pnn.ConvTranspose1d, (8, 8, 5), dict(stride=2, padding=2), (3, 8, 13)),
    (pnn.Conv2d, (8, 3, 7, 7), dict(stride=2, padding=3), (1, 3, 15, 14)),
    (pnn.ConvTranspose2d, (16, 3, 4, 4), dict(stride=2, padding=1), (2, 16, 6, 7)),
    (pnn.Conv2d, (6, 16, 3, 3), dict(padding=1), (1, 16, 9, 9)),
    # (5 output channels, 10x9 outputs: 6 float64 channels would fill three
    # quarters of a block of the points, one vector, and images of 8x8
    # outputs or fewer go there anyway)
    (pnn.Conv2d, (5, 24, 7, 7), dict(stride=2, padding=3), (2, 24, 19, 18)),
    (pnn.Conv1d, (8, 32, 3), dict(stride=3, padding=1), (2, 32, 40)),
], ids=["conv2d-s1", "convT2d-s2", "convT1d-s2", "stem-s2", "convT2d-to-rgb", "6-rows",
        "strided-24-channels", "conv1d-s3-32-channels"])
def test_direct_route_runs_and_equals_im2col(cls, wshape, kw, shape, one_thread,
                                             monkeypatch):
    calls = record_direct(monkeypatch)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    layer = cls(rng.standard_normal(wshape), **kw)
    y = layer(x)
    assert calls
    d = len(shape) - 2
    windows = windows_for(layer._declared, x.shape[2:], [(0, m) for m in y.shape[2:]])
    starts = tuple(a for a, _ in windows)
    lengths = tuple(b - a for a, b in windows)
    im2col = engine.run(layer.polyphase(), x, np.float64, (0,) * d, starts, lengths,
                        method="gemm")
    np.testing.assert_allclose(y, im2col, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["full", "same", "valid", ((-3, 9), (-2, 8))], ids=str)
@pytest.mark.parametrize("stride", [1, 2])
def test_direct_windows_equal_im2col(mode, stride, one_thread, monkeypatch):
    """Operator windows that start before the input and end past it, on the
    layer as an operator (no bias, any window) and on its transpose."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 7, 6))
    for op in (pnn.Conv2d(rng.standard_normal((8, 3, 3, 2)), stride=stride),
               pnn.ConvTranspose2d(rng.standard_normal((3, 8, 3, 2)), stride=stride)):
        window_equals_without(monkeypatch, op, x, mode, record_direct(monkeypatch), gemm,
                              "_direct_applies")


@pytest.mark.parametrize("mode", ["full", "same", ((-5, 9), (-5, 70)), ((1, 9), (5, 68))],
                         ids=str)
@pytest.mark.parametrize("stride", [2, 3])
def test_phases_windows_equal_the_grid(mode, stride, one_thread, monkeypatch):
    """Operator windows of a transposed layer whose first output lies
    inside a block (its column and row phases start past phase 0), on
    :func:`polyphase.engine.gemm._direct_phases` and with it switched off
    (the product on the grid and its interleave)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 33))
    op = pnn.ConvTranspose2d(rng.standard_normal((3, 8, 3, 4)), stride=stride)
    calls = record_calls(monkeypatch, gemm, "_direct_phases")
    window_equals_without(monkeypatch, op, x, mode, calls, gemm, "_phases_apply")
    if not isinstance(mode, str):
        # (the output's first sample in its first block: its row, its column)
        assert all(c[7][0] != 0 and c[7][1] != 0 for c in calls)


def test_where_the_direct_route_does_not_apply(one_thread, monkeypatch):
    """Groups, complex data, strided layers with many channels, and forced
    im2col keep BLAS."""
    calls = record_direct(monkeypatch)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 16, 9, 9))
    pnn.conv2d(x, rng.standard_normal((16, 8, 3, 3)), padding=1, groups=2)
    pnn.conv2d(x, rng.standard_normal((16, 16, 3, 3)), stride=2)          # C_in 16
    op = pnn.Conv2d(rng.standard_normal((8, 16, 3, 3)))
    op(x[0] + 1j, mode="full", channel_axis=0)
    assert not calls
    # (with 16 input channels a 3x3 stride-1 layer takes Winograd F(2x2, 3x3))
    pnn.conv2d(x[:, :8], rng.standard_normal((16, 8, 3, 3)), padding=1)
    assert len(calls) == 1


@pytest.mark.parametrize("cls, wshape, kw, shape, kernel", [
    # (rows of 6 input columns: the grid's product, see gemm._phases_apply)
    (pnn.ConvTranspose2d, (16, 3, 4, 4), dict(stride=2, padding=1), (4, 16, 40, 6),
     "run_jobs"),
    (pnn.Conv2d, (16, 8, 3, 3), dict(padding=1), (3, 8, 25, 30), "run_bands"),
    (pnn.Conv2d, (16, 8, 3, 3), dict(padding=1), (3, 8, 25, 21), "run_jobs"),
    (pnn.Conv1d, (8, 8, 3), dict(padding=1), (2, 8, 3000), "run_bands"),
    (pnn.ConvTranspose2d, (16, 12, 3, 3), dict(stride=2, padding=1, output_padding=1),
     (4, 16, 20, 16), "run_phases"),
], ids=["convT2d-to-rgb", "conv2d-s1", "conv2d-s1-short-rows", "conv1d-s1", "convT2d-phases"])
def test_direct_parallel_groups_equal_the_serial_kernel(cls, wshape, kw, shape, kernel,
                                                       monkeypatch):
    """With two threads the column chunks run in parallel groups
    (:func:`polyphase.engine.groups.run`): the same compiled kernel on
    disjoint columns, so the result equals the serial one bit for bit, and
    both equal torch's semantics by brute force."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    layer = cls(rng.standard_normal(wshape).astype(np.float32), **kw)
    parallel = []
    calls = record_jobs(monkeypatch, kernels_direct, kernel, parallel=parallel)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        y = layer(x)
    finally:
        numba.set_num_threads(old)
    assert parallel and len(parallel) == len(calls)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    serial, none = [], []
    record_jobs(monkeypatch, kernels_direct, kernel, calls=serial, parallel=none)
    np.testing.assert_array_equal(layer(x), y)
    assert serial and not none
    if cls is pnn.Conv2d:
        ref = brute_conv2d(x.astype(np.float64), layer.weight.astype(np.float64), 1, 1)
        np.testing.assert_allclose(y, ref, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("block, V, count", [
    ("rows_fma_taps8x2", 2, None), ("rows_fma_taps8x2_part", 2, 1.5),
    ("rows_fma_taps8x2_part", 2, 2), ("rows_fma_taps8x1_part", 1, 0.25),
    ("rows_fma_taps8x1_part", 1, 1)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_fma_taps_closed_form(dtype, block, V, count):
    """The kernel's blocks (:func:`polyphase.engine.simd.rows_fma_taps8x2`,
    and the masked ends of rows): eight rows of ``V`` vectors, summed over
    taps at arbitrary offsets and channels at a stride, against the same sum
    in numpy; ``count`` (in vectors) columns are stored and the outputs
    around them stay untouched."""
    from numba import njit

    from polyphase.engine import simd

    kernel = getattr(simd, block)
    if count is None:
        @njit
        def run(x, xo, xs, toff, d, do, ds, nc, out, oo, os, n):
            kernel(x, xo, xs, toff, d, do, ds, nc, out, oo, os)
    else:
        @njit
        def run(x, xo, xs, toff, d, do, ds, nc, out, oo, os, n):
            kernel(x, xo, xs, toff, d, do, ds, nc, out, oo, os, n)

    rng = np.random.default_rng(3)
    G = 64 // np.dtype(dtype).itemsize
    n = V * G if count is None else int(count * G)
    nc, xs, ds = 5, 97, 11
    toff = np.array([0, 3, 41, 2, 7], np.int64)
    x = rng.standard_normal(1000).astype(dtype)
    d = rng.standard_normal(600).astype(dtype)
    out = np.full((12, 3 * G), np.nan, dtype)
    xo, do, os = 5, 2, out.shape[1]
    run(x, xo, xs, toff, d, do, ds, nc, out.reshape(-1), 2 * os + 1, os, n)
    want = np.zeros((8, n))
    for t in range(toff.size):
        for c in range(nc):
            row = x[xo + toff[t] + c * xs:][:n].astype(np.float64)
            coef = d[do + (t * nc + c) * ds:][:8].astype(np.float64)
            want += coef[:, None] * row[None, :]
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out[2:10, 1:1 + n], want, rtol=tol, atol=tol)
    untouched = np.ones(out.shape, bool)
    untouched[2:10, 1:1 + n] = False
    assert np.isnan(out[untouched]).all()


@pytest.mark.parametrize("R, L", [(8, 2), (4, 3), (4, 4)])
@pytest.mark.parametrize("nr, j0, pitch, width, rows", [
    (None, 0, 40, 1000, 1), (3, 5, 40, 1000, 2), (None, 0, 16, 23, 2), (1, 3, 9, 13, 1),
    (None, 30, 33, 1000, 2), (2, 3, 11, 17, 3)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_phases_fma_closed_form(R, L, nr, j0, pitch, width, rows, dtype):
    """A transposed layer's block (:func:`polyphase.engine.simd.phases_fma8x2`,
    ``4x3``, ``4x4``): ``R`` rows of ``L`` column phases over a vector of a
    grid's columns from column ``j0`` of a row of ``pitch`` on (into the
    next row past its end), each phase with its own taps (``tsplit`` from
    ``sb`` on, one of them none), interleaved into output rows ``ostep``
    apart, against the same sums in numpy; only outputs below ``width``, in
    the first ``rows`` grid rows and the first ``nr`` rows are stored, the
    rest untouched."""
    from numba import njit

    from polyphase.engine import simd

    kernel = getattr(simd, f"phases_fma{R}x{L}")

    @njit
    def run(x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0, pitch, width,
            rows, ostep):
        kernel(x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0, pitch, width,
               rows, ostep)

    rng = np.random.default_rng(L)
    G = 64 // np.dtype(dtype).itemsize
    if pitch < G // L + 1:
        pitch = G // L + 1
    nr = R if nr is None else nr
    nc, xs, ds = 3, 97, 11
    toff = rng.integers(0, 50, 9).astype(np.int64)
    # (phase taps from sb = 2 on: [2, 5), [5, 5) (none), [5, 9), [9, 9) for L = 4)
    tsplit = np.array([0, 1, 2, 5, 5, 9, 9][:L + 3], np.int64)
    x = rng.standard_normal(1000).astype(dtype)
    d = rng.standard_normal(700).astype(dtype)
    ostep = L * pitch + 5                   # (output rows longer than the grid's)
    out = np.full((R + 4, 4 * ostep), np.nan, dtype)
    xo, do, os = 5, 2, out.shape[1]
    oo = 2 * os + 3
    run(x, xo, xs, toff, tsplit, 2, d, do, ds, nc, out.reshape(-1), oo, os, nr, j0, pitch,
        width, rows, ostep)
    want = np.full(out.shape, np.nan)
    for e in range(L):
        for i in range(G):
            g, j = divmod(j0 + i, pitch)
            if g >= rows or L * j + e >= width:
                continue
            value = np.zeros(R)
            for t in range(tsplit[2 + e], tsplit[3 + e]):
                for c in range(nc):
                    value += d[do + (t * nc + c) * ds:][:R] * float(x[xo + toff[t] + c * xs + i])
            at = 3 + g * ostep + L * j + e
            want[2:2 + nr, at] = value[:nr]
    assert np.isfinite(want).any()
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def brute_conv_transpose(x, w, stride, padding, output_padding, dilation):
    """torch's conv_transpose2d by scattering, ``(lanes, C_in, n1, n2)`` and
    ``(C_in, C_out, k1, k2)`` (a 1-D layer as rows of one)."""
    k1, k2 = w.shape[2:]
    wd = np.zeros(w.shape[:2] + ((k1 - 1) * dilation[0] + 1, (k2 - 1) * dilation[1] + 1))
    wd[:, :, ::dilation[0], ::dilation[1]] = w
    (s1, s2), (q1, q2), (o1, o2) = stride, padding, output_padding
    n1, n2 = x.shape[2:]
    full = np.zeros((x.shape[0], w.shape[1], (n1 - 1) * s1 + wd.shape[2] + o1,
                     (n2 - 1) * s2 + wd.shape[3] + o2))
    for i in range(n1):
        for j in range(n2):
            full[:, :, i * s1:i * s1 + wd.shape[2], j * s2:j * s2 + wd.shape[3]] += \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], wd)
    return full[:, :, q1:full.shape[2] - q1, q2:full.shape[3] - q2]


@settings(max_examples=40, deadline=None)
@given(d=st.sampled_from([1, 2]), lanes=st.integers(1, 3), cin=st.integers(1, 9),
       cout=st.integers(1, 19), n1=st.integers(1, 9), n2=st.integers(5, 40),
       stride=st.integers(2, 4), k=st.integers(1, 7), padding=st.integers(0, 3),
       op=st.integers(0, 3), dilation=st.integers(1, 2), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_transposed_layers_interleave_their_phases_in_registers(
        d, lanes, cin, cout, n1, n2, stride, k, padding, op, dilation, seed, dtype):
    """Transposed layers upsampling by 2-4 run
    :func:`polyphase.engine.kernels_direct.run_phases` (every output phase's
    taps, its block shifts from the padding included, straight into the
    output) where their rows of output blocks fill the vectors: always
    when a whole number of vectors (and rows of at least ``G // L + 1``
    grid columns, whose vectors go on over a row's end into the next).
    torch's semantics by brute force, any
    number of output channels (blocks of 8 or 4 rows, the last part
    stored), phases with no taps (k < stride) included."""
    op %= stride
    width = (n2 - 1) * stride - 2 * padding + (k - 1) * dilation + 1 + op
    height = (n1 - 1) * stride - 2 * padding + (k - 1) * dilation + 1 + op
    if width <= 0 or d == 2 and height <= 0:
        return
    ks, st_, pads, ops, dil = ((1, k), (1, stride), (0, padding), (0, op), (1, dilation)) \
        if d == 1 else ((k, k), (stride,) * 2, (padding,) * 2, (op,) * 2, (dilation,) * 2)
    n = (1, n2) if d == 1 else (n1, n2)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, cin) + n).astype(dtype)
    w = rng.standard_normal((cin, cout) + ks).astype(dtype)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
        calls = record_calls(mp, gemm, "_direct_phases")
        if d == 1:
            got = pnn.conv_transpose1d(x[:, :, 0], w[:, :, 0], stride=stride, padding=padding,
                                       output_padding=op, dilation=dilation)[:, :, None]
        else:
            got = pnn.conv_transpose2d(x, w, stride=stride, padding=padding,
                                       output_padding=op, dilation=dilation)
    assert got.dtype == dtype
    # (one channel in and out: the single-channel kernels)
    if cin * cout > 1 and -(-width // stride) % (64 // np.dtype(dtype).itemsize) == 0:
        assert calls
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, brute_conv_transpose(x.astype(np.float64), w, st_, pads,
                                                         ops, dil), rtol=tol, atol=tol)


@pytest.mark.parametrize("d, cin, cout, n, k, bands", [
    (2, 16, 8, 32, 3, True), (2, 64, 8, 32, 3, True), (2, 16, 16, 32, 4, False),
    (2, 16, 32, 32, 4, False), (2, 64, 64, 48, 4, False), (1, 16, 16, 256, 4, False),
    (1, 32, 32, 256, 3, False)])
@pytest.mark.parametrize("layer", [False, True])
def test_strided_images_on_few_channels_skip_winograd(d, cin, cout, n, k, bands, layer):
    """A strided 2-D layer that the Winograd route applies to runs on the
    bands where the products Winograd saves are few against its transforms
    (k3 s2 on 16 -> 8 channels, 64 -> 8); k4 s2 saves more, and 1-D
    layers keep F(3, 2) (``gemm._direct_first``); the same numbers as brute
    force.  (At most 16 output channels, k3 s2 layers take the points,
    sixteen points by one vector: ``test_points``.)"""
    rng = np.random.default_rng(cin + cout + k + n)
    # (float32: in float64 one-vector blocks, 8 channels, take these on the points)
    x = rng.standard_normal((2, cin) + (n,) * d).astype(np.float32)
    w = rng.standard_normal((cout, cin) + (k,) * d).astype(np.float32)
    with pytest.MonkeyPatch.context() as mp:
        on_bands = record_calls(mp, gemm, "_direct_bands")
        on_winograd = record_calls(mp, gemm, "run_winograd_route")
        if layer:
            got = (pnn.Conv1d if d == 1 else pnn.Conv2d)(w, stride=2, padding=1)(x)
        else:
            got = (pnn.conv1d if d == 1 else pnn.conv2d)(x, w, stride=2, padding=1)
    assert (bool(on_bands), bool(on_winograd)) == (bands, not bands)
    expected = (brute_conv1d if d == 1 else brute_conv2d)(x.astype(np.float64), w, 2, 1)
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())


@pytest.mark.parametrize("d, cin, cout, k, stride, phases", [
    (2, 16, 16, 4, 2, True), (2, 16, 64, 4, 2, True), (2, 32, 16, 6, 3, True),
    (2, 48, 48, 4, 2, False), (2, 16, 16, 6, 2, False), (1, 32, 32, 4, 2, True),
    (1, 64, 16, 4, 2, True), (1, 64, 64, 4, 2, False)])
@pytest.mark.parametrize("layer", [False, True])
def test_transposed_layers_on_few_channels_skip_winograd(d, cin, cout, k, stride, phases,
                                                          layer):
    """A transposed layer that the Winograd route applies to runs on the
    phases kernel where the products Winograd saves are few against its
    transforms (few channels, two taps a phase per axis), through the
    functional call and a layer object's prepared route alike; the same
    numbers as brute force either way."""
    rng = np.random.default_rng(cin + cout + k)
    n = (1, 200) if d == 1 else (12, 12)
    x = rng.standard_normal((2, cin) + n)
    w = rng.standard_normal((cin, cout) + ((1, k) if d == 1 else (k, k)))
    xs, ws = (x[:, :, 0], w[:, :, 0]) if d == 1 else (x, w)
    with pytest.MonkeyPatch.context() as mp:
        on_phases = record_calls(mp, gemm, "_direct_phases")
        on_winograd = record_calls(mp, gemm, "run_winograd_route")
        if layer:
            cls = pnn.ConvTranspose1d if d == 1 else pnn.ConvTranspose2d
            got = cls(ws, stride=stride, padding=1)(xs)
        else:
            call = pnn.conv_transpose1d if d == 1 else pnn.conv_transpose2d
            got = call(xs, ws, stride=stride, padding=1)
    assert (bool(on_phases), bool(on_winograd)) == (phases, not phases)
    expected = brute_conv_transpose(x, w, (1, stride) if d == 1 else (stride,) * 2,
                                    (0, 1) if d == 1 else (1, 1), (0, 0), (1, 1))
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-10,
                               atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("d, width, stride, k, pad, direct", [
    (2, 14, 1, 3, 1, True), (2, 16, 1, 3, 1, True), (2, 30, 2, 4, 1, True),
    (2, 40, 1, 3, 1, True), (2, 16, 4, 4, 0, True), (2, 32, 2, 2, 0, True),
    (1, 600, 4, 4, 0, True), (2, 57, 1, 2, 1, True), (2, 64, 2, 7, 1, True),
    (1, 300, 1, 3, 1, True), (1, 1000, 3, 5, 1, True), (1, 517, 2, 4, 1, True),
    (2, 4, 1, 3, 1, False), (2, 17, 2, 4, 1, False)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_that_do_not_upsample_write_their_output_directly(d, width, stride, k, pad,
                                                                 direct, dtype, one_thread,
                                                                 monkeypatch):
    """Strided and stride-1 layers with whole blocks of eight output
    channels run :func:`polyphase.engine.kernels_direct.run_bands`, which
    splits bands of the input into phase streams and writes the output rows
    in place: rows of whole blocks of two vectors, of a masked block of two
    or of one vector at their end, rows longer than a job's ``CHUNK``
    columns, split between jobs, and bands whose rows follow one another
    in the output (k = stride, width a whole number of vectors).  Rows
    that would leave much of their last vector empty (``gemm._rows_pay``)
    go through the product on the grid instead.  Equal to brute force
    either way."""
    rows = record_jobs(monkeypatch, kernels_direct, "run_bands")
    products = record_calls(monkeypatch, gemm, "_direct_products")
    rng = np.random.default_rng(width)
    n = (width - 1) * stride + k - 2 * pad            # width outputs
    x = rng.standard_normal((3, 3) + (n,) * d).astype(dtype)
    w = rng.standard_normal((16, 3) + (k,) * d).astype(dtype)
    f, brute = (pnn.conv1d, brute_conv1d) if d == 1 else (pnn.conv2d, brute_conv2d)
    got = f(x, w, stride=stride, padding=pad)
    assert got.shape[2:] == (width,) * d and got.dtype == dtype
    assert (bool(rows), bool(products)) == (direct, not direct)
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, brute(x.astype(np.float64), w, stride, pad),
                               rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(d=st.sampled_from([1, 2]), lanes=st.integers(1, 3), cin=st.integers(1, 3),
       n=st.integers(1, 70), M=st.integers(1, 7), pre=st.integers(0, 6),
       pad=st.integers(0, 2), front=st.integers(0, 40), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
       square=st.booleans())
def test_phase_streams_kernel_equals_numpys_strided_copies(d, lanes, cin, n, M, pre, pad,
                                                           front, seed, dtype, square):
    """The GEMM path's phase streams by the numba kernel
    (:func:`polyphase.engine.kernels2d.phase_streams`, vectors of phases for
    M = 2, 3, 4, 6 and a sample at a time otherwise) equal numpy's strided
    copy into zeroed streams (:func:`polyphase.engine.gemm.fill_phase_streams`),
    for any offset of the signal in its blocks and zero blocks around it;
    the margins of ``flat`` around the streams are left alone.  (``square``
    and ``M = 1`` in 2-D: one phase, a transposed layer's streams, planes
    padded with zeros, ``kernels2d._padded_planes``.)"""
    rng = np.random.default_rng(seed)
    shape = (lanes, cin) + (n, n + 3)[:d]
    x = rng.standard_normal(shape).astype(dtype)
    downs = (M, M if square else M + 1) if d == 2 else (M,)
    pres = tuple(min(pre, m - 1) for m in downs)
    pads = (pad,) * d
    P = gemm.stream_blocks(x.shape[2:], downs, pres, pads, pads)
    S = int(np.prod(P))
    Q = int(np.prod(downs))
    want = np.zeros((Q, cin, lanes) + P, dtype)
    gemm.fill_phase_streams(x, downs, pres, pads, want)
    flat = np.full((Q, cin, front + lanes * S + 5), 7, dtype)
    gemm._phase_streams(x, downs, pres, pads, flat, front, P)
    got = flat[:, :, front:front + lanes * S].reshape((Q, cin, lanes) + P)
    np.testing.assert_array_equal(got, want)
    assert (flat[:, :, :front] == 7).all() and (flat[:, :, front + lanes * S:] == 7).all()


@pytest.mark.parametrize("n, pad, front", [((1, 1), 0, 0), ((5, 8), 1, 3), ((7, 3), 2, 11),
                                          ((16, 16), 1, 0)], ids=str)
def test_one_phase_streams_are_padded_planes(n, pad, front):
    """Streams of one phase (a transposed layer's) are ``x``'s planes with
    ``pad`` zero blocks around them, every sample written (the scratch
    holds NaN first), the margins of ``flat`` left alone."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2) + n).astype(np.float32)
    P = gemm.stream_blocks(n, (1, 1), (0, 0), (pad, pad), (pad, pad))
    S = int(np.prod(P))
    flat = np.full((1, 2, front + 3 * S + 4), np.nan, np.float32)
    gemm._phase_streams(x, (1, 1), (0, 0), (pad, pad), flat, front, P)
    got = flat[0, :, front:front + 3 * S].reshape((2, 3) + P)
    want = np.pad(x.swapaxes(0, 1), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    np.testing.assert_array_equal(got, want)
    assert np.isnan(flat[0, :, :front]).all() and np.isnan(flat[0, :, front + 3 * S:]).all()


@pytest.mark.parametrize("stride, k, dtype", [(2, 5, np.float32), (3, 4, np.float64),
                                              (4, 7, np.float32)])
def test_long_transposed_rows_go_in_parts(stride, k, dtype, monkeypatch):
    """A conv_transpose1d's one row of blocks is cut into jobs of
    ``CHUNK`` blocks (:func:`polyphase.engine.kernels_direct.run_phases`),
    serial and in parallel groups alike: torch's semantics by brute force
    over rows of several parts, the last one short."""
    rng = np.random.default_rng(stride)
    x = rng.standard_normal((2, 5, 700)).astype(dtype)
    w = rng.standard_normal((5, 9, k)).astype(dtype)
    calls = record_calls(monkeypatch, gemm, "_direct_phases")
    want = brute_conv_transpose(x[:, :, None].astype(np.float64), w[:, :, None], (1, stride),
                                (0, 1), (0, 1), (1, 1))[:, :, 0]
    tol = 2e-4 if dtype == np.float32 else 1e-11
    for work in (1, 1 << 62):                   # parallel groups, then serial
        monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", work)
        got = pnn.conv_transpose1d(x, w, stride=stride, padding=1, output_padding=1)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert len(calls) == 2 and -(-got.shape[-1] // stride) > 2 * kernels_direct.CHUNK

"""Strided 2-D layers with vectors over output channels
(:func:`polyphase.engine.kernels_direct.run_points` and its block,
:func:`polyphase.engine.simd.points_fma4x4`): four output points by 64
float32 (32 float64) channels a call, the input read in place by broadcasts.

Checked against the block's sum in numpy and against brute-force
convolutions in float64, with the route each layer takes asserted.
"""

import numpy as np
import pytest
from helpers import record_calls, record_jobs, window_equals_without
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import gemm, kernels_direct


def brute_conv2d(x, w, stride, padding, dilation=1):
    """Cross-correlation of ``x`` (N, C, n1, n2) with ``w`` (R, C, k1, k2)
    as torch defines it, in float64, from shifted strided views."""
    s1, s2 = (stride, stride) if np.isscalar(stride) else stride
    p1, p2 = (padding, padding) if np.isscalar(padding) else padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p1, p1), (p2, p2)))
    k1, k2 = w.shape[2:]
    H = (xp.shape[2] - dilation * (k1 - 1) - 1) // s1 + 1
    W = (xp.shape[3] - dilation * (k2 - 1) - 1) // s2 + 1
    out = np.zeros((x.shape[0], w.shape[0], H, W))
    for a in range(k1):
        for b in range(k2):
            v = xp[:, :, a * dilation:][:, :, :(H - 1) * s1 + 1:s1]
            v = v[:, :, :, b * dilation:][:, :, :, :(W - 1) * s2 + 1:s2]
            out += np.einsum("ncij,oc->noij", v, w[:, :, a, b].astype(np.float64))
    return out


@pytest.fixture
def one_thread(monkeypatch):
    """Every call serial (the parallel groups are tested on their own)."""
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)


def _block_call(P):
    from numba import njit

    from polyphase.engine import simd
    block = {4: simd.points_fma4x4, 8: simd.points_fma8x2, 16: simd.points_fma16x1}[P]

    @njit
    def run(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob, os, add):
        block(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob, os, add)
    return run


@pytest.mark.parametrize("P, m, nj", [(4, 4, 4), (4, 4, 3), (4, 4, 1), (4, 2, 4), (4, 1, 3),
                                      (4, 3, 4), (4, 1, 1), (8, 8, 8), (8, 8, 5), (8, 3, 8),
                                      (8, 7, 8), (8, 2, 6), (8, 1, 1), (16, 16, 16),
                                      (16, 16, 9), (16, 5, 16), (16, 11, 13), (16, 1, 1)],
                         ids=str)
@pytest.mark.parametrize("add", [False, True], ids=["store", "add"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_points_block_closed_form(P, m, nj, add, dtype):
    """The block sums ``P`` points (the first ``m`` from one start, the
    rest from another: a run of points over the end of an output row) by
    ``16 / P`` vectors of channels over taps at arbitrary offsets and
    channels at a stride, against the same sum in numpy.  Only the ``nj``
    points asked for are stored (or added to what the output holds,
    ``add``: a chunk of input channels after the first), each channel's
    transposed into one or two masked stores; every other output stays
    untouched."""
    run = _block_call(P)
    rng = np.random.default_rng(m * 10 + nj)
    G = 64 // np.dtype(dtype).itemsize
    block = 16 // P * G
    x = rng.standard_normal(2000).astype(dtype)
    nc, cs, xs, ds = 3, 211, 3, block + 7
    xoff = np.array([0, 5, 40, 17], np.int64)
    doff = np.array([0, 3, 1, 2], np.int64) * nc * ds
    d = rng.standard_normal(4 * nc * ds + block).astype(dtype)
    xa, xb, do = 11, 700, 4
    os, oa, ob = 50, 3, 33
    out = np.full(block * os + 100, np.nan, dtype)
    before = rng.standard_normal(out.size).astype(dtype)
    stored = np.zeros(out.size, bool)
    for j in range(nj):
        stored[(oa + j if j < m else ob + j - m) + np.arange(block) * os] = True
    if add:
        out[stored] = before[stored]
    run(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob, os, add)
    want = np.full(out.shape, np.nan)
    for j in range(nj):
        xj, oj = (xa + j * xs, oa + j) if j < m else (xb + (j - m) * xs, ob + j - m)
        for ch in range(block):
            want[oj + ch * os] = sum(
                float(x[xj + xoff[t] + c * cs]) * float(d[do + doff[t] + c * ds + ch])
                for t in range(xoff.size) for c in range(nc)) + \
                (float(before[oj + ch * os]) if add else 0.0)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def _run_layer(monkeypatch, x, w, **kw):
    jobs = record_jobs(monkeypatch, kernels_direct, "run_points")
    return pnn.conv2d(x, w, **kw), jobs


@pytest.mark.parametrize("n, cin, cout, k, kw", [
    (64, 32, 64, 2, dict(stride=2)),                      # k = stride, no padding
    (32, 16, 64, 4, dict(stride=4)),
    (20, 16, 64, 3, dict(stride=3, padding=1)),           # edge rows and columns
    (15, 16, 64, 3, dict(stride=2, padding=1)),           # k3 s2 on a small image
    (26, 8, 64, 4, dict(stride=3, padding=1)),           # Winograd's k4 s3
    (30, 8, 48, 5, dict(stride=4, padding=2)),           # a spare quarter of channels
    (19, 16, 100, 3, dict(stride=3, padding=1, dilation=2)),  # two blocks, the last part
    (17, 16, 128, 3, dict(stride=(1, 2), padding=(2, 0))),    # stride along one axis
    (5, 16, 64, 3, dict(stride=2)),                      # 2x2 outputs: a row of two
    (9, 16, 64, 3, dict(stride=(4, 1), padding=(3, 3))),  # rows with no tap inside
    (7, 8, 64, 7, dict(stride=2, padding=3)),            # every output at an edge
    (15, 16, 32, 3, dict(stride=2, padding=1)),           # eight points by 32 channels
    (33, 16, 16, 3, dict(stride=2, padding=1)),           # sixteen by 16, 17x17 outputs
    (30, 16, 12, 3, dict(stride=2, padding=1)),           # ... a quarter of them spare
    (21, 8, 24, 4, dict(stride=3, padding=1)),           # ... a quarter of them spare
    (6, 16, 32, 3, dict(stride=(2, 1), padding=2)),       # rows of fewer than eight
], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_layers_run_on_points(n, cin, cout, k, kw, dtype, one_thread, monkeypatch):
    """Strided 2-D layers with enough input channels and whole blocks of
    output channels (less a quarter at most) run on the points, equal to
    brute force: padding (points whose taps partly read outside ``x``, at
    every edge, down to images of edges only and rows no tap reaches),
    dilation, strides along one axis, images whose rows hold fewer than
    four outputs, and a non-contiguous input."""
    if dtype == np.float64:
        cout = cout // 2                       # (blocks of 32 float64 channels)
    rng = np.random.default_rng(n * k)
    x = rng.standard_normal((2, cin, n, n + 1)).astype(dtype)
    w = rng.standard_normal((cout, cin, k, k)).astype(dtype)
    for xin in (x, np.asfortranarray(x)):
        got, jobs = _run_layer(monkeypatch, xin, w, **kw)
        assert jobs, "the layer did not run on the points"
        assert got.dtype == dtype
        ref = brute_conv2d(x, w, kw["stride"], kw.get("padding", 0), kw.get("dilation", 1))
        tol = 2e-4 if dtype == np.float32 else 1e-11
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("lanes, cin, cout, n, k, s, p", [
    (4, 24, 64, 8, 3, 2, 1),          # 4x4 outputs, edge rows and columns
    (8, 20, 72, 13, 3, 2, 1),         # two blocks, the last part; 20 channels
    (5, 17, 64, 5, 3, 2, 0),          # 2x2 outputs, five images: a call of one
    (8, 16, 32, 9, 3, 2, 1),          # eight points (images) by 32 channels
    (4, 9, 64, 12, 4, 4, 0)], ids=str)  # 3x3 outputs, rows narrower than a call
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_calls_across_images_read_x_channels_last(monkeypatch, one_thread, lanes, cin, cout,
                                                  n, k, s, p, dtype):
    """Calls across images read ``x`` channels last (a copy,
    :func:`.kernels_direct.channels_last`) from ``LAST_CHANNELS`` input
    channels on, and in place below: the same numbers as brute force
    either way."""
    if dtype == np.float64:
        cout = cout // 2                       # (blocks of 32 float64 channels)
    rng = np.random.default_rng(cin * n)
    x = rng.standard_normal((lanes, cin, n, n)).astype(dtype)
    w = rng.standard_normal((cout, cin, k, k)).astype(dtype)
    expected = brute_conv2d(x, w, s, p)
    tol = 2e-4 if dtype == np.float32 else 1e-11
    for threshold, last in ((cin, 1), (cin + 1, 0)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(kernels_direct, "LAST_CHANNELS", threshold)
            # (a job of all the images: calls across them on so few)
            mp.setattr(kernels_direct, "POINT_JOBS", 1)
            jobs = record_jobs(mp, kernels_direct, "run_points")
            # (a layer of its own: its plans are worked out afresh)
            got = pnn.Conv2d(w, stride=s, padding=p)(x)
        assert jobs and all(job[5][3] == 1 and job[5][4] == last for job in jobs)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


@settings(max_examples=40, deadline=None)
@given(lanes=st.integers(1, 3), C=st.integers(1, 40), n=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_channels_last_is_the_transpose(lanes, C, n, dtype):
    """:func:`.kernels_direct.channels_last` moves the channel axis last
    (tiles of ``G x G`` through registers, the partial ones at the ends of
    both axes included), exactly as numpy does, for the images asked."""
    x = np.random.default_rng(C * n).standard_normal((lanes, C, n)).astype(dtype)
    out = np.full((lanes, n, C), np.nan, dtype)
    kernels_direct.channels_last(x, out, 0, lanes)
    np.testing.assert_array_equal(out, np.moveaxis(x, 1, -1))
    if lanes > 1:                                      # (a job is one image)
        out[:] = np.nan
        kernels_direct.channels_last(x, out, 1, lanes)
        assert np.isnan(out[0]).all()
        np.testing.assert_array_equal(out[1:], np.moveaxis(x[1:], 1, -1))


@pytest.mark.parametrize("n, cin, cout, k, kw, why", [
    (32, 3, 64, 7, dict(stride=2, padding=3), "a 3-channel stem"),
    (32, 4, 64, 2, dict(stride=2), "16 products an output"),
    (32, 8, 64, 3, dict(padding=1), "stride 1"),
    (32, 8, 40, 3, dict(stride=2, padding=1), "more than a quarter of the block spare"),
    (32, 8, 64, 4, dict(stride=2, padding=1), "Winograd's k4 s2"),
    (64, 8, 64, 3, dict(stride=2, padding=1), "Winograd's k3 s2 on a large image"),
    (32, 16, 128, 3, dict(stride=2, padding=1), "Winograd's k3 s2, two blocks of 256 outputs"),
    (40, 16, 48, 3, dict(stride=2, padding=1), "Winograd's k3 s2, 400 outputs, a quarter spare"),
    (32, 16, 112, 3, dict(stride=2, padding=1), "Winograd's k3 s2, 2 x 256, an eighth spare"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_layers_the_points_leave_to_other_routes(n, cin, cout, k, kw, why, one_thread,
                                                 monkeypatch):
    """Where another route measured faster (:func:`polyphase.engine.gemm._points_apply`)
    the layer goes there, with the same result."""
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, cin, n, n)).astype(np.float32)
    w = rng.standard_normal((cout, cin, k, k)).astype(np.float32)
    got, jobs = _run_layer(monkeypatch, x, w, **kw)
    assert not jobs, why
    ref = brute_conv2d(x, w, kw.get("stride", 1), kw.get("padding", 0))
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


@pytest.mark.parametrize("n, cout, points", [
    (24, 48, True), (40, 48, False), (24, 112, True), (32, 112, False), (32, 56, True),
    (40, 64, True), (24, 96, True), (40, 160, False)])
def test_spare_channels_shrink_the_images_k3_s2_takes_to_the_points(n, cout, points,
                                                                    one_thread, monkeypatch):
    """k3 s2 layers run on the points on images of at most
    ``gemm.WINOGRAD_SMALL`` outputs times blocks of output channels (of 64
    float32 channels: three blocks of 32, which 96 channels take, count as
    1.5), fewer by twice the share of the blocks' spare channels (a quarter
    spare: 200), and on Winograd past that; both equal brute force."""
    rng = np.random.default_rng(n + cout)
    x = rng.standard_normal((1, 16, n, n)).astype(np.float32)
    w = rng.standard_normal((cout, 16, 3, 3)).astype(np.float32)
    block = kernels_direct.point_block(cout, 4)
    assert block == (32 if cout % 64 and cout % 32 == 0 else 64)
    blocks = -(-cout // block)
    small = gemm.WINOGRAD_SMALL * (1 - 2 * (1 - cout / (block * blocks)))
    assert ((n // 2) ** 2 * blocks * block / 64 <= small) == points
    got, jobs = _run_layer(monkeypatch, x, w, stride=2, padding=1)
    assert bool(jobs) == points
    ref = brute_conv2d(x, w, 2, 1)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


def test_wide_k3_s2_layers_run_on_points(one_thread, monkeypatch):
    """A k3 s2 layer on an image Winograd would take (20x20 outputs: past
    ``gemm.WINOGRAD_SMALL`` with any blocks of channels) runs on the points
    when its input times output channels reach ``gemm.WINOGRAD_WIDE`` (128
    -> 256), and stays on Winograd just under it (128 -> 128); both equal
    brute force."""
    from polyphase.engine import gemm
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 128, 40, 40)).astype(np.float32)
    for cout, points in ((256, True), (128, False)):
        assert (128 * cout >= gemm.WINOGRAD_WIDE) == points
        w = rng.standard_normal((cout, 128, 3, 3)).astype(np.float32)
        got, jobs = _run_layer(monkeypatch, x, w, stride=2, padding=1)
        assert bool(jobs) == points, cout
        ref = brute_conv2d(x, w, 2, 1)
        np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


@settings(max_examples=25, deadline=None)
@given(n1=st.integers(1, 24), n2=st.integers(1, 24), cin=st.integers(8, 20),
       cout=st.sampled_from([48, 64, 96, 128]), k1=st.integers(1, 5), k2=st.integers(1, 5),
       s1=st.integers(1, 4), s2=st.integers(2, 4), p=st.integers(0, 3),
       dilation=st.integers(1, 2), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_points_match_brute_force(n1, n2, cin, cout, k1, k2, s1, s2, p, dilation, seed,
                                  dtype):
    """Any strided layer, whichever route it takes, equals brute force;
    these shapes take the points whenever the route's rules allow."""
    span1, span2 = dilation * (k1 - 1) + 1, dilation * (k2 - 1) + 1
    if n1 + 2 * p < span1 or n2 + 2 * p < span2:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cin, n1, n2)).astype(dtype)
    w = rng.standard_normal((cout, cin, k1, k2)).astype(dtype)
    got = pnn.conv2d(x, w, stride=(s1, s2), padding=p, dilation=dilation)
    ref = brute_conv2d(x, w, (s1, s2), p, dilation)
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * max(1.0, np.abs(ref).max()))


def test_points_parallel_groups_equal_the_serial_kernel(monkeypatch):
    """With two threads the jobs (bands of rows of each image) run in
    parallel groups: the same compiled kernel on disjoint outputs, so the
    result equals the serial one bit for bit."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 16, 40, 37)).astype(np.float32)
    w = rng.standard_normal((64, 16, 3, 3)).astype(np.float32)
    parallel = []
    calls = record_jobs(monkeypatch, kernels_direct, "run_points", parallel=parallel)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        y = pnn.conv2d(x, w, stride=3, padding=1)
    finally:
        numba.set_num_threads(old)
    assert parallel and len(parallel) == len(calls)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    serial, none = [], []
    record_jobs(monkeypatch, kernels_direct, "run_points", calls=serial, parallel=none)
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=3, padding=1), y)
    assert serial and not none
    np.testing.assert_allclose(y, brute_conv2d(x, w, 3, 1), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("lanes, H, W, cin, taps, cout", [
    (1, 1, 1, 8, 9, 64), (2, 3, 500, 64, 9, 64), (8, 16, 16, 64, 16, 64),
    (8, 64, 64, 64, 9, 128), (4, 100, 7, 512, 9, 64), (3, 5, 2000, 16, 9, 64),
    (8, 4, 4, 512, 9, 512), (8, 7, 7, 256, 9, 256), (32, 2, 2, 1000, 25, 64),
    (8, 16, 16, 64, 9, 64), (8, 30, 30, 32, 9, 32), (4, 9, 300, 64, 16, 16),
    (8, 14, 14, 512, 9, 512), (10, 5, 5, 64, 9, 512), (7, 10, 10, 128, 9, 256),
    (4, 4, 4, 256, 9, 256), (8, 4, 4, 128, 9, 128), (6, 4, 4, 128, 9, 128),
    (8, 3, 3, 512, 9, 512), (16, 5, 5, 32, 9, 32), (8, 12, 12, 96, 9, 96),
    (8, 10, 10, 64, 9, 160)], ids=str)
@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("inside", [1.0, 0.7])
def test_point_split_closed_form(lanes, H, W, cin, taps, cout, itemsize, inside):
    """A job takes about ``POINTS`` outputs, in whole groups of ``P`` rows
    (the edge columns go ``P`` rows at a time: four, or eight on blocks of
    ``2 * G`` channels, sixteen on blocks of ``G``, which layers of at most
    that many take) or whole
    images: several
    images only when one has fewer outputs, and only while there are
    ``POINT_JOBS`` jobs, as few a job as make that many jobs (their threads
    then get even work); its input channels go in even chunks whose weights
    (one block of output channels) fit ``POINT_WEIGHTS``, the fewest such
    chunks; the job count covers every image, row and block.  Calls go
    across images where a job has a call's worth of them, with at least
    ``ACROSS_JOBS`` jobs, and the padding would take enough of the
    products."""
    kd = kernels_direct
    (rows, images, channels, across, last), jobs = kd.point_split(lanes, H, W, cin, taps,
                                                                  cout, itemsize, inside)
    block = kd.point_block(cout, itemsize)
    G = 64 // itemsize
    if cout > 2 * G:       # (blocks of 2 * G where they leave fewer channels spare)
        spare = {b: -(-cout // b) * b - cout for b in (4 * G, 2 * G)}
        assert block == (2 * G if spare[2 * G] < spare[4 * G] else 4 * G)
    else:
        assert block == (G if cout <= G else 2 * G)
    P = 16 * G // block                                   # points a call
    assert 1 <= rows <= H and (rows == H or rows % P == 0)
    assert rows == H or rows * W >= kd.POINTS // 2
    assert rows * W <= max(kd.POINTS, P * W)
    blocks = -(-cout // block)
    assert 1 <= images <= lanes
    if images > 1:
        assert rows == H and images * H * W <= kd.POINTS
        assert -(-lanes // images) * blocks >= kd.ACROSS_JOBS
        assert (images - 1) * -(-lanes // images) < lanes
    else:
        assert rows < H or 2 * H * W > kd.POINTS or lanes * blocks < 2 * kd.POINT_JOBS
    if images > 1 and not (images == P and across):
        assert -(-lanes // images) * blocks >= kd.POINT_JOBS
    assert jobs == -(-lanes // images) * -(-H // rows) * blocks
    size = taps * block * itemsize
    chunks = -(-cin // channels)
    assert channels * size <= kd.POINT_WEIGHTS or channels == 1
    assert chunks == -(-cin * size // kd.POINT_WEIGHTS)
    assert chunks * channels - cin < chunks                # even chunks
    wanted = inside <= kd.ACROSS_SHARE or W < P
    assert across == (images >= P and wanted)
    assert last == (across and cin >= kd.LAST_CHANNELS)
    # (across wherever a call's worth of images makes ACROSS_JOBS jobs)
    assert across or not (rows == H and P * H * W <= kd.POINTS and wanted
                          and -(-lanes // P) * blocks >= kd.ACROSS_JOBS
                          and -(-lanes // -(-lanes // P)) >= P)
    assert gemm.WINOGRAD_SHARE[0] > gemm.WINOGRAD_SHARE[1] > gemm.WINOGRAD_SHARE[2]


@pytest.mark.parametrize("mode", ["full", "same", "valid", ((-4, 9), (-3, 11))], ids=str)
@pytest.mark.parametrize("stride", [2, (3, 2)], ids=str)
def test_points_windows_equal_the_other_routes(mode, stride, one_thread, monkeypatch):
    """Operator windows that start before the input and end past it (the
    layer as an operator, any window) on the points equal the same windows
    by the route they would take otherwise and by im2col
    (``method="gemm"``), in float64."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 20, 19))
    op = pnn.Conv2d(rng.standard_normal((64, 16, 3, 3)), stride=stride)
    jobs = record_jobs(monkeypatch, kernels_direct, "run_points")
    got = window_equals_without(monkeypatch, op, x, mode, jobs, gemm, "_points_apply")
    from polyphase.operators import Operator
    gemm_route = Operator.__call__(op, x, mode=mode, channel_axis=0, method="gemm")
    np.testing.assert_allclose(got, gemm_route, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, cin, cout, k, kw", [
    (7, 40, 100, 3, dict(stride=2, padding=1)),      # two blocks, the last part
    ((9, 11), 24, 64, 4, dict(stride=2, padding=1)),
    (5, 16, 64, 3, dict(stride=3, padding=2)),        # rows no tap reaches
    (8, 20, 64, 3, dict(stride=2, padding=(2, 0), dilation=2)),
    (12, 33, 48, 3, dict(stride=2)),                 # no padding: nothing to pad
    (11, 24, 28, 3, dict(stride=2, padding=1)),      # eight points a call, part of a block
], ids=str)
@pytest.mark.parametrize("pad", [False, True, "across", "across last"],
                         ids=["edges", "padded", "across", "across-last"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_points_chunks_images_and_padding(n, cin, cout, k, kw, pad, dtype, one_thread,
                                          monkeypatch):
    """Input channels in several chunks (each adding to the sums before it,
    through the edge tiles and the staged last block too), several images
    a job, and the input padded with zeros, or its edge points run apart,
    or every point's calls across images (nine images: calls of four or
    eight, then the rest), reading ``x`` in place or channels last: equal
    to brute force.  Padding happens exactly
    where asked and where the layer has any, never across images."""
    if dtype == np.float64:
        cout = cout // 2
    kd = kernels_direct
    # (chunks of at most 5 input channels; several images a job; the points
    # for every layer here)
    itemsize = np.dtype(dtype).itemsize
    monkeypatch.setattr(kd, "POINT_WEIGHTS", 5 * k * k * kd.point_block(cout, itemsize)
                        * itemsize)
    monkeypatch.setattr(gemm, "_points_apply", lambda *a: True)
    monkeypatch.setattr(kd, "POINT_JOBS", 1)
    monkeypatch.setattr(kd, "PAD_GAIN", 0.0 if pad is True else np.inf)
    across_ = pad in ("across", "across last")
    monkeypatch.setattr(kd, "ACROSS_SHARE", 1.0 if across_ else -1.0)
    monkeypatch.setattr(kd, "LAST_CHANNELS", 1 if pad == "across last" else 1 << 30)
    pads = []
    real = kd.padding_pays
    monkeypatch.setattr(kd, "padding_pays", lambda *a: pads.append(real(*a)) or pads[-1])
    splits = []
    real_split = kd.point_split
    monkeypatch.setattr(kd, "point_split", lambda *a: splits.append(real_split(*a)) or
                        splits[-1])
    n1, n2 = (n, n) if np.isscalar(n) else n
    # (new weights for each case: a layer keeps its route's decisions)
    rng = np.random.default_rng([n1 * k + cin,
                                 ["across", False, True, "across last"].index(pad)])
    x = rng.standard_normal((9 if across_ else 3, cin, n1, n2)).astype(dtype)
    w = rng.standard_normal((cout, cin, k, k)).astype(dtype)
    got, jobs = _run_layer(monkeypatch, x, w, **kw)
    assert jobs and splits
    (rows, images, channels, across, last), _ = splits[-1]
    assert channels <= 5 and images > 1 and across == across_ and last == (pad == "across last")
    padded = bool(pads and pads[-1] is not None)
    assert padded == bool(pad is True and np.any(kw.get("padding", 0)))
    ref = brute_conv2d(x, w, kw["stride"], kw.get("padding", 0), kw.get("dilation", 1))
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("lanes, n, cin, cout, k, kw, across", [
    (8, 7, 40, 100, 3, dict(stride=2, padding=1), True),    # 4x4 outputs, inside 0.69
    (8, 5, 24, 128, 3, dict(stride=2), True),               # 2x2: rows narrower than a call
    (32, 4, 16, 24, 2, dict(stride=1), True),               # 3x3, eight points by 32
    (4, 5, 24, 64, 3, dict(stride=2), "float64"),           # one block: one job (float32)
    (8, 9, 16, 64, 3, dict(stride=2), False),               # 4x4, unpadded
    (8, 14, 24, 128, 3, dict(stride=2, padding=1), True),   # 7x7, inside 0.907
    (8, 16, 24, 128, 3, dict(stride=2, padding=1), False),  # 8x8, inside 0.918
], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_images_go_across(lanes, n, cin, cout, k, kw, across, dtype, monkeypatch):
    """Without anything patched, small images with much padding, or rows
    narrower than a call, take calls across images, where that leaves
    ``ACROSS_JOBS`` jobs or more; the others do not: equal to brute force
    either way."""
    kd = kernels_direct
    monkeypatch.setattr(gemm, "_points_apply", lambda *a: True)
    splits = []
    real_split = kd.point_split
    monkeypatch.setattr(kd, "point_split", lambda *a: splits.append(real_split(*a)) or
                        splits[-1])
    rng = np.random.default_rng([n, cin, k])
    x = rng.standard_normal((lanes, cin, n, n)).astype(dtype)
    w = rng.standard_normal((cout, cin, k, k)).astype(dtype)
    got, jobs = _run_layer(monkeypatch, x, w, **kw)
    assert jobs and splits
    assert splits[-1][0][3] == (across == np.dtype(dtype).name if isinstance(across, str)
                                else across)
    ref = brute_conv2d(x, w, kw["stride"], kw.get("padding", 0), 1)
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("n, k, s, p, expected", [
    (7, 3, 2, 1, ((1, 1), (1, 1))),      # 4x4 outputs: six calls with edges, four padded
    (8, 4, 2, 1, ((1, 1), (1, 1))),
    (4, 3, 2, 1, ((1, 0), (1, 0))),      # 2x2: one edge row and column
    (32, 3, 2, 1, None),                 # 16x16: the edges are a small part
    (10, 3, 2, 1, None),                 # 5x5: 58 against 63 tap-calls
    (9, 3, 2, 0, None),                  # no padding: nothing to pad
])
def test_padding_pays_where_edges_cost_more(n, k, s, p, expected):
    """:func:`.kernels_direct.padding_pays` pads a small image's edges away
    (the rows and columns its outputs' taps read outside it, and no more)
    and leaves larger images, and layers without padding, alone."""
    kd = kernels_direct
    H = (n + 2 * p - k) // s + 1
    dims = np.array((8, 256, n, n, s, s, H, H, 0, 0), dtype=np.int64)
    # (tap (a, b) of the kernel as the layer's plan has it: input phase
    # (a % s, b % s), delays -(a // s), -(b // s))
    taps = np.array([((a % s) * s + b % s, -(a // s), -(b // s))
                     for a in range(k) for b in range(k)], dtype=np.int64)
    offsets = kd.point_offsets(dims, np.array((p, p)), taps)
    a1, a2 = offsets
    np.testing.assert_array_equal(a1, np.repeat(np.arange(k), k) - p)
    np.testing.assert_array_equal(a2, np.tile(np.arange(k), k) - p)
    assert kd.padding_pays(dims, offsets, 256, 4) == expected


@pytest.mark.parametrize("planes, n1, n2, top, bottom, left, right", [
    (5, 7, 7, 1, 1, 1, 1), (3, 4, 9, 2, 0, 0, 3), (2, 1, 1, 0, 2, 2, 0), (4, 6, 5, 0, 0, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pad_planes_equals_numpy_pad(planes, n1, n2, top, bottom, left, right, dtype):
    """:func:`.kernels_direct.pad_planes` writes each plane with its rows
    and columns of zeros around it, over whatever the output held, for the
    planes of its jobs only."""
    rng = np.random.default_rng(planes + n1)
    x = rng.standard_normal((planes, n1, n2)).astype(dtype)
    out = np.full((planes, n1 + top + bottom, n2 + left + right), np.nan, dtype)
    kernels_direct.pad_planes(x, out, top, left, 1, planes)
    want = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    np.testing.assert_array_equal(out[1:], want[1:])
    assert np.isnan(out[0]).all()


@pytest.mark.parametrize("k, padding, cout, points_at_8x8", [
    (4, 1, 64, True), (4, 1, 128, False), (5, 2, 64, False)])
def test_images_of_few_outputs_run_on_points_whatever_the_share(k, padding, cout,
                                                                points_at_8x8, one_thread,
                                                                monkeypatch):
    """k4 s2 and k5 s2 layers, which Winograd takes on larger images, run on
    the points on images of at most ``gemm.WINOGRAD_TINY`` outputs (7x7
    here); at 8x8 outputs (``gemm.POINT_FEW``) only with one block of output
    channels and Winograd's products at least ``WINOGRAD_SHARE[2]`` of the
    taps (k4 s2: 0.56, k5 s2: 0.49); all equal brute force."""
    assert gemm.WINOGRAD_TINY == 49 and gemm.POINT_FEW == 64
    assert gemm.WINOGRAD_SHARE[2] == 0.55
    rng = np.random.default_rng(k + cout)
    w = rng.standard_normal((cout, 16, k, k)).astype(np.float32)
    for n, points in ((14, True), (16, points_at_8x8)):
        x = rng.standard_normal((2, 16, n, n)).astype(np.float32)
        got, jobs = _run_layer(monkeypatch, x, w, stride=2, padding=padding)
        assert got.shape[2:] == ((7, 7) if n == 14 else (8, 8))
        assert bool(jobs) == points, n
        ref = brute_conv2d(x, w, 2, padding)
        np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


@pytest.mark.parametrize("cin, cout, k, kw", [
    (8, 64, 2, dict(stride=2)),                  # 32 products an output
    (16, 8, 3, dict(stride=2, padding=1)),       # 8 channels of a block of 32
    (16, 4, 2, dict(stride=3)),
], ids=str)
def test_small_images_take_the_points_whatever_their_channels(cin, cout, k, kw, one_thread,
                                                              monkeypatch):
    """On images of at most ``gemm.POINT_FEW`` outputs (8x8) the points take
    layers whose output channels fill little of a block or whose outputs
    sum few products; on a larger image (9x9 outputs) those go elsewhere.
    Both equal brute force."""
    assert gemm.POINT_FEW == 64
    rng = np.random.default_rng(cin + cout)
    w = rng.standard_normal((cout, cin, k, k)).astype(np.float32)
    s = kw["stride"]
    for m, points in ((8, True), (9, False)):
        n = (m - 1) * s + k - 2 * kw.get("padding", 0)
        x = rng.standard_normal((3, cin, n, n)).astype(np.float32)
        got, jobs = _run_layer(monkeypatch, x, w, **kw)
        assert got.shape[2:] == (m, m)
        assert bool(jobs) == points, m
        ref = brute_conv2d(x, w, s, kw.get("padding", 0))
        np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


@pytest.mark.parametrize("n, k, s, p, d", [
    (7, 3, 2, 1, 1), (14, 3, 2, 1, 1), ((5, 9), 3, (3, 1), 2, 1), (9, 3, 2, 0, 1), (8, 3, 2, 2, 2),
], ids=str)
def test_inside_share_counts_the_products_inside_x(n, k, s, p, d):
    """The share of (output, tap) pairs whose sample lies inside ``x``
    equals a count over every output and tap."""
    kd = kernels_direct
    n1, n2 = (n, n) if np.isscalar(n) else n
    M1, M2 = (s, s) if np.isscalar(s) else s
    H, W = (n1 + 2 * p - d * (k - 1) - 1) // M1 + 1, (n2 + 2 * p - d * (k - 1) - 1) // M2 + 1
    a = np.arange(k) * d - p
    a1, a2 = np.repeat(a, k), np.tile(a, k)
    dims = np.array([1, 1, n1, n2, M1, M2, H, W, 0, 0])
    count = sum(0 <= i * M1 + a1[t] < n1 and 0 <= j * M2 + a2[t] < n2
                for i in range(H) for j in range(W) for t in range(k * k))
    assert kd.inside_share(dims, (a1, a2)) == pytest.approx(count / (H * W * k * k), abs=1e-15)


def brute_conv_transpose(x, w, stride, padding, output_padding):
    """torch's conv_transpose1d / 2d of ``x`` (N, C, *n) with ``w`` (C, R,
    *k) in float64: each input sample scatters its kernel, then the
    padding is cropped (less the output padding at the end)."""
    d = x.ndim - 2
    k = w.shape[2:]
    full = np.zeros(x.shape[:1] + w.shape[1:2] + tuple(
        (n - 1) * stride + kk + output_padding for n, kk in zip(x.shape[2:], k)))
    for at in np.ndindex(*x.shape[2:]):
        window = tuple(slice(i * stride, i * stride + kk) for i, kk in zip(at, k))
        full[(slice(None), slice(None)) + window] += np.einsum(
            "nc,co...->no...", x[(slice(None), slice(None)) + at].astype(np.float64), w)
    return full[(slice(None), slice(None)) + tuple(
        slice(padding, s - padding) for s in full.shape[2:2 + d])]


@settings(max_examples=30, deadline=None)
@given(d=st.sampled_from([1, 2]), lanes=st.integers(1, 3), cin=st.integers(1, 12),
       cout=st.integers(1, 70), n1=st.integers(1, 6), n2=st.integers(1, 9),
       stride=st.integers(2, 4), k=st.integers(1, 7), padding=st.integers(0, 3),
       op=st.integers(0, 3), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_transposed_layers_on_phase_points_match_brute_force(d, lanes, cin, cout, n1, n2,
                                                             stride, k, padding, op, seed,
                                                             dtype):
    """Transposed layers on :func:`.gemm._phase_points` (here whatever their
    channels and size): each output phase's taps on the points (x as it
    is, the edge points with their taps inside it), the phases interleaved
    into the output; torch's semantics by brute force, phases with no taps
    (k < stride) included."""
    op %= stride
    n = (n2,) if d == 1 else (n1, n2)
    if any((m - 1) * stride - 2 * padding + k + op <= 0 for m in n):
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, cin) + n).astype(dtype)
    w = rng.standard_normal((cin, cout) + (k,) * d).astype(dtype)
    call = pnn.conv_transpose1d if d == 1 else pnn.conv_transpose2d
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "PHASE_POINTS", (1, 1 << 30, 1, 1 << 30))
        mp.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
        calls = record_calls(mp, gemm, "_phase_points")
        got = call(x, w, stride=stride, padding=padding, output_padding=op)
    assert got.dtype == dtype
    if cin * cout > 1:                  # (one channel: the single-channel kernels)
        assert calls
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, brute_conv_transpose(x, w, stride, padding, op),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("d, cin, cout, n, k, s, p, op, placed", [
    (2, 8, 16, (4, 5), 4, 2, 1, 0, True), (2, 12, 20, (3, 3), 6, 3, 1, 0, True),
    (2, 8, 8, (5, 4), 3, 2, 1, 1, True), (2, 9, 64, (2, 3), 5, 3, 2, 2, True),
    (1, 8, 16, (6,), 4, 2, 1, 0, True), (1, 10, 24, (5,), 5, 3, 1, 2, True),
    # (the product, then the interleave: phases with no taps, k < stride;
    # k = stride, whose phases share their taps, one plan entry of all
    # their rows)
    (2, 8, 8, (4, 4), 1, 2, 0, 1, False), (2, 8, 40, (3, 4), 4, 4, 0, 3, False)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_layers_placed_from_calls_across_images(d, cin, cout, n, k, s, p, op,
                                                           placed, dtype):
    """Where every output phase of a transposed layer takes calls across
    images, each phase's points go straight into the output, at their
    phase's rows and columns and inside the output's window only
    (:func:`.gemm._phase_places`), with no product to interleave, reading
    one channels-last copy of ``x`` for all the phases: torch's semantics
    by brute force, padding, output padding and 1-D included."""
    rng = np.random.default_rng(cin * k + s)
    x = rng.standard_normal((16, cin) + n).astype(dtype)
    w = rng.standard_normal((cin, cout) + (k,) * d).astype(dtype)
    call = pnn.conv_transpose1d if d == 1 else pnn.conv_transpose2d
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "PHASE_POINTS", (1, 1 << 30, 1, 1 << 30))
        mp.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
        # (calls across the sixteen images whatever the padding and jobs)
        mp.setattr(kernels_direct, "ACROSS_SHARE", 1.0)
        mp.setattr(kernels_direct, "POINT_JOBS", 1)
        mp.setattr(kernels_direct, "ACROSS_JOBS", 1)
        # (x channels last, one copy for all the phases)
        mp.setattr(kernels_direct, "LAST_CHANNELS", 1)
        copies = record_calls(mp, gemm, "_channels_last")
        results = []
        real = gemm._phase_places
        mp.setattr(gemm, "_phase_places", lambda *a: results.append(real(*a)) or results[-1])
        got = call(x, w, stride=s, padding=p, output_padding=op)
    assert results and (results[-1] is not None) == placed
    assert len(copies) == 1
    assert got.dtype == dtype
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, brute_conv_transpose(x, w, s, p, op), rtol=tol, atol=tol)


@pytest.mark.parametrize("d, lanes, cin, cout, n, k, s, op, phase_points", [
    # many channels on tiny images: the points (Winograd's tiles are most at
    # the edges, and the phases kernel's rows too short)
    (2, 2, 256, 128, 4, 4, 2, 0, True), (2, 2, 512, 16, 2, 4, 2, 0, True),
    (2, 2, 128, 64, 9, 4, 2, 0, True), (2, 2, 64, 64, 4, 4, 2, 0, True),
    (2, 2, 128, 64, 6, 6, 3, 0, True), (2, 2, 128, 64, 8, 3, 2, 1, True),
    (2, 2, 128, 64, 10, 4, 2, 0, True), (1, 2, 256, 32, 8, 4, 2, 0, True),
    # (eight images: calls across them, x channels last)
    (2, 8, 256, 64, 4, 4, 2, 0, True),
    # larger images, fewer channels, or rows for the phases kernel
    (2, 2, 64, 32, 16, 4, 2, 0, False), (2, 2, 128, 64, 11, 4, 2, 0, False),
    (2, 2, 32, 32, 4, 4, 2, 0, False), (2, 2, 64, 64, 8, 3, 2, 1, False)])
def test_tiny_transposed_images_run_on_phase_points(d, lanes, cin, cout, n, k, s, op,
                                                    phase_points):
    """Which transposed layers take :func:`.gemm._phase_points`
    (``gemm.PHASE_POINTS``), through the functional call and a layer
    object's prepared route alike; the same numbers as brute force."""
    rng = np.random.default_rng(cin + n)
    x = rng.standard_normal((lanes, cin) + (n,) * d).astype(np.float32)
    w = rng.standard_normal((cin, cout) + (k,) * d).astype(np.float32) / np.sqrt(cin * k)
    expected = brute_conv_transpose(x, w, s, 1, op)
    for layer in (False, True):
        with pytest.MonkeyPatch.context() as mp:
            calls = record_calls(mp, gemm, "_phase_points")
            if layer:
                cls = pnn.ConvTranspose1d if d == 1 else pnn.ConvTranspose2d
                got = cls(w, stride=s, padding=1, output_padding=op)(x)
            else:
                call = pnn.conv_transpose1d if d == 1 else pnn.conv_transpose2d
                got = call(x, w, stride=s, padding=1, output_padding=op)
        assert bool(calls) == phase_points
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())


@settings(max_examples=30, deadline=None)
@given(lanes=st.integers(1, 3), cin=st.integers(8, 20), cout=st.integers(1, 70),
       n=st.integers(1, 140), k=st.integers(1, 7), stride=st.integers(2, 3),
       padding=st.integers(0, 3), dilation=st.integers(1, 2), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_short_strided_signals_on_points_match_brute_force(lanes, cin, cout, n, k, stride,
                                                            padding, dilation, seed, dtype):
    """1-D strided layers on the points (as one row of an image), every
    short signal's outputs, edges included; torch's semantics by brute
    force (a 2-D layer of one row)."""
    if n + 2 * padding < dilation * (k - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, cin, n)).astype(dtype)
    w = rng.standard_normal((cout, cin, k)).astype(dtype)
    with pytest.MonkeyPatch.context() as mp:
        # (every signal of these counts as short)
        mp.setattr(gemm, "POINT_FEW", 1 << 30)
        calls = record_calls(mp, gemm, "_direct_points")
        got = pnn.conv1d(x, w, stride=stride, padding=padding, dilation=dilation)
    expected = brute_conv2d(x[:, :, None], w[:, :, None], (1, stride), (0, padding),
                            dilation)[:, :, 0]
    if cout >= 16 and k == 4 and stride == 2 and dilation == 1:    # (Winograd's F(3, 2))
        assert calls
    assert got.dtype == dtype
    tol = 2e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("n, cin, k, s, points", [
    (16, 256, 4, 2, True), (8, 512, 3, 2, True), (64, 64, 4, 2, True), (128, 64, 4, 2, True),
    (200, 64, 4, 2, False), (128, 128, 8, 4, False)])
def test_short_strided_signals_run_on_points(n, cin, k, s, points):
    """Which 1-D strided layers take the points: short signals (at most
    ``POINT_FEW`` outputs) that Winograd would take, not the bands' strides
    of 3 and more."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((2, cin, n)).astype(np.float32)
    w = rng.standard_normal((cin, cin, k)).astype(np.float32) / np.sqrt(cin * k)
    with pytest.MonkeyPatch.context() as mp:
        calls = record_calls(mp, gemm, "_direct_points")
        got = pnn.conv1d(x, w, stride=s, padding=1)
    assert bool(calls) == points
    expected = brute_conv2d(x[:, :, None], w[:, :, None], (1, s), (0, 1))[:, :, 0]
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())


@pytest.mark.parametrize("kind, cls, cin, cout, n, k, s", [
    ("points", pnn.Conv2d, 64, 48, (8, 9), 3, 2), ("points", pnn.Conv1d, 64, 32, (16,), 4, 2),
    ("phase points", pnn.ConvTranspose2d, 128, 16, (4, 5), 4, 2),
    ("phase points", pnn.ConvTranspose1d, 128, 16, (8,), 3, 3)])
@pytest.mark.parametrize("layout", ["batched", "one image", "not contiguous", "int input"])
def test_a_layer_goes_straight_to_the_points(monkeypatch, kind, cls, cin, cout, n, k, s,
                                             layout):
    """A layer whose calls take the points (or its output phases on them)
    prepares that route for the input's shape and dtype and then skips the
    general dispatch (apply_window, engine.run, run_gemm): the same numbers
    as brute force, for a batch, one image without a batch axis, a view
    that is not contiguous and an integer input (computed in float64)."""
    from polyphase import finite

    rng = np.random.default_rng(cin + len(n))
    transposed = cls in (pnn.ConvTranspose1d, pnn.ConvTranspose2d)
    w = rng.standard_normal((cin, cout) + (k,) * len(n) if transposed
                            else (cout, cin) + (k,) * len(n))
    layer = cls(w, stride=s, padding=1)
    x = rng.standard_normal((3, cin) + n)
    if layout == "int input":
        x = rng.integers(-5, 5, (3, cin) + n)
    elif layout == "not contiguous":
        x = rng.standard_normal((3, cin) + n[:-1] + (2 * n[-1],))[..., ::2]
    if transposed:
        expected = brute_conv_transpose(x.astype(np.float64), w, s, 1, 0)
    else:
        pad = (0,) * (2 - len(n)) + (1,) * len(n)
        xs, ws = (x, w) if len(n) == 2 else (x[:, :, None], w[:, :, None])
        expected = brute_conv2d(xs.astype(np.float64), ws, (1, s) if len(n) == 1 else s, pad)
        expected = expected.reshape(expected.shape[:2] + expected.shape[4 - len(n):])
    if layout == "one image":
        x, expected = x[1], expected[1]
    got = layer(x)                                  # preparing
    (_, _, _, route), = layer._calls.values()
    assert route[0] == kind

    def general(*args, **kwargs):
        raise AssertionError("the general dispatch ran")

    monkeypatch.setattr(finite, "apply_window", general)
    monkeypatch.setattr(gemm, "run_gemm", general)
    for y in (got, layer(x)):                       # then prepared
        assert y.dtype == np.float64 and y.shape == expected.shape
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())

"""The 2-D kernels for matrices that decimate and do not upsample (strided
convolutions), which read the image directly instead of its phase images:
the 4x4 box kernel for stride 2, the kernel of a pass per box row for
column strides 2-4 and boxes up to 8x8, and the ring of split rows for any
stride.

Checked against brute-force numpy correlations and the dense matrix of the
operator, on every window the finite operators use.
"""

import itertools

import numpy as np
import pytest
from helpers import assert_window_matches_dense, record_jobs
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase as pp
import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import groups, kernels2d, kernels_ring


def brute_conv2d(x, w, stride, padding):
    """torch.nn.functional.conv2d, one channel, by sliding windows."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape, axis=(1, 2))
    return np.einsum("nijkl,kl->nij", win[:, ::stride, ::stride], w)


@settings(max_examples=60, deadline=None)
@given(n1=st.integers(1, 23), n2=st.integers(1, 23), k1=st.integers(1, 5),
       k2=st.integers(1, 5), padding=st.integers(0, 3), lanes=st.integers(1, 3),
       seed=st.integers(0, 99))
def test_strided_conv2d_matches_brute_force(n1, n2, k1, k2, padding, lanes, seed):
    if n1 + 2 * padding < k1 or n2 + 2 * padding < k2:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n1, n2))
    w = rng.standard_normal((k1, k2))
    got = pnn.conv2d(x[:, None], w[None, None], stride=2, padding=padding)[:, 0]
    expected = brute_conv2d(x, w, 2, padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(n1=st.integers(4, 12), n2=st.integers(33, 140), k1=st.integers(1, 4),
       k2=st.sampled_from([1, 3, 4]), padding=st.integers(0, 2), lanes=st.integers(1, 2),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_box_kernel_vectors_match_brute_force(n1, n2, k1, k2, padding, lanes, dtype, seed):
    """Rows wide enough for the box kernel's vectors of outputs (8 or 16 a
    vector, :func:`polyphase.engine.simd.strided_box3` and ``4``), with the
    last vector of a row overlapping the one before and the edge columns and
    rows one output at a time.  (Boxes two taps wide take the strided
    kernel: see the next test.)"""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n1, n2)).astype(dtype)
    w = rng.standard_normal((k1, k2)).astype(dtype)
    w[rng.random(w.shape) < 0.4] = 0           # sparse: boxes of 3x3 inside 4x4
    w[-1, -1] = 1.5
    w[0, 0] = 0.5                              # (the box as wide as the kernel)
    with pytest.MonkeyPatch.context() as mp:
        box = record_jobs(mp, kernels2d, "strided_box_rows")
        got = pnn.conv2d(x[:, None], w[None, None], stride=2, padding=padding)[:, 0]
    assert box and got.dtype == dtype
    expected = brute_conv2d(x.astype(np.float64), w.astype(np.float64), 2, padding)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(x).max() * 16)


@pytest.mark.parametrize("k1", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_boxes_two_taps_wide_take_the_strided_phases(k1, dtype, monkeypatch):
    """A stride-2 kernel two taps wide runs on the strided kernel, whose
    vector phases split each input row once for both taps
    (:data:`polyphase.engine.kernels2d.IMAGE_PHASES_EXTRA`), not on the 4x4
    box kernel; equal to brute force, padding included."""
    rng = np.random.default_rng(k1)
    x = rng.standard_normal((2, 1, 37, 133)).astype(dtype)
    w = rng.standard_normal((k1, 2)).astype(dtype)
    box = record_jobs(monkeypatch, kernels2d, "strided_box_rows")
    strided = record_strided(monkeypatch)
    got = pnn.conv2d(x, w[None, None], stride=2, padding=1)[:, 0]
    assert strided and not box
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, brute_conv2d(x[:, 0].astype(np.float64),
                                                 w.astype(np.float64), 2, 1),
                               rtol=tol, atol=tol * 8)


def test_box_kernel_tells_a_4x4_box_from_a_3x3_one():
    """A 4x4 kernel whose last row and column are zero but for the corner is
    not a 3x3 box (the vector kernel would drop the corner)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 1, 9, 70)).astype(np.float32)
    w = np.zeros((4, 4), np.float32)
    w[:3, :3] = rng.standard_normal((3, 3))
    w[3, 3] = 2.0
    got = pnn.conv2d(x, w[None, None], stride=2)[:, 0]
    np.testing.assert_allclose(got, brute_conv2d(x[:, 0], w, 2, 0), rtol=1e-5, atol=1e-5)


def rows_route(monkeypatch):
    """Send strided matrices to the row-pass kernel (the ring): the box
    kernel's output is kept only when finite, so have it report a
    non-finite one, and turn the strided kernel off."""
    monkeypatch.setattr(engine, "STRIDED_STRIDES", ())
    monkeypatch.setattr(kernels2d, "strided_box_rows", lambda *args: 1.0)
    run = groups.run
    monkeypatch.setattr(groups, "run", lambda kernel, *args, **options:
                        1.0 if kernel is kernels2d.strided_box_rows else
                        run(kernel, *args, **options))


@pytest.mark.parametrize("route", ["box", "rows"])
@pytest.mark.parametrize("mode", ["full", "same", "valid", ((-3, 7), (-1, 9))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_operator_windows_match_the_dense_matrix(mode, dtype, route, monkeypatch):
    """Windows with odd starts and past both ends of the image, every dtype
    (complex data always takes the row passes)."""
    if route == "rows":
        rows_route(monkeypatch)
    kernel = "strided_box_rows" if route == "box" and dtype != np.complex128 \
        else "run_jobs"
    calls = record_jobs(monkeypatch, kernels_ring if kernel == "run_jobs" else kernels2d,
                        kernel)
    rng = np.random.default_rng(3)
    op = pp.Down((2, 2)) @ pp.Conv(rng.standard_normal((4, 3)))
    assert_window_matches_dense(op, rng.standard_normal((9, 12)).astype(dtype), mode)
    assert calls


@settings(max_examples=30, deadline=None)
@given(n1=st.integers(1, 23), n2=st.integers(1, 23), k1=st.integers(1, 4),
       k2=st.integers(1, 4), padding=st.integers(0, 3), seed=st.integers(0, 99))
def test_row_passes_match_brute_force(n1, n2, k1, k2, padding, seed):
    """The row-pass kernel on kernels the box kernel would take."""
    if n1 + 2 * padding < k1 or n2 + 2 * padding < k2:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n1, n2))
    w = rng.standard_normal((k1, k2))
    with pytest.MonkeyPatch.context() as mp:
        rows_route(mp)
        got = pnn.conv2d(x[:, None], w[None, None], stride=2, padding=padding)[:, 0]
    np.testing.assert_allclose(got, brute_conv2d(x, w, 2, padding), rtol=1e-12, atol=1e-12)


def test_strided_matrices_take_the_direct_routes(monkeypatch):
    box = record_jobs(monkeypatch, kernels2d, "strided_box_rows")
    strided = record_strided(monkeypatch)
    rows = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    phases = record_jobs(monkeypatch, kernels2d, "deinterleave")
    x = np.ones((1, 1, 16, 16))
    pnn.conv2d(x, np.ones((1, 1, 4, 4)), stride=2, padding=1)
    assert len(box) == 1 and not strided and not rows and not phases
    pnn.conv2d(x, np.ones((1, 1, 5, 5)), stride=2, padding=1)     # wider than the box
    pnn.conv2d(x, np.ones((1, 1, 3, 3)), stride=3)
    pnn.conv2d(x, np.ones((1, 1, 8, 2)), stride=(1, 4))
    assert len(box) == 1 and len(strided) == 3 and not rows and not phases
    pnn.conv2d(x, np.ones((1, 1, 9, 9)), stride=2)                # wider than 8
    pnn.conv2d(x, np.ones((1, 1, 3, 3)), stride=5)                # a column stride of 5
    pnn.conv2d(x, np.ones((1, 1, 3, 3)), stride=(2, 1))
    assert len(strided) == 3 and len(rows) == 3 and not phases


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("width, where", [(9, 4), (70, 4), (70, 40), (70, 69), (200, 2),
                                          (200, 150)])
def test_non_finite_input_takes_the_row_passes(monkeypatch, width, where, dtype):
    """The box kernel's vectors multiply the zeros of a 3x3 kernel in its
    4x4 box; inf there gives NaN where the taps give inf, so the row passes
    (the ring, here: the strided kernel, which would take them next, is
    off) run again.  The outputs it computes one at a time (narrow images, the
    columns at a row's ends) skip the zeros and are exact as they are.
    (Wide rows: the run of vectors that reads each input vector once.)"""
    monkeypatch.setattr(engine, "STRIDED_STRIDES", ())
    box = record_jobs(monkeypatch, kernels2d, "strided_box_rows")
    rows = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    x = np.ones((1, 1, 9, width), dtype)
    x[0, 0, 3, where] = np.inf
    y = pnn.conv2d(x, np.ones((1, 1, 3, 3), dtype), stride=2)
    assert not np.isnan(y).any()
    np.testing.assert_array_equal(y[:, 0], brute_conv2d(x[:, 0], np.ones((3, 3)), 2, 0))
    lanes = 64 // x.itemsize
    vectors = width >= 2 * lanes + 4 and 0 < where < width - 4
    # (twice when the vectors meet it: the layer's straight route to the box
    # kernel, then the engine's)
    assert len(box) == (2 if vectors else 1) and len(rows) == (1 if vectors else 0)


def test_parallel_and_serial_paths_agree(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 1, 300, 301))
    w = rng.standard_normal((1, 1, 4, 3))
    parallel = pnn.conv2d(x, w, stride=2, padding=1)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    serial = pnn.conv2d(x, w, stride=2, padding=1)
    np.testing.assert_array_equal(parallel, serial)


def record_strided(monkeypatch, parallel=None):
    """The calls of every strided kernel (:func:`kernels2d.strided_rows`:
    boxes 1-8 wide, column strides 2-4, the 1-D signals' phases and the
    images', all made first), in one list (see ``record_jobs``)."""
    calls = []
    for key in itertools.product(range(1, 9), (2, 3, 4), (kernels2d.PHASES_MIN_EXTRA,
                                                         kernels2d.IMAGE_PHASES_EXTRA)):
        kernels2d.strided_rows(*key)
        record_jobs(monkeypatch, kernels2d.STRIDED_ROWS, key, calls, parallel)
    return calls


def brute_strided(x, w, stride, padding, dilation=(1, 1)):
    """torch.nn.functional.conv2d, one channel, any strides, padding and dilation."""
    (s1, s2), (p1, p2), (d1, d2) = stride, padding, dilation
    k1, k2 = w.shape
    xp = np.pad(x, ((0, 0), (p1, p1), (p2, p2)))
    rows = (xp.shape[1] - d1 * (k1 - 1) - 1) // s1 + 1
    cols = (xp.shape[2] - d2 * (k2 - 1) - 1) // s2 + 1
    out = np.zeros((x.shape[0], rows, cols), np.result_type(x, w))
    for a in range(k1):
        for b in range(k2):
            out += w[a, b] * xp[:, a * d1:a * d1 + s1 * (rows - 1) + 1:s1,
                                b * d2:b * d2 + s2 * (cols - 1) + 1:s2]
    return out


@settings(max_examples=80, deadline=None)
@given(n1=st.integers(1, 25), n2=st.integers(1, 25), k1=st.integers(1, 7),
       k2=st.integers(1, 7), s1=st.integers(1, 5), s2=st.integers(1, 5),
       p1=st.integers(0, 3), p2=st.integers(0, 3), d1=st.integers(1, 3),
       d2=st.integers(1, 3), lanes=st.integers(1, 3), seed=st.integers(0, 99))
def test_any_stride_matches_brute_force(n1, n2, k1, k2, s1, s2, p1, p2, d1, d2, lanes,
                                        seed):
    """Any strides, kernel sizes, padding and dilation: the ring kernel (and the
    box kernel where stride 2 and the taps fit it)."""
    if (s1, s2) == (1, 1) or n1 + 2 * p1 < d1 * (k1 - 1) + 1 \
            or n2 + 2 * p2 < d2 * (k2 - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n1, n2))
    w = rng.standard_normal((k1, k2))
    got = pnn.conv2d(x[:, None], w[None, None], stride=(s1, s2), padding=(p1, p2),
                     dilation=(d1, d2))[:, 0]
    expected = brute_strided(x, w, (s1, s2), (p1, p2), (d1, d2))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [(3, 3), (2, 3), (1, 4), (5, 1), (2, 2)])
@pytest.mark.parametrize("mode", ["full", "same", "valid", ((-4, 7), (-2, 9))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_ring_windows_match_the_dense_matrix(stride, mode, dtype, monkeypatch):
    """Windows with starts off the stride grid and past both ends of the image,
    through the ring kernel (the box kernel reports non-finite here)."""
    rows_route(monkeypatch)
    calls = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    rng = np.random.default_rng(5)
    op = pp.Down(stride) @ pp.Conv(rng.standard_normal((5, 4)))
    assert_window_matches_dense(op, rng.standard_normal((13, 11)).astype(dtype), mode)
    assert calls


def test_non_finite_input_on_the_ring_spreads_as_brute_force():
    """inf in the image gives inf (and NaN where +inf meets -inf) where the
    taps-by-tap sum does: the ring's zeros only meet finite taps."""
    x = np.ones((1, 13, 14))
    x[0, 4, 5], x[0, 9, 2] = np.inf, -np.inf
    w = np.arange(1.0, 26.0).reshape(5, 5) - 12.5       # (no zero tap: 0 * inf)
    got = pnn.conv2d(x[:, None], w[None, None], stride=3, padding=2)[:, 0]
    with np.errstate(invalid="ignore"):
        expected = brute_strided(x, w, (3, 3), (2, 2))
    np.testing.assert_array_equal(got, expected)


def test_non_finite_taps_take_the_phase_images(monkeypatch):
    """A tap of inf would meet the ring's zeros around the image (NaN where the
    taps give 0 or inf): those matrices go to the phase-image route."""
    ring = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    phases = record_jobs(monkeypatch, kernels2d, "deinterleave")
    x = np.ones((1, 1, 7, 7))
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 0, 0] = np.inf
    y = pnn.conv2d(x, w, stride=3, padding=1)
    assert not ring and len(phases) == 1
    assert y[0, 0, 0, 0] == 4.0          # the inf tap reads padding: no product
    assert np.isinf(y[0, 0, 1, 1])


# The kernel of a pass per box row (kernels2d.strided_rows): column strides
# 2-4, any row stride, boxes of up to 8x8

@settings(max_examples=120, deadline=None)
@given(n1=st.integers(1, 30), n2=st.integers(1, 140), k1=st.integers(1, 8),
       k2=st.integers(1, 8), s1=st.integers(1, 4), s2=st.integers(2, 4),
       p1=st.integers(0, 3), p2=st.integers(0, 3), lanes=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_strided_kernel_matches_brute_force(n1, n2, k1, k2, s1, s2, p1, p2, lanes, dtype,
                                            seed):
    """Rows of every length around the vector widths (8 and 16 lanes) and
    the columns and rows at the image's ends, one output at a time."""
    if n1 + 2 * p1 < k1 or n2 + 2 * p2 < k2:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n1, n2)).astype(dtype)
    w = rng.standard_normal((k1, k2)).astype(dtype)
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = record_strided(monkeypatch)
        box = record_jobs(monkeypatch, kernels2d, "strided_box_rows")
        got = pnn.conv2d(x[:, None], w[None, None], stride=(s1, s2),
                         padding=(p1, p2))[:, 0]
    expected = brute_strided(x.astype(np.float64), w.astype(np.float64), (s1, s2), (p1, p2))
    assert got.shape == expected.shape and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)
    assert calls or box           # (stride 2 with a 4x4 box: the box kernel)


@pytest.mark.parametrize("stride", [(3, 3), (2, 3), (1, 4), (2, 2)])
@pytest.mark.parametrize("mode", ["full", "same", "valid", ((-4, 7), (-2, 9))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_kernel_windows_match_the_dense_matrix(stride, mode, dtype, monkeypatch):
    """Windows with starts off the stride grid and past both ends of the
    image (a 5x5 kernel: wider than the stride-2 box kernel's)."""
    calls = record_strided(monkeypatch)
    rng = np.random.default_rng(5)
    op = pp.Down(stride) @ pp.Conv(rng.standard_normal((5, 5)))
    assert_window_matches_dense(op, rng.standard_normal((13, 40)).astype(dtype), mode)
    assert calls


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("where", [0, 3, 40, 67])
@pytest.mark.parametrize("stride, row", [(3, 4), (2, 7)])
def test_strided_kernel_zeros_in_the_box_and_non_finite_input(monkeypatch, value, where,
                                                              stride, row):
    """A dilated kernel's box holds zeros, which the vector runs multiply
    (a 3x3 kernel dilated by 2, a 5x5 box: two taps wider than the stride,
    :func:`polyphase.engine.simd.strided_phases_run`): inf there gives NaN
    where the taps give inf (stride 3: row 4 is read by output row 0's
    taps and by output row 1's zero row) or a finite sum (stride 2: only
    zero rows read row 7); the check sees it and the ring runs again.  A
    box without zeros needs no check: its products are the taps' own."""
    calls = record_strided(monkeypatch)
    ring = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    x = np.ones((1, 1, 14, 70))
    x[0, 0, row, where] = value
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    with np.errstate(invalid="ignore"):
        y = pnn.conv2d(x, w, stride=stride, dilation=2)
        expected = brute_strided(x[:, 0], w[0, 0], (stride, stride), (0, 0), (2, 2))
    np.testing.assert_array_equal(y[:, 0], expected)
    assert calls and calls[0][1].shape == (5, 5) and calls[0][6] == 1     # (the check)
    # (every column is read by the vector runs, no padding here)
    assert len(ring) == 1
    # no zeros in the box: the kernel's result stands, whatever the data
    calls.clear(), ring.clear()
    y = pnn.conv2d(x, w, stride=stride)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(y[:, 0], brute_strided(x[:, 0], w[0, 0],
                                                             (stride, stride), (0, 0)))
    assert calls and calls[0][6] == 0 and not ring


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, k", [(2, 5), (2, 8), (3, 7), (4, 8)])
def test_strided_phases_read_nothing_past_the_image(dtype, stride, k):
    """The vector phases make the sums of the vector after each row's last
    one (its first outputs move into the last vector's), from the row's
    samples only: an image that ends where a page the process may not read
    begins (a load past it would end the process)."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    buf = mmap.mmap(-1, 2 * page)
    raw = np.frombuffer(buf, np.uint8)
    libc = ctypes.CDLL(None)
    guard = ctypes.c_void_p(raw.ctypes.data + page)
    assert libc.mprotect(guard, ctypes.c_size_t(page), 0) == 0          # (PROT_NONE)
    try:
        n2 = 70 if dtype == np.float32 else 38       # (rows that end in a tail)
        n1 = page // (n2 * np.dtype(dtype).itemsize)
        size = n1 * n2 * np.dtype(dtype).itemsize
        x = raw[page - size:page].view(dtype).reshape(1, 1, n1, n2)
        x[...] = np.random.default_rng(k).standard_normal(x.shape)
        w = np.random.default_rng(1).standard_normal((1, 1, k, k)).astype(dtype)
        got = pnn.conv2d(x, w, stride=stride)
        expected = brute_strided(x[:, 0].astype(np.float64), w[0, 0].astype(np.float64),
                                 (stride, stride), (0, 0))
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got[:, 0], expected, rtol=tol, atol=tol * 10)
    finally:
        libc.mprotect(guard, ctypes.c_size_t(page), mmap.PROT_READ | mmap.PROT_WRITE)
        del x, raw
        buf.close()


def test_strided_phases_run_takes_a_vector_of_outputs_or_none():
    """Fewer outputs than a vector: the intrinsic does nothing and says so
    (its caller's loops then run them); from a vector on it writes them."""
    from polyphase.engine import simd
    from polyphase.engine.jit import njit

    @njit(nogil=True)
    def run(x, w, out, count, check):
        return simd.strided_phases_run(x, 0, x.shape[1], w.shape[0], w, 5, 2, out, 0, count,
                                       x.shape[1], check)

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 64)).astype(np.float32)
    w = rng.standard_normal((5, 5)).astype(np.float32)
    check = np.zeros(16, np.float32)
    expected = brute_strided(x[None].astype(np.float64), w.astype(np.float64), (2, 2),
                             (0, 0))[0, 0]
    for count in (15, 16, 23):
        out = np.full(30, np.nan, np.float32)
        assert run(x, w, out, count, check) == (count >= 16)
        if count < 16:
            assert np.isnan(out).all()
        else:
            np.testing.assert_allclose(out[:count], expected[:count], rtol=1e-5, atol=1e-5)
            assert np.isnan(out[count:]).all()
    assert (check == 0).all()


@pytest.mark.parametrize("stride, k", [((3, 3), 3), ((2, 4), 8), ((2, 2), 5)])
def test_strided_kernel_parallel_equals_serial(monkeypatch, stride, k):
    import numba
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 1, 90, 130))
    w = rng.standard_normal((1, 1, k, k))
    parallel = []
    calls = record_strided(monkeypatch, parallel=parallel)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0)
    numba.set_num_threads(2)
    try:
        a = pnn.conv2d(x, w, stride=stride, padding=1)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    b = pnn.conv2d(x, w, stride=stride, padding=1)
    assert parallel and len(calls) > len(parallel)       # and a serial call
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(b[:, 0], brute_strided(x[:, 0], w[0, 0], stride, (1, 1)),
                               rtol=1e-12, atol=1e-12)


# 1-D decimators by 2-4 whose taps span at most M + 1 samples: images of one
# row on the strided kernel, cut into parts for the threads
# (engine._run_strided_1d)

@settings(max_examples=100, deadline=None)
@given(M=st.integers(2, 4), k=st.integers(1, 5), n=st.integers(1, 300),
       start=st.integers(-7, 7), extra=st.integers(-5, 12), lanes=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_1d_decimators_match_scipy(M, k, n, start, extra, lanes, dtype, seed):
    """Every window start around the signal's ends (outputs whose taps
    reach outside it, one at a time), against scipy's upfirdn."""
    import scipy.signal
    k = min(k, M + 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n)).astype(dtype)
    h = rng.standard_normal(k)
    full = scipy.signal.upfirdn(h, x.astype(np.float64), 1, M, axis=-1)
    window = (start, max(start + 1, full.shape[1] + extra))
    padded = np.pad(full, ((0, 0), (max(0, -window[0]), max(0, window[1] - full.shape[1]))))
    expected = padded[:, window[0] + max(0, -window[0]):][:, :window[1] - window[0]]
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(engine, "STRIDED_1D_MIN_OUTPUTS", 0)     # (short signals)
        calls = record_strided(monkeypatch)
        got = (pp.Down(M) @ pp.Conv(h))(x.astype(dtype), mode=window)
    assert got.shape == expected.shape and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)
    assert calls


@pytest.mark.parametrize("M, k", [(2, 3), (3, 3), (4, 5), (3, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_1d_decimators_in_parts_match_scipy(monkeypatch, M, k, dtype):
    """Signals long enough to be cut into parts of overlapping rows, run in
    parallel and serially: both equal scipy's upfirdn; the first call's
    bits again on a repeat (upfirdn's prepared repeats are not made for
    this route)."""
    import numba
    import scipy.signal
    rng = np.random.default_rng(M * 10 + k)
    x = rng.standard_normal((2, 60001)).astype(dtype)
    h = rng.standard_normal(k).astype(dtype)
    parallel = []
    calls = record_strided(monkeypatch, parallel=parallel)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0)
    numba.set_num_threads(2)
    try:
        a = pp.upfirdn(h, x, 1, M)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    b = pp.upfirdn(h, x, 1, M)
    assert parallel and any(args[0].shape[1] > 1 for args in parallel)     # parts
    assert len(calls) > len(parallel)                                     # and serial
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pp.upfirdn(h, x, 1, M), b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a, scipy.signal.upfirdn(h, x, 1, M), rtol=tol, atol=tol * 10)


def test_1d_decimators_with_wider_taps_keep_the_1d_kernel(monkeypatch):
    calls = record_strided(monkeypatch)
    x = np.ones(1 << 14)
    pp.upfirdn(np.ones(4), x, 1, 2)             # 4 taps > M + 1
    pp.upfirdn(np.ones(3), x, 1, 5)             # M = 5
    pp.upfirdn(np.ones(3), x[:100], 1, 2)       # short
    pp.upfirdn(np.ones(3) + 1j, x, 1, 2)        # complex
    assert not calls
    pp.upfirdn(np.ones(3), x, 1, 2)
    assert calls


@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_1d_zero_taps_meet_non_finite_input_exactly(monkeypatch, value):
    """A zero tap inside the span is multiplied by the strided kernel: the
    check sees the NaN of ``0 * inf`` and the 1-D kernel, which multiplies
    no zero tap, runs again.  Here only the zero tap reads the sample, so
    the exact result is finite everywhere."""
    import scipy.signal
    from polyphase.engine import kernels
    calls = record_strided(monkeypatch)
    exact = record_jobs(monkeypatch, kernels.RUN_JOBS, (False, True, False))  # decimation
    x = np.ones(30000)
    x[14000] = value                            # read by y[4667] through h[1] only
    h = np.array([1.0, 0.0, 2.0, 3.0])
    y = pp.upfirdn(h, x, 1, 3)
    assert calls and calls[0][6] == 1 and exact
    np.testing.assert_array_equal(y, scipy.signal.upfirdn(h, np.where(np.isfinite(x), x, 0),
                                                          1, 3))

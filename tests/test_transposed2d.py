"""The direct 2-D kernel for matrices that upsample by 2-4 on the columns
(and by any factor on the rows) with taps in boxes of up to 4x4 block
delays: transposed convolutions with strides 2-4 and kernels up to four
strides wide, any padding.

Checked against brute-force numpy scatters and the dense matrix of the
operator, on every window the finite operators use; non-finite input falls
back to the ring kernel, which multiplies no empty place.
"""

import itertools
import math

import numpy as np
import pytest
from helpers import assert_window_matches_dense, brute_conv_transpose2d, record_jobs
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase as pp
import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import kernels2d, kernels_ring


def record_transposed(monkeypatch, parallel=None):
    """The calls of every box size's and stride's kernel
    (``kernels2d.transposed_rows``, all made first), in one list (see
    ``record_jobs``)."""
    calls = []
    for key in itertools.product((1, 2, 3, 4), (1, 2, 3, 4), (2, 3, 4)):
        kernels2d.transposed_rows(*key)
        record_jobs(monkeypatch, kernels2d.TRANSPOSED_ROWS, key, calls, parallel)
    return calls


def assert_matches(got, expected, dtype):
    """``got`` has ``expected``'s shape, the computation's ``dtype``, and
    its numbers to that dtype's precision."""
    assert got.shape == expected.shape and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)


@st.composite
def layers(draw):
    """A single-channel transposed convolution the kernel takes: strides
    (1-4, 2-4), kernels up to four strides wide, any padding, and an
    output padding below the stride."""
    s1, s2 = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    k1, k2 = draw(st.integers(1, 4 * s1)), draw(st.integers(1, 4 * s2))
    padding = (draw(st.integers(0, k1 - 1)), draw(st.integers(0, k2 - 1)))
    output_padding = (draw(st.integers(0, s1 - 1)), draw(st.integers(0, s2 - 1)))
    return (s1, s2), (k1, k2), padding, output_padding


@settings(max_examples=120, deadline=None)
@given(layer=layers(), n1=st.integers(1, 23), n2=st.integers(1, 40), lanes=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_matches_brute_force(layer, n1, n2, lanes, dtype, seed):
    stride, (k1, k2), padding, output_padding = layer
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n1, n2))
    w = rng.standard_normal((k1, k2))
    expected = brute_conv_transpose2d(x, w, stride, padding, output_padding)
    if min(expected.shape[1:]) <= 0:
        return
    got = pnn.conv_transpose2d(x[:, None].astype(dtype), w[None, None].astype(dtype),
                               stride=stride, padding=padding,
                               output_padding=output_padding)[:, 0]
    assert_matches(got, expected, dtype)


@settings(max_examples=60, deadline=None)
@given(layer=layers())
def test_the_box_is_a_phase_s_taps_whatever_the_padding(layer):
    """Every such layer takes the kernel, with the smallest box: as many
    block delays on each axis as a phase has taps (``ceil(k / stride)``).  Along
    the columns the phases are counted from the shift that lines their
    delays up; without it an odd padding made the box a delay wider."""
    stride, kernel, padding, output_padding = layer
    w = np.ones((1, 1) + kernel)
    pm = pnn.ConvTranspose2d(w, stride=stride, padding=padding,
                             output_padding=output_padding).polyphase()
    c, k1, k2, shift = engine._transposed_taps(engine._single_channel(pm), np.float64)
    rows_box, box = (math.ceil(k / s) for k, s in zip(kernel, stride))
    assert c.shape == (stride[0], rows_box, stride[1], box)
    assert 0 <= shift < stride[1]
    assert np.count_nonzero(c) == kernel[0] * kernel[1]      # every tap, once


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n2", [15, 16, 17, 31, 32, 33, 34, 63, 64, 65, 66])
@pytest.mark.parametrize("stride, k", [(2, 2), (2, 3), (2, 4), (2, 5), (2, 6), (2, 8), (3, 3),
                                       (3, 5), (3, 9), (3, 10), (4, 4), (4, 8), (4, 11)])
def test_rows_of_whole_vectors_and_a_tail_match_brute_force(n2, stride, k, dtype):
    """The vector pass runs whole vectors, then one masked step for the rest:
    rows of every length around one, two and four vectors of either dtype
    (8 and 16 lanes), with and without a rest, for every box size (1-4
    delays) and column stride (2-4)."""
    rng = np.random.default_rng(n2 * 10 + k)
    x = rng.standard_normal((1, 5, n2))
    w = rng.standard_normal((k, k))
    got = pnn.conv_transpose2d(x[:, None].astype(dtype), w[None, None].astype(dtype),
                               stride=stride)[:, 0]
    assert_matches(got, brute_conv_transpose2d(x, w, stride, 0, 0), dtype)


@pytest.mark.parametrize("stride, padding", [(2, 2), (3, 1), ((4, 3), 0)])
def test_parallel_equals_serial(monkeypatch, stride, padding):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 1, 70, 90))
    w = rng.standard_normal((1, 1, 4, 3))
    parallel = []
    calls = record_transposed(monkeypatch, parallel=parallel)
    monkeypatch.setattr("polyphase.engine.PARALLEL_MIN_WORK", 0)
    import numba
    numba.set_num_threads(2)
    try:
        a = pnn.conv_transpose2d(x, w, stride=stride, padding=padding)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    monkeypatch.setattr("polyphase.engine.PARALLEL_MIN_WORK", 1 << 62)
    b = pnn.conv_transpose2d(x, w, stride=stride, padding=padding)
    assert parallel and len(calls) > len(parallel)       # and a serial call
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ups", [(2, 2), (3, 3), (2, 4), (4, 3)], ids=str)
@pytest.mark.parametrize("mode", ["full", "same", "valid", ((-3, 7), (-1, 20))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_operator_windows_match_the_dense_matrix(mode, dtype, ups, monkeypatch):
    """Windows with starts in every phase and past both ends of the image."""
    calls = record_transposed(monkeypatch)
    rng = np.random.default_rng(3)
    op = pp.Conv(rng.standard_normal((4, 3))) @ pp.Up(ups)
    assert_window_matches_dense(op, rng.standard_normal((9, 12)).astype(dtype), mode)
    assert calls


@pytest.mark.parametrize("stride, k", [(2, 3), (2, 5), (3, 3), (3, 7)])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("width, where", [(7, 3), (7, 0), (7, 6), (70, 35), (70, 1),
                                          (70, 69), (200, 150)])
def test_non_finite_input_takes_the_exact_kernel(monkeypatch, width, where, dtype, value,
                                                 stride, k):
    """The kernel's vector pass multiplies the box's empty places; inf there
    gives NaN where the taps give inf, so the ring kernel, which multiplies
    no empty place, runs again.  The outputs it computes one at a time (the
    columns at a row's ends) skip the zeros and are exact as they are."""
    calls = record_transposed(monkeypatch)
    exact = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    x = np.ones((1, 1, 6, width), dtype)
    x[0, 0, 2, where] = value
    # stride 2, k = 3: phases have 4, 2, 2 and 1 taps in 2x2 boxes; k = 5:
    # 9, 6, 6, 4 in 3x3; stride 3, k = 7: 9 to 4 taps in 3x3 boxes
    w = np.ones((1, 1, k, k), dtype)
    y = pnn.conv_transpose2d(x, w, stride=stride)
    expected = brute_conv_transpose2d(x[:, 0], w[0, 0], stride, 0, 0)
    np.testing.assert_array_equal(y[:, 0], expected)   # (NaN where expected's are)
    if value != value:
        assert np.isnan(y).any()
    else:
        assert not np.isnan(y).any()
    if 0 < where < width - 1:
        # read by the vector pass: the layer's straight route, then the
        # engine's, give the images up, and the ring kernel runs
        assert len(calls) == 2 and len(exact) == 1


def test_non_finite_output_of_finite_input_is_kept_exact(monkeypatch):
    """Finite input whose sums overflow: the check sees inf and the ring
    kernel runs; its result is the same (inf where the sums overflow)."""
    exact = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    x = np.full((1, 1, 5, 40), 3e38, np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    y = pnn.conv_transpose2d(x, w, stride=2)
    with np.errstate(over="ignore"):    # (sums of positive terms: any order overflows alike)
        expected = brute_conv_transpose2d(x[:, 0], w[0, 0], 2, 0, 0).astype(np.float32)
    assert np.isinf(expected).any() and np.isfinite(expected).any()
    np.testing.assert_array_equal(y[:, 0], expected)
    assert exact


def test_wider_boxes_other_strides_and_complex_data_take_the_ring_kernel(monkeypatch):
    calls = record_transposed(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 8, 8))
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 9, 9)), stride=2)   # 5 delays
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 3, 3)), stride=2, dilation=4)
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 5, 5)), stride=5)   # 5 phases
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 3, 3)), stride=(2, 1))
    (pp.Conv(rng.standard_normal((3, 3))) @ pp.Up((2, 2)))(x[0, 0] + 1j)
    assert not calls
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 4, 4)), stride=2)
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 6, 5)), stride=2)   # 3x3 boxes
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 7, 8)), stride=2)   # 4x4 boxes
    # an odd padding: the column phases counted from one column on
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 4, 4)), stride=2, padding=1)
    pnn.conv_transpose2d(x, rng.standard_normal((1, 1, 5, 5)), stride=3, padding=1)
    # dilation 2: every tap on one phase, three delays a side
    w = rng.standard_normal((3, 3))
    y = pnn.conv_transpose2d(x, w[None, None], stride=2, dilation=2)
    assert len(calls) == 6
    spread = np.zeros((5, 5))
    spread[::2, ::2] = w
    np.testing.assert_allclose(y[:, 0], brute_conv_transpose2d(x[:, 0], spread, 2, 0, 0),
                               rtol=1e-12, atol=1e-12)


# 1-D signals at strides 2-4: images of one row, cut into parts for the
# threads (engine._run_transposed_1d)

@settings(max_examples=80, deadline=None)
@given(stride=st.integers(2, 4), k=st.integers(1, 16), n=st.integers(1, 200),
       padding=st.integers(0, 11), output_padding=st.integers(0, 3), lanes=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_1d_signals_match_brute_force(stride, k, n, padding, output_padding, lanes, dtype,
                                      seed):
    k = min(k, 4 * stride)                  # (four block delays at most)
    padding, output_padding = min(padding, k - 1), min(output_padding, stride - 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n))
    w = rng.standard_normal(k)
    expected = brute_conv_transpose2d(x[:, None], w[None], (1, stride), (0, padding),
                                      (0, output_padding))[:, 0]
    if expected.shape[1] <= 0:
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(engine, "TRANSPOSED_1D_MIN_OUTPUTS", 0)    # (short signals)
        calls = record_transposed(monkeypatch)
        got = pnn.conv_transpose1d(x[:, None].astype(dtype), w[None, None].astype(dtype),
                                   stride=stride, padding=padding,
                                   output_padding=output_padding)[:, 0]
    assert_matches(got, expected, dtype)
    assert calls and all(args[1].shape[1] == 1 for args in calls)     # one row a box


@pytest.mark.parametrize("up", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_1d_signals_in_parts_match_scipy(monkeypatch, up, dtype):
    """Signals long enough to be cut into parts, run in parallel and
    serially: both equal scipy's upfirdn, with a window start in every
    phase (the taps' shift)."""
    import numba
    import scipy.signal

    from polyphase import engine
    rng = np.random.default_rng(up)
    x = rng.standard_normal((2, 40001)).astype(dtype)
    h = rng.standard_normal(2 * up + 1).astype(dtype)
    parallel = []
    calls = record_transposed(monkeypatch, parallel=parallel)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 0)
    numba.set_num_threads(2)
    try:
        a = pp.upfirdn(h, x, up)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    b = pp.upfirdn(h, x, up)
    assert parallel and any(args[10] > 1 for args in parallel)      # parts of rows
    assert len(calls) > len(parallel)                               # and a serial call
    np.testing.assert_array_equal(a, b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a, scipy.signal.upfirdn(h, x, up), rtol=tol, atol=tol * 10)
    op = pp.Conv(h.astype(np.float64)) @ pp.Up(up)
    for start in range(up + 1):
        window = (start, start + 5000 * up + 7)
        np.testing.assert_allclose(op(x[0], mode=window),
                                   scipy.signal.upfirdn(h, x[0], up)[slice(*window)],
                                   rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_non_finite_1d_input_takes_the_exact_kernel(value, monkeypatch):
    """The transposed kernel's check sees the NaN its zero taps made of
    inf, and the 1-D kernel, which multiplies no zero tap, runs again."""
    from polyphase.engine import kernels
    calls = record_transposed(monkeypatch)
    exact = record_jobs(monkeypatch, kernels.RUN_JOBS, (True, False, True))    # L = 3
    x = np.ones(9000)
    x[4000] = value
    h = np.ones(7)
    y = pp.upfirdn(h, x, 3)
    assert calls and exact
    import scipy.signal
    expected = scipy.signal.upfirdn(h, np.where(np.isfinite(x), x, 0), 3)
    finite = np.abs(np.arange(y.size) - 12000) > 8
    np.testing.assert_array_equal(y[finite], expected[finite])
    if value != value:
        assert np.isnan(y).sum() == 7
    else:
        assert not np.isnan(y).any() and np.isinf(y).sum() == 7


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("L1, L2", [(2, 2), (1, 2), (3, 2), (2, 3), (2, 1)])
def test_interleave_blocks_is_depth_to_space(L1, L2, dtype):
    """:func:`polyphase.engine.kernels2d.interleave_blocks` against numpy: every
    window start and end (crops of 0 to ``L`` samples at either side, rows
    shorter than a vector and longer), from planes laid out as the GEMM path
    has them (C-ordered) and as the Winograd route hands them over (a
    transposed view)."""
    from polyphase.engine.kernels2d import interleave_blocks
    rng = np.random.default_rng(L1 * 10 + L2)
    C, lanes, nb1 = 2, 3, 3
    for nb2 in (3, 21):
        y = rng.standard_normal((L1, L2, C, lanes, nb1, nb2))
        if np.dtype(dtype).kind == "c":
            y = y + 1j * rng.standard_normal(y.shape)
        y = y.astype(dtype)
        views = (y, np.ascontiguousarray(y.transpose(3, 0, 1, 2, 4, 5)).transpose(1, 2, 3, 0, 4, 5))
        full = y.transpose(3, 2, 4, 0, 5, 1).reshape(lanes, C, nb1 * L1, nb2 * L2)
        for s1 in range(L1):
            for s2 in range(L2 + 1):
                for cut in (0, 1, L2):
                    n1, n2 = nb1 * L1 - s1, nb2 * L2 - s2 - cut
                    want = full[:, :, s1:s1 + n1, s2:s2 + n2]
                    for planes in views:
                        out = np.full((lanes, C, n1, n2), np.nan, dtype)
                        interleave_blocks(planes, np.int64(s1), np.int64(s2), out)
                        np.testing.assert_array_equal(out, want, err_msg=f"{s1} {s2} {cut}")


@pytest.mark.parametrize("job0, job1", [(0, 6), (0, 1), (2, 5), (5, 6), (3, 3)])
def test_interleave_jobs_write_their_planes_only(job0, job1):
    """:func:`polyphase.engine.kernels2d.interleave_jobs` writes the output
    planes ``lane * C + c`` of its range, as :func:`interleave_blocks` does,
    and no other (numba's threads each take a range)."""
    from polyphase.engine.kernels2d import interleave_blocks, interleave_jobs
    rng = np.random.default_rng(job0 * 7 + job1)
    C, lanes = 2, 3
    y = rng.standard_normal((2, 2, C, lanes, 4, 19)).astype(np.float32)
    want = np.zeros((lanes, C, 7, 36), np.float32)
    interleave_blocks(y, np.int64(1), np.int64(1), want)
    out = np.full(want.shape, np.nan, np.float32)
    interleave_jobs(y, np.int64(1), np.int64(1), out, job0, job1)
    planes = out.reshape(lanes * C, -1)
    np.testing.assert_array_equal(planes[job0:job1], want.reshape(lanes * C, -1)[job0:job1])
    assert np.isnan(np.delete(planes, np.s_[job0:job1], axis=0)).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [2, 3])
def test_transposed_layer_interleaves_on_numbas_threads(monkeypatch, threads, k):
    """After the direct kernel's products (on numba's threads) the output
    phases are interleaved there too: with two threads in groups, with one
    on the caller; torch's numbers either way.  (Rows of six input
    columns: rows of the grid too short for the kernel that interleaves in
    registers, ``gemm._direct_phases``, whose vectors would span three.)"""
    torch = pytest.importorskip("torch")
    from polyphase import engine
    from polyphase.engine import kernels2d, numba_threads
    import polyphase.nn as pnn

    monkeypatch.setattr(numba_threads, "count", lambda: threads)
    seen = []
    jobs = engine._jobs

    def spy(kernel, args, njobs, groups, *rest, **kw):
        if kernel is kernels2d.interleave_jobs:
            seen.append((njobs, groups))
        return jobs(kernel, args, njobs, groups, *rest, **kw)

    monkeypatch.setattr(engine, "_jobs", spy)
    rng = np.random.default_rng(k)
    x = rng.standard_normal((4, 32, 32, 6)).astype(np.float32)
    w = rng.standard_normal((32, 32, k, k)).astype(np.float32)
    op = k % 2
    got = pnn.conv_transpose2d(x, w, stride=2, padding=k // 2, output_padding=op)
    want = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=k // 2,
        output_padding=op).numpy()
    assert seen == [(4 * 32, 4 * threads if threads > 1 else 0)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())

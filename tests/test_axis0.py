"""The axis-0 route: a 1-D operator along an axis that is not the fastest in memory.

The kernel (``polyphase.engine.kernels_axis0``) filters ``x[before, n, after]``
along ``n`` with the ``after`` axis contiguous.  It is checked against
``scipy.signal.upfirdn(..., axis=...)``, the dense numpy reference matrix, and
the last-axis path on the moved array; a spy on the engine makes sure the
kernel really ran (and on the caller's memory, without a copy).
"""

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings, strategies as st

import polyphase as pp
from polyphase import engine
from polyphase.engine import kernels_axis0, kernels_band
from polyphase.extension import MODES
from polyphase.finite import apply_window
from polyphase.testing import reference_matrix

from helpers import random_array, record_jobs, tolerance

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
RNG = np.random.default_rng(23)
RATES = [(1, 1, 1), (2, 1, 8), (1, 2, 64), (3, 2, 96), (2, 3, 5), (1, 1, 100),
         (5, 1, 13), (1, 4, 7), (2, 1, 2)]


def random(shape, dtype):
    return random_array(shape, dtype, RNG)


def real_of(dtype):
    return np.empty(0, dtype).real.dtype


def assert_close(got, expected, dtype, what=""):
    assert got.shape == expected.shape, (got.shape, expected.shape, what)
    scale = max(1.0, np.abs(expected).max(initial=0))
    err = np.abs(got - expected).max(initial=0) / scale
    assert err <= tolerance(dtype), (what, err)


def scipy_upfirdn(h, x, up, down, axis, **kw):
    """scipy in double precision, the reference for every dtype."""
    wide = np.complex128 if np.iscomplexobj(x) or np.iscomplexobj(h) else np.float64
    return ss.upfirdn(np.asarray(h, wide), np.asarray(x, wide), up, down, axis=axis, **kw)


@pytest.fixture
def axis0_calls(monkeypatch):
    """Arguments of every call to the axis-0 route."""
    calls = []
    real = engine._run_axis0

    def spy(pm, x, dtype, in_origin, start, length):
        calls.append({"x": x, "in_origin": in_origin, "start": start, "length": length})
        return real(pm, x, dtype, in_origin, start, length)

    monkeypatch.setattr(engine, "_run_axis0", spy)
    return calls


@pytest.fixture
def kernel_inputs(monkeypatch):
    """The arguments the axis-0 numba kernels (and the band route's) receive,
    call by call (the input array first)."""
    calls = []
    for module in (kernels_axis0, kernels_band):
        record_jobs(monkeypatch, module, "run_jobs", calls)
    return calls


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("width", [1, 3, 64, 1000])
@pytest.mark.parametrize("force", [False, True], ids=["default", "forced"])
def test_matches_scipy_along_axis0(width, dtype, force, monkeypatch, axis0_calls):
    routed = force or width >= engine.AXIS0_MIN_LANES
    if force:                                   # the kernel on narrow arrays too
        monkeypatch.setattr(engine, "AXIS0_MIN_LANES", 1)
    n = 37 if width == 1000 else 150
    for up, down, taps in RATES:
        h = random(taps, real_of(dtype))
        x = random((n, width), dtype)
        got = pp.upfirdn(h, x, up, down, axis=0)
        assert got.dtype == dtype
        assert_close(got, scipy_upfirdn(h, x, up, down, 0), dtype, (up, down, taps))
    if width > 1:                   # (n, 1) is the last-axis case either way
        assert bool(axis0_calls) == routed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [3, 64])
def test_long_filter_160_over_147(dtype, width, monkeypatch, axis0_calls):
    monkeypatch.setattr(engine, "AXIS0_MIN_LANES", 1)
    h = ss.firwin(3201, 1 / 160).astype(dtype) * 160
    x = random((400, width), dtype)
    got = pp.upfirdn(h, x, 160, 147, axis=0)
    assert got.dtype == dtype
    assert_close(got, scipy_upfirdn(h, x, 160, 147, 0), dtype)
    assert axis0_calls


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_resample_poly_along_axis0(dtype, axis0_calls):
    x = random((500, 24), dtype)
    for up, down in [(160, 147), (3, 2), (1, 4)]:
        got = pp.resample_poly(x, up, down, axis=0)
        expected = ss.resample_poly(x, up, down, axis=0)
        assert got.dtype == expected.dtype
        assert_close(got, expected, dtype, (up, down))
    assert axis0_calls


def test_complex_taps(axis0_calls):
    h = random(9, np.complex128)
    for dtype in DTYPES:
        x = random((60, 20), dtype)
        got = pp.upfirdn(h.astype(np.result_type(dtype, np.complex64)), x, 3, 2, axis=0)
        wide = np.result_type(dtype, np.complex64)
        assert_close(got, scipy_upfirdn(h, x, 3, 2, 0), wide)
    # a complex operator on real float32 input: complex64 out
    y = pp.Conv([1j, 2.0])(np.ones((5, 16), np.float32), axis=0)
    assert y.dtype == np.complex64
    np.testing.assert_array_equal(y[1:5], np.full((4, 16), 2 + 1j))
    assert axis0_calls


@pytest.mark.parametrize("shape, axis", [((3, 90, 20), 1), ((2, 3, 70, 5, 7), 2),
                                         ((4, 50, 1, 16), 1), ((80, 2, 9), 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_middle_axis_in_place(shape, axis, dtype, axis0_calls, kernel_inputs):
    x = random(shape, dtype)
    h = random(11, real_of(dtype))
    got = pp.upfirdn(h, x, 3, 2, axis=axis)
    assert_close(got, scipy_upfirdn(h, x, 3, 2, axis), dtype)
    # the kernel read the caller's array and wrote the result in its layout
    assert got.flags.c_contiguous
    assert len(kernel_inputs) == 1 and np.shares_memory(kernel_inputs[0][0], x)
    y = pp.Conv(h)(x, axis=axis)
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, np.apply_along_axis(np.convolve, axis, x, h),
                               rtol=0, atol=tolerance(dtype) * np.abs(y).max())


def test_no_copy_of_the_input(kernel_inputs):
    x = RNG.standard_normal((500, 64))
    h = ss.firwin(64, 0.5)
    y = pp.upfirdn(h, x, 2, 1, axis=0)
    assert y.flags.c_contiguous and np.shares_memory(kernel_inputs[-1][0], x)
    y = pp.Conv(h)(x, axis=0)
    assert y.flags.c_contiguous and np.shares_memory(kernel_inputs[-1][0], x)


OPS = {
    "conv": pp.Conv(RNG.standard_normal(5)),
    "upfirdn-3/2": pp.UpFirDn(RNG.standard_normal(10), 3, 2),
    "transposed-conv": pp.Conv(RNG.standard_normal(4)).T @ pp.Up(2),
    "strided-conv": pp.Down(3) @ pp.Conv(RNG.standard_normal(7)),
    "advance": pp.Delay(-3),
    "delay": pp.Delay(2),
    "conv-complex": pp.Conv([1 + 2j, -0.5j, 3.0]),
    "adjoint-complex": (pp.Down(2) @ pp.Conv([1j, 2.0, -1.0])).H,
    "sum": pp.Up(2) @ pp.Down(3) + pp.Down(3) @ pp.Up(2),
    "zero-edges": pp.Conv([0.0, 1.0, 2.0, 0.0]) @ pp.Up(2),
}
WINDOWS = ["full", "same", "valid", (-5, 7), (3, 3), (2, 90), (40, 45)]


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", WINDOWS, ids=str)
def test_modes_and_windows_against_dense_matrix(name, mode, axis0_calls):
    op = OPS[name]
    n = 23
    x = random((n, 18), np.float64)
    got = op(x, axis=0, mode=mode)
    D = reference_matrix(op, n, mode)
    np.testing.assert_allclose(got, D @ x, rtol=1e-12, atol=1e-12)
    # and the last-axis path on the transposed array
    np.testing.assert_allclose(got, op(np.ascontiguousarray(x.T), mode=mode).T,
                               rtol=1e-12, atol=1e-12)
    assert axis0_calls or got.size == 0


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", ["full", "same", "valid", (-4, 30)], ids=str)
def test_finite_operator_matmat_and_adjoint(name, mode, axis0_calls):
    op = OPS[name]
    n = 21
    A = op.on(n, mode)
    D = reference_matrix(op, n, mode)
    X = random((n, 40), np.complex128)
    Y = random((A.shape[0], 40), np.complex128)
    np.testing.assert_allclose(A.matmat(X), D @ X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A.rmatmat(Y), D.conj().T @ Y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A.H @ Y, D.conj().T @ Y, rtol=1e-12, atol=1e-12)
    if A.shape[0]:
        # the adjoint reads a signal that starts at the window's first index
        assert axis0_calls[-1]["in_origin"] == A.windows[0][0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extension_modes_along_axis0(mode, dtype, axis0_calls):
    for up, down, taps in [(2, 1, 8), (1, 2, 9), (3, 2, 12), (1, 1, 30)]:
        h = random(taps, dtype)
        for shape, axis in [((40, 20), 0), ((2, 33, 17), 1)]:
            x = random(shape, dtype)
            got = pp.upfirdn(h, x, up, down, axis=axis, mode=mode, cval=0.5)
            expected = ss.upfirdn(h, x, up, down, axis=axis, mode=mode, cval=0.5)
            assert got.dtype == expected.dtype == dtype
            assert got.flags.c_contiguous
            assert_close(got, expected, dtype, (mode, up, down, taps, shape))
    # the extended signal starts (taps - 1) // up samples before the input
    assert axis0_calls[-1]["in_origin"] == -(30 - 1)


def test_methods(axis0_calls):
    # a long filter: the cost model picks the FFT path, which runs on rows
    h = RNG.standard_normal(2000)
    x = RNG.standard_normal((1500, 20))
    expected = scipy_upfirdn(h, x, 2, 1, 0)
    for method, routed in [("direct", True), ("fft", False), ("auto", False)]:
        before = len(axis0_calls)
        got = pp.upfirdn(h, x, 2, 1, axis=0, method=method)
        assert_close(got, expected, np.float64, method)
        assert (len(axis0_calls) > before) == routed, method
    # a short one: auto is direct, on the axis-0 kernel
    before = len(axis0_calls)
    assert_close(pp.upfirdn(h[:30], x, 2, 1, axis=0),
                 scipy_upfirdn(h[:30], x, 2, 1, 0), np.float64)
    assert len(axis0_calls) > before


def test_special_values():
    x = np.ones((7, 16))
    x[1] = np.nan
    x[3, :8] = np.inf
    # inserted zeros are never multiplied: no inf * 0 = NaN
    up = pp.Up(2)(x, axis=0)
    expected = np.zeros((14, 16))
    expected[::2] = x
    np.testing.assert_array_equal(up, expected)
    # a row no tap reads stays clean
    np.testing.assert_array_equal(pp.Down(2)(x, axis=0), x[::2])
    with np.errstate(invalid="ignore"):
        ref = ss.upfirdn([1.0, 1.0], x, axis=0)
    np.testing.assert_array_equal(pp.Conv([1.0, 1.0])(x, axis=0), ref)


@pytest.mark.parametrize("after, tile, acc", [(2100, None, None), (100, 48, None),
                                               (64, None, 1), (40, 16, 1 << 20)])
def test_tiles_and_job_sizes(after, tile, acc, monkeypatch, axis0_calls):
    if tile:
        monkeypatch.setattr(engine, "AXIS0_TILE", tile)
    if acc:
        monkeypatch.setattr(engine, "AXIS0_ACC_BYTES", acc)
    for up, down, taps in [(2, 1, 16), (3, 2, 20), (1, 3, 10), (1, 1, 5)]:
        h = random(taps, np.float64)
        x = random((29, after), np.float64)
        assert_close(pp.upfirdn(h, x, up, down, axis=0),
                     scipy_upfirdn(h, x, up, down, 0), np.float64)
    assert axis0_calls


@pytest.mark.skipif(engine._parallel(1 << 30, 1) == 0, reason="one numba thread")
@pytest.mark.parametrize("up, down, taps", [(3, 2, 31), (2, 1, 40)], ids=["3/2", "pairs"])
def test_parallel_and_serial_agree(monkeypatch, kernel_inputs, up, down, taps):
    op = pp.UpFirDn(RNG.standard_normal(taps), up, down)
    x = RNG.standard_normal((3000, 40))
    parallel = op(x, axis=0)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    serial = op(x, axis=0)
    np.testing.assert_array_equal(parallel, serial)
    assert_close(parallel, op(np.ascontiguousarray(x.T)).T, np.float64)


def test_layouts(axis0_calls):
    base = RNG.standard_normal((120, 80))
    h = RNG.standard_normal(9)
    cases = [(base, True), (base[::2], True), (base[:, ::2], True),
             (base[::-1], False), (np.asfortranarray(base), False),
             (base[:, :10], False), (base.astype(np.int32), True)]
    for x, routed in cases:
        before = len(axis0_calls)
        got = pp.Conv(h)(x, axis=0)
        assert_close(got, np.apply_along_axis(np.convolve, 0, x.astype(float), h),
                     np.float64)
        assert (len(axis0_calls) > before) == routed


def test_empty():
    h = [1.0, 2.0]
    assert pp.Conv(h)(np.zeros((0, 64)), axis=0).shape == (0, 64)
    assert pp.Conv(h)(np.zeros((5, 0)), axis=0).shape == (6, 0)
    y = pp.Conv(h)(np.ones((5, 64)), axis=0, mode=(3, 3))
    assert y.shape == (0, 64)
    y = pp.Up(2)(np.ones((2, 64, 30)), axis=1, mode=(-9, -4))
    np.testing.assert_array_equal(y, np.zeros((2, 5, 30)))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_axis0_route_equals_moveaxis_route(data):
    lead = data.draw(st.integers(0, 3), label="before")         # 0: no axis before
    n = data.draw(st.integers(1, 40), label="n")
    after = data.draw(st.integers(1, 40), label="after")
    up = data.draw(st.integers(1, 5), label="up")
    down = data.draw(st.integers(1, 5), label="down")
    # (up to 40: pairs of phases share eight taps or more, see below)
    taps = data.draw(st.integers(1, 40), label="taps")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    start = data.draw(st.integers(-10, 40), label="start")
    stop = start + data.draw(st.integers(0, 60), label="length")
    origin = data.draw(st.integers(-10, 10), label="in_origin")
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.complex128]))
    tile = data.draw(st.sampled_from([8, 1024]), label="tile")
    acc = data.draw(st.sampled_from([1, 1 << 16]), label="acc bytes")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(taps) * (rng.random(taps) < 0.8)      # some zero taps
    op = pp.Down(down) @ pp.Conv(h) @ pp.Up(up)
    shape = ((lead,) if lead else ()) + (n, after)
    axis = 1 if lead else 0
    x = rng.standard_normal(shape).astype(dtype)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "AXIS0_MIN_LANES", 1)
        mp.setattr(engine, "AXIS0_TILE", tile)
        mp.setattr(engine, "AXIS0_ACC_BYTES", acc)
        got = apply_window(op, x, axis, (start, stop), in_origin=origin)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    ref = np.moveaxis(apply_window(op, moved, moved.ndim - 1, (start, stop),
                                   in_origin=origin), -1, axis)
    assert got.dtype == ref.dtype == dtype
    assert_close(got, ref, dtype)


@pytest.mark.parametrize("offset", [0, 4, 16, 36])
def test_rows_not_on_cache_lines(offset):
    """The kernel runs the first columns of a pass apart to align the loads
    of the rest: input starting at any offset from a cache line."""
    buf = np.empty(400 * 64 * 4 + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    x = buf[start:start + 400 * 64 * 4].view(np.float32).reshape(400, 64)
    x[:] = RNG.standard_normal((400, 64))
    h = RNG.standard_normal(16).astype(np.float32)
    y = pp.upfirdn(h, x, 2, 1, axis=0)
    np.testing.assert_allclose(y, ss.upfirdn(h.astype(np.float64), x.astype(np.float64), 2, 1,
                                             axis=0), rtol=2e-5, atol=2e-5)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("after, tile", [(64, None), (67, None), (1040, 256)],
                         ids=["whole lines", "rows inside lines", "column tiles"])
def test_pairs_of_four_taps_write_their_rows(dtype, after, tile, monkeypatch, kernel_inputs):
    """L = 2 with 8 taps: both phases read the same four rows, and the pair
    runs in one pass that writes its output rows (``sptr`` of four,
    ``kernels_axis0._four_taps``): against scipy with windows that start
    and end on either phase, serial and parallel, on whole-line rows, rows
    that start inside lines and column tiles."""
    if tile:
        monkeypatch.setattr(engine, "AXIS0_TILE", tile)
    monkeypatch.setattr(engine, "BAND_MIN_OUTPUTS", 1 << 62)      # (not the band route)
    h = random(8, dtype)
    x = random((3001, after), dtype)
    pm = pp.Conv(h).__matmul__(pp.Up(2)).polyphase()
    pairs = engine._axis0_pairs(pm, np.dtype(dtype), 0)
    assert pairs is not None and list(np.diff(pairs[1])) == [4]
    full = scipy_upfirdn(h, x, 2, 1, 0)
    op = pp.Conv(h) @ pp.Up(2)
    for work in (1 << 62, 1):                  # serial, then parallel
        monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", work)
        for start, stop in [(0, len(full)), (1, len(full) - 1), (5, 2000), (-3, 40)]:
            got = apply_window(op, x, 0, (start, stop))
            lo, hi = max(start, 0), min(stop, len(full))
            expected = np.zeros((stop - start, after))
            expected[lo - start:hi - start] = full[lo:hi]
            assert_close(got, expected, dtype, (start, stop))
    assert kernel_inputs
    # a phase with taps of its own (7 taps: 4 and 3) keeps the accumulators
    pm7 = (pp.Conv(h[:7]) @ pp.Up(2)).polyphase()
    assert engine._axis0_pairs(pm7, np.dtype(dtype), 0) is None

"""upfirdn against scipy.signal.upfirdn; decompose, interleave, dilate."""

import itertools

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import assume, given, strategies as st

import polyphase as pp
from polyphase.extension import MODES

from helpers import random_array, tolerance

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
RNG = np.random.default_rng(5)


def random(shape, dtype):
    return random_array(shape, dtype, RNG)


def assert_matches_scipy(h, x, up, down, axis=-1, mode="constant", cval=0):
    expected = ss.upfirdn(h, x, up, down, axis=axis, mode=mode, cval=cval)
    got = pp.upfirdn(h, x, up, down, axis=axis, mode=mode, cval=cval)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    # NaN where scipy has NaN ('line' on one sample: slope 0/0), close elsewhere
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(expected)
    got, expected = got[finite], expected[finite]
    scale = max(1.0, np.abs(expected).max(initial=0))
    err = np.abs(got - expected).max(initial=0) / scale
    assert err <= tolerance(got.dtype), (up, down, len(h), x.shape, mode, err)


# scipy's reflect/smooth/antireflect read outside a length-1 signal (reflect
# even dies with SIGFPE); there is nothing to compare with there.  'line' on one
# sample extends with NaN (slope 0/0) and scipy multiplies that NaN by the zero
# padding of its filter phases, so every output is NaN; see
# test_line_mode_on_one_sample for what polyphase gives.
UNDEFINED_FOR_ONE_SAMPLE = {"reflect", "smooth", "antireflect", "line"}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
def test_upfirdn_grid_matches_scipy(mode, dtype):
    for up, down, taps, n in itertools.product((1, 2, 3, 5), (1, 2, 3, 4),
                                               (1, 2, 5, 8, 13), (1, 2, 3, 7, 16)):
        if n == 1 and mode in UNDEFINED_FOR_ONE_SAMPLE:
            continue
        h = random(taps, dtype)
        x = random(n, dtype)
        assert_matches_scipy(h, x, up, down, mode=mode, cval=0.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("mode", ["constant", "symmetric", "wrap", "line"])
def test_upfirdn_axes_match_scipy(axis, mode, dtype):
    x = random((5, 6, 7), dtype)
    for up, down, taps in [(1, 1, 3), (3, 2, 7), (2, 5, 11), (4, 1, 4)]:
        assert_matches_scipy(random(taps, dtype), x, up, down, axis=axis, mode=mode)


def test_line_mode_on_one_sample():
    # The extension samples are NaN (slope 0/0), but with up=3 every output
    # reads x[0] only, so polyphase -- which multiplies no padding zero --
    # returns h * x[0] where scipy returns NaN.
    y = pp.upfirdn([1.0, 2.0, 3.0], [5.0], 3, 1, mode="line")
    np.testing.assert_array_equal(y, [5.0, 10.0, 15.0])
    assert np.all(np.isnan(pp.upfirdn([1.0, 2.0, 3.0], [5.0], 1, 1, mode="line")))


def test_upfirdn_mixed_dtypes_follow_scipy():
    for hd, xd in itertools.product([np.float32, np.float64, np.complex64, np.int64],
                                    [np.float32, np.float64, np.complex128, np.int32,
                                     np.uint8, bool]):
        h = (RNG.standard_normal(5) * 3).astype(hd)
        x = (RNG.standard_normal(9) * 3).astype(xd)
        assert_matches_scipy(h, x, 2, 3)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 20), st.integers(1, 40),
       st.sampled_from(["constant", "edge", "symmetric", "wrap", "antisymmetric",
                        "line"]))
def test_upfirdn_property(up, down, taps, n, mode):
    assume(not (n == 1 and mode in UNDEFINED_FOR_ONE_SAMPLE))
    assert_matches_scipy(RNG.standard_normal(taps), RNG.standard_normal(n), up, down,
                         mode=mode)


def test_upfirdn_long_rational_filter():
    h = ss.firwin(301, 1 / 16)
    x = RNG.standard_normal(2000)
    assert_matches_scipy(h, x, 16, 15)
    assert_matches_scipy(h.astype(np.float32), x.astype(np.float32), 16, 15)


def test_upfirdn_noncontiguous_input():
    base = RNG.standard_normal((30, 40))
    for x in (base[::2, ::3], base.T, base[:, ::-1]):
        for axis in (0, 1):
            assert_matches_scipy(RNG.standard_normal(6), x, 3, 2, axis=axis)


def test_upfirdn_nan_and_inf():
    x = np.array([1.0, np.nan, 2.0, 3.0, np.inf, 4.0])
    h = np.array([1.0, 2.0, 3.0])
    got, expected = pp.upfirdn(h, x, 2, 3), ss.upfirdn(h, x, 2, 3)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(up=0), ValueError, "up"), (dict(down=-1), ValueError, "down"),
    (dict(up=1.5), ValueError, "up"), (dict(down="2"), TypeError, "down"),
    (dict(mode="mirror"), ValueError, "mode"), (dict(axis=3), ValueError, "axis"),
])
def test_upfirdn_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        pp.upfirdn([1.0, 2.0], np.ones(4), **kwargs)


def test_upfirdn_bad_filters_and_signals():
    with pytest.raises(ValueError, match="h"):
        pp.upfirdn([], np.ones(4))
    with pytest.raises(ValueError, match="h"):
        pp.upfirdn(np.ones((2, 2)), np.ones(4))
    with pytest.raises(TypeError, match="x"):
        pp.upfirdn([1.0], np.array(["a"]))
    with pytest.raises(ValueError, match="x"):
        pp.upfirdn([1.0], np.ones((3, 0)))
    with pytest.raises(ValueError, match="x"):
        pp.upfirdn([1.0, 2.0, 3.0], [1.0], 2, mode="reflect")


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("taps", [1, 2, 5, 12, 13])
def test_decompose_definition_and_inverse(factor, taps):
    h = RNG.standard_normal(taps)
    E = pp.decompose(h, factor)
    assert E.shape == (factor, -(-taps // factor))
    for k in range(factor):
        for n in range(E.shape[1]):
            idx = n * factor + k
            assert E[k, n] == (h[idx] if idx < taps else 0.0)
    np.testing.assert_array_equal(pp.interleave(E, length=taps), h)
    np.testing.assert_array_equal(pp.interleave(E)[taps:], 0)


@pytest.mark.parametrize("factor", [2, 3, 5])
def test_decompose_gives_interpolator_phases(factor):
    # upfirdn(h, x, L)[n*L + k] == np.convolve(e_k, x)[n]
    h, x = RNG.standard_normal(11), RNG.standard_normal(20)
    y = ss.upfirdn(h, x, factor)
    for k, e in enumerate(pp.decompose(h, factor)):
        phase = np.convolve(e, x)
        np.testing.assert_allclose(y[k::factor], phase[:y[k::factor].size], atol=1e-12)
    # and the operator's polyphase matrix holds the same components
    E = (pp.Conv(h) @ pp.Up(factor)).polyphase()
    for k, e in enumerate(pp.decompose(h, factor)):
        taps, offset = E.entry(k, 0)
        np.testing.assert_array_equal(np.trim_zeros(e, "b"), taps)
        assert offset == 0


def test_decompose_complex_and_errors():
    E = pp.decompose([1j, 2, 3], 2)
    assert E.dtype == np.complex128
    with pytest.raises(ValueError, match="factor"):
        pp.decompose([1.0], 0)
    with pytest.raises(ValueError, match="E"):
        pp.interleave(np.ones(3))
    with pytest.raises(ValueError, match="length"):
        pp.interleave(np.ones((2, 2)), length=5)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_dilate(k):
    h = np.array([1.0, -2.0, 3.0])
    d = pp.dilate(h, k)
    assert d.size == (h.size - 1) * k + 1
    np.testing.assert_array_equal(d[::k], h)
    np.testing.assert_array_equal(np.delete(d, np.arange(0, d.size, k)), 0)
    with pytest.raises(ValueError, match="k"):
        pp.dilate(h, 0)


def test_upfirdn_filter_cache_sees_in_place_changes():
    """The operator cache is keyed by the filter's bytes, not its identity."""
    import scipy.signal

    from polyphase import signal as sig
    # 3 taps (bytes in the key) and 300 (over 1 KB: compared bit by bit)
    for h in (np.array([1.0, 2.0, 3.0]), RNG.standard_normal(300)):
        x = np.arange(700.0)
        first = pp.upfirdn(h, x, 2, 3)
        assert sig.cached_upfirdn(h, 2, 3) is sig.cached_upfirdn(h.copy(), 2, 3)
        h[1] = -5.0                             # same object, new coefficients
        np.testing.assert_allclose(pp.upfirdn(h, x, 2, 3), scipy.signal.upfirdn(h, x, 2, 3))
        assert not np.allclose(first, pp.upfirdn(h, x, 2, 3))


def test_upfirdn_repeated_calls_match_scipy():
    """A call repeated with the same filter, dtypes, shape and factors skips
    the checks (signal.py's _REPEATS); what changes must still be seen."""
    h = RNG.standard_normal(8)
    for x in (RNG.standard_normal(256), RNG.standard_normal((3, 40)),
              RNG.standard_normal(50).astype(np.float32), np.zeros((0, 9))):
        for _ in range(3):
            assert_matches_scipy(h, x, 2, 1)
        x[...] = RNG.standard_normal(x.shape)        # new samples, same shape
        assert_matches_scipy(h, x, 2, 1)
    x = RNG.standard_normal(30)
    assert_matches_scipy(h, x, 3, 2)
    h[0] += 1.0                                       # new coefficients in place
    assert_matches_scipy(h, x, 3, 2)
    assert_matches_scipy(h.astype(np.float32), x, 3, 2)
    assert_matches_scipy(h, x, 3, 2, mode="edge")
    with pytest.raises(ValueError, match="mode"):
        pp.upfirdn(h, x, 3, 2, mode="mirror")
    with pytest.raises(ValueError, match="up"):
        pp.upfirdn(h, x, 1.5, 2)


def test_upfirdn_repeats_of_the_transposed_route_stay_on_it():
    """A short filter at L = 2-4 runs on the transposed kernel (1-D signals
    as images of one row): its repeats keep no prepared 1-D kernel call,
    so the second call gives the first call's numbers, bit for bit."""
    from polyphase import signal as sig
    h, x = RNG.standard_normal(7), RNG.standard_normal(4096)
    key = sig._repeat_key(h, x, 3, 1, -1, "constant", 0, "auto")
    sig._REPEATS.pop(key, None)
    first = pp.upfirdn(h, x, 3)
    assert sig._REPEATS[key][3] is None
    np.testing.assert_array_equal(pp.upfirdn(h, x, 3), first)
    assert_matches_scipy(h, x, 3, 1)


@pytest.mark.parametrize("up, down, taps", [(2, 1, 10), (1, 3, 5), (3, 2, 9), (1, 2, 3),
                                            (3, 1, 13), (1, 1, 4)])
def test_upfirdn_repeats_run_a_prepared_call(up, down, taps):
    """Short repeated calls keep the engine's prepared call
    (:func:`polyphase.engine.serial_rows`) and run it directly: equal to
    scipy for 1-D and N-D, non-contiguous, integer, float32 and complex
    input, and the filter's products for inf and NaN (which the kernel's
    padded tap passes, in jobs inside a longer signal, detect and run again
    exactly).  (Interpolators by 2-4 with at most four taps a phase take the
    transposed kernel from 8192 outputs: these have five.)"""
    from polyphase import signal as sig
    h = RNG.standard_normal(taps)
    # (4096 samples: several jobs, whose inside ones run padded tap passes)
    cases = [RNG.standard_normal(256), RNG.standard_normal(4096), RNG.standard_normal((3, 2, 50)),
             RNG.standard_normal(600)[::2], RNG.integers(-9, 9, 64),
             RNG.standard_normal(100).astype(np.float32),
             RNG.standard_normal(90) + 1j * RNG.standard_normal(90)]
    for x in cases:
        key = sig._repeat_key(h, x, up, down, -1, "constant", 0, "auto")
        sig._REPEATS.pop(key, None)
        for _ in range(3):
            assert_matches_scipy(h, x, up, down)
        assert sig._REPEATS[key][3] is not None, x.shape
        if x.dtype.kind == "f":
            # (same shape: a repeat)
            x.flat[5], x.flat[x.size // 2], x.flat[x.size - 3] = np.inf, -np.inf, np.nan
            expected = np.apply_along_axis(_upfirdn_products, -1, x, h, up, down)
            tol = tolerance(expected.dtype)
            # (inf and NaN where the products have them: assert_allclose compares them)
            np.testing.assert_allclose(pp.upfirdn(h, x, up, down), expected, rtol=tol,
                                       atol=tol * np.abs(expected[np.isfinite(expected)]).max())


def _upfirdn_products(x, h, up, down):
    """``y[n] = sum h[k] * x[j]`` over ``j*up + k = n*down``: the filter's own
    taps only.  (scipy pads ``h`` to a multiple of ``up`` with zeros and
    multiplies them too, so an ``inf`` or ``NaN`` input gives it NaN where
    the padding meets it.)"""
    y = np.zeros(((len(x) - 1) * up + len(h) - 1) // down + 1, np.result_type(h, x))
    for j in range(len(x)):
        for k in range(len(h)):
            if (j * up + k) % down == 0:
                y[(j * up + k) // down] += h[k] * x[j]
    return y


def test_upfirdn_repeats_prepare_only_short_serial_calls():
    """Long signals (parallel jobs, the band route) and long filters (FFT)
    repeat through the full path: no prepared call for them."""
    from polyphase import signal as sig
    for h, x in ((RNG.standard_normal(8), RNG.standard_normal(1 << 16)),
                 (RNG.standard_normal(2000), RNG.standard_normal(4096))):
        for _ in range(2):
            assert_matches_scipy(h, x, 2, 1)
        key = sig._repeat_key(h, x, 2, 1, -1, "constant", 0, "auto")
        assert sig._REPEATS[key][3] is None


def test_upfirdn_all_zero_filter_repeated():
    for _ in range(2):
        np.testing.assert_array_equal(pp.upfirdn(np.zeros(3), np.ones(4), 2), np.zeros(9))

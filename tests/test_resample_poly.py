"""resample_poly against scipy.signal.resample_poly: values, lengths, dtypes,
windows, padtypes; the cached design; the window the engine is asked for."""

import itertools

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings, strategies as st

import polyphase as pp
from polyphase import _resampler
from polyphase.extension import MODES

from helpers import random_array, record_calls, tolerance

RNG = np.random.default_rng(7)
FLOATS = [np.float32, np.float64, np.complex64, np.complex128]
RATES = [(160, 147), (1, 1), (3, 2), (2, 3), (7, 1), (1, 7), (2, 1), (1, 2), (6, 4)]
# 1 and 2 are shorter than every default filter; 40 is shorter than 160/147's
LENGTHS = [1, 2, 3, 8, 40, 301]
PADTYPES = ["maximum", "mean", "median", "minimum"] + list(MODES)
# scipy's extension is undefined (or NaN) for these on a single sample; see
# UNDEFINED_FOR_ONE_SAMPLE in test_signal.py
UNDEFINED_FOR_ONE_SAMPLE = {"reflect", "smooth", "antireflect", "line"}


def random(shape, dtype):
    return random_array(shape, dtype, RNG)


def assert_matches_scipy(x, up, down, **kwargs):
    expected = ss.resample_poly(x, up, down, **kwargs)
    got = pp.resample_poly(x, up, down, **kwargs)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = max(1.0, np.abs(expected).max(initial=0))
    err = np.abs(got - expected).max(initial=0) / scale
    assert err <= tolerance(got.dtype), (up, down, x.shape, kwargs, err)
    return got


@pytest.mark.parametrize("dtype", FLOATS + [np.int32, np.int64, np.float16],
                         ids=lambda d: np.dtype(d).name)
def test_rates_and_lengths_match_scipy(dtype):
    for (up, down), n in itertools.product(RATES, LENGTHS):
        assert_matches_scipy(random(n, dtype), up, down)


def test_long_signal_matches_scipy():
    x = random(20_000, np.float64)
    for up, down in [(160, 147), (147, 160), (3, 2), (1, 5)]:
        assert_matches_scipy(x, up, down)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_axes_match_scipy(axis, dtype):
    x = random((9, 11, 13), dtype)
    for up, down in [(3, 2), (2, 3), (1, 4), (5, 1)]:
        assert_matches_scipy(x, up, down, axis=axis)


def test_default_axis_is_zero():
    x = random((30, 4), np.float64)
    y = assert_matches_scipy(x, 3, 2)
    assert y.shape == (45, 4)


WINDOWS = {
    "default": ("kaiser", 5.0),
    "kaiser8": ("kaiser", 8),
    "hamming": "hamming",
    "beta": 6.5,
    "array": ss.firwin(31, 0.3, window="hann"),
    "array-f32": ss.firwin(17, 0.4).astype(np.float32),
    "even-array": np.array([0.1, 0.4, 0.4, 0.1]),
    "list-of-ints": [1, 2, 3, 2, 1],
    "complex-array": np.array([0.25, 0.5 + 0.1j, 0.25]),
}


@pytest.mark.parametrize("name", sorted(WINDOWS))
@pytest.mark.parametrize("dtype", FLOATS + [np.int64], ids=lambda d: np.dtype(d).name)
def test_windows_match_scipy(name, dtype):
    for (up, down), n in itertools.product([(3, 2), (2, 3), (4, 1), (1, 3), (5, 5)],
                                           [1, 4, 57]):
        assert_matches_scipy(random(n, dtype), up, down, window=WINDOWS[name])


@pytest.mark.parametrize("padtype", PADTYPES)
@pytest.mark.parametrize("dtype", FLOATS + [np.int32], ids=lambda d: np.dtype(d).name)
def test_padtypes_match_scipy(padtype, dtype):
    for (up, down), n in itertools.product([(3, 2), (2, 3), (7, 1), (1, 7), (160, 147)],
                                           [1, 2, 5, 64]):
        if n == 1 and padtype in UNDEFINED_FOR_ONE_SAMPLE:
            continue
        x = random(n, dtype) + 3          # an offset, so that the background matters
        assert_matches_scipy(x, up, down, padtype=padtype)
        assert_matches_scipy(random((n, 3), dtype), up, down, padtype=padtype,
                             window=[0.25, 0.5, 1.0, 0.5, 0.25])


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_cval_matches_scipy(dtype):
    for up, down in [(3, 2), (1, 4), (5, 1)]:
        x = random((20, 2), dtype)
        y = assert_matches_scipy(x, up, down, cval=2.5)
        assert not np.allclose(y, ss.resample_poly(x, up, down))   # cval mattered


@given(up=st.integers(1, 12), down=st.integers(1, 12), n=st.integers(1, 80),
       taps=st.integers(1, 40), dtype=st.sampled_from(FLOATS),
       padtype=st.sampled_from(["constant", "edge", "wrap", "symmetric", "mean"]))
@settings(max_examples=40, deadline=None)
def test_random_filters_match_scipy(up, down, n, taps, dtype, padtype):
    h = RNG.standard_normal(taps)
    x = random(n, dtype)
    assert_matches_scipy(x, up, down, window=h, padtype=padtype)
    assert_matches_scipy(x, up, down, padtype=padtype)


def test_equal_rates_return_an_unfiltered_copy_like_scipy():
    for x in [np.arange(5), np.arange(5.0, dtype=np.float32)]:
        for up, down in [(1, 1), (3, 3)]:
            y = pp.resample_poly(x, up, down, window=[1.0, 2.0])
            expected = ss.resample_poly(x, up, down, window=[1.0, 2.0])
            assert y.dtype == expected.dtype == x.dtype
            np.testing.assert_array_equal(y, expected)
            assert not np.shares_memory(y, x)


def test_rates_reduced_by_gcd():
    x = random(50, np.float64)
    np.testing.assert_allclose(pp.resample_poly(x, 6, 4), ss.resample_poly(x, 3, 2),
                               rtol=0, atol=1e-12)


# ------------------------------------------------------------------ caching
@pytest.fixture
def fresh_caches():
    for f in (_resampler.design, _resampler.designed, _resampler._from_bytes):
        f.cache_clear()
    yield
    for f in (_resampler.design, _resampler.designed, _resampler._from_bytes):
        f.cache_clear()


def test_second_call_does_not_design_again(monkeypatch, fresh_caches):
    calls = record_calls(monkeypatch, ss, "firwin")
    x = random(100, np.float64)
    first = pp.resample_poly(x, 160, 147)
    second = pp.resample_poly(x, 160, 147)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    # float32 rounds the same design: still no new firwin call
    pp.resample_poly(x.astype(np.float32), 160, 147)
    assert len(calls) == 1
    pp.resample_poly(x, 160, 147, window=("kaiser", 8.0))
    assert len(calls) == 2


def test_second_call_reuses_the_operator(monkeypatch, fresh_caches):
    builds = record_calls(monkeypatch, pp.UpFirDn, "_build")
    x = random(100, np.float64)
    h = RNG.standard_normal(25)
    for _ in range(3):
        pp.resample_poly(x, 3, 2)
        pp.resample_poly(x, 3, 2, window=h)
    assert len(builds) == 2
    # coefficients are keyed on their values, not on the array object
    pp.resample_poly(x, 3, 2, window=h.copy())
    assert len(builds) == 2
    h[0] += 1
    pp.resample_poly(x, 3, 2, window=h)
    assert len(builds) == 3


def test_cached_design_cannot_be_modified(fresh_caches):
    h, _ = _resampler.design(3, 2, ("kaiser", 5.0))
    with pytest.raises(ValueError):
        h[0] = 1.0


def test_user_window_array_is_not_modified():
    h = np.array([0.25, 0.5, 0.25])
    pp.resample_poly(np.ones(8), 4, 1, window=h)
    np.testing.assert_array_equal(h, [0.25, 0.5, 0.25])


# ---------------------------------------------------------- work not wasted
@pytest.mark.parametrize("padtype", ["constant", "line", "mean"])
def test_engine_is_asked_only_for_the_returned_window(monkeypatch, padtype):
    import polyphase.engine as engine
    requests = []
    run = engine.run

    inside_run = []

    def recording_run(pm, x, dtype, in_origin, starts, lengths, *args, **kwargs):
        requests.append((starts, lengths))
        inside_run.append(True)
        try:
            return run(pm, x, dtype, in_origin, starts, lengths, *args, **kwargs)
        finally:
            inside_run.pop()

    run_rows = engine.run_rows

    def recording_run_rows(pm, x, dtype, in_origin, start, length, *args, **kwargs):
        if not inside_run:                          # the last-axis fast path
            requests.append(((start,), (length,)))
        return run_rows(pm, x, dtype, in_origin, start, length, *args, **kwargs)

    monkeypatch.setattr(engine, "run", recording_run)
    monkeypatch.setattr(engine, "run_rows", recording_run_rows)
    x = random(1000, np.float64)
    for up, down in [(160, 147), (2, 1), (1, 3)]:
        requests.clear()
        y = pp.resample_poly(x, up, down, padtype=padtype)
        half_len = 10 * max(up, down)
        start = (half_len + down - half_len % down) // down
        assert requests == [((start,), (y.shape[0],))]


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, error, match", [
    ({"up": 0}, ValueError, "up must be >= 1"),
    ({"down": -2}, ValueError, "down must be >= 1"),
    ({"up": 1.5}, ValueError, "up must be an integer"),
    ({"down": "2"}, TypeError, "down must be an integer"),
    ({"up": True}, TypeError, "up must be an integer"),
    ({"window": "no-such-window"}, ValueError, "window="),
    ({"window": ("kaiser",)}, ValueError, "window="),
    ({"window": None}, TypeError, "window must be"),
    ({"window": {"kaiser": 5}}, TypeError, "window must be"),
    ({"window": np.ones((2, 3))}, ValueError, "window must be 1-D"),
    ({"window": []}, ValueError, "window coefficients must not be empty"),
    ({"window": ["a", "b"]}, TypeError, "window coefficients must be numeric"),
    ({"window": [True, False]}, TypeError, "window coefficients must be numeric"),
    ({"padtype": "periodic"}, ValueError, "padtype must be one of"),
    ({"padtype": "Constant"}, ValueError, "padtype must be one of"),
    ({"padtype": None}, ValueError, "padtype must be one of"),
    ({"padtype": "edge", "cval": 1.0}, ValueError, "cval has no effect"),
    ({"padtype": "mean", "cval": 0}, ValueError, "cval has no effect"),
    ({"axis": 2}, ValueError, "axis=2 is out of range"),
    ({"axis": 0.5}, ValueError, "axis must be an integer"),
])
def test_bad_arguments_name_the_parameter(kwargs, error, match):
    args = {"x": np.ones((4, 3)), "up": 3, "down": 2, **kwargs}
    with pytest.raises(error, match=match):
        pp.resample_poly(**args)


@pytest.mark.parametrize("x, error, match", [
    (np.ones(0), ValueError, "x must not be empty"),
    (np.ones((0, 3)), ValueError, "x must not be empty"),
    (np.float64(1.0), ValueError, "x must have at least one dimension"),
    (np.array(["a", "b"]), TypeError, "x must be a numeric array"),
    (np.ones(3, dtype=np.longdouble), TypeError, "double precision"),
])
def test_bad_signals_are_rejected(x, error, match):
    if np.dtype(np.longdouble).itemsize <= 8 and x.dtype == np.longdouble:
        pytest.skip("long double is double precision here")
    with pytest.raises(error, match=match):
        pp.resample_poly(x, 3, 2)


def test_numpy_scalar_window_is_a_kaiser_beta():
    # scipy treats numpy scalars as coefficient arrays and fails (IndexError);
    # here they are a Kaiser beta, like a Python float
    x = random(40, np.float64)
    expected = ss.resample_poly(x, 3, 2, window=6.5)
    for beta in (np.float64(6.5), np.float32(6.5)):
        np.testing.assert_allclose(pp.resample_poly(x, 3, 2, window=beta), expected,
                                   rtol=0, atol=1e-12)

"""Large outputs written with non-temporal stores (``simd.STREAM_BYTES``).

The kernels stream only outputs of at least ``STREAM_BYTES`` (a numba global,
fixed when they compile), so these cases are that large: every one is
checked against ``scipy.signal.upfirdn`` on the same array, with one thread
and with two (the parallel kernels stream from each thread).
"""

import numba
import numpy as np
import pytest
import scipy.signal

import polyphase as pp
from polyphase.engine import simd


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    before = numba.get_num_threads()
    numba.set_num_threads(min(request.param, numba.config.NUMBA_NUM_THREADS))
    yield
    numba.set_num_threads(before)


def _filter(taps, L, dtype):
    return scipy.signal.firwin(taps, 1 / max(L, 2)).astype(dtype)


# shape, axis, L, taps, dtype: what runs it
CASES = {
    "band route, float64": ((20000, 64), 0, 2, 8, np.float64),
    "band route, float32": ((40000, 64), 0, 2, 64, np.float32),
    "axis-0 kernel, pairs of phases": ((40000, 64), 0, 2, 8, np.float32),
    "axis-0 kernel, phases alone": ((30000, 64), 0, 3, 6, np.float32),
    "axis-0 kernel, a batch axis before": ((2, 20000, 64), 1, 2, 8, np.float32),
    "axis-0 kernel, complex128": ((10000, 64), 0, 2, 8, np.complex128),
    "rows not whole lines (plain stores)": ((60000, 72), 0, 2, 8, np.float32),
    "column tiles (plain stores)": ((4200, 1040), 0, 2, 8, np.float32),
}


@pytest.mark.parametrize("case", CASES)
def test_large_outputs_match_scipy(case, threads):
    shape, axis, L, taps, dtype = CASES[case]
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    x = x.astype(dtype)
    h = _filter(taps, L, np.float64 if np.dtype(dtype).kind == "c" else dtype)
    y = pp.upfirdn(h, x, L, axis=axis)
    assert y.nbytes >= simd.STREAM_BYTES
    assert y.dtype == dtype
    ref = scipy.signal.upfirdn(h, x, L, axis=axis)
    tol = 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_output_window_from_an_odd_row(dtype, threads):
    """Output window ``[1, 2n + 1)``: each job's first rows are other phases
    than with a window from 0, and the streamed rows must still land right."""
    n = 40000 if dtype == np.float32 else 20000
    x = np.random.default_rng(8).standard_normal((n, 64)).astype(dtype)
    h = _filter(8, 2, dtype)
    y = (pp.Conv(h) @ pp.Up(2))(x, axis=0, mode=(1, 2 * n + 1))
    assert y.nbytes >= simd.STREAM_BYTES
    full = scipy.signal.upfirdn(h, x, 2, axis=0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, full[1:2 * n + 1], rtol=tol, atol=tol * np.abs(full).max())


def test_large_band_output_with_inf_falls_back_exactly(threads):
    """A band zero times inf is NaN: the route must report it, and the exact
    kernel then overwrite every streamed row."""
    x = np.random.default_rng(9).standard_normal((20000, 64))
    x[12345, 7] = np.inf
    h = _filter(8, 2, np.float64)
    y = pp.upfirdn(h, x, 2, axis=0)
    assert y.nbytes >= simd.STREAM_BYTES
    ref = scipy.signal.upfirdn(h, x, 2, axis=0)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    ok = np.isfinite(ref)
    np.testing.assert_allclose(y[ok], ref[ok], rtol=1e-12, atol=1e-12)

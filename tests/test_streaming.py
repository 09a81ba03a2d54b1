"""Large outputs written with non-temporal stores (``simd.STREAM_BYTES``).

The kernels stream only outputs of at least ``STREAM_BYTES`` (the stride-2
transposed kernel: ``kernels2d.TRANSPOSED_STREAM_BYTES``; numba globals,
fixed when they compile), and only into a recycled result buffer, whose
pages are mapped (:func:`polyphase.engine.scratch.mapped`): so these cases
are that large, and each runs twice, its first result dropped.  Every
second result is checked against ``scipy.signal.upfirdn`` (or a scatter of
the taps, for the transposed layer) on the same array, with one thread and
with two (the parallel kernels stream from each thread); the first, into
fresh memory, is not streamed, and is checked too.
"""

import numba
import numpy as np
import pytest
import scipy.signal

import polyphase as pp
import polyphase.nn as pnn
from polyphase.engine import simd
from polyphase.engine.scratch import mapped, release


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    before = numba.get_num_threads()
    numba.set_num_threads(min(request.param, numba.config.NUMBA_NUM_THREADS))
    yield
    numba.set_num_threads(before)


def _filter(taps, L, dtype):
    return scipy.signal.firwin(taps, 1 / max(L, 2)).astype(dtype)


def _twice(call):
    """``call()`` into fresh memory, then again into its recycled buffer:
    both results (the second streamed).  The first is copied and its buffer
    filled with NaN, so a sample the second call does not write shows."""
    first = call()
    kept = first.copy()
    first[...] = np.nan
    del first
    second = call()
    assert mapped(second)
    return kept, second


# shape, axis, L, taps, dtype: what runs it (real filters of fewer than two
# taps a phase along axis 0 take the axis-0 kernel, see band.MIN_TAPS)
CASES = {
    "band route, float64": ((20000, 64), 0, 2, 8, np.float64),
    "band route, float32": ((40000, 64), 0, 2, 64, np.float32),
    "axis-0 kernel, pairs of phases": ((40000, 64), 0, 2, 3, np.float32),
    "axis-0 kernel, phases alone": ((30000, 64), 0, 3, 5, np.float32),
    "axis-0 kernel, a batch axis before": ((2, 20000, 64), 1, 2, 3, np.float32),
    "axis-0 kernel, complex128": ((10000, 64), 0, 2, 3, np.complex128),
    "rows not whole lines (plain stores)": ((60000, 72), 0, 2, 3, np.float32),
    "column tiles (plain stores)": ((4200, 1040), 0, 2, 3, np.float32),
    "1-D kernel, L=2 in single passes": ((1 << 21,), -1, 2, 8, np.float32),
    # the band route along rows: one signal; three, whose rows after the
    # first start inside a line (those are stored plain)
    "band route along rows": ((1 << 19,), -1, 5, 64, np.float64),
    "band route, rows anywhere in a line": ((4, (1 << 18) + 1), -1, 5, 64, np.float32),
    # rows of 2**20 + 10 doubles, 16 bytes past a line each: the blocks
    # before a row's first line are stored plain; 3 taps a phase (a padded
    # pass)
    "1-D kernel, rows anywhere in a line": ((4, (1 << 19) + 3), -1, 2, 6, np.float64),
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
    ref = scipy.signal.upfirdn(h, x, L, axis=axis)
    tol = 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
    for y in _twice(lambda: pp.upfirdn(h, x, L, axis=axis)):
        assert y.nbytes >= simd.STREAM_BYTES
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("dtype, lanes", [(np.float64, 64), (np.float32, 64),
                                          (np.float32, 0)])
def test_large_output_window_from_an_odd_row(dtype, lanes, threads):
    """Output window ``[1, 2n + 1)``: each job's first rows are other phases
    than with a window from 0, and the streamed rows must still land right
    (along axis 0; or one signal, ``lanes`` 0, whose pairs of phases then
    start an odd sample into a line and are stored plain)."""
    n = 40000 if dtype == np.float32 else 20000
    shape = (n, lanes) if lanes else (64 * n,)
    n = shape[0]
    x = np.random.default_rng(8).standard_normal(shape).astype(dtype)
    h = _filter(8, 2, dtype)
    full = scipy.signal.upfirdn(h, x, 2, axis=0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for y in _twice(lambda: (pp.Conv(h) @ pp.Up(2))(x, axis=0, mode=(1, 2 * n + 1))):
        assert y.nbytes >= simd.STREAM_BYTES
        np.testing.assert_allclose(y, full[1:2 * n + 1], rtol=tol,
                                   atol=tol * np.abs(full).max())


@pytest.mark.parametrize("shape, at, axis, taps", [((20000, 64), (12345, 7), 0, 8),
                                                  ((1 << 21,), (12345,), -1, 6)],
                         ids=["band route", "1-D kernel"])
def test_large_output_with_inf_falls_back_exactly(shape, at, axis, taps, threads):
    """A band zero (or a padded tap's) times inf is NaN: the kernel must
    report it, and the exact run then overwrite every streamed sample."""
    x = np.random.default_rng(9).standard_normal(shape)
    x[at] = np.inf
    h = _filter(taps, 2, np.float64)
    ref = scipy.signal.upfirdn(h, x, 2, axis=axis)
    ok = np.isfinite(ref)
    for y in _twice(lambda: pp.upfirdn(h, x, 2, axis=axis)):
        assert y.nbytes >= simd.STREAM_BYTES
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
        np.testing.assert_allclose(y[ok], ref[ok], rtol=1e-12, atol=1e-12)


def _scatter_transposed2(x, w):
    """A stride-2 transposed convolution of one image, a strided add per tap."""
    (n1, n2), (k1, k2) = x.shape, w.shape
    full = np.zeros((2 * n1 - 2 + k1, 2 * n2 - 2 + k2))
    for a in range(k1):
        for b in range(k2):
            full[a:a + 2 * n1 - 1:2, b:b + 2 * n2 - 1:2] += w[a, b] * x
    return full


@pytest.mark.parametrize("dtype, k", [(np.float32, 4), (np.float64, 3)])
def test_large_transposed_layer_streams_its_rows(dtype, k, threads):
    """The stride-2 transposed kernel streams an output whose rows start
    anywhere in a line (``2n + k - 2`` columns, not a whole number of
    lines): a row at a time through a row in cache, the line-aligned middle
    streamed, the ends stored.  The image is the smallest whose output
    reaches the kernel's own threshold (``TRANSPOSED_STREAM_BYTES``, 64 MB
    on the Xeon)."""
    from polyphase.engine.kernels2d import TRANSPOSED_STREAM_BYTES
    itemsize = np.dtype(dtype).itemsize
    n = int(np.ceil((np.sqrt(TRANSPOSED_STREAM_BYTES / itemsize) - (k - 2)) / 2))
    while (2 * n + k - 2) * itemsize % 64 == 0:     # (rows that start mid-line)
        n += 1
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 1, n, n)).astype(dtype)
    w = rng.standard_normal((1, 1, k, k)).astype(dtype)
    ref = _scatter_transposed2(x[0, 0].astype(np.float64), w[0, 0].astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for y in _twice(lambda: pnn.conv_transpose2d(x, w, stride=2)):
        assert y.nbytes >= TRANSPOSED_STREAM_BYTES and y.dtype == dtype
        np.testing.assert_allclose(y[0, 0], ref, rtol=tol, atol=tol * np.abs(ref).max())


# where each kernel takes ``mapped`` (its job range, if any, comes after it)
_MAPPED_ARG = {"axis-0": 14, "transposed": 9, "1-D": 8, "band": 14}


@pytest.mark.parametrize("kernel", ["axis-0", "transposed", "1-D", "band"])
def test_kernels_are_told_whether_the_output_is_recycled(kernel, monkeypatch):
    """The kernels receive ``mapped``: 0 for a result in fresh memory, 1
    for one in a recycled buffer (the caller dropped an earlier result
    of that size).  The transposed kernel is told only about an output it
    may stream (``TRANSPOSED_STREAM_BYTES``; below, 0 whatever the
    buffer, as the route skips the lookup)."""
    from helpers import record_jobs

    from polyphase.engine import kernels, kernels2d, kernels_axis0, kernels_band
    rng = np.random.default_rng(11)
    if kernel == "axis-0":
        owner, name = kernels_axis0, "run_jobs"
        x = rng.standard_normal((40000, 64)).astype(np.float32)
        h = _filter(3, 2, np.float32)           # (fewer than two taps a phase)

        def call():
            return pp.upfirdn(h, x, 2, axis=0)
    elif kernel == "transposed":
        owner, name = kernels2d.TRANSPOSED_ROWS, (2, 2, 2)
        kernels2d.transposed_rows(2, 2, 2)
        x = rng.standard_normal((1, 1, 1024, 1024)).astype(np.float32)

        def call():
            return pnn.conv_transpose2d(x, np.ones((1, 1, 4, 4), np.float32), stride=2)
        monkeypatch.setattr(kernels2d, "TRANSPOSED_STREAM_BYTES", 1 << 22)
    elif kernel == "band":                      # (along rows)
        owner, name = kernels_band, "run_jobs"
        x = rng.standard_normal(1 << 20).astype(np.float32)
        h = _filter(64, 5, np.float32)

        def call():
            return pp.upfirdn(h, x, 5)
    else:
        owner = kernels.RUN_JOBS
        name = next(k for k, f in owner.items() if f is kernels.job_kernel(2, 0))
        x = rng.standard_normal(1 << 21).astype(np.float32)
        h = _filter(8, 2, np.float32)

        def call():
            return pp.upfirdn(h, x, 2)
    calls = record_jobs(monkeypatch, owner, name)

    def mapped_arg():
        (args,) = calls         # (one kernel run; its arguments hold the output)
        calls.clear()
        return args[_MAPPED_ARG[kernel]]

    release()           # (no result buffers of earlier tests to recycle)
    a = call()          # fresh memory
    first = mapped_arg()
    b = call()          # a is kept: fresh memory again
    second = mapped_arg()
    del a, b
    call()              # a buffer of theirs
    assert [first, second, mapped_arg()] == [0, 0, 1]
    if kernel == "transposed":
        monkeypatch.setattr(kernels2d, "TRANSPOSED_STREAM_BYTES", 1 << 30)
        call()          # a recycled buffer, but an output it does not stream
        assert mapped_arg() == 0

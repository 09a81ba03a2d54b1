"""The overlap-save FFT path: against the direct kernel, dense references and
scipy; dtypes; windows; the method choice and its cost model."""

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings, strategies as st

import polyphase as pp
from polyphase import engine
from polyphase.engine import cost, fftpath

from helpers import random_array, record_calls, tolerance

RNG = np.random.default_rng(17)
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def random(shape, dtype, rng=RNG):
    return random_array(shape, dtype, rng)


def assert_close(got, expected, dtype):
    scale = max(1.0, np.abs(expected).max(initial=0))
    err = np.abs(got - expected).max(initial=0) / scale
    assert err <= tolerance(dtype), err


def upfirdn_reference(h, x, up, down, in_origin, start, stop):
    """``y[n] = sum_j h[n*down - (in_origin + j)*up] x[j]`` as a dense product."""
    n = np.arange(start, stop)[:, None]
    m = n * down - (in_origin + np.arange(x.shape[-1]))[None, :] * up
    inside = (m >= 0) & (m < h.size)
    A = np.where(inside, h[np.clip(m, 0, h.size - 1)], 0)
    return x.astype(np.complex128) @ A.T


def taps_reference(pm, x, in_origin, start, stop):
    """The window of ``pm`` applied to ``x`` straight from its taps (numpy)."""
    L, M = pm.ups[0], pm.downs[0]
    out = np.zeros(x.shape[:-1] + (stop - start,), dtype=np.complex128)
    blocks = np.arange(start // L, (stop - 1) // L + 1)
    for p, q, k, c in zip(pm.p[:, 0], pm.q[:, 0], pm.k[:, 0], pm.c):
        n = blocks * L + p
        j = (blocks - k) * M + q - in_origin
        ok = (n >= start) & (n < stop) & (j >= 0) & (j < x.shape[-1])
        out[..., n[ok] - start] += c * x[..., j[ok]]
    return out


def run(pm, x, dtype, in_origin, start, stop, method):
    lanes = x.reshape(-1, 1, x.shape[-1])
    out = engine.run(pm, lanes, np.dtype(dtype), (in_origin,), (start,), (stop - start,),
                     method)
    return out.reshape(x.shape[:-1] + (stop - start,))


@st.composite
def cases(draw):
    up, down = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    taps = draw(st.integers(1, 300))
    n = draw(st.integers(1, 400))
    dtype = draw(st.sampled_from(DTYPES))
    complex_h = draw(st.booleans())
    in_origin = draw(st.integers(-30, 30))
    full = ((in_origin + n - 1) * up + taps - 1) // down + 1
    first = -(-(in_origin * up) // down)
    start = draw(st.integers(first - 20, full + 5))
    stop = draw(st.integers(start, max(start, full) + 20))
    lanes = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return up, down, taps, n, dtype, complex_h, in_origin, start, stop, lanes, seed


@given(cases())
@settings(max_examples=50, deadline=None)
def test_paths_agree_with_each_other_and_the_dense_reference(case):
    up, down, taps, n, dtype, complex_h, in_origin, start, stop, lanes, seed = case
    rng = np.random.default_rng(seed)
    h = random(taps, np.complex128 if complex_h else np.float64, rng)
    x = random((lanes, n), dtype, rng)
    pm = pp.UpFirDn(h, up, down).polyphase()
    out_dtype = np.result_type(dtype, np.complex64) if complex_h else np.dtype(dtype)
    expected = upfirdn_reference(h, x, up, down, in_origin, start, stop)
    results = {m: run(pm, x.astype(out_dtype), out_dtype, in_origin, start, stop, m)
               for m in ("fft", "direct", "auto")}
    for method, y in results.items():
        assert y.dtype == out_dtype, method
        assert y.shape == (lanes, stop - start)
        assert_close(y, expected, out_dtype)
    assert_close(results["fft"], results["direct"], out_dtype)


GENERAL_OPERATORS = {
    # a transposed convolution, a sum with delays far apart (long span, few
    # taps), a matrix whose phases have no taps, a complex adjoint
    "transposed": pp.Conv(RNG.standard_normal(40)).T @ pp.Up(3),
    "sum-of-delays": pp.Conv(RNG.standard_normal(9)) + pp.Delay(-60) @ pp.Down(2) @ pp.Up(2),
    "empty-phases": pp.Up(4) @ pp.Conv(RNG.standard_normal(30)) @ pp.Down(3),
    "complex-adjoint": (pp.Down(2) @ pp.Conv(RNG.standard_normal(50) * 1j + 1)).H,
    "repeat-conv": pp.Conv(RNG.standard_normal(33)) @ pp.Repeat(2),
}


@pytest.mark.parametrize("name", sorted(GENERAL_OPERATORS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_general_operators_against_their_taps(name, dtype):
    op = GENERAL_OPERATORS[name]
    pm = op.polyphase()
    out_dtype = np.result_type(dtype, np.complex64) if pm.is_complex else np.dtype(dtype)
    x = random((2, 157), dtype)
    for in_origin, start, stop in [(0, 0, 500), (-7, 3, 250), (11, -40, 60), (0, 17, 18)]:
        expected = taps_reference(pm, x, in_origin, start, stop)
        y = run(pm, x.astype(out_dtype), out_dtype, in_origin, start, stop, "fft")
        assert y.dtype == out_dtype
        assert_close(y, expected, out_dtype)


LONG_FILTERS = [(1, 1, 4096, 20_000), (2, 1, 2048, 12_000), (1, 2, 2048, 12_000),
                (160, 147, 3201, 3_000), (1, 5, 1500, 9_000), (3, 2, 1200, 5_000)]


@pytest.mark.parametrize("up, down, taps, n", LONG_FILTERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_long_filters_match_scipy_upfirdn(up, down, taps, n, dtype):
    real = np.finfo(dtype).dtype
    h = ss.firwin(taps, 0.8 / max(up, down)).astype(real) * up
    x = random(n, dtype)
    expected = ss.upfirdn(h, x, up, down)
    y = pp.upfirdn(h, x, up, down, method="fft")
    assert y.dtype == expected.dtype == dtype
    assert y.shape == expected.shape
    assert_close(y, expected, dtype)


@pytest.mark.parametrize("mode", ["symmetric", "line", "wrap"])
def test_extension_modes_on_the_fft_path(mode):
    h = ss.firwin(1001, 0.3)
    x = random((3, 2500), np.float64)
    for up, down in [(1, 1), (2, 3)]:
        expected = ss.upfirdn(h, x, up, down, mode=mode)
        assert_close(pp.upfirdn(h, x, up, down, mode=mode, method="fft"), expected,
                     np.float64)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_batches_along_any_axis(axis):
    h = RNG.standard_normal(700)
    x = random((300, 4, 5), np.float32)
    expected = ss.upfirdn(h.astype(np.float32), x, 2, 1, axis=axis)
    y = pp.upfirdn(h.astype(np.float32), x, 2, 1, axis=axis, method="fft")
    assert y.dtype == np.float32
    assert_close(y, expected, np.float32)


def test_operator_call_and_resample_poly_take_method():
    h = RNG.standard_normal(2000)
    x = random(6000, np.float64)
    op = pp.Conv(h) @ pp.Up(2)
    expected = ss.upfirdn(h, x, 2)
    assert_close(op(x, method="fft")[:expected.size], expected, np.float64)
    assert_close(op(x, mode="same", method="fft"), op(x, mode="same", method="direct"),
                 np.float64)
    for up, down in [(1, 20), (3, 2), (160, 147)]:
        x = random(2000, np.float32)
        for method in ("fft", "direct", "auto"):
            y = pp.resample_poly(x, up, down, method=method)
            assert y.dtype == np.float32
            assert_close(y, ss.resample_poly(x, up, down), np.float32)


def test_float32_is_computed_in_float32(monkeypatch):
    import scipy.fft
    seen = []
    rfft = scipy.fft.rfft

    def recording_rfft(a, *args, **kwargs):
        seen.append(a.dtype)
        return rfft(a, *args, **kwargs)

    monkeypatch.setattr(scipy.fft, "rfft", recording_rfft)
    op = pp.Conv(RNG.standard_normal(600)) @ pp.Up(2)
    x = random(5000, np.float32)
    y = op(x, method="fft")
    # the filter's spectra are computed once in float64 (then rounded) ...
    assert y.dtype == np.float32 and np.float64 in seen
    seen.clear()
    y = op(x, method="fft")
    # ... and cached: the signal is transformed in float32
    assert y.dtype == np.float32
    assert seen and all(d == np.float32 for d in seen)


# ------------------------------------------------------- only the window
def test_a_short_window_transforms_only_what_it_needs(monkeypatch):
    import scipy.fft
    sizes = []
    rfft = scipy.fft.rfft

    def recording_rfft(a, n=None, *args, **kwargs):
        sizes.append(a.shape[:-1] + (n,))
        return rfft(a, n, *args, **kwargs)

    monkeypatch.setattr(scipy.fft, "rfft", recording_rfft)
    h = RNG.standard_normal(4096)
    x = random(100_000, np.float64)
    op = pp.Conv(h)
    y = op(x, mode=(50_000, 50_010), method="fft")
    assert_close(y, np.convolve(x, h)[50_000:50_010], np.float64)
    # one transform of one segment (after the filter's own), as short as 10
    # outputs of a 4096-tap filter allow
    nfft = scipy.fft.next_fast_len(10 + 4095, True)
    assert sizes == [(1, nfft), (1, 1, nfft)]


def test_segments_cover_exactly_the_window(monkeypatch):
    # the direct kernel's output blocks and the FFT path's agree: the
    # segments start at the window's first block and the last one is cut to
    # what remains
    h = RNG.standard_normal(3000)
    x = random(40_000, np.float64)
    pm = pp.UpFirDn(h, 3, 2).polyphase()
    span, transforms, pairs = fftpath.fft_shape(pm)
    start, stop = 1234, 50_001
    nblocks = (stop - 1) // 3 - start // 3 + 1
    nfft, _ = cost.fft_size(span, 3, 2, nblocks, 1, transforms, pairs)
    S = nfft - span + 1
    outputs = []
    import scipy.fft
    irfft = scipy.fft.irfft

    def recording_irfft(a, n=None, *args, **kwargs):
        outputs.append(a.shape[-2] * (n - span + 1))
        return irfft(a, n, *args, **kwargs)

    monkeypatch.setattr(scipy.fft, "irfft", recording_irfft)
    run(pm, x, np.float64, 0, start, stop, "fft")
    computed = sum(outputs) // 3             # per output phase
    assert nblocks <= computed < nblocks + S  # only the last segment rounds up
    rest = nblocks % S
    if rest:
        tail = scipy.fft.next_fast_len(rest + span - 1, True)
        assert computed == nblocks - rest + min(tail, nfft) - span + 1


# ------------------------------------------------------------ method choice
def test_cost_model_picks_fft_for_long_filters_and_direct_for_short():
    # Conv(h) on 10**6 samples
    long = dict(up=1, down=1, span=4096, nblocks=10**6, lanes=1, transforms=2, pairs=1)
    assert cost.choose(nnz=4096, **long) == "fft"
    short = dict(long, span=16)
    assert cost.choose(nnz=16, **short) == "direct"
    # 160/147 with 3201 taps: 20 taps per output phase, 307 transforms
    assert cost.choose(nnz=3201, up=160, down=147, span=2, nblocks=10**5, lanes=1,
                       transforms=307, pairs=3201) == "direct"
    # too little work for any FFT
    assert cost.choose(nnz=4096, up=1, down=1, span=4096, nblocks=20, lanes=1,
                       transforms=2, pairs=1) == "direct"


def test_cost_model_formulas():
    assert cost.direct_cost(nnz=10, up=2, down=3, nblocks=100, lanes=2) == \
        2 * 100 * (10 + cost.DIRECT_SAMPLE * 5)
    assert cost.direct_cost(10, 2, 3, 100, 2, complex_data=True) == \
        2 * 100 * (40 + cost.DIRECT_SAMPLE * 5)
    assert cost.fft_cost(100, span=101, up=1, down=1, nblocks=10, lanes=1,
                         transforms=2, pairs=1) == np.inf
    nfft, best = cost.fft_size(500, 1, 1, 10**6, 1, 2, 1)
    assert nfft >= 2 * 500 and best == cost.fft_cost(nfft, 500, 1, 1, 10**6, 1, 2, 1)
    for n in (1024, 2048, 1 << 15, 1 << 18):
        assert best <= cost.fft_cost(n, 500, 1, 1, 10**6, 1, 2, 1)


@pytest.mark.parametrize("taps, expected", [(16, "direct"), (4096, "fft")])
def test_auto_dispatches_by_the_cost_model(monkeypatch, taps, expected):
    calls = record_calls(monkeypatch, fftpath, "run_fft")
    h = RNG.standard_normal(taps)
    x = random(200_000, np.float64)
    y = pp.upfirdn(h, x)
    assert ("fft" if calls else "direct") == expected
    assert_close(y, ss.upfirdn(h, x), np.float64)
    calls.clear()
    pp.upfirdn(h, x, method="direct")
    assert not calls
    pp.upfirdn(h, x[:50], method="fft")
    assert len(calls) == 1


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("method", ["FFT", "overlap-save", None, 1])
def test_unknown_methods_are_rejected(method):
    x = np.ones(10)
    for call in (lambda: pp.upfirdn([1.0, 2.0], x, method=method),
                 lambda: pp.resample_poly(x, 3, 2, method=method),
                 lambda: pp.Conv([1.0, 2.0])(x, method=method),
                 lambda: pp.Up((2, 2))(x.reshape(2, 5), method=method)):
        with pytest.raises(ValueError, match="method must be one of 'auto', 'direct', 'fft'"):
            call()


@pytest.mark.parametrize("op, x", [
    (pp.Conv(np.ones((3, 3))), np.ones((8, 8))),
    (pp.Up((2, 1)), np.ones((4, 4))),
    (pp.ChannelConv(np.ones((2, 3, 4))), np.ones((3, 20))),
])
def test_fft_on_unsupported_operators_names_method(op, x):
    with pytest.raises(ValueError, match="method='fft'"):
        op(x, method="fft")
    op(x, method="auto")
    op(x, method="direct")


def test_one_channel_matrices_run_on_the_fft_path():
    w = RNG.standard_normal((1, 1, 900))
    x = random((2, 1, 3000), np.float64)
    op = pp.ChannelConv(w)
    expected = np.stack([[np.convolve(xi[0], w[0, 0])] for xi in x])
    assert_close(op(x, method="fft"), expected, np.float64)


def test_cached_spectra_stay_bounded():
    op = pp.Conv(RNG.standard_normal(500))
    x = random(30_000, np.float64)
    for n in range(1000, 30_000, 1000):
        assert_close(op(x[:n], method="fft"), np.convolve(x[:n], op.h), np.float64)
    pm = op.polyphase()
    spectra = [k for k in pm._plans if isinstance(k, tuple) and k[0] == "fft-spectra"]
    assert 1 <= len(spectra) <= fftpath.MAX_SPECTRA

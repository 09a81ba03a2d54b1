"""The band route of the 1-D engine (:mod:`polyphase.engine.band`).

Checked against a brute-force sum over the taps (independent of the engine),
against scipy.signal.upfirdn, and against the phase-stream kernel on the
same inputs.
"""

import re

import numba
import numpy as np
import pytest
import scipy.signal as ss
from helpers import record_calls, record_jobs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import polyphase as pp
from polyphase import engine
from polyphase.engine import band, kernels_band, registers

RNG = np.random.default_rng(11)


def upfirdn_matrix(h, L, M, in_origin, start, length, n):
    """Rows ``start .. start + length - 1`` of the upfirdn operator on input
    indices ``in_origin .. in_origin + n - 1``: ``y[m] = sum_i h[m*M - i*L] x[i]``."""
    j = np.arange(start, start + length)[:, None] * M \
        - (in_origin + np.arange(n))[None, :] * L
    inside = (j >= 0) & (j < h.size)
    return np.where(inside, h[np.where(inside, j, 0)], 0.0)


def band_plan(h, L, M, dtype):
    pm = (pp.Down(M) @ pp.Conv(h) @ pp.Up(L)).polyphase()
    return pm, band.plan(pm, dtype)


@settings(max_examples=60, deadline=None)
@given(L=st.integers(1, 5), M=st.integers(1, 5), extra=st.integers(0, 40),
       n=st.integers(1, 300), in_origin=st.integers(-30, 30),
       start=st.integers(-200, 400), length=st.integers(1, 700),
       lanes=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       threads=st.sampled_from([0, 2]))
def test_band_matches_brute_force(L, M, extra, n, in_origin, start, length, lanes,
                                  dtype, threads):
    """Every output of any window, inside and outside the signal, including
    windows shorter than a macro-block and signals shorter than the filter."""
    h = RNG.standard_normal(8 * L + extra)
    pm, bp = band_plan(h, L, M, dtype)
    assume(bp is not None)
    x = RNG.standard_normal((lanes, n)).astype(dtype)
    got = band.run(bp, x, dtype, in_origin, start, length, threads)
    assert got.dtype == dtype and got.shape == (lanes, length)
    ref = x.astype(np.float64) @ upfirdn_matrix(h, L, M, in_origin, start, length, n).T
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(h).sum() * 4)


@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 4), M=st.integers(1, 4), extra=st.integers(0, 30),
       n=st.integers(1, 200), in_origin=st.integers(-20, 20),
       start=st.integers(-100, 300), length=st.integers(1, 400),
       before=st.integers(1, 2),
       after=st.sampled_from([16, 19, 24, 32, 37, 40, 48, 64, 69, 88, 130]),
       dtype=st.sampled_from([np.float32, np.float64]), parallel=st.booleans())
def test_axis0_band_matches_brute_force(L, M, extra, n, in_origin, start, length, before,
                                        after, dtype, parallel):
    """The axis-0 form: rows of ``after`` lanes (tiles of four vectors of
    lanes, :func:`polyphase.engine.simd.rows_fma4x4_ahead`; then of two and one,
    and a last vector overlapping the one before), several signals, any
    window."""
    h = RNG.standard_normal(8 * L + extra)
    pm, bp = band_plan(h, L, M, dtype)
    assume(bp is not None)
    x = RNG.standard_normal((before, n, after)).astype(dtype)
    out = np.full((before, length, after), np.nan, dtype)
    assert band.run_axis0(bp, x, out, in_origin, start, 2 if parallel else 0)
    A = upfirdn_matrix(h, L, M, in_origin, start, length, n)
    ref = np.einsum("mn,bnl->bml", A, x.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(h).sum() * 4)


@pytest.mark.parametrize("lanes", [24, 70])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L, M, K", [(2, 1, 64), (1, 2, 64), (3, 2, 96), (160, 147, 3201)])
def test_axis0_route_is_taken_and_equals_scipy(monkeypatch, L, M, K, dtype, lanes):
    """Both dtypes take the band route, with fewer lanes than four vectors
    of them too (float32: 24 lanes, one vector and an overlapping one)."""
    h = ss.firwin(K, 0.8 / max(L, M)).astype(dtype)
    x = RNG.standard_normal((3000 * M // L + 400, lanes)).astype(dtype)
    calls = record_jobs(monkeypatch, kernels_band, "run_jobs")
    y = pp.upfirdn(h, x, L, M, axis=0)
    lanes = [c[13] for c in calls]            # (the argument after)
    assert lanes == [x.shape[1]]
    ref = ss.upfirdn(h.astype(np.float64), x.astype(np.float64), L, M, axis=0)
    assert y.dtype == dtype and y.shape == ref.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axis0_long_macro_blocks_run_their_ends_in_tiles(monkeypatch, dtype):
    """147/160 has macro-blocks of 1176-2352 outputs, so a signal's ends are
    whole macro-blocks: they run in the vector tiles with their taps cut to
    the input, the chunks that straddle the window row by row; equal to
    scipy.  (BAND_MIN_BLOCKS interior macro-blocks of 2560 input rows in
    float32.)"""
    x = RNG.standard_normal((48000, 40)).astype(dtype)
    calls = record_jobs(monkeypatch, kernels_band, "run_jobs")
    y = pp.resample_poly(x, 147, 160, axis=0)
    assert calls
    ref = ss.resample_poly(x.astype(np.float64), 147, 160, axis=0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("L, M, K", [(1, 2, 40), (2, 1, 16), (3, 2, 96), (147, 160, 3201)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spans_are_the_rows_where_each_group_has_weights(L, M, K, dtype):
    """``spans[c, g]``: the first and one past the last row of ``D[c]`` with a
    nonzero weight for the outputs of group ``g`` (fours, then eights)."""
    _, bp = band_plan(RNG.standard_normal(K), L, M, dtype)
    G = bp.D.shape[2]
    assert bp.spans.shape == (bp.D.shape[0], G // 4 + G // 8, 2)
    for c in range(bp.D.shape[0]):
        for g, (size, k) in enumerate([(4, k) for k in range(G // 4)]
                                      + [(8, k) for k in range(G // 8)]):
            rows = np.flatnonzero((bp.D[c, :, k * size:(k + 1) * size] != 0).any(axis=1))
            expected = (rows[0], rows[-1] + 1) if rows.size else (0, 0)
            assert tuple(bp.spans[c, g]) == expected


def test_axis0_band_refuses_rows_narrower_than_a_vector():
    """The kernel's last vector of a row may overlap the one before it, so a
    row must hold one: 7 float64 lanes are refused with a ValueError."""
    _, bp = band_plan(RNG.standard_normal(32), 2, 1, np.float64)
    x = np.zeros((1, 400, 7))
    with pytest.raises(ValueError, match="after=7"):
        band.run_axis0(bp, x, np.zeros((1, 800, 7)), 0, 0, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("L, M, K, taken", [(2, 1, 8, True), (4, 1, 16, True), (2, 1, 12, True),
                                            (3, 1, 3, False)])
def test_axis0_takes_the_band_route_from_two_taps_per_phase(monkeypatch, L, M, K, taken,
                                                            dtype):
    """From two taps per output phase (``band.MIN_TAPS``) the band route runs
    along axis 0 in either dtype; one tap a phase takes the axis-0 kernel;
    both equal scipy."""
    h = ss.firwin(K, 0.8 / max(L, M)).astype(dtype)
    x = RNG.standard_normal((3000 * M // L + 400, 70)).astype(dtype)
    calls = record_jobs(monkeypatch, kernels_band, "run_jobs")
    y = pp.upfirdn(h, x, L, M, axis=0)
    assert bool(calls) == taken
    ref = ss.upfirdn(h.astype(np.float64), x.astype(np.float64), L, M, axis=0)
    assert y.dtype == dtype and y.shape == ref.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("dtype, lanes", [(np.float64, 16), (np.float64, 40),
                                          (np.float32, 24), (np.float32, 70)])
def test_axis0_non_finite_input_runs_the_exact_kernel(dtype, lanes):
    """A zero of the band's padding times inf is NaN: every tile of the rows
    (four, two and one lane vectors, the overlapping last one) reports it."""
    h = RNG.standard_normal(64).astype(dtype)
    x = RNG.standard_normal((2000, lanes)).astype(dtype)
    x[500, 3], x[1500, 9] = np.inf, np.nan
    y = pp.upfirdn(h, x, 2, 1, axis=0)
    with np.errstate(invalid="ignore"):
        ref = ss.upfirdn(h, x, 2, 1, axis=0)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    finite = np.isfinite(ref)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y[finite], ref[finite], rtol=tol, atol=tol * np.abs(h).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L, M, K", [(2, 1, 64), (1, 2, 64), (3, 2, 96), (160, 147, 3201),
                                     (5, 7, 120)])
def test_route_is_taken_and_equals_scipy(monkeypatch, L, M, K, dtype):
    h = ss.firwin(K, 0.8 / max(L, M)).astype(dtype)
    x = RNG.standard_normal(40_000 * M // L + 2000).astype(dtype)
    calls = record_calls(monkeypatch, band, "run")
    y = pp.upfirdn(h, x, L, M)
    assert len(calls) == 1
    ref = ss.upfirdn(h.astype(np.float64), x.astype(np.float64), L, M)
    assert y.dtype == dtype and y.shape == ref.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_band_equals_phase_stream_kernel(monkeypatch, dtype):
    """Both routes of run_rows on the same long batch, serial and parallel."""
    h = RNG.standard_normal(70).astype(dtype)
    pm = (pp.Down(3) @ pp.Conv(h) @ pp.Up(4)).polyphase()
    x = RNG.standard_normal((3, 30_001)).astype(dtype)
    args = (pm, x, dtype, -5, 17, 39_000)
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            calls = record_calls(monkeypatch, band, "run")
            got = engine.run_rows(*args)
            assert len(calls) == 1
            monkeypatch.setattr(engine, "BAND_MIN_OUTPUTS", 1 << 62)
            pm.__dict__.pop("_plans", None)
            want = engine.run_rows(*args)
            monkeypatch.undo()
            pm.__dict__.pop("_plans", None)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        tol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def assert_exact_fallback(h, x, up, down):
    """The band route hands back None on ``x`` (a zero of its padding times
    inf would be NaN), and upfirdn, through the exact kernel, has scipy's
    values and scipy's NaN and inf."""
    pm, bp = band_plan(h, up, down, np.float64)
    length = ((x.size - 1) * up + h.size) // down + 1
    assert band.run(bp, x[None], np.float64, 0, 0, length, 0) is None
    y = pp.upfirdn(h, x, up, down)
    with np.errstate(invalid="ignore"):
        ref = ss.upfirdn(h, x, up, down)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(y[finite], ref[finite], rtol=1e-12, atol=1e-12)


def test_non_finite_input_runs_the_exact_kernel():
    x = RNG.standard_normal(40_000)
    x[1000], x[20_000] = np.inf, np.nan
    assert_exact_fallback(RNG.standard_normal(64), x, 2, 1)


@pytest.mark.parametrize("where", [0, 3, 39_990], ids=["first", "start edge", "end edge"])
def test_non_finite_sample_at_an_end_runs_the_exact_kernel(where):
    """The macro-blocks at the ends of a signal multiply the band's zeros
    too: an inf there also hands the call back to the exact kernel."""
    x = RNG.standard_normal(40_000)
    x[where] = np.inf
    assert_exact_fallback(RNG.standard_normal(96), x, 3, 2)


def test_plan_layout_and_gates():
    h = RNG.standard_normal(96)
    pm, bp = band_plan(h, 3, 2, np.float32)
    assert bp.D.shape[2] == 16 and bp.Ls % 16 == 0 and bp.Ls % 3 == 0
    assert bp.Ms == bp.Ls // 3 * 2
    # every tap appears once in D: the sum of D is the sum of the filter
    # over one macro-block's worth of blocks
    assert np.isclose(bp.D.sum(dtype=np.float64), h.sum() * (bp.Ls // 3), rtol=1e-5)
    # gates: complex data, short phases
    assert band.plan(pm, np.complex128) is None
    assert band_plan(RNG.standard_normal(3), 2, 1, np.float64)[1] is None
    assert band_plan(RNG.standard_normal(4), 2, 1, np.float64)[1] is not None


@pytest.mark.parametrize("kernel", ["_interior", "_rows", "_edge_blocks"])
def test_kernel_is_vectorised(kernel):
    """With the SLP vectoriser on, the G multiply-adds of a row of D are one
    packed instruction (scalar code is 2-3x slower).  (On axis 0 the chunks
    that straddle the output window's ends run row by row, :func:`_edges`,
    which LLVM may inline with a scalar tail loop: not counted there.)"""
    fresh = numba.njit(fastmath={"contract"})(getattr(kernels_band, kernel).py_func)
    D, offs, widths = np.zeros((1, 4, 8)), np.zeros(1, np.int64), np.full(1, 4, np.int64)
    if kernel == "_interior":      # 1-D: eight macro-blocks of 8 outputs
        args = (np.zeros(64), D, offs, widths, 8, 4, 0, 0, 8, np.zeros(64), 0, False)
    elif kernel == "_edge_blocks":  # 1-D: one macro-block at a time, outputs 0-31
        args = (np.zeros(64), D, offs, widths, 8, 4, 0, 0, 4, np.zeros(64), 0, 0, 32)
    else:                          # axis 0: one macro-block of 8 rows of 8 lanes
        spans = np.array([[[0, 4], [0, 4], [0, 4]]], np.int64)
        args = (np.zeros(64), D, offs, widths, spans, 8, 4, 0, 0, 1, np.zeros(64), 0, 8, 0, 8, 0)
    with registers.slp_vectorizer():
        fresh(*args)
    asm = fresh.inspect_asm(fresh.signatures[0])
    packed = re.findall(r"vfmadd\w*pd\s+[^\n]*%[yz]mm", asm)
    scalar = re.findall(r"vfmadd\w*sd\s", asm)
    assert len(packed) >= 4 and (kernel == "_rows" or not scalar)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_band_fma_closed_form(dtype):
    """The 1-D interior's block (:func:`polyphase.engine.simd.band_fma8`):
    eight vectors of outputs at a stride, each a band of samples times rows
    of ``D``, against numpy; the check sums stay 0 for finite data and turn
    NaN when a sample is inf; the outputs around the block stay untouched.
    The prefetches it issues (any index: here far outside ``x``) change
    nothing, and are there in its machine code; streamed into vectors that
    start lines, the outputs are the same."""
    from polyphase.engine import simd

    @numba.njit
    def block(d, do, ds, x, xo, xs, nw, out, oo, os, check, stream=False):
        simd.band_fma8(d, do, ds, x, xo, xs, nw, out, oo, os, check, -(1 << 40), 1 << 20,
                       stream)
        simd.fence()

    G = 64 // np.dtype(dtype).itemsize
    nw, xs, ds, do, xo, os = 13, 5, G + 3, 4, 2, 2 * G + 1
    d = RNG.standard_normal(do + nw * ds + G).astype(dtype)
    x = RNG.standard_normal(xo + nw + 8 * xs).astype(dtype)
    out = np.full(3 + 8 * os + G, np.nan, dtype)
    check = np.zeros(G, dtype)
    block(d, do, ds, x, xo, xs, nw, out, 3, os, check)
    rows = np.stack([d[do + w * ds:][:G] for w in range(nw)]).astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    written = np.zeros(out.size, bool)
    for j in range(8):
        want = x[xo + j * xs:][:nw].astype(np.float64) @ rows
        np.testing.assert_allclose(out[3 + j * os:][:G], want, rtol=tol, atol=tol)
        written[3 + j * os:3 + j * os + G] = True
    assert np.isnan(out[~written]).all()
    assert (check == 0).all()
    lines = np.full(10 * G * 3, np.nan, dtype)           # vectors at whole lines
    at = -lines.ctypes.data % 64 // lines.itemsize
    lines = lines[at:at + 8 * 3 * G]
    assert lines.ctypes.data % 64 == 0
    block(d, do, ds, x, xo, xs, nw, lines, G, 3 * G, check, True)
    for j in range(8):
        np.testing.assert_array_equal(lines[G + j * 3 * G:][:G], out[3 + j * os:][:G])
    x[xo + 3 * xs + 1] = np.inf
    block(d, do, ds, x, xo, xs, nw, out, 3, os, check)
    assert np.isnan(check.sum())
    assert re.search(r"\bprefetch", block.inspect_asm(block.signatures[0]))


@pytest.mark.parametrize("maker", ["intel", "amd"])
def test_waste_limit(monkeypatch, maker):
    """Decimation by 8 with 9 taps in float64 does 1 + 7 * 8 / 9 = 7.2
    multiply-adds per tap on the band, under ``MAX_WASTE`` (on either
    machine); with 8 taps 8.0, and with 7 taps 9: over it.  Each route
    equals scipy."""
    from polyphase.engine import machine
    monkeypatch.setattr(machine, "maker", lambda: maker)
    x = RNG.standard_normal(1 << 18)
    for ntaps, taken in ((9, True), (8, True), (7, False)):
        h = RNG.standard_normal(ntaps)
        pm = (pp.Down(8) @ pp.Conv(h)).polyphase()
        assert np.isclose(band_waste(pm), 1 + 7 * 8 / ntaps)
        calls = record_calls(monkeypatch, band, "run")
        y = pp.upfirdn(h, x, 1, 8)
        assert bool(calls) == taken, ntaps
        np.testing.assert_allclose(y, ss.upfirdn(h, x, 1, 8), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, taken", [(1 << 22, True), (1 << 16, False)])
def test_float32_decimators_out_of_cache_allow_more_waste(monkeypatch, n, taken):
    """Decimation by 2 with 4 taps in float32 does 1 + 15 * 2 / 4 = 8.5
    multiply-adds per tap on the band: over ``MAX_WASTE``, so a signal in
    cache stays on the phase-stream kernel, while one of at least
    ``simd.STREAM_BYTES`` takes the band (``MAX_WASTE_FAR``); both equal
    scipy."""
    h = RNG.standard_normal(4).astype(np.float32)
    x = RNG.standard_normal(n).astype(np.float32)
    assert band.MAX_WASTE < 8.5 <= band.MAX_WASTE_FAR
    calls = record_calls(monkeypatch, band, "run")
    y = pp.upfirdn(h, x, 1, 2)
    assert bool(calls) == taken
    ref = ss.upfirdn(h.astype(np.float64), x.astype(np.float64), 1, 2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("up, down, ntaps, taken", [
    (2, 1, 8, False),         # L = 2, four taps a phase: the single pass
    (2, 1, 10, True),
    (3, 2, 9, True),          # three taps a phase
    (5, 1, 10, True),         # two
    (5, 1, 5, False),         # one
    (2, 3, 8, True),
])
def test_rows_take_the_band_from_two_taps_a_phase(monkeypatch, up, down, ntaps, taken):
    """Along rows the band route runs from two taps per output phase
    (``band.MIN_TAPS``), except L = 2 with at most four taps a phase
    (:func:`polyphase.engine.single_pass_rows`); either way the result
    equals scipy's."""
    h = RNG.standard_normal(ntaps)
    x = RNG.standard_normal(1 << 16)
    calls = record_calls(monkeypatch, band, "run")
    y = pp.upfirdn(h, x, up, down)
    assert bool(calls) == taken
    np.testing.assert_allclose(y, ss.upfirdn(h, x, up, down), rtol=1e-12, atol=1e-12)


def band_waste(pm):
    """Multiply-adds per tap of ``pm``'s band plan in float64, whatever the limit."""
    return band.plan(pm, np.float64, max_waste=np.inf).waste

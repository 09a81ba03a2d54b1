"""Pairs of output phases that share their input loads (engine.phase_pairs)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase as pp
from polyphase import engine
from helpers import random_array, record_calls, tolerance

RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def _1d_kernel_for_every_filter(monkeypatch):
    """The 1-D kernel for every matrix here: short filters at L = 2-4 would
    take the transposed kernel (``tests/test_transposed2d.py``), decimators
    by 2-4 with taps spanning M + 1 samples or fewer the strided one
    (``tests/test_strided2d.py``), and the 1-D kernel still runs them for
    non-finite data and complex ones."""
    monkeypatch.setattr(engine, "TRANSPOSED_1D_STRIDES", ())
    monkeypatch.setattr(engine, "STRIDED_1D_MIN_OUTPUTS", 1 << 62)


def plan_of(op, dtype=np.float64):
    return engine.phase_plan(op.polyphase(), dtype)


def window_by_taps(pm, x, start, length, origin=0):
    """Output indices ``[start, start + length)``, tap by tap in numpy.

    Output ``b*L + p`` gets ``c * x[(b - k)*M + q - origin]`` for each tap
    ``(p, q, k, c)``: ``x[i]`` is input index ``origin + i``.
    """
    L, M = pm.ups[0], pm.downs[0]
    idx = np.arange(start, start + length)
    b, p = np.divmod(idx, L)
    y = np.zeros(length, np.result_type(x, pm.c))
    for tp, tq, tk, c in zip(pm.p[:, 0], pm.q[:, 0], pm.k[:, 0], pm.c):
        src = (b - tk) * M + tq - origin
        ok = (p == tp) & (src >= 0) & (src < x.size)
        y[ok] += c * x[src[ok]]
    return y


def test_upsampling_phases_share_every_tap():
    plan = plan_of(pp.Conv(RNG.standard_normal(64)) @ pp.Up(2))
    np.testing.assert_array_equal(plan.groups, [[0, 1]])
    assert plan.cptr.tolist() == [0, 32] and plan.etaps.shape[0] == 0


def test_odd_filter_pairs_with_an_extra_tap():
    h = RNG.standard_normal(63)
    plan = plan_of(pp.Conv(h) @ pp.Up(2))
    np.testing.assert_array_equal(plan.groups, [[0, 1]])
    assert plan.cptr.tolist() == [0, 31]
    assert plan.eptr.tolist() == [0, 1, 1]          # h[62] on phase 0 alone
    np.testing.assert_array_equal(plan.ecoef[:, 0], [h[62]])
    np.testing.assert_array_equal(plan.ccoef[:, 0], h[0:62:2])
    np.testing.assert_array_equal(plan.ccoef[:, 1], h[1::2])


def test_phases_that_share_nothing_stay_alone():
    # 3/2: phases 0 and 1 read the same samples; phase 2 is left over
    plan = plan_of(pp.Down(2) @ pp.Conv(RNG.standard_normal(96)) @ pp.Up(3))
    np.testing.assert_array_equal(plan.groups, [[0, 1], [2, -1]])
    # a short filter upsampled by 4: one tap a phase at the same delay: pairs
    plan = plan_of(pp.Conv([1.0, 2.0, 3.0, 4.0]) @ pp.Up(4))
    np.testing.assert_array_equal(plan.groups, [[0, 1], [2, 3]])
    # phases reading different input streams share nothing
    plan = plan_of(pp.Down(3) @ pp.Conv(RNG.standard_normal(3)) @ pp.Up(2))
    assert np.all(plan.groups[:, 1] == -1)
    assert sorted(plan.groups[:, 0].tolist()) == [0, 1]
    # one shared tap of three is enough (PAIR_SHARE): a pair's stores
    # interleave both phases in one pass, where lone phases each store with
    # a stride
    plan = plan_of(pp.Down(3) @ pp.Conv(RNG.standard_normal(5)) @ pp.Up(2))
    np.testing.assert_array_equal(plan.groups, [[0, 1]])


def test_every_tap_is_run_once():
    pm = (pp.Down(3) @ pp.Conv(RNG.standard_normal(41)) @ pp.Up(4)).polyphase()
    plan = engine.phase_plan(pm, np.float64)
    seen = []
    for g, (p0, p1) in enumerate(plan.groups):
        for j in range(plan.cptr[g], plan.cptr[g + 1]):
            q, k = plan.ctaps[j]
            seen.append((p0, q, k, plan.ccoef[j, 0]))
            if p1 >= 0:
                seen.append((p1, q, k, plan.ccoef[j, 1]))
    for p in range(pm.ups[0]):
        for j in range(plan.eptr[p], plan.eptr[p + 1]):
            seen.append((p, *plan.etaps[j], plan.ecoef[j, 0]))
    taps = sorted(zip(pm.p[:, 0], pm.q[:, 0], pm.k[:, 0], pm.c))
    assert sorted(seen) == taps


@settings(max_examples=80, deadline=None)
@given(L=st.integers(1, 6), M=st.integers(1, 4), K=st.integers(1, 40),
       n=st.integers(1, 1500), start=st.integers(-20, 40), extra=st.integers(-30, 30),
       dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
       seed=st.integers(0, 2**16))
def test_windows_match_a_tap_by_tap_sum(L, M, K, n, start, extra, dtype, seed):
    """Any window (pair phases starting on different blocks at its edges),
    lengths spanning several jobs, against a sum written tap by tap."""
    rng = np.random.default_rng(seed)
    assert_window_matches_taps(random_array(K, dtype, rng), L, M, n, start, extra, dtype, rng)


def assert_window_matches_taps(h, L, M, n, start, extra, dtype, rng):
    """The 1-D kernel's window ``[start, start + length)`` of ``Down(M) @
    Conv(h) @ Up(L)`` on ``n`` random samples (``length`` the full output's
    plus ``extra``) against :func:`window_by_taps`."""
    pm = (pp.Down(M) @ pp.Conv(h) @ pp.Up(L)).polyphase()
    x = random_array(n, dtype, rng)
    length = max(0, (n * L + h.size) // M + extra)
    if length == 0:
        return
    y = engine.run_rows(pm, x[None], dtype, 0, start, length, method="direct")[0]
    ref = window_by_taps(pm, x.astype(np.complex128), start, length)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref, rtol=tolerance(dtype),
                               atol=tolerance(dtype) * np.abs(ref).max(initial=1))


def test_unshared_taps_never_meet_an_inserted_zero():
    """Phase 0 of Conv(h) @ Up(2) with 9 taps has one tap more than phase 1;
    an infinite sample must give inf where taps touch it, never 0 * inf."""
    h = np.arange(1.0, 10.0)
    assert plan_of(pp.Conv(h) @ pp.Up(2)).etaps.shape[0] == 1
    x = np.ones(40)
    x[7] = np.inf
    y = (pp.Conv(h) @ pp.Up(2))(x)
    touched = np.zeros(y.size, bool)
    touched[14:14 + h.size] = True                   # outputs 2*7 + (0..8)
    assert not np.isnan(y).any()
    np.testing.assert_array_equal(np.isinf(y), touched)


@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 4), M=st.integers(1, 3), K=st.integers(1, 14),
       n=st.integers(2000, 30000), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_short_tails_meet_inf_exactly(L, M, K, n, seed, dtype):
    """Groups of fewer than four taps run as four, the missing ones reading a
    real tap's samples with coefficient 0 (kernels._four); 0 * inf is NaN,
    so the kernel reports it and the call runs again exactly.  Infinite
    and NaN samples give inf and NaN exactly where the taps meet them, as a
    sum written tap by tap does; finite outputs equal it."""
    rng = np.random.default_rng(seed)
    pm = (pp.Down(M) @ pp.Conv(random_array(K, dtype, rng)) @ pp.Up(L)).polyphase()
    x = random_array(n, dtype, rng)
    x[rng.integers(0, n, 3)] = [np.inf, -np.inf, np.nan]
    length = (n * L + K) // M
    with np.errstate(invalid="ignore"):
        y = engine.run_rows(pm, x[None], dtype, 0, 0, length, method="direct")[0]
        ref = window_by_taps(pm, x.astype(np.float64), 0, length)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    np.testing.assert_array_equal(y[np.isinf(y)], ref[np.isinf(ref)])
    finite = np.isfinite(ref)
    np.testing.assert_allclose(y[finite], ref[finite], rtol=tolerance(dtype),
                               atol=tolerance(dtype) * np.abs(ref[finite]).max(initial=1))


def test_a_padded_pass_that_meets_inf_runs_again_exactly(monkeypatch):
    """L=2 with 5 taps: the pair shares 2 taps, one padded pass of four; an
    inf under it is reported and the jobs run again with ``exact``."""
    h = np.arange(1.0, 6.0)
    plan = plan_of(pp.Conv(h) @ pp.Up(2))
    assert plan.cptr.tolist() == [0, 2]              # a pair, two shared taps
    x = np.ones(100000)              # (jobs inside it, whose taps are not cut)
    x[50000] = np.inf
    calls = record_calls(monkeypatch, engine, "_jobs")
    y = (pp.Conv(h) @ pp.Up(2))(x)
    assert [c[1][-1] for c in calls] == [0, 1]
    touched = np.zeros(y.size, bool)
    touched[100000:100005] = True                    # outputs 2*50000 + (0..4)
    assert not np.isnan(y).any()
    np.testing.assert_array_equal(np.isinf(y), touched)


@pytest.mark.parametrize("L", [2, 3])
def test_parallel_jobs_agree_with_serial(L, monkeypatch):
    h = RNG.standard_normal(30)
    x = RNG.standard_normal((3, 20000))
    op = pp.Conv(h) @ pp.Up(L)
    parallel = op(x)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    np.testing.assert_array_equal(parallel, op(x))


@settings(max_examples=60, deadline=None)
@given(L=st.integers(1, 6), M=st.integers(1, 4), K=st.integers(1, 40),
       n=st.integers(1, 400), width=st.sampled_from([1, 5, 64]),
       origin=st.integers(-5, 5), start=st.integers(-20, 40), extra=st.integers(-30, 30),
       dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
       seed=st.integers(0, 2**16))
def test_axis0_windows_match_a_tap_by_tap_sum(L, M, K, n, width, origin, start, extra,
                                              dtype, seed):
    """The axis-0 kernel on the same matrices and windows (with ``M = 1`` and
    40 taps, pairs of phases run with eight or more shared taps)."""
    rng = np.random.default_rng(seed)
    pm = (pp.Down(M) @ pp.Conv(random_array(K, dtype, rng)) @ pp.Up(L)).polyphase()
    x = random_array((2, n, width), dtype, rng)
    length = max(1, (n * L + K) // M + extra)
    y = engine._run_axis0(pm, x, dtype, origin, start, length)
    assert y.dtype == dtype and y.shape == (2, length, width)
    for lane in range(2):
        for col in {0, width - 1}:
            ref = window_by_taps(pm, x[lane, :, col].astype(np.complex128), start, length,
                                 origin)
            np.testing.assert_allclose(y[lane, :, col], ref, rtol=tolerance(dtype),
                                       atol=tolerance(dtype) * np.abs(ref).max(initial=1))


@pytest.mark.parametrize("L, K, zeros", [(2, 16, 0), (2, 64, 0), (2, 61, 5), (3, 50, 3),
                                         (4, 72, 0), (2, 15, 0)])
def test_axis0_pairs_cover_every_tap_once(L, K, zeros):
    """The axis-0 kernel's pairs: eight shared taps per pass (a multiple of
    eight), the rest of each paired phase's taps alone; together they are
    exactly the phase's taps, with its coefficients."""
    h = RNG.standard_normal(K)
    h[RNG.choice(K, zeros, replace=False)] = 0            # taps only one phase has
    pm = (pp.Conv(h) @ pp.Up(L)).polyphase()
    origin = 3
    pairs = engine._axis0_pairs(pm, np.float64, origin)
    # 8 or more taps per phase: the pairs run together (else no pair code)
    assert (pairs is not None) == (K // L >= 8)
    if pairs is None:
        return
    groups, sptr, srow, scoef, rptr, rrow, rcoef = pairs
    ptr, tq, tk, tc = engine.tap_lists(pm, np.float64)
    paired = 0
    for g, (p0, p1) in enumerate(groups):
        s = slice(sptr[g], sptr[g + 1])
        assert (sptr[g + 1] - sptr[g]) % 8 == 0
        if p1 < 0:
            assert sptr[g + 1] == sptr[g]
            continue
        paired += sptr[g + 1] > sptr[g]
        for col, p in enumerate((p0, p1)):
            want = sorted(zip(tq[ptr[p]:ptr[p + 1]] - tk[ptr[p]:ptr[p + 1]] - origin,
                              tc[ptr[p]:ptr[p + 1]]))
            r = slice(rptr[p], rptr[p + 1])
            got = sorted(zip(np.concatenate([srow[s], rrow[r]]),
                             np.concatenate([scoef[s, col], rcoef[r]])))
            assert got == want
    assert paired > 0


@pytest.mark.parametrize("L, M, K, zeros", [(2, 1, 64, 0), (2, 1, 61, 5), (3, 1, 50, 3),
                                            (4, 1, 72, 0), (3, 2, 96, 4), (5, 3, 120, 0)])
@pytest.mark.parametrize("start, extra", [(0, 0), (-7, -20), (13, 9)])
@pytest.mark.parametrize("width, tile", [(64, 1024), (40, 16)], ids=["whole rows", "tiles"])
def test_axis0_pairs_match_a_tap_by_tap_sum(L, M, K, zeros, start, extra, width, tile,
                                            monkeypatch):
    """Pairs of phases on (n, 64) float32 rows (one flat pass over
    consecutive rows when M = 1 and the rows are whole; row by row
    otherwise), windows that cut the pairs' rows at both ends."""
    monkeypatch.setattr(engine, "AXIS0_TILE", tile)
    h = RNG.standard_normal(K)
    h[RNG.choice(K, zeros, replace=False)] = 0
    pm = (pp.Down(M) @ pp.Conv(h) @ pp.Up(L)).polyphase()
    assert engine._axis0_pairs(pm, np.float32, 0)[1][-1] > 0    # (not None)
    x = RNG.standard_normal((1, 300, width)).astype(np.float32)
    length = (300 * L + K) // M + extra
    y = engine._run_axis0(pm, x, np.float32, 0, start, length)
    for col in (0, 37, width - 1):
        ref = window_by_taps(pm, x[0, :, col].astype(np.float64), start, length)
        np.testing.assert_allclose(y[0, :, col], ref, rtol=tolerance(np.float32),
                                   atol=tolerance(np.float32) * np.abs(ref).max())


@pytest.mark.parametrize("L, K", [(1, 7), (2, 9), (3, 50), (5, 13)])
def test_packed_plan_unpacks_to_the_plan(L, K):
    """The 1-D kernel gets the plan as two flat arrays (fewer arguments to
    unbox per call) and unpacks every field as it was."""
    import numba
    from polyphase.engine.kernels import unpack

    @numba.njit(cache=False)                # (unpack is for numba functions only)
    def unpacked(ints, coefs):
        return unpack(ints, coefs)

    plan = plan_of(pp.Conv(RNG.standard_normal(K)) @ pp.Up(L)).delayed(3)
    got = unpacked(*plan.packed())
    for field, a, b in zip(plan._fields, got, plan):
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b.reshape(a.shape), err_msg=field)
        assert a.shape == b.shape, field


@settings(max_examples=60, deadline=None)
@given(L=st.integers(3, 8), M=st.integers(1, 3), K=st.integers(1, 40),
       empty=st.sets(st.integers(0, 7), max_size=3), n=st.integers(1, 3000),
       start=st.integers(-20, 40), extra=st.integers(-30, 30),
       dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
       seed=st.integers(0, 2**16))
def test_all_phases_interleaved_in_one_pass(L, M, K, empty, n, start, extra, dtype, seed):
    """L = 3 to 8 accumulate every phase of a job and interleave them in one
    pass (:func:`polyphase.engine.kernels._store_all`): phases without taps
    (``empty``: their taps zero) are zeros, window edges cut phases apart,
    against a sum written tap by tap."""
    rng = np.random.default_rng(seed)
    h = random_array(K, dtype, rng)
    h[[k for k in range(K) if k % L in empty]] = 0
    if h.any():
        assert_window_matches_taps(h, L, M, n, start, extra, dtype, rng)


@pytest.mark.parametrize("L", range(3, 9))
@pytest.mark.parametrize("w0, nout", [(0, 200), (5, 131), (-3, 250), (7, 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_store_all_interleaves_phases_and_zeros_the_uncovered(L, w0, nout, dtype):
    """Blocks ``[bs, be)`` of all phases into the window ``[w0, w0 + nout)``
    of the output: phase ``p`` of block ``b`` is sample ``b*L + p`` (whole
    vectors of blocks and a masked one at the end), a phase whose bit of
    ``covered`` is clear is zero whatever its row holds, samples outside
    the window are left alone."""
    import numba
    from polyphase.engine.kernels import _store_all

    @numba.njit(cache=False)
    def store_all(*args):            # (a kernels-only helper: no Python wrapper)
        _store_all(*args)
    bs, be = 2, 41
    acc = random_array((L, 48), dtype, RNG)
    acc[1] = np.nan                               # phase 1: not covered
    covered = sum(1 << p for p in range(L) if p != 1)
    out = np.full(nout, -7.0, dtype)
    store_all(acc, np.int64(covered), out, np.int64(L), np.int64(bs), np.int64(be),
              np.int64(w0))
    expected = np.full(nout, -7.0, dtype)
    for b in range(bs, be):
        for p in range(L):
            i = b * L + p - w0
            if 0 <= i < nout:
                expected[i] = 0.0 if p == 1 else acc[p, b - bs]
    np.testing.assert_array_equal(out, expected)

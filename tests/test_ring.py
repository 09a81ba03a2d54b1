"""The ring kernel (:mod:`polyphase.engine.kernels_ring`): channel-agnostic 2-D
matrices with finite taps -- strided and transposed convolutions of any
stride and kernel size, and rational 2-D resamplers.

Checked against the operators' dense matrices on every window the finite
operators use, and against brute-force numpy scatters with PyTorch's
arguments; the phase-image kernel it replaces stays the route for
non-finite taps and is checked on the same cases.
"""

import numpy as np
import pytest
from helpers import assert_window_matches_dense, record_jobs
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase as pp
import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import kernels2d, kernels_ring


@pytest.fixture(autouse=True)
def _ring_for_every_stride(monkeypatch):
    """The ring for every matrix here: upsampling ones whose taps fit small
    boxes would take the transposed kernel (``tests/test_transposed2d.py``),
    decimating ones the strided kernel (``tests/test_strided2d.py``)."""
    monkeypatch.setattr(engine, "TRANSPOSED_STRIDES", ())
    monkeypatch.setattr(engine, "STRIDED_STRIDES", ())


RATES = [((3, 3), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (3, 2)), ((2, 3), (3, 2)),
         ((5, 1), (1, 4)), ((4, 4), (3, 5))]
WINDOWS = ["full", "same", "valid", ((-4, 7), (-3, 10))]


def resampler(ups, downs, seed=1):
    rng = np.random.default_rng(seed)
    return pp.Down(downs) @ pp.Conv(rng.standard_normal((5, 7))) @ pp.Up(ups)


@pytest.mark.parametrize("rates", RATES, ids=str)
@pytest.mark.parametrize("mode", WINDOWS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_ring_windows_match_the_dense_matrix(rates, mode, dtype, monkeypatch):
    """Windows that start off the block grid and run past both ends of the
    image, for rates whose row and column phases take every split and
    interleave loop (literal 1-4 and the general one)."""
    calls = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    x = np.random.default_rng(2).standard_normal((13, 11)).astype(dtype)
    assert_window_matches_dense(resampler(*rates), x, mode)
    assert calls


@pytest.mark.parametrize("rates", RATES, ids=str)
@pytest.mark.parametrize("mode", WINDOWS, ids=str)
def test_phase_image_route_matches_the_dense_matrix(rates, mode, monkeypatch):
    """The route for non-finite taps, on the same cases (forced here)."""
    monkeypatch.setattr(kernels_ring, "plan", lambda *args: None)
    calls = record_jobs(monkeypatch, kernels2d, "run_jobs")
    x = np.random.default_rng(2).standard_normal((13, 11))
    assert_window_matches_dense(resampler(*rates, seed=3), x, mode)
    assert calls


def brute_conv_transpose2d(x, w, stride, padding, output_padding, dilation):
    """torch.nn.functional.conv_transpose2d, one channel, by scattering."""
    (s1, s2), (p1, p2), (o1, o2), (d1, d2) = stride, padding, output_padding, dilation
    lanes, n1, n2 = x.shape
    k1, k2 = w.shape
    full = np.zeros((lanes, (n1 - 1) * s1 + d1 * (k1 - 1) + 1 + o1,
                     (n2 - 1) * s2 + d2 * (k2 - 1) + 1 + o2))
    for a in range(k1):
        for b in range(k2):
            full[:, a * d1:a * d1 + s1 * (n1 - 1) + 1:s1,
                 b * d2:b * d2 + s2 * (n2 - 1) + 1:s2] += w[a, b] * x
    return full[:, p1:full.shape[1] - p1, p2:full.shape[2] - p2]


@settings(max_examples=80, deadline=None)
@given(n1=st.integers(1, 12), n2=st.integers(1, 12), k1=st.integers(1, 7),
       k2=st.integers(1, 7), s1=st.integers(1, 5), s2=st.integers(1, 5),
       p1=st.integers(0, 3), p2=st.integers(0, 3), d1=st.integers(1, 3),
       d2=st.integers(1, 3), op=st.integers(0, 4), lanes=st.integers(1, 3),
       seed=st.integers(0, 99))
def test_conv_transpose2d_matches_brute_force(n1, n2, k1, k2, s1, s2, p1, p2, d1, d2, op,
                                              lanes, seed):
    o1, o2 = op % s1, op % s2              # output_padding < stride
    if (n1 - 1) * s1 + d1 * (k1 - 1) + 1 + o1 <= 2 * p1 \
            or (n2 - 1) * s2 + d2 * (k2 - 1) + 1 + o2 <= 2 * p2:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lanes, n1, n2))
    w = rng.standard_normal((k1, k2))
    got = pnn.conv_transpose2d(x[:, None], w[None, None], stride=(s1, s2),
                               padding=(p1, p2), output_padding=(o1, o2),
                               dilation=(d1, d2))[:, 0]
    expected = brute_conv_transpose2d(x, w, (s1, s2), (p1, p2), (o1, o2), (d1, d2))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_parallel_and_serial_rings_agree(monkeypatch):
    """Job groups that cut the block rows of several images unevenly."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 1, 61, 47))
    w = rng.standard_normal((1, 1, 5, 4))
    parallel = []
    record_jobs(monkeypatch, kernels_ring, "run_jobs", parallel=parallel)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    y = pnn.conv_transpose2d(x, w, stride=3, padding=1)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    np.testing.assert_array_equal(y, pnn.conv_transpose2d(x, w, stride=3, padding=1))
    import numba
    if numba.get_num_threads() > 1:
        assert parallel


def test_plan_sorts_taps_by_phase_and_covers_each_once():
    """Every tap of the matrix appears once, under its phase, with its
    weight; row, column phase and block shift put it back where it reads."""
    op = resampler((2, 3), (3, 2))
    pm = op.polyphase()
    geo, ptr, tt, tc = kernels_ring.plan(pm, np.float64, (0, 0), (0, 0))
    L1, L2, M1, M2, ro, so = geo[:6]
    assert ptr[0] == 0 and ptr[-1] == pm.nnz and (np.diff(ptr) >= 0).all()
    got = set()
    for ph in range(L1 * L2):
        for t in range(ptr[ph], ptr[ph + 1]):
            a, m, q = tt[:, t]
            got.add((ph, ro + a, so + M2 * q + m, tc[t]))
    expected = {(p1 * L2 + p2, q1 - M1 * k1, q2 - M2 * k2, c)
                for (p1, p2), (q1, q2), (k1, k2), c in zip(pm.p, pm.q, pm.k, pm.c)}
    assert got == expected and len(expected) == pm.nnz


def test_non_finite_taps_take_the_phase_images(monkeypatch):
    ring = record_jobs(monkeypatch, kernels_ring, "run_jobs")
    exact = record_jobs(monkeypatch, kernels2d, "run_jobs")
    x = np.ones((1, 1, 5, 6))
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 2, 2] = np.inf
    y = pnn.conv_transpose2d(x, w, stride=3)
    assert not ring and len(exact) == 1
    with np.errstate(invalid="ignore"):
        expected = brute_conv_transpose2d(x[:, 0], w[0, 0], (3, 3), (0, 0), (0, 0),
                                          (1, 1))
    np.testing.assert_array_equal(y[:, 0], expected)    # inf where the tap lands only

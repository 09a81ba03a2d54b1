"""The pointwise route of the channel-mixing engine: 1x1 convolutions (any
stride, groups, 1-D and 2-D) as one batched product over a view of the input.

Checked against brute-force einsum, against the im2col route on the same
inputs, and on the windows that must fall back (padding reads outside the
input).
"""

import numpy as np
import pytest
from helpers import record_calls
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import gemm
from polyphase.finite import windows_for


def brute_pointwise(x, w, stride, groups):
    """conv{1,2}d with a 1x1 kernel, no padding: a strided channel mix per group."""
    d = x.ndim - 2
    xs = x[(slice(None), slice(None)) + (slice(None, None, stride),) * d]
    n, cin = xs.shape[:2]
    cout = w.shape[0]
    xg = xs.reshape((n, groups, cin // groups) + xs.shape[2:])
    wg = w.reshape((groups, cout // groups, cin // groups))
    return np.einsum("ngc...,goc->ngo...", xg, wg).reshape((n, cout) + xs.shape[2:])


@settings(max_examples=40, deadline=None)
@given(d=st.sampled_from([1, 2]), n=st.integers(1, 3), groups=st.sampled_from([1, 2, 3]),
       cin_g=st.integers(1, 4), cout_g=st.integers(1, 4), size=st.integers(1, 9),
       stride=st.integers(1, 3), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_pointwise_matches_brute_force(d, n, groups, cin_g, cout_g, size, stride, seed,
                                       dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups * cin_g) + (size,) * d).astype(dtype)
    w = rng.standard_normal((groups * cout_g, cin_g) + (1,) * d).astype(dtype)
    f = pnn.conv1d if d == 1 else pnn.conv2d
    got = f(x, w, stride=stride, groups=groups)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, brute_pointwise(x, w, stride, groups), rtol=tol,
                               atol=tol)


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_route_runs_and_equals_im2col(stride, monkeypatch):
    results = []
    real = gemm._pointwise
    monkeypatch.setattr(gemm, "_pointwise", lambda *a: results.append(real(*a)) or results[-1])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 11, 10))
    w = rng.standard_normal((5, 6, 1, 1))
    layer = pnn.Conv2d(w, stride=stride)
    y = layer(x)
    assert results and results[-1] is not None
    windows = windows_for(layer._declared, x.shape[2:], [(0, n) for n in y.shape[2:]])
    starts = tuple(a for a, _ in windows)
    lengths = tuple(b - a for a, b in windows)
    im2col = engine.run(layer.polyphase(), x, np.float64, (0, 0), starts, lengths,
                        method="gemm")
    np.testing.assert_allclose(y, im2col, rtol=1e-13, atol=1e-13)


def test_padding_reads_outside_and_falls_back(monkeypatch):
    """With padding the window reaches outside the input: the stacked route
    (zeros there), not the pointwise one."""
    pointwise = record_calls(monkeypatch, gemm, "_pointwise")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 4, 5, 6))
    w = rng.standard_normal((3, 4, 1, 1))
    y = pnn.conv2d(x, w, padding=1)
    assert pointwise                      # asked, and it declined
    expected = np.zeros((1, 3, 7, 8))
    expected[:, :, 1:-1, 1:-1] = brute_pointwise(x, w, 1, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("stride", [1, 3])
def test_input_origin_shifts_the_view(stride, monkeypatch):
    """An input that starts at index ``in_origin`` (the adjoint of a finite
    map reads such a signal): the same numbers as the im2col route."""
    results = []
    real = gemm._pointwise
    monkeypatch.setattr(gemm, "_pointwise", lambda *a: results.append(real(*a)) or results[-1])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 13, 12))
    pm = pnn.Conv2d(rng.standard_normal((3, 4, 1, 1)), stride=stride).polyphase()
    for origin, starts, lengths in (((-1, -2), (0, 0), (3, 3)), ((-2, 0), (1, 2), (2, 2))):
        got = engine.run(pm, x, np.float64, origin, starts, lengths)
        assert results[-1] is not None
        expected = engine.run(pm, x, np.float64, origin, starts, lengths, method="gemm")
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape, cout, direct", [
    ((2, 5, 7, 9), 8, True), ((3, 64, 16, 16), 64, True), ((2, 4, 300), 16, True),
    ((2, 3, 4, 4), 8, True), ((2, 3, 3, 3), 8, False), ((2, 3, 7, 9), 12, False)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stride_1_pointwise_reads_the_input_in_place(shape, cout, direct, dtype, monkeypatch):
    """A 1x1 stride-1 layer whose output channels are whole blocks of eight
    runs the direct kernel on ``x`` itself, each image's channel planes one
    row (:func:`polyphase.engine.kernels_direct.run_planes`); planes too
    short to fill their vectors (9 float32) and other channel counts keep
    ``np.matmul``.  A transposed (non-contiguous) input keeps it too.  Equal
    to brute force every way."""
    from helpers import record_jobs

    from polyphase.engine import kernels_direct
    rows = record_jobs(monkeypatch, kernels_direct, "run_planes")
    rng = np.random.default_rng(cout)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((cout, shape[1]) + (1,) * (len(shape) - 2)).astype(dtype)
    f = pnn.conv1d if len(shape) == 3 else pnn.conv2d
    tol = 1e-5 if dtype == np.float32 else 1e-12
    got = f(x, w)
    assert bool(rows) == direct
    np.testing.assert_allclose(got, brute_pointwise(x, w, 1, 1), rtol=tol, atol=tol)
    rows.clear()
    xt = np.swapaxes(np.swapaxes(x, 0, 1).copy(), 0, 1)         # same values, other strides
    np.testing.assert_allclose(f(xt, w), got, rtol=tol, atol=tol)
    assert not rows

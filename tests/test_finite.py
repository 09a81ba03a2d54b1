"""Finite arrays: numpy/scipy equivalences, windows, the LinearOperator."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import polyphase as pp

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n", range(1, 10))
@pytest.mark.parametrize("k", range(1, 10))
def test_conv_equals_np_convolve(mode, n, k):
    x, h = RNG.standard_normal(n), RNG.standard_normal(k)
    np.testing.assert_allclose(pp.Conv(h)(x, mode=mode), np.convolve(x, h, mode=mode),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("h", [[0.0, 1.0, 0.0], [1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0],
                               [0.0], [2j, 0.0, 1.0]])
def test_conv_with_zero_edge_taps_keeps_numpy_extent(mode, h):
    x = RNG.standard_normal(6)
    np.testing.assert_allclose(pp.Conv(h)(x, mode=mode), np.convolve(x, h, mode=mode),
                               atol=1e-14)


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
       st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=12),
       st.sampled_from(["full", "same", "valid"]))
def test_conv_equals_np_convolve_property(x, h, mode):
    expected = np.convolve(x, h, mode=mode)
    scale = max(1.0, np.abs(x).max() * np.abs(h).sum())
    np.testing.assert_allclose(pp.Conv(h)(x, mode=mode), expected,
                               rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("factor", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [1, 2, 7, 10])
def test_rate_changers_match_numpy(factor, n):
    x = RNG.standard_normal(n)
    up = np.zeros(n * factor)
    up[::factor] = x
    np.testing.assert_array_equal(pp.Up(factor)(x), up)
    np.testing.assert_array_equal(pp.Down(factor)(x), x[::factor])
    np.testing.assert_array_equal(pp.Repeat(factor)(x), np.repeat(x, factor))


def test_seed_matrices():
    np.testing.assert_array_equal(pp.Down(2).matrix(4), [[1, 0, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(pp.Up(2).matrix(2), [[1, 0], [0, 0], [0, 1], [0, 0]])
    q0, q1, q2 = 3.0, 5.0, 7.0
    T = pp.Conv([q0, q1, q2]).matrix(4, mode="same")
    # y[i] = q0 x[i+1] + q1 x[i] + q2 x[i-1]: banded Toeplitz, q1 on the diagonal
    expected = np.diag([q1] * 4) + np.diag([q0] * 3, 1) + np.diag([q2] * 3, -1)
    np.testing.assert_array_equal(T, expected)


def test_up_matrix_is_transpose_of_down_matrix():
    for n in (2, 3, 6):
        np.testing.assert_array_equal(pp.Up(2).matrix(n), pp.Down(2).matrix(2 * n).T)


def test_window_modes_of_rate_changers():
    x = np.arange(1.0, 8.0)
    assert pp.Up(3)(x, mode="same").size == 21
    assert pp.Down(3)(x, mode="same").size == 3
    np.testing.assert_array_equal(pp.Down(3)(x, mode="valid"), x[::3])
    # strided convolution: 'valid' keeps outputs that see no padding
    h = np.ones(3)
    y = (pp.Down(2) @ pp.Conv(h))(x, mode="valid")
    full = np.convolve(x, h)[::2]
    np.testing.assert_array_equal(y, full[1:4])     # full indices 2, 4, 6


def test_delay_windows():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(pp.Delay(2)(x), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(pp.Delay(2)(x, mode="valid"), x)
    np.testing.assert_array_equal(pp.Delay(-1)(x), x)            # starts at index -1
    np.testing.assert_array_equal(pp.Delay(-1)(x, mode=(0, 3)), [2, 3, 0])


def test_explicit_window():
    x = np.arange(1.0, 6.0)
    h = np.array([1.0, -1.0, 2.0])
    full = np.convolve(x, h)
    np.testing.assert_array_equal(pp.Conv(h)(x, mode=(2, 5)), full[2:5])
    padded = np.concatenate([[0, 0], full, [0]])
    np.testing.assert_array_equal(pp.Conv(h)(x, mode=(-2, 8)), padded)
    assert pp.Conv(h)(x, mode=(3, 3)).shape == (0,)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_axis_and_batch(axis):
    x = RNG.standard_normal((4, 5, 6))
    op = pp.Down(2) @ pp.Conv([1.0, 2.0, -1.0]) @ pp.Up(3)
    y = op(x, axis=axis)
    expected = np.apply_along_axis(op, axis, x)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)


def test_composite_evaluates_like_its_stages_up_to_trailing_zeros():
    x = RNG.standard_normal(11)
    a = pp.Conv([1.0, 2.0, 3.0, 4.0]) @ pp.Up(3)
    b = pp.Down(2) @ pp.Conv([1.0, -1.0, 0.5])
    staged, fused = b(a(x)), (b @ a)(x)
    k = fused.size
    np.testing.assert_allclose(fused, staged[:k], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(staged[k:], 0)


def test_equal_operators_give_equal_outputs():
    x = RNG.standard_normal(9)
    q = np.array([1.0, 2.0, -3.0])
    a = pp.Conv(q) @ pp.Repeat(3)
    b = pp.Conv(np.convolve(np.ones(3), q)) @ pp.Up(3)
    ya, yb = a(x), b(x)
    k = min(ya.size, yb.size)
    np.testing.assert_allclose(ya[:k], yb[:k], rtol=1e-13)
    assert not np.any(ya[k:]) and not np.any(yb[k:])


def test_linear_operator():
    op = pp.Down(2) @ pp.Conv([1.0, 2.0, 3.0])
    A = op.on(7, mode="same")
    D = op.matrix(7, mode="same")
    x, y = RNG.standard_normal(7), RNG.standard_normal(A.shape[0])
    np.testing.assert_allclose(A @ x, D @ x)
    np.testing.assert_allclose(A.T @ y, D.T @ y)
    np.testing.assert_allclose(A.H @ y, D.T @ y)
    np.testing.assert_allclose(A @ np.eye(7), D)          # matmat
    np.testing.assert_allclose(A.rmatmat(np.eye(A.shape[0])), D.T)
    assert "finite map" in repr(A)


def test_linear_operator_complex_adjoint():
    op = pp.Conv([1j, 2.0]) @ pp.Up(2)
    A = op.on(5)
    D = op.matrix(5)
    y = RNG.standard_normal(A.shape[0]) + 1j * RNG.standard_normal(A.shape[0])
    np.testing.assert_allclose(A.H @ y, D.conj().T @ y)
    np.testing.assert_allclose(A.T @ y, D.T @ y)


def test_linear_operator_with_scipy_solver():
    from scipy.sparse.linalg import lsqr
    op = pp.Conv([1.0, 0.5]) @ pp.Up(2)
    x = RNG.standard_normal(20)
    sol = lsqr(op.on(20), op(x), atol=1e-14, btol=1e-14)[0]
    np.testing.assert_allclose(sol, x, atol=1e-8)


def test_empty_input():
    assert pp.Conv([1.0, 2.0])(np.zeros(0)).shape == (0,)
    assert pp.Up(2)(np.zeros((3, 0))).shape == (3, 0)
    assert pp.Conv([1.0, 2.0]).matrix(0).shape == (0, 0)

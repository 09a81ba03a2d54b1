"""Every registered operator passes check_operator on several lengths and modes."""

import numpy as np
import pytest

import polyphase as pp
from polyphase.testing import check_operator, reference_matrix


@pytest.mark.parametrize("n", [0, 1, 2, 5, 8, 13])
@pytest.mark.parametrize("mode", ["full", "same", "valid", (-3, 11)])
def test_check_operator(registered, n, mode):
    check_operator(registered, n, mode)


def test_check_operator_catches_a_wrong_adjoint(monkeypatch):
    # A broken rmatvec (missing factor 2) must be reported with its scale factor.
    from polyphase import finite
    original = finite.FiniteOperator._rmatmat
    monkeypatch.setattr(finite.FiniteOperator, "_rmatmat",
                        lambda self, Y: 0.5 * original(self, Y))
    with pytest.raises(AssertionError, match="fitted scale factor 2"):
        check_operator(pp.Conv([1.0, 2.0]), 6)


def test_check_operator_catches_a_wrong_matrix(monkeypatch):
    from polyphase import testing
    monkeypatch.setattr(testing, "reference_matrix",
                        lambda op, n, mode: 2 * reference_matrix(op, n, mode))
    with pytest.raises(AssertionError, match="numpy reference matrix"):
        check_operator(pp.Up(2), 4)


def test_reference_matrix_matches_definitions():
    # The numpy reference itself, against the textbook matrices.
    q = np.array([1.0, 2.0, 3.0])
    n = 5
    conv = np.zeros((n + 2, n))
    for j in range(n):
        conv[j:j + 3, j] = q
    np.testing.assert_array_equal(reference_matrix(pp.Conv(q), n), conv)
    np.testing.assert_array_equal(reference_matrix(pp.Down(2) @ pp.Conv(q), n),
                                  conv[::2])
    up = np.zeros((3 * n, n))
    up[::3] = np.eye(n)
    np.testing.assert_array_equal(reference_matrix(pp.Up(3), n), up)

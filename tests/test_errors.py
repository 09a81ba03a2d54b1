"""Bad input gets a ValueError/TypeError that names the parameter."""

import numpy as np
import pytest

import polyphase as pp


@pytest.mark.parametrize("cls", [pp.Up, pp.Down, pp.Repeat])
@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (2.5, ValueError),
                                      ("2", TypeError), (None, TypeError),
                                      (True, TypeError), ([2, "a"], TypeError),
                                      ((), ValueError), ([2, 0], ValueError)])
def test_bad_factors(cls, bad, exc):
    with pytest.raises(exc, match="factor"):
        cls(bad)


def test_integral_float_factor_is_accepted():
    assert pp.Up(2.0).factor == 2 and pp.Down(np.int64(3)).factor == 3


@pytest.mark.parametrize("bad, exc", [([], ValueError), ([[]], ValueError), (3.0, ValueError),
                                      (["a"], TypeError), ("abc", TypeError),
                                      ([object()], TypeError)])
def test_bad_kernels(bad, exc):
    with pytest.raises(exc, match="h"):
        pp.Conv(bad)


def test_bad_delay():
    with pytest.raises(ValueError, match="d"):
        pp.Delay(0.5)
    with pytest.raises(TypeError, match="d"):
        pp.Delay("1")


@pytest.mark.parametrize("mode", ["fulll", "", None, 3, (1,), (5, 2), ("a", 3)])
def test_bad_modes(mode):
    with pytest.raises((ValueError, TypeError), match="mode"):
        pp.Conv([1.0])(np.ones(3), mode=mode)


@pytest.mark.parametrize("axis, exc", [(2, ValueError), (-3, ValueError),
                                       (0.5, ValueError), ("0", TypeError)])
def test_bad_axes(axis, exc):
    with pytest.raises(exc, match="axis"):
        pp.Up(2)(np.ones((2, 3)), axis=axis)


@pytest.mark.parametrize("x, exc", [(np.array(["a", "b"]), TypeError),
                                    (np.array([object(), 1]), TypeError),
                                    (np.float64(1.0), ValueError),
                                    (np.ones(3, dtype=np.longdouble), TypeError)])
def test_bad_signals(x, exc):
    with pytest.raises(exc, match="x"):
        pp.Conv([1.0])(x)


def test_composing_operators_of_different_dimensionality():
    with pytest.raises(ValueError, match="signal axes"):
        pp.Up(2) @ pp.Up((2, 2))
    with pytest.raises(ValueError, match="signal axes"):
        pp.Up(2) @ pp.Down(2) + pp.Identity(ndim=2)
    with pytest.raises(ValueError, match="signal axes"):
        pp.Conv(np.ones((2, 2))) @ pp.Delay(1)
    assert not pp.Identity().equals(pp.Identity(ndim=2))


def test_adding_operators_with_different_rates():
    with pytest.raises(ValueError, match="rate ratio"):
        pp.Up(2) + pp.Up(3)


def test_non_operator_operands():
    with pytest.raises(TypeError):
        pp.Up(2) @ np.ones(3)
    with pytest.raises(TypeError):
        pp.Up(2) + 1
    with pytest.raises(TypeError, match="compose"):
        pp.Up(2) * pp.Down(2)
    with pytest.raises(TypeError, match="other"):
        pp.Up(2).equals("Up(2)")


def test_bad_lengths_for_finite_maps():
    for bad, exc in [(-1, ValueError), (2.5, ValueError), ("4", TypeError)]:
        with pytest.raises(exc, match="n"):
            pp.Up(2).matrix(bad)
        with pytest.raises(exc, match="n"):
            pp.Up(2).on(bad)


def test_arrays_are_not_composed():
    with pytest.raises(TypeError, match="apply an operator"):
        np.ones(3) @ pp.Up(2)
    with pytest.raises(TypeError, match="apply an operator"):
        pp.Up(2) @ [1.0, 2.0]

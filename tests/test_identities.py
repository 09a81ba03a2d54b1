"""The identities of DESIGN.md, through ``equals`` and numerically."""

from math import gcd

import numpy as np
import pytest

import polyphase as pp
from polyphase.testing import assert_equivalent

RNG = np.random.default_rng(7)
KERNELS = [RNG.standard_normal(k) for k in (1, 2, 3, 4, 7)]


def both(a, b):
    """Equal through the algebra and numerically."""
    assert a.equals(b), f"{a!r} should equal {b!r}"
    assert b.equals(a)
    assert a == b
    assert_equivalent(a, b)


def neither(a, b):
    assert not a.equals(b), f"{a!r} should not equal {b!r}"
    assert a != b
    with pytest.raises(AssertionError):
        assert_equivalent(a, b)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_up_transpose_is_down(k):
    both(pp.Up(k).T, pp.Down(k))
    both(pp.Down(k).T, pp.Up(k))
    both(pp.Up(k).H, pp.Down(k))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_down_after_up_is_identity(k):
    both(pp.Down(k) @ pp.Up(k), pp.Identity())


@pytest.mark.parametrize("k", [2, 3, 4])
def test_up_after_down_is_not_identity(k):
    neither(pp.Up(k) @ pp.Down(k), pp.Identity())
    # it is the diagonal 0/1 mask keeping phase 0
    assert (pp.Up(k) @ pp.Down(k)).rates == (k, k)


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("q", KERNELS, ids=lambda q: f"K{q.size}")
def test_repeat_then_conv_is_transposed_conv_with_longer_kernel(s, q):
    both(pp.Conv(q) @ pp.Repeat(s), pp.Conv(np.convolve(np.ones(s), q)) @ pp.Up(s))


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("g", KERNELS, ids=lambda g: f"K{g.size}")
def test_noble_identities(k, g):
    both(pp.Down(k) @ pp.Conv(pp.dilate(g, k)), pp.Conv(g) @ pp.Down(k))
    both(pp.Conv(pp.dilate(g, k)) @ pp.Up(k), pp.Up(k) @ pp.Conv(g))


@pytest.mark.parametrize("L", range(1, 7))
@pytest.mark.parametrize("M", range(1, 7))
def test_up_down_commute_iff_coprime(L, M):
    a, b = pp.Up(L) @ pp.Down(M), pp.Down(M) @ pp.Up(L)
    if gcd(L, M) == 1:
        both(a, b)
    else:
        neither(a, b)


@pytest.mark.parametrize("a", KERNELS, ids=lambda a: f"Ka{a.size}")
@pytest.mark.parametrize("b", KERNELS[1:3], ids=lambda b: f"Kb{b.size}")
def test_conv_conv_is_conv_of_convolution(a, b):
    both(pp.Conv(a) @ pp.Conv(b), pp.Conv(np.convolve(a, b)))
    # bitwise: the algebra uses np.convolve for LTI products
    assert (pp.Conv(a) @ pp.Conv(b)).equals(pp.Conv(np.convolve(a, b)), rtol=0)


@pytest.mark.parametrize("s", [1, 2, 3, 4])
@pytest.mark.parametrize("q", KERNELS, ids=lambda q: f"K{q.size}")
def test_gradient_of_strided_conv_is_transposed_conv(s, q):
    both((pp.Down(s) @ pp.Conv(q)).T, pp.Conv(q).T @ pp.Up(s))


def test_transpose_of_composition_reverses_order():
    a, b = pp.Conv([1.0, 2.0]) @ pp.Up(3), pp.Down(2) @ pp.Conv([1.0, -1.0, 4.0])
    both((a @ b).T, b.T @ a.T)
    both((a @ b).H, b.H @ a.H)
    both(a.T.T, a)


def test_conjugate_transpose_conjugates():
    c = pp.Conv([1j, 2.0])
    both(c.H, pp.Conv([2.0, -1j]) @ pp.Delay(-1))
    neither(c.T, c.H)
    both(c.T, pp.Conv([2.0, 1j]) @ pp.Delay(-1))


def test_sums_and_scaling():
    q = np.array([1.0, 2.0, 3.0])
    both(pp.Conv(q) + pp.Conv(q), 2 * pp.Conv(q))
    both(pp.Conv(q) - pp.Conv(q), 0 * pp.Conv([1.0]))
    both(pp.Conv([1.0]) + pp.Delay(1), pp.Conv([1.0, 1.0]))
    # polyphase split: h = sum_k z^-k E_k(z^L) -> Conv(h) as a sum over phases
    h = RNG.standard_normal(7)
    parts = [pp.Delay(k) @ pp.Up(3) @ pp.Conv(e) @ pp.Down(3)
             for k, e in enumerate(pp.decompose(h, 3))]
    mixed = parts[0] + parts[1] + parts[2]
    assert mixed.rates == (3, 3)
    neither(mixed, pp.Conv(h))          # that is the polyphase *matrix* diagonal
    repeat_sum = pp.Repeat(2)
    both(repeat_sum, pp.Up(2) + pp.Delay(1) @ pp.Up(2))


def test_delay_is_conv_with_shifted_delta():
    both(pp.Delay(3), pp.Conv([0.0, 0.0, 0.0, 1.0]))
    both(pp.Delay(2) @ pp.Delay(-2), pp.Identity())
    # delays commute with Up only up to the factor
    both(pp.Up(2) @ pp.Delay(1), pp.Delay(2) @ pp.Up(2))
    neither(pp.Up(2) @ pp.Delay(1), pp.Delay(1) @ pp.Up(2))


def test_negatives_that_look_close():
    q = np.array([1.0, 2.0, 3.0])
    neither(pp.Conv(q), pp.Conv(q[::-1]))
    neither(pp.Conv(q), pp.Conv(q + 1e-6))
    neither(pp.Down(2) @ pp.Conv(q), pp.Down(2) @ pp.Delay(1) @ pp.Conv(q))
    neither(pp.Repeat(2), pp.Up(2))
    assert not pp.Up(2).equals(pp.Down(2))     # different rates


def test_equals_tolerance_is_relative_and_optional():
    q = np.array([1.0, 2.0, 3.0])
    tiny = pp.Conv(q * (1 + 1e-15))
    assert tiny.equals(pp.Conv(q))
    assert not tiny.equals(pp.Conv(q), rtol=0)


def test_assert_equivalent_aligns_by_output_index():
    # a one-sample shift is a different operator even if the arrays look alike
    shifted, plain = pp.Delay(-1) @ pp.Conv([1.0, 1.0]), pp.Conv([1.0, 1.0])
    assert not shifted.equals(plain)
    with pytest.raises(AssertionError):
        assert_equivalent(shifted, plain)
    # equal operators whose full windows differ (leading structural zero)
    assert pp.Conv([1.0, 0.0]).T.equals(pp.Identity())
    assert_equivalent(pp.Conv([1.0, 0.0]).T, pp.Identity())


def test_period_reduction_with_nonzero_start():
    P = pp.Up(2) @ pp.Down(2)
    both(pp.Delay(3) + P - P, pp.Delay(3))
    E = (pp.Up(2) @ pp.Delay(-1) @ pp.Down(2)).polyphase()
    assert (E.up, E.down) == (2, 2)
    # y[2b] = x[2b + 2]: a block advance is an advance by the period
    both(pp.Up(2) @ pp.Delay(-1) @ pp.Down(2), pp.Delay(-2) @ pp.Up(2) @ pp.Down(2))
    neither(pp.Up(2) @ pp.Delay(-1) @ pp.Down(2), pp.Delay(-1) @ pp.Up(2) @ pp.Down(2))

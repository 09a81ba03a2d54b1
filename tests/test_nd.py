"""N-D and multi-channel operators: scipy/numpy references, identities, checks."""

import numpy as np
import pytest
import scipy.signal as ss

import polyphase as pp
from polyphase.testing import assert_equivalent, check_operator

RNG = np.random.default_rng(21)
Q2 = RNG.standard_normal((3, 2))

ND_OPERATORS = {
    "conv2d": pp.Conv(Q2),
    "up23": pp.Up((2, 3)),
    "down22": pp.Down((2, 2)),
    "repeat21": pp.Repeat((2, 1)),
    "delay": pp.Delay((1, -2)),
    "strided2d": pp.Down((2, 2)) @ pp.Conv(Q2),
    "transposed2d": pp.Conv(Q2).T @ pp.Up((2, 2)),
    "conv3d": pp.Conv(RNG.standard_normal((2, 2, 2))),
    "channelconv1d": pp.ChannelConv(RNG.standard_normal((3, 2, 3))),
    "grouped-strided": pp.Down(2) @ pp.ChannelConv(RNG.standard_normal((4, 1, 3)), groups=2),
    "channelconv2d-T": pp.ChannelConv(RNG.standard_normal((2, 3, 2, 2))).T,
    "pixelshuffle": pp.PixelShuffle(2, channels=2),
    "subpixel": pp.PixelShuffle(2, channels=1) @ pp.ChannelConv(RNG.standard_normal((4, 1, 2, 2))),
    "complex2d": pp.Conv(Q2 * 1j + 1) @ pp.Up((1, 2)),
}


@pytest.mark.parametrize("name", sorted(ND_OPERATORS))
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_check_operator_nd(name, mode):
    op = ND_OPERATORS[name]
    shapes = {1: [5, 1, 4], 2: [(3, 4), (1, 2), (4, 1)], 3: [(2, 3, 2), (1, 2, 1)]}
    for shape in shapes[op.ndim]:
        check_operator(op, shape, mode)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("hshape", [(3, 3), (2, 4), (1, 5), (4, 1)])
@pytest.mark.parametrize("xshape", [(6, 7), (5, 5), (8, 3)])
def test_conv_equals_scipy_convolve(mode, hshape, xshape):
    h, x = RNG.standard_normal(hshape), RNG.standard_normal((2,) + xshape)
    try:
        expected = np.stack([ss.convolve(xi, h, mode=mode) for xi in x])
    except ValueError:
        # scipy refuses 'valid' when neither array is larger on every axis;
        # polyphase applies numpy's rule per axis: |N - K| + 1 samples
        got = pp.Conv(h)(x, mode=mode)
        assert got.shape[1:] == tuple(abs(n - k) + 1 for n, k in zip(xshape, hshape))
        full = pp.Conv(h)(x)
        starts = [min(n, k) - 1 for n, k in zip(xshape, hshape)]
        np.testing.assert_allclose(
            got, full[:, starts[0]:starts[0] + got.shape[1], starts[1]:starts[1] + got.shape[2]],
            rtol=1e-12, atol=1e-12)
        return
    np.testing.assert_allclose(pp.Conv(h)(x, mode=mode), expected, rtol=1e-12, atol=1e-12)


def test_conv3d_equals_scipy_convolve():
    h, x = RNG.standard_normal((2, 3, 2)), RNG.standard_normal((4, 5, 3))
    for mode in ("full", "same", "valid"):
        np.testing.assert_allclose(pp.Conv(h)(x, mode=mode), ss.convolve(x, h, mode=mode),
                                   rtol=1e-12, atol=1e-12)


def test_non_separable_kernel_and_axes():
    h = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])   # Laplacian
    x = RNG.standard_normal((6, 3, 7))
    y = pp.Conv(h)(x, axis=(0, 2))
    expected = np.stack([ss.convolve(x[:, j], h) for j in range(3)], axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_rate_changers_per_axis():
    x = RNG.standard_normal((3, 4))
    up = np.zeros((6, 12))
    up[::2, ::3] = x
    np.testing.assert_array_equal(pp.Up((2, 3))(x), up)
    np.testing.assert_array_equal(pp.Down((2, 3))(x), x[::2, ::3])
    np.testing.assert_array_equal(pp.Repeat((2, 2))(x), x.repeat(2, 0).repeat(2, 1))
    np.testing.assert_array_equal(pp.Delay((1, 0))(x)[1:], x)


def test_nd_identities():
    q = RNG.standard_normal((2, 3))
    for a, b in [
        (pp.Repeat((2, 2)), pp.Conv(np.ones((2, 2))) @ pp.Up((2, 2))),
        (pp.Conv(q) @ pp.Repeat((2, 2)),
         pp.Conv(ss.convolve(np.ones((2, 2)), q)) @ pp.Up((2, 2))),
        ((pp.Down((2, 3)) @ pp.Conv(q)).T, pp.Conv(q).T @ pp.Up((2, 3))),
        (pp.Down((2, 2)) @ pp.Up((2, 2)), pp.Identity(ndim=2)),
        (pp.Up((2, 3)) @ pp.Down((3, 2)), pp.Down((3, 2)) @ pp.Up((2, 3))),
        # separable kernels factor into per-axis convolutions
        (pp.Conv(np.outer([1.0, 2.0], [3.0, -1.0, 1.0])),
         pp.Conv([[1.0], [2.0]]) @ pp.Conv([[3.0, -1.0, 1.0]])),
    ]:
        assert a.equals(b), (a, b)
        assert_equivalent(a, b, n=[(3, 4), (5, 2)])
    assert not (pp.Up((2, 2)) @ pp.Down((2, 2))).equals(pp.Identity(ndim=2))
    assert not pp.Up((2, 3)).equals(pp.Up((3, 2)))


def test_channel_conv_matches_a_loop_over_channel_pairs():
    w = RNG.standard_normal((3, 2, 4))
    x = RNG.standard_normal((5, 2, 9))                  # batch, channels, time
    y = pp.ChannelConv(w)(x)
    expected = np.array([[sum(np.convolve(xb[i], w[o, i]) for i in range(2))
                          for o in range(3)] for xb in x])
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_grouped_and_depthwise_channel_conv():
    w = RNG.standard_normal((4, 1, 3))
    x = RNG.standard_normal((2, 9))
    y = pp.ChannelConv(w, groups=2)(x)
    # group 0: outputs 0, 1 from input 0; group 1: outputs 2, 3 from input 1
    expected = np.array([np.convolve(x[o // 2], w[o, 0]) for o in range(4)])
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    depthwise = pp.ChannelConv(RNG.standard_normal((2, 1, 3)), groups=2)
    assert depthwise.channels == (2, 2)
    assert not depthwise.equals(pp.ChannelConv(depthwise.weight))   # groups matter


def test_channel_agnostic_operators_meet_channel_mixing_ones():
    w = RNG.standard_normal((3, 2, 2))
    mix = pp.ChannelConv(w)
    up_then_mix = mix @ pp.Up(2)
    mix_then_up = pp.Up(2) @ mix
    assert up_then_mix.channels == mix_then_up.channels == (3, 2)
    x = RNG.standard_normal((2, 6))
    np.testing.assert_allclose(mix_then_up(x), pp.Up(2)(mix(x)), rtol=1e-12)
    staged = mix(pp.Up(2)(x))
    np.testing.assert_allclose(up_then_mix(x), staged[:, :up_then_mix(x).shape[1]],
                               rtol=1e-12)
    # a depthwise identity is the (agnostic) identity
    assert pp.ChannelConv(np.ones((2, 1, 1)), groups=2).equals(pp.Identity())


def test_pixel_shuffle_is_depth_to_space():
    x = RNG.standard_normal((2, 8, 3, 4))
    y = pp.PixelShuffle(2, channels=2)(x)
    expected = x.reshape(2, 2, 2, 2, 3, 4).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 6, 8)
    np.testing.assert_array_equal(y, expected)
    ps = pp.PixelShuffle(2, channels=2)
    assert (ps.T @ ps).equals(pp.Identity(ndim=2))
    assert (ps @ ps.T).equals(pp.Identity(ndim=2))


def test_channel_and_dimension_errors():
    mix = pp.ChannelConv(RNG.standard_normal((3, 2, 2)))
    with pytest.raises(ValueError, match="channel"):
        mix @ mix                                      # 3 channels into a 2-channel op
    with pytest.raises(ValueError, match="channels"):
        mix(RNG.standard_normal((3, 5)))               # wrong channel count
    with pytest.raises(ValueError, match="channel axis"):
        mix(RNG.standard_normal(5))                    # no channel axis at all
    with pytest.raises(ValueError, match="groups"):
        pp.ChannelConv(np.ones((3, 1, 2)), groups=2)
    with pytest.raises(ValueError, match="weight"):
        pp.ChannelConv(np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis"):
        pp.Conv(np.ones((2, 2)))(np.ones((3, 3)), axis=0)
    with pytest.raises(ValueError, match="mode"):
        pp.Conv(np.ones((2, 2)))(np.ones((3, 3)), mode=(0, 2))
    with pytest.raises(ValueError, match="same channels"):
        mix + pp.ChannelConv(RNG.standard_normal((2, 2, 2)))


def test_single_channel_mixing_operator_accepts_arrays_without_channel_axis():
    one = pp.ChannelConv([[[1.0, 2.0, 3.0]]])
    assert one.equals(pp.Conv([1.0, 2.0, 3.0]))
    x = RNG.standard_normal(6)
    np.testing.assert_allclose(one(x), pp.Conv([1.0, 2.0, 3.0])(x), rtol=1e-13)

"""Identities of deep-learning upsampling layers, through ``equals`` and numerically.

No PyTorch needed: the numbers come from closed forms, the deconvolution
reference and independent loops written here.
"""

import itertools
import subprocess
import sys

import numpy as np
import pytest

import polyphase as pp
from polyphase import caffe, nn
from polyphase.nn import grad
from polyphase.testing import assert_equivalent, check_operator

RNG = np.random.default_rng(21)


def both(a, b, n=(4, 7)):
    """Equal through the algebra and numerically (operators and adjoints)."""
    assert a.equals(b), f"{a!r} should equal {b!r}"
    assert b.equals(a)
    assert_equivalent(a, b, n)


def flip_swap(w):
    """Conv weight of the direct form of a transposed conv (groups=1): channel
    axes swapped, spatial axes flipped."""
    return np.flip(np.swapaxes(w, 0, 1), axis=tuple(range(2, w.ndim)))


# -------------------------------------------- repeat-upsample then convolve
@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("kq", [1, 2, 3, 4])
def test_repeat_then_conv_is_transposed_conv_with_hold_kernel(s, kq):
    q = RNG.standard_normal((2, 3, kq))
    w = flip_swap(np.apply_along_axis(np.convolve, -1, q, np.ones(s)))   # (3, 2, kq+s-1)
    for P in range(kq):
        layer = nn.Conv1d(q, padding=P) @ pp.Repeat(s)
        both(layer, nn.ConvTranspose1d(w, stride=s, padding=kq - 1 - P))
        x = RNG.standard_normal((2, 3, 5))
        np.testing.assert_allclose(nn.conv1d(np.repeat(x, s, axis=-1), q, padding=P),
                                   nn.conv_transpose1d(x, w, stride=s, padding=kq - 1 - P),
                                   rtol=1e-12, atol=1e-12)


def test_repeat_then_conv_2d():
    s, q = 2, RNG.standard_normal((1, 2, 3, 2))
    hold = np.ones((s, s))
    full = np.stack([[pp.Conv(hold)(k, mode="full") for k in qo] for qo in q])
    w = flip_swap(full)
    both(nn.Conv2d(q, padding=1) @ pp.Repeat((s, s)),
         nn.ConvTranspose2d(w, stride=s, padding=(1, 0)), n=[(3, 4)])
    x = RNG.standard_normal((1, 2, 3, 4))
    np.testing.assert_allclose(
        nn.conv2d(x.repeat(s, -1).repeat(s, -2), q, padding=1),
        nn.conv_transpose2d(x, w, stride=s, padding=(1, 0)), rtol=1e-12, atol=1e-12)


# ------------------------------------------- sub-pixel convolution + shuffle
@pytest.mark.parametrize("r, k, P", [(2, 3, 1), (2, 1, 0), (3, 2, 0), (3, 2, 1), (2, 3, 2)])
def test_subpixel_conv_is_transposed_conv_with_larger_kernel(r, k, P):
    C, Cin = 2, 3
    W = RNG.standard_normal((C * r * r, Cin, k, k))
    # W'[ci, c, r(k-1-a) + i, r(k-1-b) + j] = W[c r^2 + i r + j, ci, a, b]
    Wt = np.zeros((Cin, C, r * k, r * k))
    for c, i, j, a, b in itertools.product(range(C), range(r), range(r), range(k), range(k)):
        Wt[:, c, r * (k - 1 - a) + i, r * (k - 1 - b) + j] = W[c * r * r + i * r + j, :, a, b]
    pad = r * (k - 1 - P)
    both(pp.PixelShuffle(r, C) @ nn.Conv2d(W, padding=P),
         nn.ConvTranspose2d(Wt, stride=r, padding=pad), n=[(4, 5)])
    x = RNG.standard_normal((2, Cin, 4, 5))
    np.testing.assert_allclose(nn.pixel_shuffle(nn.conv2d(x, W, padding=P), r),
                               nn.conv_transpose2d(x, Wt, stride=r, padding=pad),
                               rtol=1e-12, atol=1e-12)


def test_icnr_initialisation_is_nearest_resize():
    # Aitken et al.: W[c r^2 + j] = W0[c] makes sub-pixel conv a NN resize of conv(W0)
    r, W0 = 2, RNG.standard_normal((2, 3, 3, 3))
    W = np.repeat(W0, r * r, axis=0)
    both(pp.PixelShuffle(r, 2) @ nn.Conv2d(W, padding=1),
         pp.Repeat((r, r)) @ nn.Conv2d(W0, padding=1), n=[(4, 4)])
    x = RNG.standard_normal((1, 3, 4, 5))
    np.testing.assert_allclose(nn.pixel_shuffle(nn.conv2d(x, W, padding=1), r),
                               nn.interpolate(nn.conv2d(x, W0, padding=1), scale_factor=r),
                               rtol=1e-12)


# ----------------------------------------------- bilinear == FCN transposed conv
def tent_operator(f, ndim):
    """Linear interpolation from PyTorch's definition (align_corners=False):
    output j reads source coordinate (j + 0.5)/f - 0.5 with tent weights."""
    u = np.arange(-2 * f, 3 * f)
    lam = np.maximum(0, 1 - np.abs((u + 0.5) / f - 0.5))
    nz = np.flatnonzero(lam)
    taps, first = lam[nz[0]:nz[-1] + 1], int(u[nz[0]])
    kernel = taps
    for _ in range(ndim - 1):
        kernel = np.multiply.outer(kernel, taps)
    fs = (f,) * ndim if ndim > 1 else f
    fd = (first,) * ndim if ndim > 1 else first
    return pp.Delay(fd) @ pp.Conv(kernel) @ pp.Up(fs)


@pytest.mark.parametrize("f", [1, 2, 3, 4, 5])
def test_bilinear_interpolation_is_fcn_transposed_conv(f):
    C = 3
    layer = caffe.bilinear_upsampling(C, f)            # depthwise, stride f, pad f//2
    both(tent_operator(f, 2), layer, n=[(3, 4)])
    both(tent_operator(f, 1), pp.Delay(-(f // 2)) @ pp.Conv(pp.bilinear_kernel(f, 1)) @ pp.Up(f))
    # numerically: interpolate == the layer on the edge-replicated input, padding + f
    x = RNG.standard_normal((2, C, 3, 4))
    xe = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="edge")
    weight = np.broadcast_to(pp.bilinear_kernel(f), (C, 1) + pp.bilinear_kernel(f).shape)
    via_conv = nn.conv_transpose2d(xe, weight, stride=f, padding=f // 2 + f, groups=C)
    np.testing.assert_allclose(nn.interpolate(x, scale_factor=f, mode="bilinear"), via_conv,
                               rtol=1e-12, atol=1e-12)
    # without replication (Caffe/FCN) it differs only in the f border rows/columns
    fcn = layer(x)
    inner = (slice(None), slice(None), slice(f, -f), slice(f, -f))
    np.testing.assert_allclose(fcn[inner], via_conv[inner], rtol=1e-12, atol=1e-12)
    if f > 1:
        assert not np.allclose(fcn, via_conv)


def test_interpolation_reference_numbers():
    x = np.array([[[1.0, 2.0, 3.0]]])
    np.testing.assert_allclose(nn.interpolate(x, scale_factor=2, mode="linear")[0, 0],
                               [1, 1.25, 1.75, 2.25, 2.75, 3])
    fcn1d = nn.conv_transpose1d(x, pp.bilinear_kernel(2, 1)[None, None], stride=2, padding=1)
    np.testing.assert_allclose(fcn1d[0, 0], [0.75, 1.25, 1.75, 2.25, 2.75, 2.25])
    np.testing.assert_allclose(
        nn.interpolate(x, scale_factor=2, mode="linear", align_corners=True)[0, 0],
        [1, 1.4, 1.8, 2.2, 2.6, 3])
    x2 = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    np.testing.assert_allclose(
        nn.interpolate(x2, scale_factor=2, mode="bilinear")[0, 0],
        [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5],
         [3, 3.25, 3.75, 4]])
    np.testing.assert_allclose(
        caffe.bilinear_upsampling(1, 2)(x2)[0, 0],
        [[.5625, .9375, 1.3125, 1.125], [1.125, 1.75, 2.25, 1.875],
         [1.875, 2.75, 3.25, 2.625], [1.6875, 2.4375, 2.8125, 2.25]])


# -------------------------------- gradient of a strided conv == transposed conv
@pytest.mark.parametrize("s, p, d, k", [(1, 0, 1, 3), (2, 1, 1, 3), (2, 0, 1, 4), (3, 1, 2, 2),
                                        (3, 2, 1, 5), (2, 1, 3, 2)])
def test_gradient_of_strided_conv_is_transposed_conv(s, p, d, k):
    w = RNG.standard_normal((3, 2, k))
    conv = nn.Conv1d(w, stride=s, padding=p, dilation=d)
    both(conv.T, nn.ConvTranspose1d(w, stride=s, padding=p, dilation=d))
    both(conv.T.T, conv)
    for i in range(max(d * (k - 1) + 1 - 2 * p, 1), 12):
        a = (i + 2 * p - d * (k - 1) - 1) % s                 # Dumoulin & Visin's a
        o = (i + 2 * p - d * (k - 1) - 1) // s + 1
        g = RNG.standard_normal((2, 3, o))
        gx = grad.conv1d_input((2, 2, i), w, g, stride=s, padding=p, dilation=d)
        np.testing.assert_allclose(
            gx, nn.conv_transpose1d(g, w, stride=s, padding=p, output_padding=a, dilation=d),
            rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gx, conv.T(g, output_size=(i,)), rtol=1e-12, atol=1e-12)
        # the finite maps are each other's transposes
        A = conv.matrix(i, mode=(0, o))
        B = nn.ConvTranspose1d(w, stride=s, padding=p, output_padding=a,
                               dilation=d).matrix(o, mode=(0, i))
        np.testing.assert_allclose(A.T, B, rtol=1e-12, atol=1e-12)


def test_gradient_of_strided_conv_2d_and_adjoint_identity():
    w = RNG.standard_normal((4, 1, 3, 2))
    conv = nn.Conv2d(w, stride=(2, 3), padding=(1, 0), groups=2)
    both(conv.T, nn.ConvTranspose2d(w, stride=(2, 3), padding=(1, 0), groups=2), n=[(5, 6)])
    x = RNG.standard_normal((2, 2, 7, 8))
    y = conv(x)
    g = RNG.standard_normal(y.shape)
    gx = grad.conv2d_input(x.shape, w, g, stride=(2, 3), padding=(1, 0), groups=2)
    assert np.isclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12)
    gw = grad.conv2d_weight(x, w.shape, g, stride=(2, 3), padding=(1, 0), groups=2)
    # <conv_w(x), g> is linear in w: its gradient is gw
    assert np.isclose(np.vdot(y, g), np.vdot(w, gw), rtol=1e-12)


# -------------------------------------------------- Dumoulin & Visin, rel. 13/14
@pytest.mark.parametrize("s, p, k, d", [(1, 0, 3, 1), (2, 0, 3, 1), (2, 1, 3, 1), (3, 1, 4, 1),
                                        (2, 2, 5, 1), (2, 1, 2, 2), (3, 0, 3, 2)])
def test_transposed_conv_is_direct_conv_on_stretched_input(s, p, k, d):
    w = RNG.standard_normal((2, 3, k))                  # (C_in, C_out, k)
    ke = d * (k - 1) + 1
    both(nn.ConvTranspose1d(w, stride=s, padding=p, dilation=d),
         nn.Conv1d(flip_swap(w), padding=ke - p - 1, dilation=d) @ pp.Up(s))
    for i in (3, 4, 6):
        x = RNG.standard_normal((1, 2, i))
        stretched = np.zeros((1, 2, (i - 1) * s + 1))
        stretched[..., ::s] = x
        for a in range(max(s, d)):
            direct = nn.conv1d(np.pad(stretched, [(0, 0), (0, 0), (ke - p - 1, ke - p - 1 + a)]),
                               flip_swap(w), dilation=d)
            np.testing.assert_allclose(
                direct, nn.conv_transpose1d(x, w, stride=s, padding=p, output_padding=a,
                                            dilation=d), rtol=1e-12, atol=1e-12)


def test_guide_figure_case():
    # i=6, k=3, s=2, p=1: o=3, a=1; i=5 also maps to o=3 with a=0
    conv = nn.Conv2d(np.ones((1, 1, 3, 3)), stride=2, padding=1)
    assert conv(np.ones((1, 1, 6, 6))).shape == conv(np.ones((1, 1, 5, 5))).shape == (1, 1, 3, 3)
    y = np.ones((1, 1, 3, 3))
    assert conv.T(y, output_size=(6, 6)).shape == (1, 1, 6, 6)
    assert nn.conv_transpose2d(y, np.ones((1, 1, 3, 3)), stride=2, padding=1,
                               output_padding=1).shape == (1, 1, 6, 6)


# ----------------------------------------------------- Caffe / FCN kernels
def test_bilinear_kernel_values():
    k = pp.bilinear_kernel(2)
    assert k.shape == (4, 4)
    assert set(np.unique(k)) == {0.0625, 0.1875, 0.5625}
    np.testing.assert_allclose(pp.bilinear_kernel(4, 1) * 8, [1, 3, 5, 7, 7, 5, 3, 1])
    np.testing.assert_allclose(pp.bilinear_kernel(3, 1) * 3, [1, 2, 3, 2, 1])
    assert pp.bilinear_kernel(1, 3).shape == (1, 1, 1)
    for f in range(1, 9):
        h = pp.bilinear_kernel(f, 1)
        assert h.size == 2 * f - f % 2
        np.testing.assert_allclose(pp.bilinear_kernel(f).sum(), f * f)
        np.testing.assert_allclose([h[r::f].sum() for r in range(f)], 1)   # no checkerboard
        # ZOH factor: h = h0 * h0 / f (odd f) or h0 * h0 * (1, 1) / (2f) (even f)
        h0 = np.ones(f)
        hold2 = np.convolve(h0, h0)
        ref = hold2 / f if f % 2 else np.convolve(hold2, [1, 1]) / (2 * f)
        np.testing.assert_allclose(h, ref)
    # every output phase of the FCN layer has DC gain 1
    E = caffe.bilinear_upsampling(1, 3).polyphase()
    gains = np.zeros(E.up)
    for p, c in zip(E.p, E.c):
        gains[tuple(p)] += c
    np.testing.assert_allclose(gains, 1)


def col2im_deconvolution(x, w, stride, pad):
    """Caffe's Deconvolution forward, written as its scatter (col2im) loop."""
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    full = np.zeros((n, cout, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i, j, a, b in itertools.product(range(h), range(wd), range(kh), range(kw)):
        full[:, :, i * stride + a, j * stride + b] += np.einsum("nc,co->no", x[:, :, i, j],
                                                               w[:, :, a, b])
    return full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad]


@pytest.mark.parametrize("stride, pad, k", [(1, 0, 3), (2, 0, 3), (2, 1, 4), (8, 0, 16),
                                            (3, 1, 5), (4, 2, 8)])
def test_caffe_deconvolution_is_conv_transpose_without_output_padding(stride, pad, k):
    x = RNG.standard_normal((2, 3, 4, 5))
    w = RNG.standard_normal((3, 2, k, k))
    got = caffe.deconvolution(x, w, stride=stride, pad=pad)
    assert got.shape[2:] == (stride * 3 + k - 2 * pad, stride * 4 + k - 2 * pad)
    np.testing.assert_allclose(got, col2im_deconvolution(x, w, stride, pad), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_array_equal(got, nn.conv_transpose2d(x, w, stride=stride, padding=pad,
                                                           output_padding=0))


# --------------------------------------------- layers are operators like any other
@pytest.mark.parametrize("layer, n", [
    (nn.Conv1d(RNG.standard_normal((3, 2, 3)), stride=2, padding=1), 7),
    (nn.ConvTranspose1d(RNG.standard_normal((2, 3, 4)), stride=3, padding=1), 5),
    (nn.Conv2d(RNG.standard_normal((4, 1, 2, 3)), stride=(2, 1), dilation=(1, 2), groups=2),
     (5, 6)),
    (nn.ConvTranspose2d(RNG.standard_normal((2, 2, 3, 3)), stride=2, padding=1, groups=2),
     (3, 4)),
])
def test_layers_pass_check_operator(layer, n):
    check_operator(layer, n)
    check_operator(layer.T, n)


def test_layer_reprs_and_expressions():
    w = np.ones((64, 64, 4, 4))
    assert repr(nn.Conv2d(w, stride=2, padding=1)) == \
        "Conv2d(weight=<64x64x4x4>, stride=2, padding=1)"
    assert repr(nn.ConvTranspose2d(w, np.zeros(64), stride=(2, 1), output_padding=(1, 0))) == \
        "ConvTranspose2d(weight=<64x64x4x4>, bias=<64>, stride=(2, 1), output_padding=(1, 0))"
    assert repr(nn.Conv1d(np.ones((2, 1, 3)), padding="same", groups=2)) == \
        "Conv1d(weight=<2x1x3>, padding='same', groups=2)"
    conv = nn.Conv1d([[[1.0, 2.0, 3.0]]], stride=2, padding=1)
    both(conv, pp.Down(2) @ pp.Delay(-1) @ pp.Conv([3.0, 2.0, 1.0]))
    assert isinstance(conv.T, nn.ConvTranspose1d) and isinstance(conv.T.T, nn.Conv1d)
    same = nn.Conv1d(RNG.standard_normal((2, 2, 4)), padding="same")
    assert same.T.padding == "same"
    x = RNG.standard_normal((1, 2, 6))
    g = RNG.standard_normal((1, 2, 6))
    np.testing.assert_allclose(same.T(g), grad.conv1d_input(x.shape, same.weight, g,
                                                            padding="same"), rtol=1e-12)


def test_bias_is_added_by_the_call_only():
    w, b = RNG.standard_normal((2, 1, 3)), np.array([1.0, -2.0])
    layer = nn.Conv1d(w, b)
    x = RNG.standard_normal((1, 1, 6))
    np.testing.assert_allclose(layer(x) - nn.Conv1d(w)(x), np.broadcast_to(b[:, None], (1, 2, 4)))
    np.testing.assert_allclose(layer(x, mode=(0, 4)), nn.Conv1d(w)(x))


def test_importing_nn_does_not_import_torch():
    code = ("import sys, polyphase, polyphase.nn, polyphase.nn.tf; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr

"""polyphase.nn against PyTorch: forward passes, gradients, layers, shuffles, interpolation.

Grids over stride, padding, output_padding, dilation, groups, kernel size and
odd/even input sizes, 1-D and 2-D, float32 and float64, with and without bias.
Gradients are compared with ``torch.autograd`` and ``torch.nn.grad``.
"""

import itertools

import numpy as np
import pytest

from polyphase import nn
from polyphase.nn import grad

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float32, np.float64]


def close(got, want, dtype):
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == dtype, (got.dtype, dtype)
    tol = 2e-5 if dtype == np.float32 else 1e-11
    scale = max(np.abs(want).max(initial=0), 1.0)
    err = np.abs(got - want).max(initial=0) / scale
    assert err <= tol, f"max error {err:.3g} relative to {scale:.3g}"


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv_cases_1d():
    for s, p, d, k, n, groups in itertools.product(
            (1, 2, 3), (0, 1, 2, "same", "valid"), (1, 2), (1, 2, 3, 4), (5, 8), (1, 2)):
        if p == "same" and s > 1:
            continue
        yield s, p, d, k, n, groups


def _sample(cases, count, seed):
    cases = list(cases)
    rng = np.random.default_rng(seed)
    return [cases[i] for i in sorted(rng.choice(len(cases), count, replace=False))]


def _conv_cases_2d():
    axes = list(itertools.product((1, 2, 3), (0, 1, 2), (1, 2), (1, 2, 3), (5, 6)))
    for a, b in itertools.product(axes, axes):
        yield a, b


# ----------------------------------------------------------------- forward
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_grid(dtype):
    rng = np.random.default_rng(0)
    ran = 0
    for s, p, d, k, n, groups in _conv_cases_1d():
        padded = n + (2 * p if isinstance(p, int) else 0)
        if p != "same" and padded < d * (k - 1) + 1:
            continue
        x = rng.standard_normal((2, 2 * groups, n)).astype(dtype)
        w = rng.standard_normal((3 * groups, 2, k)).astype(dtype)
        b = rng.standard_normal(3 * groups).astype(dtype) if ran % 2 else None
        want = F.conv1d(T(x), T(w), None if b is None else T(b), stride=s, padding=p,
                        dilation=d, groups=groups)
        close(nn.conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=groups),
              want, dtype)
        ran += 1
    assert ran > 250


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_grid(dtype):
    rng = np.random.default_rng(1)
    for (sh, ph, dh, kh, nh), (sw, pw, dw, kw, nw) in _sample(_conv_cases_2d(), 60, 2):
        groups = int(rng.integers(1, 4))
        if nh + 2 * ph < dh * (kh - 1) + 1 or nw + 2 * pw < dw * (kw - 1) + 1:
            continue
        x = rng.standard_normal((2, 2 * groups, nh, nw)).astype(dtype)
        w = rng.standard_normal((2 * groups, 2, kh, kw)).astype(dtype)
        b = rng.standard_normal(2 * groups).astype(dtype)
        args = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
        close(nn.conv2d(x, w, b, **args), F.conv2d(T(x), T(w), T(b), **args), dtype)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [(1, 4), (2, 3), (3, 3)])
def test_conv2d_string_padding(padding, k):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2) + k)
    for d in (1, 2):
        close(nn.conv2d(x, w, padding=padding, dilation=d),
              F.conv2d(T(x), T(w), padding=padding, dilation=d), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose1d_grid(dtype):
    rng = np.random.default_rng(4)
    ran = 0
    for s, p, d, k, n, groups in _conv_cases_1d():
        if isinstance(p, str):
            continue
        for op in range(max(s, d)):
            if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
                continue
            x = rng.standard_normal((2, 2 * groups, n)).astype(dtype)
            w = rng.standard_normal((2 * groups, 3, k)).astype(dtype)
            b = rng.standard_normal(3 * groups).astype(dtype) if ran % 2 else None
            args = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
            want = F.conv_transpose1d(T(x), T(w), None if b is None else T(b), **args)
            close(nn.conv_transpose1d(x, w, b, **args), want, dtype)
            ran += 1
    assert ran > 300


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose2d_grid(dtype):
    rng = np.random.default_rng(5)
    for (sh, ph, dh, kh, nh), (sw, pw, dw, kw, nw) in _sample(_conv_cases_2d(), 60, 6):
        groups = int(rng.integers(1, 4))
        oph, opw = int(rng.integers(max(sh, dh))), int(rng.integers(max(sw, dw)))
        if min((nh - 1) * sh - 2 * ph + dh * (kh - 1) + oph,
               (nw - 1) * sw - 2 * pw + dw * (kw - 1) + opw) < 0:
            continue
        x = rng.standard_normal((2, 2 * groups, nh, nw)).astype(dtype)
        w = rng.standard_normal((2 * groups, 2, kh, kw)).astype(dtype)
        b = rng.standard_normal(2 * groups).astype(dtype)
        args = dict(stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw),
                    groups=groups, dilation=(dh, dw))
        close(nn.conv_transpose2d(x, w, b, **args),
              F.conv_transpose2d(T(x), T(w), T(b), **args), dtype)


def test_reference_tables():
    # the worked numbers of the deconvolution reference, through torch and us
    x, w = np.array([[[1.0, 2.0, 3.0]]]), np.array([[[1.0, 10.0, 100.0]]])
    for args, want in [(dict(stride=2, padding=1, output_padding=1), [10, 102, 20, 203, 30, 300]),
                       (dict(stride=2, dilation=2), [1, 0, 12, 0, 123, 0, 230, 0, 300]),
                       (dict(stride=2, dilation=2, padding=1, output_padding=1),
                        [0, 12, 0, 123, 0, 230, 0, 300])]:
        np.testing.assert_array_equal(nn.conv_transpose1d(x, w, **args)[0, 0], want)
        np.testing.assert_array_equal(F.conv_transpose1d(T(x), T(w), **args)[0, 0], want)
    xg = np.array([[[1.0, 2, 3], [4, 5, 6]]])
    wg = np.array([[[1.0, 10]], [[100, 1000]]])
    np.testing.assert_array_equal(nn.conv_transpose1d(xg, wg, stride=2, groups=2)[0],
                                  [[1, 10, 2, 20, 3, 30], [400, 4000, 500, 5000, 600, 6000]])


def test_unbatched_input_and_float_weight_with_float32_input():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 9)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3))                      # float64 weight
    got = nn.conv1d(x, w, stride=2, groups=2)
    assert got.dtype == np.float32 and got.shape == (6, 4)
    close(got, F.conv1d(T(x), T(w.astype(np.float32)), stride=2, groups=2), np.float32)
    got = nn.conv_transpose1d(x, rng.standard_normal((4, 1, 3)), stride=2, groups=2)
    assert got.dtype == np.float32 and got.shape == (2, 19)


def test_empty_batch():
    w = np.ones((3, 2, 3))
    assert nn.conv1d(np.zeros((0, 2, 7)), w).shape == tuple(
        F.conv1d(torch.zeros(0, 2, 7, dtype=torch.float64), T(w)).shape)


# ---------------------------------------------------------------- gradients
def _autograd(conv, x, w, g, **args):
    xt, wt = T(x).requires_grad_(), T(w).requires_grad_()
    conv(xt, wt, **args).backward(T(g))
    return xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_gradients(dtype):
    rng = np.random.default_rng(8)
    for s, p, d, k, n, groups in _sample(_conv_cases_1d(), 80, 9):
        if p != "same" and n + (2 * p if isinstance(p, int) else 0) < d * (k - 1) + 1:
            continue
        x = rng.standard_normal((2, 2 * groups, n)).astype(dtype)
        w = rng.standard_normal((2 * groups, 2, k)).astype(dtype)
        args = dict(stride=s, padding=p, dilation=d, groups=groups)
        g = rng.standard_normal(nn.conv1d(x, w, **args).shape).astype(dtype)
        gx, gw = _autograd(F.conv1d, x, w, g, **args)
        close(grad.conv1d_input(x.shape, w, g, **args), gx, dtype)
        close(grad.conv1d_weight(x, w.shape, g, **args), gw, dtype)
        if not isinstance(p, str):
            close(grad.conv1d_input(x.shape, w, g, **args),
                  torch.nn.grad.conv1d_input(x.shape, T(w), T(g), **args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_gradients(dtype):
    rng = np.random.default_rng(10)
    for (sh, ph, dh, kh, nh), (sw, pw, dw, kw, nw) in _sample(_conv_cases_2d(), 40, 11):
        groups = int(rng.integers(1, 3))
        if nh + 2 * ph < dh * (kh - 1) + 1 or nw + 2 * pw < dw * (kw - 1) + 1:
            continue
        x = rng.standard_normal((2, 2 * groups, nh, nw)).astype(dtype)
        w = rng.standard_normal((3 * groups, 2, kh, kw)).astype(dtype)
        args = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
        g = rng.standard_normal(nn.conv2d(x, w, **args).shape).astype(dtype)
        gx, gw = _autograd(F.conv2d, x, w, g, **args)
        close(grad.conv2d_input(x.shape, w, g, **args), gx, dtype)
        close(grad.conv2d_weight(x, w.shape, g, **args), gw, dtype)
        close(grad.conv2d_weight(x, w.shape, g, **args),
              torch.nn.grad.conv2d_weight(T(x), w.shape, T(g), **args), dtype)


# -------------------------------------------------------------------- layers
def test_layers_match_torch_modules():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 4, 7, 6))
    m = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                        groups=2, dtype=torch.float64)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    layer = nn.Conv2d(w, b, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    y = layer(x)
    close(y, m(T(x)).detach(), np.float64)
    # the adjoint layer with output_size inverts the shape: torch's ConvTranspose2d
    mt = torch.nn.ConvTranspose2d(6, 4, (3, 2), stride=(2, 1), padding=(1, 0),
                                  dilation=(1, 2), groups=2, bias=False, dtype=torch.float64)
    mt.weight.data = T(w)
    close(layer.T(y, output_size=x.shape), mt(T(y), output_size=x.shape[2:]).detach(),
          np.float64)
    assert layer.T(y, output_size=x.shape).shape == x.shape


def test_conv_transpose_output_size_range_as_torch():
    w = np.ones((1, 1, 3))
    layer = nn.ConvTranspose1d(w, stride=3, padding=1)
    m = torch.nn.ConvTranspose1d(1, 1, 3, stride=3, padding=1, bias=False,
                                 dtype=torch.float64)
    m.weight.data = T(w)
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    for size in (10, 11, 12):
        close(layer(x, output_size=[size]), m(T(x), output_size=[size]).detach(), np.float64)
    for size in (9, 13):
        with pytest.raises(ValueError, match="output_size"):
            layer(x, output_size=[size])
        with pytest.raises(ValueError):
            m(T(x), output_size=[size])


# ------------------------------------------------------------ pixel shuffle
@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 2, 3, 4), (2, 1, 2, 3, 5)])
def test_pixel_shuffle_and_unshuffle(r, shape):
    rng = np.random.default_rng(13)
    shape = shape[:-3] + (shape[-3] * r * r,) + shape[-2:]
    x = rng.standard_normal(shape).astype(np.float32)
    y = nn.pixel_shuffle(x, r)
    close(y, F.pixel_shuffle(T(x), r), np.float32)
    close(nn.pixel_unshuffle(y, r), F.pixel_unshuffle(T(y), r), np.float32)
    np.testing.assert_array_equal(nn.pixel_unshuffle(y, r), x)


# --------------------------------------------------------------- interpolate
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode, dims", [("nearest", 1), ("nearest", 2), ("nearest", 3),
                                        ("linear", 1), ("bilinear", 2), ("trilinear", 3)])
def test_interpolate_integer_factors(mode, dims, dtype):
    rng = np.random.default_rng(14)
    for f in (1, 2, 3, 4, 5):
        shape = (2, 3) + (1, 4, 5)[:dims] if dims < 3 else (1, 2, 1, 3, 4)
        x = rng.standard_normal(shape).astype(dtype)
        factors = f if dims == 1 else tuple([f, max(1, f - 1), 2][:dims])
        want = F.interpolate(T(x), scale_factor=factors, mode=mode)
        close(nn.interpolate(x, scale_factor=factors, mode=mode), want, dtype)
        size = [n * g for n, g in zip(shape[2:], np.broadcast_to(factors, (dims,)))]
        close(nn.interpolate(x, size=size, mode=mode), F.interpolate(T(x), size=size, mode=mode),
              dtype)


@pytest.mark.parametrize("mode, dims", [("linear", 1), ("bilinear", 2)])
def test_interpolate_align_corners_any_size(mode, dims):
    rng = np.random.default_rng(15)
    for n_in, n_out in [(1, 4), (4, 1), (2, 3), (3, 7), (5, 9), (7, 20), (6, 4)]:
        x = rng.standard_normal((2, 2) + (n_in,) * dims)
        size = (n_out,) * dims if dims > 1 else n_out
        close(nn.interpolate(x, size=size, mode=mode, align_corners=True),
              F.interpolate(T(x), size=size, mode=mode, align_corners=True), np.float64)
    x = rng.standard_normal((1, 1) + (4,) * dims)
    close(nn.interpolate(x, scale_factor=2.5, mode=mode, align_corners=True),
          F.interpolate(T(x), scale_factor=2.5, mode=mode, align_corners=True), np.float64)


def test_interpolate_antialias_flag_does_not_change_upsampling():
    x = np.random.default_rng(16).standard_normal((1, 2, 3, 4))
    close(nn.interpolate(x, scale_factor=3, mode="bilinear", antialias=True),
          F.interpolate(T(x), scale_factor=3, mode="bilinear", antialias=True), np.float64)


def test_functional_layers_are_reused_only_for_the_same_weight():
    from polyphase.nn import functional
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 9))
    w = rng.standard_normal((3, 2, 3))
    first = nn.conv1d(x, w, stride=2)
    w[0, 0, 0] += 1.0                                  # changed in place
    second = nn.conv1d(x, w, stride=2)
    expected = F.conv1d(torch.from_numpy(x), torch.from_numpy(w), stride=2).numpy()
    np.testing.assert_allclose(second, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(first, second)
    assert len(functional._LAYERS) <= functional._LAYERS.size

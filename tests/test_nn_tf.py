"""TensorFlow semantics (polyphase.nn.tf): the SAME rule, layouts, and where PyTorch differs.

References: the seed's published output, the deconvolution reference's JAX /
Keras numbers, independent numpy loops (pad-then-correlate, scatter-then-crop)
and, when PyTorch is installed, its conv2d on explicitly padded input and its
autograd.
"""

import itertools

import numpy as np
import pytest

from polyphase import nn
from polyphase.nn import tf

RNG = np.random.default_rng(31)
SEED_X = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)


def same_pads(n, ke, s):
    out = -(-n // s)
    total = max((out - 1) * s + ke - n, 0)
    return total // 2, total - total // 2, out


def correlate_loop(x, filters, strides, dilations, pads):
    """NHWC cross-correlation on the explicitly padded input, written out."""
    (t, b), (l, r) = pads
    xp = np.pad(x, [(0, 0), (t, b), (l, r), (0, 0)])
    kh, kw, cin, cout = filters.shape
    (sh, sw), (dh, dw) = strides, dilations
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, cout))
    for i, j, a, c in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        y[:, i, j] += xp[:, i * sh + a * dh, j * sw + c * dw] @ filters[a, c]
    return y


def scatter_crop(x, filters, strides, out_hw, starts):
    """conv2d_transpose by its definition: scatter into the full output, take
    [start, start + O) per axis, zero-extended."""
    kh, kw, cout, _ = filters.shape
    n, h, w, _ = x.shape
    (sh, sw) = strides
    full = np.zeros((n, (h - 1) * sh + kh + out_hw[0], (w - 1) * sw + kw + out_hw[1], cout))
    for i, j, a, c in itertools.product(range(h), range(w), range(kh), range(kw)):
        full[:, i * sh + a, j * sw + c] += x[:, i, j] @ filters[a, c].T
    return full[:, starts[0]:starts[0] + out_hw[0], starts[1]:starts[1] + out_hw[1]]


# --------------------------------------------------------------- the seed
def test_seed_example():
    k = np.ones((3, 3, 1, 1))
    same = tf.conv2d_transpose(SEED_X, k, (1, 4, 4, 1), strides=2, padding="SAME")
    np.testing.assert_array_equal(same[0, :, :, 0], [[1, 1, 3, 2], [1, 1, 3, 2],
                                                     [4, 4, 10, 6], [3, 3, 7, 4]])
    full = tf.conv2d_transpose(SEED_X, k, (1, 5, 5, 1), strides=2, padding="VALID")
    np.testing.assert_array_equal(full[0, :, :, 0], [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2],
                                                     [4, 4, 10, 6, 6], [3, 3, 7, 4, 4],
                                                     [3, 3, 7, 4, 4]])
    small = tf.conv2d_transpose(SEED_X, k, (1, 3, 3, 1), strides=2, padding="SAME")
    np.testing.assert_array_equal(small[0, :, :, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    # PyTorch's padding=1, output_padding=1 is shifted by one pixel: not TF
    torch_like = nn.conv_transpose2d(SEED_X.transpose(0, 3, 1, 2), np.ones((1, 1, 3, 3)),
                                     stride=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(torch_like[0, 0], [[1, 3, 2, 2], [4, 10, 6, 6],
                                                     [3, 7, 4, 4], [3, 7, 4, 4]])
    assert tf.torch_padding((2, 2), (4, 4), (3, 3), (2, 2)) is None


def test_jax_transpose_kernel_numbers():
    # jax.lax.conv_transpose(..., 'SAME', transpose_kernel=True) == TF, kernel 1..9
    k = np.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    got = tf.conv2d_transpose(SEED_X, k, (1, 4, 4, 1), strides=2)
    np.testing.assert_array_equal(got[0, :, :, 0], [[1, 2, 5, 4], [4, 5, 14, 10],
                                                    [10, 14, 36, 24], [12, 15, 34, 20]])


# ------------------------------------------------------------- grids
CASES = [(n, k, s, d, pad) for n, k, s, d, pad in itertools.product(
    (4, 5, 7), (1, 2, 3, 4), (1, 2, 3), (1, 2), ("SAME", "VALID"))]


def _pick(count, seed):
    rng = np.random.default_rng(seed)
    return [CASES[i] for i in rng.choice(len(CASES), count, replace=False)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_against_padded_correlation(dtype):
    for n, k, s, d, pad in _pick(40, 1):
        ke = d * (k - 1) + 1
        if pad == "VALID" and n < ke:
            continue
        x = RNG.standard_normal((2, n, n + 1, 3)).astype(dtype)
        f = RNG.standard_normal((k, k - (k > 1), 3, 2)).astype(dtype)
        kes = (ke, d * (f.shape[1] - 1) + 1)
        if pad == "SAME":
            pads = [same_pads(m, e, s)[:2] for m, e in zip(x.shape[1:3], kes)]
        else:
            pads = [(0, 0), (0, 0)]
        got = tf.conv2d(x, f, strides=s, padding=pad, dilations=d)
        assert got.dtype == dtype
        want = correlate_loop(x.astype(np.float64), f.astype(np.float64), (s, s), (d, d), pads)
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=1e-4 if dtype == np.float32 else 1e-12)


def test_conv2d_transpose_is_scatter_then_crop_and_the_adjoint():
    for n, k, s, d, pad in _pick(40, 2):
        ke = d * (k - 1) + 1
        # every output size the transposed conv accepts for this input size
        outs = [o for o in range(1, n * s + ke + 2)
                if (-(-o // s) if pad == "SAME" else -(-(o - ke + 1) // s)) == n]
        f = RNG.standard_normal((k, k, 2, 3))
        x = RNG.standard_normal((1, n, n, 3))
        for o in outs:
            got = tf.conv2d_transpose(x, f, (1, o, o, 2), strides=s, padding=pad, dilations=d)
            start = same_pads(o, ke, s)[0] if pad == "SAME" else 0
            if d == 1:
                want = scatter_crop(x, f, (s, s), (o, o), (start, start))
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
            # adjoint of conv2d from (o, o) to (n, n): <conv(z), x> == <z, convT(x)>
            z = RNG.standard_normal((1, o, o, 2))
            lhs = np.vdot(tf.conv2d(z, f, strides=s, padding=pad, dilations=d), x)
            assert np.isclose(lhs, np.vdot(z, got), rtol=1e-10)


def test_nchw_equals_nhwc():
    x = RNG.standard_normal((2, 5, 6, 3))
    f = RNG.standard_normal((3, 2, 3, 4))
    a = tf.conv2d(x, f, strides=[1, 2, 2, 1], padding="SAME")
    b = tf.conv2d(x.transpose(0, 3, 1, 2), f, strides=[1, 1, 2, 2], padding="SAME",
                  data_format="NCHW")
    np.testing.assert_allclose(b, a.transpose(0, 3, 1, 2), rtol=1e-12)
    ft = RNG.standard_normal((3, 3, 4, 3))
    a = tf.conv2d_transpose(x, ft, (2, 10, 12, 4), strides=2)
    b = tf.conv2d_transpose(x.transpose(0, 3, 1, 2), ft, (2, 4, 10, 12), strides=2,
                            data_format="NCHW")
    np.testing.assert_allclose(b, a.transpose(0, 3, 1, 2), rtol=1e-12)


def test_grouped_conv2d():
    x = RNG.standard_normal((1, 5, 5, 4))
    f = RNG.standard_normal((3, 3, 2, 6))          # 2 groups inferred from depth 4/2
    got = tf.conv2d(x, f, strides=1, padding="SAME")
    torch_layout = nn.conv2d(x.transpose(0, 3, 1, 2), f.transpose(3, 2, 0, 1), padding=1,
                             groups=2)
    np.testing.assert_allclose(got, torch_layout.transpose(0, 2, 3, 1), rtol=1e-12)


def test_explicit_padding():
    x = RNG.standard_normal((1, 5, 6, 2))
    f = RNG.standard_normal((3, 3, 2, 1))
    got = tf.conv2d(x, f, 2, [[0, 0], [1, 2], [0, 1], [0, 0]])
    np.testing.assert_allclose(got, correlate_loop(x, f, (2, 2), (1, 1), [(1, 2), (0, 1)]),
                               rtol=1e-12)


# ------------------------------------------- when PyTorch has no equivalent
def test_torch_padding_exists_exactly_when_the_rule_says():
    x = RNG.standard_normal((1, 1, 1, 4))
    for i, k, s, d in itertools.product((2, 3, 4), (1, 2, 3, 4, 5), (1, 2, 3), (1, 2)):
        ke = d * (k - 1) + 1
        full = (i - 1) * s + ke
        xi = x[:, :, :, :i]
        f = RNG.standard_normal((1, k, 1, 1))
        for o in range((i - 1) * s + 1, i * s + 1):          # all SAME-consistent sizes
            pair = tf.torch_padding((1, i), (1, o), (1, k), (1, s), dilations=(1, d))
            expect_none = full > o and (full - o) % 2 == 1
            assert (pair is None) == expect_none, (i, k, s, d, o)
            want = tf.conv2d_transpose(xi.transpose(0, 2, 3, 1), f, (1, 1, o, 1), (1, s),
                                       dilations=(1, d))[..., 0]
            matches = [(p, op) for p in range(ke + 1) for op in range(max(s, d))
                       if (i - 1) * s - 2 * p + ke + op == o
                       and np.allclose(nn.conv_transpose1d(
                           xi[0], f[0, :, :, :].transpose(2, 1, 0), stride=s, padding=p,
                           output_padding=op, dilation=d), want[0], atol=1e-12)]
            if pair is None:
                assert not matches, (i, k, s, d, o, matches)
            else:
                assert (pair[0][1], pair[1][1]) in matches
    # the usual output size O = I s: impossible exactly when Ke > s and Ke - s is odd
    assert tf.torch_padding(4, 8, 3, 2) is None and tf.torch_padding(4, 4, 2, 1) is None
    assert tf.torch_padding(4, 8, 4, 2) == ((1,), (0,))
    assert tf.torch_padding(4, 12, 2, 3) == ((0,), (1,))
    assert tf.torch_padding(4, 9, 3, 2, padding="VALID") == ((0,), (0,))


def test_forward_same_needs_asymmetric_padding():
    # stride 2, kernel 3, even size: total padding 1, all of it at the end
    x = RNG.standard_normal((1, 4, 4, 1))
    f = RNG.standard_normal((3, 3, 1, 1))
    got = tf.conv2d(x, f, 2, "SAME")
    w = f.transpose(3, 2, 0, 1)
    xt = x.transpose(0, 3, 1, 2)
    for p in (0, 1):
        assert not np.allclose(nn.conv2d(xt, w, stride=2, padding=p)[..., :2, :2],
                               got.transpose(0, 3, 1, 2))
    padded = np.pad(xt, [(0, 0), (0, 0), (0, 1), (0, 1)])
    np.testing.assert_allclose(nn.conv2d(padded, w, stride=2), got.transpose(0, 3, 1, 2),
                               rtol=1e-12)


def test_against_torch_when_available():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for n, k, s, d, pad in _pick(30, 3):
        ke = d * (k - 1) + 1
        if pad == "VALID" and n < ke:
            continue
        o = n * s if pad == "SAME" else (n - 1) * s + ke
        f = RNG.standard_normal((k, k, 2, 3))
        x = RNG.standard_normal((1, n, n, 3))
        before, after, _ = same_pads(o, ke, s) if pad == "SAME" else (0, 0, 0)
        z = torch.tensor(RNG.standard_normal((1, 2, o, o)), requires_grad=True)
        y = F.conv2d(F.pad(z, (before, after, before, after)),
                     torch.tensor(f.transpose(3, 2, 0, 1)), stride=s, dilation=d)
        y.backward(torch.tensor(x.transpose(0, 3, 1, 2)))
        got = tf.conv2d_transpose(x, f, (1, o, o, 2), strides=s, padding=pad, dilations=d)
        np.testing.assert_allclose(got.transpose(0, 3, 1, 2), z.grad.numpy(), rtol=1e-10,
                                   atol=1e-10)
        np.testing.assert_allclose(
            tf.conv2d(z.detach().numpy().transpose(0, 2, 3, 1), f, s, pad,
                      dilations=d).transpose(0, 3, 1, 2),
            y.detach().numpy(),
            rtol=1e-10, atol=1e-10)
        pair = tf.torch_padding(n, o, k, s, pad, d)
        if pair is not None:
            want = F.conv_transpose2d(torch.tensor(x.transpose(0, 3, 1, 2)),
                                      torch.tensor(f.transpose(3, 2, 0, 1)), stride=s,
                                      padding=pair[0] * 2, output_padding=pair[1] * 2,
                                      dilation=d)
            np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want.numpy(), rtol=1e-10,
                                       atol=1e-10)


# ----------------------------------------------------------------- errors
def test_bad_arguments():
    k = np.ones((3, 3, 1, 1))
    with pytest.raises(ValueError, match="output_shape"):
        tf.conv2d_transpose(SEED_X, k, (1, 5, 5, 1), strides=2, padding="SAME")
    with pytest.raises(ValueError, match="output_shape"):
        tf.conv2d_transpose(SEED_X, k, (1, 4, 4, 2), strides=2)
    with pytest.raises(ValueError, match="padding"):
        tf.conv2d(SEED_X, k, 1, "FULL")
    with pytest.raises(ValueError, match="data_format"):
        tf.conv2d(SEED_X, k, 1, "SAME", data_format="NWHC")
    with pytest.raises(ValueError, match="strides"):
        tf.conv2d(SEED_X, k, [2, 1, 1, 1], "SAME")
    with pytest.raises(ValueError, match="strides"):
        tf.conv2d(SEED_X, k, 0, "SAME")
    with pytest.raises(ValueError, match="filters"):
        tf.conv2d(SEED_X, np.ones((3, 3, 1)), 1, "SAME")
    with pytest.raises(ValueError, match="input"):
        tf.conv2d(SEED_X[0], k, 1, "SAME")
    with pytest.raises(ValueError, match="depth"):
        tf.conv2d(SEED_X, np.ones((3, 3, 2, 1)), 1, "SAME")

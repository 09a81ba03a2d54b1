"""PyTorch's strided and transposed 1-D convolutions as polyphase operators.

A first cross-check against an independent implementation; the full layer API
(channels, groups, 2-D) comes with ``polyphase.nn``.  torch's ``conv1d`` is a
cross-correlation: ``y[n] = sum_k w[k] x[s*n + d*k - p]``, which is
``Down(s) @ Delay(p - (Ke - 1)) @ Conv(flip(dilate(w, d)))`` with
``Ke = d*(K - 1) + 1``.  ``conv_transpose1d`` is ``Conv(dilate(w, d)) @ Up(s)``
cropped by ``p`` at the start.
"""

import itertools

import numpy as np
import pytest

import polyphase as pp

torch = pytest.importorskip("torch")
F = torch.nn.functional

GRID = list(itertools.product((1, 2, 3), (0, 1, 2), (1, 2), (1, 2, 3, 4), (4, 5, 8)))


def strided_conv(w, stride, padding, dilation):
    ke = dilation * (len(w) - 1) + 1
    return pp.Down(stride) @ pp.Delay(padding - (ke - 1)) @ pp.Conv(
        pp.dilate(w, dilation)[::-1])


def transposed_conv(w, stride, dilation):
    return pp.Conv(pp.dilate(w, dilation)) @ pp.Up(stride)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d(dtype):
    rng = np.random.default_rng(0)
    for s, p, d, k, n in GRID:
        out_len = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if out_len < 1:
            continue
        x, w = rng.standard_normal(n).astype(dtype), rng.standard_normal(k).astype(dtype)
        expected = F.conv1d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None],
                            stride=s, padding=p, dilation=d)[0, 0].numpy()
        got = strided_conv(w, s, p, d)(x, mode=(0, out_len))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose1d(dtype):
    rng = np.random.default_rng(1)
    for s, p, d, k, n in GRID:
        for op in range(max(s, d)):
            out_len = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            if out_len < 1:
                continue
            x, w = rng.standard_normal(n).astype(dtype), rng.standard_normal(k).astype(dtype)
            expected = F.conv_transpose1d(
                torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None],
                stride=s, padding=p, output_padding=op, dilation=d)[0, 0].numpy()
            got = transposed_conv(w, s, d)(x, mode=(p, p + out_len))
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_seed_table_of_conv_transpose1d():
    x, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, 10.0, 100.0])
    np.testing.assert_array_equal(transposed_conv(w, 2, 1)(x, mode=(0, 7)),
                                  [1, 10, 102, 20, 203, 30, 300])
    np.testing.assert_array_equal(transposed_conv(w, 2, 1)(x, mode=(1, 7)),
                                  [10, 102, 20, 203, 30, 300])


def test_gradient_of_strided_conv_is_its_transpose():
    # torch.autograd's input gradient of conv1d is the adjoint of our operator
    rng = np.random.default_rng(2)
    for s, p, d, k, n in GRID:
        out_len = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if out_len < 1:
            continue
        x, w = rng.standard_normal(n), rng.standard_normal(k)
        g = rng.standard_normal(out_len)
        xt = torch.tensor(x[None, None], requires_grad=True)
        F.conv1d(xt, torch.tensor(w[None, None]), stride=s, padding=p,
                 dilation=d).backward(torch.tensor(g[None, None]))
        A = strided_conv(w, s, p, d).on(n, mode=(0, out_len))
        np.testing.assert_allclose(A.rmatvec(g), xt.grad[0, 0].numpy(), rtol=1e-12,
                                   atol=1e-12)

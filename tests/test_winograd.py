"""The Winograd F(2x2, 2x2) route of the channel-mixing 2-D engine.

Checked against a brute-force numpy convolution (independent of the engine)
and against the engine's im2col route on the same inputs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase.nn as pnn
from polyphase.engine import gemm
from polyphase.engine import winograd
from polyphase.finite import windows_for


def brute_conv2d(x, w, stride, padding):
    """torch.nn.functional.conv2d by sliding windows (cross-correlation)."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    return np.einsum("ncijkl,ockl->noij", win, w)


def brute_conv_transpose2d(x, w, stride, padding):
    """torch.nn.functional.conv_transpose2d by scattering each input sample."""
    n, cin, h, wd = x.shape
    k = w.shape[2]
    full = np.zeros((n, w.shape[1], (h - 1) * stride + k, (wd - 1) * stride + k))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + k, j * stride:j * stride + k] += \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    return full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]


def _layer_and_input(transposed, n, c, size, padding, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    w = rng.standard_normal((c, c, 4, 4)).astype(dtype)
    cls = pnn.ConvTranspose2d if transposed else pnn.Conv2d
    return cls(w, stride=2, padding=padding), x, w


@pytest.mark.parametrize("transposed", [False, True])
def test_stride2_k4_layers_take_the_winograd_route(transposed):
    layer, x, _ = _layer_and_input(transposed, 1, 16, 8, 1, 0)
    pm = layer.polyphase()
    G, plan = gemm._plan(pm, np.float64)
    assert gemm._winograd_plans(pm, np.float64, plan, 16) is not None


@pytest.mark.parametrize("k, channels", [(3, 16), (4, 4), (5, 16)])
def test_other_layers_keep_im2col(k, channels):
    w = np.ones((channels, channels, k, k))
    pm = pnn.Conv2d(w, stride=2).polyphase()
    G, plan = gemm._plan(pm, np.float64)
    assert gemm._winograd_plans(pm, np.float64, plan, channels) is None


@settings(max_examples=30, deadline=None)
@given(transposed=st.booleans(), n=st.integers(1, 3), c=st.sampled_from([16, 24]),
       size=st.integers(2, 11), padding=st.integers(0, 3), seed=st.integers(0, 99))
def test_winograd_matches_brute_force(transposed, n, c, size, padding, seed):
    layer, x, w = _layer_and_input(transposed, n, c, size, padding, seed)
    if transposed:
        if (size - 1) * 2 - 2 * padding + 4 <= 0:
            return
        expected = brute_conv_transpose2d(x, w, 2, padding)
        got = pnn.conv_transpose2d(x, w, stride=2, padding=padding)
    else:
        if size + 2 * padding < 4:
            return
        expected = brute_conv2d(x, w, 2, padding)
        got = pnn.conv2d(x, w, stride=2, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [7, 8])
def test_winograd_equals_im2col_route(transposed, dtype, size):
    layer, x, _ = _layer_and_input(transposed, 2, 16, size, 1, 3, dtype)
    pm = layer.polyphase()
    shape = x.shape[2:]
    (s1, e1), (s2, e2) = windows_for(layer._declared, shape, "full")
    args = (pm, x, np.dtype(dtype), (0, 0), (s1, s2), (e1 - s1, e2 - s2))
    fast = gemm.run_gemm(*args, algorithm="winograd")
    slow = gemm.run_gemm(*args, algorithm="im2col")
    assert fast.dtype == slow.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fast, slow, rtol=tol, atol=tol * np.abs(slow).max())


def test_winograd_refused_where_it_does_not_apply():
    pm = pnn.Conv2d(np.ones((16, 16, 3, 3)), stride=2).polyphase()
    x = np.ones((1, 16, 8, 8))
    with pytest.raises(ValueError, match="algorithm"):
        gemm.run_gemm(pm, x, np.dtype(np.float64), (0, 0), (0, 0), (3, 3),
                      algorithm="winograd")


def test_transformed_weights_reproduce_direct_2x2_correlation():
    """U = G g G^T, V = BT d BT^T, y = AT (U V) AT^T is a 2x2 correlation."""
    rng = np.random.default_rng(5)
    d, g = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    BT = np.array([[1, -1, 0], [0, 1, 0], [0, -1, 1]])
    AT = np.array([[1, 1, 0], [0, 1, 1]])
    y = AT @ ((winograd._G @ g @ winograd._G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[np.sum(d[i:i + 2, j:j + 2] * g) for j in range(2)]
                       for i in range(2)])
    np.testing.assert_allclose(y, direct, rtol=1e-14)

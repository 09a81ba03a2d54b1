"""The Winograd routes of the channel-mixing engine: F(3, 2) in 1-D, F(2x2, 2x2)
and F(2x2, 3x3) in 2-D.

Checked against brute-force numpy convolutions (independent of the engine)
and against the engine's im2col route on the same inputs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase.nn as pnn
from polyphase import engine
from polyphase.engine import gemm, kernels_winograd, numba_threads
from polyphase.engine import winograd
from polyphase.engine.scratch import scratch
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


@pytest.fixture(autouse=True, scope="module")
def _winograd_on_few_channels():
    """The layers here have 16-24 channels, on which a transposed layer
    would otherwise run on the phases kernel, and a strided 2-D one on the
    bands (``gemm._direct_first``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "WINOGRAD_TRANSFORMS", {1: 0, 2: 0})
        yield


@pytest.mark.parametrize("d, k, stride, transposed, taps, products", [
    # F(2x2, 2x2): 4 taps a phase, 9 products per tile of 4 outputs
    (2, 4, 2, True, 4, 9 / 4), (2, 4, 2, False, 16, 4 * 9 / 4),
    # F(3, 2): 2 taps a phase, 4 products per tile of 3 outputs
    (1, 4, 2, True, 2, 4 / 3), (1, 6, 3, True, 2, 4 / 3),
    # F(2x2, 3x3) with k6 s2: 9 taps a phase, 16 products per tile of 4
    (2, 6, 2, True, 9, 16 / 4)])
def test_winograd_counts_per_output(d, k, stride, transposed, taps, products):
    """``gemm._winograd_counts``: multiply-adds per output (per input
    channel) of the taps and of the Winograd products, in closed form."""
    cin = 16
    shape = (cin, 16) + (k,) * d if transposed else (16, cin) + (k,) * d
    cls = {(1, True): pnn.ConvTranspose1d, (2, True): pnn.ConvTranspose2d,
           (2, False): pnn.Conv2d}[d, transposed]
    # (random weights: equal ones would zero some points of F(3, 2))
    w = np.random.default_rng(k).standard_normal(shape)
    pm = cls(w, stride=stride).polyphase()
    G, plan = gemm._plan(pm, np.float64)
    got = gemm._winograd_counts(pm, np.float64, plan, cin)
    np.testing.assert_allclose(got, (taps * cin, products * cin), rtol=1e-12)


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


@pytest.mark.parametrize("k, channels", [(4, 4), (7, 16), (2, 16)])
def test_other_layers_keep_im2col(k, channels):
    """Too few channels; taps wider than a box of three per phase; boxes so
    empty (k = 2: one tap of four) that Winograd's products would outnumber
    the taps."""
    w = np.ones((channels, channels, k, k))
    pm = pnn.Conv2d(w, stride=2).polyphase()
    G, plan = gemm._plan(pm, np.float64)
    assert gemm._winograd_plans(pm, np.float64, plan, channels) is None
    assert gemm._winograd_plans(
        pnn.ConvTranspose2d(np.ones((16, 16, 3, 3)), stride=2).polyphase(), np.float64,
        gemm._plan(pnn.ConvTranspose2d(np.ones((16, 16, 3, 3)), stride=2).polyphase(),
                   np.float64)[1], 16) is None           # (transposed: direct kernel)


@pytest.mark.parametrize("transposed, d, k, phases_per_tile", [
    (False, 2, 3, 25), (False, 2, 5, 49), (False, 2, 4, 36), (False, 1, 3, 7),
    (True, 2, 5, 49), (True, 1, 5, 7), (False, 2, (4, 3), 49), (False, 2, (5, 4), 81)])
def test_products_skip_the_phases_whose_weights_are_zero(transposed, d, k, phases_per_tile):
    """Each point's products run over the rows of ``K`` in its span only
    (``Plans.spans``): every weight outside a span is zero, and the spans
    hold no more phases than the points where some weight is not zero --
    the minimal products of each phase's box (k = 3, stride 2: phases of
    2x2, 2x1, 1x2 and 1x1 taps, 9 + 6 + 6 + 4 of 9 points each; full boxes,
    k = 4: 4 x 9; in 1-D, F(3, 2), 4 + 3 of 4 points).  ``(k, stride)``
    for strides other than 2: nine phases of four kinds (k = 4, stride 3:
    one of 2x2 taps, two each of 2x1 and 1x2, four of 1x1), 49 of 81."""
    k, stride = k if isinstance(k, tuple) else (k, 2)
    rng = np.random.default_rng(k)
    w = rng.standard_normal((16, 16) + (k,) * d)
    cls = {(False, 1): pnn.Conv1d, (False, 2): pnn.Conv2d, (True, 1): pnn.ConvTranspose1d,
           (True, 2): pnn.ConvTranspose2d}[transposed, d]
    pm = cls(w, stride=stride, padding=1).polyphase()
    plans = gemm._winograd_plans(pm, np.float64, gemm._plan(pm, np.float64)[1], 16)
    assert plans is not None
    total = 0
    for (qs, _, U, _), spans in zip(plans, plans.spans):
        nonzero = (U != 0).reshape(U.shape[0], -1, qs.size, 16).any(axis=(1, 3))
        for p, (k0, k1) in enumerate(spans):
            rows = np.zeros(U.shape[2], bool)
            rows[k0:k1] = True
            assert not U[p][:, ~rows].any()
            assert k1 - k0 == 16 * nonzero[p].sum()        # (no zero phase inside)
            total += (k1 - k0) // 16
    assert total == phases_per_tile


PARTIAL_BOXES = [(2, 3, 2), (1, 3, 2), (1, 4, 3), (1, 5, 3), (2, 4, 3), (2, 5, 4)]


@pytest.mark.parametrize("d, k, stride", PARTIAL_BOXES)
def test_strided_layers_with_partial_boxes_take_the_winograd_route(d, k, stride):
    """Input phases whose taps lie in boxes of two without filling them run
    with zero weights in the rest, as long as the products that are not zero
    are at most 85 % of the taps' (k = 3, stride 2: 25 products for 36 in
    2-D; k = 5, stride 4: 81 for 100); not 1-D k = 5 at stride 4 (13 for
    15)."""
    cls = pnn.Conv1d if d == 1 else pnn.Conv2d
    pm = cls(np.ones((16, 16) + (k,) * d), stride=stride).polyphase()
    G, plan = gemm._plan(pm, np.float64)
    assert gemm._winograd_plans(pm, np.float64, plan, 16) is not None
    pm = pnn.Conv1d(np.ones((16, 16, 5)), stride=4).polyphase()
    assert gemm._winograd_plans(pm, np.float64, gemm._plan(pm, np.float64)[1], 16) is None


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(PARTIAL_BOXES),
       n=st.integers(1, 3), c=st.sampled_from([16, 24]), size=st.integers(1, 30),
       padding=st.integers(0, 3), seed=st.integers(0, 99))
def test_partial_boxes_match_brute_force(case, n, c, size, padding, seed):
    d, k, stride = case
    if size + 2 * padding < k or d == 2 and size > 12:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + (size,) * d)
    w = rng.standard_normal((c, c) + (k,) * d)
    assert_layer_matches_brute_force(d, False, x, w, stride, padding)


def assert_layer_matches_brute_force(d, transposed, x, w, stride, padding):
    """polyphase.nn's layer against its brute-force sum, float64."""
    brute, layer = {(1, False): (brute_conv1d, pnn.conv1d),
                    (1, True): (brute_conv_transpose1d, pnn.conv_transpose1d),
                    (2, False): (brute_conv2d, pnn.conv2d),
                    (2, True): (brute_conv_transpose2d, pnn.conv_transpose2d)}[d, transposed]
    expected = brute(x, w, stride, padding)
    got = layer(x, w, stride=stride, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


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
    pm = pnn.Conv2d(np.ones((16, 16, 7, 7)), stride=2).polyphase()
    x = np.ones((1, 16, 8, 8))
    with pytest.raises(ValueError, match="algorithm"):
        gemm.run_gemm(pm, x, np.dtype(np.float64), (0, 0), (0, 0), (3, 3),
                      algorithm="winograd")


def test_transformed_weights_reproduce_direct_2x2_correlation():
    """U = G g G^T, V = BT d BT^T, y = AT (U V) AT^T is a 2x2 correlation."""
    rng = np.random.default_rng(5)
    d, g = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    BT, G, AT = winograd.BT[2], winograd._G[2], winograd.AT[2]
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[np.sum(d[i:i + 2, j:j + 2] * g) for j in range(2)]
                       for i in range(2)])
    np.testing.assert_allclose(y, direct, rtol=1e-14)


def test_transformed_weights_reproduce_direct_3x3_correlation():
    """F(2x2, 3x3): U = G g G^T, V = BT d BT^T of a 4x4 tile, y = AT (U V) AT^T
    is a 3x3 correlation; its transforms are 0/+-1 and G's halves exact."""
    rng = np.random.default_rng(8)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    BT, G, AT = winograd.BT3, winograd.G3, winograd.AT3
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)]
                       for i in range(2)])
    np.testing.assert_allclose(y, direct, rtol=1e-14)
    assert set(np.unique(BT)) <= {-1, 0, 1} and set(np.unique(AT)) <= {-1, 0, 1}
    assert set(np.unique(2 * G)) <= {-2, -1, 0, 1, 2}


def test_transformed_weights_reproduce_direct_2tap_correlation_of_three_outputs():
    """F(3, 2): y = AT ((G g) * (BT d)) gives y_i = g0 d_i + g1 d_(i+1)."""
    rng = np.random.default_rng(6)
    d, g = rng.standard_normal(4), rng.standard_normal(2)
    BT, G, AT = winograd.BT[1], winograd._G[1], winograd.AT[1]
    y = AT @ ((G @ g) * (BT @ d))
    np.testing.assert_allclose(y, [d[i] * g[0] + d[i + 1] * g[1] for i in range(3)],
                               rtol=1e-14)
    # the data and output transforms are 0/+-1 and G's halves are exact
    assert set(np.unique(BT)) <= {-1, 0, 1} and set(np.unique(AT)) <= {-1, 0, 1}
    assert set(np.unique(2 * G)) <= {-1, 0, 1, 2}


def brute_conv1d(x, w, stride, padding):
    """torch.nn.functional.conv1d by sliding windows (cross-correlation)."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2], axis=2)[:, :, ::stride]
    return np.einsum("ncik,ock->noi", win, w)


def brute_conv_transpose1d(x, w, stride, padding):
    """torch.nn.functional.conv_transpose1d by scattering each input sample."""
    n, cin, length = x.shape
    k = w.shape[2]
    full = np.zeros((n, w.shape[1], (length - 1) * stride + k))
    for i in range(length):
        full[:, :, i * stride:i * stride + k] += np.einsum("nc,cok->nok", x[:, :, i], w)
    return full[:, :, padding:full.shape[2] - padding]


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_1d_layers_with_two_taps_per_phase_take_the_winograd_route(transposed, stride):
    w = np.ones((16, 16, 2 * stride))
    layer = (pnn.ConvTranspose1d if transposed else pnn.Conv1d)(w, stride=stride)
    pm = layer.polyphase()
    G, plan = gemm._plan(pm, np.float64)
    assert gemm._winograd_plans(pm, np.float64, plan, 16) is not None


@settings(max_examples=40, deadline=None)
@given(transposed=st.booleans(), stride=st.integers(1, 3), n=st.integers(1, 3),
       c=st.sampled_from([16, 24]), size=st.integers(1, 40), padding=st.integers(0, 4),
       seed=st.integers(0, 99))
def test_winograd_1d_matches_brute_force(transposed, stride, n, c, size, padding, seed):
    rng = np.random.default_rng(seed)
    k = 2 * stride
    x = rng.standard_normal((n, c, size))
    w = rng.standard_normal((c, c, k))
    if transposed:
        if (size - 1) * stride - 2 * padding + k <= 0:
            return
        expected = brute_conv_transpose1d(x, w, stride, padding)
        got = pnn.conv_transpose1d(x, w, stride=stride, padding=padding)
    else:
        if size + 2 * padding < k:
            return
        expected = brute_conv1d(x, w, stride, padding)
        got = pnn.conv1d(x, w, stride=stride, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("k, stride, winograd_route", [(4, 2, True), (3, 2, True),
                                                       (6, 3, False), (8, 4, False)])
def test_auto_takes_winograd_for_1d_layers_with_stride_below_three(monkeypatch, k, stride,
                                                                  winograd_route):
    """``method="auto"``: 1-D strided layers take the Winograd route at
    stride 2, and the direct kernel from ``WINOGRAD_MAX_STRIDE_1D`` on (whose
    phases' input transforms cost more than they save); both the brute
    force's numbers, and the Winograd form still there when asked for."""
    taken = []
    run = winograd.run_lanes
    monkeypatch.setattr(winograd, "run_lanes", lambda *a: taken.append(1) or run(*a))
    rng = np.random.default_rng(k)
    x = rng.standard_normal((3, 16, 200))
    w = rng.standard_normal((16, 16, k))
    layer = pnn.Conv1d(w, stride=stride, padding=1)
    got = layer(x)
    assert bool(taken) == winograd_route
    assert gemm._winograd_pays(layer.polyphase()) == winograd_route
    np.testing.assert_allclose(got, brute_conv1d(x, w, stride, 1), rtol=1e-12,
                               atol=1e-12 * np.abs(got).max())
    pm = layer.polyphase()
    (s, e), = windows_for(layer._declared, x.shape[2:], "full")
    args = (pm, x, np.dtype(np.float64), (0,), (s,), (e - s,))
    np.testing.assert_allclose(gemm.run_gemm(*args, algorithm="winograd"),
                               gemm.run_gemm(*args, algorithm="im2col"), rtol=1e-12,
                               atol=1e-12 * np.abs(got).max())


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("size", [9, 40, 1000])
def test_winograd_1d_equals_im2col_route_on_every_window(transposed, dtype, mode, size):
    """Windows that crop the first and last tiles, long runs and one-tile signals."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 16, size)).astype(dtype)
    w = rng.standard_normal((16, 16, 4))
    layer = (pnn.ConvTranspose1d if transposed else pnn.Conv1d)(w, stride=2, padding=1)
    pm = layer.polyphase()
    (s, e), = windows_for(layer._declared, x.shape[2:], mode)
    for origin in (0, 1, -3):
        args = (pm, x, np.dtype(dtype), (origin,), (s,), (e - s,))
        fast = gemm.run_gemm(*args, algorithm="winograd")
        slow = gemm.run_gemm(*args, algorithm="im2col")
        assert fast.dtype == slow.dtype == dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(fast, slow, rtol=tol, atol=tol * np.abs(slow).max())


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("d, size", [(1, 150), (2, 19), (2, 24)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_winograd_chunks_that_split_images_equal_im2col(monkeypatch, transposed, d, size,
                                                        mode):
    """Chunks of 64 tiles start and end inside an image (and a 1-D signal):
    each chunk splits only the rows its tiles read."""
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    monkeypatch.setattr(winograd, "MIN_CHUNK", 64)
    rng = np.random.default_rng(size + d)
    x = rng.standard_normal((3, 16) + (size,) * d)
    w = rng.standard_normal((16, 16) + (4,) * d)
    cls = {(1, False): pnn.Conv1d, (1, True): pnn.ConvTranspose1d,
           (2, False): pnn.Conv2d, (2, True): pnn.ConvTranspose2d}[d, transposed]
    layer = cls(w, stride=2, padding=1)
    pm = layer.polyphase()
    win = windows_for(layer._declared, x.shape[2:], mode)
    args = (pm, x, np.dtype(np.float64), (1,) * d, tuple(s for s, _ in win),
            tuple(e - s for s, e in win))
    fast = gemm.run_gemm(*args, algorithm="winograd")
    slow = gemm.run_gemm(*args, algorithm="im2col")
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12 * np.abs(slow).max())


@pytest.mark.parametrize("origin", [(0, 0), (1, 0), (-2, 3)])
@pytest.mark.parametrize("mode", ["same", "valid"])
def test_winograd_2d_equals_im2col_on_cropped_windows(origin, mode):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 16, 13, 10)).astype(np.float32)
    for transposed in (False, True):
        layer, _, _ = _layer_and_input(transposed, 1, 16, 4, 1, 1)
        pm = layer.polyphase()
        win = windows_for(layer._declared, x.shape[2:], mode)
        args = (pm, x, np.dtype(np.float32), origin, tuple(s for s, _ in win),
                tuple(e - s for s, e in win))
        fast = gemm.run_gemm(*args, algorithm="winograd")
        slow = gemm.run_gemm(*args, algorithm="im2col")
        assert fast.dtype == np.float32
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * np.abs(slow).max())


@pytest.mark.parametrize("points", [4, 9])
@pytest.mark.parametrize("rows", [16, 64, 128, 256])
@pytest.mark.parametrize("n", [64, 228, 455, 1024, 2048])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_tile_planes_spread_over_the_cache_sets(points, rows, n, dtype):
    """Rows of whole cache lines; at most 3 planes start at one offset of a page."""
    v, vn, m, mn = winograd._tiles(points, rows, rows, n, dtype)
    assert vn.shape == (1, points, rows, n) and mn.shape == (points, rows, n)
    assert v.flags.c_contiguous and m.flags.c_contiguous
    assert (v.strides[-2] % 64 == 0) and v.ctypes.data % 64 == 0
    starts = [(k * v.strides[1]) % 4096 // 64 for k in range(points)]
    assert max(starts.count(s) for s in starts) <= 3


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("transposed, stride, dilation", [
    (False, 1, 1), (False, 2, 1), (False, 3, 1), (False, 2, 2),
    (True, 1, 1), (True, 2, 1), (True, 3, 1)])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_winograd_route_matches_torch(d, transposed, stride, dilation, padding):
    """Layers whose phases are 2-tap boxes (kernel 2*stride, or 2 taps dilated
    by the stride) take the Winograd route and give torch's numbers, shapes
    and dtype.  (A transposed layer with 2 taps dilated by its stride has an
    empty output phase and keeps im2col.)"""
    torch = pytest.importorskip("torch")
    k = 2 * stride if dilation == 1 else 2
    rng = np.random.default_rng(stride * 10 + dilation + padding)
    x = rng.standard_normal((2, 16) + (9,) * d).astype(np.float32)
    w = rng.standard_normal((16, 16) + (k,) * d).astype(np.float32)
    name = f"conv_transpose{d}d" if transposed else f"conv{d}d"
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)
    if transposed and stride > 1:
        kwargs["output_padding"] = 1
    cls = getattr(pnn, f"ConvTranspose{d}d" if transposed else f"Conv{d}d")
    pm = cls(w, **kwargs).polyphase()
    G, plan = gemm._plan(pm, np.float32)
    assert gemm._winograd_plans(pm, np.float32, plan, 16) is not None
    expected = getattr(torch.nn.functional, name)(torch.from_numpy(x), torch.from_numpy(w),
                                                  **kwargs).numpy()
    got = getattr(pnn, name)(x, w, **kwargs)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _spied_jobs(monkeypatch, full=False):
    """A list that records each ``engine._jobs`` call from now on: its
    groups, or ``(kernel, njobs, groups)`` with ``full``."""
    jobs = []
    engine_jobs = engine._jobs

    def spy(kernel, args, njobs, groups, *rest, **kw):
        jobs.append((kernel, njobs, groups) if full else groups)
        return engine_jobs(kernel, args, njobs, groups, *rest, **kw)

    monkeypatch.setattr(engine, "_jobs", spy)
    return jobs


def _blas_threads():
    """The BLAS libraries loaded and their thread counts (numba's threads may
    load an OpenMP runtime meanwhile, which is not BLAS's to restore)."""
    import threadpoolctl

    return [(lib["filepath"], lib["num_threads"]) for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"]


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("d, lanes, size", [(1, 2, 10), (1, 3, 10), (2, 3, 10), (2, 8, 10),
                                            (1, 1, 700), (2, 1, 40)])
@pytest.mark.parametrize("k", [4, 5])
@pytest.mark.parametrize("maker", ["amd", "intel"])
def test_parts_split_between_threads_equal_one_thread(monkeypatch, transposed, d, lanes,
                                                      size, k, maker):
    """With several numba threads, each thread runs parts of the work (BLAS
    held to one thread meanwhile): the same numbers as one thread running it
    all, and BLAS's threads restored after.  1-D layers and 2-D layers with
    one output phase are cut into ranges of tiles, which split one image
    too; 2-D layers with several output phases into ranges of images.  With
    k = 5 the phases take boxes of 3 (F(2, 3), F(2x2, 3x3)).  The parts go
    to numba's threads, one a thread (:func:`.winograd._in_parts`)."""
    from polyphase.engine import machine

    monkeypatch.setattr(machine, "maker", lambda: maker)
    # (small images, which would otherwise run on the points)
    monkeypatch.setattr(gemm, "WINOGRAD_TINY", 0)
    monkeypatch.setattr(gemm, "POINT_FEW", 0)
    monkeypatch.setattr(numba_threads, "count", lambda: 3)
    rng = np.random.default_rng(lanes + d)
    x = rng.standard_normal((lanes, 16) + (size,) * d)
    w = rng.standard_normal((16, 16) + (k,) * d)
    cls = {(1, False): pnn.Conv1d, (1, True): pnn.ConvTranspose1d,
           (2, False): pnn.Conv2d, (2, True): pnn.ConvTranspose2d}[d, transposed]
    layer = cls(w, stride=2, padding=1)
    run = winograd.run1 if d == 1 else winograd.run2
    calls = []

    def spy(xs, *args):
        # (lanes, chunk budget, part): the budget and part come with a split
        calls.append((xs.shape[0],) + (tuple(args[8:10]) if len(args) >= 10 else (None, None)))
        return run(xs, *args)

    monkeypatch.setattr(winograd, "run1" if d == 1 else "run2", spy)
    jobs = _spied_jobs(monkeypatch, full=True)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 1 << 62)
    whole = layer(x)
    assert calls == [(lanes, None, None)]
    before = _blas_threads()
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    monkeypatch.setattr(winograd, "THREADS_MIN_TILES", 0)
    calls.clear()
    jobs.clear()
    split = layer(x)
    by_tiles = d == 1 or not transposed
    workers = 3 if by_tiles else min(lanes, 3)
    if by_tiles:
        # one call, its tiles in a part a thread on numba's threads
        assert calls == [(lanes, winograd.thread_chunk(workers), None)]
        # (a 1-D transposed layer whose phases read different taps: one call
        # an entry)
        kernel = kernels_winograd.parts1 if d == 1 else kernels_winograd.parts2
        assert jobs and set(jobs) == {(kernel, workers, workers)}
    elif lanes == 1:
        assert calls == [(1, None, None)]           # one image: nothing to split
    else:
        # one call, its lanes in a part a thread on numba's threads, each
        # part interleaving its own
        assert calls == [(lanes, winograd.thread_chunk(workers), None)]
        assert jobs == [(kernels_winograd.parts2, workers, workers)]
    assert _blas_threads() == before
    np.testing.assert_allclose(split, whole, rtol=1e-13, atol=1e-13 * np.abs(whole).max())


@pytest.mark.parametrize("d", [1, 2])
def test_tiles_products_by_blas_split_between_the_crews_threads(monkeypatch, d):
    """Complex data have no register products (their ``UT`` is None): the
    tiles of such a layer go to the crew's threads in parts
    (``TILE_PARTS_PER_THREAD``), each part's products by BLAS, with the
    numbers of one thread running it all."""
    monkeypatch.setattr(numba_threads, "count", lambda: 2)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((3, 16) + (40,) * d) + 1j * rng.standard_normal((3, 16) + (40,) * d)
    w = rng.standard_normal((16, 16) + (4,) * d)
    layer = (pnn.Conv1d if d == 1 else pnn.Conv2d)(w, stride=2, padding=1)
    run = winograd.run1 if d == 1 else winograd.run2
    parts = []

    def spy(xs, *args):
        parts.append(args[-1] if len(args) >= 10 else None)
        return run(xs, *args)

    monkeypatch.setattr(winograd, "run1" if d == 1 else "run2", spy)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 1 << 62)
    whole = layer(x)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    monkeypatch.setattr(winograd, "THREADS_MIN_TILES", 0)
    parts.clear()
    split = layer(x)
    nparts = 2 * winograd.machine.pick(winograd.TILE_PARTS_PER_THREAD)
    assert sorted(parts) == [(k, nparts) for k in range(nparts)]
    np.testing.assert_allclose(split, whole, rtol=1e-13, atol=1e-13 * np.abs(whole).max())
    np.testing.assert_allclose(whole, (brute_conv1d if d == 1 else brute_conv2d)(x, w, 2, 1),
                               rtol=1e-10, atol=1e-10 * np.abs(whole).max())


@pytest.mark.parametrize("d", [1, 2])
def test_threads_from_the_products_multiply_adds(monkeypatch, d):
    """A call splits between threads when its products have at least
    ``THREADS_MIN_WORK`` multiply-adds: tiles times points, output rows and
    ``K`` (closed form: 2-D F(2x2, 3x3) for k3 s1, 16 points, 2x2 outputs
    a tile; 1-D F(3, 2) for k4 s2, 4 points, 3 outputs a tile, two input
    phases), and at least ``THREADS_MIN_TILES`` tiles a thread."""
    monkeypatch.setattr(numba_threads, "count", lambda: 2)
    rng = np.random.default_rng(d)
    if d == 2:
        x, w = rng.standard_normal((4, 16, 16, 16)), rng.standard_normal((16, 16, 3, 3))
        layer = pnn.Conv2d(w, stride=1, padding=1)
        tiles = 4 * 8 * 8
        work = tiles * 16 * 16 * 16
        expected = brute_conv2d(x, w, 1, 1)
    else:
        # (100 outputs: shorter signals run on the points, gemm._points_apply)
        x, w = rng.standard_normal((2, 16, 200)), rng.standard_normal((16, 16, 4))
        layer = pnn.Conv1d(w, stride=2, padding=1)
        tiles = 2 * -(-100 // 3)
        work = tiles * 4 * 16 * (2 * 16)
        expected = brute_conv1d(x, w, 2, 1)
    seen = []
    measure = winograd._product_work
    monkeypatch.setattr(winograd, "_product_work", lambda *a: seen.append(measure(*a)) or seen[-1])
    jobs = _spied_jobs(monkeypatch)
    for limit, per_thread, split in ((work, 0, True), (work + 1, 0, False),
                                     (0, tiles // 2, True), (0, tiles // 2 + 1, False)):
        monkeypatch.setattr(winograd, "THREADS_MIN_WORK", limit)
        monkeypatch.setattr(winograd, "THREADS_MIN_TILES", per_thread)
        seen.clear()
        jobs.clear()
        got = layer(x)
        assert seen == [work]
        assert jobs == ([2] if split else [0])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("ntiles", [1, 63, 64, 65, 100, 1000, 4096])
@pytest.mark.parametrize("K", [1, 2, 4, 6])
def test_tile_parts_cover_the_tiles_once_in_blocks_of_64(ntiles, K):
    ranges = [winograd._tile_range(ntiles, (k, K)) for k in range(K)]
    assert ranges[0][0] == 0 and ranges[-1][1] == ntiles
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(a <= b and a % 64 == 0 for a, b in ranges)
    assert winograd._tile_range(ntiles, None) == (0, ntiles)


def test_layers_called_from_several_threads_at_once(monkeypatch):
    """Callers in several threads share the pool and the BLAS limit: each gets
    its own numbers, and BLAS's threads are restored once all have left."""
    import threading

    monkeypatch.setattr(numba_threads, "count", lambda: 2)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    monkeypatch.setattr(winograd, "THREADS_MIN_TILES", 0)
    rng = np.random.default_rng(11)
    w = rng.standard_normal((16, 16, 4, 4))
    inputs = [rng.standard_normal((4, 16, 12, 12)) for _ in range(6)]
    expected = [brute_conv2d(x, w, 2, 1) for x in inputs]
    before = _blas_threads()
    got = [None] * len(inputs)

    def work(i):
        for _ in range(5):
            got[i] = pnn.conv2d(inputs[i], w, stride=2, padding=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12 * np.abs(e).max())
    assert _blas_threads() == before


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_threads_split_in_a_forked_child(monkeypatch):
    """After a fork the child has none of the crew's threads: it makes its
    own, and a layer called there returns instead of waiting forever.
    (Complex data: their products go to BLAS, and their tiles to the crew.)"""
    import multiprocessing

    monkeypatch.setattr(numba_threads, "count", lambda: 2)
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    monkeypatch.setattr(winograd, "THREADS_MIN_TILES", 0)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 16, 12, 12)) + 1j * rng.standard_normal((4, 16, 12, 12))
    w = rng.standard_normal((16, 16, 4, 4))
    winograd._crews.clear()
    expected = pnn.conv2d(x, w, stride=2, padding=1)     # the parent's crew exists
    assert winograd._crews
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_crew_in_child, (x, w)).get(timeout=60)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _crew_in_child(x, w):
    winograd.THREADS_MIN_WORK = 0
    winograd.THREADS_MIN_TILES = 0
    return pnn.conv2d(x, w, stride=2, padding=1)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_a_child_forked_after_numbas_threads_ran_runs_on_one_thread(monkeypatch):
    """numba's OpenMP threads do not exist in a forked child, where GNU
    OpenMP waits for them forever: a child forked after they ran counts one
    thread (``numba_threads.count``), and a layer whose tiles would go to
    them returns there, with the parent's numbers."""
    import multiprocessing

    if numba_threads.count() < 2:
        pytest.skip("numba has one thread here")
    monkeypatch.setattr(winograd, "THREADS_MIN_WORK", 0)
    monkeypatch.setattr(winograd, "THREADS_MIN_TILES", 0)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 16, 40, 40))
    w = rng.standard_normal((16, 16, 4, 4))
    jobs = _spied_jobs(monkeypatch)
    expected = pnn.conv2d(x, w, stride=2, padding=1)     # on numba's threads here
    assert jobs and min(jobs) >= 2
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        threads, got = pool.apply_async(_conv2d_in_child, (x, w)).get(timeout=60)
    assert threads == 1
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _conv2d_in_child(x, w):
    winograd.THREADS_MIN_WORK = 0
    winograd.THREADS_MIN_TILES = 0
    return numba_threads.count(), pnn.conv2d(x, w, stride=2, padding=1)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("shape, padding, stride", [
    ((37, 70), 1, 2), ((20, 133), 0, 2), ((35, 97), 2, 2), ((16, 61), 1, 3),
    ((300,), 1, 2), ((1001,), 0, 2), ((250,), 2, 1), ((407,), 1, 3)])
@pytest.mark.parametrize("chunk", [None, 1])
def test_winograd_vector_transforms_equal_im2col(monkeypatch, transposed, dtype, shape,
                                                 padding, stride, chunk):
    """Signals and images long enough for the data transforms' vectors of
    tiles (:mod:`polyphase.engine.simd`; 4-16 tiles a vector) and the tiles
    after them, with zero samples at both ends; each input phase split into
    2, 3, 4 or 6 phases by vectors (stride 1 and 2) or sample by sample
    (stride 3); chunks of 64 tiles cut tile rows and signals, and complex
    data run as their real components.  The scratch rows the data
    transforms split the input into start as NaN: the transforms write the
    zeros outside the image once per chunk (with its first channel), and
    every sample inside it for every channel."""
    if chunk is not None:
        monkeypatch.setattr(winograd, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(winograd, "MIN_CHUNK", 64)
    scratch("winograd-columns", (1 << 22,), np.uint8)[:] = 0xFF
    d = len(shape)
    rng = np.random.default_rng(shape[-1] + padding)
    x = rng.standard_normal((2, 16) + shape).astype(dtype)
    w = rng.standard_normal((16, 16) + (2 * stride,) * d).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(x.shape).astype(dtype)
        w = w - 1j * rng.standard_normal(w.shape).astype(dtype)
    cls = {(1, False): pnn.Conv1d, (1, True): pnn.ConvTranspose1d,
           (2, False): pnn.Conv2d, (2, True): pnn.ConvTranspose2d}[d, transposed]
    assert_winograd_equals_im2col(cls(w, stride=stride, padding=padding), x)


def assert_winograd_equals_im2col(layer, x):
    """The engine's Winograd and im2col routes on the layer's full window."""
    shape, dtype = x.shape[2:], x.dtype
    win = windows_for(layer._declared, shape, "full")
    args = (layer.polyphase(), x, dtype, (0,) * len(shape), tuple(s for s, _ in win),
            tuple(e - s for s, e in win))
    fast = gemm.run_gemm(*args, algorithm="winograd")
    slow = gemm.run_gemm(*args, algorithm="im2col")
    assert fast.dtype == slow.dtype == dtype
    tol = 1e-5 if dtype in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(fast, slow, rtol=tol, atol=tol * np.abs(slow).max())


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("cout", [16, 20, 18])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_products_for_any_number_of_output_rows(d, cout, dtype):
    """The products in registers take output rows four at a time; rows not
    in fours go to BLAS: all equal the im2col route, on chunks of one block
    of tiles and of several, with a block overlapping the one before it."""
    rng = np.random.default_rng(cout + d)
    shape = (40, 70) if d == 2 else (1501,)
    x = rng.standard_normal((3, 16) + shape).astype(dtype)
    w = rng.standard_normal((cout, 16) + (4,) * d).astype(dtype)
    layer = (pnn.Conv2d if d == 2 else pnn.Conv1d)(w, stride=2, padding=1)
    assert_winograd_equals_im2col(layer, x)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("layout", ["batched", "one image", "not contiguous", "int input"])
def test_a_layer_goes_straight_to_the_winograd_route(monkeypatch, transposed, layout):
    """A channel-mixing layer's call takes the Winograd route it prepared
    for the input's shape and dtype, without the general dispatch
    (apply_window, engine.run, run_gemm): the same numbers as brute force,
    for a batch, one image without a batch axis, a view that is not
    contiguous and an integer input (computed in float64); calls of another
    shape prepare their own."""
    from polyphase import finite

    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 20, 4, 4) if transposed else (20, 16, 4, 4))
    layer = (pnn.ConvTranspose2d if transposed else pnn.Conv2d)(w, stride=2, padding=1)
    brute = brute_conv_transpose2d if transposed else brute_conv2d
    # (10x11 outputs: smaller images go to the points, gemm.POINT_FEW)
    x = rng.standard_normal((3, 16, 20, 22))
    if layout == "int input":
        x = rng.integers(-5, 5, (3, 16, 20, 22))
    elif layout == "not contiguous":
        x = rng.standard_normal((3, 16, 20, 44))[..., ::2]
    expected = brute(x.astype(np.float64), w, 2, 1)
    if layout == "one image":
        x, expected = x[1], expected[1]

    def general(*args, **kwargs):
        raise AssertionError("the general dispatch ran")

    monkeypatch.setattr(finite, "apply_window", general)
    monkeypatch.setattr(gemm, "run_gemm", general)
    for _ in range(2):                            # preparing, then prepared
        got = layer(x)
        assert got.dtype == np.float64 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    y = x[..., :18, :20]                          # another shape
    np.testing.assert_allclose(layer(y), brute(y[None] if y.ndim == 3 else y, w, 2, 1)
                               .reshape(layer(y).shape), rtol=1e-12, atol=1e-12)


def test_a_layer_route_stays_off_for_other_routes():
    """Single-channel layers, 1x1 layers and kernels that do not fit boxes of
    3 taps per phase prepare no Winograd route (their numbers come from the
    general dispatch, or from the points); a 4x4 stride-2 kernel with as
    many channels does, on an image of 10x10 outputs."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 16, 9, 9))
    for layer, xs in ((pnn.Conv2d(rng.standard_normal((16, 16, 1, 1)), stride=2), x),
                      (pnn.Conv2d(rng.standard_normal((16, 16, 7, 7)), stride=2), x),
                      (pnn.Conv1d(rng.standard_normal((1, 1, 4)), stride=2), x[:, :1, 0])):
        expected = layer(xs)
        (_, _, _, route), = layer._calls.values()
        # (single-channel ones, and the points of the 7x7 kernel's 2x2 outputs)
        assert route is None or route[0] in ("box", "rows", "points")
        np.testing.assert_array_equal(layer(xs), expected)
    # (an image of more than gemm.WINOGRAD_TINY outputs: smaller ones take
    # the points)
    layer = pnn.Conv2d(rng.standard_normal((16, 16, 4, 4)), stride=2)
    layer(rng.standard_normal((2, 16, 20, 20)))
    (_, _, _, route), = layer._calls.values()
    assert route[0] == "winograd"


# Layers whose phases' taps lie in boxes of 3 per axis, F(2, 3) and F(2x2,
# 3x3): (d, kernel, stride, transposed); k3 s1 and k6 s2 fill the boxes, k5
# s2 and k7 s3 do not (zero weights in the rest), k8 s3 splits columns by 6
BOX3_LAYERS = [(d, k, stride, transposed) for d in (1, 2) for k, stride, transposed in [
    (3, 1, False), (5, 2, False), (6, 2, False), (7, 3, False), (8, 3, False),
    (3, 1, True), (5, 2, True), (6, 2, True)]]
_CLS = {(1, False): pnn.Conv1d, (1, True): pnn.ConvTranspose1d,
        (2, False): pnn.Conv2d, (2, True): pnn.ConvTranspose2d}


def test_transformed_weights_reproduce_direct_3tap_correlation_of_two_outputs():
    """F(2, 3): y = AT ((G g) * (BT d)) gives y_i = sum_k g_k d_(i+k)."""
    rng = np.random.default_rng(10)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    y = winograd.AT3 @ ((winograd.G3 @ g) * (winograd.BT3 @ d))
    np.testing.assert_allclose(y, [d[i:i + 3] @ g for i in range(2)], rtol=1e-14)


@pytest.mark.parametrize("d, k, stride, transposed", BOX3_LAYERS)
def test_layers_with_boxes_of_three_take_the_winograd_route(d, k, stride, transposed):
    pm = _CLS[d, transposed](np.ones((16, 16) + (k,) * d), stride=stride).polyphase()
    G, plan = gemm._plan(pm, np.float64)
    fast = gemm._winograd_plans(pm, np.float64, plan, 16)
    assert fast is not None and fast.box == 3
    assert all(U.shape[0] == 4 ** d for _, _, U, _ in fast)        # 4 points per axis


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(BOX3_LAYERS), n=st.integers(1, 3), c=st.sampled_from([16, 24]),
       size=st.integers(1, 14), padding=st.integers(0, 3), seed=st.integers(0, 99))
def test_boxes_of_three_match_brute_force(case, n, c, size, padding, seed):
    d, k, stride, transposed = case
    rng = np.random.default_rng(seed)
    if d == 1:
        size *= 5
    if (size - 1) * stride - 2 * padding + k <= 0 if transposed else size + 2 * padding < k:
        return
    x = rng.standard_normal((n, c) + (size,) * d)
    w = rng.standard_normal((c, c) + (k,) * d)
    assert_layer_matches_brute_force(d, transposed, x, w, stride, padding)


@pytest.mark.parametrize("d, k, stride, transposed", BOX3_LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
@pytest.mark.parametrize("shape, padding", [((37, 70), 1), ((20, 133), 0), ((35, 97), 2)])
@pytest.mark.parametrize("chunk", [None, 1])
def test_boxes_of_three_vector_transforms_equal_im2col(monkeypatch, d, k, stride, transposed,
                                                       dtype, shape, padding, chunk):
    """F(2, 3)'s and F(2x2, 3x3)'s data and output transforms by vectors of
    tiles and masked vectors at the ends of tile rows, the column phases of
    stride 1, 2 and 3, chunks of 64 tiles that cut tile rows and signals;
    scratch rows start as NaN (see
    :func:`test_winograd_vector_transforms_equal_im2col`)."""
    if chunk is not None:
        monkeypatch.setattr(winograd, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(winograd, "MIN_CHUNK", 64)
    scratch("winograd-columns", (1 << 22,), np.uint8)[:] = 0xFF
    if d == 1:
        shape = (shape[0] * shape[1],)
    rng = np.random.default_rng(shape[-1] + padding + k)
    x = rng.standard_normal((2, 16) + shape).astype(dtype)
    w = rng.standard_normal((16, 16) + (k,) * d).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(x.shape).astype(dtype)
        w = w - 1j * rng.standard_normal(w.shape).astype(dtype)
    assert_winograd_equals_im2col(_CLS[d, transposed](w, stride=stride, padding=padding), x)


@pytest.mark.parametrize("origin", [(0, 0), (1, 0), (-2, 3)])
@pytest.mark.parametrize("mode", ["same", "valid"])
def test_boxes_of_three_on_cropped_windows(origin, mode):
    rng = np.random.default_rng(9)
    for d in (1, 2):
        x = rng.standard_normal((2, 16, 13, 10)) if d == 2 else rng.standard_normal((2, 16, 61))
        for transposed, k, stride in ((False, 3, 1), (False, 5, 2), (True, 5, 2)):
            layer = _CLS[d, transposed](rng.standard_normal((16, 16) + (k,) * d),
                                        stride=stride, padding=1)
            win = windows_for(layer._declared, x.shape[2:], mode)
            args = (layer.polyphase(), x, np.dtype(np.float64), origin[:d],
                    tuple(s for s, _ in win), tuple(e - s for s, e in win))
            fast = gemm.run_gemm(*args, algorithm="winograd")
            slow = gemm.run_gemm(*args, algorithm="im2col")
            np.testing.assert_allclose(fast, slow, rtol=1e-12,
                                       atol=1e-12 * np.abs(slow).max())


def test_chunks_take_two_blocks_of_tiles_at_least():
    """A chunk takes the tiles its budget fits, in whole blocks of 64, but
    at least ``MIN_CHUNK`` (each chunk reads all of ``U``), and never more
    than there are."""
    assert winograd.MIN_CHUNK == 128
    for ntiles, fits, want in [(1000, 63, 128), (1000, 127, 128), (1000, 300, 256),
                               (1000, 2000, 1000), (100, 63, 100), (100, 300, 100),
                               (129, 0, 128)]:
        assert winograd._chunk_width(ntiles, fits) == want


def test_a_chunk_is_no_wider_than_its_part():
    """The width a chunk is given counts the tiles of the largest part
    (parts cut between blocks of 64 tiles), not of the whole call."""
    for ntiles, nparts, want in [(128, 2, 64), (392, 2, 200), (392, 1, 392), (100, 2, 64),
                                 (64, 2, 64), (1000, 4, 256), (10, 3, 10)]:
        assert winograd._part_tiles(ntiles, nparts) == want
        # (the parts the kernel runs)
        from polyphase.engine.kernels_winograd import _part
        assert want == max(b - a for a, b in (_part(k, nparts, 0, ntiles, 64)
                                              for k in range(nparts)))

"""A layer called again on an array of a shape and dtype it has seen skips its
checks (:meth:`polyphase.nn.Conv2d.__call__`): the numbers, dtypes and errors
must be those of the first call."""

import numpy as np
import pytest
from helpers import brute_conv_transpose2d, record_calls

import polyphase.nn as pnn


def brute_conv2d(x, w, b, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    return np.einsum("ncijkl,ockl->noij", win[:, :, ::stride, ::stride], w) \
        + b[None, :, None, None]


def test_repeated_calls_equal_first_calls_for_each_shape_and_dtype():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    layer = pnn.Conv2d(w, b, stride=2, padding=1)
    for shape in [(1, 2, 9, 8), (2, 2, 5, 7), (1, 2, 9, 8), (2, 9, 8)]:
        for dtype in (np.float64, np.float32, np.int64, np.float64):
            x = (rng.standard_normal(shape) * 4).astype(dtype)
            batched = x if x.ndim == 4 else x[None]
            expected = brute_conv2d(batched.astype(np.float64), w, b, 2, 1)
            for _ in range(2):
                y = layer(x)
                assert y.dtype == (np.float32 if dtype == np.float32 else np.float64)
                got = y if x.ndim == 4 else y[None]
                tol = 1e-5 if dtype == np.float32 else 1e-12
                np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_repeated_calls_still_check_other_shapes():
    layer = pnn.Conv2d(np.ones((1, 2, 3, 3)))
    layer(np.ones((1, 2, 5, 5)))
    layer(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="channels"):
        layer(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match="input"):
        layer(np.ones((5, 5)))
    with pytest.raises(TypeError, match="numeric"):         # same shape, other dtype
        layer(np.full((1, 2, 5, 5), "a"))


def test_output_size_and_lists_take_the_full_path():
    w = np.ones((1, 1, 3, 3))
    layer = pnn.ConvTranspose2d(w, stride=2)
    x = np.ones((1, 1, 4, 4))
    assert layer(x).shape == (1, 1, 9, 9)
    assert layer(x, output_size=(10, 10)).shape == (1, 1, 10, 10)
    assert layer(x).shape == (1, 1, 9, 9)
    np.testing.assert_array_equal(layer(x.tolist()), layer(x))


def test_a_layer_that_has_run_still_pickles():
    import pickle
    rng = np.random.default_rng(4)
    layer = pnn.Conv2d(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), stride=2)
    x = rng.standard_normal((1, 2, 9, 8))
    y = layer(x)
    again = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(again(x), y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, padding, shape", [(3, 0, (2, 1, 40, 37)), (4, 1, (1, 38, 52)),
                                               (2, 2, (1, 1, 5, 70)), (4, 0, (3, 1, 4, 4))])
def test_single_channel_stride_2_images_go_straight_to_the_box_kernel(monkeypatch, dtype, k,
                                                                      padding, shape):
    """A single-channel stride-2 layer called again on a C-contiguous image
    of its computation dtype skips the engine's dispatch
    (:func:`polyphase.engine.box_route`); numbers, dtype and shape are those
    of the general route, with the bias, batched or not."""
    from polyphase import finite
    rng = np.random.default_rng(k + padding)
    w = rng.standard_normal((1, 1, k, k))
    b = rng.standard_normal(1)
    layer = pnn.Conv2d(w, b, stride=2, padding=padding)
    x = rng.standard_normal(shape).astype(dtype)
    batched = x if x.ndim == 4 else x[None]
    expected = brute_conv2d(batched.astype(np.float64), w, b, 2, padding)
    layer(x)
    general = []
    monkeypatch.setattr(finite, "apply_window",
                        lambda *a, **kw: general.append(1) or finite.apply_window(*a, **kw))
    for _ in range(2):
        y = layer(x)
        assert y.dtype == dtype and not general
        got = y if x.ndim == 4 else y[None]
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)


def test_the_box_route_falls_back_on_the_general_one(monkeypatch):
    """Not C-contiguous, another dtype, or an output that is not finite (the
    box multiplies the zeros of a 3x3 kernel in its 4x4 box): the general
    route, with its exact sums."""
    layer = pnn.Conv2d(np.ones((1, 1, 3, 3)), stride=2)
    x = np.ones((1, 1, 40, 40))
    layer(x)
    x[0, 0, 3, 4] = np.inf
    y = layer(x)
    assert not np.isnan(y).any() and np.isinf(y).sum() == 2
    np.testing.assert_array_equal(y, brute_conv2d(x, np.ones((1, 1, 3, 3)), np.zeros(1), 2, 0))
    wide = np.ones((1, 1, 40, 80))[..., ::2]              # same shape, strided
    np.testing.assert_array_equal(layer(wide), layer(np.ones((1, 1, 40, 40))))
    np.testing.assert_array_equal(layer(np.ones((1, 1, 40, 40), np.int64)),
                                  layer(np.ones((1, 1, 40, 40))))


def brute_transposed_layer(x, w, b, padding, output_padding, stride=2):
    """A single-channel transposed layer's output, batched or not
    (:func:`helpers.brute_conv_transpose2d` on the images, plus the bias)."""
    images = x.reshape((-1,) + x.shape[-2:])
    y = brute_conv_transpose2d(images, w[0, 0], stride, padding, output_padding)
    return y.reshape(x.shape[:-2] + y.shape[-2:]) + b[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, k, padding, output_padding, shape",
                         [(2, 3, 0, 0, (2, 1, 40, 37)), (2, 4, 2, 1, (1, 38, 52)),
                          (2, 2, 0, 1, (1, 1, 5, 70)), (2, 4, 0, 0, (3, 1, 4, 4)),
                          (2, 3, 1, 0, (1, 1, 9, 11)), (2, 4, 1, 0, (1, 1, 30, 33)),
                          (3, 3, 0, 0, (2, 1, 17, 40)), (3, 5, 1, 2, (1, 21, 19)),
                          (4, 8, 2, 0, (1, 1, 12, 35)), (4, 4, 3, 1, (1, 1, 9, 18))])
def test_single_channel_transposed_images_go_straight_to_their_kernel(
        monkeypatch, dtype, stride, k, padding, output_padding, shape):
    """The transposed layers likewise (:func:`polyphase.engine.transposed_route`),
    strides 2-4, any padding: the numbers of the full sums, dtype and
    shape, with the bias, batched or not."""
    from polyphase import finite
    rng = np.random.default_rng(k + padding + output_padding)
    w = rng.standard_normal((1, 1, k, k))
    b = rng.standard_normal(1)
    layer = pnn.ConvTranspose2d(w, b, stride=stride, padding=padding,
                                output_padding=output_padding)
    x = rng.standard_normal(shape).astype(dtype)
    expected = brute_transposed_layer(x.astype(np.float64), w, b, padding, output_padding,
                                      stride)
    layer(x)
    general, original = [], finite.apply_window
    monkeypatch.setattr(finite, "apply_window",
                        lambda *a, **kw: general.append(1) or original(*a, **kw))
    for _ in range(2):
        y = layer(x)
        assert y.dtype == dtype and y.shape == expected.shape
        assert not general
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * 10)


def test_the_transposed_route_falls_back_on_the_general_one():
    """An input that is not finite (the kernel multiplies the zeros of a 3x3
    kernel's 2x2 boxes): the general route, with its exact sums."""
    w = np.ones((1, 1, 3, 3))
    layer = pnn.ConvTranspose2d(w, stride=2)
    x = np.ones((1, 1, 20, 20))
    layer(x)
    x[0, 0, 3, 4] = np.inf
    y = layer(x)
    assert not np.isnan(y).any() and np.isinf(y).sum() == 9
    np.testing.assert_array_equal(y, brute_transposed_layer(x, w, np.zeros(1), 0, 0))


def test_functional_layers_of_large_weights_are_reused_only_for_the_same_bits():
    """Weights over 1 KB are compared bit by bit with the one a cached layer
    was built from (not hashed): a copy finds the layer, a change in place
    or a zero of the other sign builds another."""
    from polyphase.nn import functional

    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 8, 11, 11))
    w = rng.standard_normal((8, 8, 3, 3))
    w[0, 0, 0, 0] = 0.0
    assert w.nbytes > 1024
    first = functional._layer(pnn.Conv2d, w, None, 2, 1, 1, 1)
    assert functional._layer(pnn.Conv2d, w.copy(), None, 2, 1, 1, 1) is first
    assert functional._layer(pnn.Conv2d, w, None, 2, 0, 1, 1) is not first
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=2, padding=1),
                                  pnn.Conv2d(w.copy(), stride=2, padding=1)(x))
    w[0, 0, 0, 0] = -0.0
    assert functional._layer(pnn.Conv2d, w, None, 2, 1, 1, 1) is not first
    w[1, 2, 1, 1] += 1.0                               # changed in place
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=2, padding=1),
                                  pnn.Conv2d(w.copy(), stride=2, padding=1)(x))
    assert functional._layer(pnn.Conv2d, np.asfortranarray(w), None, 2, 1, 1, 1) is \
        functional._layer(pnn.Conv2d, w, None, 2, 1, 1, 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_weights_compare_in_parallel_parts(monkeypatch, threads):
    """Weights of at least ``PARALLEL_BITS`` elements are compared in parts
    of ``PART``, in parallel on two threads
    (:func:`polyphase.engine.bits.same`): one bit changed in any part, the
    first, one inside, the last (shorter) one, makes
    them differ, as it does for :func:`.same_bits` (one pass) and numpy."""
    import numba

    from polyphase import engine
    from polyphase.engine import bits, groups

    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    runs = record_calls(monkeypatch, groups, "run")
    a = np.random.default_rng(3).integers(-1 << 31, 1 << 31, bits.PARALLEL_BITS + 1000,
                                          dtype=np.int64).astype(np.int32)
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        assert bits.same(a, a.copy())
        for i in (0, bits.PART - 1, bits.PART, 3 * bits.PART + 7, a.size - 1):
            b = a.copy()
            b[i] ^= 1 << (i % 31)
            assert not bits.same(a, b) and not bits.same_bits(a, b)
            assert not np.array_equal(a, b)
        short = a[:bits.PARALLEL_BITS - 1]
        assert bits.same(short, short.copy())
    finally:
        numba.set_num_threads(old)
    # (groups.run for the large arrays on two threads, not for the short one)
    assert len(runs) == (6 if threads == 2 else 0)
    assert all(run[3] > 1 for run in runs)


def test_functional_calls_with_a_small_weight_find_its_layer_only_for_the_same_call():
    """The last small weight's layer is reused for the same class, bytes,
    shape, dtype and arguments, and for nothing else: a weight changed in
    place, the same bytes in another shape or dtype, other arguments or a
    bias each give the numbers of a fresh layer."""
    from polyphase.nn import functional

    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 1, 12, 12)).astype(np.float32)
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)

    def fresh(weight, bias=None, **kw):
        return (pnn.Conv2d(weight.copy(), None if bias is None else bias.copy(), **kw))(x)

    first = functional._layer(pnn.Conv2d, w, None, 2, 0, 1, 1)
    assert functional._layer(pnn.Conv2d, w, None, 2, 0, 1, 1) is first
    assert functional._layer(pnn.Conv2d, w.copy(), None, 2, 0, 1, 1) is first
    assert functional._layer(pnn.Conv2d, w, None, 2.0, 0, 1, 1) is not first
    assert functional._layer(pnn.ConvTranspose2d, w, None, 2, 0, 0, 1, 1) is not first
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=2), fresh(w, stride=2))
    w[0, 0, 1, 2] += 1.0                                      # changed in place
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=2), fresh(w, stride=2))
    same_bytes = w.reshape(1, 1, 1, 9)                        # another shape
    np.testing.assert_array_equal(pnn.conv2d(x, same_bytes, stride=2),
                                  fresh(same_bytes, stride=2))
    as_ints = w.view(np.int32)                                # another dtype
    pnn.conv2d(x, w, stride=2)
    np.testing.assert_array_equal(pnn.conv2d(x.astype(np.int32), as_ints, stride=2),
                                  pnn.Conv2d(as_ints.copy(), stride=2)(x.astype(np.int32)))
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=2, padding=1),
                                  fresh(w, stride=2, padding=1))
    b = np.ones(1, np.float32)
    np.testing.assert_array_equal(pnn.conv2d(x, w, b, stride=2), fresh(w, b, stride=2))
    np.testing.assert_array_equal(pnn.conv2d(x, w, stride=2), fresh(w, stride=2))


def brute_1d_layer(x, w, b, stride, padding, transposed):
    """A single-channel 1-D layer's output, batched or not: the sums of its
    definition (a correlation at every stride-th shift of the padded
    signal, or the kernel scattered from every stride-th output), plus b."""
    rows = x.reshape(-1, x.shape[-1])
    if transposed:
        y = brute_conv_transpose2d(rows[:, None], w[None], (1, stride), (0, padding),
                                   (0, 0))[:, 0]
    else:
        xp = np.pad(rows, ((0, 0), (padding, padding)))
        n = (xp.shape[1] - w.size) // stride + 1
        y = np.array([[row[stride * t:stride * t + w.size] @ w for t in range(n)]
                      for row in xp])
    return y.reshape(x.shape[:-1] + y.shape[-1:]) + b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer_class, stride, k, padding, shape",
                         [("Conv1d", 3, 3, 0, (1, 1, 4096)), ("Conv1d", 2, 5, 2, (3, 1, 300)),
                          ("Conv1d", 4, 8, 3, (1, 257)), ("Conv1d", 1, 4, 1, (2, 1, 64)),
                          ("ConvTranspose1d", 2, 4, 1, (1, 1, 500)),
                          ("ConvTranspose1d", 3, 3, 0, (2, 1, 100)),
                          # longer: the transposed kernel, the strided one,
                          # the band route, the FFT path
                          ("ConvTranspose1d", 2, 4, 1, (1, 1, 8192)),
                          ("Conv1d", 2, 3, 1, (1, 1, 40000)),
                          ("Conv1d", 2, 64, 0, (2, 1, 70000)),
                          ("ConvTranspose1d", 2, 3000, 0, (1, 1, 20000))])
def test_single_channel_1d_signals_take_the_prepared_call(monkeypatch, dtype, layer_class,
                                                          stride, k, padding, shape):
    """A single-channel 1-D layer called again on a C-contiguous signal of
    its computation dtype runs the engine's call of its 1-D route
    (:func:`polyphase.engine.rows_route`; for a short signal the prepared
    call of the 1-D kernel): the general route's bits, dtype and shape,
    with the bias, batched or not; and the layer still pickles."""
    import pickle

    from polyphase import finite
    rng = np.random.default_rng(k + padding + stride)
    w = rng.standard_normal((1, 1, k))
    b = rng.standard_normal(1)
    layer = getattr(pnn, layer_class)(w, b, stride=stride, padding=padding)
    x = rng.standard_normal(shape).astype(dtype)
    general = layer(np.asfortranarray(x[..., None])[..., 0])     # (not C-contiguous)
    expected = brute_1d_layer(x.astype(np.float64), w[0, 0], b[0], stride, padding,
                              layer_class == "ConvTranspose1d")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(general, expected, rtol=tol, atol=tol * 10)
    layer(x)
    assert next(iter(layer._calls.values()))[3][0] == "rows"
    calls = []
    monkeypatch.setattr(finite, "apply_window",
                        lambda *a, **kw: calls.append(1) or finite.apply_window(*a, **kw))
    for _ in range(2):
        y = layer(x)
        assert y.dtype == dtype and y.shape == general.shape and not calls
        np.testing.assert_array_equal(y, general)
    again = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(again(x), general)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepared_transposed_1d_call_with_inf_matches_the_general_route(dtype):
    """The prepared call of the transposed kernel (a box's zeros meet inf:
    NaN) falls back to the exact route, as the general call does."""
    layer = pnn.ConvTranspose1d(np.arange(1.0, 5.0).reshape(1, 1, 4), stride=2, padding=1)
    x = np.random.default_rng(3).standard_normal((1, 1, 8192)).astype(dtype)
    x[0, 0, 100] = np.inf
    general = layer(np.asfortranarray(x[..., None])[..., 0])
    assert np.isinf(general).any() and not np.isnan(general).any()
    layer(x)
    for _ in range(2):
        np.testing.assert_array_equal(layer(x), general)

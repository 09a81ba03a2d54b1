"""``torch.nn.functional``'s convolution, pixel-shuffle and upsampling functions on numpy arrays.

Same signatures, layouts (``NCW``/``NCHW``) and output sizes as PyTorch; bad
arguments raise a ``ValueError`` naming the parameter where PyTorch raises.
Every function builds an operator expression (see :mod:`polyphase.nn.layers`)
and applies it with an explicit output window, so the whole layer runs as one
pass of the engine over the batch.

dtypes: the computation is in the input's dtype (float32 stays float32 even
with a float64 weight, where PyTorch would reject the mix); integer input
becomes float64.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from .._cache import BuildCache, digest
from .._validation import as_signal
from ..operators import Delay, Down, PixelShuffle, Repeat, Up, UpFirDn
from ..operators import Conv as _Conv
from . import _args
from .layers import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, _window

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pixel_shuffle",
           "pixel_unshuffle", "interpolate"]


# Layers built recently, by their arguments and the weight's bytes.
_LAYERS = BuildCache(size=16)


def _layer(cls, weight, bias, *params):
    """The layer for these arguments, reused while the weight's bytes are the same
    (see :mod:`polyphase._cache`)."""
    try:
        w = weight if type(weight) is np.ndarray else np.asarray(weight)
        key = (cls, None if bias is None else digest(bias), repr(params))
    except (TypeError, ValueError):
        return cls(weight, bias, *params)           # let the layer report it
    return _LAYERS.get_for(w, key, lambda: cls(weight, bias, *params))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over ``(N, C_in, W)`` input, as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, W) or (C_in, W)
    weight : array_like, shape (C_out, C_in/groups, kW)
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int,)
    padding : int, (int,), "same" or "valid"
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, O)
        ``O = floor((W + 2p - d(kW - 1) - 1)/s) + 1``.

    Notes
    -----
    ``y[o, n] = b[o] + sum_{c, k} w[o, c, k] x[c, s n + d k - p]``: the operator
    ``Down(s) @ Delay(p - (Ke - 1)) @ ChannelConv(flip(dilate(w, d)), groups)``
    on the window ``[0, O)`` (see :class:`polyphase.nn.Conv1d`).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import conv1d
    >>> x = np.array([[[1., 2., 3., 4., 5.]]])
    >>> conv1d(x, [[[1., 10., 100.]]])
    array([[[321., 432., 543.]]])
    >>> conv1d(x, [[[1., 10., 100.]]], stride=2, padding=1)
    array([[[210., 432.,  54.]]])
    """
    return _layer(Conv1d, weight, bias, stride, padding, dilation, groups)(input)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over ``(N, C_in, H, W)`` input, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (C_out, C_in/groups, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), "same" or "valid"
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, OH, OW)

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import conv2d
    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 3, 3)), padding="same")[0, 0]
    array([[10., 18., 24., 18.],
           [27., 45., 54., 39.],
           [51., 81., 90., 63.],
           [42., 66., 72., 50.]])
    """
    return _layer(Conv2d, weight, bias, stride, padding, dilation, groups)(input)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, W) or (C_in, W)
    weight : array_like, shape (C_in, C_out/groups, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation
        ``output_padding < max(stride, dilation)``.

    Returns
    -------
    ndarray, shape (N, C_out, O)
        ``O = (W - 1)s - 2p + d(kW - 1) + output_padding + 1``.

    Notes
    -----
    The transpose of :func:`conv1d`'s operator for the same weight: scatter
    ``y[o, s m + d k - p] += x[c, m] w[c, o, k]``.  ``padding`` crops ``p``
    samples from both ends of the full output; ``output_padding`` un-crops
    samples at the end (real data when ``p >= 1``, zeros beyond the full
    output).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import conv_transpose1d
    >>> x, w = np.array([[[1., 2., 3.]]]), np.array([[[1., 10., 100.]]])
    >>> conv_transpose1d(x, w, stride=2)
    array([[[  1.,  10., 102.,  20., 203.,  30., 300.]]])
    >>> conv_transpose1d(x, w, stride=2, padding=1, output_padding=1)
    array([[[ 10., 102.,  20., 203.,  30., 300.]]])
    """
    if isinstance(padding, str):         # (the layer checks the rest, when it is made)
        _args.conv_padding(padding, 1, (1,), (1,), allow_str=False)
    return _layer(ConvTranspose1d, weight, bias, stride, padding, output_padding, groups,
                  dilation)(input)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (C_in, C_out/groups, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation
        Ints or pairs; ``output_padding < max(stride, dilation)`` per axis.

    Returns
    -------
    ndarray, shape (N, C_out, OH, OW)

    Notes
    -----
    Caffe's ``Deconvolution`` layer is this function with ``output_padding=0``
    (see :func:`polyphase.caffe.deconvolution`).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import conv_transpose2d
    >>> x = np.array([[[[1., 2.], [3., 4.]]]])
    >>> conv_transpose2d(x, np.ones((1, 1, 3, 3)), stride=2, padding=1,
    ...                  output_padding=1)[0, 0]
    array([[ 1.,  3.,  2.,  2.],
           [ 4., 10.,  6.,  6.],
           [ 3.,  7.,  4.,  4.],
           [ 3.,  7.,  4.,  4.]])
    """
    if isinstance(padding, str):         # (the layer checks the rest, when it is made)
        _args.conv_padding(padding, 2, (1, 1), (1, 1), allow_str=False)
    return _layer(ConvTranspose2d, weight, bias, stride, padding, output_padding, groups,
                  dilation)(input)


# ------------------------------------------------------------- pixel shuffle
def _shuffle_input(input, name):
    x = as_signal(input, "input")
    if x.ndim < 3:
        raise ValueError(f"{name} expects input to have at least 3 dimensions, but got "
                         f"input with {x.ndim} dimension(s)")
    return x


def pixel_shuffle(input, upscale_factor):
    """Depth-to-space, as ``torch.nn.functional.pixel_shuffle``.

    Parameters
    ----------
    input : array_like, shape (\\*, C r^2, H, W)
    upscale_factor : int
        ``r``.

    Returns
    -------
    ndarray, shape (\\*, C, H r, W r)
        ``y[c, h r + i, w r + j] = x[c r^2 + i r + j, h, w]``: the operator
        :class:`polyphase.PixelShuffle` ``(r, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import pixel_shuffle
    >>> pixel_shuffle(np.arange(4.).reshape(1, 4, 1, 1), 2)
    array([[[[0., 1.],
             [2., 3.]]]])
    """
    x = _shuffle_input(input, "pixel_shuffle")
    r = _args.as_int(upscale_factor, "upscale_factor")
    if r < 1:
        raise ValueError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    if x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                         f"divisible by the square of upscale_factor, but "
                         f"input.size(-3)={x.shape[-3]} is not divisible by {r * r}")
    op = PixelShuffle(r, x.shape[-3] // (r * r))
    return op(x, mode=_window((x.shape[-2] * r, x.shape[-1] * r)))


def pixel_unshuffle(input, downscale_factor):
    """Space-to-depth, as ``torch.nn.functional.pixel_unshuffle``.

    Parameters
    ----------
    input : array_like, shape (\\*, C, H r, W r)
    downscale_factor : int
        ``r``; must divide ``H r`` and ``W r``.

    Returns
    -------
    ndarray, shape (\\*, C r^2, H, W)
        The transpose of :func:`pixel_shuffle`: ``PixelShuffle(r, C).T``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import pixel_unshuffle
    >>> pixel_unshuffle(np.arange(4.).reshape(1, 1, 2, 2), 2).ravel()
    array([0., 1., 2., 3.])
    """
    x = _shuffle_input(input, "pixel_unshuffle")
    r = _args.as_int(downscale_factor, "downscale_factor")
    if r < 1:
        raise ValueError(f"pixel_unshuffle expects a positive downscale_factor, but "
                         f"got {r}")
    for axis, what in ((-2, "height"), (-1, "width")):
        if x.shape[axis] % r:
            raise ValueError(f"pixel_unshuffle expects {what} to be divisible by "
                             f"downscale_factor, but input.size({axis})="
                             f"{x.shape[axis]} is not divisible by {r}")
    op = PixelShuffle(r, x.shape[-3]).T
    return op(x, mode=_window((x.shape[-2] // r, x.shape[-1] // r)))


# ---------------------------------------------------------------- interpolate
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _tent_kernel(f: int):
    """Weights ``lambda(u)`` of input ``i`` at output ``f i + u`` for PyTorch's
    ``align_corners=False`` linear interpolation, from its definition: source
    coordinate ``(j + 0.5)/f - 0.5``, tent weights.  Returns ``(taps, first u)``."""
    u = np.arange(-f, 2 * f + 1)
    v = np.maximum(0.0, 1.0 - np.abs((u + 0.5) / f - 0.5))
    nz = np.flatnonzero(v)
    return v[nz[0]:nz[-1] + 1], int(u[nz[0]])


def _corners_operator(n_in: int, n_out: int):
    """Linear interpolation with ``align_corners=True`` along one axis:
    ``y[j] = x`` at ``j (n_in - 1)/(n_out - 1)``, a rational-rate operator."""
    if n_in == 1:
        return Repeat(n_out)      # torch reads x[0] for every output sample
    if n_out == 1:
        return Down(n_in)         # ... and for the only one
    g = gcd(n_out - 1, n_in - 1)
    L, M = (n_out - 1) // g, (n_in - 1) // g
    t = np.arange(2 * L - 1)
    tent = 1.0 - np.abs(t - (L - 1)) / L
    # y[j] = sum_i x[i] tent[j M - i L + L - 1]: an UpFirDn on x advanced by one
    return UpFirDn(np.r_[0.0, tent], L, M) @ Delay(-1)


def _sizes(x, size, scale_factor, dims):
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined"
                         if size is not None else
                         "either size or scale_factor should be defined")
    if size is not None:
        out = _args.ntuple(size, dims, "size")
        if min(out) < 1:
            raise ValueError(f"Input and output sizes should be greater than 0, but "
                             f"got input {spatial} and size {out}")
        return out, None
    factors = list(scale_factor) if isinstance(scale_factor, (tuple, list)) \
        else [scale_factor] * dims
    if len(factors) != dims:
        raise ValueError(f"Input and scale_factor must have the same number of spatial "
                         f"dimensions, but got input with spatial dimensions of "
                         f"{list(spatial)} and scale_factor of shape {tuple(factors)}")
    for f in factors:
        if not _args.is_number(f):
            raise TypeError(f"scale_factor must be a number or a tuple of numbers, "
                            f"got {scale_factor!r}")
    out = tuple(int(np.floor(n * float(f))) for n, f in zip(spatial, factors))
    if min(out) < 1:
        raise ValueError(f"Input and output sizes should be greater than 0, but got "
                         f"input {spatial} and scale_factor {scale_factor!r}")
    return out, [float(f) for f in factors]


def _integer_factors(spatial, out, factors, mode):
    result = []
    for a, (n, m) in enumerate(zip(spatial, out)):
        f = factors[a] if factors is not None else m / n
        if f < 1 or not float(f).is_integer() or m != n * int(f):
            raise ValueError(f"scale_factor must give an integer upscaling factor for "
                             f"mode={mode!r}: polyphase.nn.interpolate supports integer "
                             f"factors (any size with align_corners=True), got input "
                             f"size {tuple(spatial)} -> {tuple(out)}")
        result.append(int(f))
    return result


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Nearest and (bi/tri)linear upsampling, as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    input : array_like, shape (N, C, \\*spatial)
        3-D (``"linear"``), 4-D (``"bilinear"``), 5-D (``"trilinear"``) or
        any of them (``"nearest"``).
    size : int or tuple of int, optional
    scale_factor : number or tuple of numbers, optional
        Exactly one of ``size`` and ``scale_factor``.  Supported: integer
        upscaling factors; with ``align_corners=True`` any output size.
    mode : {"nearest", "linear", "bilinear", "trilinear"}
    align_corners : bool, optional
        Only for the linear modes (default False).
    recompute_scale_factor, antialias
        Accepted for compatibility; they do not change integer upscaling.

    Returns
    -------
    ndarray, shape (N, C, \\*out)

    Notes
    -----
    * ``"nearest"``, factor ``f``: :class:`polyphase.Repeat` ``(f)`` per axis.
    * linear, ``align_corners=False``: output ``j`` reads the source coordinate
      ``(j + 0.5)/f - 0.5`` clamped to ``[0, I - 1]``.  On the input extended
      by one replicated sample at each end this is ``Delay(-(f//2)) @
      Conv(bilinear_kernel(f)) @ Up(f)`` per axis, i.e. FCN's depthwise
      transposed convolution with ``padding = f//2 + f``.
    * linear, ``align_corners=True``: output ``j`` reads ``j (I - 1)/(O - 1)``,
      a rational rate ``L/M = (O - 1)/(I - 1)`` in lowest terms: a tent of
      ``2L - 1`` taps in an :class:`polyphase.UpFirDn` ``(L, M)``, one axis
      after the other.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import interpolate
    >>> x = np.array([[[1., 2., 3.]]])
    >>> interpolate(x, scale_factor=2, mode="linear")
    array([[[1.  , 1.25, 1.75, 2.25, 2.75, 3.  ]]])
    >>> interpolate(x, scale_factor=2, mode="linear", align_corners=True)
    array([[[1. , 1.4, 1.8, 2.2, 2.6, 3. ]]])
    >>> interpolate(x, scale_factor=2)
    array([[[1., 1., 2., 2., 3., 3.]]])
    """
    x = as_signal(input, "input")
    if mode not in ("nearest",) + tuple(_LINEAR):
        raise ValueError(f"mode must be 'nearest', 'linear', 'bilinear' or 'trilinear' "
                         f"for polyphase.nn.interpolate, got mode={mode!r}")
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"Input Error: Only 3D, 4D and 5D input supported (got "
                         f"{x.ndim}D) for the modes: nearest | linear | bilinear | "
                         f"trilinear (got {mode}); input must be (N, C, *spatial)")
    dims = x.ndim - 2
    if mode in _LINEAR and _LINEAR[mode] != dims:
        raise ValueError(f"Got {x.ndim}D input, but {mode} mode needs "
                         f"{_LINEAR[mode] + 2}D input")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating "
                         "modes: linear | bilinear | trilinear")
    out, factors = _sizes(x, size, scale_factor, dims)
    spatial = x.shape[2:]
    if mode in _LINEAR and align_corners:
        y = x
        for a in range(dims):
            op = _corners_operator(spatial[a], out[a])
            y = op(y, axis=2 + a, mode=(0, out[a]))
        return y
    f = _integer_factors(spatial, out, factors, mode)
    fs = tuple(f) if dims > 1 else f[0]
    if mode == "nearest":
        return Repeat(fs)(x, mode=_window(out))
    kernel, first = 1.0, []
    for fa in f:
        taps, u0 = _tent_kernel(fa)
        kernel = np.multiply.outer(kernel, taps)
        first.append(u0)
    op = Delay(tuple(first) if dims > 1 else first[0]) @ _Conv(kernel) @ Up(fs)
    padded = np.pad(x, [(0, 0), (0, 0)] + [(1, 1)] * dims, mode="edge")
    # padded index 0 is input index -1, so output index j sits at j + f
    return op(padded, mode=_window_at(f, out))


def _window_at(starts, lengths):
    w = [(s, s + n) for s, n in zip(starts, lengths)]
    return w[0] if len(w) == 1 else w

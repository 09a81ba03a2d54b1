"""Caffe's ``Deconvolution`` layer and FCN's bilinear upsampling kernel.

Caffe's ``Deconvolution`` takes the same parameters as ``Convolution`` and runs
its backward-data pass (``col2im``): the weight blob is ``(C_in, C_out/group,
kh, kw)`` and the output has ``s (I - 1) + Ke - 2 pad`` samples per axis, with no
``output_padding`` (FCN aligns with ``Crop`` layers).  It is therefore
:func:`polyphase.nn.conv_transpose2d` with ``output_padding=0``.

Caffe's recipe for a fixed bilinear upsampling layer (the ``BilinearFiller``
documentation: ``kernel 2f - f%2, stride f, pad ceil((f - 1)/2) = f//2,
group = C``, learning rate 0) uses :func:`bilinear_kernel`; FCN's
``surgery.interp`` instead writes that kernel on the diagonal of a full
``(C, C, K, K)`` weight, which is the same operator (``equals`` says so).  Every polyphase component of that kernel sums to 1,
so the layer is free of checkerboard artifacts on constant input; in the
interior it equals ``interpolate(..., mode="bilinear", align_corners=False)``,
and at the borders it decays towards the zero padding.

This module imports only numpy; :func:`deconvolution` loads
:mod:`polyphase.nn` when called.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_factor, as_int

__all__ = ["bilinear_kernel", "deconvolution", "bilinear_upsampling"]


def bilinear_kernel(factor, ndim=2) -> np.ndarray:
    """FCN's bilinear upsampling kernel (``surgery.upsample_filt``) for a factor.

    Parameters
    ----------
    factor : int
        Upsampling factor ``f``; the kernel has ``2f - f % 2`` taps per axis.
    ndim : int
        Number of axes: the kernel is the outer product of ``ndim`` copies of
        the 1-D profile.

    Returns
    -------
    ndarray, shape (2f - f%2,) * ndim
        ``h[x] = 1 - |x - c| / ceil(K/2)``, ``c = (K - 1)/2``.

    Notes
    -----
    The 1-D kernel sums to ``f`` and each of its ``f`` polyphase components
    (taps ``r, r + f, ...``) sums to 1.  Used as a depthwise transposed
    convolution with stride ``f`` and padding ``f//2`` it is linear
    interpolation (see :func:`polyphase.nn.interpolate`).

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.bilinear_kernel(2, ndim=1)
    array([0.25, 0.75, 0.75, 0.25])
    >>> pp.bilinear_kernel(2)[:2, :2]
    array([[0.0625, 0.1875],
           [0.1875, 0.5625]])
    >>> pp.bilinear_kernel(3, ndim=1) * 3
    array([1., 2., 3., 2., 1.])
    """
    f = as_factor(factor, "factor")
    ndim = as_int(ndim, "ndim", minimum=1)
    size = 2 * f - f % 2
    half = (size + 1) // 2
    center = half - 1 if size % 2 == 1 else half - 0.5
    h = 1 - np.abs(np.arange(size) - center) / half
    out = h
    for _ in range(ndim - 1):
        out = np.multiply.outer(out, h)
    return out


def deconvolution(bottom, weight, bias=None, stride=1, pad=0, group=1, dilation=1):
    """Caffe's ``Deconvolution`` forward pass on an ``(N, C_in, H, W)`` array.

    Parameters
    ----------
    bottom : array_like, shape (N, C_in, H, W)
    weight : array_like, shape (C_in, C_out/group, kh, kw)
    bias : array_like, shape (C_out,), optional
    stride, pad, dilation : int or pair of ints
    group : int

    Returns
    -------
    ndarray, shape (N, C_out, OH, OW)
        ``O = s (I - 1) + d (k - 1) + 1 - 2 pad``: ``conv_transpose2d`` with
        ``output_padding=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.caffe import deconvolution
    >>> deconvolution(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2)[0, 0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]])
    """
    from .nn import conv_transpose2d
    return conv_transpose2d(bottom, weight, bias, stride=stride, padding=pad,
                            output_padding=0, groups=group, dilation=dilation)


def bilinear_upsampling(channels, factor):
    """FCN's fixed upsampling layer: depthwise, stride ``f``, padding ``f//2``.

    Parameters
    ----------
    channels : int
    factor : int

    Returns
    -------
    polyphase.nn.ConvTranspose2d
        Weight ``(C, 1, K, K)`` with :func:`bilinear_kernel` in every channel,
        ``groups = C`` (Caffe's ``BilinearFiller`` with ``group: C``).

    Examples
    --------
    >>> from polyphase.caffe import bilinear_upsampling
    >>> bilinear_upsampling(21, 2)
    ConvTranspose2d(weight=<21x1x4x4>, stride=2, padding=1, groups=21)
    """
    from .nn import ConvTranspose2d
    c = as_factor(channels, "channels")
    f = as_factor(factor, "factor")
    k = bilinear_kernel(f)
    weight = np.broadcast_to(k, (c, 1) + k.shape)
    return ConvTranspose2d(weight, stride=f, padding=f // 2, groups=c)

"""Gradients of the convolutions, as ``torch.nn.grad``: numpy in, numpy out.

* ``convNd_input`` is the **adjoint** of the convolution's operator: with
  ``A = Conv2d(weight, stride, padding, dilation, groups)`` mapping inputs of
  spatial size ``I`` to the window ``[0, O)``, the input gradient is ``A.T``
  applied to ``grad_output`` on the window ``[0, I)``.  No ``output_padding``
  has to be guessed: the window is the input size.  (It equals
  ``conv_transpose`` with ``output_padding = (I + 2p - d(K - 1) - 1) mod s``,
  Dumoulin & Visin's ``a``; the tests check both.)
* ``convNd_weight`` is bilinear in ``input`` and ``grad_output``:
  ``dw[o, c, k] = sum_{n, m} g[n, o, m] xpad[n, c, s m + d k]``.  As a linear
  map of one argument it is a convolution whose kernel is the other argument
  (stride and dilation swap roles), an operator that would be rebuilt for
  every batch; a single contraction (``numpy.einsum`` over a
  ``sliding_window_view`` of the padded input, strided by ``s`` over
  positions and ``d`` over taps) does the whole batch in one BLAS call.

dtypes follow the input (``grad_output`` for ``convNd_input``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._validation import as_int, as_signal, signal_dtype
from . import _args
from .layers import Conv1d, Conv2d, _window

__all__ = ["conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight"]


def _size(value, dims, name, what):
    size = tuple(as_int(v, name, minimum=0) for v in value)
    if len(size) not in (dims + 1, dims + 2):
        raise ValueError(f"{name} must be the shape of the {what}, {dims + 2} (or "
                         f"{dims + 1} unbatched) integers, got {name}={value!r}")
    return size


def _check_grad_output(g, expected):
    if g.shape != tuple(expected):
        raise ValueError(f"grad_output must have shape {tuple(expected)} (the "
                         f"convolution's output for this input size), got "
                         f"{g.shape}")


def _input_grad(cls, input_size, weight, grad_output, stride, padding, dilation, groups):
    layer = cls(weight, None, stride, padding, dilation, groups)
    dims = layer.ndim
    size = _size(input_size, dims, "input_size", "input")
    if size[-dims - 1] != layer.in_channels:
        raise ValueError(f"input_size {size} must have {layer.in_channels} channels "
                         f"for weight of size {list(layer.weight.shape)} and "
                         f"groups={layer.groups}")
    g = as_signal(grad_output, "grad_output")
    out = layer.output_shape(size[-dims:])
    _check_grad_output(g, size[:-dims - 1] + (layer.out_channels,) + out)
    # the adjoint operator on the window [0, I): exactly d<g, conv(x)>/dx
    return layer.T(g, mode=_window(size[-dims:]))


def _weight_grad(cls, input, weight_size, grad_output, stride, padding, dilation, groups):
    dims = cls._dims
    x, unbatched = _args.input_array(input, dims, cls._fname)
    ws = tuple(as_int(v, "weight_size", minimum=1) for v in weight_size)
    if len(ws) != dims + 2:
        raise ValueError(f"weight_size must have {dims + 2} elements (out_channels, "
                         f"in_channels/groups, *kernel), got {weight_size!r}")
    layer = cls(np.ones(ws), None, stride, padding, dilation, groups)
    _args.check_in_channels(x, dims, layer.in_channels, ws, layer.groups, False)
    if unbatched:
        x = x[None]
    g = as_signal(grad_output, "grad_output")
    out = layer.output_shape(x.shape[2:])
    _check_grad_output(g, ((ws[0],) if unbatched else (x.shape[0], ws[0])) + out)
    if unbatched:
        g = g[None]
    dtype = signal_dtype(x.dtype)
    xp = np.pad(x.astype(dtype, copy=False),
                [(0, 0), (0, 0)] + list(zip(layer._before, layer._after)))
    spatial = tuple(range(2, 2 + dims))
    win = sliding_window_view(xp, layer.kernel_extent, axis=spatial)
    # positions s*m (m < O) and taps d*k of each window
    win = win[(slice(None), slice(None))
              + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, layer.stride))
              + tuple(slice(None, None, d) for d in layer.dilation)]
    G = layer.groups
    N, C = x.shape[:2]
    win = win.reshape((N, G, C // G) + win.shape[2:])
    gg = g.astype(dtype, copy=False).reshape((N, G, ws[0] // G) + out)
    pos = "".join("pqr"[:dims])
    taps = "".join("klm"[:dims])
    dw = np.einsum(f"ngc{pos}{taps},ngo{pos}->goc{taps}", win, gg, optimize=True)
    return np.ascontiguousarray(dw.reshape(ws), dtype=dtype)


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1,
                 groups=1):
    """Gradient of :func:`~polyphase.nn.conv1d` with respect to its input.

    Parameters
    ----------
    input_size : sequence of int
        Shape of the input, ``(N, C_in, W)``.
    weight : array_like, shape (C_out, C_in/groups, kW)
    grad_output : array_like, shape (N, C_out, O)
    stride, padding, dilation, groups
        As for the forward convolution.

    Returns
    -------
    ndarray, shape ``input_size``
        ``Conv1d(weight, ...).T`` applied to ``grad_output`` on ``[0, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn.grad import conv1d_input
    >>> conv1d_input((1, 1, 5), [[[1., 10., 100.]]], np.ones((1, 1, 2)), stride=2)
    array([[[  1.,  10., 101.,  10., 100.]]])
    """
    return _input_grad(Conv1d, input_size, weight, grad_output, stride, padding,
                       dilation, groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1,
                 groups=1):
    """Gradient of :func:`~polyphase.nn.conv2d` with respect to its input.

    Parameters
    ----------
    input_size : sequence of int
        ``(N, C_in, H, W)``.
    weight : array_like, shape (C_out, C_in/groups, kH, kW)
    grad_output : array_like, shape (N, C_out, OH, OW)
    stride, padding, dilation, groups

    Returns
    -------
    ndarray, shape ``input_size``

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn.grad import conv2d_input
    >>> conv2d_input((1, 1, 3, 3), np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)),
    ...              stride=2)[0, 0]
    array([[1., 1., 0.],
           [1., 1., 0.],
           [0., 0., 0.]])
    """
    return _input_grad(Conv2d, input_size, weight, grad_output, stride, padding,
                       dilation, groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1,
                  groups=1):
    """Gradient of :func:`~polyphase.nn.conv1d` with respect to its weight.

    Parameters
    ----------
    input : array_like, shape (N, C_in, W)
    weight_size : sequence of int
        ``(C_out, C_in/groups, kW)``.
    grad_output : array_like, shape (N, C_out, O)
    stride, padding, dilation, groups

    Returns
    -------
    ndarray, shape ``weight_size``
        ``dw[o, c, k] = sum_{n, m} g[n, o, m] xpad[n, c, s m + d k]``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn.grad import conv1d_weight
    >>> conv1d_weight(np.array([[[1., 2., 3., 4., 5.]]]), (1, 1, 3),
    ...               np.array([[[1., 10.]]]), stride=2)
    array([[[31., 42., 53.]]])
    """
    return _weight_grad(Conv1d, input, weight_size, grad_output, stride, padding,
                        dilation, groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1,
                  groups=1):
    """Gradient of :func:`~polyphase.nn.conv2d` with respect to its weight.

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W)
    weight_size : sequence of int
        ``(C_out, C_in/groups, kH, kW)``.
    grad_output : array_like, shape (N, C_out, OH, OW)
    stride, padding, dilation, groups

    Returns
    -------
    ndarray, shape ``weight_size``

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn.grad import conv2d_weight
    >>> conv2d_weight(np.arange(9.).reshape(1, 1, 3, 3), (1, 1, 2, 2),
    ...               np.ones((1, 1, 2, 2)))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    return _weight_grad(Conv2d, input, weight_size, grad_output, stride, padding,
                        dilation, groups)

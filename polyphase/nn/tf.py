"""TensorFlow's ``tf.nn.conv2d`` and ``tf.nn.conv2d_transpose`` on numpy arrays.

Layouts are TensorFlow's: ``data_format="NHWC"`` (default) or ``"NCHW"``;
``conv2d`` filters are ``[kh, kw, in/groups, out]``, ``conv2d_transpose``
filters ``[kh, kw, out, in]``.  Both are built on the same operator as
:class:`polyphase.nn.Conv2d`; ``conv2d_transpose`` is literally the transpose
of the ``conv2d`` that maps ``output_shape`` to the input's shape.

**SAME.**  Per axis, with ``Ke = d (k - 1) + 1``, the forward convolution of an
input of length ``n`` has ``ceil(n / s)`` outputs and pads
``total = max((ceil(n/s) - 1) s + Ke - n, 0)`` zeros, ``floor(total / 2)``
before and the rest after.  The transposed convolution to length ``O`` therefore
crops ``floor(total / 2)`` samples at the start of its full output (length
``F = (I - 1) s + Ke``) and keeps ``O`` samples, zero-extended if ``F`` is
shorter.  **VALID**: no padding, ``ceil((n - Ke + 1)/s)`` outputs; the
transposed convolution keeps ``full[0:O]``.

**When PyTorch cannot do the same.**  PyTorch crops ``p`` at the start and
``p - output_padding`` at the end, with ``0 <= output_padding < max(s, d)``.

* ``conv2d_transpose`` with SAME: possible iff ``F <= O`` (then ``p = 0``,
  ``output_padding = O - F``) or ``F - O`` is even (``p = (F - O)/2``,
  ``output_padding = 0``).  For the usual ``O = I s`` that fails exactly when
  ``Ke > s`` and ``Ke - s`` is odd: kernel 3 with stride 2 (the example below;
  PyTorch's ``padding=1, output_padding=1`` is shifted by one pixel), or any
  even kernel with stride 1.  :func:`torch_padding` returns the pair or None.
* ``conv2d`` with SAME: PyTorch's symmetric ``padding`` matches only when
  ``total`` is even; ``padding="same"`` (stride 1) puts the odd sample at the
  end as TensorFlow does, but PyTorch rejects it for strides > 1 (e.g. stride 2,
  kernel 3, even input size: ``total = 1``).
* VALID is always expressible (``p = 0``).

dtypes follow the input (float32 stays float32).

Examples
--------
>>> import numpy as np
>>> from polyphase.nn import tf
>>> x = np.array([[1., 2.], [3., 4.]]).reshape(1, 2, 2, 1)
>>> y = tf.conv2d_transpose(x, np.ones((3, 3, 1, 1)), (1, 4, 4, 1), strides=2)
>>> y[0, :, :, 0]
array([[ 1.,  1.,  3.,  2.],
       [ 1.,  1.,  3.,  2.],
       [ 4.,  4., 10.,  6.],
       [ 3.,  3.,  7.,  4.]])
>>> tf.torch_padding(2, 4, 3, 2) is None
True
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int, as_kernel, as_signal
from .layers import _window, conv_expression

__all__ = ["conv2d", "conv2d_transpose", "torch_padding"]


def _layout(data_format):
    if data_format == "NHWC":
        return (1, 2), 3
    if data_format == "NCHW":
        return (2, 3), 1
    raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")


def _per_axis(value, name, data_format, default=1):
    """TF's ``strides``/``dilations``: an int or a list of 1, 2 or 4 ints."""
    if value is None:
        value = default
    if np.isscalar(value):
        values = [value]
    else:
        values = list(value)
    if len(values) == 4:
        spatial, cax = _layout(data_format)
        if as_int(values[0], name) != 1 or as_int(values[cax], name) != 1:
            raise ValueError(f"{name} in the batch and depth dimensions must be 1, "
                             f"got {name}={value!r}")
        values = [values[a] for a in spatial]
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or a list of 1, 2 or 4 ints, "
                         f"got {name}={value!r}")
    out = tuple(as_int(v, name) for v in values)
    if min(out) < 1:
        raise ValueError(f"{name} must be positive, got {name}={value!r}")
    return out


def _pads(padding, n_in, extent, strides, data_format):
    """``(before, after, n_out)`` per axis of the forward convolution."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME', 'VALID' or explicit pairs, "
                             f"got padding={padding!r}")
        result = []
        for n, ke, s in zip(n_in, extent, strides):
            if mode == "VALID":
                result.append((0, 0, -(-(n - ke + 1) // s)))
            else:
                out = -(-n // s)
                total = max((out - 1) * s + ke - n, 0)
                result.append((total // 2, total - total // 2, out))
        return result
    pairs = [tuple(p) for p in np.asarray(padding, dtype=object).reshape(-1, 2)] \
        if not np.isscalar(padding) else []
    if len(pairs) == 4:
        spatial, cax = _layout(data_format)
        if tuple(pairs[0]) != (0, 0) or tuple(pairs[cax]) != (0, 0):
            raise ValueError(f"padding in the batch and depth dimensions must be "
                             f"(0, 0), got padding={padding!r}")
        pairs = [pairs[a] for a in spatial]
    if len(pairs) != 2:
        raise ValueError(f"padding must be 'SAME', 'VALID' or a list of (before, after) "
                         f"pairs, got padding={padding!r}")
    result = []
    for (b, a), n, ke, s in zip(pairs, n_in, extent, strides):
        b, a = as_int(b, "padding", minimum=0), as_int(a, "padding", minimum=0)
        result.append((b, a, (n + b + a - ke) // s + 1))
    return result


def _forward(filters, dilations):
    """PyTorch-layout weight ``(out, in/groups, kh, kw)`` of TF filters and the
    dilated kernel extents."""
    w = as_kernel(filters, "filters", nd=True)
    if w.ndim != 4:
        raise ValueError(f"filters must be 4-D [filter_height, filter_width, "
                         f"in_channels, out_channels], got shape {w.shape}")
    weight = w.transpose(3, 2, 0, 1)               # (out, in/groups, kh, kw)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(w.shape[:2], dilations))
    return weight, extent


def _input(input, data_format):
    x = as_signal(input, "input")
    if x.ndim != 4:
        raise ValueError(f"input must be 4-D ({data_format}), got shape {x.shape}")
    return x


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None,
           name=None):
    """TensorFlow's ``tf.nn.conv2d`` (a cross-correlation).

    Parameters
    ----------
    input : array_like, shape (N, H, W, C_in) or (N, C_in, H, W) for "NCHW"
    filters : array_like, shape (kh, kw, C_in/groups, C_out)
        ``C_in / filters.shape[2]`` groups, as TensorFlow infers them.
    strides, dilations : int or list of 1, 2 or 4 ints
        Both may exceed 1 together (TensorFlow's CPU kernels refuse that; the
        result here is the mathematical definition).
    padding : "SAME", "VALID" or explicit ``[[0, 0], [top, bottom], [left, right], [0, 0]]``
    data_format : {"NHWC", "NCHW"}
    name : ignored

    Returns
    -------
    ndarray, shape (N, OH, OW, C_out) (or NCHW)
        SAME: ``ceil(H / s)`` rows, padding ``floor(total/2)`` at the top.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import tf
    >>> x = np.arange(16.).reshape(1, 4, 4, 1)
    >>> tf.conv2d(x, np.ones((3, 3, 1, 1)), strides=2, padding="SAME")[0, :, :, 0]
    array([[45., 39.],
           [66., 50.]])
    """
    spatial, cax = _layout(data_format)
    x = _input(input, data_format)
    strides = _per_axis(strides, "strides", data_format)
    dilations = _per_axis(dilations, "dilations", data_format)
    weight, extent = _forward(filters, dilations)
    cin, cin_g = x.shape[cax], weight.shape[1]
    if cin % cin_g or weight.shape[0] % (cin // cin_g or 1):
        raise ValueError(f"input depth {cin} must be a multiple of the filters' in "
                         f"depth {cin_g} (filters shape {tuple(np.shape(filters))}), "
                         f"and out depth {weight.shape[0]} of the groups")
    pads = _pads(padding, [x.shape[a] for a in spatial], extent, strides, data_format)
    if min(p[2] for p in pads) < 1:
        raise ValueError(f"filters of size {tuple(np.shape(filters)[:2])} (dilated "
                         f"{extent}) do not fit in the input {x.shape} with "
                         f"padding={padding!r}")
    op = conv_expression(weight, strides, [p[0] for p in pads], dilations, cin // cin_g)
    return op(x, axis=spatial, channel_axis=cax, mode=_window([p[2] for p in pads]))


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME",
                     data_format="NHWC", dilations=None, name=None):
    """TensorFlow's ``tf.nn.conv2d_transpose``: the input-gradient of :func:`conv2d`.

    Parameters
    ----------
    input : array_like, shape (N, H, W, C_in) (or NCHW)
    filters : array_like, shape (kh, kw, C_out, C_in)
    output_shape : sequence of 4 ints (or the 2 spatial sizes)
        Must be consistent: the forward ``conv2d`` maps it to the input's
        spatial shape (SAME: ``ceil(O / s) == H``; VALID:
        ``ceil((O - Ke + 1)/s) == H``).
    strides, dilations : int or list of 1, 2 or 4 ints
    padding : "SAME", "VALID" or explicit pairs (of the forward convolution)
    data_format : {"NHWC", "NCHW"}
    name : ignored

    Returns
    -------
    ndarray of ``output_shape``
        The transpose of ``conv2d(., filters, strides, padding)``'s operator
        on the window ``[0, O)``: the full transposed output
        ``(H - 1)s + Ke`` cropped by ``floor(total/2)`` at the start
        (zero-extended if shorter).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn import tf
    >>> x = np.array([[1., 2.], [3., 4.]]).reshape(1, 2, 2, 1)
    >>> tf.conv2d_transpose(x, np.ones((3, 3, 1, 1)), (1, 3, 3, 1), 2)[0, :, :, 0]
    array([[ 1.,  3.,  2.],
           [ 4., 10.,  6.],
           [ 3.,  7.,  4.]])
    """
    spatial, cax = _layout(data_format)
    x = _input(input, data_format)
    strides = _per_axis(strides, "strides", data_format)
    dilations = _per_axis(dilations, "dilations", data_format)
    weight, extent = _forward(filters, dilations)
    shape = tuple(as_int(v, "output_shape", minimum=0) for v in np.ravel(output_shape))
    if len(shape) == 4:
        out = [shape[a] for a in spatial]
        if shape[0] != x.shape[0] or shape[cax] != weight.shape[1]:
            raise ValueError(f"output_shape {shape} must have batch {x.shape[0]} and "
                             f"depth {weight.shape[1]} (filters' out channels)")
    elif len(shape) == 2:
        out = list(shape)
    else:
        raise ValueError(f"output_shape must have 4 elements (or 2 spatial sizes), "
                         f"got {output_shape!r}")
    if x.shape[cax] != weight.shape[0]:
        raise ValueError(f"input depth {x.shape[cax]} must equal the filters' in "
                         f"channels (filters.shape[3] = {weight.shape[0]})")
    pads = _pads(padding, out, extent, strides, data_format)
    got = [p[2] for p in pads]
    if got != [x.shape[a] for a in spatial]:
        raise ValueError(f"output_shape {tuple(out)} is inconsistent with the input: "
                         f"conv2d with padding={padding!r}, strides={strides} maps it "
                         f"to {tuple(got)}, not {tuple(x.shape[a] for a in spatial)}")
    op = conv_expression(weight, strides, [p[0] for p in pads], dilations, 1)
    return op.T(x, axis=spatial, channel_axis=cax, mode=_window(out))


def torch_padding(input_size, output_size, kernel_size, strides, padding="SAME",
                  dilations=1):
    """PyTorch ``(padding, output_padding)`` that reproduce ``conv2d_transpose``, or None.

    Parameters
    ----------
    input_size, output_size, kernel_size, strides, dilations : int or pair of ints
        Spatial sizes of the transposed convolution's input and output, kernel
        size, strides and dilations (per axis).
    padding : {"SAME", "VALID"}

    Returns
    -------
    (tuple, tuple) or None
        ``padding`` and ``output_padding`` for ``torch.nn.functional.conv_transpose2d``
        (one entry per axis), or None when no pair exists: SAME with
        ``F - O`` odd and positive, ``F = (I - 1)s + Ke``.

    Examples
    --------
    >>> from polyphase.nn.tf import torch_padding
    >>> torch_padding(4, 8, 4, 2)            # kernel 4, stride 2: p=1
    ((1,), (0,))
    >>> torch_padding((2, 2), (4, 4), (3, 3), (2, 2)) is None
    True
    """
    def axes(v, name):
        vals = (v,) if np.isscalar(v) else tuple(v)
        return tuple(as_int(a, name, minimum=1) for a in vals)
    sizes = [axes(v, n) for v, n in ((input_size, "input_size"),
                                    (output_size, "output_size"),
                                    (kernel_size, "kernel_size"), (strides, "strides"),
                                    (dilations, "dilations"))]
    n = max(len(s) for s in sizes)
    sizes = [s * n if len(s) == 1 else s for s in sizes]
    if any(len(s) != n for s in sizes):
        raise ValueError("sizes must all have the same number of axes")
    pads, extra = [], []
    for i, o, k, s, d in zip(*sizes):
        ke = d * (k - 1) + 1
        full = (i - 1) * s + ke
        (before, _, got), = _pads(padding, [o], [ke], [s], "NHWC")
        if got != i:
            raise ValueError(f"output_size {o} is inconsistent with input_size {i} for "
                             f"padding={padding!r}, stride {s}, kernel extent {ke}")
        op = o - full + 2 * before
        if not 0 <= op < max(s, d):
            return None
        pads.append(before)
        extra.append(op)
    return tuple(pads), tuple(extra)

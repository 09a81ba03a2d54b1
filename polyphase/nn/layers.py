"""Convolution layers with PyTorch semantics, as polyphase operators.

A layer is an :class:`~polyphase.operators.Operator` whose polyphase matrix is
that of the expression it stands for, so it composes (``@``), compares
(:meth:`~polyphase.Operator.equals`) and is analysed like any other
operator:

* ``Conv1d/Conv2d(weight, ...)`` is ``Down(s) @ Delay(p - (Ke - 1)) @
  ChannelConv(flip(dilate(weight, d)), groups)``: PyTorch's ``conv`` is a
  cross-correlation (kernel not flipped), ``Ke = d*(K - 1) + 1`` and ``p`` the
  padding at the start;
* ``ConvTranspose1d/2d(weight, ...)`` is the *transpose* of that expression
  for the same weight: PyTorch's transposed-convolution weight
  ``(C_in, C_out/groups, *k)`` is the weight of the convolution it is the
  gradient of.

Called on an array with PyTorch's arguments only, ``layer(x)`` is the PyTorch
layer: input ``(N, C, *spatial)`` (or unbatched ``(C, *spatial)``), the output
window ``[0, O)`` per axis that the padding implies, plus the bias.  Passed
``mode=`` (or ``axis=``/``channel_axis=``), it is the bare linear operator on a
polyphase window, like every operator (no bias: the linear part of an affine
layer).

``layer.T`` is the adjoint layer: the transpose of a ``Conv`` is the
``ConvTranspose`` with the same weight, stride, padding, dilation and groups,
and vice versa.  A convolution maps several input sizes to one output size,
so the adjoint's ``output_padding`` is left at 0; pass ``output_size=`` to the
call (as to ``torch.nn.ConvTranspose2d.forward``) to invert the shapes of a
given input: ``conv.T(y, output_size=x.shape)`` is the gradient of
``sum(conv(x) * y)`` with respect to ``x``.  Bias is not part of the adjoint.

Computation is in the input's dtype (float32 stays float32, also with a
float64 weight; PyTorch would reject mixed dtypes); integer input becomes
float64.
"""

from __future__ import annotations

import math

import numpy as np

from .._lazy import submodule
from .._validation import signal_dtype
from ..operators import ChannelConv, Delay, Down, Operator, Transpose
from . import _args

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "conv_expression"]


def dilate_weight(weight: np.ndarray, dilation) -> np.ndarray:
    """Insert ``dilation - 1`` zeros between taps along every spatial axis."""
    if all(d == 1 for d in dilation):
        return weight
    k = weight.shape[2:]
    out = np.zeros(weight.shape[:2] + tuple(d * (n - 1) + 1 for n, d in zip(k, dilation)),
                   dtype=weight.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = weight
    return out


def conv_expression(weight, stride, before, dilation, groups) -> Operator:
    """The operator of PyTorch's ``convNd`` with padding ``before`` at the start.

    ``y[o, n] = sum_{c, k} w[o, c, k] x[c, s*n + d*k - before]`` is
    ``Down(s) @ Delay(before - (Ke - 1)) @ ChannelConv(flip(dilate(w, d)), groups)``
    (trivial factors left out).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.nn.layers import conv_expression
    >>> conv_expression(np.ones((1, 1, 3)), (2,), (1,), (1,), 1)
    Down(2) @ Delay(-1) @ ChannelConv(<1x1x3 weight>)
    """
    w = dilate_weight(np.asarray(weight), dilation)
    spatial = tuple(range(2, w.ndim))
    op = ChannelConv(np.flip(w, axis=spatial), groups=groups)
    shift = tuple(b - (k - 1) for b, k in zip(before, w.shape[2:]))
    if any(shift):
        op = Delay(shift if len(shift) > 1 else shift[0]) @ op
    if any(s != 1 for s in stride):
        op = Down(stride if len(stride) > 1 else stride[0]) @ op
    return op


def _window(lengths):
    """An explicit output window ``[0, n)`` per axis, as ``mode=`` takes it."""
    w = [(0, int(n)) for n in lengths]
    return w[0] if len(w) == 1 else w


def _fmt(values):
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


class _ConvNd(Operator):
    """Shared machinery of the convolution layers."""

    _dims = 1
    _transposed = False

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 output_padding=0):
        n, name = self._dims, self._fname
        self.weight = _args.weight_array(weight, n, name, self._transposed)
        self.groups = _args.positive_int(groups, "groups")
        _args.check_groups(self.weight, self.groups)
        self.stride = _args.ntuple(stride, n, "stride", minimum=1)
        self.dilation = _args.ntuple(dilation, n, "dilation", minimum=1)
        self.kernel_extent = tuple(d * (k - 1) + 1
                                   for k, d in zip(self.weight.shape[2:], self.dilation))
        self.padding, self._before, self._after = _args.conv_padding(
            padding, n, self.kernel_extent, self.stride)
        self.output_padding = _args.ntuple(output_padding, n, "output_padding", minimum=0)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride,
                                                   self.dilation)):
            raise ValueError(f"output padding must be smaller than either stride or "
                             f"dilation, but got output_padding={self.output_padding}, "
                             f"stride={self.stride}, dilation={self.dilation}")
        c0, c1 = self.weight.shape[0], self.weight.shape[1] * self.groups
        self.in_channels, self.out_channels = (c0, c1) if self._transposed else (c1, c0)
        self.bias = _args.bias_array(bias, self.out_channels, self.weight.shape,
                                     self._transposed)
        self.ndim = n
        expr = conv_expression(self.weight, self.stride, self._before, self.dilation,
                               self.groups)
        self.expression = expr.T if self._transposed else expr

    # ---------------------------------------------------------- the operator
    def _build(self):
        return self.expression._declared

    def _repr(self):
        w = "x".join(map(str, self.weight.shape))
        parts = [f"weight=<{w}>"]
        if self.bias is not None:
            parts.append(f"bias=<{self.bias.size}>")
        defaults = {"stride": (1,), "padding": (0,), "output_padding": (0,),
                    "dilation": (1,), "groups": 1}
        for name in ("stride", "padding", "output_padding", "dilation", "groups"):
            value = getattr(self, name)
            if isinstance(value, str):
                parts.append(f"{name}={value!r}")
            elif isinstance(value, tuple):
                if set(value) != set(defaults[name]):
                    parts.append(f"{name}={_fmt(value)}")
            elif value != defaults[name]:
                parts.append(f"{name}={value}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def T(self):
        """The adjoint layer (``Conv`` <-> ``ConvTranspose``, same weight, no bias)."""
        return self._adjoint()

    @property
    def H(self):
        """Conjugate transpose: the adjoint layer for a real weight."""
        if np.iscomplexobj(self.weight):
            return Transpose(self, conjugate=True)
        return self._adjoint()

    # ------------------------------------------------------------- shapes
    def output_shape(self, input_shape, output_size=None):
        """Spatial output size for an input of spatial size ``input_shape``.

        ``output_size`` (transposed layers) requests a size in PyTorch's
        valid range instead of the one ``output_padding`` gives.

        Examples
        --------
        >>> import numpy as np, polyphase as pp
        >>> conv = pp.nn.Conv2d(np.ones((1, 1, 3, 3)), stride=2, padding=1)
        >>> conv.output_shape((6, 5)), conv.T.output_shape((3, 3), output_size=(6, 5))
        ((3, 3), (6, 5))
        """
        raise NotImplementedError

    # ----------------------------------------------------------- applying
    def __call__(self, x, axis=None, mode=None, channel_axis=None, *, output_size=None):
        """Apply the layer with PyTorch semantics, or as an operator if ``mode`` is given.

        Parameters
        ----------
        x : array_like, shape (N, C_in, \\*spatial) or (C_in, \\*spatial)
        axis, mode, channel_axis
            Operator semantics (see :meth:`polyphase.Operator.__call__`): the
            bare linear map on a polyphase window, no bias.
        output_size : sequence of int, optional
            Transposed layers only: the wanted output size (spatial, or the
            whole shape), as in ``torch.nn.ConvTranspose2d.forward``.

        Returns
        -------
        ndarray, shape (N, C_out, \\*out) or (C_out, \\*out)
        """
        if mode is not None or axis is not None or channel_axis is not None:
            if output_size is not None:
                raise ValueError("output_size applies to the PyTorch call; with mode= "
                                 "give the output window instead")
            return super().__call__(x, axis=axis, mode="full" if mode is None else mode,
                                    channel_axis=channel_axis)
        # A shape and dtype seen before skip the checks and the window
        # arithmetic, which they passed then: ~10 of the ~20 us of Python
        # around a small image's kernel.  (Not pickled: see __getstate__.)
        calls = self.__dict__.setdefault("_calls", {})
        key = (x.shape, x.dtype) if type(x) is np.ndarray and output_size is None else None
        prepared = calls.get(key)
        if prepared is None:
            x, _ = _args.input_array(x, self._dims, self._fname)
            _args.check_in_channels(x, self._dims, self.in_channels, self.weight.shape,
                                    self.groups, self._transposed)
            out = self.output_shape(x.shape[-self._dims:], output_size)
            prepared = self._prepared(x, _window(out))
            if key is not None:
                if len(calls) >= 16:             # (shapes may vary: keep it bounded)
                    calls.clear()
                calls[key] = prepared
        axes, windows, bias, route = prepared
        y = None
        if route is not None and route[0] in ("winograd", "points", "phase points"):
            # a channel-mixing layer straight to its route
            _, call, lanes, shape = route
            y = submodule("polyphase.engine.gemm").run_layer_route(
                call, x.reshape(lanes)).reshape(shape)
        elif route is not None and route[0] == "rows" and x.flags.c_contiguous:
            # a single-channel 1-D signal: the engine's call of its 1-D route
            # (engine.rows_route; for a short signal the prepared call of the
            # 1-D kernel)
            _, call, images, shape = route
            y = call(x.reshape(images)).reshape(shape)
        elif route is not None and x.flags.c_contiguous:
            # a single-channel image straight to its kernel (strided with
            # column strides 2-4, transposed with strides 2-4)
            _, run, kernel_args, lengths, images, shape = route
            y = run(kernel_args, x.reshape(images), lengths)
            if y is not None:
                y = y.reshape(shape)
        if y is None:
            y = submodule("polyphase.finite").apply_window(self, x, axes, windows,
                                                          channel_axis=axes[0] - 1)
        if bias is not None:
            y += bias.astype(y.dtype, copy=False)
        return y

    def __getstate__(self):
        # (the calls' routes are a cache, made again by the next call; the
        # 1-D route holds the engine's prepared call, which does not pickle)
        state = dict(self.__dict__)
        state.pop("_calls", None)
        return state

    def _prepared(self, x, window):
        """``(axes, windows, bias, route)`` of the PyTorch call on arrays of
        ``x``'s shape and dtype: the operator on the output ``window`` (what
        ``Operator.__call__`` would find), the bias, and the route the call
        can take straight away: when a single-channel 2-D image of the
        computation dtype goes to the stride-2 box kernel ``("box", the
        engine's function that runs it, kernel arguments, output lengths,
        images shape, result shape)``
        (:func:`polyphase.engine.box_route`), to the strided kernel
        (``"strided"``, :func:`polyphase.engine.strided_route`) or to the
        transposed kernel (``"transposed"``,
        :func:`polyphase.engine.transposed_route`), when a single-channel
        1-D signal goes to its 1-D route (``("rows", call, signals shape,
        result shape)``, :func:`polyphase.engine.rows_route`),
        when a channel-mixing layer goes to the Winograd route, the points
        or the output phases on the points (``("winograd", call, lanes
        shape, result shape)``, ``"points"``, ``"phase points"``:
        :func:`polyphase.engine.gemm.layer_route`), else None."""
        from ..finite import windows_for

        axes = list(range(x.ndim - self._dims, x.ndim))
        windows = windows_for(self._declared, x.shape[-self._dims:], window)
        bias = None if self.bias is None else \
            self.bias.reshape((-1,) + (1,) * self._dims)
        route = None
        lengths = tuple(b - a for a, b in windows)
        starts = tuple(a for a, _ in windows)
        if self._dims == 2 and self.weight.shape[:2] == (1, 1) \
                and x.dtype in (np.float32, np.float64) and self.weight.dtype.kind != "c" \
                and min(x.shape[-2:]) > 0:
            engine = submodule("polyphase.engine")
            # (each kind with the engine's function that finds its route and
            # the one that runs it, picked here rather than at each call)
            kinds = (("transposed", engine.transposed_route, engine.run_transposed_route),) \
                if self._transposed else \
                (("box", engine.box_route, engine.run_box_route),
                 ("strided", engine.strided_route, engine.run_strided_route))
            for kind, find, run in kinds:
                route = find(self.polyphase(), x.size // (x.shape[-1] * x.shape[-2]),
                             x.dtype, starts, lengths)
                if route is not None:
                    break
            if route is not None:
                # with the shapes the call reshapes to and from (~1 us a call)
                route = (kind, run, route, lengths, (-1,) + x.shape[-2:],
                         x.shape[:-2] + lengths)
        elif self._dims == 1 and self.weight.shape[:2] == (1, 1) \
                and x.dtype in (np.float32, np.float64) and self.weight.dtype.kind != "c":
            lanes = x.size // max(x.shape[-1], 1)
            call = submodule("polyphase.engine").rows_route(
                self.polyphase(), lanes, x.dtype, x.shape[-1], starts[0], lengths[0])
            if call is not None:
                route = ("rows", call, (lanes, x.shape[-1]), x.shape[:-1] + lengths)
        elif self.weight.shape[:2] != (1, 1):
            d = self._dims
            lanes = (math.prod(x.shape[:-d - 1]), x.shape[-d - 1]) + x.shape[-d:]
            call = submodule("polyphase.engine.gemm").layer_route(
                self.polyphase(), lanes, signal_dtype(x.dtype, self.is_complex), (0,) * d,
                starts, lengths)
            if call is not None:
                route = (call[0], call, lanes, x.shape[:-d - 1] + call[2][1:])
        return axes, windows, bias, route


class _Conv(_ConvNd):
    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        super().__init__(weight, bias, stride, padding, dilation, groups)

    def output_shape(self, input_shape, output_size=None):
        if output_size is not None:
            raise ValueError("output_size is only for transposed convolutions")
        out = []
        for n, b, a, ke, s in zip(input_shape, self._before, self._after,
                                  self.kernel_extent, self.stride):
            if n + b + a < ke:
                raise ValueError(
                    f"Calculated padded input size per channel: "
                    f"({tuple(np.add(np.add(input_shape, self._before), self._after))}). "
                    f"Kernel size: {self.kernel_extent}. Kernel size can't be greater "
                    f"than actual input size (input vs weight, padding, dilation)")
            out.append((n + b + a - ke) // s + 1)
        return tuple(out)

    def _adjoint(self):
        cls = ConvTranspose1d if self._dims == 1 else ConvTranspose2d
        return cls(self.weight, None, self.stride, self.padding, 0, self.groups,
                   self.dilation)


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                 dilation=1):
        super().__init__(weight, bias, stride, padding, dilation, groups, output_padding)

    def output_shape(self, input_shape, output_size=None):
        base = [(n - 1) * s + ke - b - a for n, s, ke, b, a in zip(
            input_shape, self.stride, self.kernel_extent, self._before, self._after)]
        if output_size is None:
            out = [m + op for m, op in zip(base, self.output_padding)]
        else:
            size = [_args.as_int(v, "output_size") for v in output_size]
            if len(size) == self._dims + 2 or len(size) == self._dims + 1:
                size = size[-self._dims:]
            if len(size) != self._dims:
                raise ValueError(f"output_size must have {self._dims} or "
                                 f"{self._dims + 2} elements (got {len(size)})")
            hi = [m + s - 1 for m, s in zip(base, self.stride)]
            if any(not lo <= v <= h for v, lo, h in zip(size, base, hi)):
                raise ValueError(f"requested an output_size of {size}, but valid sizes "
                                 f"range from {base} to {hi} (for an input of "
                                 f"{list(input_shape)})")
            out = size
        if min(out) < 1:
            raise ValueError(f"Given input size per channel: {tuple(input_shape)}. "
                             f"Calculated output size per channel: {tuple(out)}. Output "
                             f"size is too small (check padding, stride, dilation)")
        return tuple(out)

    def _adjoint(self):
        cls = Conv1d if self._dims == 1 else Conv2d
        return cls(self.weight, None, self.stride, self.padding, self.dilation,
                   self.groups)


class Conv1d(_Conv):
    """PyTorch's ``Conv1d`` with a given weight, as a polyphase operator.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in/groups, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, dilation, groups
        As in ``torch.nn.functional.conv1d``; ``padding`` may be ``"same"``
        (stride 1) or ``"valid"``.

    Notes
    -----
    ``y[o, n] = b[o] + sum_{c, k} w[o, c, k] x[c, s n + d k - p]``, the operator
    ``Down(s) @ Delay(p - (Ke - 1)) @ ChannelConv(flip(dilate(w, d)), groups)``
    applied on the window ``[0, O)``, ``O = floor((I + 2p - Ke)/s) + 1``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> conv = pp.nn.Conv1d([[[1., 10., 100.]]], stride=2, padding=1)
    >>> conv
    Conv1d(weight=<1x1x3>, stride=2, padding=1)
    >>> conv(np.array([[[1., 2., 3., 4., 5.]]]))
    array([[[210., 432.,  54.]]])
    >>> conv.T
    ConvTranspose1d(weight=<1x1x3>, stride=2, padding=1)
    """

    _dims, _fname = 1, "conv1d"


class Conv2d(_Conv):
    """PyTorch's ``Conv2d`` with a given weight, as a polyphase operator.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in/groups, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, dilation, groups
        As in ``torch.nn.functional.conv2d`` (ints or pairs; ``padding`` may be
        ``"same"`` or ``"valid"``).

    Notes
    -----
    The 2-D case of :class:`Conv1d`, with ``Down((sh, sw))`` and
    ``Delay((dh, dw))``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> conv = pp.nn.Conv2d(np.ones((1, 1, 2, 2)), stride=2)
    >>> conv(np.arange(16.).reshape(1, 1, 4, 4))
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> conv.T.T.equals(conv)
    True
    """

    _dims, _fname = 2, "conv2d"


class ConvTranspose1d(_ConvTranspose):
    """PyTorch's ``ConvTranspose1d`` with a given weight, as a polyphase operator.

    Parameters
    ----------
    weight : array_like, shape (C_in, C_out/groups, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation
        As in ``torch.nn.functional.conv_transpose1d``.  ``padding`` may also
        be ``"same"``/``"valid"`` (what ``Conv1d(..., padding="same").T``
        gives; PyTorch has no such option).

    Notes
    -----
    The transpose of ``Conv1d(weight, stride, padding, dilation, groups)``'s
    operator, i.e. ``ChannelConv(w', groups) @ Delay(-p) @ Up(s)`` with the
    channel axes of each group swapped; applied on ``[0, O)``,
    ``O = (I - 1)s - 2p + d(K - 1) + output_padding + 1``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> up = pp.nn.ConvTranspose1d([[[1., 10., 100.]]], stride=2, padding=1,
    ...                            output_padding=1)
    >>> up(np.array([[[1., 2., 3.]]]))
    array([[[ 10., 102.,  20., 203.,  30., 300.]]])
    >>> up.equals(pp.Conv([1., 10., 100.]) @ pp.Delay(-1) @ pp.Up(2))
    True
    """

    _dims, _fname = 1, "conv_transpose1d"


class ConvTranspose2d(_ConvTranspose):
    """PyTorch's ``ConvTranspose2d`` with a given weight, as a polyphase operator.

    Parameters
    ----------
    weight : array_like, shape (C_in, C_out/groups, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation
        As in ``torch.nn.functional.conv_transpose2d``.

    Notes
    -----
    The 2-D case of :class:`ConvTranspose1d`.  Caffe's ``Deconvolution`` is
    this layer with ``output_padding=0``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> up = pp.nn.ConvTranspose2d(np.ones((1, 1, 2, 2)), stride=2)
    >>> up(np.array([[[[1., 2.], [3., 4.]]]]))[0, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    >>> up.equals(pp.Repeat((2, 2)))
    True
    """

    _dims, _fname = 2, "conv_transpose2d"

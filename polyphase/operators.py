"""Public operator classes and expression nodes.

An operator only knows its polyphase matrix (:mod:`polyphase.system`) and how
to print itself.  Algebra is delegated to :class:`~polyphase.system.PolyphaseMatrix`,
finite semantics to :mod:`polyphase.finite` and execution to
:mod:`polyphase.engine`, so a new operator is a few lines and is composable,
transposable, testable and runnable at once.
"""

from __future__ import annotations

import numbers
from functools import cached_property
from math import gcd

import numpy as np

from ._lazy import submodule
from ._validation import as_factor, as_factors, as_int, as_kernel
from .system import DEFAULT_RTOL, PolyphaseMatrix

__all__ = ["Operator", "Conv", "ChannelConv", "PixelShuffle", "Up", "Down", "Repeat",
           "Delay",
           "Identity", "UpFirDn", "Compose", "Sum", "Scaled", "Transpose"]


class Operator:
    """Base class of every multirate operator.

    Operators compose with ``A @ B`` (``B`` is applied first), add and
    subtract (same rate ratio), scale by numbers, transpose with ``.T`` and
    conjugate-transpose with ``.H``.  ``A(x)`` applies an operator to an array
    and :meth:`equals` compares two operators exactly, through their canonical
    polyphase matrices.
    """

    #: number of signal axes the operator acts on
    ndim = 1
    #: precedence for printing: 3 atom, 2 product, 1 scaled, 0 sum
    _precedence = 3

    def _build(self) -> PolyphaseMatrix:
        """The polyphase matrix with the operator's declared tap supports."""
        raise NotImplementedError

    # ----------------------------------------------------------- representation
    @cached_property
    def _declared(self) -> PolyphaseMatrix:
        return self._build()

    @cached_property
    def _canonical(self) -> PolyphaseMatrix:
        # Exact (rtol=0): the engine runs this form, so no tap may be dropped
        # as rounding residue; equals() applies its tolerance separately.
        return self._declared.canonical(rtol=0)

    def polyphase(self) -> PolyphaseMatrix:
        """The canonical polyphase matrix of the operator.

        Shortest period, zero taps trimmed, computed exactly (no tolerance):
        two operators are equal exactly when their canonical matrices are (up
        to the rounding tolerance of :meth:`equals`).  ``E.up, E.down`` are the rates,
        ``E.coef[p, q, j]`` the tap of filter ``E[p, q]`` at block delay
        ``E.start + j`` and ``E.entry(p, q)`` one filter as ``(taps, offset)``.

        Examples
        --------
        >>> import polyphase as pp
        >>> E = (pp.Conv([1, 2, 3]) @ pp.Up(2)).polyphase()
        >>> E.up, E.down
        (2, 1)
        >>> E.entry(0, 0), E.entry(1, 0)
        ((array([1., 3.]), 0), (array([2.]), 0))
        """
        return self._canonical

    @property
    def rates(self):
        """``(up, down)``: output and input samples per period (canonical).

        Ints for a 1-D operator, tuples (one per axis) for an N-D one.
        """
        return self._canonical.up, self._canonical.down

    @property
    def channels(self):
        """``(C_out, C_in)`` of an operator that mixes channels, else None."""
        return self._declared.channels

    @property
    def is_complex(self) -> bool:
        return self._canonical.is_complex

    def equals(self, other: "Operator", rtol: float = DEFAULT_RTOL) -> bool:
        """Whether two operators are the same linear map.

        Exact: the canonical polyphase matrices are compared (rates, supports
        and every coefficient), not random probes.  Coefficients may differ by
        ``rtol`` times the largest one, to absorb rounding in products;
        ``rtol=0`` asks for bitwise equality.

        Examples
        --------
        >>> import polyphase as pp
        >>> pp.Up(3).T.equals(pp.Down(3))
        True
        >>> (pp.Up(2) @ pp.Down(2)).equals(pp.Identity())
        False
        """
        _check_operator(other, "other")
        if self.ndim != other.ndim:
            return False
        return self._declared.equals(other._declared, rtol)

    def __eq__(self, other):
        if not isinstance(other, Operator):
            return NotImplemented
        return self.equals(other)

    __hash__ = None

    # ----------------------------------------------------------------- algebra
    # numpy must not treat an operator as a 0-d object array in ``x @ A``.
    __array_ufunc__ = None

    def __matmul__(self, other):
        if not isinstance(other, Operator):
            raise TypeError(f"A @ B composes operators; got {type(other).__name__} "
                            "on the right (apply an operator with A(x, axis=...))")
        return Compose(self, other)

    def __rmatmul__(self, other):
        raise TypeError(f"A @ B composes operators; got {type(other).__name__} "
                        "on the left (apply an operator with A(x, axis=...))")

    def __add__(self, other):
        if not isinstance(other, Operator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other):
        if not isinstance(other, Operator):
            return NotImplemented
        return Sum(self, other, subtract=True)

    def __mul__(self, c):
        if isinstance(c, Operator):
            raise TypeError("use A @ B to compose operators; * scales by a number")
        if not isinstance(c, numbers.Number) or isinstance(c, bool):
            return NotImplemented
        return Scaled(c, self)

    __rmul__ = __mul__

    def __neg__(self):
        return Scaled(-1, self)

    @property
    def T(self) -> "Operator":
        """Transpose: the adjoint for real operators (rates swap)."""
        return Transpose(self)

    @property
    def H(self) -> "Operator":
        """Conjugate transpose (Hermitian adjoint)."""
        return Transpose(self, conjugate=True)

    # --------------------------------------------------------------- execution
    def __call__(self, x, axis=None, mode="full", channel_axis=None, method="auto"):
        """Apply the operator to ``x`` along its signal axes.

        Parameters
        ----------
        x : array_like
            Signal(s); every axis but the signal axes (and the channel axis of
            an operator that mixes channels) is a batch axis.
        axis : int or tuple of int, optional
            The signal axis (one per signal dimension of the operator);
            default the last ``ndim`` axes.
        mode : {"full", "same", "valid"} or (start, stop)
            Output window (one ``(start, stop)`` per axis for N-D); see
            :mod:`polyphase.finite`.
        channel_axis : int, optional
            For operators that mix channels; default the axis before the
            signal axes (NCW / NCHW).
        method : {"auto", "direct", "fft", "gemm", "winograd"}
            ``"direct"`` runs the numba / BLAS kernels (work proportional to
            the number of taps), ``"fft"`` overlap-save FFTs per polyphase
            component (1-D operators that do not mix channels only; work
            proportional to ``log`` of the filter length), ``"gemm"`` one
            BLAS product per output phase over stacked taps, ``"winograd"``
            the Winograd route for 1-D and 2-D channel-mixing phases made of
            2-tap boxes (stride-2 layers with 4 taps per axis), ``"auto"``
            picks by the cost model of :mod:`polyphase.engine.cost` (and
            Winograd where it applies).

        Returns
        -------
        ndarray
            float32/float64/complex64/complex128 input keeps its dtype (real
            becomes complex for a complex operator); integers become float64.

        Raises
        ------
        ValueError
            For an unknown ``method``, or ``method="fft"`` on an N-D operator
            or one that mixes channels.
        """
        return submodule("polyphase.finite").apply(self, x, axis=axis, mode=mode,
                                                   channel_axis=channel_axis, method=method)

    def on(self, n, mode="full"):
        """The finite map on length-``n`` signals as a scipy ``LinearOperator``.

        ``n`` is a shape for N-D operators; vectors are flattened signals
        (``(C_in, *n)`` for operators that mix channels).

        ``matvec``, ``rmatvec``, ``.T`` and ``.H`` are exact: ``rmatvec`` is
        ``self.H`` applied on the matching window.
        """
        from .finite import FiniteOperator
        return FiniteOperator(self, n, mode)

    def matrix(self, n, mode="full") -> np.ndarray:
        """Dense matrix of the finite map on length-``n`` signals (shape for N-D).

        Examples
        --------
        >>> import polyphase as pp
        >>> pp.Down(2).matrix(4)
        array([[1., 0., 0., 0.],
               [0., 0., 1., 0.]])
        """
        from .finite import dense_matrix
        return dense_matrix(self, n, mode)

    def __repr__(self):
        return self._repr()

    def _repr(self) -> str:
        raise NotImplementedError

    def _wrapped(self, precedence: int) -> str:
        text = self._repr()
        return f"({text})" if self._precedence < precedence else text


def _check_operator(op, name):
    if not isinstance(op, Operator):
        raise TypeError(f"{name} must be a polyphase Operator, "
                        f"got {type(op).__name__}")


def _format_taps(h: np.ndarray, limit: int = 8) -> str:
    if h.ndim > 1:
        if h.size <= limit:
            return repr(h.tolist()).replace(".0,", ",").replace(".0]", "]")
        return f"<{'x'.join(map(str, h.shape))} kernel>"
    def fmt(v):
        if np.iscomplexobj(v):
            return f"{complex(v):.6g}"
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"
    if h.size <= limit:
        return "[" + ", ".join(fmt(v) for v in h) + "]"
    head = ", ".join(fmt(v) for v in h[:3])
    return f"[{head}, ..., {fmt(h[-1])}] ({h.size} taps)"


# -------------------------------------------------------------------- primitives
def _kernel_matrix(h: np.ndarray, channels=None, rows=None, cols=None):
    """Rates-1 polyphase matrix of an FIR kernel whose first ``len(rows)`` axes
    index channels; every entry declares the whole kernel box."""
    nch = 0 if channels is None else 2
    d = h.ndim - nch
    idx = np.nonzero(h)
    k = np.stack(idx[nch:], axis=1) if d else np.zeros((len(idx[0]), 0))
    zeros = np.zeros(len(idx[0]), dtype=np.int64)
    o, i = (idx[0], idx[1]) if nch else (zeros, zeros)
    if rows is not None:
        o, i = rows[o, i], cols[o, i]
    taps = (np.zeros_like(k), np.zeros_like(k), k, o, i, h[idx])
    if nch:
        eo, ei = np.indices(h.shape[:2]).reshape(2, -1)
        if rows is not None:
            eo, ei = rows[eo, ei], cols[eo, ei]
    else:
        eo = ei = np.zeros(1, dtype=np.int64)
    ne = eo.size
    box = np.zeros((ne, d), dtype=np.int64)
    declared = (box, box, eo, ei, box, np.broadcast_to(np.array(h.shape[nch:]) - 1,
                                                         (ne, d)))
    return PolyphaseMatrix.from_taps((1,) * d, (1,) * d, taps, declared, channels)


class Conv(Operator):
    """Convolution with an FIR kernel: ``y = h * x`` (``np.convolve``).

    Parameters
    ----------
    h : array_like
        Kernel; ``h[0]`` acts at delay 0.  A ``d``-dimensional kernel makes a
        ``d``-dimensional operator, acting on the last ``d`` axes.

    Notes
    -----
    Rates ``(1, 1)``; the polyphase matrix is ``[H(z)]``.  ``Conv(h)(x, mode=m)``
    equals ``np.convolve(x, h, mode=m)`` for ``m`` in full/same/valid, and
    ``scipy.signal.convolve`` for N-D kernels.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> pp.Conv([1, 2, 1])(np.array([1., 0, 0, 1]))
    array([1., 2., 1., 1., 2., 1.])
    >>> pp.Conv([[1, 1], [1, 1]])(np.eye(2))
    array([[1., 1., 0.],
           [1., 2., 1.],
           [0., 1., 1.]])
    """

    def __init__(self, h):
        self.h = as_kernel(h, "h", nd=True)
        self.ndim = self.h.ndim

    def _build(self):
        return _kernel_matrix(self.h)

    def _repr(self):
        return f"Conv({_format_taps(self.h)})"


class ChannelConv(Operator):
    """Multi-channel convolution: ``y[o] = sum_i w[o, i] * x[i]`` (``*`` = convolution).

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in / groups, \\*k)
        One kernel per (output, input) channel pair, as in PyTorch's layout;
        ``d = weight.ndim - 2`` signal axes.
    groups : int
        Input and output channels are split into ``groups`` blocks; block
        ``g`` of the output sees only block ``g`` of the input (``groups ==
        C_in == C_out``: depthwise).

    Notes
    -----
    Rates 1 per axis; the polyphase matrix is the ``C_out x C_in`` matrix of
    kernels (zero outside the group blocks).  This is a convolution: PyTorch's
    ``conv`` layers correlate, i.e. use the kernel flipped (see
    :mod:`polyphase.nn`).

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> mix = pp.ChannelConv([[[1., 1.]], [[1., -1.]]])     # 1 -> 2 channels
    >>> mix.channels
    (2, 1)
    >>> mix(np.array([[1., 2., 3.]]))
    array([[ 1.,  3.,  5.,  3.],
           [ 1.,  1.,  1., -3.]])
    """

    def __init__(self, weight, groups=1):
        w = as_kernel(weight, "weight", nd=True)
        if w.ndim < 3:
            raise ValueError(f"weight must have shape (C_out, C_in/groups, *kernel) "
                             f"with at least one kernel axis, got shape {w.shape}")
        self.groups = as_factor(groups, "groups")
        cout, cin_g = w.shape[:2]
        if cout % self.groups:
            raise ValueError(f"weight's C_out={cout} must be divisible by "
                             f"groups={self.groups}")
        self.weight = w
        self.ndim = w.ndim - 2
        self._in_channels = cin_g * self.groups

    def _build(self):
        cout, cin_g = self.weight.shape[:2]
        o, i = np.indices((cout, cin_g))
        cols = (o // (cout // self.groups)) * cin_g + i
        return _kernel_matrix(self.weight, (cout, self._in_channels), o, cols)

    def _repr(self):
        shape = "x".join(map(str, self.weight.shape))
        extra = f", groups={self.groups}" if self.groups != 1 else ""
        return f"ChannelConv(<{shape} weight>{extra})"


class PixelShuffle(Operator):
    """Depth-to-space: ``C * r**d`` channels become ``C`` channels ``r`` times larger.

    Output channel ``c`` at ``(h*r + i, w*r + j)`` is input channel
    ``c*r*r + i*r + j`` at ``(h, w)`` (PyTorch's ``pixel_shuffle`` order).

    Parameters
    ----------
    factor : int
        Upscale factor ``r`` per axis.
    channels : int
        Output channels ``C``.
    ndim : int
        Signal axes (2 for images).

    Notes
    -----
    Rates ``(r, r)``, channels ``(C, C r^2)``: entry ``(phase (i, j), channel
    c)`` of the polyphase matrix reads input channel ``c r^2 + i r + j`` at
    delay 0.  Its transpose is ``pixel_unshuffle`` (space-to-depth).

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> pp.PixelShuffle(2, channels=1)(np.arange(4.).reshape(4, 1, 1))
    array([[[0., 1.],
            [2., 3.]]])
    """

    def __init__(self, factor, channels=1, ndim=2):
        self.factor = as_factor(factor, "factor")
        self.out_channels = as_factor(channels, "channels")
        self.ndim = as_int(ndim, "ndim", minimum=1)

    def _build(self):
        r, C, d = self.factor, self.out_channels, self.ndim
        phases = np.indices((r,) * d).reshape(d, -1).T            # (r**d, d)
        o = np.repeat(np.arange(C), phases.shape[0])
        p = np.tile(phases, (C, 1))
        i = o * r ** d + np.tile(np.arange(phases.shape[0]), C)
        z = np.zeros_like(p)
        return PolyphaseMatrix.from_taps((r,) * d, (1,) * d, (p, z, z, o, i, np.ones(o.size)),
                                         (p, z, o, i, z, z), channels=(C, C * r ** d))

    def _repr(self):
        extra = "" if self.ndim == 2 else f", ndim={self.ndim}"
        return f"PixelShuffle({self.factor}, channels={self.out_channels}{extra})"


def _rate_change(ups, downs, phases) -> PolyphaseMatrix:
    """Operator with a single tap 1 at delay 0 from input phase 0 to each of
    the output ``phases`` (tuples, one entry per axis)."""
    p = np.array(phases, dtype=np.int64).reshape(-1, len(ups))
    z = np.zeros_like(p)
    zc = np.zeros(p.shape[0], dtype=np.int64)
    taps = (p, z, z, zc, zc, np.ones(p.shape[0]))
    return PolyphaseMatrix.from_taps(ups, downs, taps, (p, z, zc, zc, z, z))


def _factor_repr(name, factors):
    return f"{name}({factors[0] if len(factors) == 1 else factors})"


class Up(Operator):
    """Upsampling by zero insertion: ``y[n*factor] = x[n]``, zeros between.

    Notes
    -----
    Rates ``(factor, 1)``; the polyphase matrix is the column ``(1, 0, ..., 0)``.
    On a length-``N`` signal the full output has ``N * factor`` samples.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.Up(3)([1., 2.])
    array([1., 0., 0., 2., 0., 0.])
    """

    def __init__(self, factor):
        self.factors = as_factors(factor, "factor")
        self.factor = self.factors[0] if len(self.factors) == 1 else self.factors
        self.ndim = len(self.factors)

    def _build(self):
        return _rate_change(self.factors, (1,) * self.ndim, [(0,) * self.ndim])

    def _repr(self):
        return _factor_repr("Up", self.factors)


class Down(Operator):
    """Downsampling: keep every ``factor``-th sample, ``y[n] = x[n*factor]``.

    Notes
    -----
    Rates ``(1, factor)``; the polyphase matrix is the row ``(1, 0, ..., 0)``.
    ``Down(M)(x) == x[::M]``.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.Down(2)([1., 2., 3., 4., 5.])
    array([1., 3., 5.])
    """

    def __init__(self, factor):
        self.factors = as_factors(factor, "factor")
        self.factor = self.factors[0] if len(self.factors) == 1 else self.factors
        self.ndim = len(self.factors)

    def _build(self):
        return _rate_change((1,) * self.ndim, self.factors, [(0,) * self.ndim])

    def _repr(self):
        return _factor_repr("Down", self.factors)


class Repeat(Operator):
    """Nearest-neighbour upsampling (zero-order hold): ``np.repeat(x, factor)``.

    Notes
    -----
    Rates ``(factor, 1)``; the polyphase matrix is a column of ones.  It equals
    ``Conv(np.ones(factor)) @ Up(factor)``.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.Repeat(2)([1., 2.])
    array([1., 1., 2., 2.])
    """

    def __init__(self, factor):
        self.factors = as_factors(factor, "factor")
        self.factor = self.factors[0] if len(self.factors) == 1 else self.factors
        self.ndim = len(self.factors)

    def _build(self):
        phases = np.indices(self.factors).reshape(self.ndim, -1).T
        return _rate_change(self.factors, (1,) * self.ndim, phases)

    def _repr(self):
        return _factor_repr("Repeat", self.factors)


class Delay(Operator):
    """Delay by ``d`` samples: ``y[n] = x[n - d]`` (``d < 0`` advances).

    Notes
    -----
    Rates ``(1, 1)``; the polyphase matrix is ``[z^-d]``.  For ``d >= 0``,
    ``Delay(d)(x) == np.convolve(x, [0]*d + [1])``.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.Delay(2)([1., 2.])
    array([0., 0., 1., 2.])
    """

    def __init__(self, d):
        self.delays = tuple(as_int(v, "d") for v in d) if isinstance(d, (tuple, list)) \
            else (as_int(d, "d"),)
        if not self.delays:
            raise ValueError("d must not be empty")
        self.d = self.delays[0] if len(self.delays) == 1 else self.delays
        self.ndim = len(self.delays)

    def _build(self):
        k = np.array([self.delays])
        z = np.zeros_like(k)
        zc = np.zeros(1, dtype=np.int64)
        return PolyphaseMatrix.from_taps((1,) * self.ndim, (1,) * self.ndim,
                                         (z, z, k, zc, zc, np.ones(1)),
                                         (z, z, zc, zc, k, k))

    def _repr(self):
        return f"Delay({self.d})"


class Identity(Operator):
    """The identity operator.

    Examples
    --------
    >>> import polyphase as pp
    >>> (pp.Down(2) @ pp.Up(2)).equals(pp.Identity())
    True
    """

    def __init__(self, ndim=1):
        self.ndim = as_int(ndim, "ndim", minimum=1)

    def _build(self):
        return Delay((0,) * self.ndim)._build()

    def _repr(self):
        return "Identity()" if self.ndim == 1 else f"Identity(ndim={self.ndim})"


class UpFirDn(Operator):
    """Upsample, filter, downsample in one operator: ``Down(down) @ Conv(h) @ Up(up)``.

    The same operator as the composition, with its polyphase matrix written
    down directly instead of multiplied out, which matters for rates such as
    160/147 whose composition passes through a period of 23520.

    Parameters
    ----------
    h : array_like, 1-D
        FIR filter.
    up, down : int
        Factors (>= 1).

    Notes
    -----
    ``y[n] = sum_j h[n*down - j*up] x[j]``.  With ``g = gcd(up, down)``,
    ``L = up/g``, ``M = down/g``, tap ``h[m]`` is used only when ``g`` divides
    ``m``; it sits in entry ``E[p, q]`` at block delay ``k`` where
    ``m = k*L*M*g + p*down - q*up``.

    Examples
    --------
    >>> import polyphase as pp
    >>> op = pp.UpFirDn([1, 2, 3, 4], up=3, down=2)
    >>> op.equals(pp.Down(2) @ pp.Conv([1, 2, 3, 4]) @ pp.Up(3))
    True
    """

    def __init__(self, h, up=1, down=1):
        self.h = as_kernel(h, "h")
        self.up = as_factor(up, "up")
        self.down = as_factor(down, "down")

    def _build(self):
        g = gcd(self.up, self.down)
        L, M = self.up // g, self.down // g
        m = np.arange(0, self.h.size, g)
        # output phase p solves p*M == m/g (mod L); its input sample is
        # j = (p*M - m/g) / L, in phase j mod M of block j // M.
        p = (m // g) * pow(M, -1, L) % L if L > 1 else np.zeros_like(m)
        j = (p * M - m // g) // L
        q, block = j % M, j // M
        z = np.zeros_like(m)
        taps = (p, q, -block, z, z, self.h[m])
        return PolyphaseMatrix.from_taps((L,), (M,), taps, (p, q, z, z, -block, -block))

    def _repr(self):
        return f"UpFirDn({_format_taps(self.h)}, up={self.up}, down={self.down})"


# ------------------------------------------------------------- expression nodes
def _check_same_ndim(ops):
    dims = {op.ndim for op in ops}
    if len(dims) > 1:
        raise ValueError("cannot combine operators acting on different numbers "
                         f"of signal axes: {', '.join(repr(o) for o in ops)} "
                         f"have ndim {[o.ndim for o in ops]}")


class Compose(Operator):
    """Composition ``A @ B @ ...``: the rightmost operator is applied first.

    Built by ``A @ B``; nested compositions are flattened.  Its polyphase
    matrix is the product of the factors' matrices lifted to common periods, so
    the whole chain runs as one pass.

    Examples
    --------
    >>> import polyphase as pp
    >>> op = pp.Down(2) @ pp.Conv([1, 1]) @ pp.Up(3)
    >>> op, op.rates
    (Down(2) @ Conv([1, 1]) @ Up(3), (3, 2))
    >>> op([1., 2.])
    array([1., 0., 2.])
    """

    _precedence = 2

    def __init__(self, *ops):
        if not ops:
            raise ValueError("Compose needs at least one operator")
        for i, op in enumerate(ops):
            _check_operator(op, f"ops[{i}]")
        _check_same_ndim(ops)
        flat = []
        for op in ops:
            flat.extend(op.ops if isinstance(op, Compose) else [op])
        self.ops = tuple(flat)
        self.ndim = flat[0].ndim
        # Fail at construction, not at first use, for mismatched channels.
        flowing = None
        for op in reversed(self.ops):
            if op.channels is None:
                continue
            if flowing is not None and op.channels[1] != flowing:
                raise ValueError(f"channel mismatch in {self!r}: {op!r} takes "
                                 f"{op.channels[1]} channels but receives {flowing}")
            flowing = op.channels[0]

    def _build(self):
        result = self.ops[-1]._declared
        for op in reversed(self.ops[:-1]):
            result = op._declared.compose(result)
        return result

    def _repr(self):
        return " @ ".join(op._wrapped(3) for op in self.ops)


class Sum(Operator):
    """``A + B`` (or ``A - B``): operators with the same rate ratio.

    Examples
    --------
    >>> import polyphase as pp
    >>> hold = pp.Up(2) + pp.Delay(1) @ pp.Up(2)
    >>> hold.equals(pp.Repeat(2))
    True
    >>> pp.Up(2) + pp.Up(3)
    Traceback (most recent call last):
    ...
    ValueError: operators added together must have the same rate ratio up/down, got Up(2) with 2/1 and Up(3) with 3/1
    """

    _precedence = 0

    def __init__(self, a, b, subtract=False):
        _check_operator(a, "a")
        _check_operator(b, "b")
        _check_same_ndim((a, b))
        self.a, self.b, self.subtract = a, b, bool(subtract)
        self.ndim = a.ndim
        # Fail at construction, not at first use, for mismatched rates.
        (La, Ma), (Lb, Mb) = a.rates, b.rates
        if np.any(np.multiply(La, Mb) != np.multiply(Lb, Ma)):
            raise ValueError("operators added together must have the same rate "
                             f"ratio up/down, got {a!r} with {La}/{Ma} and "
                             f"{b!r} with {Lb}/{Mb}")
        if a.channels and b.channels and a.channels != b.channels:
            raise ValueError("operators added together must have the same channels "
                             f"(C_out, C_in), got {a!r} with {a.channels} and "
                             f"{b!r} with {b.channels}")

    def _build(self):
        b = self.b._declared
        return self.a._declared.add(b.scale(-1) if self.subtract else b)

    def _repr(self):
        sign = "-" if self.subtract else "+"
        return f"{self.a._wrapped(0)} {sign} {self.b._wrapped(1)}"


class Scaled(Operator):
    """``c * A`` for a scalar ``c`` (complex allowed).

    Examples
    --------
    >>> import polyphase as pp
    >>> (2 * pp.Conv([1, 3])).equals(pp.Conv([2, 6]))
    True
    """

    _precedence = 1

    def __init__(self, c, op):
        _check_operator(op, "op")
        if not isinstance(c, numbers.Number) or isinstance(c, bool):
            raise TypeError(f"c must be a number, got {type(c).__name__}")
        self.c, self.op = c, op
        self.ndim = op.ndim

    def _build(self):
        return self.op._declared.scale(self.c)

    def _repr(self):
        if self.c == -1:
            return f"-{self.op._wrapped(2)}"
        return f"{self.c!r} * {self.op._wrapped(2)}"


class Transpose(Operator):
    """``A.T`` (``conjugate=False``) or ``A.H`` (``conjugate=True``).

    Rates swap; the polyphase matrix is transposed and every filter
    time-reversed (and conjugated for ``.H``).  The transpose of a strided
    convolution is the transposed ("deconvolution") layer.

    Examples
    --------
    >>> import polyphase as pp
    >>> (pp.Down(2) @ pp.Conv([1, 2, 3])).T.equals(pp.Conv([1, 2, 3]).T @ pp.Up(2))
    True
    >>> pp.Conv([1, 2, 3]).T.equals(pp.Delay(-2) @ pp.Conv([3, 2, 1]))
    True
    """

    def __init__(self, op, conjugate=False):
        _check_operator(op, "op")
        self.op, self.conjugate = op, bool(conjugate)
        self.ndim = op.ndim

    @property
    def T(self):
        # (A.T).T is A; (A.H).T is conj(A), which we keep as an expression.
        return self.op if not self.conjugate else Transpose(self, False)

    @property
    def H(self):
        return self.op if self.conjugate else Transpose(self, True)

    def _build(self):
        return self.op._declared.transpose(conjugate=self.conjugate)

    def _repr(self):
        return f"{self.op._wrapped(3)}.{'H' if self.conjugate else 'T'}"

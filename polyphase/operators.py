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

from ._validation import as_factor, as_int, as_kernel
from .system import DEFAULT_RTOL, PolyphaseMatrix

__all__ = ["Operator", "Conv", "Up", "Down", "Repeat", "Delay", "Identity",
           "UpFirDn", "Compose", "Sum", "Scaled", "Transpose"]


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
        return self._declared.canonical()

    def polyphase(self) -> PolyphaseMatrix:
        """The canonical polyphase matrix of the operator.

        Shortest period, zero taps trimmed: two operators are equal exactly when
        their canonical matrices are.  ``E.up, E.down`` are the rates,
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
    def rates(self) -> tuple[int, int]:
        """``(up, down)``: output and input samples per period (canonical)."""
        return self._canonical.up, self._canonical.down

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
    def __call__(self, x, axis=-1, mode="full"):
        """Apply the operator to ``x`` along ``axis``.

        Parameters
        ----------
        x : array_like
            Signal(s); every axis but ``axis`` is a batch axis.
        axis : int
            The signal axis.
        mode : {"full", "same", "valid"} or (start, stop)
            Output window; see :mod:`polyphase.finite`.

        Returns
        -------
        ndarray
            float32/float64/complex64/complex128 input keeps its dtype (real
            becomes complex for a complex operator); integers become float64.
        """
        from .finite import apply
        return apply(self, x, axis=axis, mode=mode)

    def on(self, n, mode="full"):
        """The finite map on length-``n`` signals as a scipy ``LinearOperator``.

        ``matvec``, ``rmatvec``, ``.T`` and ``.H`` are exact: ``rmatvec`` is
        ``self.H`` applied on the matching window.
        """
        from .finite import FiniteOperator
        return FiniteOperator(self, n, mode)

    def matrix(self, n, mode="full") -> np.ndarray:
        """Dense matrix of the finite map on length-``n`` signals.

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
class Conv(Operator):
    """Convolution with an FIR kernel: ``y = h * x`` (``np.convolve``).

    Parameters
    ----------
    h : array_like, 1-D
        Kernel; ``h[0]`` acts at delay 0.

    Notes
    -----
    Rates ``(1, 1)``; the polyphase matrix is ``[H(z)]``.  ``Conv(h)(x, mode=m)``
    equals ``np.convolve(x, h, mode=m)`` for ``m`` in full/same/valid.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> pp.Conv([1, 2, 1])(np.array([1., 0, 0, 1]))
    array([1., 2., 1., 1., 2., 1.])
    """

    def __init__(self, h):
        self.h = as_kernel(h, "h")

    def _build(self):
        K = self.h.size
        return PolyphaseMatrix(1, 1, self.h[None, None, :], 0,
                               np.zeros((1, 1)), np.full((1, 1), K - 1))

    def _repr(self):
        return f"Conv({_format_taps(self.h)})"


def _rate_change(L: int, M: int, rows) -> PolyphaseMatrix:
    """(L, M) operator with a single tap 1 at delay 0 in the entries ``rows``."""
    coef = np.zeros((L, M, 1))
    lo, hi = np.ones((L, M)), np.zeros((L, M))
    for p, q in rows:
        coef[p, q, 0] = 1.0
        lo[p, q] = hi[p, q] = 0
    return PolyphaseMatrix(L, M, coef, 0, lo, hi)


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
        self.factor = as_factor(factor, "factor")

    def _build(self):
        return _rate_change(self.factor, 1, [(0, 0)])

    def _repr(self):
        return f"Up({self.factor})"


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
        self.factor = as_factor(factor, "factor")

    def _build(self):
        return _rate_change(1, self.factor, [(0, 0)])

    def _repr(self):
        return f"Down({self.factor})"


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
        self.factor = as_factor(factor, "factor")

    def _build(self):
        return _rate_change(self.factor, 1, [(p, 0) for p in range(self.factor)])

    def _repr(self):
        return f"Repeat({self.factor})"


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
        self.d = as_int(d, "d")

    def _build(self):
        return PolyphaseMatrix(1, 1, np.ones((1, 1, 1)), self.d,
                               np.full((1, 1), self.d), np.full((1, 1), self.d))

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

    def _build(self):
        return PolyphaseMatrix(1, 1, np.ones((1, 1, 1)), 0,
                               np.zeros((1, 1)), np.zeros((1, 1)))

    def _repr(self):
        return "Identity()"


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
        taps = (p, q, -block, self.h[m])
        return PolyphaseMatrix.from_taps(L, M, taps, (p, q, -block, -block))

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
        La, Ma = a.rates
        Lb, Mb = b.rates
        if La * Mb != Lb * Ma:
            raise ValueError("operators added together must have the same rate "
                             f"ratio up/down, got {a!r} with {La}/{Ma} and "
                             f"{b!r} with {Lb}/{Mb}")

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

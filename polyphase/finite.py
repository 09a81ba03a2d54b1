"""Finite arrays: output windows and the finite map of an operator.

An array of length ``N`` is the sequence that is zero outside ``[0, N)``.  An
operator maps it to an infinite output sequence; applying the operator returns a
*window* ``[start, stop)`` of that sequence (output sample indices):

``"full"``
    Every output sample the input can reach, through the operator's declared
    taps, rounded up to whole output periods at the end, and starting at index
    0 unless the operator reaches earlier (negative delays).  ``Up(L)`` gives
    ``N*L`` samples, ``Down(M)`` ``ceil(N/M)``, ``Conv(h)`` ``N + len(h) - 1``.
``"same"``
    ``max(R, F - R + 1)`` samples centred on ``full`` (``F`` its length, ``R =
    ceil(N*L/M)`` the length the rates imply), with the extra sample, if any,
    at the end: numpy's rule for ``np.convolve(..., "same")`` generalised.
``"valid"``
    The samples that do not depend on the zeros outside the input.  When there
    are none and the operator is a plain convolution with a kernel longer than
    the signal, numpy's convention applies: the samples that see all of the
    input.
``(start, stop)``
    An explicit window of output indices.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._validation import as_axis, as_int, as_signal, signal_dtype
from .system import PolyphaseMatrix

__all__ = ["MODES", "output_window", "apply", "apply_window", "FiniteOperator",
           "dense_matrix"]

MODES = ("full", "same", "valid")
_BIG = np.iinfo(np.int64).max // 4


def _last_input_block(pm: PolyphaseMatrix, n: int) -> np.ndarray:
    """For each declared entry, the last block of its input phase (< 0: empty)."""
    return (n - 1 - pm.dq) // pm.down


def _full(pm: PolyphaseMatrix, n: int) -> tuple[int, int]:
    J = _last_input_block(pm, n)
    reach = J >= 0
    if n == 0 or not reach.any():
        return 0, 0
    first = int((pm.dlo[reach] * pm.up + pm.dp[reach]).min())
    last_block = int((pm.dhi[reach] + J[reach]).max())
    return min(0, first), pm.up * (last_block + 1)


def _valid(pm: PolyphaseMatrix, n: int, full: tuple[int, int]) -> tuple[int, int]:
    """Largest window inside ``full`` whose samples see no padding zeros.

    Output phase ``p`` of block ``b`` reads input blocks ``b - hi .. b - lo`` of
    phase ``q`` for each declared entry, so it is clean for
    ``max(hi) <= b <= min(lo + J_q)``; phases with no declared entry are
    structurally zero and always clean.
    """
    L = pm.up
    start, stop = full
    J = _last_input_block(pm, n)
    if pm.dp.size and n > 0:
        if np.any(J < 0):
            stop = start                          # some tap always sees padding
        else:
            vlo = np.full(L, -_BIG)
            vhi = np.full(L, _BIG)
            np.maximum.at(vlo, pm.dp, pm.dhi)
            np.minimum.at(vhi, pm.dp, pm.dlo + J)
            phases = np.unique(pm.dp)
            start = max(start, int(((vlo[phases] - 1) * L + phases + 1).max()))
            stop = min(stop, int(((vhi[phases] + 1) * L + phases - 1).min()) + 1)
    if stop <= start and pm.up == pm.down == 1 and pm.dp.size and n > 0:
        # numpy's 'valid' for a kernel longer than the signal: the samples
        # whose kernel window covers the whole input.
        start, stop = n - 1 + int(pm.dlo[0]), int(pm.dhi[0]) + 1
    return start, max(start, stop)


def output_window(pm: PolyphaseMatrix, n: int, mode="full") -> tuple[int, int]:
    """Output index window ``[start, stop)`` of ``mode`` for a length-``n`` input.

    Parameters
    ----------
    pm : PolyphaseMatrix
        The operator's polyphase matrix with declared supports.
    n : int
        Input length.
    mode : {"full", "same", "valid"} or (start, stop)

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase.finite import output_window
    >>> output_window(pp.Conv([1, 2, 3])._declared, 5, "valid")
    (2, 5)
    """
    if isinstance(mode, str):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES} or a (start, stop) "
                             f"window, got {mode!r}")
        full = _full(pm, n)
        if mode == "full":
            return full
        if mode == "valid":
            return _valid(pm, n, full)
        natural = -(-n * pm.up // pm.down)
        flen = full[1] - full[0]
        length = max(natural, flen - natural + 1) if n > 0 else 0
        begin = full[0] + (flen - length) // 2
        return begin, begin + length
    if isinstance(mode, (tuple, list)) and len(mode) == 2:
        start = as_int(mode[0], "mode[0] (window start)")
        stop = as_int(mode[1], "mode[1] (window stop)")
        if stop < start:
            raise ValueError(f"mode window must have start <= stop, got {tuple(mode)}")
        return start, stop
    raise ValueError(f"mode must be one of {MODES} or a (start, stop) window, "
                     f"got {mode!r}")


def apply_window(op, x: np.ndarray, axis: int, window, in_origin: int = 0):
    """Output indices ``window = (start, stop)`` of ``op`` applied along ``axis``.

    No argument checks (callers validate).  ``x[..., i, ...]`` is the input
    sample at index ``in_origin + i``: the adjoint of a finite map reads a
    signal that starts at its window's first index.
    """
    from .engine import run
    start, stop = window
    dtype = signal_dtype(x.dtype, op.is_complex)
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    batch = moved.shape[:-1]
    lanes = moved.reshape(int(np.prod(batch)), n)
    out = run(op.polyphase(), lanes, dtype, in_origin, start, stop - start)
    return np.moveaxis(out.reshape(batch + (stop - start,)), -1, axis)


def apply(op, x, axis=-1, mode="full") -> np.ndarray:
    """Apply operator ``op`` to ``x`` along ``axis``; see :meth:`Operator.__call__`."""
    x = as_signal(x)
    axis = as_axis(axis, x.ndim)
    window = output_window(op._declared, x.shape[axis], mode)
    return apply_window(op, x, axis, window)


def dense_matrix(op, n, mode="full") -> np.ndarray:
    """Dense matrix of ``op`` on length-``n`` signals (columns: unit impulses)."""
    n = as_int(n, "n", minimum=0)
    dtype = np.complex128 if op.is_complex else np.float64
    return apply(op, np.eye(n, dtype=dtype), axis=0, mode=mode)


class FiniteOperator(LinearOperator):
    """The finite map of ``op`` on length-``n`` signals, a scipy ``LinearOperator``.

    ``matvec`` applies ``op`` and returns ``mode``'s window; ``rmatvec`` applies
    ``op.H`` to a signal that starts at the window's first index and returns
    indices ``[0, n)``: the exact adjoint of the finite map, so ``.T`` and
    ``.H`` (scipy derives them from ``rmatvec``) are exact too.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> A = pp.Down(2).on(4)
    >>> A.shape
    (2, 4)
    >>> A.rmatvec(np.array([1., 2.]))
    array([1., 0., 2., 0.])
    """

    def __init__(self, op, n, mode="full"):
        n = as_int(n, "n", minimum=0)
        self.op, self.mode = op, mode
        self.window = output_window(op._declared, n, mode)
        dtype = np.complex128 if op.is_complex else np.float64
        super().__init__(dtype=np.dtype(dtype),
                         shape=(self.window[1] - self.window[0], n))

    def _matmat(self, X):
        return apply_window(self.op, as_signal(X, "X"), 0, self.window)

    def _rmatmat(self, Y):
        return apply_window(self.op.H, as_signal(Y, "Y"), 0, (0, self.shape[1]),
                          in_origin=self.window[0])

    def _matvec(self, x):
        return self._matmat(np.asarray(x).reshape(-1, 1)).ravel()

    def _rmatvec(self, y):
        return self._rmatmat(np.asarray(y).reshape(-1, 1)).ravel()

    def __repr__(self):
        m, n = self.shape
        return f"<{m}x{n} finite map of {self.op!r} on window {self.window}>"

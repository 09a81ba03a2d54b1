"""The finite map of an operator as a scipy ``LinearOperator``:
:class:`polyphase.finite.FiniteOperator`, defined here.

A module of its own so that :mod:`polyphase.finite`, which every call of the
engine goes through, does not import ``scipy.sparse`` (0.1-0.2 s on a first
``upfirdn``); building a finite map does.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._validation import as_signal
from .finite import _domain, _shape, apply_window, windows_for


class FiniteOperator(LinearOperator):
    """The finite map of ``op`` on signals of length (shape) ``n``, a scipy ``LinearOperator``.

    Vectors are flattened signals: ``(C_in, *n)`` in, ``(C_out, *window)`` out
    for an operator that mixes channels (``x_shape`` and ``y_shape``).  ``matvec`` applies ``op`` and returns
    ``mode``'s window; ``rmatvec`` applies ``op.H`` to a signal that starts at
    the window's first index and returns indices ``[0, n)``: the exact adjoint
    of the finite map, so ``.T`` and ``.H`` (scipy derives them from
    ``rmatvec``) are exact too.

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
        self.op, self.mode = op, mode
        self.in_shape = _shape(n, op.ndim)
        windows = windows_for(op._declared, self.in_shape, mode)
        self.windows = windows
        self.window = windows[0] if op.ndim == 1 else tuple(windows)
        self.out_shape = tuple(w[1] - w[0] for w in windows)
        self.x_shape = _domain(op, self.in_shape)
        self.y_shape = self.out_shape if op.channels is None else \
            (op.channels[0],) + self.out_shape
        dtype = np.complex128 if op.is_complex else np.float64
        super().__init__(dtype=np.dtype(dtype),
                         shape=(int(np.prod(self.y_shape)), int(np.prod(self.x_shape))))

    def _apply(self, op, X, in_shape, out_windows, in_origin):
        d = self.op.ndim
        k = X.shape[1]
        # The k vectors stay along the last axis, as in X: a 1-D operator then
        # runs along axis 0 with the vectors contiguous (no transposed copy).
        signals = np.asarray(X).reshape(in_shape + (k,))
        cax = 0 if op.channels is not None else None
        axes = list(range(len(in_shape) - d, len(in_shape)))
        out = apply_window(op, as_signal(signals, "X"), axes, out_windows, in_origin,
                           channel_axis=cax)
        return out.reshape(int(np.prod(out.shape[:-1])), k)

    def _matmat(self, X):
        return self._apply(self.op, X, self.x_shape, self.windows, None)

    def _rmatmat(self, Y):
        return self._apply(self.op.H, Y, self.y_shape,
                           [(0, n) for n in self.in_shape],
                           tuple(w[0] for w in self.windows))

    def _matvec(self, x):
        return self._matmat(np.asarray(x).reshape(-1, 1)).ravel()

    def _rmatvec(self, y):
        return self._rmatmat(np.asarray(y).reshape(-1, 1)).ravel()

    def __repr__(self):
        m, n = self.shape
        return f"<{m}x{n} finite map of {self.op!r} on window {self.window}>"


# documented, pickled and shown as polyphase.finite.FiniteOperator, which
# resolves to this class
FiniteOperator.__module__ = "polyphase.finite"

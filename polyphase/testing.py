"""Checks for operators: adjoint identity, dense matrices, batching, dtypes.

:func:`check_operator` runs every property an operator must have on signals of
one length; :func:`assert_equivalent` compares two operators numerically.  Both
raise ``AssertionError`` with the measured error in the message.

:func:`reference_matrix` builds the dense matrix of a finite map straight from
the polyphase matrix with numpy, independently of the numba engine, so the
checks compare the engine against a second implementation.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_int
from .finite import output_window

__all__ = ["check_operator", "assert_equivalent", "reference_matrix"]

_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


def reference_matrix(op, n, mode="full") -> np.ndarray:
    """Dense matrix of ``op`` on length-``n`` signals, computed in numpy.

    Row ``i`` is output index ``window[0] + i``: output phase ``p`` of block
    ``b`` receives ``c`` from input ``(b - k)*M + q`` for every tap ``(q, k, c)``
    of row ``p`` of the canonical polyphase matrix.

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase.testing import reference_matrix
    >>> reference_matrix(pp.Up(2), 2)
    array([[1., 0.],
           [0., 0.],
           [0., 1.],
           [0., 0.]])
    """
    n = as_int(n, "n", minimum=0)
    start, stop = output_window(op._declared, n, mode)
    pm = op.polyphase()
    L, M = pm.up, pm.down
    dtype = np.complex128 if pm.is_complex else np.float64
    D = np.zeros((stop - start, n), dtype=dtype)
    out_idx = np.arange(start, stop)
    block, phase = np.divmod(out_idx, L)
    for p, q, k, c in zip(pm.p, pm.q, pm.k, pm.c):
        rows = np.flatnonzero(phase == p)
        src = (block[rows] - k) * M + q
        ok = (src >= 0) & (src < n)
        D[rows[ok], src[ok]] += c
    return D


def _tolerance(dtype) -> float:
    return 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-11


def _random(rng, shape, complex_=False):
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    return x


def _close(actual, expected, rtol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != {expected.shape}")
    scale = max(np.abs(expected).max(initial=0), 1.0)
    err = np.abs(actual - expected).max(initial=0) / scale
    if not err <= rtol:
        raise AssertionError(f"{what}: max error {err:.3g} (relative to "
                             f"{scale:.3g}) exceeds {rtol:.1g}")


def check_operator(op, n, mode="full", *, trials=3, rng=None):
    """Assert that ``op`` behaves as one consistent linear map on length ``n``.

    Checks, on ``mode``'s window:

    * dot-product (adjoint) identity ``<A x, y> == <x, A^H y>`` over ``trials``
      random real and complex pairs; the message gives the normalised error
      and the fitted scale factor ``<A x, y> / <x, A^H y>`` (a factor other
      than 1 points at a missing gain, e.g. ``L``, in the adjoint);
    * ``.T`` against ``.H``: ``A^T y == conj(A^H conj(y))``;
    * dense ``matrix(n)`` against :func:`reference_matrix` (numpy), against
      ``on(n).matvec`` and against direct application ``op(x)``;
    * batch consistency: a batch along axis 0 and along the last axis gives
      the per-signal results;
    * dtype preservation for float32, float64, complex64 and complex128, with
      float32 accuracy against the float64 result.

    Parameters
    ----------
    op : Operator
    n : int
        Input length.
    mode : str or (start, stop)
        Output window.
    trials : int
        Random pairs for the dot-product test.
    rng : numpy.random.Generator, optional

    Raises
    ------
    AssertionError
        With the failed property and the measured error.

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase.testing import check_operator
    >>> check_operator(pp.Down(2) @ pp.Conv([1, 2, 1]), 9)
    """
    rng = np.random.default_rng(0) if rng is None else rng
    n = as_int(n, "n", minimum=0)
    A = op.on(n, mode)
    m = A.shape[0]
    label = f"{op!r} on n={n}, mode={mode!r}"

    # dot-product test, real and complex
    for t in range(trials):
        cplx = t % 2 == 1 or op.is_complex
        x, y = _random(rng, n, cplx), _random(rng, m, cplx)
        Ax, AHy = A.matvec(x), A.rmatvec(y)
        lhs, rhs = np.vdot(y, Ax), np.vdot(AHy, x)
        norm = np.linalg.norm(Ax) * np.linalg.norm(y) + \
            np.linalg.norm(x) * np.linalg.norm(AHy)
        err = abs(lhs - rhs) / norm if norm else abs(lhs - rhs)
        if not err <= 1e-12:
            scale = lhs / rhs if rhs else np.inf
            raise AssertionError(
                f"{label}: dot-product test failed: <Ax, y> = {lhs:.6g}, "
                f"<x, A^H y> = {rhs:.6g}, normalised error {err:.3g}, "
                f"fitted scale factor {scale:.6g}")

    # .T against .H
    y = _random(rng, m, True)
    _close(A.T.matvec(y), np.conj(A.H.matvec(np.conj(y))), 1e-12,
           f"{label}: A.T y != conj(A.H conj(y))")
    # the adjoint through the algebra: op.T on a signal that starts at the
    # window's first index is op.T @ Delay(start) on an array
    from .operators import Delay
    shifted = op.T @ Delay(A.window[0])
    _close(shifted(y, mode=(0, n)), A.T.matvec(y), 1e-12,
           f"{label}: (op.T @ Delay(start))(y) != on(n).T y")

    # dense matrix: reference (numpy) vs engine vs LinearOperator vs direct
    D = op.matrix(n, mode)
    _close(D, reference_matrix(op, n, mode), 1e-12,
           f"{label}: matrix() != numpy reference matrix")
    x = _random(rng, n, op.is_complex)
    _close(A.matvec(x), D @ x, 1e-12, f"{label}: on(n).matvec != matrix @ x")
    _close(op(x, mode=mode), D @ x, 1e-12, f"{label}: op(x) != matrix @ x")
    _close(A.rmatvec(y), D.conj().T @ y, 1e-12,
           f"{label}: on(n).rmatvec != matrix^H @ y")

    # batches along both ends
    X = _random(rng, (3, n), op.is_complex)
    expected = np.stack([D @ row for row in X])
    _close(op(X, axis=-1, mode=mode), expected, 1e-12, f"{label}: batch, axis=-1")
    _close(op(X.T, axis=0, mode=mode), expected.T, 1e-12, f"{label}: batch, axis=0")

    # dtypes
    for dtype in _DTYPES:
        xd = _random(rng, n, np.dtype(dtype).kind == "c").astype(dtype)
        out = op(xd, mode=mode)
        want = np.result_type(dtype, np.complex64) if op.is_complex else np.dtype(dtype)
        if out.dtype != want:
            raise AssertionError(f"{label}: {np.dtype(dtype)} input gave "
                                 f"{out.dtype} output, expected {want}")
        _close(out, D @ xd.astype(np.complex128), _tolerance(dtype),
               f"{label}: {np.dtype(dtype)} accuracy")


def assert_equivalent(a, b, n=(1, 2, 5, 16), *, rtol=1e-10, rng=None):
    """Assert that operators ``a`` and ``b`` compute the same map, numerically.

    Both (and their adjoints) are applied to random signals of each length in
    ``n`` and compared on one window, aligned by output index, that covers both
    full windows -- so a sample one operator puts where the other has none must
    be zero.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.testing import assert_equivalent
    >>> assert_equivalent(pp.Repeat(2), pp.Conv([1, 1]) @ pp.Up(2))
    """
    rng = np.random.default_rng(1) if rng is None else rng
    lengths = (n,) if np.isscalar(n) else tuple(n)
    for length in lengths:
        length = as_int(length, "n", minimum=1)
        for name, fa, fb in (("A", a, b), ("A.H", a.H, b.H)):
            (a0, a1), (b0, b1) = (output_window(f._declared, length, "full")
                                  for f in (fa, fb))
            window = (min(a0, b0), max(a1, b1))
            x = _random(rng, length, True)
            _close(fa(x, mode=window), fb(x, mode=window), rtol,
                   f"{name} x differs for {a!r} and {b!r} (n={length}, "
                   f"output indices {window})")

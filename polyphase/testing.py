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
from .finite import FiniteOperator, output_window

__all__ = ["check_operator", "assert_equivalent", "reference_matrix"]

_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


def reference_matrix(op, n, mode="full") -> np.ndarray:
    """Dense matrix of ``op`` on length-``n`` (shape-``n``) signals, in numpy.

    Along each axis, output phase ``p`` of block ``b`` receives ``c`` from input
    ``(b - k)*M + q`` for every tap ``(p, q, k, c)`` of the canonical
    polyphase matrix (from input channel ``i`` to output channel ``o``).  Rows
    and columns are flattened like :class:`~polyphase.finite.FiniteOperator`'s.

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
    A = FiniteOperator(op, n, mode)
    pm = op.polyphase()
    D = np.zeros(A.shape, dtype=np.complex128 if pm.is_complex else np.float64)
    phase_block = [np.divmod(np.arange(w0, w1), L)[::-1]
                   for (w0, w1), L in zip(A.windows, pm.ups)]
    n_out, n_in = int(np.prod(A.out_shape)), int(np.prod(A.in_shape))
    for p, q, k, o, i, c in zip(*pm._taps()):
        rows, srcs = [], []
        for a, (phase, block) in enumerate(phase_block):
            sel = np.flatnonzero(phase == p[a])
            src = (block[sel] - k[a]) * pm.downs[a] + q[a]
            ok = (src >= 0) & (src < A.in_shape[a])
            rows.append(sel[ok])
            srcs.append(src[ok])
        r = np.ravel_multi_index(np.ix_(*rows), A.out_shape) if all(map(len, rows)) \
            else np.zeros(0, dtype=int)
        s = np.ravel_multi_index(np.ix_(*srcs), A.in_shape) if all(map(len, srcs)) \
            else np.zeros(0, dtype=int)
        D[o * n_out + np.ravel(r), i * n_in + np.ravel(s)] += c
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
    n : int or tuple of int
        Input length (shape for N-D operators).
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
    A = op.on(n, mode)
    m, nflat = A.shape
    d = op.ndim
    label = f"{op!r} on n={n}, mode={mode!r}"

    # dot-product test, real and complex
    for t in range(trials):
        cplx = t % 2 == 1 or op.is_complex
        x, y = _random(rng, nflat, cplx), _random(rng, m, cplx)
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
    starts = tuple(w[0] for w in A.windows)
    shifted = op.T @ Delay(starts if d > 1 else starts[0])
    back = [(0, k) for k in A.in_shape]
    _close(shifted(y.reshape(A.y_shape), mode=back if d > 1 else back[0]).ravel(),
           A.T.matvec(y), 1e-12, f"{label}: (op.T @ Delay(start))(y) != on(n).T y")

    # dense matrix: reference (numpy) vs engine vs LinearOperator vs direct
    D = op.matrix(n, mode)
    _close(D, reference_matrix(op, n, mode), 1e-12,
           f"{label}: matrix() != numpy reference matrix")
    x = _random(rng, nflat, op.is_complex)
    _close(A.matvec(x), D @ x, 1e-12, f"{label}: on(n).matvec != matrix @ x")
    _close(op(x.reshape(A.x_shape), mode=mode).ravel(), D @ x, 1e-12,
           f"{label}: op(x) != matrix @ x")
    _close(A.rmatvec(y), D.conj().T @ y, 1e-12,
           f"{label}: on(n).rmatvec != matrix^H @ y")

    # batches in front and behind
    X = _random(rng, (3, nflat), op.is_complex)
    expected = (X @ D.T).reshape((3,) + A.y_shape)
    signals = X.reshape((3,) + A.x_shape)
    _close(op(signals, mode=mode), expected, 1e-12, f"{label}: batch in front")
    nch = 0 if op.channels is None else 1
    behind = np.moveaxis(signals, 0, -1)
    got = op(behind, axis=tuple(range(nch, nch + d)), mode=mode,
             channel_axis=0 if nch else None)
    _close(np.moveaxis(got, -1, 0), expected, 1e-12, f"{label}: batch behind")

    # dtypes
    for dtype in _DTYPES:
        xd = _random(rng, nflat, np.dtype(dtype).kind == "c").astype(dtype)
        out = op(xd.reshape(A.x_shape), mode=mode)
        want = np.result_type(dtype, np.complex64) if op.is_complex else np.dtype(dtype)
        if out.dtype != want:
            raise AssertionError(f"{label}: {np.dtype(dtype)} input gave "
                                 f"{out.dtype} output, expected {want}")
        _close(out.ravel(), D @ xd.astype(np.complex128), _tolerance(dtype),
               f"{label}: {np.dtype(dtype)} accuracy")


def assert_equivalent(a, b, n=(1, 2, 5, 16), *, rtol=1e-10, rng=None):
    """Assert that operators ``a`` and ``b`` compute the same map, numerically.

    Both (and their adjoints) are applied to random signals of each length in
    ``n`` (each an int, or a shape for N-D operators; an int means the same
    length on every axis) and compared on one window per axis, aligned by
    output index, that covers both full windows -- so a sample one operator
    puts where the other has none must be zero.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.testing import assert_equivalent
    >>> assert_equivalent(pp.Repeat(2), pp.Conv([1, 1]) @ pp.Up(2))
    """
    from .finite import windows_for
    rng = np.random.default_rng(1) if rng is None else rng
    sizes = [n] if np.isscalar(n) or (isinstance(n, tuple) and a.ndim > 1
                                       and all(np.isscalar(v) for v in n)
                                       and len(n) == a.ndim) else list(n)
    for size in sizes:
        shape = (size,) * a.ndim if np.isscalar(size) else tuple(size)
        shape = tuple(as_int(v, "n", minimum=1) for v in shape)
        for name, fa, fb in (("A", a, b), ("A.H", a.H, b.H)):
            wa, wb = (windows_for(f._declared, shape, "full") for f in (fa, fb))
            windows = [(min(x0, y0), max(x1, y1)) for (x0, x1), (y0, y1) in zip(wa, wb)]
            channels = fa.channels or fb.channels
            x = _random(rng, ((channels[1],) if channels else ()) + shape, True)
            mode = windows if a.ndim > 1 else windows[0]
            _close(fa(x, mode=mode), fb(x, mode=mode), rtol,
                   f"{name} x differs for {a!r} and {b!r} (n={shape}, "
                   f"output indices {windows})")

"""Finite arrays: output windows and the finite map of an operator.

An array of length ``N`` is the sequence that is zero outside ``[0, N)``.  An
operator maps it to an infinite output sequence; applying the operator returns a
*window* ``[start, stop)`` of that sequence (output sample indices), chosen per
signal axis:

``"full"``
    Every output sample the input can reach, through the operator's declared
    taps, rounded up to whole output periods at the end, and starting at index
    0 unless the operator reaches earlier (negative delays).  ``Up(L)`` gives
    ``N*L`` samples, ``Down(M)`` ``ceil(N/M)``, ``Conv(h)`` ``N + len(h) - 1``.
``"same"``
    ``R = ceil(N*L/M)`` samples, the length the rates imply, centred on
    ``full`` (the extra sample, if any, at the end), as ``scipy.signal.convolve``
    does.  1-D operators follow ``np.convolve`` when the kernel is longer than
    the signal: ``max(R, F - R + 1)`` samples, ``F`` the full length.
``"valid"``
    The samples that do not depend on the zeros outside the input.  When there
    are none along an axis on which the operator is a plain convolution with a
    kernel longer than the signal, numpy's convention applies: the samples that
    see all of the input.
``(start, stop)``
    An explicit window of output indices (a tuple of them for N-D operators).

Operators that mix channels read the channel axis just before the signal axes
(``channel_axis=`` to choose), as in PyTorch's NCW/NCHW layout.
"""

from __future__ import annotations

import math

import numpy as np

from ._lazy import submodule
from ._validation import as_axis, as_int, as_method, as_signal, signal_dtype
from .system import PolyphaseMatrix

__all__ = ["MODES", "output_window", "apply", "apply_window", "FiniteOperator",
           "dense_matrix"]

MODES = ("full", "same", "valid")
_BIG = np.iinfo(np.int64).max // 4


def _reaching(pm: PolyphaseMatrix, shape) -> tuple[np.ndarray, np.ndarray]:
    """Last input block of each declared entry's phase per axis, and whether
    the entry reads any input at all."""
    J = (np.asarray(shape) - 1 - pm.dq) // np.asarray(pm.downs)   # (entries, d)
    return J, np.all(J >= 0, axis=1)


def _full(pm: PolyphaseMatrix, shape) -> list[tuple[int, int]]:
    J, reach = _reaching(pm, shape)
    if min(shape, default=1) == 0 or not reach.any():
        return [(0, 0)] * pm.ndim
    windows = []
    for a, L in enumerate(pm.ups):
        first = int((pm.dlo[reach, a] * L + pm.dp[reach, a]).min())
        last_block = int((pm.dhi[reach, a] + J[reach, a]).max())
        windows.append((min(0, first), L * (last_block + 1)))
    return windows


def _valid(pm: PolyphaseMatrix, shape, full) -> list[tuple[int, int]]:
    """Largest box inside ``full`` whose samples see no padding zeros.

    Along axis ``a``, output phase ``p`` of block ``b`` reads input blocks
    ``b - hi .. b - lo`` of phase ``q`` for each declared entry, so it is clean
    for ``max(hi) <= b <= min(lo + J_q)``; phases with no declared entry are
    structurally zero and always clean.
    """
    J, reach = _reaching(pm, shape)
    windows = []
    for a, (L, M) in enumerate(zip(pm.ups, pm.downs)):
        start, stop = full[a]
        if pm.dp.shape[0] and min(shape) > 0:
            if not reach.all():
                stop = start                      # some tap always sees padding
            else:
                vlo = np.full(L, -_BIG)
                vhi = np.full(L, _BIG)
                np.maximum.at(vlo, pm.dp[:, a], pm.dhi[:, a])
                np.minimum.at(vhi, pm.dp[:, a], pm.dlo[:, a] + J[:, a])
                phases = np.unique(pm.dp[:, a])
                start = max(start, int(((vlo[phases] - 1) * L + phases + 1).max()))
                stop = min(stop, int(((vhi[phases] + 1) * L + phases - 1).min()) + 1)
            if stop <= start and L == M == 1 and reach.all():
                # numpy's 'valid' for a kernel longer than the signal: the
                # samples whose kernel window covers the whole input.
                start = shape[a] - 1 + int(pm.dlo[:, a].min())
                stop = int(pm.dhi[:, a].max()) + 1
        windows.append((start, max(start, stop)))
    return windows


def _same(pm: PolyphaseMatrix, shape, full) -> list[tuple[int, int]]:
    windows = []
    for a, (L, M) in enumerate(zip(pm.ups, pm.downs)):
        n = shape[a]
        natural = -(-n * L // M)
        flen = full[a][1] - full[a][0]
        length = natural
        if pm.ndim == 1 and n > 0:
            length = max(natural, flen - natural + 1)
        begin = full[a][0] + (flen - length) // 2
        windows.append((begin, begin + length))
    return windows


def _explicit(mode, ndim: int) -> list[tuple[int, int]]:
    # a 1-D window may be given bare, (start, stop), or as [(start, stop)]
    bare = ndim == 1 and len(mode) == 2 and not isinstance(mode[0], (tuple, list))
    pairs = [mode] if bare else list(mode)
    if len(pairs) != ndim:
        raise ValueError(f"mode must give one (start, stop) window per signal axis "
                         f"({ndim}), got {mode!r}")
    windows = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"mode must be one of {MODES} or (start, stop) windows, "
                             f"got {mode!r}")
        start = as_int(pair[0], "mode window start")
        stop = as_int(pair[1], "mode window stop")
        if stop < start:
            raise ValueError(f"mode window must have start <= stop, got {tuple(pair)}")
        windows.append((start, stop))
    return windows


def windows_for(pm: PolyphaseMatrix, shape, mode="full") -> list[tuple[int, int]]:
    """Per-axis output windows ``[(start, stop), ...]`` for an input of ``shape``."""
    if isinstance(mode, str):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES} or a (start, stop) "
                             f"window, got {mode!r}")
        full = _full(pm, shape)
        if mode == "full":
            return full
        return _valid(pm, shape, full) if mode == "valid" else _same(pm, shape, full)
    if isinstance(mode, (tuple, list)):
        return _explicit(mode, pm.ndim)
    raise ValueError(f"mode must be one of {MODES} or a (start, stop) window, "
                     f"got {mode!r}")


def output_window(pm: PolyphaseMatrix, n, mode="full"):
    """Output window of ``mode`` for an input of length ``n`` (shape for N-D).

    Returns ``(start, stop)`` for a 1-D operator and a tuple of them, one per
    axis, for an N-D one.

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase.finite import output_window
    >>> output_window(pp.Conv([1, 2, 3])._declared, 5, "valid")
    (2, 5)
    """
    shape = _shape(n, pm.ndim)
    windows = windows_for(pm, shape, mode)
    return windows[0] if pm.ndim == 1 and np.isscalar(n) else tuple(windows)


def _shape(n, ndim: int, name: str = "n") -> tuple[int, ...]:
    if np.isscalar(n):
        n = (n,)
    n = tuple(as_int(v, name, minimum=0) for v in n)
    if len(n) != ndim:
        raise ValueError(f"{name} must give {ndim} signal length(s), got {n}")
    return n


def _signal_axes(axis, x_ndim: int, ndim: int) -> list[int]:
    if axis is None:
        axes = list(range(-ndim, 0))
    elif np.isscalar(axis) or isinstance(axis, str):
        axes = [axis]
    else:
        axes = list(axis)
    if len(axes) != ndim:
        raise ValueError(f"axis must name {ndim} signal axes for this operator, "
                         f"got {axis!r}")
    axes = [as_axis(a, x_ndim) for a in axes]
    if len(set(axes)) != ndim:
        raise ValueError(f"axis must name distinct axes, got {axis!r}")
    return axes


def _channel_axis(op, channel_axis, axes, x) -> int | None:
    if op.channels is None:
        if channel_axis is not None:
            raise ValueError("channel_axis is only for operators that mix channels")
        return None
    if channel_axis is None:
        channel_axis = min(axes) - 1
        if channel_axis < 0:
            raise ValueError(f"{op!r} mixes channels: x needs a channel axis before "
                             f"the signal axes, got shape {x.shape}")
    cax = as_axis(channel_axis, x.ndim, "channel_axis")
    if cax in axes:
        raise ValueError("channel_axis must not be a signal axis")
    cin = op.channels[1]
    if x.shape[cax] != cin:
        raise ValueError(f"{op!r} takes {cin} input channels, x has {x.shape[cax]} "
                         f"along channel_axis={cax}")
    return cax


def along_last_axis(op, x: np.ndarray, dtype, start: int, stop: int, in_origin: int = 0,
                    method="auto") -> np.ndarray:
    """Output indices ``[start, stop)`` of ``op`` along the last axis of ``x``,
    computed in ``dtype`` (:func:`~polyphase._validation.signal_dtype`).

    The short path of :func:`apply_window`, for callers that have checked
    its conditions: ``op`` is 1-D, does not mix channels and has taps,
    ``x`` is not empty, ``stop > start``, ``method`` is ``"auto"``,
    ``"direct"`` or ``"fft"``.  The rows go straight to
    :func:`polyphase.engine.run_rows`.
    """
    run_rows = submodule("polyphase.engine").run_rows
    if x.ndim == 1:                   # (indexing: cheaper than two reshapes)
        return run_rows(op.polyphase(), x[None], dtype, in_origin, start, stop - start,
                        method)[0]
    out = run_rows(op.polyphase(), x.reshape(-1, x.shape[-1]), dtype, in_origin, start,
                   stop - start, method)
    return out.reshape(x.shape[:-1] + (stop - start,))


def apply_window(op, x: np.ndarray, axes, windows, in_origin=None, channel_axis=None,
                 method="auto"):
    """Output ``windows`` (per axis) of ``op`` applied along ``axes`` of ``x``.

    No argument checks (callers validate).  ``x``'s sample at array index
    ``i`` along axis ``a`` is input index ``in_origin[a] + i``: the adjoint of
    a finite map reads a signal that starts at its window's first index.
    ``method`` is passed to :func:`polyphase.engine.run`.
    """
    engine = submodule("polyphase.engine")
    if np.isscalar(axes):
        axes = [axes]
    if np.isscalar(windows[0]):
        windows = [windows]
    (start, stop) = windows[0]
    if (channel_axis is None and op.channels is None and len(axes) == 1
            and axes[0] == x.ndim - 1 and x.size and stop > start
            and method in ("auto", "direct", "fft") and op.polyphase().nnz):
        # 1-D along the last axis, the common case: the rows go straight to
        # the row kernels, without the general bookkeeping below and in
        # engine.run, which together cost more than filtering 256 samples
        # (upfirdn: 10 against 16 us)
        origin = 0 if in_origin is None else int(np.atleast_1d(in_origin)[0])
        return along_last_axis(op, x, signal_dtype(x.dtype, op.is_complex), start, stop,
                               origin, method)
    d = len(axes)
    in_origin = (0,) * d if in_origin is None else tuple(np.atleast_1d(in_origin))
    dtype = signal_dtype(x.dtype, op.is_complex)
    src = ([] if channel_axis is None else [channel_axis]) + list(axes)
    # (moveaxis costs ~10 us, a fifth of a small 2-D layer's overhead)
    in_place = [a % x.ndim for a in src] == list(range(x.ndim - len(src), x.ndim))
    moved = x if in_place else np.moveaxis(x, src, range(-len(src), 0))
    shape = moved.shape[-d:]
    batch = moved.shape[:-len(src)]
    if channel_axis is None and d == 1:
        # Batch axes before and after the signal axis stay apart: when the
        # ones after it are contiguous, the engine filters along the signal
        # axis in place (no transposed copy in or out).
        cin = math.prod(x.shape[axes[0] + 1:])
        lanes = moved.reshape((math.prod(x.shape[:axes[0]]), cin) + shape)
    else:
        cin = 1 if channel_axis is None else moved.shape[-d - 1]
        lanes = moved.reshape((math.prod(batch), cin) + shape)
    starts = tuple(w[0] for w in windows)
    lengths = tuple(w[1] - w[0] for w in windows)
    out = engine.run(op.polyphase(), lanes, dtype, in_origin, starts, lengths, method)
    cout = out.shape[1]
    out = out.reshape(batch + ((cout,) if channel_axis is not None else ()) + lengths)
    return out if in_place else np.moveaxis(out, range(-len(src), 0), src)


def apply(op, x, axis=None, mode="full", channel_axis=None, method="auto") -> np.ndarray:
    """Apply operator ``op`` to ``x``; see :meth:`Operator.__call__`."""
    x = as_signal(x)
    method = as_method(method)
    axes = _signal_axes(axis, x.ndim, op.ndim)
    if op.channels == (1, 1) and channel_axis is None and min(axes) == 0:
        # one channel in, one out: an array without a channel axis is fine,
        # as for the equal channel-agnostic operator
        return apply(op, x[None], [a + 1 for a in axes], mode, 0, method)[0]
    cax = _channel_axis(op, channel_axis, axes, x)
    shape = tuple(x.shape[a] for a in axes)
    windows = windows_for(op._declared, shape, mode)
    return apply_window(op, x, axes, windows, channel_axis=cax, method=method)


def _domain(op, shape):
    """Array shape of one input signal: ``(C_in, *shape)`` or ``shape``."""
    return shape if op.channels is None else (op.channels[1],) + shape


def dense_matrix(op, n, mode="full") -> np.ndarray:
    """Dense matrix of ``op`` on signals of length (shape) ``n``.

    Columns are unit impulses of the flattened input (``C_in`` first for
    operators that mix channels); rows the flattened output window.
    """
    A = submodule("polyphase._finite_operator").FiniteOperator(op, n, mode)
    return A.matmat(np.eye(A.shape[1], dtype=A.dtype))


def __getattr__(name):
    # FiniteOperator subclasses scipy's LinearOperator, and importing
    # scipy.sparse takes 0.1-0.2 s: every engine call goes through this
    # module, so the class is loaded the first time it is asked for
    if name == "FiniteOperator":
        return submodule("polyphase._finite_operator").FiniteOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

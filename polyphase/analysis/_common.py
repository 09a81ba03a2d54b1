"""Argument handling shared by the analysis modules."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_factor, as_int, as_kernel
from ..operators import Conv, Operator


#: Relative tolerance of :func:`checkerboard`'s ``is_free``: the gains may
#: differ by this times the largest gain magnitude.
CHECKERBOARD_RTOL = 1e-9

_TWO_PI = 2 * np.pi

def _as_operator(op, name: str = "op") -> Operator:
    """An operator, or a plain kernel array made into ``Conv(kernel)``."""
    if isinstance(op, Operator):
        return op
    if isinstance(op, (str, bytes)) or op is None:
        raise TypeError(f"{name} must be a polyphase Operator or a kernel array, "
                        f"got {type(op).__name__}")
    try:
        arr = np.asarray(op)
    except Exception:  # pragma: no cover - exotic objects
        arr = None
    if arr is None or arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a polyphase Operator or a numeric kernel "
                        f"array, got {type(op).__name__}")
    return Conv(as_kernel(arr, name, nd=True))


def _single_channel(E, op, name: str, what: str):
    """Reject operators that mix channels (a 1 x 1 channel pair is fine)."""
    if E.channels is not None and tuple(E.channels) != (1, 1):
        raise ValueError(f"{name}={op!r} mixes channels {E.channels} (C_out, C_in); "
                         f"{what} needs a channel-agnostic operator")


def _freq_grid(worN, name: str, whole: bool):
    """Frequencies from an int (uniform grid) or a 1-D array."""
    if isinstance(worN, numbers.Number) and not isinstance(worN, bool):
        n = as_int(worN, name, minimum=1)
        return np.linspace(0, _TWO_PI if whole else np.pi, n, endpoint=False)
    w = np.asarray(worN)
    if w.dtype.kind not in "iuf" or w.ndim != 1 or w.size == 0:
        raise ValueError(f"{name} must be a positive int or a non-empty 1-D array of "
                         f"frequencies (rad/sample), got {worN!r}")
    return w.astype(np.float64)


def _strides(stride, ndim: int, name: str = "stride") -> tuple:
    if isinstance(stride, (tuple, list, np.ndarray)):
        s = tuple(as_factor(v, name) for v in stride)
        if len(s) != ndim:
            raise ValueError(f"{name} must be an int or {ndim} ints (one per axis of a "
                             f"{ndim}-D kernel), got {stride!r}")
        return s
    return (as_factor(stride, name),) * ndim


def _real_kernel(kernel, name: str = "kernel") -> np.ndarray:
    w = as_kernel(kernel, name, nd=True)
    if w.dtype.kind == "c":
        raise TypeError(f"{name} must be real for checkerboard analysis, got a "
                        f"complex kernel")
    if w.ndim > 2:
        raise ValueError(f"{name} must be a 1-D or 2-D kernel, got shape {w.shape}")
    return w


def _phase_sums(w: np.ndarray, s: tuple) -> np.ndarray:
    """``g[r] = sum_j w[r + j*s]`` per axis: the polyphase DC gains of ``w``."""
    pads = [(0, (-n) % si) for n, si in zip(w.shape, s)]
    wp = np.pad(w, pads)
    shape = []
    for n, si in zip(wp.shape, s):
        shape += [n // si, si]
    return wp.reshape(shape).sum(axis=tuple(range(0, 2 * w.ndim, 2)))

def _check_rtol(rtol):
    if not isinstance(rtol, numbers.Real) or isinstance(rtol, bool) or rtol < 0:
        raise ValueError(f"rtol must be a non-negative number, got {rtol!r}")
    return float(rtol)

"""Argument checks shared by the public API.

Every public entry point validates here, so a user gets a ``TypeError`` or
``ValueError`` that names the parameter instead of an error from inside a
numba kernel.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_int(value, name: str, *, minimum: int | None = None) -> int:
    """``value`` as a Python int; integral floats such as ``2.0`` are accepted."""
    if type(value) is int:               # the common case, without ABC checks
        if minimum is not None and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Number):
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"of type {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        out = int(value)
    else:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out


def as_factor(value, name: str = "factor") -> int:
    """A rate-change factor: a positive integer."""
    return as_int(value, name, minimum=1)


def as_kernel(h, name: str = "h", *, nd: bool = False) -> np.ndarray:
    """A non-empty numeric kernel as float64 or complex128 (1-D unless ``nd``)."""
    arr = np.asarray(h)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0 or (arr.ndim != 1 and not nd):
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)


def as_factors(value, name: str = "factor") -> tuple[int, ...]:
    """Rate-change factor(s): a positive integer or a tuple of them, one per axis."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f"{name} must not be empty")
        return tuple(as_factor(v, name) for v in value)
    return (as_factor(value, name),)


def signal_dtype(dtype: np.dtype, complex_op: bool = False) -> np.dtype:
    """dtype of an operator's output for an input of ``dtype``.

    float32/float64/complex64/complex128 are kept (real becomes complex only
    for a complex operator); integers and bools become float64; float16 is
    computed in float32.
    """
    kind, size = dtype.kind, dtype.itemsize
    if kind in "biu":
        out = np.dtype(np.float64)
    elif kind == "f" and size <= 8:
        out = np.dtype(np.float32) if size <= 4 else np.dtype(np.float64)
    elif kind == "c" and size <= 16:
        out = dtype
    else:
        raise TypeError(f"x must be a real or complex numeric array of at most "
                        f"double precision, got dtype {dtype}")
    if complex_op and out.kind == "f":
        out = np.result_type(out, np.complex64)
    return out


def as_signal(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    return arr


def as_axis(axis, ndim: int, name: str = "axis") -> int:
    ax = as_int(axis, name)
    if not -ndim <= ax < ndim:
        raise ValueError(f"{name}={ax} is out of range for an array with "
                         f"{ndim} dimension(s)")
    return ax % ndim


#: Execution methods of the engine: the cost model's choice, the direct numba
#: kernels, or the overlap-save FFT path (1-D operators without channels).
METHODS = ("auto", "direct", "fft", "gemm", "winograd")


def as_method(method, name: str = "method") -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, METHODS))}; "
                         f"got {method!r}")
    return method

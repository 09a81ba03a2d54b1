"""Signal extension exactly as ``scipy.signal.upfirdn`` does it.

``scipy.signal.upfirdn(h, x, ..., mode=mode, cval=cval)`` does not pad ``x``
with :func:`numpy.pad`; its Cython kernel (``_extend_left`` and
``_extend_right`` in ``scipy/signal/_upfirdn_apply.pyx``) computes every
sample outside ``x`` on the fly from a per-mode formula.  Four of the modes
have no :func:`numpy.pad` equivalent: ``"antisymmetric"`` negates the mirror
image (it is not ``reflect_type="odd"``), ``"antireflect"`` continues past
one reflection with copies shifted by whole multiples of ``x[-1] - x[0]``,
and ``"smooth"`` and ``"line"`` extrapolate straight lines.  :func:`extend`
reproduces the kernel's values bit for bit -- it repeats the kernel's
arithmetic operation by operation, in the signal's own precision -- so that
an engine which pads with :func:`extend` and then filters sees exactly the
samples ``upfirdn`` sees.

Only numpy is imported here: the module is cheap to import and scipy is
needed by the tests alone.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["MODES", "extend", "validate_mode"]

#: The extension modes of ``scipy.signal.upfirdn``, in scipy's documentation
#: order.
MODES = ("constant", "symmetric", "reflect", "edge", "wrap", "smooth",
         "antisymmetric", "antireflect", "line")

# Shortest signal for which scipy's formula for the mode is well defined.
# For shorter signals scipy's kernel misbehaves rather than raising:
# "reflect" and "antireflect" take an integer modulo/division by
# ``len(x) - 1 == 0`` (the process dies with SIGFPE), "smooth" reads
# ``x[1]`` / ``x[-1]`` outside the buffer (the result is whatever memory
# holds), and every mode but "constant" reads ``x[0]`` of an empty signal.
# There is nothing to match in those cases, so ``extend`` raises instead.
# "line" on a single sample is well defined -- the slope is 0/0 = NaN -- and
# is reproduced.
_MIN_LENGTH = {"constant": 0, "symmetric": 1, "reflect": 2, "edge": 1,
               "wrap": 1, "smooth": 2, "antisymmetric": 1, "antireflect": 2,
               "line": 1}


def validate_mode(mode):
    """Check an extension mode and return its canonical name.

    Parameters
    ----------
    mode : str
        One of :data:`MODES`.  Case is ignored, as in ``scipy.signal.upfirdn``
        (which lower-cases ``mode`` before looking it up).

    Returns
    -------
    str
        The lower-case mode name.

    Raises
    ------
    ValueError
        If `mode` is not a string naming one of :data:`MODES`; the message
        lists the valid modes.

    Examples
    --------
    >>> from polyphase.extension import validate_mode
    >>> validate_mode("Wrap")
    'wrap'
    >>> validate_mode("periodic")
    Traceback (most recent call last):
        ...
    ValueError: mode must be one of 'constant', 'symmetric', 'reflect', 'edge', 'wrap', 'smooth', 'antisymmetric', 'antireflect', 'line'; got 'periodic'
    """
    name = mode.lower() if isinstance(mode, str) else None
    if name not in MODES:
        valid = ", ".join(repr(m) for m in MODES)
        raise ValueError(f"mode must be one of {valid}; got {mode!r}")
    return name


def _as_int(value, name, what):
    """``value`` as a Python int, else ``ValueError`` naming ``name``."""
    # bool is an Integral, but ``extend(x, True, 0)`` is surely a mistake.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if float(value).is_integer():
        # Integral floats (``2.0``) are accepted, as everywhere in polyphase.
        return int(value)
    raise ValueError(f"{name} must be {what}, got {value!r}")


def _as_count(value, name):
    """``value`` as a non-negative Python int, else ``ValueError``."""
    what = "a non-negative integer"
    out = _as_int(value, name, what)
    if out < 0:
        raise ValueError(f"{name} must be {what}, got {out}")
    return out


def _as_axis(axis, ndim):
    axis = _as_int(axis, "axis", "an integer")
    # scipy reduces ``axis % x.ndim`` and so silently accepts axis=5 on 2-D
    # input; an out-of-range axis is rejected here instead.
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of "
                         f"dimension {ndim}")
    return axis % ndim


def _work_dtype(dtype):
    """dtype the extension is computed in (scipy's kernels exist for 4)."""
    if dtype.kind in "biu":
        # What scipy computes in for the usual float64 filter.
        return np.dtype(np.float64)
    if dtype.kind == "f" and dtype.itemsize <= 8:
        return np.dtype(np.float32 if dtype.itemsize <= 4 else np.float64)
    if dtype.kind == "c" and dtype.itemsize <= 16:
        return np.dtype(np.complex64 if dtype.itemsize <= 8 else np.complex128)
    raise TypeError(f"x must be a real or complex numeric array of at most "
                    f"double precision, got dtype {dtype}")


def _as_cval(cval, dtype):
    """``cval`` converted the way Cython converts it to the kernel's type."""
    # Cython goes through a C double (or double complex) and then casts to
    # the kernel type, so float32 sees cval rounded once from a double.
    if isinstance(cval, (str, bytes, bytearray)):
        raise TypeError(f"cval must be a number, got {cval!r}")
    if dtype.kind == "c":
        value = complex(cval)
    else:
        # scipy's real kernels cannot take a complex cval either (they raise
        # TypeError for a Python complex); rather than silently dropping the
        # imaginary part of a numpy complex, always refuse.
        if isinstance(cval, (complex, np.complexfloating)) or (
                isinstance(cval, np.ndarray) and cval.dtype.kind == "c"):
            raise TypeError(f"cval must be real for real input, got {cval!r}")
        value = float(cval)
    return np.array(value).astype(dtype)


def _slope(x0, xl, n):
    """``(x[n-1] - x[0]) / (n - 1)`` as the kernel computes it."""
    d = xl - x0
    denom = np.array(n - 1, dtype=d.real.dtype)
    if d.dtype.kind != "c":
        return d / denom
    # C divides a complex by ``(double complex)(n - 1)`` with libgcc's
    # __divdc3, which for a real divisor yields exactly re/(n-1) + im/(n-1)j.
    # numpy's complex division multiplies by a rounded reciprocal instead
    # and can differ in the last bit, so divide the parts separately.
    out = np.empty_like(d)
    out.real = d.real / denom
    out.imag = d.imag / denom
    return out


def _take(x, index):
    return np.take(x, index, axis=-1)


def _left(x, count, mode, cval):
    """Samples ``x[-count], ..., x[-1]`` of scipy's extension of ``x``.

    ``x`` has the extended axis last; the result has ``count`` samples there
    (or broadcasts to that shape).
    """
    n = x.shape[-1]
    dtype = x.dtype
    idx = np.arange(-count, 0)          # scipy's (negative) sample index
    m = -idx - 1                        # distance from x[0], counting from 0
    if mode == "constant":
        return cval
    if mode == "edge":
        return x[..., :1]
    if mode == "wrap":
        return _take(x, n - 1 - m % n)
    if mode in ("symmetric", "antisymmetric"):
        # Period 2n: x[0..n-1] mirrored, then x again (negated alternately
        # for "antisymmetric").  scipy's first-reflection branch is the same
        # formula with m < n, so one expression covers both.
        r = m % (2 * n)
        first = r < n
        v = _take(x, np.where(first, r, 2 * n - 1 - r))
        if mode == "symmetric":
            return v
        return np.where(first, -v, v)
    if mode == "reflect":
        # Period 2(n-1): the edge sample is not repeated.
        r = m % (2 * (n - 1))
        return _take(x, np.where(r < n - 1, r + 1, 2 * n - 3 - r))
    x0 = x[..., :1]
    # The kernel multiplies the signal by integers converted to its own
    # type (a float32 kernel rounds them to float32, a complex one makes
    # them complex); converting first keeps numpy from promoting to float64.
    if mode == "smooth":
        return x0 + idx.astype(dtype) * (x[..., 1:2] - x0)
    if mode == "line":
        return x0 + idx.astype(dtype) * _slope(x0, x[..., -1:], n)
    # "antireflect": point reflection about x[0] for the first n-1 samples;
    # beyond that scipy shifts copies of the reflected signal by whole
    # multiples of x[0] - x[n-1].  Both branches are evaluated on clipped
    # indices and the right one picked, mirroring scipy's if/else.
    xl = x[..., -1:]
    near = x0 - (_take(x, np.minimum(m + 1, n - 1)) - x0)
    le = x0 + (x0 - xl) * (m // (n - 1)).astype(dtype)
    r = m % (2 * (n - 1))
    low = r < n - 1
    d_low = _take(x, np.minimum(r + 1, n - 1)) - x0
    d_high = xl - _take(x, np.clip(2 * n - 3 - r, 0, n - 1))
    far = le - np.where(low, d_low, d_high)
    return np.where(m + 1 < n, near, far)


def _right(x, count, mode, cval):
    """Samples ``x[n], ..., x[n + count - 1]`` of scipy's extension of ``x``."""
    n = x.shape[-1]
    dtype = x.dtype
    i = np.arange(n, n + count)         # scipy's sample index, >= n
    if mode == "constant":
        return cval
    if mode == "edge":
        return x[..., -1:]
    if mode == "wrap":
        return _take(x, i % n)
    if mode in ("symmetric", "antisymmetric"):
        r = i % (2 * n)
        first = r < n
        v = _take(x, np.where(first, r, 2 * n - 1 - r))
        if mode == "symmetric":
            return v
        # Mirrored copies are negated, in-phase copies are not.
        return np.where(first, v, -v)
    if mode == "reflect":
        r = i % (2 * (n - 1))
        return _take(x, np.where(r < n - 1, r, 2 * n - 2 - r))
    xl = x[..., -1:]
    steps = (i - n + 1).astype(dtype)   # 1, 2, ... past the last sample
    if mode == "smooth":
        return xl + steps * (xl - x[..., -2:-1])
    if mode == "line":
        return xl + steps * _slope(x[..., :1], xl, n)
    # "antireflect", the mirror image of the left-hand formula.
    x0 = x[..., :1]
    near = xl - (_take(x, np.clip(2 * n - 2 - i, 0, n - 1)) - xl)
    re = xl + (xl - x0) * (i // (n - 1) - 1).astype(dtype)
    r = i % (2 * (n - 1))
    low = r < n - 1
    d_low = _take(x, np.minimum(r, n - 1)) - x0
    d_high = xl - _take(x, np.clip(2 * n - 2 - r, 0, n - 1))
    far = re + np.where(low, d_low, d_high)
    return np.where(i < 2 * n - 1, near, far)


def extend(x, npre, npost, mode="constant", cval=0.0, axis=-1):
    """Extend a signal exactly as ``scipy.signal.upfirdn`` extends it.

    Parameters
    ----------
    x : array_like
        Signal(s), at least 1-D.
    npre, npost : int
        Number of samples to add before and after ``x`` along `axis`
        (non-negative; either may exceed the signal length).
    mode : str, optional
        Extension mode, one of :data:`MODES` (case-insensitive):

        ``"constant"``
            `cval` everywhere.
        ``"edge"``
            The end samples repeated.
        ``"wrap"``
            Periodic continuation.
        ``"symmetric"``, ``"reflect"``
            Mirror images with and without repeating the end sample.
        ``"antisymmetric"``
            ``"symmetric"`` with mirrored copies negated.
        ``"antireflect"``
            Point reflection about the end sample; for extensions longer
            than ``len(x) - 1`` scipy continues with copies offset by whole
            multiples of ``x[-1] - x[0]``.
        ``"smooth"``
            Straight lines continuing the slope of the two end samples.
        ``"line"``
            Straight lines with the slope ``(x[-1] - x[0]) / (len(x) - 1)``.
    cval : scalar, optional
        Fill value for ``mode="constant"``, converted to the output dtype;
        ignored by the other modes.
    axis : int, optional
        Axis along which to extend.

    Returns
    -------
    ndarray
        C-contiguous array with ``npre + x.shape[axis] + npost`` samples along
        `axis`.  float32, float64, complex64 and complex128 inputs keep their
        dtype; integers and bools become float64, float16 becomes float32.

    Raises
    ------
    ValueError
        For an unknown `mode`, a negative or non-integer `npre` / `npost`,
        an out-of-range `axis`, 0-d `x`, or a signal too short for the mode
        when something is to be added: empty (every mode but ``"constant"``)
        or of length 1 (``"reflect"``, ``"antireflect"``, ``"smooth"``).
        scipy has no defined result for these: it reads outside the signal
        or divides by zero.
    TypeError
        For a non-numeric or extended-precision `x`, or, in
        ``"constant"`` mode, a `cval` that is not a number or is complex
        while `x` is real.

    Notes
    -----
    The values are the ones scipy's ``_extend_left`` / ``_extend_right``
    return, computed with the same operations in the same precision, so they
    agree bit for bit (up to the sign of zero), not just to rounding.  With a
    delta filter ``h = np.zeros(npre + npost + 1); h[npre] = 1`` (of the
    signal's real dtype), ``upfirdn(h, x, mode=mode, cval=cval)`` returns
    exactly ``extend(x, npre, npost, mode, cval)``.  ``"line"`` on a single
    sample divides 0 by 0 in scipy and yields NaN; that is reproduced.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.extension import extend
    >>> x = np.array([1.0, 2.0, 4.0])
    >>> extend(x, 2, 3, mode="symmetric")
    array([2., 1., 1., 2., 4., 4., 2., 1.])
    >>> extend(x, 2, 2, mode="line")
    array([-2. , -0.5,  1. ,  2. ,  4. ,  5.5,  7. ])
    >>> extend(x, 1, 1, cval=9)
    array([9., 1., 2., 4., 9.])

    It is exactly what scipy uses:

    >>> from scipy.signal import upfirdn
    >>> h = np.zeros(6); h[2] = 1.0     # reads back x extended by 2 and 3
    >>> np.array_equal(upfirdn(h, x, mode="antireflect"),
    ...                extend(x, 2, 3, mode="antireflect"))
    True
    """
    mode = validate_mode(mode)
    npre = _as_count(npre, "npre")
    npost = _as_count(npost, "npost")
    x = np.asarray(x)
    if x.dtype.kind not in "biufc":
        raise TypeError(f"x must be a numeric array, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension")
    axis = _as_axis(axis, x.ndim)
    dtype = _work_dtype(x.dtype)
    n = x.shape[axis]

    shape = list(x.shape)
    shape[axis] = npre + n + npost
    out = np.empty(shape, dtype=dtype)
    # Work with the extended axis last so that every formula broadcasts the
    # same way; ``view`` writes straight into the C-ordered result.
    view = np.moveaxis(out, axis, -1)
    xt = np.moveaxis(x, axis, -1)
    view[..., npre:npre + n] = xt
    if npre == 0 and npost == 0:
        return out
    if n < _MIN_LENGTH[mode]:
        raise ValueError(
            f"mode={mode!r} needs at least {_MIN_LENGTH[mode]} sample(s) along "
            f"axis {axis} to extend, got {n} (scipy has no defined result)")
    if mode == "constant":
        cval = _as_cval(cval, dtype)
    xt = xt.astype(dtype, copy=False)
    # scipy's C arithmetic neither warns nor raises on overflow or 0/0
    # ("line" on one sample); neither should this.
    with np.errstate(all="ignore"):
        if npre:
            view[..., :npre] = _left(xt, npre, mode, cval)
        if npost:
            view[..., npre + n:] = _right(xt, npost, mode, cval)
    return out

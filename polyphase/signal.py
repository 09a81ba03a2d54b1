"""scipy-style functions: upfirdn, polyphase decomposition, dilation."""

from __future__ import annotations

from math import gcd

import numpy as np

from ._cache import BuildCache, digest
from ._lazy import submodule
from ._validation import as_axis, as_factor, as_kernel, as_method, as_signal, signal_dtype

__all__ = ["upfirdn", "resample_poly", "decompose", "interleave", "dilate"]

# UpFirDn operators of recent filters: building one costs ~0.3 ms, more than
# filtering a short signal.
_FILTERS = BuildCache(size=32)


def cached_upfirdn(kernel, up, down):
    """``UpFirDn(kernel, up, down)``, reused while ``kernel``'s bytes are the same."""
    from .operators import UpFirDn
    return _FILTERS.get_for(kernel, (up, down), lambda: UpFirDn(kernel, up, down))


def upfirdn(h, x, up=1, down=1, axis=-1, mode="constant", cval=0, method="auto"):
    """Upsample, FIR filter and downsample, like ``scipy.signal.upfirdn``.

    Computes ``y = UpFirDn(h, up, down)``, which equals
    ``Down(down) @ Conv(h) @ Up(up)``, applied to ``x`` along
    ``axis`` through the polyphase engine: no inserted zero is multiplied and no
    discarded sample is computed.

    Parameters
    ----------
    h : array_like, 1-D
        FIR filter.
    x : array_like
        Input signal(s).
    up, down : int
        Upsampling and downsampling factors (>= 1).
    axis : int
        Axis of ``x`` to filter along.
    mode : str
        Signal extension mode, as in scipy: ``"constant"``, ``"symmetric"``,
        ``"reflect"``, ``"edge"``, ``"wrap"``, ``"smooth"``,
        ``"antisymmetric"``, ``"antireflect"`` or ``"line"``.
    cval : float
        Fill value for ``mode="constant"``.
    method : {"auto", "direct", "fft", "gemm"}
        ``"direct"`` multiplies every nonzero tap (``len(h) / down``
        multiply-adds per input sample), ``"fft"`` filters each polyphase
        component by overlap-save FFTs, ``"gemm"`` runs the taps as BLAS
        products (for comparison), ``"auto"`` picks the cheaper of direct
        and FFT by the engine's cost model (:mod:`polyphase.engine.cost`;
        the FFT path from about 200 taps per output phase for real data, 100
        for complex).

    Returns
    -------
    ndarray
        ``((len(x) - 1) * up + len(h) - 1) // down + 1`` samples along
        ``axis``; dtype ``np.result_type(h, x, np.float32)`` as in scipy.

    Notes
    -----
    ``y[n] = sum_j h[n*down - j*up] * x[j]``.  The extension applies to ``x``
    at the input rate, before filtering; the output length does not depend on
    ``mode``.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.upfirdn([1, 1, 1], [1., 2., 3.], up=2)
    array([1., 1., 3., 2., 5., 3., 3.])
    >>> pp.upfirdn([1, 1, 1], [1., 2., 3.], mode="edge")
    array([3., 4., 6., 8., 9.])
    """
    repeat = _repeat_key(h, x, up, down, axis, mode, cval, method)
    if repeat is not None and repeat in _REPEATS:
        op, dtype, n_out, rows = _REPEATS[repeat]
        if rows is not None:                     # (x.ndim >= 1, x.size > 0)
            return rows(x.reshape(-1, x.shape[-1])).reshape(x.shape[:-1] + (n_out,))
        return _last_axis(op, x.astype(dtype, copy=False), n_out)
    h_arr = np.asarray(h)
    kernel = as_kernel(h, "h")
    x = as_signal(x)
    up = as_factor(up, "up")
    down = as_factor(down, "down")
    axis = as_axis(axis, x.ndim)
    if mode != "constant":
        from .extension import validate_mode
        validate_mode(mode)
    method = as_method(method)
    dtype = _scipy_dtype(h_arr.dtype, x)
    n = _nonempty_length(x, axis)
    n_out = ((n - 1) * up + kernel.size - 1) // down + 1
    op = cached_upfirdn(kernel, up, down)
    if repeat is not None:
        if len(_REPEATS) >= _FILTERS.size:
            _REPEATS.clear()
        _REPEATS[repeat] = op, dtype, n_out, _serial_rows(op, dtype, x, n_out)
    return _upfirdn_window(op, kernel.size, x.astype(dtype, copy=False), up, down, axis,
                           (0, n_out), mode, cval, method)


# Calls of upfirdn on plain arrays that passed the checks before, by filter
# bytes, dtypes, shape and factors: a filter applied to a stream block after
# block repeats the same call, and the checks and the window bookkeeping cost
# more than filtering 256 samples (12 against 7 us).
_REPEATS: dict = {}


def _repeat_key(h, x, up, down, axis, mode, cval, method):
    """Key of a call that, once checked, can be repeated without checks, or None."""
    if (type(h) is np.ndarray and type(x) is np.ndarray and type(up) is int
            and type(down) is int and axis == -1 and mode == "constant"
            and type(cval) in (int, float) and cval == 0 and method == "auto"):
        return digest(h), x.dtype, x.shape, up, down
    return None


def _serial_rows(op, dtype, x, n_out):
    """The engine's prepared call (:func:`polyphase.engine.serial_rows`) for
    ``upfirdn``'s repeats of a call on ``x``'s last axis, when the call is
    short enough for it (and goes the way :func:`_last_axis` would), else None."""
    pm = op.polyphase()
    if not x.size or not pm.nnz or signal_dtype(dtype, op.is_complex) != dtype:
        return None
    engine = submodule("polyphase.engine")
    return engine.serial_rows(pm, dtype, x.size // x.shape[-1], x.shape[-1], 0, n_out)


def _last_axis(op, x, n_out):
    """``op`` on the last axis of ``x`` (checked, in the computation dtype),
    output samples ``[0, n_out)``: apply_window's short path, without the
    checks of its conditions that a repeated call knows the answer to
    except these two."""
    finite = submodule("polyphase.finite")
    if x.size and op.polyphase().nnz:
        return finite.along_last_axis(op, x, x.dtype, 0, n_out)
    return finite.apply_window(op, x, x.ndim - 1, (0, n_out))


def _scipy_dtype(h_dtype, x):
    """scipy's upfirdn dtype, ``result_type(h, x, float32)``, up to double precision."""
    dtype = np.promote_types(np.promote_types(h_dtype, x.dtype), np.float32)
    if dtype.itemsize > (16 if dtype.kind == "c" else 8):
        raise TypeError(f"x must be at most double precision, got dtype {x.dtype}")
    return dtype


def _nonempty_length(x, axis):
    n = x.shape[axis]
    if n == 0:
        raise ValueError("x must not be empty along axis")
    return n


def _upfirdn_window(op, taps, x, up, down, axis, window, mode, cval, method):
    """Output samples ``window = (start, stop)`` of ``upfirdn(h, x, up, down)``.

    ``op`` is ``UpFirDn(h, up, down)`` with ``taps = len(h)``; ``x`` is already
    in the computation dtype.  Only the window is computed; for an extension
    mode other than zeros, ``x`` is first extended by exactly the samples the
    window reads.
    """
    if mode == "constant" and cval == 0:
        return submodule("polyphase.finite").apply_window(op, x, axis, window,
                                                          method=method)
    from .extension import extend
    from .finite import apply_window
    start, stop = window
    # Output m reads input j when 0 <= m*down - j*up < taps.
    first = -((taps - 1 - start * down) // up)
    last = (stop - 1) * down // up
    npre = max(0, -first)
    npost = max(0, last - (x.shape[axis] - 1))
    ext = extend(x, npre, npost, mode=mode, cval=cval, axis=axis)
    return apply_window(op, ext.astype(x.dtype, copy=False), axis, window,
                        in_origin=-npre, method=method)


# padtypes that subtract a statistic of the signal, filter with zero
# extension and add it back (scipy's order)
_BACKGROUNDS = {"maximum": np.max, "mean": np.mean, "median": np.median,
                "minimum": np.min}


def resample_poly(x, up, down, axis=0, window=("kaiser", 5.0), padtype="constant",
                  cval=None, method="auto"):
    """Resample by ``up / down`` with a polyphase filter, like ``scipy.signal.resample_poly``.

    The same output as scipy -- length, values (to rounding) and dtype -- for
    the same arguments, computed without the work scipy throws away: scipy
    runs the whole ``upfirdn`` and then slices off the filter delay, while
    here the engine computes only the samples that are returned.  The filter
    design and the polyphase operator are cached, so repeated calls with the
    same rates and window do not call ``firwin`` again.

    Parameters
    ----------
    x : array_like
        Signal(s).
    up, down : int
        Upsampling and downsampling factors (>= 1); they are reduced by their
        greatest common divisor first.
    axis : int, optional
        Axis of ``x`` to resample (default 0, as in scipy).
    window : str, tuple, float or array_like, optional
        A window for ``scipy.signal.firwin`` (a name, a ``(name, *params)``
        tuple or a float, the Kaiser beta); the filter is then
        ``up * firwin(2*half_len + 1, 1/max(up, down), window=window)`` with
        ``half_len = 10 * max(up, down)``.  A list or 1-D array is the filter
        itself (at ``up`` times the input rate), scaled by ``up``; the output is
        centred on its middle tap.
    padtype : str, optional
        Extension of ``x`` beyond its ends: ``"constant"`` (``cval``), any other
        mode of :func:`upfirdn`, or ``"mean"``, ``"median"``, ``"maximum"``,
        ``"minimum"`` (the statistic of ``x`` along ``axis``: it is subtracted,
        the rest is filtered with zero extension, and it is added back).
    cval : float, optional
        Fill value for ``padtype="constant"`` (default 0); giving it with another
        ``padtype`` is an error, as in scipy.
    method : {"auto", "direct", "fft"}
        Engine path, as in :func:`upfirdn`.  The default filters have about
        20 taps per output phase when upsampling and ``20 * down`` when
        downsampling by ``down``, but decimation needs ``down + 1``
        transforms per FFT segment, so ``"auto"`` keeps the default designs
        on the direct kernel; long user filters (``window=`` coefficients)
        may take the FFT path.

    Returns
    -------
    ndarray
        ``ceil(n * up / down)`` samples along ``axis`` (``n = x.shape[axis]``,
        after the gcd reduction).  The dtype is scipy's: float32, float64,
        complex64 and complex128 input keep their dtype with a designed
        filter, integers give float64, and a coefficient array takes part in
        the promotion (``np.result_type(window, x, np.float32)``).  When
        ``up == down`` after the reduction, a copy of ``x`` is returned
        unfiltered, as scipy does.

    Raises
    ------
    ValueError
        For ``up`` or ``down`` below 1 or not integral, an unknown ``padtype``
        or ``method``,
        ``cval`` with a ``padtype`` other than ``"constant"``, a window
        ``firwin`` does not understand, empty or non-1-D coefficients, an
        out-of-range ``axis``, or ``x`` empty along ``axis`` (scipy returns an
        empty array there).
    TypeError
        For non-numeric or extended-precision ``x``, non-integer factors, or a
        ``window`` of the wrong type.

    Notes
    -----
    With ``h`` the filter, ``half_len`` its half length (``(len(h) - 1) // 2``
    for given coefficients) and ``P = down - half_len % down`` leading zeros
    prepended to ``h``, the result is samples ``[D, D + ceil(n*up/down))`` of
    ``upfirdn(h, x, up, down)`` with ``D = (half_len + P) // down``: sample
    ``k`` estimates ``x`` at ``k * down / up``.  The engine is asked for that
    window only.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> x = np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False))
    >>> y = pp.resample_poly(x, 3, 2)
    >>> y.shape
    (18,)
    >>> import scipy.signal
    >>> np.allclose(y, scipy.signal.resample_poly(x, 3, 2), rtol=0, atol=1e-12)
    True
    >>> pp.resample_poly(x.astype(np.float32), 3, 2).dtype
    dtype('float32')

    Given coefficients are the filter (times ``up``), centred on their
    middle tap; a float64 filter makes the result float64, as in scipy:

    >>> pp.resample_poly(np.float32([1, 2, 3, 4]), 1, 2, window=[0.25, 0.5, 0.25])
    array([1., 3.])
    """
    from . import _resampler

    x = as_signal(x)
    up = as_factor(up, "up")
    down = as_factor(down, "down")
    axis = as_axis(axis, x.ndim)
    padtype = _as_padtype(padtype)
    method = as_method(method)
    if cval is not None and padtype != "constant":
        raise ValueError(f"cval has no effect when padtype={padtype!r}; got cval={cval!r}")
    form, spec = _resampler.window_form(window)
    n = _nonempty_length(x, axis)
    # Design dtype: scipy casts its filter to the dtype of x when x is floating.
    h_dtype = x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)
    _scipy_dtype(h_dtype if form == "design" else spec.dtype, x)
    g = gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    if form == "design":
        # the real counterpart: the same coefficients, a real operator
        plan = _resampler.designed(up, down, spec, np.finfo(h_dtype).dtype)
    else:
        plan = _resampler.from_coefficients(spec, up, down)
        h_dtype = plan.h_dtype
    n_out = -(-n * up // down)
    background = None
    mode, fill = padtype, (0 if cval is None else cval)
    if padtype in _BACKGROUNDS:
        background = _BACKGROUNDS[padtype](x, axis=axis, keepdims=True)
        x = x - background
        mode, fill = "constant", 0
    dtype = _scipy_dtype(h_dtype, x)
    y = _upfirdn_window(plan.op, plan.taps, x.astype(dtype, copy=False), up, down, axis,
                        (plan.n_pre_remove, plan.n_pre_remove + n_out), mode, fill,
                        method)
    if background is not None:
        y += background
    return y


def _as_padtype(padtype):
    from .extension import MODES
    valid = tuple(_BACKGROUNDS) + MODES
    if not isinstance(padtype, str) or padtype not in valid:
        raise ValueError(f"padtype must be one of {', '.join(map(repr, valid))}; "
                         f"got {padtype!r}")
    return padtype


def decompose(h, factor):
    """Type-1 polyphase components of ``h``: ``e_k[n] = h[n*factor + k]``.

    Parameters
    ----------
    h : array_like, 1-D
        Filter.
    factor : int
        Number of phases.

    Returns
    -------
    ndarray, shape (factor, ceil(len(h) / factor))
        Row ``k`` is ``e_k``, zero-padded at the end.

    Notes
    -----
    ``H(z) = sum_k z^-k E_k(z^factor)``.  For an interpolator,
    ``upfirdn(h, x, factor)[n*factor + k] == np.convolve(e_k, x)[n]``.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.decompose([1, 2, 3, 4, 5], 2)
    array([[1., 3., 5.],
           [2., 4., 0.]])
    """
    h = as_kernel(h, "h")
    factor = as_factor(factor, "factor")
    width = -(-h.size // factor)
    padded = np.zeros(width * factor, dtype=h.dtype)
    padded[:h.size] = h
    return padded.reshape(width, factor).T.copy()


def interleave(E, length=None):
    """Inverse of :func:`decompose`: ``h[n*factor + k] = E[k, n]``.

    Parameters
    ----------
    E : array_like, shape (factor, width)
        Polyphase components, one per row.
    length : int, optional
        Length of the result (default ``factor * width``); use ``len(h)`` to
        drop the zero padding :func:`decompose` added.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.interleave(pp.decompose([1, 2, 3, 4, 5], 2), length=5)
    array([1., 2., 3., 4., 5.])
    """
    E = np.asarray(E)
    if E.dtype.kind not in "biufc":
        raise TypeError(f"E must be numeric, got dtype {E.dtype}")
    if E.ndim != 2 or E.size == 0:
        raise ValueError(f"E must be a non-empty 2-D array, got shape {E.shape}")
    h = E.T.ravel()
    if length is None:
        return h.copy()
    from ._validation import as_int
    length = as_int(length, "length", minimum=0)
    if length > h.size:
        raise ValueError(f"length must be <= {h.size}, got {length}")
    return h[:length].copy()


def dilate(h, k):
    """Insert ``k - 1`` zeros between the taps of ``h`` (à trous / dilation).

    ``H(z) -> H(z^k)``: ``dilate(g, k)`` is the kernel in the noble identities
    ``Down(k) @ Conv(dilate(g, k)) == Conv(g) @ Down(k)``.

    Examples
    --------
    >>> import polyphase as pp
    >>> pp.dilate([1, 2, 3], 2)
    array([1., 0., 2., 0., 3.])
    """
    h = as_kernel(h, "h")
    k = as_factor(k, "k")
    out = np.zeros((h.size - 1) * k + 1, dtype=h.dtype)
    out[::k] = h
    return out

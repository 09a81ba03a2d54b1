"""scipy-style functions: upfirdn, polyphase decomposition, dilation."""

from __future__ import annotations

import numpy as np

from ._cache import BuildCache, digest
from ._validation import as_axis, as_factor, as_kernel, as_signal

__all__ = ["upfirdn", "decompose", "interleave", "dilate"]

# UpFirDn operators of recent filters: building one costs ~0.3 ms, more than
# filtering a short signal.
_FILTERS = BuildCache(size=32)


def cached_upfirdn(kernel, up, down):
    """``UpFirDn(kernel, up, down)``, reused while ``kernel``'s bytes are the same."""
    from .operators import UpFirDn
    return _FILTERS.get((digest(kernel), up, down), lambda: UpFirDn(kernel, up, down))


def upfirdn(h, x, up=1, down=1, axis=-1, mode="constant", cval=0):
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
    h_arr = np.asarray(h)
    kernel = as_kernel(h, "h")
    x = as_signal(x)
    up = as_factor(up, "up")
    down = as_factor(down, "down")
    axis = as_axis(axis, x.ndim)
    if mode != "constant":
        from .extension import validate_mode
        validate_mode(mode)
    dtype = np.promote_types(np.promote_types(h_arr.dtype, x.dtype), np.float32)
    if dtype.itemsize > (16 if dtype.kind == "c" else 8):
        raise TypeError(f"x must be at most double precision, got dtype {x.dtype}")
    n, taps = x.shape[axis], kernel.size
    if n == 0:
        raise ValueError("x must not be empty along axis")
    n_out = ((n - 1) * up + taps - 1) // down + 1
    op = cached_upfirdn(kernel, up, down)
    x = x.astype(dtype, copy=False)
    if mode == "constant" and cval == 0:
        if axis == x.ndim - 1 and x.size:
            # the common case, without apply_window's axis bookkeeping (which
            # costs more than filtering a short signal)
            from .engine import run_rows
            out = run_rows(op.polyphase(), x.reshape(-1, n), dtype, 0, 0, n_out)
            return out.reshape(x.shape[:-1] + (n_out,))
        from .finite import apply_window
        return apply_window(op, x, axis, (0, n_out))
    from .extension import extend
    from .finite import apply_window
    # Extend x by every sample the window reads: output n reads input j with
    # 0 <= n*down - j*up < taps.
    npre = (taps - 1) // up
    npost = max(0, (n_out - 1) * down // up - (n - 1))
    ext = extend(x, npre, npost, mode=mode, cval=cval, axis=axis)
    return apply_window(op, ext.astype(dtype, copy=False), axis, (0, n_out),
                      in_origin=-npre)


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

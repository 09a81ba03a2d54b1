"""Cached filters and operators for :func:`polyphase.resample_poly`.

``scipy.signal.resample_poly`` designs its filter with ``firwin`` on every
call (a 960,001-tap design for 48000/44101 costs 134 ms of a 199 ms call),
and :class:`~polyphase.UpFirDn` builds its polyphase matrix on first use
(0.1-1 ms).  Both depend only on the rates, the window and a dtype, so they
are cached here: a repeated call with the same parameters reuses the
operator, its canonical matrix and the engine's plans stored on it.

scipy and numba are imported inside the functions, so importing this module
is cheap.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

__all__ = ["Resampler", "design", "designed", "from_coefficients", "window_form"]

# Operators hold their tap arrays (48 bytes per tap, twice: declared and
# canonical); a few dozen long designs would be hundreds of megabytes.
_CACHE_SIZE = 16


class Resampler:
    """What :func:`~polyphase.resample_poly` needs for one (rates, filter).

    Attributes
    ----------
    op : UpFirDn
        ``UpFirDn(h_padded, up, down)``, ``h_padded`` scipy's filter with its
        ``n_pre_pad`` leading zeros.
    taps : int
        ``len(h_padded)``.
    n_pre_remove : int
        First output sample scipy keeps.
    h_dtype : numpy dtype
        dtype scipy's filter has (it decides the output dtype).
    """

    __slots__ = ("op", "taps", "n_pre_remove", "h_dtype")

    def __init__(self, h, half_len, up, down):
        from .operators import UpFirDn
        # Zero-pad the front so that output n_pre_remove lines up with input 0
        # (scipy's centring).  The zero taps are dropped by the polyphase
        # matrix, so they cost nothing.
        n_pre_pad = down - half_len % down
        padded = np.concatenate((np.zeros(n_pre_pad, dtype=h.dtype), h))
        self.op = UpFirDn(padded, up, down)
        self.taps = padded.size
        self.n_pre_remove = (half_len + n_pre_pad) // down
        self.h_dtype = h.dtype


def window_form(window):
    """``("array", h)`` for filter coefficients, ``("design", spec)`` for a window.

    Lists and arrays are coefficients, as in scipy; strings, tuples and
    numbers are window specifications for ``firwin``.
    """
    if isinstance(window, (list, np.ndarray)):
        h = np.array(window)                 # a copy: it is scaled in place below
        if h.dtype.kind not in "iufc":
            raise TypeError(f"window coefficients must be numeric, got dtype {h.dtype}")
        if h.ndim != 1:
            raise ValueError(f"window must be 1-D, got shape {h.shape}")
        if h.size == 0:
            raise ValueError("window coefficients must not be empty")
        return "array", h
    if isinstance(window, (str, tuple)) or (isinstance(window, numbers.Real)
                                            and not isinstance(window, bool)):
        try:
            hash(window)
        except TypeError:
            raise TypeError(f"window must be a string, a tuple of a name and "
                            f"parameters, a number or filter coefficients; got "
                            f"{window!r}") from None
        return "design", window
    raise TypeError(f"window must be a string, a tuple of a name and parameters, a "
                    f"number (Kaiser beta) or 1-D filter coefficients; got {window!r}")


@lru_cache(maxsize=_CACHE_SIZE)
def design(up, down, window):
    """scipy's default low-pass, ``firwin(2*half_len + 1, 1/max(up, down))``.

    Returns the read-only float64 filter and ``half_len = 10*max(up, down)``.
    """
    import scipy.signal
    max_rate = max(up, down)
    half_len = 10 * max_rate
    try:
        h = scipy.signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=window)
    except (ValueError, TypeError) as err:
        raise ValueError(f"window={window!r} is not a window scipy.signal.get_window "
                         f"understands: {err}") from err
    h.setflags(write=False)
    return h, half_len


@lru_cache(maxsize=_CACHE_SIZE)
def designed(up, down, window, dtype):
    """Resampler with the designed filter, rounded to ``dtype`` as scipy does.

    scipy casts the design to the dtype of ``x`` (real or complex) and then
    multiplies by ``up`` in that dtype; the filter is real, so the real
    counterpart of the dtype gives the same coefficients without making the
    operator complex.
    """
    h, half_len = design(up, down, window)
    h = h.astype(dtype)
    h *= up
    return Resampler(h, half_len, up, down)


def from_coefficients(h, up, down):
    """Resampler with the user's coefficients ``h`` (cached on their bytes)."""
    return _from_bytes(h.tobytes(), h.dtype.str, up, down)


@lru_cache(maxsize=_CACHE_SIZE)
def _from_bytes(data, dtype, up, down):
    h = np.frombuffer(data, dtype=dtype).copy()
    h *= up                                  # in h's own dtype, as scipy does
    return Resampler(h, (h.size - 1) // 2, up, down)

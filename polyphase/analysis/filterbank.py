"""Perfect reconstruction of maximally decimated filter banks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import as_int, as_kernel
from ..operators import Conv, Delay, Down, Up
from ._common import _TWO_PI, _check_rtol


@dataclass(frozen=True, eq=False)
class PRReport:
    """Perfect-reconstruction check of an ``M``-channel filter bank.

    Attributes
    ----------
    ok : bool
        The bank's overall operator equals ``gain * Delay(delay)`` with a
        nonzero gain (checked on the canonical form).
    delay : int
        ``d`` of the distortion function ``T(z) = A_0(z)``: the delay of its
        largest tap (the exact delay when ``ok``).
    gain : float or complex
        ``c``: that tap's value.
    alias_error : float
        ``max_{l >= 1, w} |A_l(e^{jw})| / |c|`` on a unit-circle grid.
    distortion_error : float
        ``max_w |A_0(e^{jw}) - c e^{-jwd}| / |c|``.
    """

    ok: bool
    delay: int
    gain: complex
    alias_error: float
    distortion_error: float


def _filters(bank, name):
    if isinstance(bank, np.ndarray) and bank.ndim == 2:
        bank = list(bank)
    if not isinstance(bank, (list, tuple)) or len(bank) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of 1-D filters, got "
                        f"{type(bank).__name__}")
    return [as_kernel(h, f"{name}[{k}]") for k, h in enumerate(bank)]


def perfect_reconstruction(analysis, synthesis, rtol=1e-9, worN=256) -> PRReport:
    """Check an ``M``-channel maximally decimated filter bank for perfect reconstruction.

    Parameters
    ----------
    analysis : sequence of array_like
        ``h_0 .. h_{M-1}``: channel ``k`` is ``Down(M) @ Conv(h_k)``.
    synthesis : sequence of array_like
        ``f_0 .. f_{M-1}``: channel ``k`` is ``Conv(f_k) @ Up(M)``.
    rtol : float
        Tolerance relative to the largest coefficient (operator equality) and
        to ``|gain|`` (alias and distortion errors).
    worN : int
        Unit-circle grid of the error metrics.

    Returns
    -------
    PRReport

    Notes
    -----
    The bank is the operator ``T = sum_k Conv(f_k) @ Up(M) @ Down(M) @
    Conv(h_k)``.  Its output is ``Y(z) = sum_l A_l(z) X(z W^l)``, ``W =
    e^{-j 2 pi / M}``, with the alias components ``A_l(z) = (1/M) sum_k
    H_k(z W^l) F_k(z)`` (the alias-component matrix ``[H_k(z W^l)]_{l, k}``
    times the synthesis filters).  It reconstructs perfectly, ``T = c
    Delay(d)``, exactly when ``A_0(z) = c z^{-d}`` and ``A_l = 0`` for ``l >=
    1``.  ``ok`` is decided in the operator algebra (``T.equals(c *
    Delay(d))``); the errors quantify how far a bank is from it.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.analysis import perfect_reconstruction
    >>> s = np.sqrt(0.5)
    >>> r = perfect_reconstruction([[s, s], [s, -s]], [[s, s], [-s, s]])
    >>> r.ok, r.delay, round(float(np.real(r.gain)), 12)
    (True, 1, 1.0)
    >>> perfect_reconstruction([[s, s], [s, -s]], [[s, s], [s, s]]).ok
    False
    """
    h = _filters(analysis, "analysis")
    f = _filters(synthesis, "synthesis")
    if len(h) != len(f):
        raise ValueError(f"analysis and synthesis must have the same number of "
                         f"channels M, got {len(h)} and {len(f)}")
    rtol = _check_rtol(rtol)
    n = as_int(worN, "worN", minimum=1)
    M = len(h)
    system = None
    for hk, fk in zip(h, f):
        branch = Conv(fk) @ Up(M) @ Down(M) @ Conv(hk)
        system = branch if system is None else system + branch
    # distortion function A_0 = (1/M) sum_k H_k F_k (the LTI part of T)
    a0 = sum(np.convolve(hk, fk) for hk, fk in zip(
        [np.pad(x, (0, max(map(len, h)) - len(x))) for x in h],
        [np.pad(x, (0, max(map(len, f)) - len(x))) for x in f])) / M
    delay = int(np.argmax(np.abs(a0)))
    gain = a0[delay]
    gain = complex(gain) if np.iscomplexobj(gain) else float(gain)
    ok = bool(gain != 0 and system.equals(gain * Delay(delay), rtol=max(rtol, 1e-15)))
    # alias components on the unit circle
    w = _TWO_PI * np.arange(n) / n
    l = np.arange(M)

    def dtft(x, freqs):
        return np.exp(-1j * np.multiply.outer(freqs, np.arange(x.size))) @ x
    A = np.zeros((M, n), dtype=np.complex128)
    for hk, fk in zip(h, f):
        Hs = dtft(hk, w[None, :] - _TWO_PI * l[:, None] / M)     # H_k(z W^l)
        A += Hs * dtft(fk, w)[None, :]
    A /= M
    scale = abs(gain) if gain != 0 else 1.0
    alias_error = float(np.abs(A[1:]).max() / scale) if M > 1 else 0.0
    distortion_error = float(np.abs(A[0] - gain * np.exp(-1j * w * delay)).max() / scale)
    return PRReport(ok, delay, gain, alias_error, distortion_error)

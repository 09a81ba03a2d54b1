"""Frequency responses, aliasing and bifrequency maps, the polyphase matrix on the unit circle."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import as_int
from ..operators import Conv, Delay, Down, Operator, Up
from ..system import DEFAULT_RTOL
from ._common import _as_operator, _single_channel, _freq_grid, _TWO_PI


def _lti_matrix(op, name: str = "op"):
    op = _as_operator(op, name)
    E = op.polyphase()
    _single_channel(E, op, name, "a frequency response")
    if E.nnz and (any(u != 1 for u in E.ups) or any(m != 1 for m in E.downs)):
        raise ValueError(
            f"{name}={op!r} is not time-invariant (rates {op.rates}); a frequency "
            f"response exists only for linear time-invariant operators -- use "
            f"polyphase.analysis.aliasing for multirate operators")
    return op, E


def frequency_response(op, worN=512, whole=False):
    """Frequency response of a linear time-invariant operator.

    Parameters
    ----------
    op : Operator or array_like
        An operator whose canonical rates are 1 (a convolution, delay, their
        sums and products, ``Down(M) @ Conv(dilate(h, M)) @ Up(M)``, ...), or
        a kernel array, taken as ``Conv(kernel)``.
    worN : int, array_like or (int, int)
        1-D: the number of frequencies (or the frequencies themselves, as for
        :func:`scipy.signal.freqz`).  2-D: ``n`` or ``(ny, nx)``.
    whole : bool
        1-D: frequencies on ``[0, 2 pi)`` instead of ``[0, pi)``.  2-D
        grids always cover a whole period, so ``whole`` is ignored.

    Returns
    -------
    w, H : ndarray
        1-D operators: ``w`` of shape ``(n,)`` in rad/sample and
        ``H(e^{jw}) = sum_n h[n] e^{-jwn}``, exactly ``scipy.signal.freqz(h,
        worN=worN, whole=whole)`` for ``Conv(h)``; negative delays (advances)
        give the matching phase.
    wy, wx, H : ndarray
        2-D operators: the fftshifted grids ``wy`` (``ny``,) and ``wx``
        (``nx``,) on ``[-pi, pi)`` and ``H`` of shape ``(ny, nx)``,
        ``H[a, b] = sum h[ky, kx] e^{-j (wy[a] ky + wx[b] kx)}``.

    Raises
    ------
    ValueError
        If ``op`` is not time-invariant (use :func:`aliasing`), mixes
        channels, or acts on more than two axes.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import frequency_response
    >>> w, H = frequency_response(pp.Conv([0.5, 0.5]), worN=4)
    >>> w
    array([0.        , 0.78539816, 1.57079633, 2.35619449])
    >>> np.round(abs(H), 6)
    array([1.      , 0.92388 , 0.707107, 0.382683])
    >>> wy, wx, H = frequency_response(np.ones((2, 2)) / 4, worN=4)
    >>> wx
    array([-3.14159265, -1.57079633,  0.        ,  1.57079633])
    >>> float(abs(H[2, 2]))
    1.0
    """
    op, E = _lti_matrix(op)
    if op.ndim == 1:
        from scipy.signal import freqz
        w = _freq_grid(worN, "worN", whole)
        if E.nnz == 0:
            return w, np.zeros(w.size, dtype=np.complex128)
        if isinstance(op, Conv):
            # the kernel as given: canonical forms drop taps below 1e-12 * max
            taps, start = op.h, 0
        else:
            taps, start = E.entry(0, 0)
        if isinstance(worN, numbers.Number):
            w, H = freqz(taps, worN=w.size, whole=whole)
        else:
            _, H = freqz(taps, worN=w)       # freqz rescales w by fs / 2 pi
        if start:
            H = H * np.exp(-1j * w * start)
        return w, H
    if op.ndim != 2:
        raise ValueError(f"op={op!r} acts on {op.ndim} axes; frequency_response "
                         f"supports 1-D and 2-D operators")
    if isinstance(worN, (tuple, list)):
        if len(worN) != 2:
            raise ValueError(f"worN must be an int or (ny, nx) for a 2-D operator, "
                             f"got {worN!r}")
        ny, nx = (as_int(v, "worN", minimum=1) for v in worN)
    else:
        ny = nx = as_int(worN, "worN", minimum=1)
    wy = _TWO_PI * np.fft.fftshift(np.fft.fftfreq(ny))
    wx = _TWO_PI * np.fft.fftshift(np.fft.fftfreq(nx))
    if E.nnz == 0:
        return wy, wx, np.zeros((ny, nx), dtype=np.complex128)
    ey = np.exp(-1j * np.outer(wy, E.k[:, 0]))                  # (ny, nnz)
    ex = np.exp(-1j * np.outer(wx, E.k[:, 1]))                  # (nx, nnz)
    return wy, wx, (ey * E.c) @ ex.T


# ----------------------------------------------------- multirate responses
def _matrix_1d(op, name: str, what: str):
    op = _as_operator(op, name)
    if op.ndim != 1:
        raise ValueError(f"{name}={op!r} acts on {op.ndim} axes; {what} supports "
                         f"1-D operators")
    E = op.polyphase()
    _single_channel(E, op, name, what)
    return op, E


def _evaluate(E, w) -> np.ndarray:
    """``E(e^{jw})`` for a 1-D, single-channel matrix: shape (n, L, M)."""
    L, M = E.up, E.down
    out = np.zeros((w.size, L, M), dtype=np.complex128)
    if E.nnz:
        np.add.at(out, (slice(None), E.p[:, 0], E.q[:, 0]),
                  np.exp(-1j * np.outer(w, E.k[:, 0])) * E.c)
    return out


def polyphase_response(op, worN=64):
    """The polyphase matrix ``E(e^{jw})`` on the unit circle.

    Parameters
    ----------
    op : Operator or array_like
        A 1-D channel-agnostic operator (or a kernel, as ``Conv(kernel)``).
    worN : int or array_like
        ``n`` gives ``w = 2 pi k / n``, ``k = 0..n-1`` (the whole circle);
        an array gives the frequencies.  ``w`` is the *block* frequency:
        ``z = e^{jw}`` is one period (``M`` input, ``L`` output samples).

    Returns
    -------
    ndarray, complex, shape (n, L, M)
        ``E[p, q](e^{jw}) = sum_k E[p, q][k] e^{-jwk}`` of the canonical
        polyphase matrix, ``(L, M) = op.rates``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import polyphase_response
    >>> E = polyphase_response(pp.Conv([1, 2, 3]) @ pp.Up(2), worN=2)
    >>> E.shape
    (2, 2, 1)
    >>> E[:, :, 0].real          # E_0 = 1 + 3 z^-1, E_1 = 2 at z = 1 and z = -1
    array([[ 4.,  2.],
           [-2.,  2.]])
    """
    _, E = _matrix_1d(op, "op", "polyphase_response")
    return _evaluate(E, _freq_grid(worN, "worN", whole=True))


@dataclass(frozen=True, eq=False)
class AliasingResponse:
    """Where a multirate operator sends each input frequency.

    The input ``e^{j theta n}`` with ``theta = input_freqs[i]`` becomes
    ``sum_m gains[m, i] e^{j output_freqs[m, i] n}``.

    Attributes
    ----------
    input_freqs : ndarray, shape (n,)
        Input frequencies (rad/sample).
    output_freqs : ndarray, shape (K, n)
        ``(M theta + 2 pi m) / L`` wrapped to ``[0, 2 pi)``, ``m = 0..K-1``,
        ``K = L``.
    gains : ndarray, complex, shape (K, n)
        Complex amplitude of each output exponential.
    rates : (int, int)
        ``(L, M)`` of the canonical polyphase matrix.
    """

    input_freqs: np.ndarray
    output_freqs: np.ndarray
    gains: np.ndarray
    rates: tuple


def aliasing(op, worN=512):
    """Aliasing and imaging components of a 1-D multirate operator.

    Parameters
    ----------
    op : Operator or array_like
        A 1-D channel-agnostic operator with rates ``(L, M)``, or a kernel.
    worN : int or array_like
        ``n`` input frequencies on ``[0, 2 pi)`` (``2 pi k / n``), or the
        input frequencies themselves.

    Returns
    -------
    AliasingResponse
        ``output_freqs`` and ``gains`` of shape ``(L, n)``: the input
        ``e^{j theta n}`` produces exactly ``sum_m gains[m] e^{j
        output_freqs[m] n}`` (in steady state, away from the edges of a
        finite signal).

    Notes
    -----
    With ``phi = M theta`` and ``A_p = sum_q E[p, q](e^{j phi}) e^{j theta q}``
    (the response of output phase ``p``), the output frequencies are ``w_m =
    (phi + 2 pi m)/L`` and the gains ``G_m = (1/L) sum_p A_p e^{-j w_m p}``.
    For ``Conv(h) @ Up(L)``: ``w_m = (theta + 2 pi m)/L`` and ``G_m =
    H(e^{j w_m}) / L`` (the images; zero insertion divides the amplitude by
    ``L``).  For ``Down(M) @ Conv(h)``: one output frequency ``M theta`` with
    gain ``H(e^{j theta})``; the inputs ``theta + 2 pi r / M`` alias onto it.
    For an LTI operator, ``gains[0]`` is the frequency response.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import aliasing
    >>> r = aliasing(pp.Conv([1, 1]) @ pp.Up(2), worN=4)
    >>> r.rates, r.gains.shape
    ((2, 1), (2, 4))
    >>> r.output_freqs / np.pi
    array([[0.  , 0.25, 0.5 , 0.75],
           [1.  , 1.25, 1.5 , 1.75]])
    >>> np.round(abs(r.gains), 4)
    array([[1.    , 0.9239, 0.7071, 0.3827],
           [0.    , 0.3827, 0.7071, 0.9239]])
    """
    _, E = _matrix_1d(op, "op", "aliasing")
    L, M = E.up, E.down
    theta = _freq_grid(worN, "worN", whole=True)
    phi = theta * M
    Ez = _evaluate(E, phi)                                        # (n, L, M)
    A = np.einsum("npq,nq->np", Ez, np.exp(1j * np.outer(theta, np.arange(M))))
    B = A * np.exp(-1j * np.outer(phi, np.arange(L)) / L)
    G = np.fft.fft(B, axis=1) / L                                 # (n, L)
    m = np.arange(L)[:, None]
    w_out = np.mod((phi[None, :] + _TWO_PI * m) / L, _TWO_PI)
    return AliasingResponse(theta, w_out, G.T, (L, M))


def bifrequency(op, n=256):
    """Bifrequency map: magnitude from every input to every output frequency.

    Parameters
    ----------
    op : Operator or array_like
        A 1-D channel-agnostic operator with rates ``(L, M)``, or a kernel.
    n : int
        Approximate number of input frequencies; rounded up to a multiple of
        ``M`` so that every output frequency falls on the output grid.

    Returns
    -------
    w_in : ndarray, shape (n_in,)
        ``2 pi k / n_in`` on ``[0, 2 pi)``, ``n_in = M ceil(n / M)``.
    w_out : ndarray, shape (n_out,)
        ``2 pi j / n_out`` on ``[0, 2 pi)``, ``n_out = n_in L / M``.
    magnitude : ndarray, shape (n_out, n_in)
        ``|gain|`` from input frequency ``w_in[k]`` to output frequency
        ``w_out[j]`` (zero where the operator does not connect them).  This
        is ``|DFT_out T DFT_in^{-1}|`` of the operator acting on
        ``n_in``-periodic signals (normalised as amplitudes), computed from
        :func:`aliasing`: input bin ``k`` reaches the output bins ``k + m
        n_in / M`` (mod ``n_out``), ``m = 0..L-1``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import bifrequency
    >>> w_in, w_out, mag = bifrequency(pp.Up(2), n=4)
    >>> mag
    array([[0.5, 0. , 0. , 0. ],
           [0. , 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0. ],
           [0. , 0. , 0. , 0.5],
           [0.5, 0. , 0. , 0. ],
           [0. , 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0. ],
           [0. , 0. , 0. , 0.5]])
    """
    _, E = _matrix_1d(op, "op", "bifrequency")
    n = as_int(n, "n", minimum=1)
    L, M = E.up, E.down
    n_in = M * -(-n // M)
    n_out = n_in * L // M
    w_in = _TWO_PI * np.arange(n_in) / n_in
    res = aliasing(op, w_in)
    k = np.arange(n_in)
    rows = (k[None, :] + np.arange(L)[:, None] * (n_in // M)) % n_out
    mag = np.zeros((n_out, n_in))
    mag[rows, np.broadcast_to(k, rows.shape)] = np.abs(res.gains)
    return w_in, _TWO_PI * np.arange(n_out) / n_out, mag


def is_lti(op, rtol=DEFAULT_RTOL) -> bool:
    """Whether an operator is time-invariant, i.e. a (matrix) convolution.

    Parameters
    ----------
    op : Operator or array_like
    rtol : float
        Relative tolerance for coefficients that cancel (see
        :meth:`polyphase.PolyphaseMatrix.canonical`).  It can only loosen the
        library's own tolerance (1e-12), used when the operator was reduced.

    Returns
    -------
    bool
        True when the canonical rates are 1 on every axis (or the operator
        is zero).  Operators that mix channels count as multichannel
        convolutions.

    Notes
    -----
    An operator with rates ``(L, L)`` is time-invariant exactly when its
    ``L x L`` polyphase matrix is *pseudo-circulant*: ``E[p, q](z) =
    E[(p - q) mod L, 0](z)`` times ``z^{-1}`` when ``p < q``.  That is the
    matrix of a rate-1 operator lifted to period ``L``, and the canonical
    reduction (:meth:`~polyphase.PolyphaseMatrix.reduced`) tries precisely
    that: it un-lifts by every divisor of ``gcd(L, M)`` and keeps the result
    when lifting it back reproduces the matrix.  So the pseudo-circulant test
    is "the canonical rates are (1, 1)".  With ``L != M`` the operator changes
    the rate and is never time-invariant.

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase.analysis import is_lti
    >>> is_lti(pp.Down(3) @ pp.Conv([1, 2, 3, 4, 5]) @ pp.Up(3))
    True
    >>> is_lti(pp.Up(2) @ pp.Down(2))
    False
    >>> is_lti(pp.Up(2) @ pp.Down(2) + pp.Delay(1) @ pp.Up(2) @ pp.Down(2) @ pp.Delay(-1))
    True
    """
    op = _as_operator(op, "op")
    if not isinstance(rtol, numbers.Real) or isinstance(rtol, bool) or rtol < 0:
        raise ValueError(f"rtol must be a non-negative number, got {rtol!r}")
    E = op.polyphase()
    if rtol > DEFAULT_RTOL:
        E = E.canonical(rtol)
    return bool(E.nnz == 0 or all(u == 1 and m == 1 for u, m in zip(E.ups, E.downs)))

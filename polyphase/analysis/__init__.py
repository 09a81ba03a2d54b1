"""Spectral analysis of multirate operators: responses, aliasing, checkerboards, filter banks.

Everything here is computed from the canonical polyphase matrix
(:meth:`polyphase.Operator.polyphase`), so it applies to every operator the
library can build -- compositions, sums, transposes, :mod:`polyphase.nn`
layers -- and not only to the textbook forms.

* :func:`frequency_response` -- ``H(e^{jw})`` of a linear time-invariant
  operator (1-D: as :func:`scipy.signal.freqz`; 2-D kernels on a centred grid).
* :func:`aliasing` and :func:`bifrequency` -- where a multirate operator sends
  each input frequency (imaging for interpolators, aliasing for decimators).
* :func:`polyphase_response` and :func:`is_lti` -- the polyphase matrix on the
  unit circle; whether an operator is a plain convolution.
* :func:`checkerboard`, :func:`constant_response`, :func:`gradient_checkerboard`
  -- checkerboard artifacts of transposed (and, dually, strided) convolutions;
  :func:`make_checkerboard_free` and :func:`icnr` as remedies.
* :func:`perfect_reconstruction` -- an ``M``-channel maximally decimated
  filter bank checked through the operator algebra and the alias-component
  matrix.

Notes
-----
**Aliasing of a periodically shift-varying operator.**  Let ``E(z)`` be the
``L x M`` polyphase matrix of an operator with rates ``(L, M)``: ``y[bL + p] =
sum_q sum_k E[p, q][k] x[(b - k)M + q]``.  The input ``x[n] = e^{j theta n}``
has phases ``x_q[b] = e^{j theta q} e^{j theta M b}``, so output phase ``p`` is
``A_p e^{j phi b}`` with ``phi = theta M`` and ``A_p = sum_q E[p, q](e^{j phi})
e^{j theta q}``.  A sequence whose ``L`` phases are ``A_p e^{j phi b}`` is the
sum of the ``L`` exponentials at ``w_m = (phi + 2 pi m) / L``, ``m = 0..L-1``,
with amplitudes

    G_m = (1/L) sum_p A_p e^{-j phi p / L} e^{-j 2 pi m p / L}

(a DFT over the output phases).  For ``Conv(h) @ Up(L)`` this gives ``w_m =
(theta + 2 pi m)/L`` and ``G_m = H(e^{j w_m}) / L``: the ``1/L`` is the energy
that zero insertion spreads over the ``L`` images.  For ``Down(M) @ Conv(h)``
there is a single output frequency ``M theta`` (mod ``2 pi``) with gain
``H(e^{j theta})``, and the ``M`` inputs ``theta + 2 pi m / M`` all land on it:
aliasing.

**Checkerboard artifacts** (multirate-anchors section 4.6).  A stride-``s``
transposed convolution ``Conv(w) @ Up(s)`` has the polyphase components
``e_r[j] = w[r + j s]`` with DC gains ``g_r = E_r(1) = sum_j w[r + j s]``.  A
constant input ``c`` gives the steady-state output ``y[b s + r] = c g_r``, and
``W(e^{j 2 pi m / s}) = sum_r g_r e^{-j 2 pi m r / s}`` (the DFT of the
gains), so the output is constant exactly when all ``g_r`` are equal, exactly
when ``W`` vanishes at the image frequencies ``2 pi m / s``, ``m = 1..s-1``,
exactly when ``w`` contains the zero-order hold ``(1, ..., 1)`` (``s`` ones) as
a convolution factor.  The popular rule "kernel size divisible by the stride"
is neither necessary nor sufficient: ``[0.7, 0.3]`` with stride 2 is not free
although ``2 % 2 == 0``, and ``[0.5, 1, 0.5]`` with stride 2 is free although
``3 % 2 != 0``.
"""


from ._common import CHECKERBOARD_RTOL
from .checkerboard import (CheckerboardReport, checkerboard, constant_response,
                           gradient_checkerboard, icnr, make_checkerboard_free)
from .filterbank import PRReport, perfect_reconstruction
from .responses import (AliasingResponse, aliasing, bifrequency, frequency_response,
                        is_lti, polyphase_response)

__all__ = ["frequency_response", "aliasing", "AliasingResponse", "bifrequency",
           "polyphase_response", "is_lti", "checkerboard", "CheckerboardReport",
           "constant_response", "gradient_checkerboard", "make_checkerboard_free",
           "icnr", "perfect_reconstruction", "PRReport", "CHECKERBOARD_RTOL"]

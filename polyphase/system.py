"""The polyphase-matrix representation of a multirate operator and its algebra.

A linear operator with rates ``(L, M)`` maps ``M`` input samples to ``L`` output
samples per period.  Cut the input into ``M`` phases ``x_q[b] = x[b*M + q]`` and
the output into ``L`` phases ``y_p[b] = y[b*L + p]``; then

    y_p[b] = sum_q sum_k E[p, q][k] * x_q[b - k]

``E`` is an ``L x M`` matrix of FIR filters over the block index ``b``.  It is
stored densely: ``coef[p, q, j]`` is the tap of ``E[p, q]`` at block delay
``k = start + j``.

Besides the coefficients every entry carries a *declared support*
``[lo[p, q], hi[p, q]]`` (empty when ``lo > hi``).  Taps inside it may be zero:
``Conv([1, 2, 0])`` declares three taps although the last is zero, exactly as
``np.convolve`` does.  Declared supports only decide the extent of finite outputs
(``full``/``same``/``valid`` windows); the algebra and equality are about the
coefficients alone (see :meth:`PolyphaseMatrix.canonical`).
"""

from __future__ import annotations

from math import gcd

import numpy as np

__all__ = ["PolyphaseMatrix"]

# Relative tolerance used by ``equals`` and by period reduction.  Products of
# polyphase matrices sum terms in another order than, say, ``np.convolve``; a few
# ulps of difference must not make two equal operators unequal.
DEFAULT_RTOL = 1e-12


def _lcm(a: int, b: int) -> int:
    return a // gcd(a, b) * b


def _divisors_descending(n: int) -> list[int]:
    return [d for d in range(n, 0, -1) if n % d == 0]


class PolyphaseMatrix:
    """Polyphase matrix ``E`` of a linear periodically shift-varying operator.

    Parameters
    ----------
    up, down : int
        The rates ``L`` (output samples per period) and ``M`` (input samples
        per period).
    coef : array_like, shape (up, down, K)
        ``coef[p, q, j]`` is the tap of the filter ``E[p, q]`` at block delay
        ``start + j``.
    start : int
        Block delay of ``coef[..., 0]``.
    lo, hi : array_like of int, shape (up, down), optional
        Declared support of each entry (inclusive block delays; empty where
        ``lo > hi``).  By default every entry with a nonzero tap declares the
        span of its nonzero taps.

    Notes
    -----
    Instances are immutable values; every operation returns a new one.

    Examples
    --------
    >>> import polyphase as pp
    >>> E = (pp.Down(2) @ pp.Conv([1, 2, 3])).polyphase()
    >>> E.up, E.down
    (1, 2)
    >>> E.entry(0, 0), E.entry(0, 1)
    ((array([1., 3.]), 0), (array([2.]), 1))
    """

    __slots__ = ("up", "down", "coef", "start", "lo", "hi")

    def __init__(self, up, down, coef, start=0, lo=None, hi=None):
        coef = np.asarray(coef)
        if coef.dtype.kind not in "fc":
            coef = coef.astype(np.float64)
        elif coef.dtype.kind == "f":
            coef = coef.astype(np.float64, copy=False)
        else:
            coef = coef.astype(np.complex128, copy=False)
        if coef.ndim != 3 or coef.shape[:2] != (up, down):
            raise ValueError(
                f"coef must have shape ({up}, {down}, K), got {coef.shape}")
        self.up = int(up)
        self.down = int(down)
        self.coef = coef
        self.start = int(start)
        if lo is None or hi is None:
            lo, hi = _nonzero_span(coef, self.start)
        self.lo = np.asarray(lo, dtype=np.int64)
        self.hi = np.asarray(hi, dtype=np.int64)
        for a in (self.coef, self.lo, self.hi):
            a.setflags(write=False)

    # ------------------------------------------------------------------ views
    @property
    def ntaps(self) -> int:
        """Number of block delays spanned by ``coef`` (its last axis)."""
        return self.coef.shape[2]

    @property
    def is_complex(self) -> bool:
        return self.coef.dtype.kind == "c"

    def entry(self, p: int, q: int):
        """Filter ``E[p, q]`` as ``(taps, offset)`` with zero edges trimmed.

        ``taps[i]`` is the coefficient at block delay ``offset + i``; a zero
        entry is ``(array([]), 0)``.
        """
        taps = self.coef[p, q]
        nz = np.flatnonzero(taps)
        if nz.size == 0:
            return taps[:0].copy(), 0
        return taps[nz[0]:nz[-1] + 1].copy(), self.start + int(nz[0])

    def __repr__(self):
        return (f"PolyphaseMatrix(up={self.up}, down={self.down}, "
                f"start={self.start}, coef=\n{self.coef!r})")

    # ---------------------------------------------------------------- algebra
    def scale(self, c) -> "PolyphaseMatrix":
        return PolyphaseMatrix(self.up, self.down, self.coef * c, self.start,
                               self.lo, self.hi)

    def transpose(self, conjugate: bool = False) -> "PolyphaseMatrix":
        """Transpose (``conjugate=True``: conjugate transpose) of the operator.

        Rates swap, ``E`` is transposed and every filter is time-reversed:
        ``E^T[q, p][k] = E[p, q][-k]``.
        """
        coef = self.coef[:, :, ::-1].transpose(1, 0, 2)
        if conjugate:
            coef = coef.conj()
        start = -(self.start + self.ntaps - 1)
        return PolyphaseMatrix(self.down, self.up, coef, start,
                               -self.hi.T, -self.lo.T)

    def lift(self, r: int) -> "PolyphaseMatrix":
        """The same operator described with an ``r`` times longer period.

        Output phase ``i*L + p`` and input phase ``t*M + q`` of the lifted
        matrix see the tap ``E[p, q][k]`` at block delay ``ceil((k - i) / r)``
        when ``t == (i - k) mod r``.
        """
        if r == 1:
            return self
        L, M, K, s = self.up, self.down, self.ntaps, self.start
        new_start = -((r - 1 - s) // r)             # ceil((s - r + 1) / r)
        new_k = -(-(s + K - 1) // r) - new_start + 1 if K else 0
        out = np.zeros((r, L, r, M, new_k), dtype=self.coef.dtype)
        ks = s + np.arange(K)
        taps_first = self.coef.transpose(2, 0, 1)   # (K, L, M)
        lo = np.empty((r, L, r, M), dtype=np.int64)
        hi = np.empty((r, L, r, M), dtype=np.int64)
        nonempty = self.lo <= self.hi
        for i in range(r):
            t = (i - ks) % r
            kp = (ks - i + t) // r - new_start
            out[i, :, t, :, kp] = taps_first
            for tt in range(r):
                rho = (i - tt) % r                  # k == rho (mod r)
                kmin = self.lo + (rho - self.lo) % r
                kmax = self.hi - (self.hi - rho) % r
                ok = nonempty & (kmin <= kmax)
                lo[i, :, tt, :] = np.where(ok, (kmin - i + tt) // r, 1)
                hi[i, :, tt, :] = np.where(ok, (kmax - i + tt) // r, 0)
        return PolyphaseMatrix(r * L, r * M, out.reshape(r * L, r * M, new_k),
                               new_start, lo.reshape(r * L, r * M),
                               hi.reshape(r * L, r * M))

    def compose(self, first: "PolyphaseMatrix") -> "PolyphaseMatrix":
        """``self @ first``: apply ``first``, then ``self``.

        Both are lifted to a common period of the signal between them, then the
        polyphase matrices are multiplied (entries multiply by convolution).
        """
        mid = _lcm(first.up, self.down)
        a = self.lift(mid // self.down)
        b = first.lift(mid // first.up)
        return _matmul(a, b)

    def add(self, other: "PolyphaseMatrix") -> "PolyphaseMatrix":
        """Sum of two operators with the same rate ratio ``L / M``."""
        if self.up * other.down != other.up * self.down:
            raise ValueError(
                "operators added together must have the same rate ratio "
                f"up/down, got {self.up}/{self.down} and {other.up}/{other.down}")
        period = _lcm(self.up, other.up)
        a = self.lift(period // self.up)
        b = other.lift(period // other.up)
        start = min(a.start, b.start)
        stop = max(a.start + a.ntaps, b.start + b.ntaps)
        dtype = np.result_type(a.coef, b.coef)
        coef = np.zeros((a.up, a.down, stop - start), dtype=dtype)
        coef[:, :, a.start - start:a.start - start + a.ntaps] += a.coef
        coef[:, :, b.start - start:b.start - start + b.ntaps] += b.coef
        a_ok, b_ok = a.lo <= a.hi, b.lo <= b.hi
        lo = np.where(a_ok & b_ok, np.minimum(a.lo, b.lo),
                      np.where(a_ok, a.lo, b.lo))
        hi = np.where(a_ok & b_ok, np.maximum(a.hi, b.hi),
                      np.where(a_ok, a.hi, b.hi))
        return PolyphaseMatrix(a.up, a.down, coef, start, lo, hi)

    # -------------------------------------------------------- canonical form
    def trimmed(self) -> "PolyphaseMatrix":
        """Zero taps removed from both ends; supports become the nonzero spans."""
        nz = np.flatnonzero(np.any(self.coef != 0, axis=(0, 1)))
        if nz.size == 0:
            coef = self.coef[:, :, :0]
            return PolyphaseMatrix(self.up, self.down, coef, 0)
        coef = self.coef[:, :, nz[0]:nz[-1] + 1]
        return PolyphaseMatrix(self.up, self.down, coef, self.start + int(nz[0]))

    def reduced(self, rtol: float = DEFAULT_RTOL) -> "PolyphaseMatrix":
        """The same operator with the shortest period that describes it.

        Tries every divisor ``r`` of ``gcd(L, M)``, largest first: the candidate
        is read off the first ``L / r`` output phases and accepted when lifting
        it by ``r`` gives back this matrix.
        """
        this = self.trimmed()
        for r in _divisors_descending(gcd(this.up, this.down)):
            if r == 1:
                return this
            small = _unlift(this, r)
            if _close(small.lift(r).trimmed(), this, rtol):
                return small
        return this

    def canonical(self, rtol: float = DEFAULT_RTOL) -> "PolyphaseMatrix":
        """Canonical form: shortest period, zero taps trimmed.

        Two operators are equal exactly when their canonical forms are.
        """
        return self.reduced(rtol)

    def equals(self, other: "PolyphaseMatrix", rtol: float = DEFAULT_RTOL) -> bool:
        return _close(self.canonical(rtol), other.canonical(rtol), rtol)


def _nonzero_span(coef: np.ndarray, start: int):
    """Per-entry first and last nonzero block delay (``lo > hi`` when none)."""
    nz = coef != 0
    K = coef.shape[2]
    if K == 0:
        return np.ones(coef.shape[:2]), np.zeros(coef.shape[:2])
    any_nz = nz.any(axis=2)
    first = np.argmax(nz, axis=2)
    last = K - 1 - np.argmax(nz[:, :, ::-1], axis=2)
    lo = np.where(any_nz, start + first, 1)
    hi = np.where(any_nz, start + last, 0)
    return lo, hi


def _matmul(a: PolyphaseMatrix, b: PolyphaseMatrix) -> PolyphaseMatrix:
    """Product of polyphase matrices whose inner dimensions agree."""
    L, mid, M = a.up, a.down, b.down
    dtype = np.result_type(a.coef, b.coef)
    ka, kb = a.ntaps, b.ntaps
    if ka == 0 or kb == 0:
        coef = np.zeros((L, M, 0), dtype=dtype)
    elif L == mid == M == 1:
        # Plain convolution: use numpy's so Conv(a) @ Conv(b) is bit-identical
        # to Conv(np.convolve(a, b)).
        coef = np.convolve(a.coef[0, 0], b.coef[0, 0])[None, None, :]
    else:
        coef = np.zeros((L, M, ka + kb - 1), dtype=dtype)
        for j in range(ka):
            coef[:, :, j:j + kb] += np.einsum("pm,mqk->pqk", a.coef[:, :, j], b.coef)
    a_ok, b_ok = a.lo <= a.hi, b.lo <= b.hi
    pair = a_ok[:, :, None] & b_ok[None, :, :]               # (L, mid, M)
    big = np.iinfo(np.int64).max // 4
    lo = np.where(pair, a.lo[:, :, None] + b.lo[None, :, :], big).min(axis=1)
    hi = np.where(pair, a.hi[:, :, None] + b.hi[None, :, :], -big).max(axis=1)
    any_pair = pair.any(axis=1)
    lo = np.where(any_pair, lo, 1)
    hi = np.where(any_pair, hi, 0)
    return PolyphaseMatrix(L, M, coef, a.start + b.start, lo, hi)


def _unlift(big: PolyphaseMatrix, r: int) -> PolyphaseMatrix:
    """Candidate period-``1/r`` matrix read off the first output phases.

    Inverse of :meth:`PolyphaseMatrix.lift` on its rows ``i = 0``: the tap of
    ``E[p, q]`` at delay ``k = r*k' - t`` sits at ``E'[p, t*M + q][k']``.
    """
    L, M = big.up // r, big.down // r
    K, s = big.ntaps, big.start
    rows = big.coef[:L].reshape(L, r, M, K)                 # (p, t, q, k')
    small_start = r * s - (r - 1)
    coef = np.zeros((L, M, r * K), dtype=big.coef.dtype)
    kp = np.arange(K)
    for t in range(r):
        coef[:, :, r * (s + kp) - t - small_start] = rows[:, t]
    return PolyphaseMatrix(L, M, coef, small_start).trimmed()


def _close(a: PolyphaseMatrix, b: PolyphaseMatrix, rtol: float) -> bool:
    if (a.up, a.down, a.start, a.ntaps) != (b.up, b.down, b.start, b.ntaps):
        return False
    if a.ntaps == 0:
        return True
    scale = max(np.abs(a.coef).max(), np.abs(b.coef).max())
    return bool(np.abs(a.coef - b.coef).max() <= rtol * scale)

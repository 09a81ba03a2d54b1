"""The polyphase-matrix representation of a multirate operator and its algebra.

A linear operator with rates ``(L, M)`` maps ``M`` input samples to ``L`` output
samples per period.  Cut the input into ``M`` phases ``x_q[b] = x[b*M + q]`` and
the output into ``L`` phases ``y_p[b] = y[b*L + p]``; then

    y_p[b] = sum_q sum_k E[p, q][k] * x_q[b - k]

``E`` is an ``L x M`` matrix of FIR filters over the block index ``b``.

Storage is sparse: the nonzero taps as four parallel arrays ``(p, q, k, c)`` --
output phase, input phase, block delay, coefficient -- sorted by ``(p, q, k)``
without duplicates.  Composition lifts both operands to the least common period
of the signal between them; for ``Down(147) @ Conv(h) @ Up(160)`` that period is
23520, where a dense ``L x M x K`` array would need gigabytes while the nonzero
taps number a few hundred thousand.

Every entry also carries a *declared support* ``[lo, hi]`` of block delays
(arrays ``dp, dq, dlo, dhi``, one row per declared entry).  Taps inside it may
be zero: ``Conv([1, 2, 0])`` declares three taps although the last is zero, as
``np.convolve`` does.  Declared supports only decide the extent of finite
outputs (``full``/``same``/``valid`` windows); the algebra and equality are
about the coefficients alone (see :meth:`PolyphaseMatrix.canonical`).
"""

from __future__ import annotations

from functools import cached_property
from math import gcd

import numpy as np

__all__ = ["PolyphaseMatrix"]

# Relative tolerance used by ``equals`` and by period reduction.  Products of
# polyphase matrices sum terms in another order than, say, ``np.convolve``; a few
# ulps of difference must not make two equal operators unequal.
DEFAULT_RTOL = 1e-12

_INT = np.int64


def _lcm(a: int, b: int) -> int:
    return a // gcd(a, b) * b


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal values starts in sorted ``keys``."""
    if keys.size == 0:
        return np.zeros(0, dtype=_INT)
    return np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))


def _coalesce_taps(M, p, q, k, c):
    """Sort taps by ``(p, q, k)``, add duplicates and drop zeros."""
    p, q, k = (np.asarray(a, dtype=_INT) for a in (p, q, k))
    c = np.asarray(c)
    if c.size == 0:
        return p, q, k, c
    kmin = k.min()
    span = int(k.max() - kmin) + 1
    key = (p * M + q) * span + (k - kmin)
    order = np.argsort(key, kind="stable")
    key, c = key[order], c[order]
    starts = _group_starts(key)
    summed = np.add.reduceat(c, starts) if starts.size < key.size else c
    key = key[starts]
    keep = summed != 0
    key, summed = key[keep], summed[keep]
    pq, kk = np.divmod(key, span)
    pp, qq = np.divmod(pq, M)
    return pp, qq, kk + kmin, summed


def _coalesce_declared(M, p, q, lo, hi):
    """One declared interval per entry: the hull of the given ones."""
    p, q, lo, hi = (np.asarray(a, dtype=_INT) for a in (p, q, lo, hi))
    if p.size == 0:
        return p, q, lo, hi
    key = p * M + q
    order = np.argsort(key, kind="stable")
    key, lo, hi = key[order], lo[order], hi[order]
    starts = _group_starts(key)
    pq = key[starts]
    return (pq // M, pq % M, np.minimum.reduceat(lo, starts),
            np.maximum.reduceat(hi, starts))


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
        ``lo > hi``).  By default the span of each entry's nonzero taps.

    Attributes
    ----------
    up, down : int
        Rates.
    p, q, k, c : ndarray
        The nonzero taps: ``E[p[i], q[i]]`` has coefficient ``c[i]`` at block
        delay ``k[i]``; sorted by ``(p, q, k)``.
    coef, start : ndarray, int
        Dense view: ``coef[p, q, j]`` is the tap at block delay ``start + j``.

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

    def __init__(self, up, down, coef, start=0, lo=None, hi=None):
        coef = np.asarray(coef)
        if coef.ndim != 3 or coef.shape[:2] != (up, down):
            raise ValueError(f"coef must have shape ({up}, {down}, K), got {coef.shape}")
        coef = coef.astype(np.complex128 if coef.dtype.kind == "c" else np.float64)
        p, q, j = np.nonzero(coef)
        taps = (p, q, j + int(start), coef[p, q, j])
        if lo is None or hi is None:
            declared = None
        else:
            lo, hi = np.asarray(lo), np.asarray(hi)
            dp, dq = np.nonzero(lo <= hi)
            declared = (dp, dq, lo[dp, dq], hi[dp, dq])
        self._set(int(up), int(down), taps, declared)

    @classmethod
    def from_taps(cls, up, down, taps, declared=None) -> "PolyphaseMatrix":
        """Build from tap arrays ``(p, q, k, c)`` (duplicates are added).

        ``declared`` is ``(p, q, lo, hi)`` arrays, one row per declared entry
        (overlapping rows merge into their hull); by default every entry
        declares the span of its nonzero taps.
        """
        self = cls.__new__(cls)
        self._set(int(up), int(down), taps, declared)
        return self

    def _set(self, up, down, taps, declared):
        self.up, self.down = up, down
        c = np.asarray(taps[3])
        c = c.astype(np.complex128 if c.dtype.kind == "c" else np.float64)
        self.p, self.q, self.k, self.c = _coalesce_taps(down, *taps[:3], c)
        if declared is None:
            declared = self._nonzero_spans()
        self.dp, self.dq, self.dlo, self.dhi = _coalesce_declared(down, *declared)
        for a in (self.p, self.q, self.k, self.c, self.dp, self.dq, self.dlo, self.dhi):
            a.setflags(write=False)

    def _nonzero_spans(self):
        """Declared rows covering exactly the nonzero taps of each entry."""
        return self.p, self.q, self.k, self.k        # merged into hulls

    # ------------------------------------------------------------------ views
    @property
    def is_complex(self) -> bool:
        return self.c.dtype.kind == "c"

    @property
    def nnz(self) -> int:
        """Number of nonzero taps."""
        return self.c.size

    @property
    def start(self) -> int:
        """Smallest block delay of a nonzero tap (0 for the zero operator)."""
        return int(self.k.min()) if self.k.size else 0

    @property
    def ntaps(self) -> int:
        """Number of block delays spanned by the nonzero taps."""
        return int(self.k.max()) - self.start + 1 if self.k.size else 0

    @cached_property
    def coef(self) -> np.ndarray:
        """Dense ``(up, down, ntaps)`` array; ``coef[p, q, j]`` at delay ``start + j``."""
        dense = np.zeros((self.up, self.down, self.ntaps), dtype=self.c.dtype)
        dense[self.p, self.q, self.k - self.start] = self.c
        dense.setflags(write=False)
        return dense

    def _declared_dense(self, values, empty):
        out = np.full((self.up, self.down), empty, dtype=_INT)
        out[self.dp, self.dq] = values
        return out

    @property
    def lo(self) -> np.ndarray:
        """``(up, down)`` first declared block delay of each entry (``lo > hi``: none)."""
        return self._declared_dense(self.dlo, 1)

    @property
    def hi(self) -> np.ndarray:
        """``(up, down)`` last declared block delay of each entry."""
        return self._declared_dense(self.dhi, 0)

    def entry(self, p: int, q: int):
        """Filter ``E[p, q]`` as ``(taps, offset)`` with zero edges trimmed.

        ``taps[i]`` is the coefficient at block delay ``offset + i``; a zero
        entry is ``(array([]), 0)``.
        """
        sel = (self.p == p) & (self.q == q)
        k, c = self.k[sel], self.c[sel]
        if k.size == 0:
            return np.zeros(0, dtype=self.c.dtype), 0
        taps = np.zeros(int(k.max() - k.min()) + 1, dtype=self.c.dtype)
        taps[k - k.min()] = c
        return taps, int(k.min())

    def __repr__(self):
        return (f"PolyphaseMatrix(up={self.up}, down={self.down}, "
                f"start={self.start}, coef=\n{self.coef!r})")

    # ---------------------------------------------------------------- algebra
    def _declared_rows(self):
        return self.dp, self.dq, self.dlo, self.dhi

    def scale(self, s) -> "PolyphaseMatrix":
        return PolyphaseMatrix.from_taps(self.up, self.down,
                                         (self.p, self.q, self.k, self.c * s),
                                         self._declared_rows())

    def transpose(self, conjugate: bool = False) -> "PolyphaseMatrix":
        """Transpose (``conjugate=True``: conjugate transpose) of the operator.

        Rates swap, ``E`` is transposed and every filter is time-reversed:
        ``E^T[q, p][k] = E[p, q][-k]``.
        """
        c = self.c.conj() if conjugate else self.c
        return PolyphaseMatrix.from_taps(self.down, self.up, (self.q, self.p, -self.k, c),
                                         (self.dq, self.dp, -self.dhi, -self.dlo))

    def lift(self, r: int) -> "PolyphaseMatrix":
        """The same operator described with an ``r`` times longer period.

        Output phase ``i*L + p`` and input phase ``t*M + q`` of the lifted
        matrix see the tap ``E[p, q][k]`` at block delay ``ceil((k - i) / r)``
        when ``t == (i - k) mod r``.
        """
        if r == 1:
            return self
        L, M = self.up, self.down
        i = np.arange(r, dtype=_INT)[:, None]
        t = (i - self.k) % r
        taps = (i * L + self.p, t * M + self.q, (self.k - i + t) // r,
                np.broadcast_to(self.c, t.shape))
        # A declared interval [lo, hi] contributes to (i, t) the delays
        # k == i - t (mod r) inside it.
        i3, t3 = i[:, :, None], np.arange(r, dtype=_INT)[None, :, None]
        rho = (i3 - t3) % r
        kmin = self.dlo + (rho - self.dlo) % r
        kmax = self.dhi - (self.dhi - rho) % r
        ok = kmin <= kmax
        shape = ok.shape
        declared = tuple(np.broadcast_to(a, shape)[ok] for a in (
            i3 * L + self.dp, t3 * M + self.dq, (kmin - i3 + t3) // r,
            (kmax - i3 + t3) // r))
        return PolyphaseMatrix.from_taps(r * L, r * M,
                                         tuple(a.ravel() for a in taps), declared)

    def compose(self, first: "PolyphaseMatrix") -> "PolyphaseMatrix":
        """``self @ first``: apply ``first``, then ``self``.

        Both are lifted to a common period of the signal between them, then the
        polyphase matrices are multiplied (entries multiply by convolution).
        """
        mid = _lcm(first.up, self.down)
        return _matmul(self.lift(mid // self.down), first.lift(mid // first.up))

    def add(self, other: "PolyphaseMatrix") -> "PolyphaseMatrix":
        """Sum of two operators with the same rate ratio ``L / M``."""
        if self.up * other.down != other.up * self.down:
            raise ValueError(
                "operators added together must have the same rate ratio "
                f"up/down, got {self.up}/{self.down} and {other.up}/{other.down}")
        period = _lcm(self.up, other.up)
        a, b = self.lift(period // self.up), other.lift(period // other.up)
        taps = tuple(np.concatenate(pair) for pair in zip(
            (a.p, a.q, a.k, a.c), (b.p, b.q, b.k, b.c)))
        declared = tuple(np.concatenate(pair) for pair in zip(
            a._declared_rows(), b._declared_rows()))
        return PolyphaseMatrix.from_taps(a.up, a.down, taps, declared)

    # -------------------------------------------------------- canonical form
    def trimmed(self, rtol: float = 0.0) -> "PolyphaseMatrix":
        """Declared supports shrunk to the nonzero spans.

        Taps of magnitude ``<= rtol`` times the largest one count as zero
        (rounding residue of a cancellation).
        """
        keep = slice(None)
        if rtol and self.nnz:
            keep = np.abs(self.c) > rtol * np.abs(self.c).max()
        return PolyphaseMatrix.from_taps(
            self.up, self.down, (self.p[keep], self.q[keep], self.k[keep], self.c[keep]))

    def reduced(self, rtol: float = DEFAULT_RTOL) -> "PolyphaseMatrix":
        """The same operator with the shortest period that describes it.

        Tries every divisor ``r`` of ``gcd(L, M)``, largest first: the candidate
        is read off the first ``L / r`` output phases and accepted when lifting
        it by ``r`` gives back this matrix.
        """
        this = self.trimmed(rtol)
        g = gcd(this.up, this.down)
        for r in range(g, 1, -1):
            if g % r:
                continue
            small = _unlift(this, r)
            if _close(small.lift(r), this, rtol):
                return small
        return this

    def canonical(self, rtol: float = DEFAULT_RTOL) -> "PolyphaseMatrix":
        """Canonical form: shortest period, supports = nonzero spans.

        Two operators are equal exactly when their canonical forms are.
        """
        return self.reduced(rtol)

    def equals(self, other: "PolyphaseMatrix", rtol: float = DEFAULT_RTOL) -> bool:
        return _close(self.canonical(rtol), other.canonical(rtol), rtol)


def _pairs(a_keys: np.ndarray, b_keys: np.ndarray):
    """All index pairs ``(i, j)`` with ``a_keys[i] == b_keys[j]`` (``b`` sorted)."""
    lo = np.searchsorted(b_keys, a_keys, "left")
    counts = np.searchsorted(b_keys, a_keys, "right") - lo
    ia = np.repeat(np.arange(a_keys.size), counts)
    offsets = np.cumsum(counts) - counts
    ib = lo[ia] + np.arange(ia.size) - offsets[ia]
    return ia, ib


def _matmul(a: PolyphaseMatrix, b: PolyphaseMatrix) -> PolyphaseMatrix:
    """Product of polyphase matrices whose inner dimensions agree."""
    if a.up == a.down == b.down == 1 and a.nnz and b.nnz:
        # Plain convolution: use numpy's so Conv(a) @ Conv(b) is bit-identical
        # to Conv(np.convolve(a, b)).
        (ha, ka), (hb, kb) = a.entry(0, 0), b.entry(0, 0)
        h = np.convolve(ha, hb)
        zeros = np.zeros(h.size, dtype=_INT)
        taps = (zeros, zeros, ka + kb + np.arange(h.size), h)
    else:
        ia, ib = _pairs(a.q, b.p)                     # b is sorted by p
        taps = (a.p[ia], b.q[ib], a.k[ia] + b.k[ib], a.c[ia] * b.c[ib])
    ia, ib = _pairs(a.dq, b.dp)                      # declared rows sorted by p
    declared = (a.dp[ia], b.dq[ib], a.dlo[ia] + b.dlo[ib], a.dhi[ia] + b.dhi[ib])
    return PolyphaseMatrix.from_taps(a.up, b.down, taps, declared)


def _unlift(big: PolyphaseMatrix, r: int) -> PolyphaseMatrix:
    """Candidate period-``1/r`` matrix read off the first output phases.

    Inverse of :meth:`PolyphaseMatrix.lift` on its rows ``i = 0``: the tap of
    ``E[p, q]`` at delay ``k = r*k' - t`` sits at ``E'[p, t*M + q][k']``.
    """
    L, M = big.up // r, big.down // r
    rows = big.p < L
    t, q = np.divmod(big.q[rows], M)
    return PolyphaseMatrix.from_taps(L, M, (big.p[rows], q, r * big.k[rows] - t,
                                            big.c[rows]))


def _close(a: PolyphaseMatrix, b: PolyphaseMatrix, rtol: float) -> bool:
    if (a.up, a.down, a.nnz) != (b.up, b.down, b.nnz):
        return False
    if a.nnz == 0:
        return True
    if not (np.array_equal(a.p, b.p) and np.array_equal(a.q, b.q)
            and np.array_equal(a.k, b.k)):
        return False
    scale = max(np.abs(a.c).max(), np.abs(b.c).max())
    return bool(np.abs(a.c - b.c).max() <= rtol * scale)

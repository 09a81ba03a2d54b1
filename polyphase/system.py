"""The polyphase-matrix representation of a multirate operator and its algebra.

A linear operator with rates ``(L, M)`` maps ``M`` input samples to ``L`` output
samples per period.  Cut the input into ``M`` phases ``x_q[b] = x[b*M + q]`` and
the output into ``L`` phases ``y_p[b] = y[b*L + p]``; then

    y_p[b] = sum_q sum_k E[p, q][k] * x_q[b - k]

``E`` is an ``L x M`` matrix of FIR filters over the block index ``b``.  An
operator on ``d``-dimensional signals has a rate pair, a phase and a block delay
per axis (``p``, ``q``, ``k`` are ``d``-vectors); an operator that mixes
channels adds an output channel ``o`` and an input channel ``i`` to every entry,
so ``E`` is ``(C_out * prod L) x (C_in * prod M)``.  An operator without channel
indices (``channels is None``) acts on every channel alike.

Storage is sparse: the nonzero taps as parallel arrays -- ``p, q, k`` of shape
``(nnz, d)``, ``o, i, c`` of shape ``(nnz,)`` -- sorted by row (``o``, ``p``),
column (``i``, ``q``) and ``k``, without duplicates.  Composition lifts both
operands to the least common period of the signal between them; for
``Down(147) @ Conv(h) @ Up(160)`` that period is 23520, where a dense array
would need gigabytes while the nonzero taps number a few hundred thousand.

Every entry also carries a *declared support*, a box ``[lo, hi]`` of block
delays per axis (arrays ``dp, dq, do, di, dlo, dhi``, one row per declared
entry).  Taps inside it may be zero: ``Conv([1, 2, 0])`` declares three taps
although the last is zero, as ``np.convolve`` does.  Declared supports only
decide the extent of finite outputs (``full``/``same``/``valid`` windows); the
algebra and equality are about the coefficients alone (see
:meth:`PolyphaseMatrix.canonical`).
"""

from __future__ import annotations

from functools import cached_property
from math import gcd, prod

import numpy as np

__all__ = ["PolyphaseMatrix"]

# Relative tolerance used by ``equals`` and by period reduction.  Products of
# polyphase matrices sum terms in another order than, say, ``np.convolve``; a few
# ulps of difference must not make two equal operators unequal.
DEFAULT_RTOL = 1e-12

_INT = np.int64


def _lcm(a: int, b: int) -> int:
    return a // gcd(a, b) * b


def _flat(idx: np.ndarray, sizes) -> np.ndarray:
    """Row-major flat index of the multi-indices ``idx`` (shape (n, d))."""
    out = np.zeros(idx.shape[0], dtype=_INT)
    for a, size in enumerate(sizes):
        out = out * size + idx[:, a]
    return out


class PolyphaseMatrix:
    """Polyphase matrix ``E`` of a linear periodically shift-varying operator.

    Parameters
    ----------
    up, down : int
        The rates ``L`` (output samples per period) and ``M`` (input samples
        per period) of a 1-D operator.
    coef : array_like, shape (up, down, K)
        ``coef[p, q, j]`` is the tap of the filter ``E[p, q]`` at block delay
        ``start + j``.
    start : int
        Block delay of ``coef[..., 0]``.
    lo, hi : array_like of int, shape (up, down), optional
        Declared support of each entry (inclusive block delays; empty where
        ``lo > hi``).  By default the span of each entry's nonzero taps.

    Use :meth:`from_taps` for N-D and multi-channel matrices.

    Attributes
    ----------
    ups, downs : tuple of int
        Rates per signal axis; ``up``/``down`` are the same as ints for a 1-D
        operator.
    channels : (int, int) or None
        ``(C_out, C_in)``, or None for an operator that acts on every channel
        alike.
    p, q, k : ndarray, shape (nnz, ndim)
        Output phase, input phase and block delay of each nonzero tap.
    o, i : ndarray, shape (nnz,)
        Output and input channel of each tap (0 when ``channels`` is None).
    c : ndarray, shape (nnz,)
        The coefficients.

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
        zeros = np.zeros(p.size, dtype=_INT)
        taps = (p[:, None], q[:, None], (j + int(start))[:, None], zeros, zeros,
                coef[p, q, j])
        declared = None
        if lo is not None and hi is not None:
            lo, hi = np.asarray(lo), np.asarray(hi)
            dp, dq = np.nonzero(lo <= hi)
            dz = np.zeros(dp.size, dtype=_INT)
            declared = (dp[:, None], dq[:, None], dz, dz, lo[dp, dq][:, None],
                        hi[dp, dq][:, None])
        self._set((int(up),), (int(down),), None, taps, declared)

    @classmethod
    def from_taps(cls, ups, downs, taps, declared=None, channels=None):
        """Build from tap arrays (duplicates are added, zeros dropped).

        Parameters
        ----------
        ups, downs : tuple of int
            Rates per axis.
        taps : tuple ``(p, q, k, o, i, c)``
            ``p, q, k`` of shape ``(n, ndim)``; ``o, i, c`` of shape ``(n,)``.
        declared : tuple ``(p, q, o, i, lo, hi)``, optional
            Declared boxes, one row per entry (rows of one entry merge into
            their hull); by default the nonzero taps.
        channels : (int, int) or None
        """
        self = cls.__new__(cls)
        self._set(tuple(int(u) for u in ups), tuple(int(m) for m in downs),
                  None if channels is None else (int(channels[0]), int(channels[1])),
                  taps, declared)
        return self

    def _set(self, ups, downs, channels, taps, declared):
        self.ups, self.downs, self.channels = ups, downs, channels
        d = len(ups)
        p, q, k = (np.asarray(a, dtype=_INT).reshape(-1, d) for a in taps[:3])
        o, i = (np.asarray(a, dtype=_INT).reshape(-1) for a in taps[3:5])
        c = np.asarray(taps[5])
        c = c.astype(np.complex128 if c.dtype.kind == "c" else np.float64).reshape(-1)
        self.p, self.q, self.k, self.o, self.i, self.c = self._coalesce(p, q, k, o, i, c)
        if declared is None:
            declared = self._nonzero_boxes()
        else:
            declared = self._coalesce_declared(*declared)
        self.dp, self.dq, self.do, self.di, self.dlo, self.dhi = declared
        for a in (self.p, self.q, self.k, self.o, self.i, self.c,
                  self.dp, self.dq, self.do, self.di, self.dlo, self.dhi):
            a.setflags(write=False)

    # ------------------------------------------------------------ bookkeeping
    @property
    def ndim(self) -> int:
        return len(self.ups)

    @property
    def _nch(self):
        return (1, 1) if self.channels is None else self.channels

    def row_key(self, p, o):
        """Flat row index ``o * prod(L) + flat(p)``."""
        return o * prod(self.ups) + _flat(p, self.ups)

    def col_key(self, q, i):
        """Flat column index ``i * prod(M) + flat(q)``."""
        return i * prod(self.downs) + _flat(q, self.downs)

    def _sort_keys(self, p, o, q, i, extra=()):
        """Order that sorts rows by (row, column, *extra), and the sorted keys.

        The keys are packed into one int64 when their ranges allow (always in
        practice): a single argsort is several times faster than lexsort.
        """
        cols = [self.row_key(p, o), self.col_key(q, i)] + [e for e in extra]
        lows = [c.min() for c in cols]
        spans = [int(c.max() - lo) + 1 for c, lo in zip(cols, lows)]
        if np.prod([float(v) for v in spans]) < 2.0 ** 62:
            key = np.zeros(cols[0].size, dtype=_INT)
            for c, lo, span in zip(cols, lows, spans):
                key = key * span + (c - lo)
            if key.size < 2 or np.all(key[1:] > key[:-1]):
                order = np.arange(key.size)           # already sorted, no duplicates
            else:
                order = np.argsort(key, kind="stable")
                key = key[order]
            new = np.ones(key.size, dtype=bool)
            new[1:] = key[1:] != key[:-1]
            return order, new
        keys = np.column_stack(cols)
        order = np.lexsort(keys.T[::-1])
        keys = keys[order]
        new = np.ones(keys.shape[0], dtype=bool)
        new[1:] = np.any(keys[1:] != keys[:-1], axis=1)
        return order, new

    def _coalesce(self, p, q, k, o, i, c):
        """Sort taps by (row, column, k), add duplicates, drop zeros."""
        if c.size == 0:
            return p, q, k, o, i, c
        order, new = self._sort_keys(p, o, q, i, list(k.T))
        c = c[order]
        starts = np.flatnonzero(new)
        if starts.size < c.size:
            c = np.add.reduceat(c, starts)
        keep = order[starts[c != 0]]
        c = c[c != 0]
        return p[keep], q[keep], k[keep], o[keep], i[keep], c

    def _coalesce_declared(self, p, q, o, i, lo, hi):
        """One declared box per entry: the hull of the given ones."""
        d = self.ndim
        p, q, lo, hi = (np.asarray(a, dtype=_INT).reshape(-1, d) for a in (p, q, lo, hi))
        o, i = (np.asarray(a, dtype=_INT).reshape(-1) for a in (o, i))
        if o.size == 0:
            return p, q, o, i, lo, hi
        order, new = self._sort_keys(p, o, q, i)
        starts = np.flatnonzero(new)
        first = order[starts]
        if starts.size == order.size:
            return p[first], q[first], o[first], i[first], lo[first], hi[first]
        return (p[first], q[first], o[first], i[first],
                np.minimum.reduceat(lo[order], starts, axis=0),
                np.maximum.reduceat(hi[order], starts, axis=0))

    def _nonzero_boxes(self):
        """Declared rows spanning exactly the nonzero taps of each entry.

        The taps are sorted by entry, so each entry is one run: no second sort.
        """
        if self.c.size == 0:
            return self.p, self.q, self.o, self.i, self.k, self.k
        entry = self.row_key(self.p, self.o) * (prod(self.downs) * self._nch[1]) + \
            self.col_key(self.q, self.i)
        new = np.ones(entry.size, dtype=bool)
        new[1:] = entry[1:] != entry[:-1]
        starts = np.flatnonzero(new)
        return (self.p[starts], self.q[starts], self.o[starts], self.i[starts],
                np.minimum.reduceat(self.k, starts, axis=0),
                np.maximum.reduceat(self.k, starts, axis=0))

    def _taps(self):
        return self.p, self.q, self.k, self.o, self.i, self.c

    def _declared_rows(self):
        return self.dp, self.dq, self.do, self.di, self.dlo, self.dhi

    def _like(self, taps, declared, ups=None, downs=None, channels=False):
        return PolyphaseMatrix.from_taps(
            self.ups if ups is None else ups, self.downs if downs is None else downs,
            taps, declared, self.channels if channels is False else channels)

    # ------------------------------------------------------------------ views
    @property
    def up(self):
        """Output rate: an int for 1-D operators, a tuple per axis otherwise."""
        return self.ups[0] if self.ndim == 1 else self.ups

    @property
    def down(self):
        """Input rate: an int for 1-D operators, a tuple per axis otherwise."""
        return self.downs[0] if self.ndim == 1 else self.downs

    @property
    def is_complex(self) -> bool:
        return self.c.dtype.kind == "c"

    @property
    def nnz(self) -> int:
        """Number of nonzero taps."""
        return self.c.size

    @property
    def start(self):
        """Smallest block delay of a nonzero tap (per axis for N-D)."""
        s = self.k.min(axis=0) if self.nnz else np.zeros(self.ndim, dtype=_INT)
        return int(s[0]) if self.ndim == 1 else tuple(int(v) for v in s)

    @property
    def ntaps(self):
        """Number of block delays spanned by the nonzero taps (per axis for N-D)."""
        if not self.nnz:
            return 0 if self.ndim == 1 else (0,) * self.ndim
        n = self.k.max(axis=0) - self.k.min(axis=0) + 1
        return int(n[0]) if self.ndim == 1 else tuple(int(v) for v in n)

    @cached_property
    def coef(self) -> np.ndarray:
        """Dense array of a 1-D matrix: ``coef[row, col, j]`` at delay ``start + j``.

        Rows are ``o * up + p``, columns ``i * down + q``.
        """
        if self.ndim != 1:
            raise ValueError("coef is the dense view of a 1-D polyphase matrix; "
                             "use the tap arrays p, q, k, o, i, c for N-D")
        cout, cin = self._nch
        dense = np.zeros((cout * self.ups[0], cin * self.downs[0], self.ntaps),
                         dtype=self.c.dtype)
        dense[self.row_key(self.p, self.o), self.col_key(self.q, self.i),
              self.k[:, 0] - self.start] = self.c
        dense.setflags(write=False)
        return dense

    def entry(self, p, q, o=0, i=0):
        """Filter ``E[p, q]`` (channels ``o`` from ``i``) as ``(taps, offset)``.

        Zero edges are trimmed; ``taps[j]`` is the coefficient at block delay
        ``offset + j`` (an array of ``ndim`` axes, offset a tuple, for N-D).  A
        zero entry is ``(array([]), 0)``.
        """
        p, q = np.atleast_1d(p), np.atleast_1d(q)
        sel = np.all(self.p == p, axis=1) & np.all(self.q == q, axis=1) & \
            (self.o == o) & (self.i == i)
        k, c = self.k[sel], self.c[sel]
        if k.shape[0] == 0:
            return np.zeros((0,) * self.ndim, dtype=self.c.dtype), \
                (0 if self.ndim == 1 else (0,) * self.ndim)
        lo = k.min(axis=0)
        taps = np.zeros(tuple(k.max(axis=0) - lo + 1), dtype=self.c.dtype)
        taps[tuple((k - lo).T)] = c
        return taps, (int(lo[0]) if self.ndim == 1 else tuple(int(v) for v in lo))

    def __repr__(self):
        if self.ndim == 1:
            return (f"PolyphaseMatrix(up={self.up}, down={self.down}, "
                    f"start={self.start}, coef=\n{self.coef!r})")
        return (f"PolyphaseMatrix(ups={self.ups}, downs={self.downs}, "
                f"channels={self.channels}, nnz={self.nnz})")

    # ---------------------------------------------------------------- algebra
    def scale(self, s) -> "PolyphaseMatrix":
        p, q, k, o, i, c = self._taps()
        return self._like((p, q, k, o, i, c * s), self._declared_rows())

    def transpose(self, conjugate: bool = False) -> "PolyphaseMatrix":
        """Transpose (``conjugate=True``: conjugate transpose) of the operator.

        Rates swap, ``E`` is transposed and every filter is time-reversed:
        ``E^T[q, p][k] = E[p, q][-k]``.
        """
        p, q, k, o, i, c = self._taps()
        dp, dq, do, di, dlo, dhi = self._declared_rows()
        return self._like((q, p, -k, i, o, c.conj() if conjugate else c),
                          (dq, dp, di, do, -dhi, -dlo), ups=self.downs, downs=self.ups,
                          channels=None if self.channels is None else self.channels[::-1])

    def lift(self, r) -> "PolyphaseMatrix":
        """The same operator described with an ``r`` times longer period.

        ``r`` is an int for a 1-D matrix or one factor per axis.  Along an axis
        with rates ``(L, M)``, output phase ``j*L + p`` and input phase
        ``t*M + q`` of the lifted matrix see the tap ``E[p, q][k]`` at block
        delay ``ceil((k - j) / r)`` when ``t == (j - k) mod r``.
        """
        rs = (r,) * self.ndim if np.isscalar(r) else tuple(r)
        out = self
        for axis, factor in enumerate(rs):
            if factor != 1:
                out = out._lift_axis(axis, int(factor))
        return out

    def _lift_axis(self, a: int, r: int) -> "PolyphaseMatrix":
        L, M = self.ups[a], self.downs[a]
        j = np.arange(r, dtype=_INT)[:, None]
        p, q, k, o, i, c = self._taps()
        t = (j - k[:, a]) % r
        n = c.size

        def rep(arr):
            return np.broadcast_to(arr, (r,) + arr.shape).reshape((r * n,) + arr.shape[1:])
        P, Q, Kk = rep(p).copy(), rep(q).copy(), rep(k).copy()
        P[:, a] = (j * L + p[:, a]).ravel()
        Q[:, a] = (t * M + q[:, a]).ravel()
        Kk[:, a] = ((k[:, a] - j + t) // r).ravel()
        taps = (P, Q, Kk, rep(o), rep(i), rep(c))
        # A declared interval [lo, hi] on this axis contributes to (j, t) the
        # delays k == j - t (mod r) inside it.
        dp, dq, do, di, dlo, dhi = self._declared_rows()
        j3, t3 = j[:, :, None], np.arange(r, dtype=_INT)[None, :, None]
        lo, hi = dlo[:, a], dhi[:, a]
        rho = (j3 - t3) % r
        kmin = lo + (rho - lo) % r
        kmax = hi - (hi - rho) % r
        ok = kmin <= kmax
        sel = np.broadcast_to(np.arange(dp.shape[0]), ok.shape)[ok]
        jj = np.broadcast_to(j3, ok.shape)[ok]
        tt = np.broadcast_to(t3, ok.shape)[ok]
        DP, DQ, DLO, DHI = dp[sel].copy(), dq[sel].copy(), dlo[sel].copy(), dhi[sel].copy()
        DP[:, a] = jj * L + dp[sel, a]
        DQ[:, a] = tt * M + dq[sel, a]
        DLO[:, a] = (kmin[ok] - jj + tt) // r
        DHI[:, a] = (kmax[ok] - jj + tt) // r
        ups = self.ups[:a] + (r * L,) + self.ups[a + 1:]
        downs = self.downs[:a] + (r * M,) + self.downs[a + 1:]
        return self._like(taps, (DP, DQ, do[sel], di[sel], DLO, DHI), ups=ups, downs=downs)

    def _with_channels(self, count: int) -> "PolyphaseMatrix":
        """A channel-agnostic matrix made explicit for ``count`` channels."""
        ch = np.repeat(np.arange(count, dtype=_INT), self.nnz)
        dch = np.repeat(np.arange(count, dtype=_INT), self.dp.shape[0])

        def tile(a):
            return np.tile(a, (count,) + (1,) * (a.ndim - 1))
        p, q, k, _, _, c = self._taps()
        dp, dq, _, _, dlo, dhi = self._declared_rows()
        return self._like((tile(p), tile(q), tile(k), ch, ch, tile(c)),
                          (tile(dp), tile(dq), dch, dch, tile(dlo), tile(dhi)),
                          channels=(count, count))

    def _check_compatible(self, other, what):
        if self.ndim != other.ndim:
            raise ValueError(f"cannot {what} operators on {self.ndim}-D and "
                             f"{other.ndim}-D signals")

    def _match_channels(self, other):
        """Make channel counts explicit on both sides where one side has them.

        A channel-agnostic operator next to one with channels acts on each of
        the channels it meets: ``C_out`` of ``other`` when ``self`` is applied
        after it, ``C_in`` of ``self`` for ``other``.
        """
        a, b = self, other
        if a.channels is None and b.channels is not None:
            a = a._with_channels(b.channels[0])
        if b.channels is None and a.channels is not None:
            b = b._with_channels(a.channels[1])
        return a, b

    def compose(self, first: "PolyphaseMatrix") -> "PolyphaseMatrix":
        """``self @ first``: apply ``first``, then ``self``.

        Both are lifted to a common period of the signal between them, then the
        polyphase matrices are multiplied (entries multiply by convolution).
        """
        self._check_compatible(first, "compose")
        fast = _compose_with_rate_changer(self, first)
        if fast is not None:
            return fast
        a, b = self._match_channels(first)
        if a.channels is not None and a.channels[1] != b.channels[0]:
            raise ValueError(f"channel mismatch: the operator applied first gives "
                             f"{b.channels[0]} channels, the next one takes "
                             f"{a.channels[1]}")
        mids = [_lcm(lb, ma) for lb, ma in zip(b.ups, a.downs)]
        a = a.lift([m // d for m, d in zip(mids, a.downs)])
        b = b.lift([m // u for m, u in zip(mids, b.ups)])
        return _matmul(a, b)

    def add(self, other: "PolyphaseMatrix") -> "PolyphaseMatrix":
        """Sum of two operators with the same rate ratio ``L / M`` per axis."""
        self._check_compatible(other, "add")
        for u1, d1, u2, d2 in zip(self.ups, self.downs, other.ups, other.downs):
            if u1 * d2 != u2 * d1:
                raise ValueError(
                    "operators added together must have the same rate ratio "
                    f"up/down, got {self.up}/{self.down} and {other.up}/{other.down}")
        a, b = self._match_channels(other)
        if a.channels != b.channels:
            raise ValueError(f"operators added together must have the same channels "
                             f"(C_out, C_in), got {a.channels} and {b.channels}")
        periods = [_lcm(u1, u2) for u1, u2 in zip(a.ups, b.ups)]
        a = a.lift([pr // u for pr, u in zip(periods, a.ups)])
        b = b.lift([pr // u for pr, u in zip(periods, b.ups)])
        taps = tuple(np.concatenate(pair) for pair in zip(a._taps(), b._taps()))
        declared = tuple(np.concatenate(pair) for pair in zip(
            a._declared_rows(), b._declared_rows()))
        return a._like(taps, declared)

    # -------------------------------------------------------- canonical form
    def trimmed(self, rtol: float = 0.0) -> "PolyphaseMatrix":
        """Declared supports shrunk to the nonzero taps.

        Taps of magnitude ``<= rtol`` times the largest one count as zero
        (rounding residue of a cancellation).
        """
        keep = slice(None)
        if rtol and self.nnz:
            keep = np.abs(self.c) > rtol * np.abs(self.c).max()
        return self._like(tuple(a[keep] for a in self._taps()), None)

    def reduced(self, rtol: float = DEFAULT_RTOL) -> "PolyphaseMatrix":
        """The same operator with the shortest period that describes it.

        Per axis, tries every divisor ``r`` of ``gcd(L, M)``, largest first:
        the candidate is read off the first ``L / r`` output phases and
        accepted when lifting it by ``r`` gives back this matrix.
        """
        this = self.trimmed(rtol)
        for a in range(this.ndim):
            g = gcd(this.ups[a], this.downs[a])
            for r in range(g, 1, -1):
                if g % r:
                    continue
                small = _unlift(this, a, r)
                if _close(small._lift_axis(a, r), this, rtol):
                    this = small
                    break
        return this

    def canonical(self, rtol: float = DEFAULT_RTOL) -> "PolyphaseMatrix":
        """Canonical form: shortest period, supports = nonzero taps.

        Two operators are equal exactly when their canonical forms are.
        """
        return self.reduced(rtol)

    def equals(self, other: "PolyphaseMatrix", rtol: float = DEFAULT_RTOL) -> bool:
        if self.ndim != other.ndim:
            return False
        a, b = self._match_channels(other)
        return _close(a.canonical(rtol), b.canonical(rtol), rtol)


def _pairs(a_keys: np.ndarray, b_keys: np.ndarray):
    """All index pairs ``(x, y)`` with ``a_keys[x] == b_keys[y]`` (``b`` sorted)."""
    lo = np.searchsorted(b_keys, a_keys, "left")
    counts = np.searchsorted(b_keys, a_keys, "right") - lo
    ia = np.repeat(np.arange(a_keys.size), counts)
    offsets = np.cumsum(counts) - counts
    ib = lo[ia] + np.arange(ia.size) - offsets[ia]
    return ia, ib


def _matmul(a: PolyphaseMatrix, b: PolyphaseMatrix) -> PolyphaseMatrix:
    """Product of polyphase matrices whose inner dimensions agree."""
    channels = None if a.channels is None else (a.channels[0], b.channels[1])
    if (a.ndim == 1 and a.channels is None and a.ups == a.downs == b.downs == (1,)
            and a.nnz and b.nnz):
        # Plain 1-D convolution: use numpy's so Conv(a) @ Conv(b) is
        # bit-identical to Conv(np.convolve(a, b)).
        (ha, ka), (hb, kb) = a.entry(0, 0), b.entry(0, 0)
        h = np.convolve(ha, hb)
        z = np.zeros(h.size, dtype=_INT)
        taps = (z, z, ka + kb + np.arange(h.size), z, z, h)
    else:
        # b is sorted by row; join a's columns with b's rows
        ia, ib = _pairs(a.col_key(a.q, a.i), b.row_key(b.p, b.o))
        taps = (a.p[ia], b.q[ib], a.k[ia] + b.k[ib], a.o[ia], b.i[ib],
                a.c[ia] * b.c[ib])
    ia, ib = _pairs(a.col_key(a.dq, a.di), b.row_key(b.dp, b.do))
    declared = (a.dp[ia], b.dq[ib], a.do[ia], b.di[ib], a.dlo[ia] + b.dlo[ib],
                a.dhi[ia] + b.dhi[ib])
    return PolyphaseMatrix.from_taps(a.ups, b.downs, taps, declared, channels)


def _is_rate_changer(pm: PolyphaseMatrix) -> bool:
    """``Up(s)`` or ``Down(s)``: one tap 1 from phase 0 to phase 0 at delay 0."""
    return (pm.channels is None and pm.nnz == 1 and pm.c[0] == 1
            and not pm.p.any() and not pm.q.any() and not pm.k.any()
            and (all(u == 1 for u in pm.downs) or all(u == 1 for u in pm.ups)))


def _split_delays(k, lo, hi, s, sign):
    """Tap and declared-box delays of a rate-1 matrix split into ``s`` phases.

    With ``sign = +1`` (upsampling, ``A @ Up(s)``) delay ``k`` becomes phase
    ``k mod s`` at block delay ``k // s``; with ``sign = -1`` (``Down(s) @ A``)
    input phase ``(-k) mod s`` at block delay ``ceil(k / s)``.  Per declared box
    ``[lo, hi]`` and phase ``t``, the delays of that phase inside it.
    """
    phase = (sign * k) % s
    block = (k + (phase if sign < 0 else -phase)) // s
    t = np.arange(s, dtype=_INT)[:, None]
    rho = (sign * t) % s                          # delays k with k == rho (mod s)
    kmin = lo + (rho - lo) % s
    kmax = hi - (hi - rho) % s
    ok = kmin <= kmax
    tt = np.broadcast_to(t, ok.shape)
    return phase, block, ok, tt, (kmin + (tt if sign < 0 else -tt)) // s, \
        (kmax + (tt if sign < 0 else -tt)) // s


def _compose_with_rate_changer(a: PolyphaseMatrix, b: PolyphaseMatrix):
    """``A @ Up(s)`` or ``Down(s) @ A`` for a rate-1 ``A``, written down directly.

    These are the polyphase decompositions of ``A``'s filters (type 1 for the
    interpolator, its transpose for the decimator), the building blocks of
    transposed and strided convolutions; lifting ``A`` to the common period and
    multiplying would create and discard ``s**d`` times more taps.  Returns
    None when the pair is not of that form.
    """
    if _is_rate_changer(b) and all(v == 1 for v in a.ups + a.downs) \
            and all(v == 1 for v in b.downs):
        rate, other, sign = b.ups, a, +1
    elif _is_rate_changer(a) and all(v == 1 for v in b.ups + b.downs) \
            and all(v == 1 for v in a.ups):
        rate, other, sign = a.downs, b, -1
    else:
        return None
    p, q, k, o, i, c = (x.copy() for x in other._taps())
    dp, dq, do, di, dlo, dhi = other._declared_rows()
    sel = np.arange(dp.shape[0])
    DP, DQ, DLO, DHI = dp.copy(), dq.copy(), dlo.copy(), dhi.copy()
    for ax, s in enumerate(rate):
        if s == 1:
            continue
        phase, k[:, ax], ok, tt, klo, khi = _split_delays(
            k[:, ax], DLO[:, ax], DHI[:, ax], s, sign)
        (p if sign > 0 else q)[:, ax] = phase
        rows = np.broadcast_to(np.arange(DP.shape[0]), ok.shape)[ok]
        DP, DQ, DLO, DHI = DP[rows], DQ[rows], DLO[rows], DHI[rows]
        sel = sel[rows]
        (DP if sign > 0 else DQ)[:, ax] = tt[ok]
        DLO[:, ax], DHI[:, ax] = klo[ok], khi[ok]
    ups = rate if sign > 0 else other.ups
    downs = other.downs if sign > 0 else rate
    return PolyphaseMatrix.from_taps(ups, downs, (p, q, k, o, i, c),
                                     (DP, DQ, do[sel], di[sel], DLO, DHI), other.channels)


def _unlift(big: PolyphaseMatrix, a: int, r: int) -> PolyphaseMatrix:
    """Candidate with an ``r`` times shorter period along axis ``a``.

    Inverse of lifting on its output phases ``j = 0``: the tap of ``E[p, q]``
    at delay ``k = r*k' - t`` sits at ``E'[p, t*M + q][k']``.
    """
    L, M = big.ups[a] // r, big.downs[a] // r
    rows = big.p[:, a] < L
    p, q, k, o, i, c = (arr[rows] for arr in big._taps())
    t, qa = np.divmod(q[:, a], M)
    q, k = q.copy(), k.copy()
    q[:, a] = qa
    k[:, a] = r * k[:, a] - t
    ups = big.ups[:a] + (L,) + big.ups[a + 1:]
    downs = big.downs[:a] + (M,) + big.downs[a + 1:]
    return big._like((p, q, k, o, i, c), None, ups=ups, downs=downs)


def _close(a: PolyphaseMatrix, b: PolyphaseMatrix, rtol: float) -> bool:
    if (a.ups, a.downs, a.channels, a.nnz) != (b.ups, b.downs, b.channels, b.nnz):
        return False
    if a.nnz == 0:
        return True
    for x, y in zip(a._taps()[:5], b._taps()[:5]):
        if not np.array_equal(x, y):
            return False
    scale = max(np.abs(a.c).max(), np.abs(b.c).max())
    return bool(np.abs(a.c - b.c).max() <= rtol * scale)

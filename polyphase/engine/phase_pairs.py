"""Output phases that read the same input samples, run as pairs.

When a filter is upsampled, neighbouring output phases read the same input
stream at the same block delays: phase 0 of ``Conv(h) @ Up(2)`` applies
``h[0::2]`` and phase 1 ``h[1::2]`` to the same samples.  The 1-D kernel's
inner loop is bound by its loads (one unaligned vector load per tap, and the
accumulator's load and store), so a pair of phases that shares each tap's load
does two multiply-adds per load: the kernel for ``L = 2``, 64 taps on 2**22
samples went from 24.0 to 19.2 ms in f64 (11 to 14 GMAC/s) and from 13.3 to
9.8 ms in f32 (20 to 27 GMAC/s).

Only the taps both phases have are shared; the rest run on one phase each, so
no product with a zero is added (an ``inf`` sample still meets only real taps).
The axis-0 kernel pairs the same phases (:func:`polyphase.engine._axis0_pairs`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Two neighbouring phases run as a pair when they share a tap and the taps
# they share are at least this fraction of each phase's taps (the rest run
# one phase at a time): any shared tap.  A pair stores both phases in one
# interleaving pass, where two lone phases each store with a stride of L,
# which on short filters cost more than the taps: with 0.75, upfirdn L=2
# with 3 or 5 taps (1 of 2, 2 of 3 shared) left its phases alone and ran at
# a third of the speed of 4 taps (2**21 float32 samples: 3.2 and 3.6 ms,
# paired 1.5 and 1.8).
PAIR_SHARE = 0.0


class PhasePlan(NamedTuple):
    """Tap lists of the 1-D kernel, by group of one or two output phases.

    ``groups[g]`` is ``(p0, p1)``, ``p1 = -1`` for a group of one phase.  The
    taps group ``g`` runs on all its phases are ``cptr[g]:cptr[g + 1]`` of
    ``ctaps`` (input phase ``q``, block delay ``k``) with coefficients
    ``ccoef[:, 0]`` for ``p0`` and ``ccoef[:, 1]`` for ``p1`` (unused for
    one phase).  A paired phase's other taps are ``eptr[p]:eptr[p + 1]`` of
    ``etaps`` / ``ecoef[:, 0]``.
    """

    groups: np.ndarray
    cptr: np.ndarray
    ctaps: np.ndarray
    ccoef: np.ndarray
    eptr: np.ndarray
    etaps: np.ndarray
    ecoef: np.ndarray

    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """The plan as two flat arrays, integers and coefficients, for the
        kernel (:func:`polyphase.engine.kernels.unpack`): numba unboxes each
        array argument, and seven of them cost ~0.8 us of a ~6 us call on a
        short signal."""
        head = np.array([self.groups.shape[0], self.cptr.size, self.ctaps.shape[0],
                         self.eptr.size, self.etaps.shape[0]], np.int64)
        ints = np.concatenate([head, self.groups.ravel(), self.cptr, self.ctaps.ravel(),
                               self.eptr, self.etaps.ravel()]).astype(np.int64)
        return ints, np.concatenate([self.ccoef.ravel(), self.ecoef.ravel()])

    def delayed(self, blocks: int) -> "PhasePlan":
        """The same plan reading ``blocks`` more blocks into the past (copies)."""
        shift = np.array([0, blocks], np.int64)
        return self._replace(ctaps=self.ctaps + shift, etaps=self.etaps + shift)


def phase_plan(pm, ptr, tq, tk, tc) -> PhasePlan:
    """Pair phases ``(0, 1), (2, 3), ...`` of ``pm`` that share most of their taps.

    ``ptr, tq, tk, tc`` are ``pm``'s tap lists in CSR form by phase, each
    phase's taps sorted by ``(q, k)`` (:func:`polyphase.engine.tap_lists`).
    """
    L = ptr.size - 1
    counts = np.diff(ptr)
    phase = np.repeat(np.arange(L), counts)
    cand = phase // 2                                 # candidate pair of each tap
    ncand = (L + 1) // 2
    # a tap (q, k) both phases of a candidate have shows up twice in a row
    # once the taps are sorted by (candidate, q, k), phase 2g first (stable)
    span = int(tk.max() - tk.min() + 1) if tk.size else 1
    key = (cand * (int(tq.max(initial=0)) + 1) + tq) * span + (tk - tk.min(initial=0))
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order[1:]] == key[order[:-1]])
    first, second = order[dup], order[dup + 1]
    shared = np.bincount(cand[first], minlength=ncand)
    n0 = counts[0::2]
    n1 = np.zeros(ncand, np.int64)
    n1[:L // 2] = counts[1::2]
    paired = (shared >= 1) & (shared >= PAIR_SHARE * np.maximum(n0, n1))
    # groups: one per paired candidate, one per phase otherwise
    size = np.where(paired, 1, np.where(2 * np.arange(ncand) + 1 < L, 2, 1))
    goff = np.concatenate([[0], np.cumsum(size)])
    groups = np.full((goff[-1], 2), -1, np.int64)
    groups[goff[:-1], 0] = 2 * np.arange(ncand)
    groups[goff[:-1][paired], 1] = 2 * np.flatnonzero(paired) + 1
    lone1 = ~paired & (size == 2)
    groups[goff[:-1][lone1] + 1, 0] = 2 * np.flatnonzero(lone1) + 1

    keep = paired[cand[first]]
    first, second = first[keep], second[keep]
    in_pair = paired[cand]
    alone = np.flatnonzero(~in_pair)
    group_of = np.concatenate([goff[cand[first]], goff[cand[alone]] + phase[alone] % 2])
    taps = np.concatenate([first, alone])
    coef = np.zeros((taps.size, 2), tc.dtype)
    coef[:, 0] = tc[taps]
    coef[:first.size, 1] = tc[second]
    by_group = np.argsort(group_of, kind="stable")
    taps, coef = taps[by_group], coef[by_group]
    cptr = np.searchsorted(group_of[by_group], np.arange(groups.shape[0] + 1))

    extra = np.ones(tc.size, bool)
    extra[first] = extra[second] = False
    extra &= in_pair
    eptr = np.searchsorted(phase[extra], np.arange(L + 1))
    return PhasePlan(groups, cptr.astype(np.int64),
                     np.stack([tq[taps], tk[taps]], axis=1).astype(np.int64),
                     np.ascontiguousarray(coef), eptr.astype(np.int64),
                     np.stack([tq[extra], tk[extra]], axis=1).astype(np.int64),
                     tc[extra].reshape(-1, 1).copy())

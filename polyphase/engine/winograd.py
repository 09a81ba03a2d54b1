"""Winograd minimal filtering for channel-mixing phases whose taps lie in boxes
of 2 or 3 taps per axis.

After the polyphase split, a stride-2 convolution with a kernel of 4 taps per
axis is, for each output phase, a sum over input phases ``q`` of *stride-1*
2-tap correlations -- for the transposed layer (one input phase, two output
phases per axis) as for the strided one (two input phases, one output
phase).  With channels every multiplication of Winograd's minimal filtering
is a ``C_out x C_in`` matrix product, so it trades multiply-adds for cheap
transforms:

* 1-D, F(3, 2): three outputs of a 2-tap correlation take 4 products instead
  of 6 (1.5x fewer multiply-adds).
* 2-D, F(2x2, 2x2): a 2x2 output tile takes 9 products instead of 16
  (1.78x fewer).

F(m, 2) is derived from Toom-Cook: a correlation is the transpose of a
convolution, so with the evaluation matrices ``Va`` (of an ``m``-sample
polynomial), ``Vb`` (of the 2 taps) and ``C`` (of the ``m + 1``-sample
product), ``y = Va^T diag(Vb g) C^-T d``.  F(2, 2) uses the points
{0, 1, inf} and F(3, 2) the points {0, 1, -1, inf}, whose 1/2 in ``C^-1``
moves into the filter transform, where it is exact::

    F(2, 2):  BT = [[1, -1, 0], [0, 1, 0], [0, -1, 1]]
              G  = [[1, 0], [1, 1], [0, 1]]
              AT = [[1, 1, 0], [0, 1, 1]]
    F(3, 2):  BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]]
              G  = [[1, 0], [1/2, 1/2], [1/2, -1/2], [0, 1]]
              AT = [[1, 1, 1, 0], [0, 1, -1, 0], [0, 1, 1, 1]]

with ``V = BT d``, ``U = G g``, ``y = AT (U * V)`` in 1-D and ``V = BT d BT^T``,
``U = G g G^T``, ``y = AT M AT^T`` in 2-D.  The data transforms have
coefficients 0 and +-1 and the filter's 1/2 is exact, so rounding is that
of a few extra additions, the order of the direct sum's.  Larger tiles need
points such as 2 or 1/2, whose coefficients lose accuracy in float32.

Phases whose taps need boxes of 3 delays per axis -- the stride-1 layer of
3 taps per axis, and 5 or 6 at stride 2 -- run F(2, 3) in 1-D, 4 products
per 2 outputs instead of 6 (1.5x fewer), and F(2x2, 3x3) in 2-D, 16
products per 2x2 tile instead of 36 (2.25x fewer), with F(2, 3) along each
axis::

    F(2, 3):  BT = F(3, 2)'s (the same points {0, 1, -1, inf})
              G  = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, -1]]
              AT = [[1, 1, 1, 0], [0, 1, -1, -1]]

All entries of a layer then take boxes of 3, the taps of a phase that do
not fill its box with zero weights in the rest.  Such a phase has weights
at only some points of the transformed tile, and the products skip the
others (``Plans.spans``): a 5x5 stride-2 kernel multiplies 49 products per
2x2 tile, where its taps take 100 (the route needs at most
``MAX_PRODUCTS`` of them).  Measured against the routes these layers took
before (im2col or the direct kernel), one thread, float32, torch (oneDNN)
in the same process (one thread): N8 C64 -> 64 32x32 k3 s1 9.7 -> 4.1 ms
(torch 6.0); N4 C64 ->
64 32x32 k5 s2 4.3 -> 2.2 (torch 2.3); N8 C64 -> 128 32x32 k3 s1 16.4 ->
7.0; N4 C32 -> 32 32x32 k5 s2 transposed 3.3 -> 3.0 (torch 3.2).  In 1-D
(N8 C64 -> 64, 4096 samples): k3 s1 11.1 -> 7.1 ms (torch 9.9); k5 s2 12.1
-> 6.8 (torch 8.4); k5 s2 transposed, 2048 samples, 10.6 -> 9.3 (torch 11.4).

Why F(2x2, 2x2) in 2-D: F(3x3, 2x2) (16 products per 9 outputs) was measured
twice on the 64-channel strided 2-D layer (N8, 64x64, k4).  Its products run
~1 ms faster (5.9-6.9 against 6.6-7.9 ms), but a tile row of a 32x32
output holds 11 tiles, too few for vector loops, and its transforms (16
streams) lose about as much: totals of 12.4-15.0 against 12.6-15.2 ms in
alternating runs, and the 64-channel transposed layer was 2-8 % slower.

Unlike the direct sum, a Winograd output mixes samples its taps do not read
(they cancel): an ``inf`` in the input gives ``nan`` in neighbouring outputs,
as in the Winograd convolutions of oneDNN and cuDNN.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import threading
from functools import lru_cache

import numpy as np

from . import machine
from .._lazy import submodule
from .pinning import spread

# Winograd's products that are not zero, at most this fraction of the direct
# sum's (taps times outputs; :func:`plan`).  Boxes that their taps fill only
# in part save few products or none, and the transforms then cost more than
# they save: k = 2 at stride 2 (one tap a phase) saves none; conv1d N8 C64
# 4096 k5 s4 (13 products for 15) ran 6-8 % slower than the direct kernel,
# one thread, while 2-D k5 s4 (81 for 100) ran 15-20 % faster and k4 s3 (49
# for 64) 1.5x.  Full boxes multiply 4/9 (F(2x2, 3x3)) to 2/3 (F(3, 2)).
MAX_PRODUCTS = 0.85

# Only worth it when the products are large enough for BLAS to run near peak:
# below this many input channels (times input phases) and output rows the
# transforms cost more than the multiply-adds they save.
MIN_CHANNELS = 16

# Bytes of transformed input per tile chunk, all entries together (kept in
# cache between the transform and the BLAS products), shared by the threads
# that run lanes at once.  Measured on the 64-channel layers (N8, float32;
# medians of 9-11 interleaved runs).  One thread, 4 / 2 / 1.5 MB: strided
# conv2d 13.1 / 12.8 / 13.5 ms, conv1d 7.7 / 7.3 / 7.7, transposed conv2d
# (four entries) 60.8 / 51.8 / 51.6.  Two threads, 2 / 1 / 0.5 MB each:
# conv2d 9.7 / 8.3 / 8.2 ms, conv1d 6.2 / 4.3 / 4.6 (the threads' chunks
# compete for the memory and the shared L3).
CHUNK_BYTES = 1 << 21
# At most this much of it per thread, per machine (:mod:`.machine`).  On the
# Xeon (one process, the same call at each size in turn, N8 64-channel
# layers, float32), one thread, 0.25 / 0.5 / 0.75 / 1 / 2 MB: conv1d k3 s1
# 6.5 / 5.96 / 6.16 / 6.27 / 7.09 ms, k3 s2 4.24 / 3.97 / 4.12 / 4.45 / 5.17,
# k5 s2 5.81 / 5.29 / 5.57 / 5.39 / 6.36, conv2d k3 s1 2.95 / 2.91 / 3.12 /
# 3.39 / 3.41, k4 s2 64x64 within 7 %; two threads, 0.25 / 0.5 / 1 MB each:
# conv1d k3 s1 3.72 / 3.37 / 3.58, conv2d k3 s1 1.82 / 1.74 / 1.96.
THREAD_CHUNK_BYTES = {"amd": CHUNK_BYTES, "intel": 1 << 19}


def thread_chunk(workers=1):
    """Bytes of transformed input per chunk of tiles for each of ``workers``
    threads: their share of ``CHUNK_BYTES``, at most ``THREAD_CHUNK_BYTES``."""
    return min(CHUNK_BYTES // workers, machine.pick(THREAD_CHUNK_BYTES))

# F(m, 2) per signal dimension: its transforms (outputs per tile and axis:
# :func:`tile`)
_G = {1: np.array([[1, 0], [0.5, 0.5], [0.5, -0.5], [0, 1]]),
      2: np.array([[1, 0], [1, 1], [0, 1]])}
BT = {1: np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]]),
      2: np.array([[1, -1, 0], [0, 1, 0], [0, -1, 1]])}
AT = {1: np.array([[1, 1, 1, 0], [0, 1, -1, 0], [0, 1, 1, 1]]),
      2: np.array([[1, 1, 0], [0, 1, 1]])}
# F(2, 3), in 1-D and along each axis in 2-D, for phases whose taps lie in
# boxes of 3 (see the module's notes): the points {0, 1, -1, inf} of F(3, 2),
# so its data transform is F(3, 2)'s ``BT`` (the last point's sign moves
# into G)
G3 = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, -1]])
BT3 = BT[1]
AT3 = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])


def tile(d, box):
    """Outputs per tile and axis: F(3, 2) in 1-D, F(2, 2) and F(2, 3) else
    (4 points per axis, 3 for F(2, 2))."""
    return 3 if d == 1 and box == 2 else 2


def box_size(plan):
    """The delays per axis of the smallest box that holds the taps of every
    input phase of every entry of a GEMM ``plan`` (entries ``(taps, W)``)."""
    size = 1
    for taps, _ in plan:
        for q in np.unique(taps[:, 0]):
            k = taps[taps[:, 0] == q, 1:]
            size = max(size, int((k.max(axis=0) - k.min(axis=0)).max()) + 1)
    return size


def plan(taps, W, cin, partial=False, box=2):
    """Winograd form of one GEMM-path phase entry, or ``None``.

    ``taps`` is ``(T, 1 + d)``: input phase ``q`` and delays ``k``; ``W`` is
    ``(1, R, T * C_in)`` (one channel group).  Applies for ``d`` = 1 or 2 when
    the taps of each input phase are exactly a full box of ``box`` delays per
    axis (2, or 3: F(2, 3), F(2x2, 3x3)), or with ``partial`` lie in one
    (the box's other weights zero).  Either way the products per output
    that are not zero (:func:`_product_count`: the points where a phase's
    taps give weights, at most ``(m + box - 1)**d / m**d`` per phase for
    F(m, box)) must be at most ``MAX_PRODUCTS`` of the taps.
    Returns ``(qs, kmin, U, UT)``: the input phases, each box's smallest
    delays, the transformed weights ``U`` of shape ``(points, R, n_q * C_in)``
    and ``UT``, ``U`` laid out as ``(points, R / 4, n_q * C_in, 4)`` for the
    products in registers (:func:`blocked_rows`,
    :func:`.kernels_winograd.products`: real data, ``R`` a multiple of 4),
    else None (the products go to BLAS).
    """
    d = taps.shape[1] - 1
    if W.shape[0] != 1 or d not in (1, 2) or box not in (2, 3):
        return None
    qs = np.unique(taps[:, 0])
    R = W.shape[1]
    if qs.size * cin < MIN_CHANNELS or R < MIN_CHANNELS:
        return None
    m = tile(d, box)
    We = W[0].reshape(R, taps.shape[0], cin)
    kmin = np.zeros((qs.size, d), dtype=np.int64)
    g = np.zeros((box,) * d + (R, qs.size, cin), dtype=W.dtype)
    at = np.zeros((box,) * d + (qs.size,), dtype=bool)        # where taps are
    for iq, q in enumerate(qs):
        sel = np.flatnonzero(taps[:, 0] == q)
        k = taps[sel, 1:]
        lo = k.min(axis=0)
        if np.unique(k, axis=0).shape[0] != sel.size or (k.max(axis=0) - lo >= box).any() \
                or not partial and (sel.size != box ** d or (k.max(axis=0) - lo != box - 1).any()):
            return None
        kmin[iq] = lo
        for t, kt in zip(sel, k):
            # a tap of delay k reads the tile at offset box - 1 - (k - lo) on each axis
            g[tuple(box - 1 - (kt - lo)) + (slice(None), iq)] = We[:, t]
            at[tuple(box - 1 - (kt - lo)) + (iq,)] = True
    g = g.reshape((box,) * d + (R, qs.size * cin))
    G = G3 if box == 3 else _G[d]
    U = np.einsum("xu,yv,uvrc->xyrc", G, G, g) if d == 2 else np.einsum("xu,urc->xrc", G, g)
    U = U.reshape(-1, R, qs.size, cin)
    # the points where each phase's taps give weights (whatever their values)
    nonzero = (np.einsum("xu,yv,uvq->xyq", abs(G), abs(G), at) if d == 2 else
               np.einsum("xu,uq->xq", abs(G), at)).reshape(-1, qs.size) > 0
    order = _phase_order(nonzero)
    if _product_count(nonzero[:, order]) > MAX_PRODUCTS * taps.shape[0] * m ** d:
        return None
    qs, kmin = qs[order], kmin[order]
    U = np.ascontiguousarray(U[:, :, order].reshape(-1, R, qs.size * cin).astype(W.dtype))
    UT = blocked_rows(U) if U.dtype.kind == "f" and R % 4 == 0 else None
    return qs, kmin, U, UT


def blocked_rows(U):
    """``U`` (points, R, K) laid out for :func:`.kernels_winograd.products`:
    ``(points, R / 4, K, 4)``, the four output rows of a block side by side
    and the blocks' ``K`` rows one after the other.

    The products read a block's four weights at every row ``k``; in ``U``
    transposed, ``(points, K, R)``, those were ``R`` elements apart, one cache
    line per ``k``, and with ``R`` = 256 float32 (1 KB) the lines of a block
    fell into 4 of L1's 64 sets, so they missed at every call: N8 256 ->
    256 channels, 28x28, k3 s2, one thread, 26.5-28.1 -> 22.4 ms; 128 ->
    256 11.3-12.1 -> 11.1 ms.

    Examples
    --------
    >>> U = np.arange(2 * 8 * 3).reshape(2, 8, 3)
    >>> B = blocked_rows(U)
    >>> B.shape, bool(B[1, 1, 2, 3] == U[1, 4 + 3, 2])
    ((2, 2, 3, 4), True)
    """
    P, R, K = U.shape
    return np.ascontiguousarray(U.reshape(P, R // 4, 4, K).transpose(0, 1, 3, 2))


def _spans(nonzero):
    """Per point, the first and one past the last input phase with weights
    there, ``(points, 2)`` (``(0, 0)`` for none): the rows of the stacked
    products a point needs (:func:`.kernels_winograd.products`)."""
    spans = np.zeros((nonzero.shape[0], 2), dtype=np.int64)
    for p, row in enumerate(nonzero):
        on = np.flatnonzero(row)
        if on.size:
            spans[p] = on[0], on[-1] + 1
    return spans


def _product_count(nonzero):
    """Products per tile (each a ``C_out x C_in`` block): the phases in the
    :func:`_spans` of all points."""
    return int(np.diff(_spans(nonzero)).sum())


def _phase_order(nonzero):
    """An order of the input phases whose :func:`_spans` hold the fewest
    phases in all, the given order where no other does better.  Phases
    whose weights are zero at the same points go together, and the orders
    of up to six such kinds are all tried.

    A phase whose taps do not fill its box has zero weights at some points
    of the transformed tile: a strided 3x3 layer's four phases, whose taps
    are 2x2, 2x1, 1x2 and 1x1, have nonzero weights at 9, 6, 6 and 4 of the
    9 points, 25 products per tile where the full boxes take 36.  The
    products skip the rows of the phases outside a point's span, so the
    phases go in an order where each point's nonzero ones are neighbours
    (2x1, 2x2, 1x2, 1x1 there)."""
    nq = nonzero.shape[1]
    best, cost = np.arange(nq), _product_count(nonzero)
    kinds, kind = np.unique(nonzero.T, axis=0, return_inverse=True)
    if len(kinds) > 6:
        return best
    for kinds_order in itertools.permutations(range(len(kinds))):
        order = np.concatenate([np.flatnonzero(kind.ravel() == k) for k in kinds_order])
        c = _product_count(nonzero[:, order])
        if c < cost:
            best, cost = order, c
    return best


def _tiles(points, cz, R, n, dtype, entries=1):
    """Scratch for a chunk of ``n`` tiles: transformed input ``(entries, points,
    cz', w)`` and products ``(entries * points, R', w')``, C-contiguous, and the
    views ``[..., :cz, :n]`` and ``[:, :R, :n]`` of them that BLAS gets
    (shapes from :func:`_tile_shapes`)."""
    from .scratch import scratch
    vshape, mshape = _tile_shapes(points, cz, R, n, dtype, entries)
    v = scratch("winograd-v", vshape, dtype)
    m = scratch("winograd-m", mshape, dtype)
    return v, v[:, :, :cz, :n], m, m[:, :R, :n]


def _tile_shapes(points, cz, R, n, dtype, entries=1):
    """Shapes of :func:`_tiles`'s scratch.

    Rows are padded to whole cache lines (``w >= n``; misaligned rows cost
    the 1-D layer ~4 %), and each plane gets a few spare rows (``cz' >= cz``)
    so that the planes do not start at the same offset of a 4 KB page: the
    transforms write (read) the ``points`` planes of one channel (output row)
    at once, and more streams in one L1 set than it has ways evict each
    other (the last chunk of the 64-channel strided 2-D layer, 228 tiles,
    took 1.37 ms against 0.52 ms).  C-contiguous, because numba vectorises
    stores only with a unit stride it knows of.
    """
    isz = np.dtype(dtype).itemsize
    w = _row_length(n, isz)
    return ((entries, points, _plane_rows(points, cz, w * isz), w),
            (entries * points, _plane_rows(points, R, w * isz), w))


class Plans(list):
    """:func:`plan` of every entry of a GEMM plan, all with boxes of ``box``
    delays, ``spans``: per entry and point the rows of ``K`` whose weights
    are not all zero (:func:`_spans`), and ``stacked``: the entries' ``UT``
    in one array ``(entries, points, R / 4, K, 4)`` when they read the same input
    phases and have equal shapes (else None), for
    :func:`.kernels_winograd.chunks2`."""

    def __init__(self, plans, box=2):
        super().__init__(plans)
        self.box = box
        # (entries, points, 2): the rows of each point's products, in K
        # (:func:`_spans` of the phases, times C_in)
        self.spans = np.stack([
            _spans((U.reshape(U.shape[:2] + (q.size, -1)) != 0).any(axis=(1, 3)))
            * (U.shape[2] // q.size) for q, _, U, _ in plans])
        self.stacked = None
        first = plans[0]
        if all(p[3] is not None and p[3].shape == first[3].shape
               and np.array_equal(p[0], first[0]) for p in plans):
            self.stacked = np.ascontiguousarray(np.stack([p[3] for p in plans]))
        self._setups = {}

    def setup(self, key, build):
        """``build()``, kept under ``key`` (the last ``SETUPS`` keys): what
        :func:`run1` and :func:`run2` work out from the shapes of a call.
        Worked out anew each call it was ~0.1 ms of Python (with the
        caller's) that all threads of a split call wait for, and after a
        kernel of a few ms the interpreter's code and data are no longer in
        the caches, so every line of it is slower than it measures alone."""
        found = self._setups.get(key)
        if found is None:
            if len(self._setups) >= SETUPS:
                self._setups.clear()
            found = self._setups[key] = build()
        return found


# Setups kept per Plans: one per call shape, thread part and chunk budget
SETUPS = 64


def _stacked(plans, group):
    """The stacked ``UT`` of ``group`` (entry indices), or None."""
    if len(group) == len(plans) and plans.stacked is not None:
        return plans.stacked
    UT = plans[group[0]][3]
    if len(group) == 1 and UT is not None:
        return UT[None]
    return None


def _tile_range(ntiles, part):
    """Tiles ``[first, last)`` of ``part = (k, K)``: the k-th of K parts of
    ``ntiles`` tiles, cut between blocks of 64 tiles (the register products'
    block: a shorter chunk inside a part would go to BLAS); all of them for
    None."""
    if part is None:
        return 0, ntiles
    k, K = part
    blocks = -(-ntiles // 64)
    return min(ntiles, blocks * k // K * 64), min(ntiles, blocks * (k + 1) // K * 64)


def _chunk_width(ntiles, fits):
    """Tiles per chunk: ``fits`` (the budget's), at least ``MIN_CHUNK``, in
    whole blocks of 64 tiles (:func:`_products` runs blocks of four vectors;
    a block cut short overlaps the one before it, recomputing its tiles),
    and no more than there are."""
    return min(ntiles, max(MIN_CHUNK, fits - fits % 64))


def _part_tiles(ntiles, nparts):
    """Tiles of the largest of ``nparts`` parts of ``ntiles`` cut between
    blocks of 64 tiles (:func:`.kernels_winograd.parts2` cuts a transposed
    layer's between lanes: its parts may be larger).  A chunk wider than
    its part's tiles lays their rows of transformed input that much apart,
    and the products read lines they do not use: N8 C256 -> 256 7x7 k3 on
    two threads, chunks of 128 for parts of 64 tiles, 2.4-2.5 against
    1.9-2.1 ms."""
    return max(b - a for a, b in (_tile_range(ntiles, (k, nparts)) for k in range(nparts)))


# Tiles a chunk takes at least.  Each chunk reads all of ``U`` (points x
# C_out x K), each row of it once for every block of 64 tiles while it is in
# L1: a chunk of one block reads ``U`` from L3 or memory at 4 bytes a tile
# and row.  The budget gives 64 tiles where K is large: at 256 channels on
# two threads (1 MB each), at 512 on one.  Two blocks, one process per
# setting, ms, one thread / two: N8 C256 -> 256 14x14 k3 13.2-13.7 / 8.9-9.0
# -> 13.5-14.1 / 6.2-6.3; N4 C512 14x14 31.7-32.3 / 21.0-21.3 -> 22.7-22.8 /
# 11.8-12.6; 64-256 channels at 7x7 to 64x64 within the noise (2-10 %, either
# sign, from run to run).
MIN_CHUNK = 128


def _products(U, UT, span, v, vn, m, mn, n):
    """``mn = U @ vn`` for a chunk of ``n`` tiles: in registers by
    :func:`.kernels_winograd.products` (rows ``span`` of ``K`` per point)
    where the plan has ``UT`` and there are four vectors of tiles or more,
    else by BLAS."""
    from . import kernels_winograd as kw
    if UT is not None and n >= 256 // U.itemsize:
        # (rows_fma4x4 adds value - value of its outputs to ``check``, which
        # is not read here: BLAS's products would not say either)
        from .scratch import scratch
        kw.products(UT, v, m, n, scratch("winograd-check", (64 // U.itemsize,), U.dtype),
                    span)
    else:
        np.matmul(U, vn, out=mn)


def _row_length(n, isz):
    """Row length for ``n`` tiles: whole cache lines, not a multiple of 4 KB
    (else spare rows would not move the planes)."""
    line = 64 // isz
    w = -(-n // line) * line
    return w + line if w * isz % 4096 == 0 else w


@lru_cache(maxsize=256)
def _plane_rows(points, rows, row_bytes):
    """``rows`` plus the fewest spare rows that leave at most 3 of ``points``
    consecutive planes starting at the same cache-line offset of a page."""
    for extra in range(64):
        lines = [k * (rows + extra) * row_bytes % 4096 // 64 for k in range(points)]
        if max(lines.count(x) for x in lines) <= 3:
            return rows + extra
    return rows


# A call runs on several threads when its products have at least this many
# multiply-adds (:func:`_product_work`; one thread runs ~40-50 GMAC/s of
# them, so ~0.2 ms).  It was 2**23 input samples times output rows, with the
# crew's helpers, which started ~0.5 ms late; numba's threads start at once.
# Two threads, one process, ms, the old limit / this one (torch): N4 C64
# 16x16 k3 s1 (16.8 M multiply-adds) 0.70 / 0.39 (0.70; the old limit kept
# it on one thread).  Near the limit the two measured as often faster as
# slower (two runs each; this machine's noise at 0.2-0.3 ms is about 30 %):
# N1 C64 32x32 k4 s2 (9.4 M, but one block of 64 tiles: one thread, see
# run_lanes) 0.34 / 0.31 and 0.29 / 0.35 split; N2 16x16 (4.7 M, one thread
# under both) 0.25 / 0.23 and 0.21 / 0.28 with a limit of 2**20.  conv1d N8 C64 256 k3 s2 (11.3 M) runs on two
# threads under both (0.205 ms, torch 0.218).
THREADS_MIN_WORK = 1 << 23
# ... and, split by ranges of tiles, at least this many tiles a thread:
# parts are cut between blocks of 64 tiles, and fewer blocks than threads
# leave a thread without any (N1 C64 32x32 k4 s2, 64 tiles, took 0.45 ms on
# two threads against 0.41 on one).
THREADS_MIN_TILES = 64
# Parts of the lanes per thread (see run_lanes).  Two threads, in one
# process, a pause before each block of calls: 1 / 2 / 4 parts a thread
# took 6.22 / 6.29 / 6.45 ms (strided conv2d) and 3.97 / 4.39 / 4.48 ms
# (conv1d); 1 against 2 again: 3.89 / 3.98, 5.09 / 4.81, 6.14 / 6.20, 5.86
# / 5.87.  One lane a part costs ~5 % on one thread (smaller chunks).
PARTS_PER_THREAD = 2
# Parts of the tiles per thread (1-D layers, 2-D layers with one output
# phase), per machine (:mod:`.machine`).  On the Xeon, two threads, the
# benchmark's C7 conv1d (interleaved with torch, two runs each) took
# 2.67-2.74 ms with two parts a thread and 2.54-2.55 with one (1.02-1.03 ->
# 1.06-1.08x torch); in one process, alternating, conv1d k3 s1 3.40-3.52 ->
# 3.22-3.28 ms, the 2-D layers within 2 %.  Parts of lanes (C5) lost 2-5 %
# with one there, and keep two.
TILE_PARTS_PER_THREAD = {"amd": PARTS_PER_THREAD, "intel": 1}

_crews = {}
_crews_lock = threading.Lock()
# threadpoolctl's controller (made on first use), the callers inside
# _blas_on_one_thread and the limit they share
_held = {"controller": None, "users": 0, "limiter": None}
_held_lock = threading.Lock()


def _after_fork():
    # A forked child (multiprocessing, torch's DataLoader) has none of the
    # crew's threads: a task given to the inherited crew would wait forever.
    global _held_lock, _crews_lock
    _crews.clear()
    _crews_lock = threading.Lock()
    _held.update(users=0, limiter=None)
    _held_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def run_lanes(run, x, plans, args, out):
    """``run(x, plans, *args, out)`` (:func:`run1` or :func:`run2`), split
    between numba's number of threads: by ranges of tiles, or of lanes
    (images) for 2-D layers with several output phases.

    Products in registers (real data) run their parts on numba's threads,
    one a thread, inside ``run`` (its ``nparts``; see "Threads" in the
    design notes).  Products by BLAS (complex data) run on a crew of helper
    threads, described here: each thread runs its own tiles, transforms and
    products, with BLAS held to one thread for the duration (threadpoolctl).
    The transforms are serial numba code between the products of each
    chunk: with BLAS on two threads they ran on one core while the products
    ran on both, and numba's
    own threads, spinning after a parallel region, fought OpenBLAS's for the
    cores.  With two threads, in one benchmark run each, the 64-channel
    layers took (lanes split against not): strided conv2d 10.2 against 11.4
    ms, conv1d 6.0 against 7.1, transposed conv2d 39.7 against 52.0,
    conv1d 11.2 against 14.6.  While a layer runs, BLAS calls from other
    threads of the process also run on one thread.  Each thread is held to
    CPUs of its own (:mod:`.pinning`), the helpers' set before they are
    woken (:class:`.crew.Crew`): a woken pool thread often shared the
    caller's CPU for the whole call (strided conv2d with two threads ~12 ms
    instead of ~6 in those calls; in the benchmark 9.0-9.7 -> 6.6-7.0 ms).
    """
    from .numba_threads import count

    lanes = x.shape[0]
    # 1-D layers and 2-D layers with one output phase write each tile's
    # outputs straight into the result: their parts are ranges of tiles, so
    # that a batch of fewer images than parts splits as evenly as a large one
    # (one 64x64 image of the 64-channel strided conv2d, two threads: 1.26 ->
    # 0.6 ms).  A 2-D layer with several output phases interleaves their
    # planes at the end, from all its lanes: its parts are ranges of lanes.
    by_tiles = run is run1 or math.prod(args[3]) == 1
    workers = count() if by_tiles else min(lanes, count())
    # (parts of tiles are cut between blocks of 64 tiles: see THREADS_MIN_TILES)
    tiles = _tile_count(run, lanes, plans, args[5])
    if workers < 2 or _product_work(tiles, plans) < THREADS_MIN_WORK \
            or by_tiles and tiles < THREADS_MIN_TILES * workers:
        run(x, plans, *args, out)
        return
    if by_tiles and all(UT is not None for _, _, _, UT in plans) or \
            not by_tiles and plans.stacked is not None:
        # (parts of the tiles on numba's threads, each in scratch of its own:
        # OpenMP's threads, spinning after a parallel region, start at once,
        # where a woken helper of the crew starts ~0.5 ms late between calls
        # made back to back.  Two threads, one process, ms, parts / crew:
        # conv2d N8 C64 48x48 k3 s2 1.85 / 2.28, 16x16 k4 s2 0.43 / 0.56,
        # 64x64 k4 s2 4.55 / 4.98; conv1d 1024 k8 s4 1.00 / 1.29, 2048 k3
        # s2 1.05 / 1.98, 4096 k4 s2 2.69 / 3.00).  A transposed 2-D layer
        # whose phases all run in one numba call is cut into ranges of lanes
        # there, each interleaving its own (kernels_winograd.parts2).
        run(x, plans, *args, out, thread_chunk(workers), None, workers)
        return
    crew = _crews.get(workers)
    if crew is None:
        from .crew import Crew
        with _crews_lock:
            crew = _crews.get(workers) or _crews.setdefault(
                workers, Crew(workers - 1, "polyphase-winograd"))
    # Lanes in parts, several per thread, which the threads take in turn
    # until none is left: a thread that starts late (a vCPU woken from idle
    # takes up to ~1 ms) runs fewer parts rather than its whole share after
    # the others have finished (strided conv1d with two threads right after
    # a pause: 7.3-7.8 ms with halves).
    if by_tiles:
        nparts = machine.pick(TILE_PARTS_PER_THREAD) * workers
        parts = [(0, lanes, (k, nparts)) for k in range(nparts)]
    else:
        nparts = min(lanes, PARTS_PER_THREAD * workers)
        cuts = [lanes * i // nparts for i in range(nparts + 1)]
        parts = [(a, b, None) for a, b in zip(cuts[:-1], cuts[1:])]
    parts = iter(parts)                 # (next() holds the GIL: one taker)
    # each thread on CPUs of its own for the call (see .pinning)
    cpus = spread(workers) or [None] * workers
    # (BLAS held to one thread only where a product goes to BLAS: complex
    # data, output rows not in fours; the limit and its restoring cost ~80 us)
    blas = any(UT is None for _, _, _, UT in plans)
    with _blas_on_one_thread() if blas else contextlib.nullcontext():
        # (BLAS's threads come back after all have finished)
        crew.run(functools.partial(_take_parts, run, x, plans, args, out,
                                   thread_chunk(workers), parts), cpus)


def _in_parts(kernel, nparts, head, shapes, tail):
    """``kernel(*head, cps, vs, ms, *tail, k, k + 1)`` for each part ``k <
    nparts`` (:func:`.kernels_winograd.parts1`, ``parts2``): part ``k``'s
    scratch is row ``k`` of each, of ``shapes`` (columns, transformed input,
    products); the parts on numba's threads when there are several."""
    from .scratch import scratch
    dtype = head[0].dtype
    stacked = tuple(scratch(slot, (nparts,) + tuple(shape), dtype) for slot, shape in
                    zip(("winograd-columns", "winograd-v", "winograd-m"), shapes))
    submodule("polyphase.engine")._jobs(kernel, head + stacked + tail, nparts,
                                        nparts if nparts > 1 else 0)


def _tile_count(run, lanes, plans, nb):
    """Tiles of a call: ``lanes`` of ``nb`` output blocks, :func:`tile`
    outputs a tile and axis."""
    if run is run1:
        return lanes * -(-int(nb) // tile(1, plans.box))
    return lanes * -(-int(nb[0]) // 2) * -(-int(nb[1]) // 2)


def _product_work(tiles, plans):
    """Multiply-adds of the products of ``tiles`` tiles (:func:`_tile_count`):
    each entry's points, rows and ``K`` a tile (a transposed layer's output
    phases are each an entry as large as a strided layer's one)."""
    return tiles * sum(U.shape[0] * U.shape[1] * U.shape[2] for _, _, U, _ in plans)


def _take_parts(run, x, plans, args, out, chunk, parts):
    """Run the parts left in ``parts`` until none is: the lanes ``a:b``, and
    of them the tiles of ``part`` (None: all)."""
    for a, b, part in parts:
        run(x[a:b], plans, *args, out[a:b], chunk, part)


@contextlib.contextmanager
def _blas_on_one_thread():
    """BLAS held to one thread while any caller is inside (calls from several
    threads at once: the first sets the limit, the last restores it)."""
    with _held_lock:
        if _held["controller"] is None:
            from threadpoolctl import ThreadpoolController
            _held["controller"] = ThreadpoolController()
        if _held["users"] == 0:
            _held["limiter"] = _held["controller"].limit(limits=1, user_api="blas")
        _held["users"] += 1
    try:
        yield
    finally:
        with _held_lock:
            _held["users"] -= 1
            if _held["users"] == 0:
                _held["limiter"].restore_original_limits()
                _held["limiter"] = None


def run1(x, plans, b0, M, pre, L, crop, nb, out, chunk_bytes=None, part=None, nparts=1):
    """All output phases of a 1-D layer through F(3, 2), from ``x`` into ``out``.

    ``x`` is ``(lanes, C_in, n)`` and ``out`` the result ``(lanes, C_out, n_out)``.
    Output block ``b`` (from 0 to ``nb``) is block ``b0 + b`` of the polyphase
    matrix's input grid: a tap with delay ``k`` of input phase ``q`` reads
    ``x[..., (b0 + b - k) * M + q - pre]``; output phase ``p`` of block ``b``
    is ``out[..., b * L + p - crop]``.  ``plans`` holds one :func:`plan` per
    entry of the GEMM plan: one for all phases (stacked) or one per phase.
    ``chunk_bytes`` is the transformed input per chunk of tiles
    (:func:`thread_chunk`; :func:`run_lanes` gives each thread its share), and
    ``part = (k, K)`` runs only the k-th of K parts of the tiles
    (:func:`_tile_range`).  Products in registers (the plan's ``UT``) run
    those tiles in ``nparts`` parts on numba's threads, each part in
    scratch of its own (:func:`.kernels_winograd.parts1`).
    """
    from . import kernels_winograd as kw
    from .scratch import scratch

    key = (1, x.shape[0], b0, M, pre, nb, chunk_bytes, part, nparts, x.dtype.str)
    nt, first, last, entries = plans.setup(
        key, lambda: _setup1(plans, x.shape[0], b0, M, pre, nb, chunk_bytes, part, nparts,
                             x.dtype))
    if first >= last:
        return
    check = scratch("winograd-check", (64 // x.itemsize,), x.dtype)
    for entry, (off, jmin, cp_shape, width, vshape, mshape) in enumerate(entries):
        _, _, U, UT = plans[entry]
        phase0 = 0 if len(plans) == 1 else entry
        if UT is not None:
            # all chunks of a part in one numba call
            _in_parts(kw.parts1, nparts, (x, off, jmin, M, nt, first, last, nparts, width, UT),
                      (cp_shape, vshape, mshape),
                      (phase0, L, crop, nb, out, check, tile(1, plans.box), plans.spans[entry]))
            continue
        cp = scratch("winograd-columns", cp_shape, x.dtype)
        cz, R = U.shape[2], U.shape[1]
        for t0 in range(first, last, width):
            n = min(width, last - t0)
            v, vn, m, mn = _tiles(4, cz, R, n, x.dtype)
            kw.transform_input1(x, off, jmin, M, nt, t0, n, v[0], cp)
            _products(U, UT, plans.spans[entry], v[0], vn[0], m, mn, n)
            kw.transform_output1(m, R, n, phase0, L, crop, nb, nt, t0, out, tile(1, plans.box))


def _setup1(plans, lanes, b0, M, pre, nb, chunk_bytes, part, nparts, dtype):
    """What :func:`run1` works out from a call's shapes: tiles per lane, the
    part's tiles ``[first, last)`` and per entry the x offset of its tiles,
    their first column phase, the scratch shapes and the chunk width."""
    T, box = tile(1, plans.box), plans.box
    nt = -(-nb // T)
    first, last = _tile_range(lanes * nt, part)
    isz = np.dtype(dtype).itemsize
    entries = []
    for qs, kmin, U, _ in plans:
        # x index of each tile's first sample d[0] (delay kmin + box - 1)
        off = ((b0 - kmin[:, 0] - box + 1) * M + qs - pre).astype(np.int64)
        cz, R = U.shape[2], U.shape[1]
        width = _chunk_width(_part_tiles(last - first, nparts),
                             (chunk_bytes or thread_chunk()) // (4 * max(cz, R) * isz))
        # the signal's samples a chunk's tiles read, split into T*M phases
        j = (off[:, None] + np.arange(4) * M) // (T * M)
        jmin = int(j.min())
        cp_shape = (-(-width // nt) + 1, T * M, width + int(j.max()) - jmin)
        entries.append((off, jmin, cp_shape, width) + _tile_shapes(4, cz, R, width, dtype))
    return nt, first, last, entries


def _column_phases(off1, off2, M, nt1, nt2, width, A):
    """Shape of the scratch for :func:`.kernels_winograd.transform_input2`,
    and its margin: the rows a chunk of ``width`` tiles (``A x A`` samples
    each) reads from each image it touches, split into ``2 * M[1]`` column
    phases, with the zero columns that tiles at the image's edges read first
    (``margin``) and last."""
    S = 2 * M[1]
    # column phase offset of d[., b] of tile 0, per entry, phase and b
    j = (off2[..., None] + np.arange(A) * M[1]) // S
    margin = int(max(0, -j.min()))
    columns = margin + int(j.max()) + nt2
    tile_rows = min(nt1, -(-width // nt2) + 1)          # per image a chunk touches
    rows = int(off1.max() - off1.min()) + (2 * tile_rows + A - 3) * M[0] + 1
    images = -(-width // (nt1 * nt2)) + 1
    return (images, rows, S, columns), margin


def run2(x, plans, b0, M, pre, L, crop, nb, out, chunk_bytes=None, part=None, nparts=1):
    """All output phases of a 2-D layer through F(2x2, 2x2), from ``x`` into ``out``.

    As :func:`run1`, per axis: ``x`` is ``(lanes, C_in, n1, n2)``, ``out`` the
    result ``(lanes, C_out, m1, m2)``, and ``b0``, ``M``, ``pre``, ``L``,
    ``crop`` and ``nb`` are pairs; ``chunk_bytes`` as there, and ``part``
    and ``nparts`` too when there is one output phase (several are
    interleaved from planes of all the lanes at the end).
    """
    from . import kernels_winograd as kw
    from .scratch import scratch

    lanes, cout = x.shape[0], out.shape[1]
    key = (2, lanes, tuple(b0), tuple(M), tuple(pre), tuple(nb), chunk_bytes, part, nparts,
           x.dtype.str)
    nt1, nt2, first, last, groups = plans.setup(
        key, lambda: _setup2(plans, lanes, b0, M, pre, nb, chunk_bytes, part, nparts,
                             x.dtype))
    if first >= last:
        return
    target, views, planes = out, None, 0
    if L[0] * L[1] > 1:
        # Several output phases: each row of M is one phase plane, written
        # contiguously and interleaved in one pass at the end (by each part
        # for its lanes, when one numba call writes all the phases).  Writing
        # the phases interleaved straight into a result larger than the cache
        # took 18 against 8 + 4.5 ms on a 64-channel transposed layer.
        target = scratch("winograd-planes", (lanes, L[0] * L[1] * cout) + tuple(nb),
                         x.dtype)
        views = _views(target, L[0], L[1])
        planes = 2 if len(groups) == 1 and groups[0][6] is not None else 1
    check = scratch("winograd-check", (64 // x.itemsize,), x.dtype)
    points = plans[0][2].shape[0]
    for group, off1, off2, cp_shape, margin, width, UT, spans, phases, vshape, mshape \
            in groups:
        if UT is not None:
            # all chunks of a part in one numba call
            _in_parts(kw.parts2, nparts, (x, off1, off2, margin, M[0], M[1], nt1, nt2, first,
                                          last, nparts, width, UT),
                      (cp_shape, vshape, mshape),
                      (phases, cout, planes, L[0], L[1], crop[0], crop[1], nb[0], nb[1],
                       target, check, spans) + ((views, out) if planes == 2 else (None, None)))
            continue
        cp = scratch("winograd-columns", cp_shape, x.dtype)
        E, cz = len(group), plans[group[0]][2].shape[2]
        R = max(plans[e][2].shape[1] for e in group)
        for t0 in range(first, last, width):
            n = min(width, last - t0)
            v, vn, m, mn = _tiles(points, cz, R, n, x.dtype, E)
            kw.transform_input2(x, off1, off2, margin, M[0], M[1], nt1, nt2, t0, n, v, cp)
            for i, e in enumerate(group):
                U, UT = plans[e][2], plans[e][3]
                me = m[points * i:points * (i + 1)]
                _products(U, UT, spans[i], v[i], vn[i], me,
                          mn[points * i:points * (i + 1), :U.shape[1]], n)
                kw.transform_output2(me, U.shape[1], n, phases[i], cout,
                                     target is not out, L[0], L[1], crop[0], crop[1], nb[0],
                                     nb[1], nt1, nt2, t0, target)
    if planes == 1:
        from .kernels2d import interleave_blocks
        interleave_blocks(views, np.int64(crop[0]), np.int64(crop[1]), out)


def _views(planes, L1, L2):
    """``planes`` ``(lanes, L1 * L2 * C, *nb)`` as
    :func:`.kernels2d.interleave_blocks` reads them: ``(L1, L2, C, lanes,
    *nb)``, a view."""
    return planes.reshape((planes.shape[0], L1, L2, -1) + planes.shape[2:]).transpose(
        1, 2, 3, 0, 4, 5)


def _setup2(plans, lanes, b0, M, pre, nb, chunk_bytes, part, nparts, dtype):
    """What :func:`run2` works out from a call's shapes: tiles per axis, the
    part's tiles ``[first, last)`` and per group of entries that read the
    same input phases (a transposed layer's four output phases differ only
    in their delays, and share one split of the input) the x offsets of
    their tiles' corners, the column-phase scratch, the chunk width, the
    stacked ``UT`` (or None: products by BLAS), the entries' output phases
    and the tile scratch shapes."""
    nt1, nt2 = -(-nb[0] // 2), -(-nb[1] // 2)
    first, last = _tile_range(lanes * nt1 * nt2, part)
    same = all(np.array_equal(q, plans[0][0]) for q, _, _, _ in plans)
    isz = np.dtype(dtype).itemsize
    points = plans[0][2].shape[0]
    box = plans.box
    A = box + 1                             # samples per tile and axis: 3 or 4
    groups = []
    for group in [list(range(len(plans)))] if same else [[e] for e in range(len(plans))]:
        qs = plans[group[0]][0]
        q1, q2 = qs // M[1], qs % M[1]
        # x index of each tile's corner d[0, 0] (delay kmin + box - 1), per
        # entry and phase
        off1 = np.array([(b0[0] - plans[e][1][:, 0] - box + 1) * M[0] + q1 - pre[0]
                         for e in group], dtype=np.int64)
        off2 = np.array([(b0[1] - plans[e][1][:, 1] - box + 1) * M[1] + q2 - pre[1]
                         for e in group], dtype=np.int64)
        E, cz = len(group), plans[group[0]][2].shape[2]
        R = max(plans[e][2].shape[1] for e in group)
        width = _chunk_width(_part_tiles(last - first, nparts),
                             (chunk_bytes or thread_chunk()) // (points * E * max(cz, R) * isz))
        cp_shape, margin = _column_phases(off1, off2, M, nt1, nt2, width, A)
        phases = np.array([0 if len(plans) == 1 else e for e in group], dtype=np.int64)
        groups.append((group, off1, off2, cp_shape, margin, width, _stacked(plans, group),
                       plans.spans[group], phases) + _tile_shapes(points, cz, R, width, dtype, E))
    return nt1, nt2, first, last, groups

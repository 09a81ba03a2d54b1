"""numba kernel for 2-D matrices that only decimate: strided convolutions, any
strides ``(M1, M2)`` and kernel sizes.

Output ``(r, c)`` of a lane is ``sum_t tc[t] * x[M1*r + ro + ta[t], M2*c + so + tb[t]]``
(zero outside ``x``).  Each input row that an output row reads is split
once into its ``M2`` column phases, ``P[m, j] = x[i, M2*j + so + m]`` (zero
outside the row), in a ring of scratch rows that stays in L1; tap ``(a, b)``
with ``b = M2*q + m`` then reads ``P[m, c + q]`` for output column ``c``: a
unit-stride, zero-based run.  Four taps run per pass over the output row.

Why: reading the image with strided loads used a fraction of each load
(stride 3: a single-channel 1024x1024 ``conv2d`` took 0.54 ms, slower than
torch), and splitting the whole image into its ``M1*M2`` phase images first
was a copy of it through memory (0.42 of those 0.54 ms); the ring splits
each row once, into L1, and skips the rows no tap reads.  The split of a
row is an interleaved load LLVM vectorises when ``M2`` is a literal, so
``M2 = 2, 3, 4`` have their own loops.

Rows and columns outside the image are zeros in the ring and multiply like
any sample: the taps are the matrix's nonzero ones, so with finite taps the
result is the tap-by-tap sum (a NaN or inf in ``x`` spreads as it does
there).  The caller sends non-finite taps elsewhere (``0 * inf``).
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _edge(row, col, d, j):
    d[j] = row[col] if 0 <= col < row.shape[0] else 0


@njit(cache=True, nogil=True)
def _split(row, M2, so, P):
    """``P[m, j] = row[M2*j + so + m]`` (zero outside ``row``)."""
    n, ncp = row.shape[0], P.shape[1]
    j0 = min(max(0, -(so // M2)), ncp)          # first j with M2*j + so >= 0
    j1 = max(j0, min(ncp, (n - so) // M2))      # ... and M2*j + so + M2 - 1 < n
    src = row[M2 * j0 + so:]                    # zero-based views: see module doc
    cnt = j1 - j0
    if M2 == 1:
        d0 = P[0, j0:j1]
        for t in range(cnt):
            d0[t] = src[t]
    elif M2 == 2:
        d0, d1 = P[0, j0:j1], P[1, j0:j1]
        for t in range(cnt):
            d0[t] = src[2 * t]
            d1[t] = src[2 * t + 1]
    elif M2 == 3:
        d0, d1, d2 = P[0, j0:j1], P[1, j0:j1], P[2, j0:j1]
        for t in range(cnt):
            d0[t] = src[3 * t]
            d1[t] = src[3 * t + 1]
            d2[t] = src[3 * t + 2]
    elif M2 == 4:
        d0, d1, d2, d3 = P[0, j0:j1], P[1, j0:j1], P[2, j0:j1], P[3, j0:j1]
        for t in range(cnt):
            d0[t] = src[4 * t]
            d1[t] = src[4 * t + 1]
            d2[t] = src[4 * t + 2]
            d3[t] = src[4 * t + 3]
    else:
        for m in range(M2):
            d = P[m, j0:j1]
            for t in range(cnt):
                d[t] = src[M2 * t + m]
    for m in range(M2):
        # outside the row: zeros (a vectorised fill); then the two blocks
        # that straddle its ends, sample by sample
        P[m, :j0] = 0
        P[m, j1:] = 0
        for j in (j0 - 1, j1):
            if 0 <= j < ncp:
                _edge(row, M2 * j + so + m, P[m], j)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _taps(o, ring, slots, ta, tb, tc, M2, t, u):
    """``o[c] += sum_{v<u} tc[t+v] * P_{ta[t+v]}[tb % M2][c + tb // M2]`` for
    ``u = 4`` or ``8`` taps: one pass over ``o`` (``o``'s load and store
    cost about as much as four taps' multiply-adds, so eight share them)."""
    n = o.shape[0]
    v0 = ring[slots[ta[t]], tb[t] % M2, tb[t] // M2:]
    v1 = ring[slots[ta[t + 1]], tb[t + 1] % M2, tb[t + 1] // M2:]
    v2 = ring[slots[ta[t + 2]], tb[t + 2] % M2, tb[t + 2] // M2:]
    v3 = ring[slots[ta[t + 3]], tb[t + 3] % M2, tb[t + 3] // M2:]
    w0, w1, w2, w3 = tc[t], tc[t + 1], tc[t + 2], tc[t + 3]
    if u == 4:
        for c in range(n):
            o[c] += (w0 * v0[c] + w1 * v1[c]) + (w2 * v2[c] + w3 * v3[c])
        return
    v4 = ring[slots[ta[t + 4]], tb[t + 4] % M2, tb[t + 4] // M2:]
    v5 = ring[slots[ta[t + 5]], tb[t + 5] % M2, tb[t + 5] // M2:]
    v6 = ring[slots[ta[t + 6]], tb[t + 6] % M2, tb[t + 6] // M2:]
    v7 = ring[slots[ta[t + 7]], tb[t + 7] % M2, tb[t + 7] // M2:]
    w4, w5, w6, w7 = tc[t + 4], tc[t + 5], tc[t + 6], tc[t + 7]
    for c in range(n):
        o[c] += ((w0 * v0[c] + w1 * v1[c]) + (w2 * v2[c] + w3 * v3[c])) \
            + ((w4 * v4[c] + w5 * v5[c]) + (w6 * v6[c] + w7 * v7[c]))


@njit(cache=True, nogil=True)
def _rows(x, M1, M2, K1, ro, so, ta, tb, tc, out, job0, job1):
    """Output rows ``job0 <= lane * n_rows + r < job1`` (see the module doc)."""
    n1 = x.shape[1]
    rows, cols = out.shape[1], out.shape[2]
    K2 = tb.max() + 1
    # The passes run over a multiple of 64 columns (LLVM's vector body, 4x
    # unrolled): the scalar remainder of a 255-column row was half its time.
    width = -(-cols // 64) * 64
    # slot K1 stays zero: the padding taps (weight 0) read it
    ring = np.zeros((K1 + 1, M2, width + (K2 - 1) // M2), x.dtype)
    acc = np.empty(width, out.dtype)
    held = np.full(K1, -1 << 62)                # input row in each slot
    slots = np.full(K1 + 1, K1)                 # slot of kernel row a, this output row
    zero = np.zeros(x.shape[2], x.dtype)
    lane_held = -1
    for job in range(job0, job1):
        lane = job // rows
        r = job - lane * rows
        if lane != lane_held:
            held[:] = -1 << 62
            lane_held = lane
        for a in range(K1):
            i = M1 * r + ro + a
            s = i % K1                          # K1 consecutive rows: distinct slots
            slots[a] = s
            if held[s] != i:
                _split(x[lane, i] if 0 <= i < n1 else zero, M2, so, ring[s])
                held[s] = i
        acc[:] = 0
        t = 0
        while t < tc.shape[0]:
            u = 8 if tc.shape[0] - t >= 8 else 4
            _taps(acc, ring, slots, ta, tb, tc, M2, t, u)
            t += u
        out[lane, r] = acc[:cols]


@njit(cache=True, nogil=True)
def run_serial(x, M1, M2, K1, ro, so, ta, tb, tc, out):
    _rows(x, M1, M2, K1, ro, so, ta, tb, tc, out, np.int64(0), out.shape[0] * out.shape[1])


@njit(cache=True, nogil=True, parallel=True)
def run_parallel(x, M1, M2, K1, ro, so, ta, tb, tc, out, ngroups):
    njobs = out.shape[0] * out.shape[1]
    for g in prange(ngroups):
        _rows(x, M1, M2, K1, ro, so, ta, tb, tc, out, g * njobs // ngroups,
              (g + 1) * njobs // ngroups)


def tap_plan(ta, tb, tc):
    """``(K1, ta, tb, tc)`` for the kernels: the taps sorted by row (the ring
    splits rows in that order), padded to a multiple of four with taps of
    weight 0 on the ring's zero row ``K1`` (the passes take four or eight)."""
    ta, tb = np.asarray(ta, np.int64), np.asarray(tb, np.int64)
    order = np.lexsort((tb, ta))
    K1 = int(ta.max()) + 1
    pad = -len(order) % 4
    return (np.int64(K1), np.concatenate([ta[order], np.full(pad, K1, np.int64)]),
            np.concatenate([tb[order], np.zeros(pad, np.int64)]),
            np.concatenate([np.asarray(tc)[order], np.zeros(pad, np.asarray(tc).dtype)]))

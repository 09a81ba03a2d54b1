"""numba kernel for channel-agnostic 2-D polyphase matrices with finite taps:
strided and transposed convolutions of any strides and kernel sizes, and
rational 2-D resamplers.

Output phase ``(p1, p2)`` of output block ``(b1, b2)`` is
``sum c * x[M1*b1 + ro + a, M2*b2 + so + b]`` over that phase's taps
``(a, b, c)`` (zero outside ``x``).  Each input row a block row reads is
split once into its ``M2`` column phases, ``P[m, j] = x[i, M2*(blo + j) + so + m]``
(zeros outside the row), in a ring of scratch rows that stays in L1: tap
``(a, b)`` with ``b = M2*q + m`` then reads ``P[m, j + q]`` for block column
``blo + j``, a unit-stride, zero-based run.  Up to eight taps of a phase run
per pass over its scratch row, whose blocks are then interleaved into the
output row (``L2`` phases per block).

Why: reading the image with strided loads used a fraction of each load
(stride 3: a single-channel 1024x1024 ``conv2d`` took 0.54 ms, slower than
torch), and splitting the whole image into its ``M1*M2`` phase images first
was a copy of it through memory (0.42 of those 0.54 ms); the ring splits
each row once, into L1 (:func:`.kernels.split_phases`), and skips the rows
no tap reads.  A pass per tap (the phase-image kernel, :mod:`.kernels2d`)
loaded and stored the scratch row once per tap: eight taps share that
here.  The interleave of ``L2`` phases into an output row is an interleaved
store LLVM vectorises when ``L2`` is a literal, so ``L2 = 1..4`` have loops
of their own.

Rows and columns outside the image are zeros in the ring and multiply like
any sample; inserted zeros (phases) are never multiplied.  With finite taps
the result is the tap-by-tap sum (a NaN or inf in ``x`` spreads as it does
there); the caller sends non-finite taps elsewhere (``0 * inf``).
"""

import numpy as np
from .inline_builtins import empty1, empty2, matrix, zeros1
from .jit import njit

from .kernels import split_phases
from .kernels2d import interleave_row


@njit(cache=True, internal=True, nogil=True, fastmath={"contract"})
def _pass(o, ring, off, tc, t, u):
    """``o[j] += sum_{v<u} tc[t+v] * ring[off[t+v] + j]`` for ``u`` = 1, 2, 4
    or 8 taps: one pass over ``o``, whose load and store cost about as much
    as four taps' multiply-adds."""
    n = o.shape[0]
    v0, w0 = ring[off[t]:], tc[t]
    if u == 1:
        for j in range(n):
            o[j] += w0 * v0[j]
        return
    v1, w1 = ring[off[t + 1]:], tc[t + 1]
    if u == 2:
        for j in range(n):
            o[j] += w0 * v0[j] + w1 * v1[j]
        return
    v2, w2 = ring[off[t + 2]:], tc[t + 2]
    v3, w3 = ring[off[t + 3]:], tc[t + 3]
    if u == 4:
        for j in range(n):
            o[j] += (w0 * v0[j] + w1 * v1[j]) + (w2 * v2[j] + w3 * v3[j])
        return
    v4, w4 = ring[off[t + 4]:], tc[t + 4]
    v5, w5 = ring[off[t + 5]:], tc[t + 5]
    v6, w6 = ring[off[t + 6]:], tc[t + 6]
    v7, w7 = ring[off[t + 7]:], tc[t + 7]
    for j in range(n):
        o[j] += ((w0 * v0[j] + w1 * v1[j]) + (w2 * v2[j] + w3 * v3[j])) \
            + ((w4 * v4[j] + w5 * v5[j]) + (w6 * v6[j] + w7 * v7[j]))


@njit(cache=True, nogil=True)
def run_jobs(x, geo, ptr, tt, tc, out, job0, job1):
    """Output block rows ``job0 <= lane * n_block_rows + b < job1``
    (:func:`n_jobs` in all).

    ``geo``: ``L1, L2, M1, M2, ro, so, w1, w2, K1, Q`` (the output window
    starts at output index ``(w1, w2)``; the taps read ``K1`` rows and block
    shifts up to ``Q``); ``ptr``: phase ``p1*L2 + p2``'s taps are
    ``ptr[ph]:ptr[ph + 1]``; ``tt``: rows ``a``, column phases ``m`` and
    block shifts ``q`` of the taps (``b = M2*q + m``); ``tc``: weights.
    """
    # (no np.max, np.full: each numpy function a kernel calls is one more
    # overload for numba to compile, 0.1-0.5 s of the first call)
    L1, L2, M1, M2, ro, so, w1, w2, K1, Q = geo[0], geo[1], geo[2], geo[3], geo[4], \
        geo[5], geo[6], geo[7], geo[8], geo[9]
    n1 = x.shape[1]
    rows, cols = out.shape[1], out.shape[2]
    ta, tm, tq = tt[0], tt[1], tt[2]
    b1lo = w1 // L1
    nb1 = (w1 + rows - 1) // L1 + 1 - b1lo
    blo = w2 // L2
    nb2 = (w2 + cols - 1) // L2 + 1 - blo
    # The passes run over a multiple of 64 blocks (LLVM's vector body, 4x
    # unrolled), so no scalar remainder (half of a 255-column row's time).
    width = -(-nb2 // 64) * 64
    W = width + Q                               # a phase row of the ring
    ring = empty1(x, K1 * M2 * W)
    acc = empty2(out, L2, width)
    held = empty1(np.int64, K1)                 # input row in each slot
    off = empty1(np.int64, tc.shape[0])
    zero = zeros1(x, x.shape[2])
    lane_held = -1
    for job in range(job0, job1):
        lane = job // nb1
        b1 = b1lo + job - lane * nb1
        if lane != lane_held:
            for q in range(K1):
                held[q] = -1 << 62
            lane_held = lane
        for a in range(K1):
            i = M1 * b1 + ro + a
            s = i % K1                          # K1 consecutive rows: distinct slots
            if held[s] != i:
                split_phases(x[lane, i] if 0 <= i < n1 else zero, M2, M2 * blo + so,
                       matrix(ring[s * M2 * W:], M2, W))
                held[s] = i
        for t in range(tc.shape[0]):
            i = M1 * b1 + ro + ta[t]
            off[t] = ((i % K1) * M2 + tm[t]) * W + tq[t]
        for p1 in range(L1):
            r = L1 * b1 + p1 - w1
            if r < 0 or r >= rows:
                continue
            for p2 in range(L2):
                o = acc[p2]
                o[:] = 0
                t, end = ptr[p1 * L2 + p2], ptr[p1 * L2 + p2 + 1]
                while t < end:
                    u = end - t
                    u = 8 if u >= 8 else (4 if u >= 4 else (2 if u >= 2 else 1))
                    _pass(o, ring, off, tc, t, u)
                    t += u
            interleave_row(acc, L2, blo, w2, out[lane, r])


def n_jobs(geo, lanes, rows):
    """How many jobs :func:`run_jobs` has for ``lanes`` images of ``rows``
    output rows: one per lane and output block row."""
    return lanes * ((int(geo[6]) + rows - 1) // int(geo[0]) + 1 - int(geo[6]) // int(geo[0]))


def plan(pm, dtype, in_origin, starts):
    """``(geo, ptr, tt, tc)`` for the kernels, for ``pm`` on an input whose
    first sample is input index ``in_origin`` and the output window starting
    at ``starts``; None when a tap is not finite (see the module doc).

    Tap ``(p, q, k, c)`` adds ``c * x[M*(b - k) + q]`` (input indices) to
    output ``L*b + p``: array row ``M1*b1 + (q1 - M1*k1 - in_origin[0])``.
    """
    tc = pm.c.astype(dtype)
    if not np.isfinite(tc).all():
        return None
    (L1, L2), (M1, M2) = pm.ups, pm.downs
    rt = pm.q[:, 0] - M1 * pm.k[:, 0] - in_origin[0]
    st = pm.q[:, 1] - M2 * pm.k[:, 1] - in_origin[1]
    ro, so = int(rt.min()), int(st.min())
    phase = pm.p[:, 0] * L2 + pm.p[:, 1]
    order = np.lexsort((st, rt, phase))        # by phase, then row: passes share rows
    b = (st - so)[order]
    tt = np.stack([(rt - ro)[order], b % M2, b // M2]).astype(np.int64)
    ptr = np.searchsorted(phase[order], np.arange(L1 * L2 + 1)).astype(np.int64)
    geo = np.array([L1, L2, M1, M2, ro, so, starts[0], starts[1], tt[0].max() + 1,
                    tt[2].max()], np.int64)
    return geo, ptr, tt, tc[order]

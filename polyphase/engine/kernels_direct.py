"""numba kernel for channel-mixing phases: a direct, register-blocked product.

The GEMM path lays each input phase out as flat streams ``flat[q, c, :]``
(lanes and blocks on one padded grid), so tap ``t`` of an output phase reads
stream ``tq[t]`` shifted by ``ts[t]``; output row ``r`` (output phase and
channel) at grid column ``p`` is::

    out[r, p] = sum_t sum_c Wt[t, c, r] * flat[tq[t], c, ts[t] + p]

Here that sum runs in registers: ``NB`` output rows times ``V`` vectors of
``G`` grid columns are accumulated (:func:`.simd.rows_fma_taps8x2`), each
input vector loaded once for ``NB`` broadcast multiply-adds and each
broadcast coefficient serving ``V`` vectors, over all taps and input
channels, then stored once.  No stacked copy of the input is made.

Measured on a stride-1 3x3 layer (N8, C64 -> 64, 32x32, float32, one
thread), on the grid alone: on the EPYC (one 512-bit FMA a cycle), with one
vector of columns and scalar code LLVM's SLP vectoriser turned into vector
instructions, 50-56 GMAC/s (87-97 % of its FMA peak; ``NB = 4``: 39,
load-bound), where the stacked route (im2col copies, then OpenBLAS) reached
34 and torch's oneDNN about 50.  On the Xeon (two 512-bit FMA units a core,
OpenBLAS sgemm at 78 GMAC/s) that code reached 32 GMAC/s: LLVM's tuning for
Intel server cores prefers 256-bit vectors, so SLP split each accumulator in
two, and eight chains of multiply-adds do not keep two FMA units busy.
Explicit 512-bit vectors, two of them per row (16 accumulators): see
:func:`polyphase.engine.gemm._direct_applies` for the measurements and
where the kernel runs.
"""

import numpy as np
from .inline_builtins import flat as flat_view, imin
from .jit import njit

from . import simd
from .registers import lanes

# Output rows per register block: 8 rows of V = 2 vectors of accumulators,
# each input vector serving 8 multiply-adds.
NB, V = 8, 2

# Grid columns per chunk (a multiple of every V * G): C_in rows of it stay in
# L2 while every block of output rows reads it (the whole width per block of
# rows streamed 8 MB eight times for a 64-channel conv1d: 50 against ~9 ms).
CHUNK = 256


@njit(cache=True, internal=True, nogil=True)
def _columns(flat, L, toff, Wt, out, c0, c1):
    """Grid columns ``[c0, c1)`` (a multiple of ``V * G`` wide) of every row;
    ``flat`` is the streams flattened, channel ``c`` of tap ``t`` starting at
    ``c * L + toff[t]``."""
    step = V * lanes(flat.dtype)
    T, C, R = Wt.shape
    wf = flat_view(Wt)
    of = flat_view(out)
    ostride = out.shape[1]
    for q0 in range(c0, c1, CHUNK):
        for r0 in range(0, R, NB):
            for p0 in range(q0, imin(q0 + CHUNK, c1), step):
                simd.rows_fma_taps8x2(flat, p0, L, toff, wf, r0, R, C, of,
                                      r0 * ostride + p0, ostride)


@njit(cache=True, nogil=True)
def run_jobs(flat, L, toff, Wt, out, job0, job1):
    """``out[r, p]`` for the columns ``p`` of jobs ``[job0, job1)``: job ``j``
    is columns ``[j * CHUNK, (j + 1) * CHUNK)`` of ``out.shape[1]`` (a
    multiple of ``V * G``); ``flat`` must reach ``C * L + toff.max() +
    out.shape[1]``.  Jobs write disjoint columns."""
    _columns(flat, L, toff, Wt, out, job0 * CHUNK, imin(job1 * CHUNK, out.shape[1]))


@njit(cache=True, nogil=True)
def run_rows(flat, L, toff, Wt, out, S, P1, c0, H, W, rpj, seg, job0, job1):
    """The products written straight into a layer's output ``out``, ``(lanes,
    R, H * W)`` (C-ordered, ``R = Wt.shape[2]``), for a layer that does not
    upsample: output row ``i`` of image ``l`` is the grid columns from
    ``l * S + i * P1 + c0`` on, ``W`` of them (``H = 1``: 1-D).

    Writing through the product and an interleaving pass cost a second
    write and a read of the output: a 3-channel 3x3 stride-1 layer, N8 C3
    -> 64 64x64, one thread, spent 0.98 ms of 2.86 in that pass on the EPYC.
    Row ends that are not whole blocks take masked stores, and the grid's
    padding columns between rows are not computed.

    Job ``j`` is rows ``[(j // nseg) * rpj, ...)`` (``rpj`` of them, the
    last group shorter) and columns ``[(j % nseg) * seg, ...)`` of each
    (``seg`` a multiple of ``V * G`` or ``W``; ``nseg = ceil(W / seg)``): about
    ``CHUNK`` columns, which every block of output rows reads while they are
    in cache, as in :func:`run_jobs`.  ``flat`` must reach ``C * L +
    toff.max()`` past the last row's end plus one block.
    """
    half = lanes(flat.dtype)
    step = V * half
    T, C, R = Wt.shape
    wf = flat_view(Wt)
    of = flat_view(out)
    HW = H * W
    rows = out.shape[0] * H
    nseg = (W + seg - 1) // seg
    for j in range(job0, job1):
        g0 = (j // nseg) * rpj
        g1 = imin(g0 + rpj, rows)
        x0 = (j % nseg) * seg
        x1 = imin(x0 + seg, W)
        for r0 in range(0, R, NB):
            for g in range(g0, g1):
                lane = g // H
                i = g - lane * H
                src = lane * S + i * P1 + c0
                dst = (lane * R + r0) * HW + i * W
                x = x0
                while x + step <= x1:
                    simd.rows_fma_taps8x2(flat, src + x, L, toff, wf, r0, R, C, of, dst + x,
                                          HW)
                    x += step
                # (the rest: at most one vector in a block of one vector a row)
                if x + half < x1:
                    simd.rows_fma_taps8x2_part(flat, src + x, L, toff, wf, r0, R, C, of,
                                               dst + x, HW, x1 - x)
                elif x < x1:
                    simd.rows_fma_taps8x1_part(flat, src + x, L, toff, wf, r0, R, C, of,
                                               dst + x, HW, x1 - x)


def row_jobs(rows, W):
    """``(rpj, seg, njobs)`` of :func:`run_rows` for ``rows`` output rows of
    ``W`` columns: about ``CHUNK`` columns a job.  (Fewer columns for jobs
    whose input is large, at most 256 KB a job, measured no faster: N8 C64
    64x64 k4 s4, 1024 input rows an output, 7.19 against 7.14 ms.)"""
    if W >= CHUNK:
        rpj, seg = 1, CHUNK
    else:
        rpj, seg = CHUNK // W, W
    return rpj, seg, -(-rows // rpj) * -(-W // seg)


def n_jobs(columns):
    """Jobs of :func:`run_jobs` for ``columns`` columns."""
    return -(-columns // CHUNK)


def weights(W, taps, cin, rows=None):
    """``Wt`` for :func:`products` from a GEMM-path entry's ``W`` (one group,
    ``(1, R, T * C_in)``, columns in (tap, channel) order): ``(T, C_in,
    rows)``, the rows after ``R`` zero (``rows`` a multiple of ``NB``, ``R``
    by default)."""
    R = W.shape[1]
    Wt = np.zeros((taps, cin, R if rows is None else rows), W.dtype)
    Wt[:, :, :R] = W[0].reshape(R, taps, cin).transpose(1, 2, 0)
    return Wt

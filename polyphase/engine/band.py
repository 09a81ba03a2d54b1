"""The band route for 1-D matrices: chunks of outputs as small dense products.

:mod:`polyphase.engine.kernels_band` has the kernels and the idea.  This
module builds their operands from a polyphase matrix, decides when the route
applies, and runs it.

When (:func:`plan`): real float32/float64 data, at least ``MIN_TAPS`` taps
per output phase (along rows, L = 2 with at most four taps a phase keeps
the phase-stream kernel, see :func:`polyphase.engine.single_pass_rows`),
and at most ``MAX_WASTE`` times as many multiply-adds as taps.  Measured
against the phase-stream kernel (kernel time, one thread, 2**22 samples,
f64 / f32):

=================  ===============  ===============
case               band (ms)        phase streams
=================  ===============  ===============
2/1, 64 taps       14.0 / 7.4       19.3 / 9.6
1/2, 64 taps       7.1 / 4.2        15.1 / 6.9
3/2, 96 taps       9.7 / 5.9        21.8 / 11.8
160/147, 3201      8.5 / 6.1        19.8 / 14.4
=================  ===============  ===============
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._lazy import submodule

# Fewest taps per output phase for the band route (along rows, L = 2 with
# at most four taps a phase keeps the phase-stream kernel's single pass,
# :func:`polyphase.engine.single_pass_rows`: 8 taps, one thread, 2**22
# samples, 3.1-3.3 / 1.5-1.6 ms in float64 / float32 against 4.8-5.7 /
# 2.8-3.0 on the band).  It was 8 (4 along axis 0 in float64) until the
# band's kernels prefetched the input they read next
# (:data:`.kernels_band.PREFETCH_STEPS`, ``PREFETCH_ROWS``); with that,
# the phase-stream kernel's kinds for few taps a phase (its gather kind for
# L >= 3, its jobs that split their input for M > 1) and the axis-0 kernel
# lost to the band by up to 5x, and won nowhere by more than the noise
# (10 % at 16-24 float64 lanes along axis 0).  One thread, float64 /
# float32 ms, old gates -> these:
#
# * 2**22 samples: 3/2 with 9 taps 7.1-11.1 / 3.8-8.0 -> 4.0-4.3 / 2.1;
#   4/3 with 16 taps 6.5-10.6 / 3.9-7.8 -> 3.4-4.0 / 1.9-2.0; 5/1 with 10
#   taps 27-41 / 14-28 -> 18 / 8.7; 8/1 with 16 taps 34-70 / 17-52 -> 14
#   / 7-9; 5/3 with 31 taps 15 / 7.0-7.6 -> 7.4 / 3.5; decimation by 2
#   with 6 taps 4.9-9.0 / 2.6-2.7 -> 2.0 / 1.4; as fast for decimation by
#   4-6 with 8-12 taps; on 2**16 samples 1-4x faster;
# * (65536, 64) along axis 0: decimation by 2 with 12 taps 5.2 / 1.8-1.9
#   -> 2.2-2.4 / 1.1-1.4, by 4 with 24 taps 5.2-5.9 / 1.8 -> 2.9-3.0 / 0.9;
#   4/3 with 16 taps 6.9-7.0 / 3.2-4.0 -> 2.5 / 1.0; 5/3 with 31 taps 4.1 /
#   5.5-5.7 -> 3.1 / 1.6; 2/1 with 4 taps 5.4-5.6 / 2.5 -> 2.8-3.0 / 1.4.
MIN_TAPS = 2
# Most multiply-adds (padding included) per tap.  160/147 with 3201 taps
# does 1.7 per tap in float32.  A chunk of G outputs of a decimator by M
# reads (G - 1) * M + K samples: 1 + (G - 1) * M / K multiply-adds per tap
# along rows (along axis 0 each tile of output rows skips the band's zeros
# outside its own taps, see :func:`.kernels_band._rows`).  It was 2 until
# the band's kernels prefetched their input (see ``MIN_TAPS``; the same
# measurements); on the Xeon, whose phase-stream kernel runs at about half
# the band's speed, 8 along rows was already faster: one thread, one
# process, ratios to scipy at a limit of 2 / 8, 2**22 samples, float64 and
# float32: decimation by 2 with 12 taps 3.2 / 9.2x and 5.2 / 10.6x, by 4
# with 12 taps 3.1 / 5.3x and 4.1 / 6.0x, by 8 with 24 taps 1.9 / 3.3x and
# 2.8 / 4.5x, by 16 with 40 taps 0.7 / 2.3x and 1.4 / 3.1x.  On the EPYC,
# 2 / 8 ms, 2**22 samples: decimation by 8 with 64 taps in float32 2.5-2.7
# / 1.8, by 16 with 160 taps 6.2 / 2.0, by 4 with 24 taps in float64
# 6.1-6.4 / 2.2-2.6; 7/5 with 70 taps in float32 6.5-6.8 / 3.2-3.4.
MAX_WASTE = 8.0
# ... for float32 decimators whose input is out of cache (at least
# ``simd.STREAM_BYTES``): there the phase-stream kernel's jobs, which split
# their input in bursts, wait on memory (9.5-11 GB/s for decimation by 2-4
# with 2M taps), and the band, which prefetches, was 1.2-1.7x faster at up to
# 16 multiply-adds a tap: one thread, 2**22 samples, ms at 8 / 16, 1/2
# with 4 taps 2.06-2.10 / 1.35-1.55, 1/3 with 6 taps 2.09-2.35 / 1.33, 1/4
# with 8 taps 1.70-2.17 / 1.31-1.34, 1/5 with 6 taps 1.55-1.77 / 1.24-1.26,
# 1/8 with 9 taps 1.40-1.52 / 1.24-1.28.  In cache the split kind wins
# (1/8 with 9 taps, 2**20 samples: 0.22 against 0.31 ms), and so did it for
# float64 and for rational rates in one dtype or the other (3/8 with 9
# taps, float64, 2.95-3.0 against 3.5-3.7).
MAX_WASTE_FAR = 16.0
# Largest D (bytes): it is read once per four macro-blocks and should stay
# in L2 (rates like 48000/44101 have tens of thousands of chunks).
MAX_D_BYTES = 1 << 19
# Cost of a multiply-add of the band route relative to the phase-stream
# kernel's, for the FFT cost model (:mod:`polyphase.engine.cost`) on long
# signals.  Measured crossovers with the FFT path (one thread, 2**20 samples,
# f64 and f32): 250-300 taps per phase for 1/1, 2/1 and 3/2 and ~400 for
# 1/2, against ~192 with the phase-stream kernel.
RELATIVE_COST = 0.6
# Output bytes per job: long enough that a job's loop overheads vanish,
# short enough for two threads to balance.
JOB_BYTES = 1 << 16


class BandPlan(NamedTuple):
    """Operands of :mod:`.kernels_band` for one matrix and dtype.

    Macro-block ``B`` holds outputs ``[B*Ls, (B+1)*Ls)``; its chunk ``c`` of
    ``G`` outputs reads input ``B*Ms + offs[c] + w`` for ``w < widths[c]``
    with weights ``D[c, w, :]``.  ``spans[c, g]`` is ``[w0, w1)``, the rows
    of ``D[c]`` where group ``g`` of the chunk's outputs has weights: the
    groups of four outputs, then of eight (the axis-0 route's tiles, which
    skip the band's zeros outside them).
    """

    Ls: int
    Ms: int
    offs: np.ndarray
    widths: np.ndarray
    D: np.ndarray
    lo: int            # least and greatest input offset a macro-block reads
    hi: int
    spans: np.ndarray
    waste: float       # multiply-adds (the band's padding included) per tap


def plan(pm, dtype, max_waste=MAX_WASTE):
    """The :class:`BandPlan` of ``pm`` for ``dtype``, or None where the route
    does not apply (cached on ``pm``): fewer than :data:`MIN_TAPS` taps per
    output phase, more than ``max_waste`` multiply-adds per tap."""
    dtype = np.dtype(dtype)
    if pm.nnz < MIN_TAPS * pm.ups[0]:
        return None
    key = ("band", dtype)
    cache = pm.__dict__.setdefault("_plans", {})
    if key not in cache:
        cache[key] = _build(pm, dtype)
    bp = cache[key]
    return None if bp is None or bp.waste > max_waste else bp


def _build(pm, dtype):
    if dtype not in (np.float32, np.float64) or pm.c.dtype.kind == "c" or pm.nnz == 0:
        return None
    L, M = pm.ups[0], pm.downs[0]
    G = 64 // dtype.itemsize
    Ls = L * G // math.gcd(L, G)
    T = Ls // L                                  # blocks of the matrix per macro-block
    from . import tap_lists
    ptr, tq, tk, tc = tap_lists(pm, dtype)
    # every tap of every output of a macro-block: output m = t*L + p reads
    # input (t - k)*M + q of the macro-block's
    phase = np.repeat(np.arange(L), np.diff(ptr))
    t = np.arange(T)[:, None]
    m = (t * L + phase).ravel()
    r = ((t - tk) * M + tq).ravel()
    coef = np.broadcast_to(tc, (T, tc.size)).ravel()
    chunk, lane = m // G, m % G
    nch = Ls // G
    offs = np.full(nch, np.iinfo(np.int64).max)
    last = np.full(nch, -1, np.int64)
    np.minimum.at(offs, chunk, r)
    np.maximum.at(last, chunk, r)
    empty = last < offs                          # (no taps: never true for
    offs[empty], last[empty] = 0, -1             # chunks of a matrix with taps)
    widths = last - offs + 1
    if nch * widths.max() * G * dtype.itemsize > MAX_D_BYTES:
        return None
    D = np.zeros((nch, int(widths.max()), G), dtype)
    D[chunk, r - offs[chunk], lane] = coef
    used = widths > 0
    return BandPlan(Ls, T * M, offs, widths, D, int(offs[used].min()),
                    int(last[used].max()), _spans(chunk, lane, r - offs[chunk], nch, G),
                    float(widths.sum() * G / (T * pm.nnz)))


def _spans(chunk, lane, w, nch, G):
    """:attr:`BandPlan.spans` from every tap's chunk, output in it and row of
    ``D`` (a group with no taps gets ``[0, 0)``)."""
    spans = []
    for size in (4, 8):
        group = chunk * (G // size) + lane // size
        first = np.full(nch * G // size, np.iinfo(np.int64).max)
        last = np.full(nch * G // size, -1, np.int64)
        np.minimum.at(first, group, w)
        np.maximum.at(last, group, w)
        empty = last < first
        first[empty], last[empty] = 0, -1
        spans.append(np.stack([first, last + 1], axis=1).reshape(nch, G // size, 2))
    return np.ascontiguousarray(np.concatenate(spans, axis=1), dtype=np.int64)


def run(bp, x, dtype, in_origin, start, length, groups):
    """Outputs ``[start, start + length)`` of every row of ``x`` (lanes, n),
    column 0 being input index ``in_origin``; None if an output is not finite
    (then the exact kernel must run, see :mod:`.kernels_band`).

    ``groups`` > 0 runs the jobs in that many parallel groups.
    """
    NB = submodule("polyphase.engine.kernels_band").BLOCKS   # (macro-blocks at a time)

    Bi0, Bi1 = _interior(bp, x.shape[1], in_origin, start, length)
    Bi1 = Bi0 + (Bi1 - Bi0) // NB * NB
    chunk = max(1, JOB_BYTES // (bp.Ls * x.itemsize) // NB) * NB
    scratch = submodule("polyphase.engine.scratch")
    out = scratch.result((x.shape[0], length), dtype)       # (every sample is written)
    args = (x, bp.D, bp.offs, bp.widths, bp.spans, bp.Ls, bp.Ms, -in_origin, start, out,
            Bi0, Bi1, chunk, None, scratch.mapped(out))
    return out if _run_jobs(args, (x.shape[0], Bi0, Bi1, chunk), groups) == 0 else None


def run_axis0(bp, x, out, in_origin, start, groups) -> bool:
    """:func:`run` along axis 1 of ``x`` (before, n, after), C-contiguous, into
    ``out`` (before, length, after); False if an output is not finite.
    ``after`` must be at least one 64-byte vector of lanes (the kernel's
    last vector of a row may overlap the one before it, never the row
    before)."""
    before, n, after = x.shape
    if after * x.itemsize < 64:
        raise ValueError(f"after={after}: the axis-0 band route needs at least "
                         f"{64 // x.itemsize} lanes of {x.dtype}")
    Bi0, Bi1 = _interior(bp, n, in_origin, start, out.shape[1])
    chunk = max(1, JOB_BYTES // (bp.Ls * after * x.itemsize))
    args = (x.reshape(before, -1), bp.D, bp.offs, bp.widths, bp.spans, bp.Ls, bp.Ms,
            -in_origin, start, out.reshape(before, -1), Bi0, Bi1, chunk, after,
            submodule("polyphase.engine.scratch").mapped(out))
    return _run_jobs(args, (before, Bi0, Bi1, chunk), groups) == 0


def _run_jobs(args, jobs, groups):
    """:func:`.kernels_band.run_jobs` on all its jobs (``jobs``: the arguments of
    :func:`.kernels_band.n_jobs`), compiled with LLVM's SLP vectoriser
    (:mod:`.registers`); in ``groups`` parallel groups if > 0."""
    kernels_band = submodule("polyphase.engine.kernels_band")
    registers = submodule("polyphase.engine.registers")
    njobs = kernels_band.n_jobs(*jobs)
    if groups:
        return submodule("polyphase.engine.groups").run(
            kernels_band.run_jobs, args, njobs, groups, setting=registers.slp_vectorizer)
    return registers.call(kernels_band.run_jobs, args + (0, njobs))


def _interior(bp, n, in_origin, start, length):
    """Interior macro-blocks ``[Bi0, Bi1)`` of a signal of ``n`` samples: all
    their outputs in the window and all their inputs in the signal
    (``B*Ms + lo >= in_origin``, ``B*Ms + hi < in_origin + n``)."""
    Bi0 = max(-(-start // bp.Ls), -(-(in_origin - bp.lo) // bp.Ms))
    Bi1 = min((start + length) // bp.Ls, (in_origin + n - 1 - bp.hi) // bp.Ms + 1)
    return Bi0, max(Bi0, Bi1)


def interior_blocks(bp, n, in_origin, start, length) -> int:
    """Macro-blocks of one signal that the fast loop would run."""
    Bi0, Bi1 = _interior(bp, n, in_origin, start, length)
    return Bi1 - Bi0

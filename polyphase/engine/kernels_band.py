"""numba kernels of the band route: a 1-D matrix as small dense matrix products.

The pattern of a 1-D polyphase matrix repeats every ``L`` outputs (``M``
inputs); ``Ls`` outputs (a *macro-block*, ``Ls`` a multiple of ``L`` and of
``G``) read ``Ms`` inputs further on.  Cut into *chunks* of ``G`` outputs,
``G`` = one 64-byte vector of the dtype, chunk ``c`` of macro-block ``B`` is a
dense product::

    out[B*Ls + c*G + i] = sum_w D[c, w, i] * x[B*Ms + offs[c] + w]

so the inner loop is one vector multiply-add per input sample: a broadcast
of ``x``, a row of ``D``, and ``G`` outputs that stay in registers (four
macro-blocks at a time, so that each row of ``D`` serves four).  No phase
streams are needed, so neither the de-interleave of the input nor strided
stores of the output: for ``resample_poly(x, 160, 147)`` those took ~6.6 ms of
a 20 ms call.  ``D`` holds zeros where an output does not use a sample (the
band's padding, 10-70 % more multiply-adds than taps); the inserted zeros
of an upsampler are never among the samples read.  See
:mod:`polyphase.engine.band` for when the route is taken.

The accumulators are in registers and the inner loop vectorised as
:mod:`polyphase.engine.registers` describes.

Non-finite input: a zero of ``D`` times ``inf`` is ``NaN``, which the taps
themselves would never produce.  Each job therefore also reports whether any
of its outputs is not finite, and the caller then recomputes with the exact
kernel (the 1-D macro-blocks at a signal's ends report too; the axis-0
route's edge rows skip the zeros and need no such care).
"""

from numba import njit
import numpy as np

from . import simd
from .registers import NB, accumulators, lanes

# Let LLVM fuse ``a * b + c`` into one FMA.
CONTRACT = {"contract"}


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _interior(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff):
    """Macro-blocks ``[B0, B1)`` (a multiple of ``NB`` of them) whose inputs all
    lie in ``x``.  Returns ``sum(a - a)`` over the outputs: 0 unless one is
    ``inf`` or ``NaN``."""
    G = lanes(x.dtype)
    acc = accumulators(x.dtype)
    check = acc[NB * G:]
    for i in range(G):
        check[i] = 0
    for B in range(B0, B1, NB):
        for c in range(offs.shape[0]):
            d = D[c]
            # zero-based views: a signed index blocks vectorisation
            xb = x[B * Ms + offs[c] + xoff:]
            for a in range(NB * G):
                acc[a] = 0
            for w in range(widths[c]):
                dw = d[w]
                for j in range(NB):
                    v = xb[w + j * Ms]
                    for i in range(G):
                        acc[j * G + i] += dw[i] * v
            for j in range(NB):
                o = out[(B + j) * Ls + c * G - ooff:]
                for i in range(G):
                    o[i] = acc[j * G + i]
                    check[i] += acc[j * G + i] - acc[j * G + i]
    bad = 0.0
    for i in range(G):
        bad += check[i]
    return bad


# The axis-0 route: each output is a row of ``after`` lanes (the contiguous
# axes of the caller's array) and the lanes play the part of the macro-blocks
# above: the accumulators are a chunk's G output rows for NB lanes.  ``x`` is
# one signal's ``(n * after,)`` rows, ``out`` its ``(length * after,)``.


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _interior_rows(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff, after):
    """Macro-blocks ``[B0, B1)`` whose input rows all lie in ``x``, NB lanes at
    a time (the last ``after % NB`` lanes one at a time).

    Vectors run along a chunk's output rows, as in :func:`_interior`: a
    kernel with vectors along the lanes that loads the input rows of every
    tap per output row is bound by those loads (35-50 % of peak, less on
    input that is not 64-byte aligned), and one that keeps several rows of
    lane vectors in registers was not vectorised as written by LLVM's SLP
    vectoriser.  Returns 0 unless an output is not finite.
    """
    G = lanes(x.dtype)
    acc = accumulators(x.dtype)
    check = acc[NB * G:]
    for i in range(G):
        check[i] = 0
    ua = np.uint64(after)
    # blocks of 4 vectors of lanes: 4 output rows at a time in registers
    block = np.uint64(4 * G)
    wide4 = ua // block * block
    rows4 = np.uint64(D.shape[1] * G)
    wide = np.uint64(after // NB * NB)
    stream = simd.streams(out, after)
    for B in range(B0, B1):
        for c in range(offs.shape[0]):
            d = D[c]
            first = np.uint64(B * Ms + offs[c] + xoff) * ua
            o = np.uint64(B * Ls + c * G - ooff) * ua
            for lane in range(np.uint64(0), wide4, block):
                for r0 in range(0, G, 4):
                    simd.rows_fma4x4(x, first + lane, ua, D, np.uint64(c) * rows4 + np.uint64(r0),
                                     np.uint64(G), widths[c], out,
                                     o + np.uint64(r0) * ua + lane, ua, check, stream)
            for lane in range(wide4, wide, np.uint64(NB)):
                for a in range(NB * G):
                    acc[a] = 0
                for w in range(widths[c]):
                    dw = d[w]
                    # unsigned offsets: a signed index gets a wraparound
                    # check that turns the loads into gathers
                    xr = x[first + np.uint64(w) * ua + lane:]
                    for j in range(NB):
                        v = xr[j]
                        for i in range(G):
                            acc[j * G + i] += dw[i] * v
                for j in range(NB):
                    for i in range(G):
                        out[o + np.uint64(i) * ua + lane + np.uint64(j)] = acc[j * G + i]
                        check[i] += acc[j * G + i] - acc[j * G + i]
    if stream:
        simd.fence()
    bad = 0.0
    for i in range(G):
        bad += check[i]
    if wide < ua:
        bad += _rest_lanes(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff, after, wide)
    return bad


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _rest_lanes(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff, after, wide):
    """:func:`_interior_rows` for the lanes from ``wide`` on, one at a time.
    (A function of its own: in the same loop nest it stopped the SLP
    vectoriser from using whole vectors for the rest, 31 against 19 ms.)"""
    G = D.shape[2]
    ua = np.uint64(after)
    bad = 0.0
    for B in range(B0, B1):
        for c in range(offs.shape[0]):
            first = np.uint64(B * Ms + offs[c] + xoff) * ua
            o = np.uint64(B * Ls + c * G - ooff) * ua
            for lane in range(np.uint64(wide), ua):
                for i in range(G):
                    s = out.dtype.type(0)
                    for w in range(widths[c]):
                        s += D[c, w, i] * x[first + np.uint64(w) * ua + lane]
                    out[o + np.uint64(i) * ua + lane] = s
                    bad += s - s
    return bad


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _edges(x, D, offs, widths, Ls, Ms, xoff, n0, n1, out, ooff, after):
    """Outputs (rows of ``after`` lanes) ``[n0, n1)`` one at a time, reading
    only the samples in ``x`` and skipping the zeros of ``D``: the taps
    exactly, summed in the same order as the interiors."""
    nx = x.shape[0] // after
    G = D.shape[2]
    for n in range(n0, n1):
        B = n // Ls
        m = n - B * Ls
        c = m // G
        j = m - c * G
        base = B * Ms + offs[c] + xoff
        dst = out[(n - ooff) * after:(n - ooff + 1) * after]
        for i in range(after):
            dst[i] = 0
        for w in range(max(0, -base), min(widths[c], nx - base)):
            coef = D[c, w, j]
            if coef != 0:
                src = x[(base + w) * after:(base + w + 1) * after]
                for i in range(after):
                    dst[i] += coef * src[i]


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _edge_blocks(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff, n0, n1):
    """The outputs in ``[n0, n1)`` of the 1-D macro-blocks ``[B0, B1)``, one
    macro-block at a time: as :func:`_interior`, with the samples each chunk
    reads cut to those inside ``x``.  For the macro-blocks at the ends of a
    signal and the last ``< NB`` ones of its interior; computed output by
    output (:func:`_edges`) they took 25-45 % of a (64, 2**16) float32 batch
    (160/147: 9.2 against 7.1 ms without them).  Returns ``sum(a - a)`` over
    the outputs written, as :func:`_interior` (a zero of ``D`` meets the
    samples here too)."""
    G = lanes(x.dtype)
    acc = accumulators(x.dtype)
    nx = x.shape[0]
    bad = 0.0
    for B in range(B0, B1):
        for c in range(offs.shape[0]):
            d = D[c]
            base = B * Ms + offs[c] + xoff
            for i in range(G):
                acc[i] = 0
            for w in range(max(0, -base), min(widths[c], nx - base)):
                dw = d[w]
                v = x[base + w]
                for i in range(G):
                    acc[i] += dw[i] * v
            first = B * Ls + c * G
            for i in range(max(0, n0 - first), min(G, n1 - first)):
                out[first + i - ooff] = acc[i]
                bad += acc[i] - acc[i]
    return bad


def n_jobs(signals, Bi0, Bi1, chunk):
    """Jobs of :func:`run_jobs`: ``chunk`` interior macro-blocks each (at least
    one job per signal, which also runs its edges)."""
    return signals * max(1, -(-(Bi1 - Bi0) // chunk))


@njit(cache=True, nogil=True)
def run_jobs(x, D, offs, widths, Ls, Ms, xoff, start, out, Bi0, Bi1, chunk, after, t0, t1):
    """Jobs ``[t0, t1)`` of the band route on the signals ``x`` (signals, n *
    after) into ``out`` (signals, length * after), ``after`` None for 1-D
    signals: output index ``start`` first, input index ``-xoff`` first.
    Returns 0 when every output is finite.

    Job ``t`` is job ``k = t % njobs`` of signal ``t // njobs``
    (:func:`n_jobs`): interior macro-blocks ``[Bi0 + k*chunk, ...)``, plus
    the outputs before ``Bi0`` for the first job and after ``Bi1`` for the
    last (1-D: :func:`_edge_blocks`; rows: :func:`_edges`); jobs write
    disjoint outputs.  ``after is None``: a 1-D signal (:func:`_interior`,
    ``Bi1 - Bi0`` and ``chunk`` multiples of ``NB``); else rows of ``after``
    lanes (:func:`_interior_rows`).  (None rather than 1: numba compiles a
    copy per argument type and prunes the branch on ``is None`` at typing,
    so the 1-D route does not compile the other interior: 1.3 against 2.3 s
    cold.  The job is not a function of its own: one level of calls less
    to compile: 3.2 -> 2.3 s cold for the rows.)"""
    njobs = max(1, -(-(Bi1 - Bi0) // chunk))
    last = njobs - 1
    width = 1 if after is None else after
    bad = 0.0
    for t in range(t0, t1):
        sig = t // njobs
        k = t - sig * njobs
        xs, os = x[sig], out[sig]
        stop = start + os.shape[0] // width
        b0 = Bi0 + k * chunk
        b1 = min(b0 + chunk, Bi1)
        if after is None:
            # (Bi1 - Bi0 a multiple of NB: the rest of the interior is edge blocks)
            if k == 0:
                bad += _edge_blocks(xs, D, offs, widths, Ls, Ms, xoff, start // Ls, Bi0, os,
                                    start, start, stop)
            if b0 < b1:
                bad += _interior(xs, D, offs, widths, Ls, Ms, xoff, b0, b1, os, start)
            if k == last:
                bad += _edge_blocks(xs, D, offs, widths, Ls, Ms, xoff, Bi1,
                                    (stop - 1) // Ls + 1, os, start, start, stop)
        else:
            if k == 0:
                _edges(xs, D, offs, widths, Ls, Ms, xoff, start,
                       min(stop, max(start, Bi0 * Ls)), os, start, width)
            if b0 < b1:
                bad += _interior_rows(xs, D, offs, widths, Ls, Ms, xoff, b0, b1, os, start,
                                      after)
            if k == last:
                _edges(xs, D, offs, widths, Ls, Ms, xoff, max(start, Bi1 * Ls), stop, os,
                       start, width)
    return bad

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

The 1-D interior runs eight macro-blocks at a time on explicit 512-bit
vectors (:func:`.simd.band_fma8`).  Its first form, four macro-blocks of
scalar code that LLVM's SLP vectoriser turned into vector instructions (see
:mod:`polyphase.engine.registers`; four beat two and eight there on the
EPYC), ran at half that speed on the Xeon, whose LLVM tuning prefers
256-bit vectors and whose two FMA units four chains of multiply-adds do not
keep busy: old and new code in alternating processes, one thread, 2**22
samples, 64 taps: L = 2 21.8-22.3 -> 11.1-11.5 ms (float64), 10.1-10.3 ->
5.8-6.2 (float32); M = 2 18.3-19.2 -> 9.4-9.7 and 5.4-5.5 -> 3.4-3.6;
3/2 with 96 taps 16.4-17.5 -> 10.2-10.6 and 7.6-7.8 -> 4.9-5.1;
``resample_poly(x, 160, 147)`` 13.1-13.2 -> 10.0-10.9; 256 and 4096
samples unchanged.  The rows of the axis-0 route (:func:`_rows`) already ran
on such vectors.

Non-finite input: a zero of ``D`` times ``inf`` is ``NaN``, which the taps
themselves would never produce.  Each job therefore also reports whether any
of its outputs is not finite, and the caller then recomputes with the exact
kernel (the 1-D macro-blocks at a signal's ends report too; the axis-0
route's edge rows skip the zeros and need no such care).
"""

from .inline_builtins import flat, imax, imin
from .jit import njit
import numpy as np

from . import simd
from .registers import NB, accumulators, lanes

# Let LLVM fuse ``a * b + c`` into one FMA.
CONTRACT = {"contract"}


# Macro-blocks the 1-D interior runs at a time (:func:`.simd.band_fma8`).
BLOCKS = 8
# How many steps of BLOCKS macro-blocks ahead the interior prefetches the
# input.  Without it a signal out of cache (2**22 doubles) was read at a
# third of the copy bandwidth: each step's loads wait on memory and its
# multiply-adds then leave the memory idle (the hardware prefetcher follows
# misses, and there are none while the products run).  Decimation by 8
# with 64 taps, one thread: 1.56 ns a sample on 2**22 doubles against 0.62
# on 2**20 (in L3); prefetching 2 steps ahead 0.61 (1, 4: 0.58, 0.67 ns).
# Other rates, 2**22 samples, float64 / float32 ms, 0 -> 2 steps: 3/2 with
# 96 taps 9.5 / 5.4 -> 8.7 / 4.7, 160/147 8.5 / 5.1 -> 6.1 / 3.4, 1/2 with
# 64 taps 6.0 / 3.6 -> 5.8 / 3.5, 2/1 unchanged (its input is half the
# output's bytes).
PREFETCH_STEPS = 2
PREFETCH_ROWS = 8


@njit(cache=True, internal=True, nogil=True)
def _interior(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff, stream):
    """Macro-blocks ``[B0, B1)`` (a multiple of ``BLOCKS`` of them) whose inputs
    all lie in ``x``.  Returns ``sum(a - a)`` over the outputs: 0 unless one
    is ``inf`` or ``NaN``.  ``stream``: non-temporal stores (every output
    vector must start a line; the caller ends with :func:`.simd.fence`)."""
    G = lanes(x.dtype)
    check = accumulators(x.dtype)[NB * G:]
    for i in range(G):
        check[i] = 0
    dsize = D.shape[1] * G                  # elements of D per chunk
    Df = flat(D)
    # each step's chunks share the prefetch of the input a step further on,
    # ``BLOCKS * Ms`` samples, spread over their loops (a burst of them at
    # once waits as a load does)
    nc = offs.shape[0]
    part = BLOCKS * Ms // nc
    ahead = PREFETCH_STEPS * BLOCKS * Ms
    for B in range(B0, B1, BLOCKS):
        for c in range(nc):
            simd.band_fma8(Df, c * dsize, G, x, B * Ms + offs[c] + xoff, Ms, widths[c], out,
                           B * Ls + c * G - ooff, Ls, check,
                           B * Ms + xoff + ahead + c * part, -(-part // imax(1, widths[c])),
                           stream)
    bad = 0.0
    for i in range(G):
        bad += check[i]
    return bad


# The axis-0 route: each output is a row of ``after`` lanes (the contiguous
# axes of the caller's array) and the lanes play the part of the macro-blocks
# above: the accumulators are vectors of lanes of a few of a chunk's G output
# rows.  ``x`` is one signal's ``(n * after,)`` rows, ``out`` its
# ``(length * after,)``.


@njit(cache=True, nogil=True, inline="always")
def _span(span, base, nx, ua, c, rows, g):
    """A tile's rows of ``D[c]``: its group's ``span`` cut to the input rows
    inside ``x`` (``base`` the chunk's first); the offsets of its first input
    row and weight, and the count."""
    w0 = imax(span[0], -base)
    nw = imax(0, imin(span[1], nx - base) - w0)
    return (np.uint64(imax(0, base + w0)) * ua, np.uint64(c) * rows + np.uint64(w0) * g,
            nw)


@njit(cache=True, internal=True, nogil=True, fastmath=CONTRACT)
def _rows(x, D, offs, widths, spans, Ls, Ms, xoff, B0, B1, out, ooff, after, n0, n1, mapped):
    """Outputs ``[n0, n1)`` of macro-blocks ``[B0, B1)``; ``after`` must be at
    least one vector of lanes (``G``).

    The lanes run in tiles of vectors, the accumulators in registers
    (:func:`.simd.rows_fma4x4_ahead` ...): four vectors of lanes times four output
    rows, then two vectors or one times eight rows, and a last vector that
    overlaps the one before it when ``after`` is not a multiple of ``G`` (its
    outputs are computed twice and written twice, the same values).  Before
    the two- and one-vector tiles, the lanes left over from the four-vector
    ones ran ``NB`` at a time with vectors along the output rows (strided
    stores) and the last ``after % NB`` one at a time: 48 float64 lanes
    (M=2, 40 taps) took 6.3 ms against 4.1 for 64, and float32 did not take
    the route below 64 lanes (32 lanes, 3/2: 5.1 ms on the axis-0 kernel,
    float64 3.3).  A kernel with vectors along the lanes that loads the input
    rows of every tap per output row is bound by those loads (35-50 % of
    peak).

    Each tile runs only the rows of ``D[c]`` where its four (eight) output
    rows have weights (``spans``), not the whole chunk's band: the band of a
    chunk of ``G`` outputs is ``(G - 1) * M`` rows wider than one output's
    taps, zeros the 1-D route must multiply (its vectors run along the
    chunk's outputs) and this one need not (U8, one thread, one process
    against the whole band: float32 L=2 7.1 -> 5.8 ms, M=2 4.9 -> 4.0, 3/2
    5.8 -> 4.8, 160/147 3.7 -> 3.1; float64 L=2 12.9 -> 11.3, 3/2 10.8 ->
    9.8).  The row groups are the outer loop, so that a group's span is
    worked out once for all its lane tiles (inside, float64 ran 10-20 %
    slower than on the whole band).

    The same tiles run the macro-blocks at a signal's ends, each chunk's taps
    cut to the input rows inside ``x``; only a chunk whose ``G`` rows are
    not all in the window runs row by row (:func:`_edges`).  Row by row,
    those ends took 2.2 of 4.7 ms for ``resample_poly(x, 147, 160, axis=0)``
    on (32768, 64) float64, whose macro-blocks are 1176 outputs long.
    Returns 0 unless an output is not finite.
    """
    G = lanes(x.dtype)
    acc = accumulators(x.dtype)
    check = acc[NB * G:]
    for i in range(G):
        check[i] = 0
    ua = np.uint64(after)
    g = np.uint64(G)
    nx = x.shape[0] // after
    # (unsigned throughout: an int64 meeting a uint64 makes a float64)
    g4 = np.uint64(4 * G)
    wide4 = ua // g4 * g4
    rows = np.uint64(D.shape[1]) * g          # elements of D per chunk
    two = ua - wide4 >= 2 * g                 # a tile of two vectors after them
    one = ua - wide4 - (2 * g if two else 0) >= g
    last = ua - g                             # the last vector (may overlap)
    stream = simd.streams(out, after, mapped)     # (then ``after`` is a multiple of G)
    # each tile prefetches its input rows this many elements further on
    pa = np.uint64(-(-PREFETCH_ROWS * Ms // Ls)) * ua
    for B in range(B0, B1):
        for c in range(offs.shape[0]):
            r0 = B * Ls + c * G
            if r0 < n0 or r0 + G > n1:
                _edges(x, D, offs, widths, Ls, Ms, xoff, imax(n0, r0), imin(n1, r0 + G), out,
                       ooff, after)
                continue
            base = B * Ms + offs[c] + xoff
            o = np.uint64(r0 - ooff) * ua
            for r in range(0, G if wide4 else 0, 4):
                first, dc, nw = _span(spans[c, r // 4], base, nx, ua, c, rows, g)
                ur = np.uint64(r)
                for lane in range(np.uint64(0), wide4, g4):
                    simd.rows_fma4x4_ahead(x, first + lane, ua, D, dc + ur, g, nw, out,
                                           o + ur * ua + lane, ua, check, stream, pa)
            lane = wide4
            for tile in range(3):               # two vectors, one, the last one
                if tile == 0 and not two or tile == 1 and not one or \
                        tile == 2 and lane >= ua:
                    continue
                at = last if tile == 2 else lane
                for r in range(0, G, 8):
                    first, dc, nw = _span(spans[c, G // 4 + r // 8], base, nx, ua, c, rows, g)
                    ur = np.uint64(r)
                    if tile == 0:
                        simd.rows_fma8x2_ahead(x, first + at, ua, D, dc + ur, g, nw, out,
                                               o + ur * ua + at, ua, check, stream, pa)
                    else:               # (the last vector overlaps: not streamed)
                        simd.rows_fma8x1_ahead(x, first + at, ua, D, dc + ur, g, nw, out,
                                               o + ur * ua + at, ua, check, stream and tile == 1,
                                               pa)
                lane += g + g if tile == 0 else g
    if stream:
        simd.fence()
    bad = 0.0
    for i in range(G):
        bad += check[i]
    return bad


@njit(cache=True, internal=True, nogil=True, fastmath=CONTRACT)
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
        for w in range(imax(0, -base), imin(widths[c], nx - base)):
            coef = D[c, w, j]
            if coef != 0:
                src = x[(base + w) * after:(base + w + 1) * after]
                for i in range(after):
                    dst[i] += coef * src[i]


@njit(cache=True, internal=True, nogil=True, fastmath=CONTRACT)
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
            for w in range(imax(0, -base), imin(widths[c], nx - base)):
                dw = d[w]
                v = x[base + w]
                for i in range(G):
                    acc[i] += dw[i] * v
            first = B * Ls + c * G
            for i in range(imax(0, n0 - first), imin(G, n1 - first)):
                out[first + i - ooff] = acc[i]
                bad += acc[i] - acc[i]
    return bad


def n_jobs(signals, Bi0, Bi1, chunk):
    """Jobs of :func:`run_jobs`: ``chunk`` interior macro-blocks each (at least
    one job per signal, which also runs its edges)."""
    return signals * max(1, -(-(Bi1 - Bi0) // chunk))


@njit(cache=True, nogil=True)
def run_jobs(x, D, offs, widths, spans, Ls, Ms, xoff, start, out, Bi0, Bi1, chunk, after,
             mapped, t0, t1):
    """Jobs ``[t0, t1)`` of the band route on the signals ``x`` (signals, n *
    after) into ``out`` (signals, length * after), ``after`` None for 1-D
    signals: output index ``start`` first, input index ``-xoff`` first.
    Returns 0 when every output is finite.

    Job ``t`` is job ``k = t % njobs`` of signal ``t // njobs``
    (:func:`n_jobs`): interior macro-blocks ``[Bi0 + k*chunk, ...)``, plus
    the outputs before ``Bi0`` for the first job and after ``Bi1`` for the
    last (1-D: :func:`_edge_blocks`; rows: :func:`_rows`, cut to them); jobs
    write disjoint outputs; ``mapped``: whether ``out``'s pages are (a
    large output is then streamed, see :func:`.simd.streams`).  ``after is None``: a 1-D signal (:func:`_interior`,
    ``Bi1 - Bi0`` and ``chunk`` multiples of ``BLOCKS``); else rows of ``after``
    lanes (:func:`_rows`).  (None rather than 1: numba compiles a
    copy per argument type and prunes the branch on ``is None`` at typing,
    so the 1-D route does not compile the other interior: 1.3 against 2.3 s
    cold.  The job is not a function of its own: one level of calls less
    to compile: 3.2 -> 2.3 s cold for the rows.)"""
    njobs = imax(1, -(-(Bi1 - Bi0) // chunk))
    last = njobs - 1
    width = 1 if after is None else after
    bad = 0.0
    # 1-D: a large output into recycled memory is streamed where its
    # vectors start lines (see simd.STREAM_BYTES: upsampling by 5 with 64
    # taps, 2**22 doubles, wrote 168 MB, which plain stores first read)
    G = lanes(x.dtype)
    whole = mapped != 0 and out.size * out.itemsize >= simd.STREAM_BYTES and start % G == 0
    streamed = False
    for t in range(t0, t1):
        sig = t // njobs
        k = t - sig * njobs
        xs, os = x[sig], out[sig]
        stop = start + os.shape[0] // width
        b0 = Bi0 + k * chunk
        b1 = imin(b0 + chunk, Bi1)
        if after is None:
            # (Bi1 - Bi0 a multiple of BLOCKS: the rest of the interior is edge blocks)
            if k == 0:
                bad += _edge_blocks(xs, D, offs, widths, Ls, Ms, xoff, start // Ls, Bi0, os,
                                    start, start, stop)
            if b0 < b1:
                stream = whole and os.ctypes.data % np.uint64(64) == 0
                streamed |= stream
                bad += _interior(xs, D, offs, widths, Ls, Ms, xoff, b0, b1, os, start, stream)
            if k == last:
                bad += _edge_blocks(xs, D, offs, widths, Ls, Ms, xoff, Bi1,
                                    (stop - 1) // Ls + 1, os, start, start, stop)
        else:
            # (the ends: the macro-blocks around outputs [start, Bi0*Ls) and
            # [Bi1*Ls, stop), cut to them)
            if k == 0:
                e1 = imin(stop, imax(start, Bi0 * Ls))
                if start < e1:
                    bad += _rows(xs, D, offs, widths, spans, Ls, Ms, xoff, start // Ls,
                                 (e1 - 1) // Ls + 1, os, start, after, start, e1, mapped)
            if b0 < b1:
                bad += _rows(xs, D, offs, widths, spans, Ls, Ms, xoff, b0, b1, os, start, after,
                             start, stop, mapped)
            if k == last:
                e0 = imax(start, Bi1 * Ls)
                if e0 < stop:
                    bad += _rows(xs, D, offs, widths, spans, Ls, Ms, xoff, e0 // Ls,
                                 (stop - 1) // Ls + 1, os, start, after, e0, stop, mapped)
    if streamed:
        simd.fence()
    return bad

"""numba kernel for a 1-D operator along an axis that is not the fastest in memory.

The signal is viewed as ``x[before, n, after]`` (C-contiguous): each input
sample is a contiguous row of ``after`` values (the other axes of the caller's
array), so the kernel vectorises across rows instead of along time.  Output
row ``m`` (phase ``p = m mod L``, block ``b = m // L``) is
``sum c * x[:, b*M + q - k*M - origin, :]`` over the nonzero taps ``(q, k, c)``
of row ``p``: one multiply-add of whole rows per tap, with no phase streams and
no transposed copy in or out.

A job is a range of blocks of one column tile.  For each output phase it
accumulates the rows of all its blocks that read only inside the input, tap
group by tap group, in one pass per group: with ``M == 1`` and untiled rows the
input rows of consecutive blocks are consecutive in memory, so a pass is one
long unit-stride loop instead of one short loop per row (a loop over a 64-wide
row spends more on its set-up than on its multiply-adds).  The phase's rows are
then copied to their interleaved places (``L > 1``) or were written in place
(``L == 1``).  Two phases that read the same rows (after upsampling) run as
a pair, each loaded row serving both (:func:`_pair8`).  Rows near the ends of
the input run their in-range taps row by row.  Each output sample is written
by exactly one job, so groups of jobs run in parallel with no atomics
(:func:`.groups.run`).

``fastmath={"contract"}`` only lets LLVM fuse ``a * b + c`` into one FMA (one
rounding instead of two, no reordering), which halves the arithmetic
instructions; results can differ from the last-axis kernel in the last bit.
"""

import numpy as np
from .inline_builtins import empty1, flag, imax, imin
from .jit import njit

from . import simd
from .registers import lanes


@njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def _taps(out, o, ostride, x, rows, base, coef, t, r, after, xstride, nb, w, first):
    """Taps ``t .. t+r-1`` (``r <= 4``) of ``nb`` output rows of ``w`` samples.

    Row ``bb`` is ``out[o + bb*ostride:][:w]``; it gets (``first``: is set to)
    ``sum_u coef[t+u] * x[(base + rows[t+u])*after + bb*xstride:][:w]``.
    Several taps per pass load and store the output once for all of them;
    ``first`` saves a zeroing pass.  Offsets and loop indices are unsigned: an
    index LLVM cannot prove non-negative gets a wraparound check that stops
    vectorisation.
    """
    o0 = np.uint64((base + rows[t]) * after)
    a0 = coef[t]
    if r == 1:
        if first:
            for bb in range(nb):
                d, s = o + bb * ostride, bb * xstride
                for i in range(w):
                    out[d + i] = a0 * x[o0 + s + i]
        else:
            for bb in range(nb):
                d, s = o + bb * ostride, bb * xstride
                for i in range(w):
                    out[d + i] += a0 * x[o0 + s + i]
        return
    o1 = np.uint64((base + rows[t + 1]) * after)
    a1 = coef[t + 1]
    if r == 2:
        if first:
            for bb in range(nb):
                d, s = o + bb * ostride, bb * xstride
                for i in range(w):
                    out[d + i] = a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
        else:
            for bb in range(nb):
                d, s = o + bb * ostride, bb * xstride
                for i in range(w):
                    out[d + i] += a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
        return
    o2 = np.uint64((base + rows[t + 2]) * after)
    a2 = coef[t + 2]
    if r == 3:
        if first:
            for bb in range(nb):
                d, s = o + bb * ostride, bb * xstride
                for i in range(w):
                    out[d + i] = (a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
                                   + a2 * x[o2 + s + i])
        else:
            for bb in range(nb):
                d, s = o + bb * ostride, bb * xstride
                for i in range(w):
                    out[d + i] += (a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
                                    + a2 * x[o2 + s + i])
        return
    o3 = np.uint64((base + rows[t + 3]) * after)
    a3 = coef[t + 3]
    if first:
        for bb in range(nb):
            d, s = o + bb * ostride, bb * xstride
            for i in range(w):
                out[d + i] = (a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
                               + a2 * x[o2 + s + i] + a3 * x[o3 + s + i])
    else:
        for bb in range(nb):
            d, s = o + bb * ostride, bb * xstride
            for i in range(w):
                out[d + i] += (a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
                                + a2 * x[o2 + s + i] + a3 * x[o3 + s + i])


@njit(cache=True, nogil=True, inline="always")
def _offsets8(rows, base, t, after):
    """Sample offsets of the rows ``base + rows[t .. t+7]`` (unsigned)."""
    return (np.uint64((base + rows[t]) * after), np.uint64((base + rows[t + 1]) * after),
            np.uint64((base + rows[t + 2]) * after), np.uint64((base + rows[t + 3]) * after),
            np.uint64((base + rows[t + 4]) * after), np.uint64((base + rows[t + 5]) * after),
            np.uint64((base + rows[t + 6]) * after), np.uint64((base + rows[t + 7]) * after))


@njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def _taps8(out, o, ostride, x, rows, base, coef, t, after, xstride, nb, w, first):
    """:func:`_taps` for eight taps (one load and store of the output per eight
    multiply-adds: 14-21% faster than two passes of four on (2**16, 64))."""
    o0, o1, o2, o3, o4, o5, o6, o7 = _offsets8(rows, base, t, after)
    a0, a1, a2, a3 = coef[t], coef[t + 1], coef[t + 2], coef[t + 3]
    a4, a5, a6, a7 = coef[t + 4], coef[t + 5], coef[t + 6], coef[t + 7]
    for bb in range(nb):
        d, s = o + bb * ostride, bb * xstride
        if first:
            for i in range(w):
                out[d + i] = (a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
                              + a2 * x[o2 + s + i] + a3 * x[o3 + s + i]
                              + a4 * x[o4 + s + i] + a5 * x[o5 + s + i]
                              + a6 * x[o6 + s + i] + a7 * x[o7 + s + i])
        else:
            for i in range(w):
                out[d + i] += (a0 * x[o0 + s + i] + a1 * x[o1 + s + i]
                               + a2 * x[o2 + s + i] + a3 * x[o3 + s + i]
                               + a4 * x[o4 + s + i] + a5 * x[o5 + s + i]
                               + a6 * x[o6 + s + i] + a7 * x[o7 + s + i])


@njit(cache=True, internal=True, nogil=True, fastmath={"contract"})
def _run_taps(out, o, ostride, x, rows, base, coef, nv, after, xstride, nb, w, fresh):
    """All ``nv >= 1`` taps, eight (then four) at a time, onto ``nb`` rows (see
    :func:`_taps`); ``fresh`` (0 or 1, an integer: a literal ``True`` or ``False``
    would compile this twice): the first pass sets the rows instead of adding."""
    # (the np.int64 casts at the calls keep numba from compiling a second copy
    # for a literal 0 argument: 0.9 s of the cold compile)
    r = 0
    while nv - r >= 8:
        _taps8(out, o, ostride, x, rows, base, coef, np.int64(r), after, xstride, nb, w,
               fresh == 1 and r == 0)
        r += 8
    while r < nv:
        s = imin(nv - r, 4)
        _taps(out, o, ostride, x, rows, base, coef, r, s, after, xstride, nb, w,
              fresh == 1 and r == 0)
        r += s


@njit(cache=True, internal=True, nogil=True, fastmath={"contract"})
def _pair8(acc_a, acc_b, x, rows, base, coef, t, after, xstride, nb, w, first):
    """Taps ``t .. t+7`` of a pair of output phases that read the same input rows,
    on ``nb`` rows of ``w`` samples: ``acc_a[bb*w + i]`` and ``acc_b[bb*w + i]``
    get (``first``: are set to) ``sum_u coef[t+u, 0 or 1] * x[(base +
    rows[t+u])*after + bb*xstride + i]``.

    Each input load serves two multiply-adds (the single-phase passes are
    bound by their loads): on (2**16, 64) float32 rows L=2 with 64 taps went
    from 11.8 to 10.0 ms and resample_poly 160/147 from 8.0-8.2 to 6.9-7.5.
    The two accumulators must be separate arrays: numba passes no aliasing
    information, and LLVM's run-time check of two ranges of one array spans
    the whole pass, fails, and leaves the loop scalar (4-5x slower).
    """
    o0, o1, o2, o3, o4, o5, o6, o7 = _offsets8(rows, base, t, after)
    a0, a1, a2, a3 = coef[t, 0], coef[t + 1, 0], coef[t + 2, 0], coef[t + 3, 0]
    a4, a5, a6, a7 = coef[t + 4, 0], coef[t + 5, 0], coef[t + 6, 0], coef[t + 7, 0]
    b0, b1, b2, b3 = coef[t, 1], coef[t + 1, 1], coef[t + 2, 1], coef[t + 3, 1]
    b4, b5, b6, b7 = coef[t + 4, 1], coef[t + 5, 1], coef[t + 6, 1], coef[t + 7, 1]
    for bb in range(nb):
        d, s = bb * w, bb * xstride
        for i in range(w):
            x0, x1, x2, x3 = x[o0 + s + i], x[o1 + s + i], x[o2 + s + i], x[o3 + s + i]
            x4, x5, x6, x7 = x[o4 + s + i], x[o5 + s + i], x[o6 + s + i], x[o7 + s + i]
            sa = (a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                  + a4 * x4 + a5 * x5 + a6 * x6 + a7 * x7)
            sb = (b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3
                  + b4 * x4 + b5 * x5 + b6 * x6 + b7 * x7)
            if first:
                acc_a[d + i] = sa
                acc_b[d + i] = sb
            else:
                acc_a[d + i] += sa
                acc_b[d + i] += sb


@njit(cache=True, internal=True, nogil=True)
def _passes(nb, w, flat, x, row, after):
    """``(passes, width, split)`` for ``nb`` rows of ``w`` samples: one pass of
    ``nb * w`` when they are ``flat`` (consecutive in the input and in the
    accumulator), else ``nb`` passes of ``w``.  A single pass runs its first
    ``split`` columns apart, so that the rest's vector loads from ``row`` on
    start on a cache line (all the taps' rows do too when a row is whole
    lines).  numpy allocates with 16-byte alignment, and a 64-byte load that
    spans two lines costs two: U8 f32 L=2 K=64 took 13.5 ms on unaligned
    input, 10.6 on aligned, 11.0-11.5 with the split.  (Splitting each of
    many one-row passes left vector loops with remainders and was slower.)"""
    if not flat:
        return nb, w, np.uint64(0)
    width = nb * w
    if (after * x.itemsize) % 64:
        return np.uint64(1), width, np.uint64(0)
    first = x.ctypes.data + row * after * x.itemsize
    split = np.uint64(((-first) % 64) // x.itemsize)
    return np.uint64(1), width, split if split < width else np.uint64(0)


@njit(cache=True, nogil=True, fastmath={"contract"})
def run_jobs(x, ptr, toff, lo, hi, tc, L, M, w0, out, after, tile, bpj, pairs, mapped, job0,
             job1):
    """Jobs ``[job0, job1)`` of :func:`n_jobs`, ordered (before, column tile,
    block chunk).

    ``x`` and ``out`` are ``(before, rows * after)``; row ``j`` of ``out`` is
    output index ``w0 + j``.  Tap ``t`` of phase ``p`` reads input row
    ``b*M + toff[t]`` for block ``b`` (``toff = q - k*M - origin``); ``lo[p]``
    and ``hi[p]`` are the least and greatest ``toff`` of phase ``p``.  A job is
    ``bpj`` blocks of one tile of ``tile`` columns.

    ``pairs`` is ``None`` (each phase alone) or ``(groups, sptr, srow, scoef,
    rptr, rrow, rcoef)``: the phases run in groups ``groups[g] = (p0, p1)``
    (``p1 = -1``: alone).  A pair's rows whose taps all read inside the input
    run together: the row offsets both phases read are ``srow[sptr[g]:sptr[g
    + 1]]`` (a multiple of eight) with coefficients ``scoef[:, 0]`` for ``p0``
    and ``scoef[:, 1]`` for ``p1``; phase ``p``'s other taps are
    ``rrow[rptr[p]:rptr[p + 1]]`` / ``rcoef``.  The other rows run each phase
    alone with its taps ``ptr[p]:ptr[p + 1]``.
    """
    n = x.shape[1] // after
    length = out.shape[1] // after
    b_first = w0 // L
    nblocks = (w0 + length - 1) // L - b_first + 1
    ntiles = (after + tile - 1) // tile
    nchunks = (nblocks + bpj - 1) // bpj
    most = 1
    for p in range(L):
        most = imax(most, ptr[p + 1] - ptr[p])
    rows = empty1(np.int64, most)                  # the taps inside the input
    coef = empty1(tc, most)
    acc = empty1(out, bpj * tile)                  # one phase's rows, contiguous
    acc2 = empty1(out, bpj * tile)                 # the other phase of a pair
    ua = np.uint64(after)
    xstride = np.uint64(M * after)
    # the interleaved copies of a large output can stream (each row is
    # checked again where it is written: a tile may start inside a line)
    stream = simd.streams(out, after, mapped)
    ngroups = L
    if pairs is not None:       # (None: numba prunes the pairs from that copy)
        ngroups = pairs[0].shape[0]
    for job in range(job0, job1):
        rest = job // nchunks
        B0 = b_first + (job - rest * nchunks) * bpj
        B1 = imin(B0 + bpj, b_first + nblocks)
        bf = rest // ntiles
        c0 = (rest - bf * ntiles) * tile
        w = np.uint64(imin(c0 + tile, after) - c0)
        xb = x[bf, c0:]                            # column c0 of row 0
        ob = out[bf, c0:]
        flat = xstride == w               # the input rows are consecutive
        for g in range(ngroups):
            p0, p1 = g, -1
            # the blocks of a pair's rows whose taps all read inside the input
            pl, ph = B1, B1
            if pairs is not None:
                p0, p1 = pairs[0][g, 0], pairs[0][g, 1]
                if p1 >= 0 and pairs[1][g + 1] > pairs[1][g]:
                    pl = imax(imax(B0, -((p0 - w0) // L)), imax(-(lo[p0] // M), -(lo[p1] // M)))
                    ph = imin(imin(B1, (w0 + length - 1 - p1) // L + 1),
                              (n - 1 - imax(hi[p0], hi[p1])) // M + 1)
                    if pl >= ph:
                        pl, ph = B1, B1
            for k in range(2):
                p = p0 if k == 0 else p1
                if p < 0:
                    continue
                # blocks whose phase-p row lies in the window ...
                bl = imax(B0, -((p - w0) // L))
                bh = imin(B1, (w0 + length - 1 - p) // L + 1)
                if bl >= bh:
                    continue
                t0, t1 = ptr[p], ptr[p + 1]
                # ... and those whose taps all read inside the input
                il = imax(bl, -(lo[p] // M))
                ih = imin(bh, (n - 1 - hi[p]) // M + 1)
                if t0 == t1 or il >= ih:
                    il = ih = bh
                if ph > pl:
                    il, ih = pl, ph               # run with the other phase
                for b in range(bl, bh):
                    if il <= b < ih:
                        continue                  # interior: below
                    nv = 0
                    for t in range(t0, t1):
                        i = b * M + toff[t]
                        if i >= 0 and i < n:
                            rows[nv] = toff[t]
                            coef[nv] = tc[t]
                            nv += 1
                    o = np.uint64(b * L + p - w0) * ua
                    if nv == 0:
                        for i in range(w):
                            ob[o + i] = 0
                    else:
                        _run_taps(ob, o, ua, xb, rows, b * M, coef, np.int64(nv), after,
                                  xstride, np.uint64(1), w, np.int64(1))
                if il >= ih or ph > pl:
                    continue
                j = il * L + p - w0
                nb = np.uint64(ih - il)
                if flat and L > 1:
                    # gather the phase's rows in a contiguous scratch, so that
                    # each tap group is one flat pass, then interleave them
                    dst, o, ostride = acc, np.uint64(0), w
                else:
                    dst, o, ostride = ob, np.uint64(j) * ua, np.uint64(L) * ua
                passes, width, split = _passes(nb, w, flat and ostride == w, xb,
                                               il * M + toff[t0], after)
                for c_lo, c_hi in ((np.uint64(0), split), (split, width)):
                    if c_hi > c_lo:
                        _run_taps(dst[c_lo:], o, ostride, xb[c_lo:], toff[t0:t1], il * M,
                                  tc[t0:t1], t1 - t0, after, xstride, passes, c_hi - c_lo,
                                  np.int64(1))
                if flat and L > 1:
                    _interleave(acc, ob, np.uint64(j), L, ua, nb, w, stream)
            if pairs is not None:
                if ph > pl:
                    _pair_rows(pairs, g, p0, p1, xb, ob, acc, acc2, pl, ph, L, M, w0, w,
                               after, stream)
    if stream:
        simd.fence()


@njit(cache=True, internal=True, nogil=True, fastmath={"contract"})
def _pair_rows(pairs, g, p0, p1, xb, ob, acc, acc2, pl, ph, L, M, w0, w, after, stream):
    """Blocks ``[pl, ph)`` of the pair ``g`` of phases ``(p0, p1)`` (see
    :func:`run_jobs`): the shared rows eight at a time, then each phase's other
    taps, then both phases' rows interleaved into ``ob``."""
    _, sptr, srow, scoef, rptr, rrow, rcoef = pairs
    nb = np.uint64(ph - pl)
    xstride = np.uint64(M * after)
    s0, s1 = sptr[g], sptr[g + 1]
    if s1 - s0 == 4:            # (four shared taps and no others: see _four_taps)
        _four_taps(xb, ob, srow[s0:s1], scoef[s0:s1], pl, ph, L, M, w0, w, after, p0, stream)
        return
    # (the pair's accumulators are contiguous rows of w: flat when the input's are)
    passes, width, split = _passes(nb, w, xstride == w, xb, pl * M + srow[s0], after)
    for c_lo, c_hi in ((np.uint64(0), split), (split, width)):
        if c_hi <= c_lo:
            continue
        for t in range(s0, s1, 8):
            _pair8(acc[c_lo:], acc2[c_lo:], xb[c_lo:], srow, pl * M, scoef, np.int64(t),
                   after, xstride, passes, c_hi - c_lo, t == s0)
        for k in range(2):
            p = p0 if k == 0 else p1
            r0, r1 = rptr[p], rptr[p + 1]
            if r1 > r0:
                _run_taps((acc, acc2)[k][c_lo:], np.uint64(0), w, xb[c_lo:], rrow[r0:r1],
                          pl * M, rcoef[r0:r1], r1 - r0, after, xstride, passes,
                          c_hi - c_lo, np.int64(0))
    ua = np.uint64(after)
    _interleave(acc, ob, np.uint64(pl * L + p0 - w0), L, ua, nb, w, stream)
    _interleave(acc2, ob, np.uint64(pl * L + p1 - w0), L, ua, nb, w, stream)


@njit(cache=True, internal=True, nogil=True)
def _four_taps(xb, ob, rows, coef, pl, ph, L, M, w0, w, after, p0, stream):
    """Blocks ``[pl, ph)`` of a pair of phases ``p0, p0 + 1`` whose taps are
    the same four input rows (``rows``, ``coef[:, 0]`` and ``coef[:, 1]``),
    straight into their output rows, a vector of columns at a time
    (:func:`.simd.rows_pair4`), rather than through the accumulators and an
    interleaving copy: such a filter is bound by memory, and its stores
    spread over the pass overlap their misses with its loads, where a pass of
    copies waits on them.  upfirdn L=2 with 8 taps along axis 0 on (65536,
    64) float32, one thread on the Xeon: 3.9-4.1 -> 2.4-2.6 ms (old and new
    code in turn).  Rows that start on a 64-byte line are streamed with
    ``stream``."""
    G = lanes(ob.dtype)
    co = (coef[0, 0], coef[1, 0], coef[2, 0], coef[3, 0],
          coef[0, 1], coef[1, 1], coef[2, 1], coef[3, 1])
    for b in range(pl, ph):
        base = b * M
        x0, x1 = (base + rows[0]) * after, (base + rows[1]) * after
        x2, x3 = (base + rows[2]) * after, (base + rows[3]) * after
        d = (b * L + p0 - w0) * after
        st = flag(stream and (ob.ctypes.data + np.uint64(d * ob.itemsize)) % np.uint64(64) == 0)
        for c in range(0, w, G):
            k = imin(G, w - c)
            simd.rows_pair4(xb, x0 + c, x1 + c, x2 + c, x3 + c, co, ob, d + c, d + after + c,
                            k, st if k == G else 0)


@njit(cache=True, internal=True, nogil=True)
def _interleave(acc, ob, j, L, ua, nb, w, stream):
    """Rows ``bb < nb`` of ``acc`` (``w`` samples each, contiguous) to rows
    ``j + bb*L`` of ``ob`` (``ua`` samples apart).  ``stream``: rows that
    start on a 64-byte line are written with non-temporal stores, whole
    vectors at a time (see :data:`.simd.STREAM_BYTES`)."""
    G = np.uint64(lanes(acc.dtype))
    whole = w // G * G
    for bb in range(nb):
        d = (j + bb * np.uint64(L)) * ua
        s = bb * w
        i0 = np.uint64(0)
        if stream and (ob.ctypes.data + d * np.uint64(ob.itemsize)) % np.uint64(64) == 0:
            for i in range(np.uint64(0), whole, G):
                simd.stream_vector(acc, s + i, ob, d + i)
            i0 = whole
        for i in range(i0, w):
            ob[d + i] = acc[s + i]


def n_jobs(before, length, L, w0, after, tile, bpj):
    """How many jobs :func:`run_jobs` has: (before, column tile, block chunk)
    for ``length`` output rows from output index ``w0``."""
    nblocks = (w0 + length - 1) // L - w0 // L + 1
    return before * -(-after // tile) * -(-nblocks // bpj)

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
(``L == 1``).  Rows near the ends of the input run their in-range taps row by
row.  Each output sample is written by exactly one job, so ``prange`` over
groups of jobs needs no atomics.

``fastmath={"contract"}`` only lets LLVM fuse ``a * b + c`` into one FMA (one
rounding instead of two, no reordering), which halves the arithmetic
instructions; results can differ from the last-axis kernel in the last bit.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, fastmath={"contract"})
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


@njit(cache=True, nogil=True, fastmath={"contract"})
def _taps8(out, o, ostride, x, rows, base, coef, t, after, xstride, nb, w, first):
    """:func:`_taps` for eight taps (one load and store of the output per eight
    multiply-adds: 14-21% faster than two passes of four on (2**16, 64))."""
    o0 = np.uint64((base + rows[t]) * after)
    o1 = np.uint64((base + rows[t + 1]) * after)
    o2 = np.uint64((base + rows[t + 2]) * after)
    o3 = np.uint64((base + rows[t + 3]) * after)
    o4 = np.uint64((base + rows[t + 4]) * after)
    o5 = np.uint64((base + rows[t + 5]) * after)
    o6 = np.uint64((base + rows[t + 6]) * after)
    o7 = np.uint64((base + rows[t + 7]) * after)
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


@njit(cache=True, nogil=True, fastmath={"contract"})
def _run_taps(out, o, ostride, x, rows, base, coef, nv, after, xstride, nb, w):
    """All ``nv >= 1`` taps, eight (then four) at a time, onto ``nb`` rows (see
    :func:`_taps`)."""
    # (the np.int64 casts at the calls keep numba from compiling a second copy
    # for a literal 0 argument: 0.9 s of the cold compile)
    r = 0
    while nv - r >= 8:
        _taps8(out, o, ostride, x, rows, base, coef, np.int64(r), after, xstride, nb, w,
               r == 0)
        r += 8
    while r < nv:
        s = min(nv - r, 4)
        _taps(out, o, ostride, x, rows, base, coef, r, s, after, xstride, nb, w, r == 0)
        r += s


@njit(cache=True, nogil=True, fastmath={"contract"})
def _jobs(x, ptr, toff, lo, hi, tc, L, M, w0, out, after, tile, bpj, job0, job1):
    """Jobs ``[job0, job1)``, ordered (before, column tile, block chunk).

    ``x`` and ``out`` are ``(before, rows * after)``; row ``j`` of ``out`` is
    output index ``w0 + j``.  Tap ``t`` of phase ``p`` reads input row
    ``b*M + toff[t]`` for block ``b`` (``toff = q - k*M - origin``); ``lo[p]``
    and ``hi[p]`` are the least and greatest ``toff`` of phase ``p``.  A job is
    ``bpj`` blocks of one tile of ``tile`` columns.
    """
    n = x.shape[1] // after
    length = out.shape[1] // after
    b_first = w0 // L
    nblocks = (w0 + length - 1) // L - b_first + 1
    ntiles = (after + tile - 1) // tile
    nchunks = (nblocks + bpj - 1) // bpj
    most = 1
    for p in range(L):
        most = max(most, ptr[p + 1] - ptr[p])
    rows = np.empty(most, dtype=np.int64)          # the taps inside the input
    coef = np.empty(most, dtype=tc.dtype)
    acc = np.empty(bpj * tile, dtype=out.dtype)    # one phase's rows, contiguous
    ua = np.uint64(after)
    xstride = np.uint64(M * after)
    for job in range(job0, job1):
        rest = job // nchunks
        B0 = b_first + (job - rest * nchunks) * bpj
        B1 = min(B0 + bpj, b_first + nblocks)
        bf = rest // ntiles
        c0 = (rest - bf * ntiles) * tile
        w = np.uint64(min(c0 + tile, after) - c0)
        xb = x[bf, c0:]                            # column c0 of row 0
        ob = out[bf, c0:]
        for p in range(L):
            # blocks whose phase-p row lies in the window ...
            bl = max(B0, -((p - w0) // L))
            bh = min(B1, (w0 + length - 1 - p) // L + 1)
            if bl >= bh:
                continue
            t0, t1 = ptr[p], ptr[p + 1]
            # ... and those whose taps all read inside the input
            il = max(bl, -(lo[p] // M))
            ih = min(bh, (n - 1 - hi[p]) // M + 1)
            if t0 == t1 or il >= ih:
                il = ih = bh
            for b in range(bl, bh):
                if il <= b < ih:
                    continue                      # interior: below
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
                              xstride, np.uint64(1), w)
            if il >= ih:
                continue
            j = il * L + p - w0
            nb = np.uint64(ih - il)
            flat = xstride == w               # the input rows are consecutive
            if flat and L > 1:
                # gather the phase's rows in a contiguous scratch, so that each
                # tap group is one flat pass, then interleave them
                dst, o, ostride = acc, np.uint64(0), w
            else:
                dst, o, ostride = ob, np.uint64(j) * ua, np.uint64(L) * ua
            passes, width = nb, w
            if flat and ostride == w:
                passes, width = np.uint64(1), nb * w
            # A single pass over consecutive rows runs its first few columns
            # apart, so that the vector loads of the rest start on a cache
            # line (all the taps' rows are too when a row is whole lines).
            # numpy allocates with 16-byte alignment, and a 64-byte load that
            # spans two lines costs two: U8 f32 L=2 K=64 took 13.5 ms on
            # unaligned input, 10.6 on aligned, 11.0-11.5 with the split.
            # (Splitting each of many one-row passes left vector loops with
            # remainders and was slower.  One call site: each costs compile
            # time.)
            first = xb.ctypes.data + (il * M + toff[t0]) * after * xb.itemsize
            p = np.uint64(((-first) % 64) // xb.itemsize)
            if passes != 1 or (after * xb.itemsize) % 64 or p >= width:
                p = np.uint64(0)
            for part in range(2):
                c_lo = np.uint64(0) if part == 0 else p
                c_hi = p if part == 0 else width
                if c_hi > c_lo:
                    _run_taps(dst[c_lo:], o, ostride, xb[c_lo:], toff[t0:t1], il * M,
                              tc[t0:t1], t1 - t0, after, xstride, passes, c_hi - c_lo)
            if flat and L > 1:
                for bb in range(nb):
                    d = (np.uint64(j) + bb * np.uint64(L)) * ua
                    s = bb * w
                    for i in range(w):
                        ob[d + i] = acc[s + i]


@njit(cache=True, nogil=True, fastmath={"contract"})
def run_serial(x, ptr, toff, lo, hi, tc, L, M, w0, out, after, tile, bpj):
    """Row ``j`` of ``out`` = output index ``w0 + j`` of the matrix applied
    along the rows of ``x`` (see the module docstring); ``x`` and ``out`` are
    flattened to ``(before, rows * after)``."""
    nblocks = (w0 + out.shape[1] // after - 1) // L - w0 // L + 1
    njobs = x.shape[0] * ((after + tile - 1) // tile) * ((nblocks + bpj - 1) // bpj)
    # (np.int64(0), not 0: a literal would compile _jobs a second time, for
    # this call apart from run_parallel's)
    _jobs(x, ptr, toff, lo, hi, tc, L, M, w0, out, after, tile, bpj, np.int64(0), njobs)


@njit(cache=True, nogil=True, parallel=True, fastmath={"contract"})
def run_parallel(x, ptr, toff, lo, hi, tc, L, M, w0, out, after, tile, bpj, ngroups):
    """:func:`run_serial` with the jobs split into ``ngroups`` contiguous groups,
    one ``prange`` index each; jobs write disjoint output samples."""
    nblocks = (w0 + out.shape[1] // after - 1) // L - w0 // L + 1
    njobs = x.shape[0] * ((after + tile - 1) // tile) * ((nblocks + bpj - 1) // bpj)
    for g in prange(ngroups):
        _jobs(x, ptr, toff, lo, hi, tc, L, M, w0, out, after, tile, bpj,
              g * njobs // ngroups, (g + 1) * njobs // ngroups)

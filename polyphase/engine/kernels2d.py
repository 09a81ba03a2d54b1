"""numba kernels for channel-agnostic 2-D polyphase matrices: the phase-image
kernel, the one-pass kernels for transposed convolutions with strides 2-4
and strided ones with stride 2, the kernel of a pass per kernel row for
strided ones with column strides 2-4, and the helpers of the
channel-mixing path.

Phase-image kernel (:func:`run_jobs`): the input is cut into ``M1*M2`` phase
images ``xq[s, b1, b2]``; output phase ``(p1, p2)`` of block ``(b1, b2)`` is
``sum c * xq[s, b1 - k1, b2 - k2]`` over the nonzero taps of that phase.  A
job is one row of output blocks ``b1``: for each output phase the taps are
accumulated along ``b2`` into a contiguous scratch row, a pass per tap over
a unit-stride run of a phase-image row, then the scratch rows of all column
phases are interleaved into the output row.  It adds only products inside
the image, so it is the route for matrices with a tap of inf or NaN; the
ring kernel (:mod:`.kernels_ring`) runs the others faster.  Jobs write
disjoint output rows, so they run in parallel (:func:`.groups.run`) with no
synchronisation; so do the other kernels' jobs.
"""

from .inline_builtins import empty1, empty2, flat, imax, imin, zeros1
from .jit import njit

from . import machine, simd
from .kernels import not_finite, pad_plane, split_columns, split_phases


@njit(cache=True, nogil=True, inline="always")
def _one_tap(a, row, k2, c, lo, hi, first):
    """``a[b - lo] += c * row[b - k2]`` for the blocks of ``[lo, hi)`` in range;
    ``first``: ``a`` is set instead (zero where the tap reads outside ``row``),
    which saves a zeroing pass (15 % of a 512x512 transposed convolution)."""
    b0 = imin(imax(lo, k2), hi)
    b1 = imax(imin(hi, row.shape[0] + k2), b0)
    src = row[b0 - k2:b1 - k2]
    dst = a[b0 - lo:b1 - lo]
    if first:
        a[:b0 - lo] = 0
        a[b1 - lo:] = 0
        for i in range(b1 - b0):
            dst[i] = c * src[i]
    else:
        for i in range(b1 - b0):
            dst[i] += c * src[i]


@njit(cache=True, internal=True, nogil=True)
def _block_row(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1, w1, w2, out, acc):
    """Output block row ``b1`` of one lane: rows ``b1*L1 + p1`` of the window.

    For each output row, every column phase is accumulated tap by tap into a
    contiguous scratch row (each tap one unit-stride, vectorised pass over a
    phase-image row), then the scratch rows are interleaved into the output.
    This plain form is as fast as fusing taps four at a time with an
    interior/edge split, and simpler.
    """
    n1out, n2out = out.shape
    nb1 = xq.shape[1]
    blo = w2 // L2
    bhi = (w2 + n2out - 1) // L2 + 1
    for p1 in range(L1):
        r1 = b1 * L1 + p1 - w1
        if r1 < 0 or r1 >= n1out:
            continue
        orow = out[r1]
        for p2 in range(L2):
            row_acc = acc[p2]
            a = row_acc[:bhi - blo]
            first = True
            for j in range(ptr[p1 * L2 + p2], ptr[p1 * L2 + p2 + 1]):
                src_row = b1 - tk1[j]
                if 0 <= src_row < nb1:
                    _one_tap(a, xq[ts[j], src_row], tk2[j], tc[j], blo, bhi, first)
                    first = False
            if first:                      # no tap reads inside the input
                a[:] = 0
        interleave_row(acc, L2, blo, w2, orow)


@njit(cache=True, internal=True, nogil=True)
def interleave_row(acc, L2, blo, w2, orow):
    """``orow[L2*(blo + j) + p2 - w2] = acc[p2, j]`` where that is inside ``orow``:
    the column phases of a block row, accumulated in the rows of ``acc``,
    into an output row whose first sample is output index ``w2``.

    Blocks wholly inside the row in one pass, then those that straddle its
    ends.  ``L2 = 1..4`` have literal loops (an interleaved store; a
    variable stride compiles to scatters: stride-3 transposed 1024x1024 3.6
    against 5.3 ms), and the loops index zero-based views (an index LLVM
    cannot prove non-negative, ``2*b - w2``, gets a wraparound check that
    stops vectorisation: 0.86 against 0.35 ms for a whole kernel)."""
    cols = orow.shape[0]
    nb2 = (w2 + cols - 1) // L2 + 1 - blo       # (acc's rows are longer: padding)
    # blocks whose L2 outputs all lie inside the row, then the ends
    jlo = imin(-(-w2 // L2) - blo, nb2)
    jhi = imax(jlo, imin((w2 + cols) // L2 - blo, nb2))
    m = jhi - jlo
    dst = orow[L2 * (blo + jlo) - w2:]
    if L2 == 1:
        v0 = acc[0, jlo:]
        for i in range(m):
            dst[i] = v0[i]
    elif L2 == 2:
        v0, v1 = acc[0, jlo:], acc[1, jlo:]
        for i in range(m):
            dst[2 * i] = v0[i]
            dst[2 * i + 1] = v1[i]
    elif L2 == 3:
        v0, v1, v2 = acc[0, jlo:], acc[1, jlo:], acc[2, jlo:]
        for i in range(m):
            dst[3 * i] = v0[i]
            dst[3 * i + 1] = v1[i]
            dst[3 * i + 2] = v2[i]
    elif L2 == 4:
        v0, v1, v2, v3 = acc[0, jlo:], acc[1, jlo:], acc[2, jlo:], acc[3, jlo:]
        for i in range(m):
            dst[4 * i] = v0[i]
            dst[4 * i + 1] = v1[i]
            dst[4 * i + 2] = v2[i]
            dst[4 * i + 3] = v3[i]
    else:
        for p2 in range(L2):
            v = acc[p2, jlo:]
            for i in range(m):
                dst[i * L2 + p2] = v[i]
    for e in range(nb2 - m):
        j = e if e < jlo else e + m             # the blocks outside [jlo, jhi)
        for p2 in range(L2):
            c = L2 * (blo + j) + p2 - w2
            if 0 <= c < cols:
                orow[c] = acc[p2, j]


@njit(cache=True, nogil=True)
def run_jobs(xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, w1, w2, out, job0, job1):
    """Jobs ``[job0, job1)`` of the phase-image kernel: job ``j`` is output block
    row ``b1_first + j % nrows`` of lane ``j // nrows``."""
    acc = empty2(out, L2, out.shape[2] // L2 + 2)
    for job in range(job0, job1):
        lane = job // nrows
        b1 = b1_first + job - lane * nrows
        _block_row(xq[lane], ptr, ts, tk1, tk2, tc, L1, L2, b1, w1, w2, out[lane], acc)


@njit(cache=True, nogil=True)
def deinterleave(x, pre1, pre2, M1, M2, out, job0, job1):
    """``out[lane, m1*M2 + m2, b1, b2] = x[lane, b1*M1 + m1 - pre1, b2*M2 + m2 - pre2]``,
    zero where that is outside ``x``.

    Row by row of the phase images: each takes one input row (or none),
    its columns split by :func:`.kernels.split_phases` (numpy's strided copy
    of the same measured 2-3x slower on a 2048x2048 image).  Every sample of ``out``
    is written once, so the buffer needs no zeroing first (a memset of the
    whole buffer cost 0.55 ms of 7 ms for a 2048x2048 strided convolution).
    Jobs ``[job0, job1)`` of the ``lanes * M1 * nb1`` rows of phase images.
    """
    n1 = x.shape[1]
    nb1 = out.shape[2]
    for job in range(job0, job1):
        lane = job // (M1 * nb1)
        m1 = (job // nb1) % M1
        b1 = job % nb1
        i = b1 * M1 + m1 - pre1
        if i < 0 or i >= n1:
            for m2 in range(M2):
                out[lane, m1 * M2 + m2, b1, :] = 0
            continue
        split_phases(x[lane, i], M2, -pre2, out[lane, m1 * M2:(m1 + 1) * M2, b1])


@njit(cache=True, nogil=True)
def phase_streams(xf, dims, pre1, pre2, M1, M2, out, at, job0, job1):
    """``out[m1*M2 + m2, c, lane, b1, b2] = x[lane, c, b1*M1 + m1 - pre1, b2*M2 + m2 - pre2]``,
    zero where that is outside ``x``: the GEMM path's phase streams of
    ``(lanes, C, n1, n2)`` images (a 1-D signal is one row, ``M1 = 1``).

    ``xf`` is ``x`` flat (C-ordered), ``dims`` ``(lanes, C, n1, n2, nb1,
    nb2)`` and ``out`` flat, ``out[q, c, lane, b1, b2]`` at ``at[0] + q*at[1]
    + c*at[2] + lane*at[3] + b1*nb2 + b2``.  Every sample is written once
    (no zeroing first), rows split by :func:`.kernels.split_columns`, with
    offsets rather than views (a view takes a reference, an atomic add,
    and rows are short).  numpy's strided copy, a phase at a time, took 1.6
    of 5.5 ms for N8 C64 64x64 k2 s2 and 4.5 of 9.8 for k4 s4 (one thread,
    the EPYC).  Jobs ``[job0, job1)`` of the ``C * lanes * M1`` row phases.
    """
    lanes, nb1, nb2 = dims[0], dims[4], dims[5]
    if M1 == 1 and M2 == 1:
        _padded_planes(xf, dims, pre1, pre2, out, at, job0, job1)
        return
    for job in range(job0, job1):
        m1 = job % M1
        lane = (job // M1) % lanes
        c = job // (M1 * lanes)
        split_columns(xf, (lane * dims[1] + c) * dims[2] * dims[3], dims[2], dims[3],
                      m1 - pre1, M1, nb1, M2, -pre2, nb2, out,
                      at[0] + m1 * M2 * at[1] + c * at[2] + lane * at[3], nb2, at[1], True)


@njit(cache=True, nogil=True, internal=True)
def _padded_planes(xf, dims, pre1, pre2, out, at, job0, job1):
    """:func:`phase_streams` of a layer that does not downsample (one phase,
    a transposed layer's): each plane padded with zeros
    (:func:`.kernels.pad_plane`).  Rows of a few samples through
    :func:`.kernels.split_columns`, which takes two views a row, cost
    ~15 ns each: N8 C128 8x8, one thread, 0.15 ms."""
    lanes, C, n1, n2, nb1, nb2 = dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]
    for job in range(job0, job1):
        lane = job % lanes
        c = job // lanes
        pad_plane(xf, (lane * C + c) * n1 * n2, n1, n2, out,
                  at[0] + c * at[2] + lane * at[3], nb1, nb2, pre1, pre2)


@njit(cache=True, nogil=True)
def interleave_blocks(y, s1, s2, out):
    """``out[lane, c, n1, n2] = y[p1, p2, c, lane, b1, b2]`` at ``n = b*L + p - s``.

    The depth-to-space step of the GEMM path for 2-D: ``y`` holds the output
    phases as separate planes; ``out`` is the cropped, interleaved window
    starting at output index ``(s1, s2)`` relative to block ``(0, 0)``.  One
    pass, contiguous reads along ``b2`` (a numpy transpose of this 6-D layout
    measured several times slower).  All the planes ``(lane, c)`` on the
    calling thread; :func:`interleave_jobs` runs a range of them.
    """
    interleave_planes(y, s1, s2, out, 0, out.shape[0] * out.shape[1])


@njit(cache=True, nogil=True)
def interleave_jobs(y, s1, s2, out, job0, job1):
    """:func:`interleave_blocks` of the output planes ``[job0, job1)`` (plane
    ``lane * C + c``), for numba's threads after products that ran there
    (:func:`.gemm.run_gemm`).  (Not after BLAS's products: its idle threads
    keep spinning on the other core for tens of milliseconds, and a
    parallel region competing with them made the 64-channel layers slower
    with 2 threads than with 1.)"""
    interleave_planes(y, s1, s2, out, job0, job1)


# (link-only: the Winograd route's parts call it too, and its code compiled
# into theirs took a transposed layer's first call from 3.4 to 4.5 s)
@njit(cache=True, nogil=True, internal=True)
def interleave_planes(y, s1, s2, out, job0, job1):
    """The body of :func:`interleave_jobs`, for numba functions."""
    L1, L2, C, lanes, nb1, nb2 = y.shape
    n1, n2 = out.shape[2], out.shape[3]
    G = simd.lanes(out.dtype)
    of = flat(out)
    for job in range(job0, job1):
        lane = job // C
        c = job - lane * C
        for r in range(n1):
            b1, p1 = divmod(r + s1, L1)
            if L2 == 1:
                # one column phase: a plain copy, which LLVM vectorises (the
                # stride of the loop below, a variable, stops it: 0.4 of a 1.1
                # ms strided conv2d, N8 C3->64 64x64 k4)
                orow = out[lane, c, r]
                src = y[p1, 0, c, lane, b1, s2:]
                for i in range(imin(n2, nb2 - s2)):
                    orow[i] = src[i]
                continue
            # (output row r at of[row:], written at offsets, not through
            # views: a view costs a reference, and a row of 32 samples took
            # ~26 ns with five of them, 0.42 ms of a 64-channel transposed
            # layer's 2.2, N8 16x16 k3 s2, one thread)
            row = (job * n1 + r) * n2
            lo, hi = 0, 0
            if 2 <= L2 <= 4 and y.strides[5] == y.itemsize:
                # the column phases a vector of each at a time, interleaved
                # in registers (simd.interleave2 ...), over the blocks whose
                # samples are all in the window; the loop below, of a variable
                # stride, wrote a sample at a time: 0.54 of a 2.4 ms
                # transposed layer (N8 C64 16x16 k3 s2, one thread), and 0.40
                # of 2.7 ms at L2 = 3 (N8 C128 -> 64 6x6 k6 s3 on the points)
                lo = imax(0, -(-s2 // L2))
                hi = imax(lo, imin(nb2, (n2 - L2 + s2) // L2 + 1))
                st = y.strides
                at = (p1 * st[0] + c * st[2] + lane * st[3] + b1 * st[4]) // y.itemsize
                step = st[1] // y.itemsize
                for i in range(lo, hi, G):
                    if L2 == 2:
                        simd.interleave2(y, at + i, step, of, row + 2 * i - s2, imin(G, hi - i))
                    elif L2 == 3:
                        simd.interleave3(y, at + i, step, of, row + 3 * i - s2, imin(G, hi - i))
                    else:
                        simd.interleave4(y, at + i, step, of, row + 4 * i - s2, imin(G, hi - i))
            for p2 in range(L2):
                first = -((p2 - s2) // L2)            # first b2 with index >= 0
                last = imin(nb2, (n2 - 1 + s2 - p2) // L2 + 1)
                # (the blocks interleaved above excepted)
                for a, z in ((first, imin(last, lo)), (imax(first, hi), last)):
                    at = row + p2 - s2
                    for b in range(a, z):
                        of[at + b * L2] = y[p1, p2, c, lane, b1, b]


# Outputs of :func:`transposed_rows` from this many bytes on are streamed
# (non-temporal stores from a buffer in cache, :func:`.simd.stream_copy_at`),
# smaller ones written with plain stores.  Its copy from the row costs a
# pass the 1-D and axis-0 kernels, which stream as they compute, do not
# make, and on the Xeon plain stores won up to 48 MB.  3x3 kernel, float32,
# recycled output, alternating processes, ms (one thread / two):
#
#   output        streamed from 16 MB   plain
#   17 MB         2.0 / 0.72-0.80       1.0-1.1 / 0.57-0.65
#   34 MB         3.6-3.8 / 1.4-1.7     2.1-2.3 / 1.0-1.2
#   50 MB         5.4-5.9 / 2.2-2.3     5.0-5.2 / 1.5-1.9
#   67 MB (C2)    7.7-9.0 / 2.9-3.3     8.9-9.1 / 2.3-2.8
#
# Over 64 MB one thread still gains from streaming.  On the EPYC plain
# stores win to 151 MB at least (twenty-seventh session, interleaved with
# torch's calls, which take the caches, as in the benchmark; ms, one thread
# / two):
#
#   input, k      output     streamed         plain
#   1024^2, 2     17 MB      1.23             0.90
#   1024^2, 3     17 MB      1.65 / 0.99      1.22 / 0.85
#   1536^2, 3     38 MB      3.36             2.37
#   2048^2, 4     67 MB (C2) 5.86 / 3.28      4.75 / 2.99
#   3072^2, 3     151 MB     12.2 / 7.17      11.4 / 6.89
#
# (When an earlier session set 16 MB there, streaming had won.)
TRANSPOSED_STREAM_BYTES = machine.pick({"amd": 1 << 28, "intel": 1 << 26})

# Elements of a streamed output computed into the buffer at a time (16 KB
# of float32, in L1 with the input it reads): a row at a time would not
# stay in cache for a 1-D signal, an image of one long row.
STREAM_PIECE = 4096


@njit(cache=True, nogil=True, inline="always")
def _row_at(lane, i, n1, n2):
    """The flat offset of row ``i`` of image ``lane`` in images of ``n1 x
    n2``, -1 outside the image.  (Scalars, not the images: an array passed
    to a helper is reference-counted at each call, an atomic add and a call
    to numba's runtime for every row.)"""
    return (lane * n1 + i) * n2 if 0 <= i < n1 else -1


def _transposed_rows(R, B, P):
    """The transposed kernel for taps in ``R x B`` boxes and ``P`` column
    phases (constants of its code: it compiles only its own pass)."""

    def kernel(x, c, k1, k2, in1, in2, s1, s2, out, mapped, chunks, job0, job1):
        n1, n2 = x.shape[1], x.shape[2]
        L1 = c.shape[0]
        rows, cols = out.shape[1], out.shape[2]
        # the rows outside the image, when an output row reads one (else
        # none: a 1-D signal's row is the whole signal, and filling a zero
        # row of its length in each job group cost more than the work)
        kmin, kmax = k1[0], k1[0]
        for p in range(L1):
            kmin, kmax = imin(kmin, k1[p]), imax(kmax, k1[p])
        outside = s1 // L1 - kmax - in1 - (R - 1) < 0 or \
            (s1 + rows - 1) // L1 - kmin - in1 >= n1
        zero = zeros1(x, n2 if outside else 0)
        G = simd.lanes(x.dtype)             # blocks a vector step computes
        check = zeros1(x, G)
        # a large output into mapped pages (TRANSPOSED_STREAM_BYTES) is
        # written a piece of a row at a time into a buffer that stays in
        # cache, then streamed: its rows start anywhere in a line
        stream = mapped != 0 and out.size * out.itemsize >= TRANSPOSED_STREAM_BYTES
        piece = STREAM_PIECE // P                 # blocks of the run per piece
        line = empty1(out, P * piece if stream else 0)
        # column blocks with all P outputs in the window and all samples in x
        B0 = imax(-(-s2 // P), k2 + B - 1 + in2)
        B1 = imax(B0, imin((s2 + cols) // P, n2 + k2 + in2))
        per = -(-(B1 - B0) // chunks)       # blocks of the run per chunk
        # the first job's part, row and image, and its row's block and
        # phase, then counted on from job to job (divisions by run-time
        # numbers at every job cost 5 % of a 512x512 image's time)
        lane = job0 // (rows * chunks)
        r = job0 // chunks - lane * rows
        part = job0 - (lane * rows + r) * chunks - 1
        b1 = (s1 + r) // L1
        p1 = s1 + r - L1 * b1
        for _ in range(job0, job1):
            part += 1
            if part == chunks:
                part, r, p1 = 0, r + 1, p1 + 1
                if p1 == L1:
                    b1, p1 = b1 + 1, 0
                if r == rows:
                    lane, r = lane + 1, 0
                    b1 = s1 // L1
                    p1 = s1 - L1 * b1
            ia = b1 - k1[p1] - in1
            orow = out[lane, r]
            run0 = imin(B1, B0 + part * per)
            run1 = imin(B1, run0 + per)
            # output P j + p2 of the run (block B0 + j) is sum_{r,t} c[p1,
            # r, p2, t] * x_r[B0 - k2 - in2 - (B - 1) + B - 1 - t + j], x_r
            # the input row r below ia (the rows as offsets: see _row_at;
            # four of them whatever the box, whose first R the pass reads)
            rows_at = (_row_at(lane, ia, n1, n2), _row_at(lane, ia - 1, n1, n2),
                       _row_at(lane, ia - 2, n1, n2), _row_at(lane, ia - 3, n1, n2))
            first, last = part == 0, part == chunks - 1
            # the job's blocks [a, z) and outputs [j0, j1): its part of the
            # run, with the head (the first part) and the tail (the last)
            a = s2 // P if first else run0
            z = (s2 + cols - 1) // P + 1 if last else run1
            j0 = 0 if first else P * run0 - s2
            j1 = cols if last else P * run1 - s2
            # in order (head, run, tail), so that a streamed row's plain
            # stores do not meet lines its streaming stores left partly
            # written (two threads on C2's 2048x2048 image: 3.0-3.2 ms in
            # order, 3.7-3.8 with the ends written after the run).  The
            # steps whose boxes reach past the image's columns or whose
            # outputs start before the window are masked to both
            # (simd.box_taps_edge), a vector of blocks at a time, and so is
            # the run's last step: a row costs two masked steps.
            while a < z and a < B0:
                simd.box_taps_edge(x, zero, rows_at, a - k2 - in2 - (B - 1), c, p1, orow,
                                   P * a - s2, n2, j0, j1, check, R, B, P)
                a += G
            n = imax(0, imin(z, B1) - a)
            if n > 0 and not stream:
                n = n // G * G
                simd.box_taps_checked(x, zero, rows_at, a - k2 - in2 - (B - 1), c, p1, orow,
                                      P * a - s2, n, check, R, B, P)
            elif n > 0:
                for q in range(a, a + n, piece):
                    b = imin(a + n, q + piece)
                    simd.box_taps_checked(x, zero, rows_at, q - k2 - in2 - (B - 1), c, p1,
                                          line, 0, b - q, check, R, B, P)
                    simd.stream_copy_at(line, 0, orow, P * q - s2, P * (b - q))
            a += n
            while a < z:
                simd.box_taps_edge(x, zero, rows_at, a - k2 - in2 - (B - 1), c, p1, orow,
                                   P * a - s2, n2, j0, j1, check, R, B, P)
                a += G
        if stream:
            simd.fence()
        return not_finite(check)

    kernel.__doc__ = f"""Jobs ``job0 <= (lane * n_rows + r) * chunks + part < job1``:
        part ``part`` of ``chunks`` of output row ``r`` of image ``lane``, of
        a matrix that upsamples by ``L1`` on the rows and by {P} on the
        columns and whose taps lie in {R}x{B} boxes of block delays, ``c``
        of shape ``(L1, {R}, {P}, {B})`` (a transposed convolution with
        stride ``(L1, {P})`` and a kernel of up to ``{R} L1 x {B * P}``;
        a 1-D one is an image of one row, ``R`` 1, cut into parts for the
        threads).

        Output ``(o1, o2)`` (window origin ``(s1, s2)``), in blocks ``b1 = o1
        // L1``, ``b2 = o2 // {P}`` and phases ``p = o - b * stride``, is
        ``sum_{{r,t}} c[p1, r, p2, t] * x[b1 - k1[p1] - r, b2 - k2 - t]``
        (input origin ``(in1, in2)``): each output row reads {R} input rows,
        and all {P} column phases are written in one pass
        (:func:`.simd.box_taps_checked`: a vector of each phase from the
        {R * B} shifted rows, then interleaved).  The phase-by-phase kernel
        (:func:`_block_row`) made a pass over a scratch row per tap and
        column phase and one to interleave them: 0.39-0.50 against 0.15 ms
        for a 512x512 float32 image (k = 3, stride 2); the ring, which makes
        such passes for any stride, 0.34 against 0.16 ms for a 256x256 one
        with k = 5, stride 2.  The blocks at a row's ends, whose boxes reach
        past the image's columns or whose outputs start before the window,
        run in masked vector steps (:func:`.simd.box_taps_edge`: loads of
        the image's columns only, stores of the job's outputs only); computed
        one output at a time with each tap tested, they had taken 45 ns a
        row of a 3x3 box, a quarter of a 256x256 float32 image's kernel
        time (k = 5, stride 2, one thread, on the Xeon: 0.09-0.13 ms, now
        0.08).

        The taps a phase lacks are zeros of ``c``, multiplied like the
        others: exact while the data are finite, but ``0 * inf`` is NaN.
        The vector pass adds ``o - o`` of its outputs to a check, whose sum
        the function returns: not 0 when one is not finite, and the caller
        then runs the taps exactly.  (It had checked the input before the
        kernel instead, a pass over 1 MB for a 512x512 float32 image that
        the kernel's 4 MB output had pushed out of the cache: 0.03 of the
        call's 0.27-0.31 ms, one thread, on the Xeon.)  The masked steps at
        the ends add theirs to the same check (a lane they do not load holds
        0, which adds 0).
        """
    return njit(cache=True, nogil=True, fastmath={"contract"},
                name=f"transposed_rows_r{R}_b{B}_p{P}")(kernel)


# the kernels made so far, by (rows box, columns box, column stride):
# made on first use (48 of them; ~0.13 ms each to make, at import)
TRANSPOSED_ROWS = {}


def transposed_rows(rows_box, box, stride):
    """The transposed kernel for taps in ``rows_box x box`` boxes of block
    delays (1-4 each) and ``stride`` (2-4) column phases, made on first use
    (:data:`TRANSPOSED_ROWS`).

    Examples
    --------
    >>> transposed_rows(2, 2, 2) is transposed_rows(2, 2, 2)
    True
    """
    key = (rows_box, box, stride)
    if key not in TRANSPOSED_ROWS:
        if not (1 <= rows_box <= 4 and 1 <= box <= 4 and 2 <= stride <= 4):
            raise ValueError(f"no transposed kernel for boxes of {rows_box}x{box} delays "
                             f"and column stride {stride}")
        TRANSPOSED_ROWS[key] = _transposed_rows(*key)
    return TRANSPOSED_ROWS[key]


# Boxes at least this many taps wider than the column stride take the
# vector phases of simd.strided_phases_run in the strided kernel; narrower
# ones LLVM's interleaved loads, a pass per box row.  (Boxes one tap wider
# than the stride gain too -- a 256x256 float32 image, k = 3, stride (3, 2):
# 0.027 -> 0.018 ms -- but they include the 1-D decimators by M with M + 1
# taps, whose parallel parts are views of the signal, which take the
# passes: one thread and two would then differ in the last bits.)
PHASES_MIN_EXTRA = 2
# Images, C-contiguous whatever the threads (each job a row of the image),
# take the phases from boxes as wide as the stride: one thread, a 256x256
# float32 image with k = 3 at stride 3 took 12.2 against 9.8 us a call with
# them (torch 68-69), k = 4 at stride 4 10.9 against 9.0, 512x512 k = 3
# 24.1 against 20.1; 1024x1024 k = 3 50 against 49.
IMAGE_PHASES_EXTRA = 0


def _strided_rows(B, S, extra):
    """The strided kernel for boxes ``B`` taps wide and column stride ``S``
    (constants of its code), taking the vector phases when ``B >= S +
    extra``."""
    PHASES = B >= S + extra

    def kernel(x, W, s1, ro, so, out, check, job0, job1):
        n1, n2 = x.shape[1], x.shape[2]
        rows, cols = out.shape[1], out.shape[2]
        R = W.shape[0]
        zero = x.dtype.type(0)
        # the columns whose box lies inside the row: S*c + so >= 0 and
        # S*c + so + B <= n2
        c0 = imin(cols, imax(0, -(so // S)))
        c1 = imax(c0, imin(cols, (n2 - B - so) // S + 1))
        bad = 0.0
        G = simd.lanes(x.dtype)
        phases = zeros1(x, G if PHASES else 0)      # the phases' check
        for job in range(job0, job1):
            lane = job // rows
            r = job - lane * rows
            i = s1 * r + ro
            orow = out[lane, r]
            lo, hi = 0, 0
            inside = 0 <= i and i + R <= n1
            if PHASES and inside and c1 - c0 >= G:
                # all rows and taps at once, a vector of outputs at a time
                # (simd.strided_phases_run: images C-contiguous; the 1-D
                # signals' rows are views, which run the loops below)
                start = (lane * n1 + i) * n2 + S * c0 + so
                at = (lane * rows + r) * cols + c0
                if simd.strided_phases_run(x, start, n2, R, W, B, S, out, at, c1 - c0,
                                           n2 - S * c0 - so, phases):
                    lo, hi = c0, c1
            if inside and c0 < c1 and hi == 0:        # (and not run by the phases)
                # a pass per box row over zero-based views from the box of
                # output c0: the loads are src[S*t + b], which LLVM
                # vectorises as interleaved loads (S consecutive vectors
                # and shuffles); the first pass sets the outputs
                o = orow[c0:c1]
                src = x[lane, i, S * c0 + so:]
                for t in range(c1 - c0):
                    acc = zero
                    for b in range(B):
                        acc += W[0, b] * src[S * t + b]
                    o[t] = acc
                for a in range(1, R):
                    src = x[lane, i + a, S * c0 + so:]
                    for t in range(c1 - c0):
                        acc = o[t]
                        for b in range(B):
                            acc += W[a, b] * src[S * t + b]
                        o[t] = acc
                if check != 0:
                    bad += not_finite(o)
                lo, hi = c0, c1
            # the rest one output at a time, the taps inside the image only
            for c in range(cols - (hi - lo)):
                c = c if c < lo else c + hi - lo
                m = S * c + so
                acc = zero
                for a in range(R):
                    if 0 <= i + a < n1:
                        for b in range(B):
                            if 0 <= m + b < n2 and W[a, b] != 0:
                                acc += W[a, b] * x[lane, i + a, m + b]
                orow[c] = acc
        if PHASES and check != 0:
            bad += not_finite(phases)
        return bad

    kernel.__doc__ = f"""Output rows ``job0 <= lane * n_rows + r < job1`` of a matrix that
        decimates by ``s1`` on the rows and by {S} on the columns, its taps in
        an ``R``x{B} box ``W``: ``out[lane, r, c] = sum_{{a,b}} W[a, b] *
        x[lane, s1 r + ro + a, {S} c + so + b]`` (zero outside ``x``); a
        strided convolution.

        Each output row is a loop over its outputs per box row, the {B}
        taps of that row at once, which LLVM vectorises: the samples a
        vector of outputs reads are {S} consecutive vectors of the input
        row, split into their phases with shuffles.  The ring
        (:mod:`.kernels_ring`), which splits each input row into its column
        phases and makes a pass per tap, took 0.11-0.12 ms for a 256x256
        float32 image with k = 3 or 4 at stride 3 or 4, one thread, on the
        Xeon, where these loops took 7 us (k = 3; 1024x1024: 0.56 against
        0.22 ms).  One loop with all the box's taps ran 2.5-5x slower than a
        loop per box row.  The box's width and the stride are constants of
        the code (the taps of a row unrolled, the loads' stride known), its
        height is not (one kernel for any number of rows: fewer to
        compile).  Boxes {extra} or more taps wider than the stride
        run all their rows and taps in one call per output row instead
        (:func:`.simd.strided_phases_run`: each input row's vectors are
        split into their {S} phases once for every tap of the row; a
        256x256 float32 image with k = 5 at stride 2 took 0.060 ms a call
        with the loops, 0.031 with it, one thread, on the Xeon).  The
        columns and rows at the image's ends are computed one output at a
        time, the taps inside the image only.  With ``check`` (the box
        holds zero taps, multiplied like the others: ``0 * inf`` is NaN)
        the vector outputs are checked
        (:func:`.kernels.not_finite`): the function returns their sum, not
        0 when one is not finite, and the caller then runs the taps exactly.
        """
    return njit(cache=True, nogil=True, fastmath={"contract"},
                name=f"strided_rows_b{B}_s{S}_e{extra}")(kernel)


# the strided kernels made so far, by (box width, column stride, extra)
STRIDED_ROWS = {}


def strided_rows(box, stride, extra=PHASES_MIN_EXTRA):
    """The strided kernel for boxes ``box`` taps wide (1-8; any height) and
    column stride ``stride`` (2-4), made on first use
    (:data:`STRIDED_ROWS`); boxes at least ``extra`` taps wider than the
    stride take the vector phases (:data:`IMAGE_PHASES_EXTRA` for
    C-contiguous images).

    Examples
    --------
    >>> strided_rows(3, 3) is strided_rows(3, 3)
    True
    >>> strided_rows(3, 3, IMAGE_PHASES_EXTRA) is strided_rows(3, 3)
    False
    """
    key = (box, stride, extra)
    if key not in STRIDED_ROWS:
        if not (1 <= box <= 8 and 2 <= stride <= 4):
            raise ValueError(f"no strided kernel for boxes {box} taps wide and column "
                             f"stride {stride}")
        STRIDED_ROWS[key] = _strided_rows(*key)
    return STRIDED_ROWS[key]


@njit(cache=True, nogil=True, fastmath={"contract"})
def strided_box_rows(x, W, ro, so, out, job0, job1):
    """Output rows ``job0 <= lane * n_rows + r < job1`` of a matrix that
    decimates by 2 on both axes with its taps in a 4x4 box:
    ``out[lane, r, c] = sum_{a,b} W[a, b] * x[lane, 2r + ro + a, 2c + so + b]``
    (zero outside ``x``).

    A vector of outputs at a time, all taps at once (:func:`.simd.strided_box3`
    or ``4``, the 3x3 one when the box's last row and column are zero), two
    output rows per call where both read inside the image (they share an
    input row): each input row's pair of vectors is split into its even and
    odd samples once, with in-lane shuffles, and serves ``k`` taps of each
    output row; the last vector of a row overlaps the one before it rather
    than leaving a scalar tail.  A 512x512 float32 image (k = 4) took 70 us
    with LLVM's vectorised loop (interleaved loads of the four taps of each
    row: ``a[2j]`` .. ``a[2j + 3]``), 111 us with a pass per kernel row, 150
    us on the ring, which splits each row into its column phases first, 45
    us with one output row per call and full permutes, 34 us with two.
    Along most of a row the vectors now run in one call
    (:func:`.simd.strided_box_run3` ...): each input vector is loaded and
    split once, and the taps two samples on are summed in place and shifted
    by one output with the next vector's sums, rather than loaded again two
    samples on and split again (k = 3: 26 -> 24 us, k = 4 ~36 -> ~27 us on
    the vectors alone, in one process).  Rows that
    read outside the image, the columns at the row's ends and rows narrower
    than a vector are computed one output at a time, skipping the zeros.  A
    3x3 kernel in the 4x4 box multiplies exact zeros while the data are
    finite; the vector calls add ``o - o`` of their outputs to ``check``
    (the function returns its sum: not 0 when one is not finite, and the
    caller then runs the taps exactly, on the ring of
    :mod:`.kernels_ring`).  The outputs computed one at a time skip the
    zeros and need no check (a pass over the output for it took 3 us).
    """
    n1, n2 = x.shape[1], x.shape[2]
    rows, cols = out.shape[1], out.shape[2]
    c0 = imin(cols, imax(0, -(so // 2)))                  # 2c + so >= 0
    c1 = imax(c0, imin(cols, (n2 - 4 - so) // 2 + 1))     # 2c + so + 3 < n2
    G = simd.lanes(x.dtype)
    zero = zeros1(x, n2)                     # the rows outside the image
    check = zeros1(x, G)
    xf, of = flat(x), flat(out)
    box3 = W[3, 0] == 0 and W[3, 1] == 0 and W[3, 2] == 0 and W[3, 3] == 0 and \
        W[0, 3] == 0 and W[1, 3] == 0 and W[2, 3] == 0
    w3 = (W[0, 0], W[0, 1], W[0, 2], W[1, 0], W[1, 1], W[1, 2], W[2, 0], W[2, 1], W[2, 2])
    w4 = (W[0, 0], W[0, 1], W[0, 2], W[0, 3], W[1, 0], W[1, 1], W[1, 2], W[1, 3],
          W[2, 0], W[2, 1], W[2, 2], W[2, 3], W[3, 0], W[3, 1], W[3, 2], W[3, 3])
    job = job0
    while job < job1:
        lane = job // rows
        r = job - lane * rows
        i = 2 * r + ro
        # output rows r and r + 1 together when both read inside the image
        # (they share an input row: 5 rows for two, not 6, with k = 3)
        two = job + 1 < job1 and r + 1 < rows and 0 <= i and i + 5 < n1
        if c1 - c0 >= G and 0 <= i and i + 3 < n1:
            # flat offsets of x[lane, i + a, 2*c0 + so] and out[lane, r, c0]
            xs = (lane * n1 + i) * n2 + 2 * c0 + so
            os = (lane * rows + r) * cols + c0
            n = c1 - c0
            # vectors of outputs the run intrinsics take: they also read the
            # next vector's samples, which must lie in the row
            nb = imax(0, imin(n // G, (n2 - 2 * c0 - so) // (2 * G) - 1))
            if nb > 0:
                x0 = xs
                if two and box3:
                    simd.strided_box_run3x2(xf, (x0, x0 + n2, x0 + 2 * n2, x0 + 3 * n2,
                                                 x0 + 4 * n2), w3, of, os, cols, nb, check)
                elif two:
                    simd.strided_box_run4x2(xf, (x0, x0 + n2, x0 + 2 * n2, x0 + 3 * n2,
                                                 x0 + 4 * n2, x0 + 5 * n2), w4, of, os, cols,
                                            nb, check)
                elif box3:
                    simd.strided_box_run3(xf, (x0, x0 + n2, x0 + 2 * n2), w3, of, os, 0, nb,
                                          check)
                else:
                    simd.strided_box_run4(xf, (x0, x0 + n2, x0 + 2 * n2, x0 + 3 * n2), w4,
                                          of, os, 0, nb, check)
            # the rest a vector at a time, the last one overlapping the one before
            for j in range(nb * G, n, G):
                j = imin(j, n - G)
                x0 = xs + 2 * j
                if two and box3:
                    simd.strided_box3x2(xf, (x0, x0 + n2, x0 + 2 * n2, x0 + 3 * n2,
                                             x0 + 4 * n2), w3, of, os + j, cols, check)
                elif two:
                    simd.strided_box4x2(xf, (x0, x0 + n2, x0 + 2 * n2, x0 + 3 * n2,
                                             x0 + 4 * n2, x0 + 5 * n2), w4, of, os + j, cols,
                                        check)
                elif box3:
                    simd.strided_box3(xf, (x0, x0 + n2, x0 + 2 * n2), w3, of, os + j, 0, check)
                else:
                    simd.strided_box4(xf, (x0, x0 + n2, x0 + 2 * n2, x0 + 3 * n2), w4, of,
                                      os + j, 0, check)
            lo, hi = c0, c1
        else:
            lo, hi = 0, 0
        # (only where there are such outputs: the row views below cost
        # reference counting, 6 us of a 512x512 image's 32)
        for rr in range(r, r + (2 if two else 1) if lo > 0 or hi < cols else r):
            i = 2 * rr + ro
            orow = out[lane, rr]
            x0 = x[lane, i] if 0 <= i < n1 else zero
            x1 = x[lane, i + 1] if 0 <= i + 1 < n1 else zero
            x2 = x[lane, i + 2] if 0 <= i + 2 < n1 else zero
            x3 = x[lane, i + 3] if 0 <= i + 3 < n1 else zero
            for j in range(lo):
                orow[j] = _strided_box_at(x0, x1, x2, x3, W, 2 * j + so)
            for j in range(hi, cols):
                orow[j] = _strided_box_at(x0, x1, x2, x3, W, 2 * j + so)
        job += 2 if two else 1
    return not_finite(check)


@njit(cache=True, nogil=True, inline="always")
def _strided_box_at(x0, x1, x2, x3, W, m):
    """One output of :func:`strided_box_rows`, first column ``m``, its taps only."""
    s = x0.dtype.type(0)
    for b in range(4):
        if 0 <= m + b < x0.shape[0]:
            if W[0, b] != 0:
                s += W[0, b] * x0[m + b]
            if W[1, b] != 0:
                s += W[1, b] * x1[m + b]
            if W[2, b] != 0:
                s += W[2, b] * x2[m + b]
            if W[3, b] != 0:
                s += W[3, b] * x3[m + b]
    return s

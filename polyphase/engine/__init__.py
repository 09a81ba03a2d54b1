"""Execution of a polyphase matrix on batches of signals.

:func:`run` is the one entry point.  It picks a path:

* 1-D, channel-agnostic: per-phase tap lists (nonzero taps only), the input cut
  into phase streams, a numba gather kernel (:mod:`polyphase.engine.kernels`);
  on long real signals with at least 8 taps per phase, the band route
  (:mod:`polyphase.engine.band`: chunks of outputs as small dense products
  with register accumulators, no phase streams); or, for long filters,
  overlap-save FFTs per phase (:mod:`polyphase.engine.fftpath`), chosen by a
  cost model (:mod:`polyphase.engine.cost`); or, when the lanes are
  contiguous in memory and the signal axis is not (an array filtered along
  axis 0) and the direct route is chosen, a kernel vectorised across the
  lanes (:mod:`polyphase.engine.kernels_axis0`; the band route in float64),
  without transposed copies;
* 2-D, channel-agnostic: phase images and a row kernel
  (:mod:`polyphase.engine.kernels2d`), with one-pass kernels for stride
  2-4 transposed matrices (k <= 4 strides; 1-D ones too, as images of one
  row) and stride-2 strided ones (k <= 4) whose taps fit small boxes, and
  a kernel of a pass per kernel row for strided ones with column strides
  2-4 and kernels up to 8 wide (1-D decimators by 2-4 whose taps span at
  most M + 1 samples too, as images of one row);
* channels or N-D: one matrix product per tap group through BLAS
  (:mod:`polyphase.engine.gemm`), Winograd for stride-2 layers with 4 taps
  per axis (:mod:`polyphase.engine.winograd`).

numba is imported on first use, so ``import polyphase`` stays fast.
"""

from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import numpy as np

from .._lazy import submodule
from .._validation import as_method
from . import machine, numba_threads
from .cost import FFT_CALL, choose, direct_cost, fft_may_win
from .scratch import mapped, result, scratch

# Below this many output samples times taps the parallel region's start-up
# (about 10 us) costs more than it saves.
PARALLEL_MIN_WORK = 1 << 16

# Output bytes per job: the job's slice of the output, written phase by phase
# with stride L, stays in L1 between the phases.  Short filters are bound by
# those stores and by what each job costs besides its taps (its plan's views,
# edge tests and calls: ~0.1 us); long ones by the taps' passes, which want
# long runs (f32 L=2 K=64: 20.2 at 16 KB against 17.4 at 2 KB).  At least 512
# blocks a job when taps dominate: resample_poly 160/147 ran its kernel in
# 13.6 ms (f64) and 8.0 ms (f32) at 512, against 15.0 and 9.8 at 256 (and
# 23.5 at 64).  Short filters that upsample, per machine (:mod:`.machine`):
# on the EPYC, L = 2 with 8 taps (f64) measured 4.7 GMAC/s at 4 KB against
# 3.7 at 32 KB; on the Xeon (one thread, in one process, 2**12-2**21
# samples, L = 2..8 with 3-16 taps, f32 and f64, and L = 3 with M = 2) 16 KB
# was 1.1-1.8x faster than 4 KB, and on 2**22 samples with L = 2 and 8 taps
# 1.2-1.5x (32 KB: as fast on 2**21, slower on 2**12-2**16).  Decimators
# (L = 1) keep 4 KB: 16 KB was 0.85-0.96x on the Xeon (M = 2, 8 taps).
JOB_BYTES_SHORT = {"amd": 1 << 12, "intel": 1 << 14}
JOB_BYTES_DECIMATE, JOB_BYTES_LONG = 1 << 12, 1 << 14
# L = 2 with at most four taps a phase: one pass over each pair of phases
# writes the output itself (see kernels._taps2), so no rows of the job wait
# in L1 between passes and a job costs only its overhead besides its
# samples.  On the Xeon, L = 2 with 8 taps, 2**22 samples, ns per input,
# 16 / 32 / 64 KB: one thread float32 0.72 / 0.61 / 0.57, float64 1.46 /
# 1.24 / 1.16; two threads float32 0.38 / 0.34 / 0.33; but on 2**16 with
# two threads 0.41 / 0.42 / 0.52 (fewer jobs than the threads want).
JOB_BYTES_PAIR_OUT = 1 << 15


def job_blocks(L: int, taps_per_phase: int, itemsize: int) -> int:
    """Output blocks per job of the 1-D kernel (see ``JOB_BYTES_*``)."""
    if L == 2 and taps_per_phase <= 4:
        return JOB_BYTES_PAIR_OUT // (L * itemsize)
    if taps_per_phase <= 8:
        job_bytes = machine.pick(JOB_BYTES_SHORT) if L > 1 else JOB_BYTES_DECIMATE
        return max(64, job_bytes // (L * itemsize))
    return max(512, JOB_BYTES_LONG // (L * itemsize))

# Fewest contiguous lanes for the axis-0 kernel: narrower arrays are faster
# transposed once and run along time.  Measured on 2**20 samples, 1 thread:
# with 8 lanes the transposed route was up to 1.6x faster when M > 1, with 16
# the axis-0 kernel was as fast or up to 1.7x faster.
AXIS0_MIN_LANES = 16

# Axis-0 jobs: at most AXIS0_TILE lanes (columns) each; one phase's rows of a
# job (AXIS0_ACC_BYTES, in L2 with a pair of phases' two) and the input rows
# the job reads (AXIS0_IN_BYTES) stay in L2.  Longer passes beat L1 residency:
# 2**11..2**15 accumulator bytes ran within 20%, the larger the faster, and
# 2**16 against 2**14 took 4-14 % less on (2**16, 64) float32 rows with
# L=2 (8 and 64 taps), M=2 and 3/2, interleaved in one process.
AXIS0_TILE = 1024
AXIS0_ACC_BYTES = 1 << 16
AXIS0_IN_BYTES = 1 << 18


def tap_lists(pm, dtype):
    """Nonzero taps of each output phase in CSR form (cached on ``pm``: do not modify).

    Returns ``ptr, q, k, c``: taps of phase ``p`` are ``ptr[p]:ptr[p+1]``,
    each reading input phase ``q`` at block delay ``k`` with coefficient ``c``.
    Cached because a matrix is often run many times (resample_poly caches its
    operator) and for long filters building the lists is not free: 3 ms of a
    6.5 ms call for 48000/44101 (960,001 taps).
    """
    key = ("taps", np.dtype(dtype))
    cache = pm.__dict__.setdefault("_plans", {})
    if key not in cache:
        p = pm.p[:, 0]                               # sorted
        # writable: numba compiles a second signature for read-only arrays
        cache[key] = (np.searchsorted(p, np.arange(pm.up + 1)).astype(np.int64),
                      pm.q[:, 0].astype(np.int64), pm.k[:, 0].astype(np.int64),
                      pm.c.astype(dtype))
    return cache[key]


def phase_plan(pm, dtype):
    """:func:`tap_lists` grouped into pairs of phases (cached on ``pm``), see
    :mod:`polyphase.engine.phase_pairs`."""
    key = ("pairs", np.dtype(dtype))
    cache = pm.__dict__.setdefault("_plans", {})
    if key not in cache:
        from .phase_pairs import phase_plan as build
        cache[key] = build(pm, *tap_lists(pm, dtype))
    return cache[key]


def run(pm, x, dtype, in_origin, starts, lengths, method="auto"):
    """Output window of ``pm`` applied to each signal of ``x``.

    Parameters
    ----------
    pm : PolyphaseMatrix
        Canonical polyphase matrix.
    x : ndarray, shape (lanes, C_in, *n)
        Input signals; index ``j`` along signal axis ``a`` is input sample
        ``in_origin[a] + j``.  For a channel-agnostic matrix the channels are
        more lanes; a 1-D one on ``x`` laid out as ``(lanes, n, C_in)`` in
        memory (at least ``AXIS0_MIN_LANES`` channels) runs on the axis-0
        kernel.
    dtype : numpy dtype
        Computation and output dtype.
    in_origin, starts, lengths : tuple of int
        Per signal axis: input origin, output window start and length.
    method : {"auto", "direct", "fft", "gemm", "winograd"}
        ``"direct"`` evaluates the taps as they are: the numba kernels for
        channel-agnostic 1-D and 2-D matrices, one BLAS product per phase
        over stacked taps (im2col) otherwise.  ``"fft"`` runs the
        overlap-save FFT path (1-D matrices that do not mix channels);
        ``"gemm"`` forces the im2col BLAS route; ``"winograd"`` the
        Winograd route (1-D and 2-D channel-mixing phases whose taps are
        boxes of 2 delays per axis, see :mod:`polyphase.engine.winograd`).
        ``"auto"`` asks
        :func:`polyphase.engine.cost.choose` between direct and FFT for 1-D,
        and takes Winograd where it applies.

    Returns
    -------
    ndarray, shape (lanes, C_out, *lengths)
        On the axis-0 route a transposed view of a C-contiguous
        ``(lanes, length, C_out)`` array, i.e. in the input's memory order.
    """
    as_method(method)
    lanes, cin = x.shape[:2]
    if pm.channels == (1, 1):
        pm = _single_channel(pm)       # one channel: the channel-agnostic kernels
    if method == "fft" and (pm.ndim != 1 or pm.channels is not None):
        kind = f"{pm.ndim}-D" if pm.ndim != 1 else "channel-mixing"
        raise ValueError(f"method='fft' runs 1-D operators that do not mix channels; "
                         f"this one is {kind} (use method='auto' or 'direct')")
    if _axis0_route(pm, x, dtype, in_origin[0], starts[0], lengths[0], method):
        # (lanes, n, cin) is the memory order: filter along its axis 1 and
        # hand back the output in the same order (a transposed view)
        out = _run_axis0(pm, x.transpose(0, 2, 1), dtype, in_origin[0], starts[0],
                         lengths[0])
        return out.transpose(0, 2, 1)
    cout = cin if pm.channels is None else pm.channels[0]
    if lanes * cin == 0 or min(lengths, default=1) == 0 \
            or min(x.shape[2:], default=1) == 0 or pm.nnz == 0:
        return np.zeros((lanes, cout) + tuple(lengths), dtype=dtype)
    if pm.channels is None and method not in ("gemm", "winograd"):
        if pm.ndim == 1:
            out = run_rows(pm, x.reshape(lanes * cin, -1), dtype, in_origin[0],
                           starts[0], lengths[0], method)
            return out.reshape(lanes, cin, lengths[0])
        if pm.ndim == 2:
            out = _run_2d(pm, x.reshape((lanes * cin,) + x.shape[2:]), dtype, in_origin,
                          starts, lengths)
            return out.reshape((lanes, cin) + tuple(lengths))
    run_gemm = submodule("polyphase.engine.gemm").run_gemm
    algorithm = {"gemm": "im2col", "direct": "im2col", "winograd": "winograd"}.get(
        method, "auto")
    if pm.channels is None:
        # the same operator on every channel: channels are more lanes
        out = run_gemm(pm, x.reshape((lanes * cin, 1) + x.shape[2:]), dtype,
                       tuple(in_origin), tuple(starts), tuple(lengths), algorithm)
        return out.reshape((lanes, cin) + tuple(lengths))
    return run_gemm(pm, x, dtype, tuple(in_origin), tuple(starts), tuple(lengths),
                    algorithm)


def _single_channel(pm):
    """The same taps without channel indices (cached on ``pm``)."""
    cache = pm.__dict__.setdefault("_plans", {})
    if "agnostic" not in cache:
        cache["agnostic"] = pm._like(pm._taps(), pm._declared_rows(), channels=None)
    return cache["agnostic"]


def _route_matrix(pm, ndim, lengths):
    """``pm`` for a layer's straight route to a kernel (:func:`box_route`
    and the like): without its channels when it has one in and one out;
    None when its channels mix, it has another ``ndim`` or no taps, or a
    length in ``lengths`` is not positive."""
    if pm.channels == (1, 1):
        pm = _single_channel(pm)
    if pm.channels is not None or pm.ndim != ndim or pm.nnz == 0 or min(lengths) <= 0:
        return None
    return pm


def _axis0_route(pm, x, dtype, in_origin, start, length, method) -> bool:
    """Whether ``x`` (lanes, cin, n) goes to the axis-0 kernel.

    It must be laid out as (lanes, n, cin), the channel axis the faster one,
    with enough channels, for a 1-D channel-agnostic matrix; and the direct
    route must be the one asked for or the cost model's choice (the FFT path
    runs on rows, so it keeps the transposed copy).
    """
    if not (pm.ndim == 1 and pm.channels is None and method in ("auto", "direct")
            and x.ndim == 3 and x.shape[1] >= AXIS0_MIN_LANES and x.shape[2] > 1
            and 0 < x.strides[1] < x.strides[2]):
        return False
    if method == "direct" or min(x.shape) == 0 or length == 0:
        return True
    bp = _band_plan(pm, dtype, x.shape[2], in_origin, start, length, lanes=x.shape[1])
    return not _use_fft(pm, x.shape[0] * x.shape[1], start, length, dtype, bp)


def _parallel(lanes_work: int, taps_per_output: int) -> int:
    """Number of job groups for the parallel kernels, 0 for the serial one."""
    if lanes_work * max(1, taps_per_output) < PARALLEL_MIN_WORK:
        return 0                    # (asking numba for its threads costs ~3 us)
    # (the module, not an import here: an import statement runs importlib's
    # Python code, 11 us of a call right after a kernel has written a few
    # MB, which pushes Python out of the core's caches, on the Xeon)
    threads = numba_threads.count()
    return 4 * threads if threads > 1 else 0   # a few groups per thread balance the load


def _jobs(kernel, args, njobs, groups, by_address=True, addresses=None):
    """``kernel(*args, 0, njobs)``: a kernel's jobs ``[0, njobs)``, in ``groups``
    parallel groups when ``groups`` > 0 (:func:`.groups.run`, which returns
    the sum of what the groups return).

    From ``BORROWED_MIN_JOBS`` jobs on, a serial run also goes through
    :func:`.groups.run`, which passes the kernel its arrays uncounted:
    numba's reference counts on them, an atomic add at each view a job takes
    and each call it makes, cost the 1-D kernel 12-20 % of a short filter's
    time (8 taps on 2**16-2**20 samples, 257-4097 jobs), ~2 % of a 64-tap
    one's; the ring kernel's 5-6 %.  Below, the call's own ~1 us more would
    not pay; nor does it for the kernels whose jobs count few references,
    which set ``by_address=False`` (the box kernels: 2-3 % slower on a
    512x512 image, whose call takes ~30 us)."""
    if groups:
        with _team(groups):
            return submodule("polyphase.engine.groups").run(kernel, args, njobs, groups,
                                                            addresses=addresses)
    if by_address and njobs >= BORROWED_MIN_JOBS:
        return submodule("polyphase.engine.groups").run(kernel, args, njobs, 1,
                                                        addresses=addresses)
    return kernel(*args, 0, njobs)


BORROWED_MIN_JOBS = 64


def _team(groups):
    """Around a parallel kernel (``groups`` > 0): numba's threads placed on
    CPUs of their own before it wakes them (:class:`.pinning.numba_team`);
    nothing around a serial one."""
    if not groups:
        return contextlib.nullcontext()
    return submodule("polyphase.engine.pinning").numba_team()


def _run_2d(pm, x, dtype, in_origin, starts, lengths):
    """Channel-agnostic 2-D matrix on images ``x`` (lanes, n1, n2).

    Strided convolutions with column strides 2-4 and transposed ones with
    strides 2-4 whose taps fit small boxes have kernels of their own (all
    taps in one pass over an output row, or a pass per kernel row); any
    other matrix with finite taps runs on the ring of split rows (:mod:`.kernels_ring`); one
    with a tap of inf or NaN on the phase images (:func:`_run_phase_images`),
    which multiply nothing outside the image.
    """
    if pm.ups == (1, 1) and pm.downs == (2, 2):
        out = _run_strided_box(pm, x, dtype, in_origin, starts, lengths)
        if out is not None:
            return out
    if pm.ups == (1, 1) and pm.downs[1] in STRIDED_STRIDES:
        out = _run_strided_rows(pm, x, dtype, in_origin, starts, lengths)
        if out is not None:
            return out
    if pm.downs == (1, 1) and pm.ups != (1, 1):
        out = _run_transposed(pm, x, dtype, in_origin, starts, lengths)
        if out is not None:
            return out
    ring = _cached_plan(pm, "ring", (np.dtype(dtype), tuple(in_origin), tuple(starts)),
                        lambda: submodule("polyphase.engine.kernels_ring").plan(
                            pm, dtype, in_origin, starts))
    if ring is None:
        return _run_phase_images(pm, x, dtype, in_origin, starts, lengths)
    kernels_ring = submodule("polyphase.engine.kernels_ring")
    xc = np.ascontiguousarray(x, dtype=dtype)
    out = result((x.shape[0],) + tuple(lengths), dtype)
    taps_per_output = pm.nnz // (pm.ups[0] * pm.ups[1])
    groups = _parallel(x.shape[0] * lengths[0] * lengths[1], taps_per_output)
    _jobs(kernels_ring.run_jobs, (xc, *ring, out),
          int(kernels_ring.n_jobs(ring[0], x.shape[0], lengths[0])), groups)
    return out


def _cached_plan(pm, kind, key, build):
    """``build()``, cached on ``pm`` under ``kind`` and ``key`` (a dtype, with
    the window start and input origin where the plan depends on them): the
    numpy of a plan costs ~15 us a call, a tenth of a 512x512 image's time.
    At most 64 keys per kind (windows may vary)."""
    plans = pm.__dict__.setdefault("_plans", {}).setdefault(kind, {})
    if key not in plans:
        if len(plans) >= 64:
            plans.clear()
        plans[key] = build()
    return plans[key]


def _run_phase_images(pm, x, dtype, in_origin, starts, lengths):
    """:func:`_run_2d` on the ``M1*M2`` phase images of ``x``, a pass per tap
    (:mod:`.kernels2d`): exact for any taps."""
    kernels2d = submodule("polyphase.engine.kernels2d")
    (L1, L2), (M1, M2) = pm.ups, pm.downs
    origin_block = [o // M for o, M in zip(in_origin, pm.downs)]
    pre = [o - b * M for o, b, M in zip(in_origin, origin_block, pm.downs)]
    if pm.downs == (1, 1) and pre == [0, 0]:
        xq = np.ascontiguousarray(x, dtype=dtype)[:, None]   # already one phase
    else:
        stream_blocks = submodule("polyphase.engine.gemm").stream_blocks
        xq = scratch("phases", (x.shape[0], M1 * M2)
                     + stream_blocks(x.shape[1:], pm.downs, pre), dtype)
        _jobs(kernels2d.deinterleave,
              (np.ascontiguousarray(x, dtype=dtype), pre[0], pre[1], M1, M2, xq),
              x.shape[0] * M1 * xq.shape[2], _parallel(xq.size, 1))
    # the taps are sorted by row key, which for one channel is the flat phase
    phase = pm.p[:, 0] * L2 + pm.p[:, 1]
    ptr = np.searchsorted(phase, np.arange(L1 * L2 + 1)).astype(np.int64)
    ts = (pm.q[:, 0] * M2 + pm.q[:, 1]).astype(np.int64)
    tk1 = (pm.k[:, 0] + origin_block[0]).astype(np.int64)
    tk2 = (pm.k[:, 1] + origin_block[1]).astype(np.int64)
    tc = pm.c.astype(dtype)
    lanes = x.shape[0]
    out = result((lanes,) + tuple(lengths), dtype)   # every sample is written
    b1_first = starts[0] // L1
    nrows = (starts[0] + lengths[0] - 1) // L1 - b1_first + 1
    args = (xq, ptr, ts, tk1, tk2, tc, L1, L2, b1_first, nrows, starts[0], starts[1], out)
    _jobs(kernels2d.run_jobs, args, lanes * nrows,
          _parallel(lanes * lengths[0] * lengths[1], tc.size // (L1 * L2)))
    return out


def box_route(pm, lanes, dtype, starts, lengths):
    """What a repeated call of :func:`run` on single-channel images needs when
    the stride-2 box kernel takes it: ``(W, ro, so, groups)``, plain data a
    layer keeps per input shape, or None for any other route.

    :func:`run_box_route` then calls the kernel straight away: the dispatch
    through :func:`run` and :func:`_run_2d` cost ~10 us of Python, a third
    of a 512x512 image's time.  ``groups`` is the parallel split for the
    thread count of now.
    """
    pm = _route_matrix(pm, 2, lengths)
    if pm is None or pm.ups != (1, 1) or pm.downs != (2, 2):
        return None
    box = _box_plan(pm, dtype, (0, 0), starts)
    if box is None:
        return None
    return box + (_parallel(lanes * lengths[0] * lengths[1], pm.nnz),)


def run_box_route(route, x, lengths):
    """``run``'s output for images ``x`` (lanes, n1, n2), C-contiguous and of
    the route's dtype, by :func:`box_route`'s kernel arguments; None when an
    output is not finite (then :func:`run` takes the exact route)."""
    W, ro, so, groups = route
    kernels2d = submodule("polyphase.engine.kernels2d")
    out = result((x.shape[0],) + tuple(lengths), W.dtype)
    if groups:
        bad = _jobs(kernels2d.strided_box_rows, (x, W, ro, so, out),
                    out.shape[0] * out.shape[1], groups)
    else:           # (straight: _jobs costs ~0.5 us of a 512x512 image's ~30)
        bad = kernels2d.strided_box_rows(x, W, ro, so, out, 0, out.shape[0] * out.shape[1])
    return out if bad == 0 else None


def _run_strided_box(pm, x, dtype, in_origin, starts, lengths):
    """:func:`_run_2d` for a matrix that decimates by 2 on both axes and does
    not upsample (a strided convolution) whose taps fit a 4x4 box: all taps
    in one pass over each output row (:func:`.kernels2d.strided_box_rows`).
    None when they do not fit, or an output is not finite (the box's zeros
    may have met inf)."""
    box = _box_plan(pm, dtype, in_origin, starts)
    if box is None:
        return None
    groups = _parallel(x.shape[0] * lengths[0] * lengths[1], pm.nnz)
    return run_box_route(box + (groups,), np.ascontiguousarray(x, dtype=dtype), lengths)


def _box_plan(pm, dtype, in_origin, starts):
    """:func:`_strided_box`, cached on ``pm`` (one lookup for the engine's
    route and the layers' :func:`box_route`)."""
    key = (np.dtype(dtype), tuple(in_origin), tuple(starts))
    return _cached_plan(pm, "strided_box", key,
                        lambda: _strided_box(pm, dtype, in_origin, starts))


def _strided_box(pm, dtype, in_origin, starts):
    """``(W, ro, so)`` for :func:`_run_strided_box`: output ``(r, c)`` of the
    window is ``sum W[a, b] x[2r + ro + a, 2c + so + b]``; None when the taps
    do not fit a 4x4 box, are complex or not finite, and for boxes two taps
    wide, which the strided kernel's vector phases take faster (one
    thread, alternating in one process: k = 2, 256x256 float32 11.7 -> 8.5
    us, 512x512 23.2 -> 18.7, 1024x1024 66 -> 50; k = 3 and 4 stay here,
    10.3 against 13.6 and 24.8 against 27.9).  (The strided kernel's
    box, :func:`_strided_rows`, padded to 4x4.)"""
    plan = _strided_rows_plan(pm, dtype, in_origin, starts)
    if plan is None or plan[0].shape[0] > 4 or plan[0].shape[1] > 4 \
            or plan[0].shape[1] == 2:
        return None
    tight, _, _, ro, so, _ = plan
    W = np.zeros((4, 4), dtype)
    W[:tight.shape[0], :tight.shape[1]] = tight
    return W, ro, so


# the column strides and the widest box (taps a row) of the strided kernel
# (:func:`.kernels2d.strided_rows`), which takes what the stride-2 box
# kernel (4x4) does not; a kernel per width and stride, made on first use
STRIDED_STRIDES, STRIDED_BOX = (2, 3, 4), 8


def strided_route(pm, lanes, dtype, starts, lengths):
    """:func:`box_route` for single-channel images that the strided kernel
    takes (:func:`_strided_rows`): ``(W, s1, s2, ro, so, check)``, or None
    for any other route.  (The split between threads is the call's,
    :func:`_strided_parallel`.)"""
    pm = _route_matrix(pm, 2, lengths)
    if pm is None or pm.ups != (1, 1) or pm.downs[1] not in STRIDED_STRIDES:
        return None
    return _strided_rows_plan(pm, dtype, (0, 0), starts)


def run_strided_route(route, x, lengths):
    """``run``'s output for images ``x`` (lanes, n1, n2), C-contiguous and of
    the route's dtype, by :func:`strided_route`'s kernel arguments; None
    when an output is not finite where the box's zeros were multiplied."""
    W, s1, s2, ro, so, check = route
    k2 = submodule("polyphase.engine.kernels2d")
    kernel = k2.strided_rows(W.shape[1], s2, k2.IMAGE_PHASES_EXTRA)
    out = result((x.shape[0],) + tuple(lengths), W.dtype)
    groups = _strided_parallel(x.size, out.size * W.size)
    bad = _jobs(kernel, (x, W, s1, ro, so, out, check),
                out.shape[0] * out.shape[1], groups, by_address=False)
    return out if bad == 0 else None


def _real_finite_taps(pm, dtype):
    """``pm``'s taps in ``dtype``, or None when they are complex or not
    finite (the box kernels multiply a box's zeros, which a tap of inf
    would turn into NaN, and take real data only)."""
    tc = pm.c.astype(dtype)
    return None if tc.dtype.kind == "c" or not np.isfinite(tc).all() else tc


def _strided_parallel(samples, products):
    """Job groups for the strided kernel reading ``samples`` samples (each
    once) and making ``products`` multiply-adds (its box's zeros
    included): its work is the larger, and a multiply-add costs about a
    load, so it runs in parallel from twice ``PARALLEL_MIN_WORK`` of it.
    On two threads a 256x256 float32 image took 0.024 ms against 0.017 on
    one with k = 4 and stride 4 (65536 of either; k = 3, stride 3: 0.016
    both), 0.055 against 0.066 with k = 5 and stride 2 (0.4 M products);
    a 512x512 one 0.038-0.039 against 0.047-0.048 (k = 3 and 4)."""
    return _parallel(max(samples, products) // 2, 1)


def _run_strided_rows(pm, x, dtype, in_origin, starts, lengths):
    """:func:`_run_2d` for a matrix that decimates by 2-4 along the columns
    (any stride along the rows) and does not upsample, its taps in a box of
    up to 8 columns: a strided convolution (:func:`.kernels2d.strided_rows`).
    None when the taps do not fit, or an output is not finite where the
    box's zeros were multiplied."""
    plan = _strided_rows_plan(pm, dtype, in_origin, starts)
    if plan is None:
        return None
    return run_strided_route(plan, np.ascontiguousarray(x, dtype=dtype), lengths)


def _strided_rows_plan(pm, dtype, in_origin, starts):
    """:func:`_strided_rows`, cached on ``pm``."""
    key = (np.dtype(dtype), tuple(in_origin), tuple(starts))
    return _cached_plan(pm, "strided_rows", key,
                        lambda: _strided_rows(pm, dtype, in_origin, starts))


def _strided_rows(pm, dtype, in_origin, starts):
    """``(W, s1, s2, ro, so, check)`` for :func:`_run_strided_rows`: output
    ``(r, c)`` of the window is ``sum W[a, b] x[s1 r + ro + a, s2 c + so +
    b]``; ``check`` 1 when the box holds zeros (the kernel multiplies them: see
    :func:`.kernels2d.strided_rows`).  None when the taps do not fit a box
    of ``STRIDED_BOX`` columns, are complex or not finite."""
    tc = _real_finite_taps(pm, dtype)
    if tc is None:
        return None
    (s1, s2) = pm.downs
    # tap (q, k) reads input index s*(b - k) + q for output block b
    rt = s1 * (starts[0] - pm.k[:, 0]) + pm.q[:, 0] - in_origin[0]
    st = s2 * (starts[1] - pm.k[:, 1]) + pm.q[:, 1] - in_origin[1]
    ro, so = int(rt.min()), int(st.min())
    R, B = int(rt.max()) - ro + 1, int(st.max()) - so + 1
    if B > STRIDED_BOX:
        return None
    W = np.zeros((R, B), dtype)
    W[rt - ro, st - so] = tc
    return W, s1, s2, ro, so, int(np.count_nonzero(W) < R * B)


def _run_transposed(pm, x, dtype, in_origin, starts, lengths):
    """:func:`_run_2d` for a matrix that upsamples by 2-4 on both axes whose
    taps lie in boxes of up to 4x4 block delays (see
    :func:`.kernels2d.transposed_rows`);
    None when they do not, when the taps are not finite, or when an output
    is not finite (the kernel multiplies the box's empty places, and ``0 *
    inf`` is NaN)."""
    taps = _transposed_plan(pm, dtype)
    if taps is None:
        return None
    return run_transposed_route(_route_of(pm, taps, in_origin, starts),
                                np.ascontiguousarray(x, dtype=dtype), lengths)


# The strides at which 1-D matrices with few taps a phase take the
# transposed kernel as images of one row (:func:`_run_transposed_1d`);
# at L = 2 only outputs the 1-D kernel would not stream
# (:data:`.simd.STREAM_BYTES`): its single pass for L = 2 writes them with
# non-temporal stores as it computes, 1.81 against 2.03 ms for 2^21 float32
# samples with 4 taps, one thread, on the Xeon.
TRANSPOSED_1D_STRIDES = (2, 3, 4)

# ... from this many outputs on: below, the 1-D kernel's shorter way there
# wins (an operator's call on 256 samples, L = 2, 4 taps: 44 against 53
# us; even at 4096 samples, 56 against 55)
TRANSPOSED_1D_MIN_OUTPUTS = 1 << 13


def _transposed_1d(pm, dtype, lanes, length, method):
    """The plan (:func:`_transposed_taps`) by which :func:`run_rows` runs
    ``pm`` on the transposed kernel (:func:`_run_transposed_1d`), or None
    when it takes the 1-D kernel."""
    L = pm.ups[0]
    if L in TRANSPOSED_1D_STRIDES and method != "fft" and pm.downs == (1,) and \
            lanes * length >= TRANSPOSED_1D_MIN_OUTPUTS and \
            (L > 2 or lanes * length * np.dtype(dtype).itemsize
             < submodule("polyphase.engine.simd").STREAM_BYTES):
        return _transposed_plan(pm, dtype)
    return None


def _run_transposed_1d(pm, taps, x, dtype, in_origin, start, length):
    """:func:`run_rows` by the transposed kernel and :func:`_transposed_1d`'s
    plan ``taps``, each signal of ``x`` (lanes, n) an image of one row, cut
    into parts for the threads; None when an output is not finite.

    The 1-D kernel's kind for L >= 3 accumulates each phase in a row of its
    own and interleaves them in a pass after: 2^20 float32 samples, k = 3,
    L = 3, one thread, on the Xeon, 1.51 against 0.77 ms here (L = 4, k =
    4: 2.04 against 1.24 ms).  For L = 2 its pairs of phases read and write
    each sample once too, but run a pass per pair of taps: 2^16 samples,
    k = 3 to 6, 0.050-0.065 against 0.034-0.036 ms; 2^20, 0.69-1.05
    against 0.61-0.62 ms.
    """
    return _transposed_rows(_route_of(pm, taps, (0, in_origin), (0, start)), x, dtype,
                            length)


def _transposed_rows(route, x, dtype, length):
    """The transposed kernel on signals ``x`` (lanes, n) as images of one row,
    by its arguments ``route`` (:func:`_route_of`); None when an output is
    not finite."""
    lanes, n = x.shape
    xc = np.ascontiguousarray(x, dtype=dtype).reshape(lanes, 1, n)
    out = run_transposed_route(route, xc, (1, length))
    return None if out is None else out.reshape(lanes, length)


def transposed_route(pm, lanes, dtype, starts, lengths):
    """:func:`box_route` for single-channel images that the transposed
    kernel takes: ``(c, k1, k2, in_origin, starts, taps, kernels2d, key,
    addresses)`` (taps per output; the kernels' module and the kernel's key;
    the kernel's address for parallel runs, :func:`.groups.run`), what a
    layer keeps per input shape, or None for any other route.  (``lanes``
    as for :func:`box_route`; the split between threads is the call's.)

    :func:`run_transposed_route` then calls the kernel
    straight away, split for the thread count of the call: through
    :func:`run` a 512x512 float32 image took 0.302 ms, 0.272 straight (the
    kernel alone 0.241).
    """
    pm = _route_matrix(pm, 2, lengths)
    if pm is None or pm.downs != (1, 1) or pm.ups == (1, 1):
        return None
    taps = _transposed_plan(pm, dtype)
    if taps is None:
        return None
    return _route_of(pm, taps, (0, 0), starts)


def _route_of(pm, taps, in_origin, starts):
    """The kernel arguments of :func:`run_transposed_route`: the plan's taps
    with the window's start moved as the plan's column phases are (see
    :func:`_transposed_taps`)."""
    c, k1, k2, shift = taps
    kernels2d = submodule("polyphase.engine.kernels2d")
    key = (c.shape[1], c.shape[3], c.shape[2])
    kernels2d.transposed_rows(*key)                 # (made now, looked up by the call)
    return (c, k1, k2, tuple(in_origin), (starts[0], starts[1] + shift),
            pm.nnz // math.prod(pm.ups), kernels2d, key, {})


def run_transposed_route(route, x, lengths):
    """``run``'s output for images ``x`` (lanes, n1, n2), C-contiguous and of
    the route's dtype, by :func:`transposed_route`'s (or
    :func:`_run_transposed`'s) kernel arguments; None when an output is
    not finite (the box's zeros may have met inf: then :func:`run` takes
    the exact route)."""
    c, k1, k2, in_origin, starts, taps, kernels2d, key, addresses = route
    out = result((x.shape[0],) + tuple(lengths), c.dtype)
    groups = _parallel(out.size, taps)
    rows = x.shape[0] * lengths[0]
    parts = _row_parts(rows, lengths[1] // c.shape[2], groups) if groups else 1
    # (the module and the kernel's key rather than the kernel: a dictionary
    # lookup, where the module's function cost 5 us right after a large
    # kernel, see _parallel; whether the output's pages are mapped matters
    # only to an output the kernel may stream)
    args = (x, c, k1, k2, in_origin[0], in_origin[1], starts[0], starts[1], out,
            mapped(out) if out.nbytes >= kernels2d.TRANSPOSED_STREAM_BYTES else 0, parts)
    kernel = kernels2d.TRANSPOSED_ROWS[key]
    bad = _jobs(kernel, args, rows * parts, groups, by_address=False, addresses=addresses)
    return out if bad == 0 else None


# Output rows are cut into parts for the threads when there are fewer rows
# than job groups (a 1-D signal is one row), parts of at least this many
# column blocks.
ROW_PART_BLOCKS = 4096


def _row_parts(rows, blocks, groups):
    """Parts per output row of the transposed kernel (or per signal of the
    strided one, :func:`_run_strided_1d`): one, or with fewer rows than
    ``groups`` as many as make a job per group, each of at least
    ``ROW_PART_BLOCKS`` blocks.

    Examples
    --------
    >>> _row_parts(512, 1024, 8), _row_parts(1, 1 << 20, 8), _row_parts(1, 10000, 8)
    (1, 8, 2)
    """
    if rows >= groups:
        return 1
    return max(1, min(-(-groups // rows), blocks // ROW_PART_BLOCKS))


# 1-D decimators by 2-4 whose taps span at most one block and a sample
# (K <= M + 1) take the strided kernel as images of one row
# (:func:`_run_strided_1d`), from this many outputs on.  Its loop reads
# each input sample once, where the 1-D kernel splits the input into its
# phases first: 2^20 samples, one thread, float64 / float32, M = 3 and 3
# taps 0.89 / 0.57 against 0.42 / 0.22 ms, M = 2 and 3 taps 1.06 / 0.68
# against 0.61 / 0.45, M = 4 and 5 taps 0.80 / 0.52 against 0.50 / 0.35;
# with wider taps the loop's loads no longer form one interleaved group
# (M = 2 and 8 taps: 0.74 against 1.72 ms).
STRIDED_1D_MIN_OUTPUTS = 1 << 13


def _strided_1d(pm, dtype, lanes, length, method):
    """``(W, base, check)`` by which :func:`run_rows` runs ``pm`` on the
    strided kernel (:func:`_run_strided_1d`), or None when it takes the
    1-D kernel: output ``t`` of a window starting at output ``start`` is
    ``sum_j W[0, j] x[M (start + t) - in_origin + base + j]``; ``check``
    as for :func:`_strided_rows`."""
    if pm.ndim != 1 or pm.ups != (1,) or pm.downs[0] not in STRIDED_STRIDES or \
            method == "fft" or lanes * length < STRIDED_1D_MIN_OUTPUTS or pm.nnz == 0:
        return None
    return _cached_plan(pm, "strided_1d", np.dtype(dtype), lambda: _strided_1d_taps(pm, dtype))


def _strided_1d_taps(pm, dtype):
    """:func:`_strided_1d`'s plan, or None when the taps are complex, not
    finite, or span more than ``M + 1`` samples."""
    M = pm.downs[0]
    tc = _real_finite_taps(pm, dtype)
    if tc is None:
        return None
    # tap (q, k) reads input index M (b - k) + q for output block b
    j = pm.q[:, 0] - M * pm.k[:, 0]
    base = int(j.min())
    B = int(j.max()) - base + 1
    if B > min(M + 1, STRIDED_BOX):
        return None
    W = np.zeros((1, B), dtype)
    W[0, j - base] = tc
    return W, base, int(np.count_nonzero(W) < B)


def _run_strided_1d(pm, plan, x, dtype, in_origin, start, length):
    """:func:`run_rows` by the strided kernel and :func:`_strided_1d`'s plan,
    each signal of ``x`` (lanes, n) an image of one row; None when an
    output is not finite where the taps' zeros were multiplied.

    With threads, each signal's outputs whose taps lie inside it are cut
    into parts, rows of a view of the signal whose rows overlap (a row
    starts ``M * cols`` samples after the one before and holds the
    ``M (cols - 1) + B`` samples its ``cols`` outputs read), one job each;
    the outputs at the ends, whose taps reach outside the signal, then run
    on their own (the kernel's columns at a row's ends)."""
    W, base, check = plan
    M, B = pm.downs[0], W.shape[1]
    lanes, n = x.shape
    x = np.ascontiguousarray(x, dtype=dtype)
    out = result((lanes, length), dtype)
    kernel = submodule("polyphase.engine.kernels2d").strided_rows(B, M)
    so = M * start - in_origin + base            # output 0's first sample
    groups = _strided_parallel(x.size, out.size * W.size)
    # outputs [t0, t1) read inside the signal
    t0 = min(length, max(0, -(so // M)))
    t1 = max(t0, min(length, (n - B - so) // M + 1))
    parts = _row_parts(lanes, t1 - t0, groups) if groups else 1
    if parts == 1:
        bad = _jobs(kernel, (x[:, None, :], W, 1, 0, so, out[:, None, :], check), lanes,
                    groups, by_address=False)
        return out if bad == 0 else None
    cols = (t1 - t0) // parts
    first = so + M * t0
    rows = np.lib.stride_tricks.as_strided(
        x[:, first:], shape=(lanes, parts, M * (cols - 1) + B),
        strides=(x.strides[0], M * cols * x.itemsize, x.itemsize))
    done = np.lib.stride_tricks.as_strided(
        out[:, t0:], shape=(lanes, parts, cols),
        strides=(out.strides[0], cols * out.itemsize, out.itemsize))
    bad = _jobs(kernel, (rows, W, 1, 0, 0, done, check), lanes * parts, groups,
                by_address=False)
    for lo, hi in ((0, t0), (t0 + parts * cols, length)):
        if lo < hi:
            bad += kernel(x[:, None, :], W, 1, 0, so + M * lo, out[:, None, lo:hi], check,
                          0, lanes)
    return out if bad == 0 else None


def _transposed_plan(pm, dtype):
    """:func:`_transposed_taps`, cached on ``pm``."""
    return _cached_plan(pm, "transposed", np.dtype(dtype),
                        lambda: _transposed_taps(pm, dtype))


# the column strides and the box sizes (block delays a side) that the
# transposed kernel has code for (:func:`.kernels2d.transposed_rows`).
# Boxes of 4 (k = 7-8 at stride 2, 10-12 at 3, 13-16 at 4) had run on the
# ring, and 1-D filters of 4 taps a phase on the 1-D kernel: one thread,
# float32, a 512x512 image with k = 7 / 8 at stride 2, 1.73 / 1.90 ->
# 0.71 / 0.72 ms (3.5 / 4.9 -> 8.3 / 12.9x torch); upfirdn on 2^20
# samples, L = 3 with 12 taps 1.89 -> 0.97 ms (float64 4.4 -> 2.2), L = 4
# with 16 taps 2.40 -> 1.22 (6.3 -> 2.7), on the Xeon.
TRANSPOSED_STRIDES, TRANSPOSED_BOX = (2, 3, 4), 4


def _transposed_taps(pm, dtype):
    """``(c, k1, k2, shift)`` for :func:`_run_transposed`: the taps as a
    dense ``c[p1, r, p2, t]`` (``R x B`` boxes, each the smallest that
    holds the taps, at most 4) at block delays ``(k1[p1] + r, k2 + t)``, the
    column phases counted from ``shift`` columns before the window's start;
    None when the strides or the taps do not fit, or the taps are complex
    or not finite.  A 1-D matrix is an image of one row (``R`` 1).

    A padding moves some phases' taps by a block.  Along the rows each
    output row then reads other rows (``k1`` per phase), which costs
    nothing.  Along the columns all phases read the same shifted input
    rows, so the phases are counted from the shift that lines their
    delays up (for a convolution's taps, the padding's remainder): output
    ``o`` is then ``o + shift`` in blocks of ``L2``, phase ``(p + shift) %
    L2`` at delay ``k + (p + shift) // L2``."""
    L2 = pm.ups[-1]
    if L2 not in TRANSPOSED_STRIDES or pm.downs != (1,) * pm.ndim or pm.nnz == 0 \
            or pm.ndim > 2:
        return None
    if np.dtype(dtype).kind == "c" or pm.c.dtype.kind == "c" or not np.isfinite(pm.c).all():
        return None
    if pm.ndim == 2:
        L1, phase1, delay1 = pm.ups[0], pm.p[:, 0], pm.k[:, 0]
    else:
        L1, phase1, delay1 = 1, np.zeros(pm.nnz, np.int64), np.zeros(pm.nnz, np.int64)
    k1 = np.array([delay1[phase1 == p].min(initial=0) for p in range(L1)], np.int64)
    rows_box = int((delay1 - k1[phase1]).max()) + 1
    # the column shift with the narrowest box (the first of equals)
    p2, d2 = pm.p[:, -1], pm.k[:, -1]
    shift = min(range(L2), key=lambda d: np.ptp(d2 + (p2 + d) // L2))
    phase2, delay2 = (p2 + shift) % L2, d2 + (p2 + shift) // L2
    k2 = int(delay2.min())
    box = int(delay2.max()) - k2 + 1
    if max(rows_box, box) > TRANSPOSED_BOX:
        return None
    c = np.zeros((L1, rows_box, L2, box), dtype)
    c[phase1, delay1 - k1[phase1], phase2, delay2 - k2] = pm.c
    return c, k1, k2, shift


def _use_fft(pm, lanes, start, length, dtype, band=None) -> bool:
    """The cost model's choice for a 1-D channel-agnostic matrix; ``band`` is
    the band route's plan when that is the direct route that would run."""
    L, M = pm.ups[0], pm.downs[0]
    complex_data = np.dtype(dtype).kind == "c"
    if not fft_may_win(pm.nnz, L, M, complex_data):
        return False                 # short phases: direct whatever the length
    nblocks = (start + length - 1) // L - start // L + 1
    if direct_cost(pm.nnz, L, M, nblocks, lanes, complex_data) < FFT_CALL:
        return False                 # small work: skip even the tap analysis
    from .fftpath import fft_shape
    span, transforms, pairs = fft_shape(pm)
    nnz = pm.nnz
    if band is not None:
        from .band import RELATIVE_COST
        nnz *= RELATIVE_COST              # the band route's cheaper multiply-adds
    return choose(nnz, L, M, span, nblocks, lanes, transforms, pairs,
                  complex_data) == "fft"


def run_rows(pm, x, dtype, in_origin, start, length, method="auto"):
    """Output indices ``[start, start + length)`` of ``pm`` applied to each row.

    Parameters
    ----------
    pm : PolyphaseMatrix
        Canonical polyphase matrix (rates ``L, M``).
    x : ndarray, shape (lanes, n)
        Input signals; ``x[:, i]`` is the sample at input index ``in_origin + i``.
    dtype : numpy dtype
        Computation and output dtype.
    in_origin : int
        Input index of the first column of ``x``.
    start, length : int
        Output window.
    method : {"auto", "direct", "fft"}
        See :func:`run`.
    """
    lanes, n = x.shape
    taps = _transposed_1d(pm, dtype, lanes, length, method)
    if taps is not None:
        out = _run_transposed_1d(pm, taps, x, dtype, in_origin, start, length)
        if out is not None:
            return out
    plan = _strided_1d(pm, dtype, lanes, length, method)
    if plan is not None:
        out = _run_strided_1d(pm, plan, x, dtype, in_origin, start, length)
        if out is not None:
            return out
    prep = _row_prep(pm, dtype, lanes, n, in_origin, start, length, method)
    if prep is None:
        from .fftpath import run_fft
        from .numba_threads import count
        # as many FFT workers as the direct kernels would use threads
        return run_fft(pm, x, dtype, in_origin, start, length, workers=count())
    pre, taps, M, bp, whole = prep.pre, prep.taps, prep.M, prep.band, prep.whole
    groups = _parallel(lanes * length, taps) if lanes * length * taps >= PARALLEL_MIN_WORK \
        else 0                                      # (saves a call on short signals)
    x = np.ascontiguousarray(x, dtype=dtype)
    if bp is not None:
        run_band = submodule("polyphase.engine.band").run
        with _team(groups):
            out = run_band(bp, x, dtype, in_origin, start, length, groups)
        if out is not None:
            return out                     # (None: non-finite data, run exactly)
    kernel, head, chunk, jobs = _row_kernel(prep, start)    # (and numba with it)
    out = result((lanes, length), dtype)     # the kernel writes every sample
    if whole:
        # many phases: the whole signal, tiled (a job's blocks of them would
        # not stay in cache)
        xq = scratch("phases", (lanes, M, -(-(n + pre) // M)), dtype)
        submodule("polyphase.engine.kernels").deinterleave(x, pre, M, xq)
    else:
        xq = x[:, None, :]         # one stream already, or each job splits its part
    args = (xq, *head, out, mapped(out), chunk)
    njobs = lanes * jobs
    if _jobs(kernel, args + (0,), njobs, groups) != 0:
        # an inf or NaN met a tap pass's padding: the jobs again, exactly
        _jobs(kernel, args + (1,), njobs, groups)
    return out


def serial_rows(pm, dtype, lanes, n, start, length):
    """``f(x)``, equal to ``run_rows(pm, x, dtype, 0, start, length)`` for ``x``
    of shape ``(lanes, n)``, when that call runs the 1-D kernel once on the
    calling thread (a short signal); else None.

    For a caller that repeats one call (:func:`polyphase.upfirdn` on a stream
    of blocks): ``f`` holds what :func:`run_rows` looks up each time (its
    plan, the kernel and its arguments), ~1.5 us of a 5.5 us call on 256
    samples.

    Examples
    --------
    >>> import numpy as np
    >>> import polyphase as pp
    >>> pm = pp.UpFirDn(np.ones(9), 2, 1).polyphase()
    >>> f = serial_rows(pm, np.dtype(np.float64), 1, 4, 0, 15)
    >>> x = np.array([[1.0, 0.0, 0.0, 2.0]])
    >>> bool(np.array_equal(f(x), run_rows(pm, x, np.float64, 0, 0, 15)))
    True

    None for the matrices that run on the transposed kernel
    (:func:`_run_transposed_1d`: short filters at L = 2-4, from
    ``TRANSPOSED_1D_MIN_OUTPUTS``), whose repeats then run as their first
    call did:

    >>> serial_rows(pp.UpFirDn([1.0, 2.0, 1.0], 2, 1).polyphase(), np.dtype(np.float64),
    ...             1, 4096, 0, 8193) is None
    True
    """
    if _transposed_1d(pm, dtype, lanes, length, "auto") is not None or \
            _strided_1d(pm, dtype, lanes, length, "auto") is not None:
        return None               # (the repeats take the first call's kernel)
    prep = _row_prep(pm, dtype, lanes, n, 0, start, length, "auto")
    if prep is None:
        return None                                     # the FFT path
    kernel, head, chunk, jobs = _row_kernel(prep, start)
    njobs = lanes * jobs
    if (prep.band is not None or prep.whole or lanes * length * prep.taps >= PARALLEL_MIN_WORK
            or njobs >= BORROWED_MIN_JOBS):
        return None

    def run(x):
        xq = np.ascontiguousarray(x, dtype=dtype)[:, None, :]
        out = np.empty((lanes, length), dtype)          # (every sample is written)
        if kernel(xq, *head, out, 0, chunk, 0, 0, njobs) != 0:
            kernel(xq, *head, out, 0, chunk, 1, 0, njobs)  # (see run_rows)
        return out
    return run


def rows_route(pm, lanes, dtype, n, start, length):
    """A layer's straight call ``f(x)`` for its single-channel 1-D matrix
    (channels ``(1, 1)``) on signals ``x`` of shape ``(lanes, n)`` and
    ``dtype``: :func:`serial_rows`' prepared call for a short signal, else
    :func:`run_rows` with the matrix, dtype and window found once (the
    transposed, strided, band or FFT route of a longer signal).  None when
    the matrix mixes channels, is not 1-D or has no taps.

    Through the operator's general call (windows, dtype checks, a reshape
    per axis) a single-channel ``conv_transpose1d`` of 4096 samples took
    15.8 us, torch 22.2 us; straight to :func:`run_rows` 8.8 us, and with
    the transposed kernel's arguments found once too 6.1 us.

    Examples
    --------
    >>> import polyphase as pp
    >>> pm = pp.nn.ConvTranspose1d(np.ones((1, 1, 4)), stride=2).polyphase()
    >>> f = rows_route(pm, 1, np.float64, 8192, 0, 16386)
    >>> x = np.ones((1, 8192))
    >>> bool(np.array_equal(f(x), pp.upfirdn(np.ones(4), x, 2)))
    True
    """
    pm = _route_matrix(pm, 1, (n, length))
    if pm is None:
        return None
    dtype = np.dtype(dtype)
    call = serial_rows(pm, dtype, lanes, n, start, length)
    if call is not None:
        return call
    taps = _transposed_1d(pm, dtype, lanes, length, "auto")
    if taps is not None:
        # the transposed kernel's arguments found once too (1-2 us a call)
        route = _route_of(pm, taps, (0, 0), (0, start))

        def transposed(x):
            out = _transposed_rows(route, x, dtype, length)
            # (None: not finite, the exact route)
            return run_rows(pm, x, dtype, 0, start, length) if out is None else out
        return transposed

    def run(x):
        return run_rows(pm, x, dtype, 0, start, length)
    return run


def _row_kernel(prep, start):
    """The 1-D kernel that runs :func:`_row_prep`'s ``prep`` for output
    window ``start``: ``(kernel, head, chunk, jobs)``, its arguments between
    the input streams and the output, blocks per job, and jobs per lane."""
    plan, L, nblocks = prep.plan, prep.L, prep.nblocks
    kernel = submodule("polyphase.engine.kernels").job_kernel(L, plan[0][-3])  # (split's M)
    # (Python ints reach numba as int64, without the cost of np.int64 boxing)
    return kernel, (*plan, L, start // L, nblocks, start), prep.chunk, -(-nblocks // prep.chunk)


class RowPrep(NamedTuple):
    """What :func:`run_rows` needs besides the data (:func:`_row_prep`)."""
    plan: tuple        # the kernel's tap plan packed into two arrays (delayed to
    #                    the input's first block), ints ending with the jobs' split
    pre: int           # zeros before the input's first sample in its block
    nblocks: int       # output blocks
    taps: int          # taps per phase (at least 1)
    chunk: int         # blocks per job
    L: int
    M: int
    band: object       # the BandPlan when the band route runs instead, else None
    whole: bool        # the whole signal split into phase streams first


# Preparations of run_rows kept per matrix: a short signal filtered again and
# again (a stream in blocks) skips them.  Bounded: lengths may vary.
ROW_PREP_SIZE = 64


def _row_prep(pm, dtype, lanes, n, in_origin, start, length, method):
    """What :func:`run_rows` needs besides the data (a :class:`RowPrep`),
    or None for the FFT path.  Without ``whole`` the plan's ints end with
    the jobs' ``split`` (:func:`_split_jobs`).  Cached on ``pm`` by call
    shape (~2 us of a 12 us call on 256 samples).
    """
    key = (dtype, lanes, n, in_origin, start, length, method)
    try:
        preps = pm.__dict__["_plans"]["rows"]
    except KeyError:
        preps = pm.__dict__.setdefault("_plans", {}).setdefault("rows", {})
    prep = preps.get(key, False)
    if prep is False:
        bp = None if method == "fft" else _band_plan(pm, dtype, n, in_origin, start, length)
        if method == "fft" or (method == "auto"
                               and _use_fft(pm, lanes, start, length, dtype, bp)):
            prep = None
        else:
            L, M = pm.ups[0], pm.downs[0]
            # Align the input to a block boundary: prepend `pre` zeros so
            # that column 0 of the phase streams is input block `origin_block`.
            origin_block = in_origin // M
            plan = phase_plan(pm, dtype)
            if origin_block:
                plan = plan.delayed(origin_block)      # a copy: the plan is cached
            taps = max(1, pm.nnz // L)
            pre = in_origin - origin_block * M
            ints, coefs = plan.packed()
            split = _split_jobs(plan, pre, M)
            prep = RowPrep((np.concatenate([ints, split]), coefs), pre,
                           (start + length - 1) // L - start // L + 1, taps,
                           job_blocks(L, taps, np.dtype(dtype).itemsize), L, M, bp,
                           bool(M > 1 and split[1] == 0))
        if len(preps) >= ROW_PREP_SIZE:
            preps.clear()
        preps[key] = prep
    return prep


def _split_jobs(plan, pre, M):
    """The ``split`` that ends :func:`.kernels.run_jobs`'s ``ints``: ``(pre, M,
    kmin, kmax)`` when each job splits the input blocks it reads into its phases,
    zeros when the kernel reads phase streams (one phase, or from
    ``kernels.WIDE`` phases on: a job's blocks of that many would not stay
    in cache, and the whole signal is split first, tiled)."""
    if (M == 1 and pre == 0) or M >= submodule("polyphase.engine.kernels").WIDE:
        return np.zeros(4, np.int64)
    k = np.concatenate([plan.ctaps[:, 1], plan.etaps[:, 1]])
    return np.array([pre, M, k.min(), k.max()], np.int64)


def _band_plan(pm, dtype, n, in_origin, start, length, lanes=0):
    """The band route's plan when it applies and a signal has enough
    macro-blocks for it to pay (see :mod:`polyphase.engine.band`), else None.

    ``lanes``: the axis-0 route on that many real lanes of ``dtype`` (at
    least one 64-byte vector of them, which :func:`.kernels_band._rows`
    needs; the route itself needs ``AXIS0_MIN_LANES``).  Against the axis-0
    kernel (one thread, (65536, 64), U8's filters L=2 / M=2 / 3/2 / 160/147)
    the band route took 16.0 / 9.1 / 13.1 / 8.6 ms against 29.8 / 15.3 / 24.2
    / 15.0 in float64, and 8.0 / 5.1 / 6.9 / 4.2 against 9.9 / 5.7 / 11.0 /
    7.0 in float32, since its rows run vectors of lanes times output rows in
    registers (:func:`.simd.rows_fma4x4_ahead`).  Lanes left over from tiles of
    four vectors, and rows of 16-48 float32 lanes, now run in tiles of two or
    one vector(s) (:func:`.simd.rows_fma8x2_ahead`, ``8x1``): 2**21 samples in 16
    to 128 lanes, one thread, the band route against the axis-0 kernel: 3/2
    with 61 taps 1.4-2.7x faster in float64 and 1.5-2.9x in float32; 2/1
    with 16 taps 0.92-1.7x and 1.05-1.55x; 1/2 with 64 taps 1.3-1.8x and
    0.97-1.9x.
    """
    if length * max(lanes, 1) < BAND_MIN_OUTPUTS or \
            lanes and lanes * np.dtype(dtype).itemsize < 64:
        return None
    if not lanes and single_pass_rows(pm):
        return None
    band = submodule("polyphase.engine.band")
    far = not lanes and pm.ups == (1,) and np.dtype(dtype) == np.float32 and \
        n * np.dtype(dtype).itemsize >= submodule("polyphase.engine.simd").STREAM_BYTES
    bp = band.plan(pm, dtype, band.MAX_WASTE_FAR if far else band.MAX_WASTE)
    if bp is None or band.interior_blocks(bp, n, in_origin, start, length) \
            < BAND_MIN_BLOCKS:
        return None
    return bp


def single_pass_rows(pm):
    """Whether 1-D signals keep the phase-stream kernel where the band route
    would apply: L = 2 (and M = 1) with at most four taps a phase, which
    that kernel runs in one pass that writes the output itself
    (:func:`.kernels._taps2`; see :data:`.band.MIN_TAPS`).

    Examples
    --------
    >>> import polyphase as pp
    >>> single_pass_rows(pp.UpFirDn(np.ones(8), 2, 1).polyphase())
    True
    >>> single_pass_rows(pp.UpFirDn(np.ones(8), 3, 2).polyphase())
    False
    """
    return pm.ups == (2,) and pm.downs == (1,) and pm.nnz <= 8


# Fewest outputs a row must have for the band route, and fewest macro-blocks
# inside the signal (the outputs outside them are computed one at a time).
# On shorter rows the phase-stream kernel works in cache and is as fast or
# faster (one thread, 2**12 to 2**20 inputs, 2/1, 1/2 and 3/2 with 64-96
# taps: the band route wins from 2**14 on, by 1.3-2x at 2**20, and loses
# up to 1.5x at 2**12 for L = 2).
BAND_MIN_OUTPUTS = 1 << 14
BAND_MIN_BLOCKS = 16


def _axis0_pairs(pm, dtype, in_origin):
    """The axis-0 kernel's pairs of output phases (cached on ``pm``).

    Returns ``(groups, sptr, srow, scoef, rptr, rrow, rcoef)`` as
    :func:`.kernels_axis0.run_jobs` takes it, from :func:`phase_plan`: a pair's
    shared taps as input-row offsets, the first multiple of eight of them
    (``sptr``; none when fewer than eight are shared), and each paired phase's
    other taps, the rest of the shared ones among them (``rptr``).  For L = 2,
    a pair whose taps are four shared ones and no others has ``sptr`` of
    four: one pass writes its output rows (:func:`.kernels_axis0._four_taps`).
    None when no pair shares eight taps or is such a pair of four: the
    kernel compiled for None has no pair code (1.7 s less cold JIT).
    """
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("axis0 pairs", np.dtype(dtype), int(in_origin))
    if key not in cache:
        plan = phase_plan(pm, dtype)
        M = pm.downs[0]
        real = np.dtype(dtype).kind != "c"
        offset = lambda taps: taps[:, 0] - taps[:, 1] * M - in_origin    # noqa: E731
        L = pm.ups[0]
        srow, scoef, sptr = [], [], [0]
        rest = [[] for _ in range(L)]                 # (row, coefficient) per phase
        for g, (p0, p1) in enumerate(plan.groups):
            c0, c1 = plan.cptr[g], plan.cptr[g + 1]
            n8 = (c1 - c0) // 8 * 8 if p1 >= 0 else 0
            if L == 2 and p1 == p0 + 1 and c1 - c0 == 4 and real and \
                    plan.eptr[p0] == plan.eptr[p0 + 1] and plan.eptr[p1] == plan.eptr[p1 + 1]:
                n8 = 4          # four shared taps, no others: written in one pass
            rows = offset(plan.ctaps[c0:c1])
            srow.append(rows[:n8])
            scoef.append(plan.ccoef[c0:c0 + n8])
            sptr.append(sptr[-1] + n8)
            if p1 < 0:
                continue
            for k, p in enumerate((p0, p1)):
                e0, e1 = plan.eptr[p], plan.eptr[p + 1]
                rest[p] = (np.concatenate([rows[n8:], offset(plan.etaps[e0:e1])]),
                           np.concatenate([plan.ccoef[c0 + n8:c1, k], plan.ecoef[e0:e1, 0]]))
        rptr = np.cumsum([0] + [len(r[0]) if r else 0 for r in rest])
        rrow = [r[0] for r in rest if r]
        rcoef = [r[1] for r in rest if r]
        cat = lambda parts, shape, dt: (np.concatenate(parts).astype(dt)    # noqa: E731
                                        if parts else np.zeros(shape, dt))
        cache[key] = None if sptr[-1] == 0 else (
            plan.groups, np.asarray(sptr, np.int64), cat(srow, 0, np.int64),
            np.ascontiguousarray(cat(scoef, (0, 2), dtype).reshape(-1, 2)),
            rptr.astype(np.int64), cat(rrow, 0, np.int64), cat(rcoef, 0, dtype))
    return cache[key]


def _run_axis0(pm, x, dtype, in_origin, start, length):
    """Output indices ``[start, start + length)`` of ``pm`` along axis 1 of ``x``.

    Parameters
    ----------
    pm : PolyphaseMatrix
        Canonical, 1-D, channel-agnostic (rates ``L, M``).
    x : ndarray, shape (before, n, after)
        Input signals along axis 1; ``x[:, i]`` is input index ``in_origin + i``.
        Copied (in this layout) only if it is not C-contiguous or not ``dtype``.
    dtype : numpy dtype
        Computation and output dtype.
    in_origin, start, length : int
        Input origin and output window.

    Returns
    -------
    ndarray, shape (before, length, after), C-contiguous
    """
    kernels_axis0 = submodule("polyphase.engine.kernels_axis0")

    before, n, after = x.shape
    if min(x.shape) == 0 or length == 0 or pm.nnz == 0:
        return np.zeros((before, length, after), dtype=dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    out = result((before, length, after), dtype)   # every sample is written
    L, M = pm.ups[0], pm.downs[0]
    work = np.dtype(dtype)
    if work.kind == "c" and pm.c.dtype.kind != "c":
        # real taps on complex samples: the same multiply-adds on the real and
        # imaginary parts, i.e. a real signal twice as wide
        work = np.empty(0, dtype).real.dtype
        x, out = x.view(work), out.view(work)
    groups = _parallel(before * length * after, pm.nnz // L)
    bp = _band_plan(pm, work, n, in_origin, start, length, lanes=x.shape[2])
    if bp is not None:
        run_axis0 = submodule("polyphase.engine.band").run_axis0
        with _team(groups):
            done = run_axis0(bp, x, out, in_origin, start, groups)
        if done:
            return out.view(dtype)         # (else non-finite data: run exactly)
    ptr, tq, tk, tc = tap_lists(pm, work)
    cache = pm.__dict__.setdefault("_plans", {})
    key = ("axis0 rows", int(in_origin))
    if key not in cache:
        toff = tq - tk * M - in_origin
        # least and greatest row offset per phase: rows whose taps all fall
        # inside the input skip the bounds checks
        lo = np.zeros(L, np.int64)
        hi = np.zeros(L, np.int64)
        some = ptr[1:] > ptr[:-1]
        lo[some] = np.minimum.reduceat(toff, ptr[:-1][some])
        hi[some] = np.maximum.reduceat(toff, ptr[:-1][some])
        cache[key] = toff, lo, hi
    toff, lo, hi = cache[key]
    width = out.shape[2]
    tiles = -(-width // AXIS0_TILE)
    tile = -(-width // tiles)                     # equal tiles
    # blocks per job: one phase's rows of a job stay in L1, and the input rows
    # a job reads in L2
    row_bytes = tile * work.itemsize
    bpj = max(1, min(AXIS0_ACC_BYTES // row_bytes, AXIS0_IN_BYTES // (M * row_bytes)))
    args = (x.reshape(before, -1), ptr, toff, lo, hi, tc, L, M, int(start),
            out.reshape(before, -1), width, tile, bpj, _axis0_pairs(pm, work, in_origin),
            mapped(out))
    _jobs(kernels_axis0.run_jobs, args,
          int(kernels_axis0.n_jobs(before, out.shape[1], L, int(start), width, tile, bpj)),
          groups)
    return out.view(dtype)

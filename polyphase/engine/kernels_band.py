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

Two things make this fast, both checked in the generated assembly:

* the accumulators are a fixed-size array on the stack (:func:`_accumulators`)
  whose every index is a constant once the loops over ``G`` and ``NB`` are
  unrolled, so LLVM keeps them in registers (a heap array is loaded and
  stored at every multiply-add);
* the ``G`` scalar multiply-adds of a row become one vector instruction only
  through LLVM's SLP vectoriser, which numba leaves off by default:
  :func:`polyphase.engine.band.compiled` switches it on while these kernels
  compile (2-3x faster).

Non-finite input: a zero of ``D`` times ``inf`` is ``NaN``, which the taps
themselves would never produce.  Each job therefore also reports whether any
of its outputs is not finite, and the caller then recomputes with the exact
kernel (the edge outputs here skip zeros and need no such care).
"""

import numba
import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# Macro-blocks whose accumulators are in registers at once (each row of D
# loaded serves NB of them).  Measured (U1-U6 shapes, 2**22 samples): NB = 4
# beat 2 and 8 with G = 64 bytes; G = 32 bytes with NB = 8 ran 1.5-2x slower.
NB = 4

# Let LLVM fuse ``a * b + c`` into one FMA.
CONTRACT = {"contract"}


@intrinsic
def _accumulators(typingctx, dtype):
    """Pointer to ``(NB + 1) * G`` elements of ``dtype`` on the stack (``G`` =
    64 bytes): ``NB`` vectors of accumulators and one of finiteness checks."""
    count = (NB + 1) * 512 // dtype.dtype.bitwidth

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, ty,
                                   size=context.get_constant(types.intp, count))
    return types.CPointer(dtype.dtype)(dtype), codegen


@intrinsic
def _lanes(typingctx, dtype):
    """``G``, the elements of ``dtype`` in 64 bytes, as a constant LLVM sees
    (``64 // x.itemsize`` is read from the array at run time, and a loop
    over a run-time ``G`` keeps the accumulators in memory)."""
    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, 512 // dtype.dtype.bitwidth)
    return types.intp(dtype), codegen


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _interior(x, D, offs, widths, Ls, Ms, xoff, B0, B1, out, ooff):
    """Macro-blocks ``[B0, B1)`` (a multiple of ``NB`` of them) whose inputs all
    lie in ``x``.  Returns ``sum(a - a)`` over the outputs: 0 unless one is
    ``inf`` or ``NaN``."""
    G = _lanes(x.dtype)
    acc = numba.carray(_accumulators(x.dtype), ((NB + 1) * G,))
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


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _edges(x, D, offs, widths, Ls, Ms, xoff, n0, n1, out, ooff):
    """Outputs ``[n0, n1)`` one at a time, reading only the samples in ``x``
    and skipping the zeros of ``D`` (the taps exactly, summed in the same
    order as :func:`_interior`)."""
    G = D.shape[2]
    nx = x.shape[0]
    for n in range(n0, n1):
        B = n // Ls
        m = n - B * Ls
        c = m // G
        i = m - c * G
        base = B * Ms + offs[c] + xoff
        s = out.dtype.type(0)
        for w in range(max(0, -base), min(widths[c], nx - base)):
            coef = D[c, w, i]
            if coef != 0:
                s += coef * x[base + w]
        out[n - ooff] = s


@njit(cache=True, nogil=True)
def _lane_job(x, D, offs, widths, Ls, Ms, xoff, start, out, Bi0, Bi1, chunk, k, last):
    """Job ``k`` of a lane: interior macro-blocks ``[Bi0 + k*chunk, ...)``
    (``Bi1 - Bi0`` a multiple of ``NB``), plus the outputs before ``Bi0`` for
    the first job and after ``Bi1`` for the last."""
    stop = start + out.shape[0]
    if k == 0:
        _edges(x, D, offs, widths, Ls, Ms, xoff, start, min(stop, max(start, Bi0 * Ls)),
               out, start)
    bad = 0.0
    b0 = Bi0 + k * chunk
    b1 = min(b0 + chunk, Bi1)
    if b0 < b1:
        bad = _interior(x, D, offs, widths, Ls, Ms, xoff, b0, b1, out, start)
    if k == last:
        _edges(x, D, offs, widths, Ls, Ms, xoff, max(start, Bi1 * Ls), stop, out, start)
    return bad


@njit(cache=True, nogil=True)
def run_serial(x, D, offs, widths, Ls, Ms, xoff, start, out, Bi0, Bi1, chunk):
    """Every lane of ``x`` (lanes, n) into ``out`` (lanes, length), output
    index ``start`` first, input index ``-xoff`` in column 0.  Returns
    whether every output is finite."""
    njobs = max(1, -(-(Bi1 - Bi0) // chunk))
    bad = 0.0
    for lane in range(x.shape[0]):
        for k in range(njobs):
            bad += _lane_job(x[lane], D, offs, widths, Ls, Ms, xoff, start, out[lane],
                             Bi0, Bi1, chunk, k, njobs - 1)
    return bad == 0


@njit(cache=True, nogil=True, parallel=True)
def run_parallel(x, D, offs, widths, Ls, Ms, xoff, start, out, Bi0, Bi1, chunk):
    """:func:`run_serial` with one ``prange`` index per (lane, job): jobs write
    disjoint outputs."""
    njobs = max(1, -(-(Bi1 - Bi0) // chunk))
    total = x.shape[0] * njobs
    bad = np.zeros(total)
    for t in prange(total):
        lane = t // njobs
        k = t - lane * njobs
        bad[t] = _lane_job(x[lane], D, offs, widths, Ls, Ms, xoff, start, out[lane],
                           Bi0, Bi1, chunk, k, njobs - 1)
    return bad.sum() == 0

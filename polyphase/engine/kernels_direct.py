"""numba kernel for channel-mixing phases: a direct, register-blocked product.

The GEMM path lays each input phase out as flat streams ``flat[q, c, :]``
(lanes and blocks on one padded grid), so tap ``t`` of an output phase reads
stream ``tq[t]`` shifted by ``ts[t]``; output row ``r`` (output phase and
channel) at grid column ``p`` is::

    out[r, p] = sum_t sum_c Wt[t, c, r] * flat[tq[t], c, ts[t] + p]

Here that sum runs in registers: ``NB`` output rows times one vector of
``G`` grid columns are accumulated on the stack (see
:mod:`.registers`), each input vector loaded once for ``NB`` broadcast
multiply-adds, over all taps and input channels, then stored once.
Measured on a stride-1 3x3 layer (N8, C64 -> 64, 32x32, float32, one
thread): 50-56 GMAC/s on the grid alone, 87-97 % of the FMA peak (``NB =
4``: 39, load-bound), where the stacked route (im2col copies, then
OpenBLAS) reached 34 and torch's oneDNN about 50; the whole layer 1.09x
faster than the stacked route (the grid's padding columns, the phase
streams and the interleave stay).  No stacked copy of the input is made.
See :func:`polyphase.engine.gemm._direct_applies` for where it runs.
"""

import numba
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .registers import lanes

# Output rows per register block: 8 vectors of accumulators, each input vector
# serving 8 multiply-adds (4 ran at 39 GMAC/s, load-bound).
NB = 8

CONTRACT = {"contract"}

# Grid columns per chunk (a multiple of every G): C_in rows of it stay in L2.
CHUNK = 256


@intrinsic
def _stack(typingctx, dtype):
    count = NB * 512 // dtype.dtype.bitwidth

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, ty, size=context.get_constant(types.intp, count))
    return types.CPointer(dtype.dtype)(dtype), codegen


@njit(inline="always")
def _accumulators(dtype):
    """``NB * G`` elements of ``dtype`` on the stack (see :mod:`.registers`)."""
    return numba.carray(_stack(dtype), (NB * lanes(dtype),))


@njit(cache=True, nogil=True, fastmath=CONTRACT)
def _columns(flat, L, toff, Wt, out, c0, c1):
    """Grid columns ``[c0, c1)`` (a multiple of ``G`` wide) of every row;
    ``flat`` is the streams flattened, channel ``c`` of tap ``t`` starting at
    ``c * L + toff[t]``."""
    G = lanes(flat.dtype)
    T, C, R = Wt.shape
    acc = _accumulators(flat.dtype)
    # columns in chunks whose input (C rows of CHUNK + a few samples) stays
    # in L2 while every block of output rows reads it (the whole width per
    # block of rows streamed 8 MB eight times for a 64-channel conv1d: 50
    # against ~9 ms)
    for q0 in range(c0, c1, CHUNK):
        for r0 in range(0, R, NB):
            for p0 in range(q0, min(q0 + CHUNK, c1), G):
                for a in range(NB * G):
                    acc[a] = 0
                for c in range(C):
                    # zero-based views of one flat array: a signed or 3-D index
                    # per tap cost 70 % more (12.4 against 7.3 ms)
                    xc = flat[c * L + p0:]
                    for t in range(T):
                        v = xc[toff[t]:]
                        w = Wt[t, c, r0:]
                        for j in range(NB):
                            wj = w[j]
                            for i in range(G):
                                acc[j * G + i] += wj * v[i]
                # (a constant trip count and no condition: every index of acc must
                # be a constant for LLVM to keep it in registers; storing
                # min(NB, R - r0) rows took 9.5 ms, a test per row 27 ms)
                for j in range(NB):
                    o = out[r0 + j, p0:]
                    for i in range(G):
                        o[i] = acc[j * G + i]


@njit(cache=True, nogil=True)
def run_jobs(flat, L, toff, Wt, out, job0, job1):
    """``out[r, p]`` for the columns ``p`` of jobs ``[job0, job1)``: job ``j``
    is columns ``[j * CHUNK, (j + 1) * CHUNK)`` of ``out.shape[1]`` (a
    multiple of ``G``); ``flat`` must reach ``C * L + toff.max() +
    out.shape[1]``.  Jobs write disjoint columns."""
    _columns(flat, L, toff, Wt, out, job0 * CHUNK, min(job1 * CHUNK, out.shape[1]))


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

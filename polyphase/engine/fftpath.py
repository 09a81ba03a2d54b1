"""Overlap-save FFT path for 1-D channel-agnostic matrices with long filters.

Output phase ``p`` is ``y_p[b] = sum c * x_q[b - k]`` over its taps
``(q, k, c)``.  With ``kmin`` the smallest delay and ``D`` the span of all
delays, the taps of each ``(p, q)`` pair form a dense FIR ``g_pq`` of length
``D`` (``g_pq[d]`` is the tap at delay ``kmin + d``), and

    y_p[b] = sum_q (g_pq * x_q)[b - kmin]

Every pair is filtered by overlap-save with the same segmentation: each
segment of ``nfft`` input blocks yields ``S = nfft - D + 1`` output blocks.
Sharing it means one forward FFT per input phase and segment, a sum over
``q`` of spectrum products, and one inverse FFT per output phase and segment
-- ``M + L`` transforms per segment instead of two per pair.  The output
phases are then written interleaved (stride ``L``) into the window.

Only the requested output blocks are computed: segments start at the first
block of the window and the last one is shortened to a smaller fast length
(what remains is FFT-size rounding).  Real data uses real FFTs, complex data
complex ones; float32 stays float32 (``scipy.fft`` transforms it natively).
Unlike the direct kernel, a NaN or inf in the input spreads over every output
of the segments that read it, as in any FFT convolution.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .cost import BATCH_BYTES, fft_size
from .scratch import result, scratch

__all__ = ["fft_shape", "fft_taps", "run_fft"]


def fft_shape(pm) -> tuple[int, int, int]:
    """``(span, transforms, pairs)`` of ``pm`` for the cost model (cached).

    ``span`` is the number of block delays the taps cover, ``transforms`` the
    number of input plus output phases that have taps, ``pairs`` the number
    of nonzero ``(p, q)`` entries.  Cheap: no dense filter is built.
    """
    cache = pm.__dict__.setdefault("_plans", {})
    if "fft-shape" not in cache:
        k = pm.k[:, 0]
        M = pm.downs[0]
        pairs = np.unique(pm.p[:, 0] * M + pm.q[:, 0]).size
        transforms = np.unique(pm.q[:, 0]).size + np.unique(pm.p[:, 0]).size
        cache["fft-shape"] = (int(k.max() - k.min()) + 1, transforms, pairs)
    return cache["fft-shape"]


class FFTTaps:
    """The taps of a matrix regrouped for the FFT path (cached on the matrix).

    Attributes
    ----------
    kmin, span : int
        Smallest block delay and ``max k - kmin + 1``.
    used_q, used_p : ndarray
        Input and output phases that have taps.
    uses : ndarray
        Number of pairs that read each input phase of ``used_q``.
    work_buffers : int
        Scratch spectra the batches need (0, 1 or 2).
    phases : list of (p, pairs, qi)
        For each used output phase: its pair indices (rows of ``g``) and the
        position of each pair's input phase in ``used_q``.
    g : ndarray, shape (pairs, span)
        Dense FIR of each ``(p, q)`` pair, float64 or complex128.
    """

    def __init__(self, pm):
        p, q, k = pm.p[:, 0], pm.q[:, 0], pm.k[:, 0]
        self.kmin = int(k.min())
        self.span = int(k.max()) - self.kmin + 1
        M = pm.downs[0]
        pair_key, pair_of = np.unique(p * M + q, return_inverse=True)
        self.g = np.zeros((pair_key.size, self.span), dtype=pm.c.dtype)
        self.g[pair_of.reshape(-1), k - self.kmin] = pm.c
        pair_p, pair_q = pair_key // M, pair_key % M
        self.used_q = np.unique(pair_q)
        self.used_p = np.unique(pair_p)
        qi = np.searchsorted(self.used_q, pair_q)
        self.phases = [(int(pp), np.flatnonzero(pair_p == pp), qi[pair_p == pp])
                       for pp in self.used_p]
        # pairs reading each input spectrum: one reader may overwrite it
        self.uses = np.bincount(qi, minlength=self.used_q.size)
        # scratch spectra: a sum (when a spectrum has several readers) and a
        # product (when a phase has several pairs)
        shared = any(self.uses[q[0]] > 1 for _, _, q in self.phases)
        summed = any(len(rows) > 1 for _, rows, _ in self.phases)
        self.work_buffers = int(shared) + int(summed)


def fft_taps(pm) -> FFTTaps:
    cache = pm.__dict__.setdefault("_plans", {})
    if "fft-taps" not in cache:
        cache["fft-taps"] = FFTTaps(pm)
    return cache["fft-taps"]


# Spectra kept per matrix: the FFT length depends on the signal length (the
# last segment's especially), so an unbounded cache would grow with every new
# length a cached operator (resample_poly's) meets.
MAX_SPECTRA = 8


def _spectra(pm, taps, nfft, dtype):
    """``FFT(g_pq, nfft)`` in the dtype of the data's spectra (cached)."""
    key = ("fft-spectra", nfft, np.dtype(dtype).str)
    cache = pm.__dict__.setdefault("_plans", {})
    if key not in cache:
        kept = [k for k in cache if isinstance(k, tuple) and k[0] == "fft-spectra"]
        for old in kept[:max(0, len(kept) - MAX_SPECTRA + 1)]:
            del cache[old]                       # the oldest first

        import scipy.fft
        cdtype = np.result_type(dtype, np.complex64)
        if np.dtype(dtype).kind == "c":
            G = scipy.fft.fft(taps.g.astype(np.complex128), nfft, axis=-1)
        else:
            G = scipy.fft.rfft(taps.g, nfft, axis=-1)
        # computed in double precision, rounded once to the data's precision
        cache[key] = G.astype(cdtype)
    return cache[key]


def _phase_streams(x, in_origin, M, first_block, nblocks, dtype):
    """``xq[lane, q, u] = x[(first_block + u)*M + q - in_origin]``, zero outside ``x``."""
    lanes, n = x.shape
    pre = in_origin - first_block * M            # x[:, i] sits at stream index i + pre
    if M == 1:
        xq = scratch("phases", (lanes, 1, nblocks), dtype)
        lo, hi = max(0, pre), min(nblocks, pre + n)
        xq[:, 0, :lo] = 0
        xq[:, 0, max(hi, lo):] = 0
        if lo < hi:
            xq[:, 0, lo:hi] = x[:, lo - pre:hi - pre]
        return xq
    from .kernels import deinterleave
    xq = scratch("phases", (lanes, M, nblocks), dtype)
    deinterleave(np.ascontiguousarray(x, dtype=dtype), np.int64(pre), np.int64(M), xq)
    return xq


def run_fft(pm, x, dtype, in_origin, start, length, workers=1):
    """Output indices ``[start, start + length)`` of ``pm`` on each row of ``x``.

    Same contract as :func:`polyphase.engine._run_1d`: ``x`` is ``(lanes, n)``
    with ``x[:, i]`` the input sample at index ``in_origin + i``; the result is
    ``(lanes, length)`` in ``dtype``.  ``workers`` is passed to ``scipy.fft``.
    """
    import scipy.fft

    dtype = np.dtype(dtype)
    complex_data = dtype.kind == "c"
    lanes = x.shape[0]
    L, M = pm.ups[0], pm.downs[0]
    taps = fft_taps(pm)
    D, transforms, pairs = fft_shape(pm)
    b0 = start // L
    nt = (start + length - 1) // L - b0 + 1           # output blocks to compute
    nfft, _ = fft_size(D, L, M, nt, lanes, transforms, pairs, complex_data)
    S = nfft - D + 1
    nfull, rest = divmod(nt, S)
    # runs of segments (first output block, segments, nfft, blocks of the last):
    # whole segments, then what remains with a shorter fast length
    runs = [(0, nfull, nfft, S)] if nfull else []
    if rest:
        tail = scipy.fft.next_fast_len(rest + D - 1, not complex_data)
        runs.append((nfull * S, 1, min(tail, nfft), rest))
    # input block a feeds output block b through delays b - a in [kmin, kmin + D)
    first_in = b0 - taps.kmin - (D - 1)
    n_in = max(j + (nseg - 1) * (n_fft - D + 1) + n_fft for j, nseg, n_fft, _ in runs)
    xq = _phase_streams(x, in_origin, M, first_in, n_in, dtype)

    out = np.zeros((lanes, length), dtype=dtype) if taps.used_p.size < L else \
        result((lanes, length), dtype)
    forward = scipy.fft.fft if complex_data else scipy.fft.rfft
    inverse = scipy.fft.ifft if complex_data else scipy.fft.irfft
    for j, nseg, n_fft, last in runs:
        G = _spectra(pm, taps, n_fft, dtype)
        step = n_fft - D + 1
        # segment i reads input blocks [j + i*step, j + i*step + n_fft)
        windows = sliding_window_view(xq[:, :, j:j + (nseg - 1) * step + n_fft],
                                      n_fft, axis=-1)[:, :, ::step]
        per_batch = min(nseg, max(1, BATCH_BYTES // (lanes * n_fft * dtype.itemsize)))
        # spectrum sums and products, allocated once: fresh arrays per batch
        # cost page faults (see BATCH_BYTES)
        work = scratch("fft-work", (taps.work_buffers, lanes, per_batch, G.shape[1]),
                       G.dtype)
        for i0 in range(0, nseg, per_batch):
            i1 = min(nseg, i0 + per_batch)
            X = [forward(windows[:, q, i0:i1], n_fft, axis=-1, workers=workers)
                 for q in taps.used_q]
            for p, pair_rows, qi in taps.phases:
                if taps.uses[qi[0]] == 1:      # its only reader: multiply in place
                    Y = X[qi[0]]
                    Y *= G[pair_rows[0]]
                else:
                    Y = np.multiply(X[qi[0]], G[pair_rows[0]], out=work[0, :, :i1 - i0])
                for row, i in zip(pair_rows[1:], qi[1:]):
                    Y += np.multiply(X[i], G[row], out=work[-1, :, :i1 - i0])
                y = inverse(Y, n_fft, axis=-1, workers=workers)[:, :, D - 1:]
                last_count = last if i1 == nseg else step
                _write_segments(out, y, b0 + j + i0 * step, step, last_count, p, L, start)
    return out


def _write_segments(out, y, b, step, last, p, L, start):
    """Write phase ``p`` of consecutive segments interleaved into ``out``.

    Segment ``i`` holds output blocks ``b + i*step + t`` in ``y[:, i, t]``, for
    ``t < step`` (``t < last`` in the final segment), at output index
    ``block * L + p``.  The segments that lie wholly inside the window are
    written with one strided assignment through a ``(lanes, segments, step, L)``
    view of ``out``; the ones at the window's edges one by one.
    """
    lanes, length = out.shape
    nseg = y.shape[1]
    base = b * L - start                  # out index of segment 0, block 0, phase 0
    size = step * L
    # segments i_lo .. i_hi - 1 lie inside; a short last segment never does
    # (the window ends with it)
    i_lo = min(nseg, max(0, -(base // size)))
    i_hi = max(i_lo, min(nseg, (length - base) // size))
    if i_hi > i_lo:
        a = base + i_lo * size
        view = out[:, a:a + (i_hi - i_lo) * size].reshape(lanes, i_hi - i_lo, step, L)
        view[..., p] = y[:, i_lo:i_hi, :step]
    for i in [*range(i_lo), *range(i_hi, nseg)]:
        count = last if i == nseg - 1 else step
        _write_phase(out, y[:, i, :count], b + i * step, p, L, start)


def _write_phase(out, vals, b, p, L, start):
    """``out[:, (b + i)*L + p - start] = vals[:, i]`` where that index is inside."""
    length = out.shape[1]
    idx0 = b * L + p - start
    i_lo = max(0, -(idx0 // L))                        # first i with index >= 0
    i_hi = min(vals.shape[1], (length - 1 - idx0) // L + 1)
    if i_lo < i_hi:
        a = idx0 + i_lo * L
        out[:, a:a + (i_hi - i_lo - 1) * L + 1:L] = vals[:, i_lo:i_hi]

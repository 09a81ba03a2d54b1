"""Cost model that picks the direct kernel or the FFT path for 1-D matrices.

Costs are in units of one multiply-add of the direct numba kernel (0.069 ns
for float64 on the development machine, one thread; float32 halves the
direct kernel and the FFTs alike, so one set of constants serves every
dtype).  The direct kernel costs ``nnz / L`` multiply-adds per output sample
(:func:`direct_cost`), the FFT path about ``FFT_UNIT * log2(nfft) *
transforms / L`` plus a per-sample overhead (:func:`fft_cost`), and
:func:`choose` takes the cheaper.

Measured crossover (direct time = FFT time; float64 and float32, one thread,
``2**18`` input samples, filters in taps per output phase ``nnz / L``): about
192 for ``Conv(h)`` (1/1), interpolation by 2 and 3/2; about 128 for
interpolation by 4; 128-192 for decimation by 2 and 200-300 for decimation by
4; 64-96 for complex128 data.  The model switches within a factor 1.5 of
those (at 192, 192, 192, 128, 192, 384 and 48-96 taps), where both paths
cost about the same.  Rational resamplers whose phases are short stay on the
direct kernel whatever the filter length (``160/147`` with 3201 taps has 20
taps per output phase).
"""

from __future__ import annotations

import math

__all__ = ["direct_cost", "fft_cost", "fft_size", "choose", "fft_may_win"]

#: The constants come from a non-negative least-squares fit of the measured
#: times of both paths (float64, one thread, 2**18 input samples, upfirdn
#: with L/M in 1/1, 2/1, 1/2, 3/2, 1/4, 4/1 and 64 to 2048 taps per phase):
#: direct 0.069 ns per multiply-add + 1.6 ns per sample; FFT path 0.21 ns per
#: ``n log2 n`` of each transform, 1.0 ns per spectrum bin product, and about
#: 4.5 ns per sample (phase streams, interleaved strided writes, page faults
#: of the temporaries).  The fit could not separate input from output
#: samples; the split below (output samples cost more: they are written
#: phase by phase with stride L) matches the crossovers measured for the six
#: rate pairs within a factor 1.5 of taps.  In units of 0.069 ns:
FFT_UNIT = 3.1
BIN_UNIT = 14.0
DIRECT_SAMPLE = 24.0
FFT_OUT_SAMPLE = 100.0
FFT_IN_SAMPLE = 20.0
#: Python and dispatch overhead of the FFT path per call and per transform
#: batch (about 20 us and 5 us), in direct multiply-adds.
FFT_CALL = 290_000
FFT_BATCH = 72_000
#: Bytes of input (lanes x segments x nfft samples) transformed per batch.
#: Large enough that every temporary is at least 4 MiB, which numpy backs
#: with huge pages: with 2**17-sample batches the allocator returned the
#: freed temporaries to the OS after every batch and the page faults made
#: the FFT path 2x slower (2**22 samples, 8192 taps: 114 ms and 45,000 page
#: faults per call, against 58 ms and 5,800 with 8 MiB batches).
BATCH_BYTES = 1 << 23


def direct_cost(nnz: int, up: int, down: int, nblocks: int, lanes: int,
                complex_data: bool = False) -> float:
    """Cost of the direct kernel: ``nnz / L`` multiply-adds per output sample.

    ``cost = lanes * nblocks * (nnz * (4 if complex_data else 1)
    + DIRECT_SAMPLE * (L + M))``: every nonzero tap of the ``L x M``
    polyphase matrix is one multiply-add per output block (a complex one is
    four real ones), and each block reads ``M`` and writes ``L`` samples.
    """
    return lanes * nblocks * (nnz * (4.0 if complex_data else 1.0)
                              + DIRECT_SAMPLE * (up + down))


def fft_may_win(nnz: int, up: int, down: int, complex_data: bool = False) -> bool:
    """False when the direct kernel is cheaper per output block than the FFT
    path's per-sample work alone (``FFT_OUT_SAMPLE * L + FFT_IN_SAMPLE * M``),
    whatever the FFT length: then :func:`choose` need not search FFT lengths
    (a search costs ~25 us, more than filtering 4096 samples with 8 taps).

    Examples
    --------
    >>> fft_may_win(nnz=8, up=2, down=1), fft_may_win(nnz=4096, up=1, down=1)
    (False, True)
    """
    direct = nnz * (4.0 if complex_data else 1.0) + DIRECT_SAMPLE * (up + down)
    return direct > FFT_OUT_SAMPLE * up + FFT_IN_SAMPLE * down


def fft_cost(nfft: int, span: int, up: int, down: int, nblocks: int, lanes: int,
             transforms: int, pairs: int, complex_data: bool = False) -> float:
    """Cost of the overlap-save path with FFT length ``nfft``.

    Each segment yields ``S = nfft - span + 1`` output blocks and costs
    ``transforms`` FFTs (one forward per input phase used, one inverse per
    output phase used) and one spectrum product per nonzero ``(p, q)`` pair:

        segments = lanes * ceil(nblocks / S)
        cost = segments * (transforms * FFT_UNIT * nfft * log2(nfft)
                           + pairs * BIN_UNIT * bins)
               + lanes * nblocks * (FFT_OUT_SAMPLE * L + FFT_IN_SAMPLE * M)
               + FFT_CALL + FFT_BATCH * transforms * batches

    with ``bins = nfft // 2 + 1`` for real data; complex data doubles the
    transform cost and uses ``nfft`` bins.  Per output sample this is about
    ``FFT_UNIT * log2(nfft) * transforms / L + FFT_OUT_SAMPLE
    + FFT_IN_SAMPLE * M / L``
    multiply-adds when ``nfft >> span``, against ``nnz / L`` (plus
    ``DIRECT_SAMPLE * (L + M) / L``) for the direct kernel.
    """
    S = nfft - span + 1
    if S < 1:
        return math.inf
    segments = lanes * -(-nblocks // S)
    bins = nfft if complex_data else nfft // 2 + 1
    one_fft = FFT_UNIT * nfft * math.log2(max(nfft, 2)) * (2.0 if complex_data else 1.0)
    batches = -(-segments * nfft * 8 // BATCH_BYTES)
    return (segments * (transforms * one_fft + pairs * BIN_UNIT * bins)
            + lanes * nblocks * (FFT_OUT_SAMPLE * up + FFT_IN_SAMPLE * down)
            + FFT_CALL + FFT_BATCH * transforms * batches)


def fft_size(span: int, up: int, down: int, nblocks: int, lanes: int, transforms: int,
             pairs: int, complex_data: bool = False) -> tuple[int, float]:
    """FFT length that minimises :func:`fft_cost`, and that cost.

    Candidates: fast lengths from about ``2 * span`` up to ``2**20`` (longer
    segments amortise the ``span - 1`` overlap, shorter ones cost fewer
    ``log2(nfft)``), and the single segment that covers all ``nblocks``.
    """
    from scipy.fft import next_fast_len

    def cost(n):
        return fft_cost(n, span, up, down, nblocks, lanes, transforms, pairs,
                        complex_data)

    candidates = {next_fast_len(span + nblocks - 1, not complex_data)}
    size = 1 << max(1, (2 * span - 1).bit_length() - 1)
    while size <= 1 << 20 and size < span + nblocks - 1:
        candidates.add(next_fast_len(max(size, span), not complex_data))
        size *= 2
    best = min(candidates, key=lambda n: (cost(n), n))
    return best, cost(best)


def choose(nnz: int, up: int, down: int, span: int, nblocks: int, lanes: int,
           transforms: int, pairs: int, complex_data: bool = False) -> str:
    """``"fft"`` when :func:`fft_cost` at its best length beats :func:`direct_cost`.

    ``nnz`` is the number of nonzero taps of the ``up x down`` polyphase
    matrix, ``span`` the number of block delays they cover (the length of the
    per-phase FIRs), ``nblocks`` the output blocks per lane, ``transforms``
    the number of input and output phases that have taps and ``pairs`` the
    number of nonzero ``(p, q)`` entries.

    Examples
    --------
    >>> from polyphase.engine.cost import choose
    >>> choose(nnz=4096, up=1, down=1, span=4096, nblocks=10**6, lanes=1,
    ...        transforms=2, pairs=1)
    'fft'
    >>> choose(nnz=16, up=1, down=1, span=16, nblocks=10**6, lanes=1,
    ...        transforms=2, pairs=1)
    'direct'
    """
    direct = direct_cost(nnz, up, down, nblocks, lanes, complex_data)
    if direct < FFT_CALL:            # too little work for the FFT path to pay off
        return "direct"
    _, fft = fft_size(span, up, down, nblocks, lanes, transforms, pairs, complex_data)
    return "fft" if fft < direct else "direct"

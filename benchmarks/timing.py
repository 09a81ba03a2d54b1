"""Interleaved timing and the machine's roofline numbers.

The rules (``shared/reference/performance-baseline.md``): implementations
being compared are timed interleaved in one process (A B A B ...), each repeat
lasts at least ``MIN_REPEAT`` seconds (short calls get an inner loop), and the
result is the median over ``repeats``.  Ratios from the same run are robust
to the background load of this shared machine; absolute times are not.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time

import numpy as np

MIN_REPEAT = 0.04

# One core's FMA peak per machine (docs/performance.rst), by the CPU's maker
# (polyphase.engine.machine): the AMD EPYC Zen 4 (2 x 256-bit FMA pipes at
# ~3.6 GHz), measured with an L1-resident numba loop (see
# shared/reference/performance-baseline.md section 1); the Intel Xeon (two
# 512-bit FMA units), measured with 16 chains of explicit 512-bit vectors
# (polyphase.engine.simd.rows_fma_taps8x2 on L1-resident data).
_PEAKS = {"amd": (57.7, 29.2), "intel": (114.7, 54.1)}


def _peak_gmacs():
    from polyphase.engine.machine import pick
    f32, f64 = pick(_PEAKS)
    return {"float32": f32, "float64": f64, "complex64": f32 / 4, "complex128": f64 / 4}


PEAK_GMACS = _peak_gmacs()


def settle_allocator() -> None:
    """Put the C allocator in the state of a process that has freed a large
    array: allocate and free one 16 MB block, once per process.

    glibc's ``malloc`` serves blocks above its ``mmap`` threshold (128 KB at
    start) with fresh mappings, whose every page faults when first written;
    freeing such a block raises the threshold to its size (up to 32 MB), and
    from then on large temporaries come from the heap, their pages already
    mapped.  A peer that allocates its output and temporaries at each call
    took twice as long before as after: torch's ``conv_transpose2d`` of a
    512x512 float32 image with a 3x3 kernel, one thread, on the Xeon,
    5.4-6.3 ms against 2.3-2.5 ms.  Which state a case met had depended on
    the cases run before it in its process (C1 alone: 5.7-6.3 ms; after
    the U cases of a full run: 2.5 ms).  Peers are timed at their best, as
    in any long-running process.  (Our results recycle their buffers
    (:func:`polyphase.engine.scratch.result`), either way.)"""
    global _SETTLED
    if not _SETTLED:
        block = np.empty(1 << 24, np.uint8)
        del block
        _SETTLED = True


_SETTLED = False


def interleaved(fns: dict, repeats: int = 7, min_repeat: float = MIN_REPEAT,
                gap: float = 0.0, before: dict | None = None) -> dict:
    """Median seconds per call of each function, timed A B A B ...

    Each function is called once first (warm-up: JIT compilation, caches,
    allocator), then its inner loop count is set so that one repeat lasts at
    least ``min_repeat`` seconds.  ``gap`` seconds of idle time precede each
    timed block: with several threads, the worker threads of the library
    timed just before (OpenBLAS spins ~75 ms after a call, OpenMP pools spin
    too) otherwise compete for the cores with the one being timed, and
    whichever runs second pays (measured: our 64-channel layer 55 ms with
    2 threads when torch's threads were told not to spin, 90 ms when they
    spun).  The process's allocator is settled first
    (:func:`settle_allocator`).  ``before[name]()``, when given, runs
    before each of ``name``'s calls outside the timed loop and before each
    of its timed blocks (e.g. setting the thread count it is timed with).
    """
    settle_allocator()
    before = before or {}
    inner = {}
    for name, fn in fns.items():
        if name in before:
            before[name]()
        fn()
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        inner[name] = max(1, math.ceil(min_repeat / max(dt, 1e-7)))
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = inner[name]
            if name in before:
                before[name]()
            if gap:
                time.sleep(gap)
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t) / n)
    return {name: statistics.median(v) for name, v in samples.items()}


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 5) -> float:
    """GB/s of ``np.copyto`` (bytes read + written), median of ``repeats``."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    np.copyto(b, a)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        times.append(time.perf_counter() - t)
    return 2 * nbytes / statistics.median(times) / 1e9


def machine() -> dict:
    """CPU, library versions and the thread/BLAS environment of this run."""
    import numba
    import scipy
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = dict(cpu=cpu, cores=os.cpu_count(), python=platform.python_version(),
                numpy=np.__version__, scipy=scipy.__version__, numba=numba.__version__)
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    info["env"] = {k: v for k, v in os.environ.items()
                   if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "NUMBA_"))}
    return info

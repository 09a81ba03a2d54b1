"""upfirdn: polyphase against scipy.signal.upfirdn, timed side by side.

Prints, for each (dtype, up, down, taps) case on 2**22 samples, the median time
of scipy and of polyphase (1 numba thread, then all threads), measured
interleaved in one process, and the ratio scipy / polyphase (> 1: we are
faster).  Usage: ``python benchmarks/bench_upfirdn.py [--repeats 7] [--n 4194304]``.
"""

import argparse
import time

import numba
import numpy as np
import scipy.signal as ss

import polyphase as pp

CASES = [(2, 1, 8), (2, 1, 64), (1, 2, 64), (3, 2, 96), (160, 147, 3201)]


def median_times(funcs, repeats):
    """Run ``funcs`` interleaved ``repeats`` times; median seconds of each."""
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for i, f in enumerate(funcs):
            t = time.perf_counter()
            f()
            times[i].append(time.perf_counter() - t)
    return [float(np.median(t)) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=1 << 22)
    args = parser.parse_args()
    threads = numba.config.NUMBA_NUM_THREADS
    rng = np.random.default_rng(0)
    print(f"N = {args.n}, {args.repeats} interleaved repeats, numba threads: 1 and {threads}")
    print(f"{'dtype':8}{'up/down':>9}{'taps':>6}{'scipy ms':>10}{'pp 1t ms':>10}"
          f"{'ratio 1t':>10}{'pp ' + str(threads) + 't ms':>10}{'ratio':>8}")
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal(args.n).astype(dtype)
        for up, down, taps in CASES:
            h = ss.firwin(taps, 1.0 / max(up, down)).astype(dtype)
            ref = ss.upfirdn(h, x, up, down)
            ours = pp.upfirdn(h, x, up, down)            # also compiles
            err = np.abs(ours - ref).max() / np.abs(ref).max()
            assert ours.dtype == ref.dtype and err < 1e-5, err

            def one_thread():
                numba.set_num_threads(1)
                pp.upfirdn(h, x, up, down)

            def all_threads():
                numba.set_num_threads(threads)
                pp.upfirdn(h, x, up, down)

            t_sp, t_1, t_n = median_times(
                [lambda: ss.upfirdn(h, x, up, down), one_thread, all_threads],
                args.repeats)
            print(f"{np.dtype(dtype).name:8}{f'{up}/{down}':>9}{taps:>6}"
                  f"{t_sp * 1e3:10.1f}{t_1 * 1e3:10.1f}{t_sp / t_1:10.2f}"
                  f"{t_n * 1e3:10.1f}{t_sp / t_n:8.2f}")
    numba.set_num_threads(threads)


if __name__ == "__main__":
    main()

"""upfirdn along axis 0 of a C-contiguous (n, lanes) array, against scipy.

Prints, for each (dtype, up, down, taps) case on a (2**16, 64) array filtered
along axis 0, the median times of ``scipy.signal.upfirdn(..., axis=0)``, of
polyphase's axis-0 kernel and of the transposed route (the signal axis moved
last and copied contiguous, as before the axis-0 kernel), all with 1 numba
thread and measured interleaved in one process; then the ratios scipy / axis-0
and transposed / axis-0 (> 1: the axis-0 kernel is faster) and the axis-0
kernel's useful GMAC/s (``n * lanes * taps / down``).  ``python -m benchmarks``
has the U8 rows against scipy; this adds the transposed route and upfirdn
160/147 with 3201 taps.  Usage, from the repository root:
``python -m benchmarks.axis0 [--repeats 7] [--n 65536] [--lanes 64]``.
"""

import argparse

import numba
import numpy as np
import scipy.signal as ss

import polyphase as pp
from polyphase import engine

from .timing import interleaved

CASES = [(2, 1, 8), (2, 1, 64), (1, 2, 64), (3, 2, 96), (160, 147, 3201)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=1 << 16)
    parser.add_argument("--lanes", type=int, default=64)
    args = parser.parse_args()
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"x: ({args.n}, {args.lanes}) C-contiguous, axis=0; {args.repeats} interleaved "
          f"repeats; 1 numba thread")
    print(f"{'dtype':8}{'up/down':>9}{'taps':>6}{'scipy ms':>10}{'axis0 ms':>10}"
          f"{'transp ms':>11}{'x scipy':>9}{'x transp':>10}{'GMAC/s':>8}")
    min_lanes = engine.AXIS0_MIN_LANES

    def transposed(h, x, up, down):
        engine.AXIS0_MIN_LANES = 1 << 62         # the signal axis moved last
        try:
            return pp.upfirdn(h, x, up, down, axis=0)
        finally:
            engine.AXIS0_MIN_LANES = min_lanes

    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((args.n, args.lanes)).astype(dtype)
        for up, down, taps in CASES:
            h = ss.firwin(taps, 1.0 / max(up, down)).astype(dtype)
            ref = ss.upfirdn(h, x, up, down, axis=0)
            ours = pp.upfirdn(h, x, up, down, axis=0)           # also compiles
            other = transposed(h, x, up, down)
            for y in (ours, other):
                err = np.abs(y - ref).max() / np.abs(ref).max()
                assert y.dtype == ref.dtype and err < 1e-5, err
            t = interleaved({"scipy": lambda: ss.upfirdn(h, x, up, down, axis=0),
                             "axis0": lambda: pp.upfirdn(h, x, up, down, axis=0),
                             "transposed": lambda: transposed(h, x, up, down)},
                            args.repeats)
            t_sp, t_0, t_t = t["scipy"], t["axis0"], t["transposed"]
            macs = args.n * args.lanes * taps / down
            print(f"{np.dtype(dtype).name:8}{f'{up}/{down}':>9}{taps:>6}"
                  f"{t_sp * 1e3:10.1f}{t_0 * 1e3:10.1f}{t_t * 1e3:11.1f}"
                  f"{t_sp / t_0:9.2f}{t_t / t_0:10.2f}{macs / t_0 / 1e9:8.2f}")
    numba.set_num_threads(threads)


if __name__ == "__main__":
    main()

"""conv2d / conv_transpose2d: polyphase.nn against torch on the CPU, side by side.

Each thread count runs in its own process, with torch, numba and BLAS pinned to
it for the whole process (torch picks different algorithms per thread count).
Within a process the two libraries are timed interleaved (A B A B ...), and the
table gives the median times and the ratio torch / polyphase (> 1: polyphase is
faster).  Usage: ``python benchmarks/bench_conv_torch.py [--threads 1 2]
[--repeats 7] [--json out.json]``.  Needs torch (``pip install torch==2.13.0``).
"""

import argparse
import json
import os
import subprocess
import sys
import time

CASES = [
    # name, kind, N, C_in, C_out, size, k, stride, padding, dtype
    ("1ch 512^2 k3 s2", "transposed", 1, 1, 1, 512, 3, 2, 0, "float32"),
    ("1ch 512^2 k4 s2", "transposed", 1, 1, 1, 512, 4, 2, 0, "float32"),
    ("1ch 512^2 k4 s2 f64", "transposed", 1, 1, 1, 512, 4, 2, 0, "float64"),
    ("1ch 2048^2 k4 s2", "transposed", 1, 1, 1, 2048, 4, 2, 0, "float32"),
    ("1ch 512^2 k3 s2", "strided", 1, 1, 1, 512, 3, 2, 0, "float32"),
    ("1ch 512^2 k4 s2", "strided", 1, 1, 1, 512, 4, 2, 0, "float32"),
    ("1ch 2048^2 k4 s2", "strided", 1, 1, 1, 2048, 4, 2, 0, "float32"),
    ("N8 C64->64 64^2 k4 s2 p1", "transposed", 8, 64, 64, 64, 4, 2, 1, "float32"),
    ("N8 C64->64 64^2 k4 s2 p1", "strided", 8, 64, 64, 64, 4, 2, 1, "float32"),
]


def run_cases(threads: int, repeats: int):
    import numba
    import numpy as np
    import torch

    import polyphase.nn as pnn

    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    rows = []
    for name, kind, n, cin, cout, size, k, s, p, dtype in CASES:
        x = rng.standard_normal((n, cin, size, size)).astype(dtype)
        if kind == "transposed":
            w = (rng.standard_normal((cin, cout, k, k)) / k).astype(dtype)
            ours = lambda: pnn.conv_transpose2d(x, w, stride=s, padding=p)   # noqa: E731
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            theirs = lambda: F.conv_transpose2d(xt, wt, stride=s, padding=p)  # noqa: E731
        else:
            w = (rng.standard_normal((cout, cin, k, k)) / k).astype(dtype)
            ours = lambda: pnn.conv2d(x, w, stride=s, padding=p)              # noqa: E731
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            theirs = lambda: F.conv2d(xt, wt, stride=s, padding=p)            # noqa: E731
        with torch.inference_mode():
            a, b = ours(), theirs().numpy()
            err = float(np.abs(a - b).max() / np.abs(b).max())
            assert a.dtype == b.dtype and err < 1e-4, (name, err)
            t_ours, t_theirs = [], []
            for _ in range(repeats):
                t = time.perf_counter()
                theirs()
                t_theirs.append(time.perf_counter() - t)
                t = time.perf_counter()
                ours()
                t_ours.append(time.perf_counter() - t)
        macs = n * cin * cout * k * k * (size * size if kind == "transposed"
                                         else ((size + 2 * p - k) // s + 1) ** 2)
        t_o, t_t = float(np.median(t_ours)), float(np.median(t_theirs))
        rows.append(dict(case=name, kind=kind, dtype=dtype, threads=threads,
                         torch_ms=t_t * 1e3, polyphase_ms=t_o * 1e3, ratio=t_t / t_o,
                         polyphase_gmacs=macs / t_o / 1e9, max_rel_error=err))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_cases(args.child, args.repeats)))
        return
    rows = []
    for threads in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   NUMBA_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, __file__, "--child", str(threads),
                              "--repeats", str(args.repeats)], env=env, check=True,
                             capture_output=True, text=True).stdout
        rows += json.loads(out.strip().splitlines()[-1])
    print(f"{'case':28}{'kind':>12}{'dtype':>9}{'thr':>4}{'torch ms':>10}"
          f"{'pp ms':>9}{'ratio':>8}{'pp GMAC/s':>11}")
    for r in rows:
        print(f"{r['case']:28}{r['kind']:>12}{r['dtype']:>9}{r['threads']:>4}"
              f"{r['torch_ms']:10.2f}{r['polyphase_ms']:9.2f}{r['ratio']:8.2f}"
              f"{r['polyphase_gmacs']:11.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()

"""Cases beyond issue #5's table: ``python -m benchmarks.sweep``.

The issue's cases have fixed sizes and filters; this sweep reruns the same
kinds of work at other rates, filter lengths, image sizes, strides and
channel counts, so that a kernel tuned to one case shows where it stops
helping.  Same rules as ``python -m benchmarks`` (a process pinned to one
thread, or to ``--threads``, ours and the peer's implementation checked
equal, then timed interleaved, median of the repeats, with a pause before
each timed block on several threads); no targets, just ratios (peer time /
our time, > 1: polyphase is faster).

Examples::

    python -m benchmarks.sweep                  # all four groups, ~8 minutes
    python -m benchmarks.sweep --groups layers --json sweep.json
    python -m benchmarks.sweep --groups layers --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from .timing import interleaved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (n, L, M, taps): decimators with few taps per phase are memory-bound
UPFIRDN = [(1000, 2, 1, 31), (1000, 1, 3, 5), (1000, 5, 3, 31), (1 << 17, 4, 1, 31),
           (1 << 17, 1, 3, 31), (1 << 17, 3, 7, 5), (1 << 20, 1, 4, 5),
           (1 << 20, 1, 8, 9), (1 << 20, 2, 5, 7), (1 << 20, 5, 3, 31),
           (1 << 20, 1, 1, 5), (1 << 20, 3, 7, 200),
           # short filters, memory-bound (U3's kind at other lengths and rates)
           (1 << 21, 2, 1, 3), (1 << 21, 2, 1, 5), (1 << 21, 2, 1, 7), (1 << 21, 4, 1, 8),
           (1 << 21, 3, 1, 9), (1 << 20, 5, 1, 10), (1 << 20, 8, 1, 16)]
# ((rows, lanes), L, M, taps) along axis 0: lanes that are not a multiple of
# four vectors, and long macro-blocks (147/160)
AXIS0 = [((65536, 48), 1, 2, 40), ((65536, 32), 3, 2, 61), ((131072, 32), 1, 3, 64),
         ((87381, 24), 2, 1, 16), ((32768, 64), 147, 160, 3201)]
# (transposed, size, k, stride): single-channel images
IMAGES = [(t, size, k, s) for t in (False, True) for size in (256, 1024)
          for k, s in ((2, 2), (3, 3), (5, 2), (7, 3), (8, 2))]
# (name, N, C_in, C_out, size, k, stride, padding, output_padding)
LAYERS = [("conv2d", 8, 64, 64, 32, 3, 1, 1, 0), ("conv2d", 8, 64, 128, 32, 3, 2, 1, 0),
          ("conv2d", 8, 64, 64, 32, 1, 1, 0, 0), ("conv2d", 4, 64, 64, 32, 5, 2, 2, 0),
          ("conv2d", 4, 3, 64, 128, 7, 2, 3, 0),
          ("conv_transpose2d", 8, 64, 32, 32, 4, 2, 1, 0),
          ("conv_transpose2d", 8, 64, 64, 32, 3, 2, 1, 1),
          ("conv_transpose2d", 4, 32, 32, 32, 5, 2, 2, 1),
          ("conv1d", 8, 64, 64, 4096, 3, 1, 1, 0), ("conv1d", 8, 64, 64, 4096, 5, 2, 2, 0),
          # a decoder's last layer and an encoder's first, k3 stride 2, a small
          # image with many channels
          ("conv_transpose2d", 8, 64, 3, 64, 4, 2, 1, 0), ("conv2d", 8, 3, 64, 64, 4, 2, 1, 0),
          ("conv1d", 8, 64, 64, 4096, 3, 2, 1, 0), ("conv_transpose2d", 8, 256, 128, 8, 4, 2, 1, 0),
          # 3 taps a phase (F(2x2, 3x3), F(2, 3)) at other channels and sizes
          ("conv2d", 8, 128, 128, 16, 3, 1, 1, 0), ("conv2d", 1, 64, 64, 56, 3, 1, 1, 0),
          ("conv2d", 8, 64, 64, 64, 6, 2, 2, 0), ("conv_transpose2d", 8, 64, 64, 16, 5, 2, 2, 1),
          ("conv_transpose1d", 8, 64, 64, 2048, 5, 2, 2, 1),
          # k = stride and k4 s3 (the points, vectors over output channels),
          # k3 s2 on a small image with many channels
          ("conv2d", 8, 64, 64, 64, 2, 2, 0, 0), ("conv2d", 8, 64, 64, 64, 4, 4, 0, 0),
          ("conv2d", 8, 64, 64, 48, 3, 3, 1, 0), ("conv2d", 8, 64, 64, 48, 4, 3, 1, 0),
          ("conv2d", 8, 256, 256, 14, 3, 2, 1, 0),
          # 64-channel layers on small images and short signals, where a
          # second thread gains least (the work of a call is ~0.2-2 ms)
          ("conv2d", 8, 64, 64, 16, 4, 2, 1, 0), ("conv2d", 8, 64, 64, 48, 3, 2, 1, 0),
          ("conv_transpose2d", 8, 64, 64, 16, 3, 2, 1, 1),
          ("conv_transpose2d", 8, 64, 64, 16, 4, 2, 1, 0),
          ("conv1d", 8, 64, 64, 1024, 8, 4, 2, 0), ("conv_transpose1d", 8, 64, 64, 1024, 3, 2, 1, 1),
          ("conv2d", 8, 32, 32, 32, 3, 2, 1, 0),
          # many channels on small images (ResNet's later stages), and 32
          # output channels (blocks of eight points by 32 channels)
          ("conv2d", 8, 512, 512, 7, 3, 2, 1, 0), ("conv2d", 8, 256, 256, 7, 3, 2, 1, 0),
          ("conv2d", 8, 256, 512, 14, 3, 2, 1, 0), ("conv2d", 8, 256, 256, 14, 3, 1, 1, 0),
          ("conv2d", 4, 512, 512, 14, 3, 1, 1, 0), ("conv2d", 8, 64, 32, 32, 3, 2, 1, 0),
          ("conv2d", 8, 32, 32, 64, 4, 4, 0, 0),
          # calls across images (2x2 to 4x4 outputs, padding a sixth of the
          # taps or more along each axis) and jobs of even images (14x14)
          ("conv2d", 8, 512, 512, 4, 3, 2, 1, 0), ("conv2d", 4, 256, 256, 7, 3, 2, 1, 0),
          ("conv2d", 8, 128, 128, 8, 3, 2, 1, 0), ("conv2d", 16, 64, 64, 8, 3, 2, 1, 0),
          ("conv2d", 8, 512, 512, 14, 3, 2, 1, 0),
          # transposed layers whose output phases interleave in registers
          # (rows of 8 and 20 blocks: vectors on over a row's end; a U-Net's
          # k2 s2), and a DCGAN's 4x4 k4 s2 (the Winograd route)
          ("conv_transpose2d", 8, 128, 64, 8, 3, 2, 1, 1),
          ("conv_transpose2d", 8, 64, 64, 20, 3, 2, 1, 1),
          ("conv_transpose2d", 8, 64, 32, 32, 2, 2, 0, 0),
          ("conv_transpose2d", 8, 256, 128, 4, 4, 2, 1, 0),
          # transposed layers on few channels, which Winograd's transforms
          # cost more than they save (the phases kernel instead)
          ("conv_transpose2d", 4, 32, 16, 40, 6, 3, 1, 0),
          ("conv_transpose2d", 8, 16, 64, 32, 4, 2, 1, 0),
          ("conv_transpose1d", 8, 32, 32, 2048, 4, 2, 1, 0),
          # many channels on tiny images and short signals (output phases
          # on the points), a k6 s3 layer among them; strided short signals
          ("conv_transpose2d", 8, 64, 64, 4, 4, 2, 1, 0),
          ("conv_transpose2d", 8, 512, 256, 2, 4, 2, 1, 0),
          ("conv_transpose2d", 8, 128, 64, 6, 6, 3, 1, 0),
          ("conv_transpose1d", 8, 256, 128, 16, 4, 2, 1, 0),
          ("conv1d", 8, 256, 256, 16, 4, 2, 1, 0),
          # calls across images reading x channels last (512 channels), a
          # 16-channel strided image, and a large odd image on the points
          ("conv2d", 4, 512, 512, 7, 3, 2, 1, 0),
          ("conv_transpose2d", 8, 512, 256, 4, 4, 2, 1, 0),
          ("conv2d", 8, 16, 16, 32, 3, 2, 1, 0), ("conv2d", 4, 512, 512, 29, 3, 2, 0, 0)]


def _upfirdn(rng, n, L, M, taps, dtype, axis=-1):
    """``n`` samples (a shape along ``axis`` 0)."""
    import scipy.signal

    import polyphase as pp
    x = rng.standard_normal(n).astype(dtype)
    h = rng.standard_normal(taps).astype(dtype)
    where = f"{n} axis=0" if axis == 0 else f"n={n}"
    return (f"upfirdn {where} L={L} M={M} K={taps}", lambda: pp.upfirdn(h, x, L, M, axis=axis),
            lambda: scipy.signal.upfirdn(h, x, L, M, axis=axis))


def _torch_layer(rng, name, n, cin, cout, size, k, stride, padding, output_padding):
    import torch

    import polyphase.nn as pnn
    d = 1 if name.endswith("1d") else 2
    transposed = "transpose" in name
    x = rng.standard_normal((n, cin) + (size,) * d).astype(np.float32)
    w = (rng.standard_normal(((cin, cout) if transposed else (cout, cin)) + (k,) * d)
         / k).astype(np.float32)
    kw = dict(stride=stride, padding=padding)
    if transposed:
        kw["output_padding"] = output_padding
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    ours_fn, torch_fn = getattr(pnn, name), getattr(torch.nn.functional, name)

    def theirs():
        with torch.inference_mode():
            return torch_fn(xt, wt, **kw).numpy()
    label = f"{name} N{n} C{cin}->{cout} {size}^{d} k{k} s{stride} p{padding}"
    return label, lambda: ours_fn(x, w, **kw), theirs


def cases(groups):
    rng = np.random.default_rng(0)
    if "upfirdn" in groups:
        for n, L, M, taps in UPFIRDN:
            for dtype in ("float64", "float32"):
                yield ("scipy", dtype) + _upfirdn(rng, n, L, M, taps, dtype)
    if "axis0" in groups:
        for shape, L, M, taps in AXIS0:
            for dtype in ("float64", "float32"):
                yield ("scipy", dtype) + _upfirdn(rng, shape, L, M, taps, dtype, axis=0)
    if "images" in groups:
        for transposed, size, k, s in IMAGES:
            name = "conv_transpose2d" if transposed else "conv2d"
            yield ("torch", "float32") + _torch_layer(rng, name, 1, 1, 1, size, k, s, 0, 0)
    if "layers" in groups:
        for args in LAYERS:
            yield ("torch", "float32") + _torch_layer(rng, *args)


def run(groups, repeats, threads=1):
    import numba
    numba.set_num_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        groups = [g for g in groups if g in ("upfirdn", "axis0")]
    rows = []
    for peer, dtype, label, ours, theirs in cases(groups):
        a, b = ours(), theirs()
        err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
        if a.shape != b.shape or a.dtype != b.dtype or \
                err > (1e-4 if dtype == "float32" else 1e-9):
            raise AssertionError(f"{label}: results differ ({err:.1e})")
        # (the pause the main suite makes on several threads: the last
        # library's spinning threads idle before the next one's block)
        t = interleaved({"ours": ours, "peer": theirs}, repeats, min_repeat=0.02,
                        gap=float(os.environ.get("PP_BENCH_GAP", 0.15)) if threads > 1 else 0.0)
        row = dict(case=label, dtype=dtype, peer=peer, ours_ms=t["ours"] * 1e3,
                   peer_ms=t["peer"] * 1e3, ratio=t["peer"] / t["ours"])
        rows.append(row)
        print(f"{label:48} {dtype:8} {peer:6} {row['peer_ms']:9.3f} {row['ours_ms']:9.3f} "
              f"{row['ratio']:7.2f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="*",
                        default=["upfirdn", "axis0", "images", "layers"],
                        choices=["upfirdn", "axis0", "images", "layers"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of ours and of the peer (default 1)")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if not args.child:           # a process pinned to its threads, as the main suite
        from .__main__ import _pinned_env
        cmd = [sys.executable, "-m", "benchmarks.sweep", "--child", "--repeats",
               str(args.repeats), "--threads", str(args.threads), "--groups", *args.groups] + \
            (["--json", args.json] if args.json else [])
        return subprocess.run(cmd, env=_pinned_env(args.threads), cwd=ROOT).returncode
    print(f"{'case':48} {'dtype':8} {'peer':6} {'peer ms':>9} {'ours ms':>9} {'ratio':>7}")
    rows = run(args.groups, args.repeats, args.threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

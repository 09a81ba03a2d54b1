"""The benchmark cases of issue #5 (and #3's layer cases), one table row each.

A case builds its data once and returns two callables computing the same
result -- ours and the peer's -- with the useful multiply-accumulates of one
call (multiplications by inserted zeros do not count) and the bytes it must
read and write.  Ids follow ``shared/reference/performance-baseline.md`` §6.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Callable

N = 1 << 22                      # 1-D signals
BATCH = (64, 1 << 16)            # batched signals (rows, samples)


@dataclass
class Case:
    id: str
    label: str
    dtype: str
    peer: str
    target: float | None
    make: Callable               # rng -> (ours, peer, macs, nbytes)
    needs_torch: bool = False
    bandwidth_target: float | None = None    # fraction of copy bandwidth


def _firwin(taps, L, M, dtype):
    from scipy.signal import firwin
    return firwin(taps, 1 / max(L, M, 2)).astype(dtype)      # half band for L = M = 1


def _upfirdn(L, M, taps, dtype, shape, axis):
    def make(rng):
        import scipy.signal

        import polyphase as pp
        h = _firwin(taps, L, M, dtype)
        x = rng.standard_normal(shape).astype(dtype)
        out_n = ((x.shape[axis] - 1) * L + taps - 1) // M + 1
        return (lambda: pp.upfirdn(h, x, L, M, axis=axis),
                lambda: scipy.signal.upfirdn(h, x, L, M, axis=axis),
                x.size * taps / M, x.nbytes * (1 + out_n / x.shape[axis]))
    return make


def _resample(L, M, dtype, shape, axis):
    def make(rng):
        import scipy.signal

        import polyphase as pp
        x = rng.standard_normal(shape).astype(dtype)
        g = gcd(L, M)
        taps = 2 * 10 * max(L, M) // g + 1        # scipy's default design
        return (lambda: pp.resample_poly(x, L, M, axis=axis),
                lambda: scipy.signal.resample_poly(x, L, M, axis=axis),
                x.size * taps / (M // g), x.nbytes * (1 + L / M))
    return make


def _oaconvolve(taps, n, dtype):
    def make(rng):
        import scipy.signal

        import polyphase as pp
        h = _firwin(taps, 1, 2, dtype)
        x = rng.standard_normal(n).astype(dtype)
        return (lambda: pp.upfirdn(h, x), lambda: scipy.signal.oaconvolve(x, h),
                n * taps, x.nbytes * 2)
    return make


def _torch_conv(transposed, d, n, cin, cout, size, k, stride, padding, dtype):
    """conv{d}d / conv_transpose{d}d on a batch of ``n`` with ``cin`` channels."""
    def make(rng):
        import torch

        import polyphase.nn as pnn
        x = rng.standard_normal((n, cin) + (size,) * d).astype(dtype)
        wshape = (cin, cout) if transposed else (cout, cin)
        w = (rng.standard_normal(wshape + (k,) * d) / k ** d).astype(dtype)
        name = f"conv_transpose{d}d" if transposed else f"conv{d}d"
        ours_fn, torch_fn = getattr(pnn, name), getattr(torch.nn.functional, name)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def theirs():
            with torch.inference_mode():
                return torch_fn(xt, wt, stride=stride, padding=padding).numpy()
        out_size = (size - 1) * stride - 2 * padding + k if transposed \
            else (size + 2 * padding - k) // stride + 1
        per_output_pos = size ** d if transposed else out_size ** d
        return (lambda: ours_fn(x, w, stride=stride, padding=padding), theirs,
                n * cin * cout * per_output_pos * k ** d,
                x.nbytes * (1 + (cout / cin) * (out_size / size) ** d))
    return make


def _rows():
    """All cases in table order."""
    rows = []
    up = "scipy.signal.upfirdn"
    rs = "scipy.signal.resample_poly"
    one_d = [  # id, label, L, M, taps, f64 target, f32 target
        ("U1/U2", "upfirdn L=2 K=64", 2, 1, 64, 6, 12),
        ("U3", "upfirdn L=2 K=8 (memory-bound)", 2, 1, 8, None, None),
        ("U4", "decimate M=2 K=64", 1, 2, 64, 4, 8),
        ("U5", "rational 3/2 K=96", 3, 2, 96, 4, 8),
    ]
    layouts = [(None, (N,), -1), ("U7", BATCH, -1), ("U8", BATCH[::-1], 0)]
    for batch_id, shape, axis in layouts:
        where = f" {shape} axis={axis}" if batch_id else ""
        for ids, label, L, M, taps, t64, t32 in one_d:
            for dtype, target, cid in (("float64", t64, ids.split("/")[0]),
                                       ("float32", t32, ids.split("/")[-1])):
                if batch_id == "U8" and target is not None:
                    target = 10 if dtype == "float64" else 20
                rows.append(Case(batch_id or cid, label + where, dtype, up, target,
                                 _upfirdn(L, M, taps, dtype, shape, axis),
                                 bandwidth_target=0.6 if cid == "U3" else None))
        for dtype, target in (("float64", 3), ("float32", 5)):
            if batch_id == "U8":
                target = 10 if dtype == "float64" else 20
            rows.append(Case(batch_id or "U6", "resample_poly 160/147" + where, dtype, rs,
                             target, _resample(160, 147, dtype, shape, axis)))
    for n in (256, 4096):
        for taps in (8, 64):
            rows.append(Case("U10", f"short n={n} L=2 K={taps}", "float64", up, 1.5,
                             _upfirdn(2, 1, taps, "float64", (n,), -1)))
    for L, taps in ((1, 2048), (2, 2048)):
        rows.append(Case("L1", f"long filter L={L} K={taps} n=2^19", "float64", up, 10,
                         _upfirdn(L, 1, taps, "float64", (1 << 19,), -1)))
    rows.append(Case("L1", "long filter L=M=1 K=2048 n=2^22", "float64",
                     "scipy.signal.oaconvolve", 1 / 1.2, _oaconvolve(2048, N, "float64")))
    convs = [  # id, transposed, d, N, C_in, C_out, size, k, stride, padding, dtype, target
        ("C1", True, 2, 1, 1, 1, 512, 3, 2, 0, "float32", 10),
        ("C1", True, 2, 1, 1, 1, 512, 4, 2, 0, "float32", 10),
        ("C1", True, 2, 1, 1, 1, 512, 3, 2, 0, "float64", 10),
        ("C1", True, 2, 1, 1, 1, 512, 4, 2, 0, "float64", 10),
        ("C2", True, 2, 1, 1, 1, 2048, 4, 2, 0, "float32", 10),
        ("C3", True, 1, 1, 1, 1, N, 8, 2, 0, "float32", 10),
        ("C3", True, 1, 1, 1, 1, N, 64, 2, 0, "float32", 10),
        ("C5", True, 2, 8, 64, 64, 64, 4, 2, 1, "float32", 1),
        ("C6", True, 1, 8, 64, 64, 4096, 4, 2, 1, "float32", 1),
        ("C7", False, 2, 8, 64, 64, 64, 4, 2, 1, "float32", 1),
        ("C7", False, 1, 8, 64, 64, 4096, 4, 2, 1, "float32", 1),
        # issue #3's single-channel strided convolutions
        ("C8", False, 2, 1, 1, 1, 512, 3, 2, 0, "float32", 10),
        ("C8", False, 2, 1, 1, 1, 512, 4, 2, 0, "float32", 10),
        ("C8", False, 2, 1, 1, 1, 2048, 4, 2, 0, "float32", 10),
    ]
    for cid, tr, d, n, cin, cout, size, k, s, p, dtype, target in convs:
        size_s = f"{size}^{d}" if d > 1 else f"L{size}"
        label = (f"{'convT' if tr else 'conv'}{d}d N{n} C{cin}->{cout} {size_s} "
                 f"k{k} s{s} p{p}")
        name = f"torch conv{'_transpose' if tr else ''}{d}d"
        rows.append(Case(cid, label, dtype, name, target,
                         _torch_conv(tr, d, n, cin, cout, size, k, s, p, dtype),
                         needs_torch=True))
    return rows


CASES = _rows()

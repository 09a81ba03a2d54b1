"""Command line: ``python -m polyphase explain --stride 2 --kernel 1,2,1``.

``explain`` prints, for a stride ``s`` and a kernel ``q``, the strided
convolution ``Down(s) @ Conv(q)``, its polyphase components and its dense
matrix on a short signal, then its transpose -- the transposed
("deconvolution") layer ``Conv(q).T @ Up(s)`` -- and checks the identities
that connect them.  It ends with the checkerboard analysis of the transposed
convolution (per-phase DC gains and a verdict) and saves figures of the
frequency response, the polyphase components, the checkerboard analysis and
the aliasing (bifrequency) map as PNGs in ``--figures DIR`` (default
``./polyphase-figures``; ``--no-figures`` to skip).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def _kernel(text: str) -> np.ndarray:
    try:
        values = [complex(v) if "j" in v else float(v)
                  for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--kernel must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("--kernel must not be empty")
    return np.array(values)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def _components(op) -> None:
    E = op.polyphase()
    print(f"rates: {E.up} output sample(s) per {E.down} input sample(s)")
    for p in range(E.up):
        for q in range(E.down):
            taps, offset = E.entry(p, q)
            if taps.size:
                print(f"  E[{p},{q}](z) = taps {np.array2string(taps)} "
                      f"starting at block delay {offset}")
            else:
                print(f"  E[{p},{q}](z) = 0")


def explain(stride: int, kernel: np.ndarray, length: int, mode: str) -> None:
    from . import Conv, Down, Repeat, Up

    q = kernel
    strided = Down(stride) @ Conv(q)
    transposed = Conv(q).T @ Up(stride)

    _section("strided convolution")
    print(f"operator: {strided!r}")
    print(f"keeps one sample in {stride} of the convolution of x with "
          f"{np.array2string(q)}")
    print("polyphase components (output phase p, input phase q):")
    _components(strided)
    print(f"its matrix on a length-{length} signal (mode={mode!r}):")
    print(strided.matrix(length, mode))

    _section("its transpose: the transposed convolution ('deconvolution')")
    print(f"operator: {strided.T!r}")
    print(f"equals {transposed!r}: {strided.T.equals(transposed)}")
    print("polyphase components: the transposed matrix, each filter time-reversed")
    _components(strided.T)
    A = strided.on(length, mode)
    print(f"matrix of the adjoint of the map above ({A.shape[1]}x{A.shape[0]}):")
    print(A.H @ np.eye(A.shape[0]))
    print("inserted zeros are never multiplied: output phase p only uses the taps "
          "q[p::stride]")

    _section("repeat-upsample, then convolve")
    box = np.convolve(np.ones(stride), q)
    lhs, rhs = Conv(q) @ Repeat(stride), Conv(box) @ Up(stride)
    print(f"{lhs!r} equals {rhs!r}: {lhs.equals(rhs)}")
    print(f"a transposed convolution with the longer kernel {np.array2string(box)}")

    _checkerboard(stride, q)


def _checkerboard(stride: int, q: np.ndarray) -> None:
    from . import analysis

    # Conv(q).T @ Up(s) scatters every input sample through the reversed kernel:
    # y[s*m + k] += x[m] * w[k] with w = q[::-1].
    w = q[::-1]
    _section("checkerboard analysis of the transposed convolution")
    if np.iscomplexobj(w):
        print("skipped: the checkerboard analysis needs a real kernel")
        return
    report = analysis.checkerboard(w, stride)
    print(f"scatter kernel w = {np.array2string(w)} (q reversed), stride {stride}")
    print(f"phase gains g_r = sum_j w[r + j*{stride}] (DC gain of output phase r): "
          f"{np.array2string(np.asarray(report.gains))}")
    print(f"max/min ratio: {_number(report.ratio)}   ripple (max-min)/mean: "
          f"{_number(report.ripple)}   alias fraction: {_number(report.alias_fraction)}")
    print(f"checkerboard-free: {bool(report.is_free)}")
    print("verdict: " + _verdict(w.size, stride, bool(report.is_free)))


def _number(v) -> str:
    v = np.asarray(v)
    if v.ndim == 0 and not np.iscomplexobj(v):
        return f"{float(v):.6g}"
    return np.array2string(v)


def _verdict(size: int, stride: int, free: bool) -> str:
    divisible = size % stride == 0
    gains = ("all phase gains are equal (w contains the zero-order hold of length "
             f"{stride}), so a constant input gives a constant output" if free else
             "the phase gains differ, so a constant input gives a periodic "
             "(checkerboard) output")
    rule = "the 'kernel size divisible by stride' rule is the wrong test"
    if divisible and not free:
        rule += f": size {size} is divisible by stride {stride}, yet the gains differ"
    elif free and not divisible:
        rule += (f": size {size} is not divisible by stride {stride}, yet the gains "
                 "are equal")
    else:
        rule += (f" (size {size} is {'' if divisible else 'not '}divisible by stride "
                 f"{stride}; it agrees here by coincidence, the gains decide)")
    return f"{'no checkerboard' if free else 'CHECKERBOARD'}: {gains}; {rule}."


def save_figures(stride: int, q: np.ndarray, directory) -> list:
    """Write the four PNGs of ``explain`` into ``directory``; return their paths."""
    from . import Conv, Down, Up, plot

    os.makedirs(directory, exist_ok=True)
    strided = Down(stride) @ Conv(q)
    transposed = Conv(q).T @ Up(stride)
    paths = []

    def save(ax, name):
        axes = ax if isinstance(ax, (tuple, list)) else (ax,)
        path = os.path.join(directory, name)
        axes[0].figure.savefig(path, dpi=100)
        paths.append(path)

    save(plot.frequency_response(q), "frequency_response.png")
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot.polyphase_components(strided, ax=left)
    plot.polyphase_components(transposed, ax=right)
    save(left, "polyphase_components.png")
    if not np.iscomplexobj(q):
        save(plot.checkerboard(q[::-1], stride), "checkerboard.png")
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot.aliasing(strided, ax=left)
    plot.aliasing(transposed, ax=right)
    save(left, "aliasing.png")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m polyphase",
        description="Multirate operators explained with their polyphase matrices.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="a strided convolution and its transpose")
    ex.add_argument("-s", "--stride", type=_positive, default=2)
    ex.add_argument("-k", "--kernel", type=_kernel, default=_kernel("1,2,1"),
                    help="comma-separated taps (default 1,2,1)")
    ex.add_argument("-n", "--length", type=_positive, default=6,
                    help="signal length for the dense matrices (default 6)")
    ex.add_argument("-m", "--mode", choices=("full", "same", "valid"),
                    default="full", help="output window (default full)")
    figs = ex.add_mutually_exclusive_group()
    figs.add_argument("--figures", metavar="DIR", default="polyphase-figures",
                      help="directory for the PNG figures, created if missing "
                           "(default ./polyphase-figures)")
    figs.add_argument("--no-figures", action="store_true",
                      help="print the analysis only, save no figures")
    args = parser.parse_args(argv)
    with np.printoptions(precision=4, suppress=True, linewidth=100):
        explain(args.stride, args.kernel, args.length, args.mode)
    if not args.no_figures:
        paths = save_figures(args.stride, args.kernel, args.figures)
        _section("figures")
        for path in paths:
            print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

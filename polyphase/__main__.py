"""Command line: ``python -m polyphase explain --stride 2 --kernel 1,2,1``.

``explain`` prints, for a stride ``s`` and a kernel ``q``, the strided
convolution ``Down(s) @ Conv(q)``, its polyphase components and its dense
matrix on a short signal, then its transpose -- the transposed
("deconvolution") layer ``Conv(q).T @ Up(s)`` -- and checks the identities
that connect them.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args(argv)
    with np.printoptions(precision=4, suppress=True, linewidth=100):
        explain(args.stride, args.kernel, args.length, args.mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())

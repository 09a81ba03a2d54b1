"""Strided convolution, its transpose, and "deconvolution" layers, numerically.

The story of the seed question ("what do deconvolutional layers do?") in
numbers:

1. A strided convolution is ``Down(s) @ Conv(q)``: a convolution whose output
   keeps every s-th sample.  Its matrix keeps every s-th row of the
   convolution matrix.
2. Its transpose, which is also the gradient with respect to its input, is
   ``Conv(q).T @ Up(s)``: insert zeros, then correlate with q.  A transposed
   convolution ("deconvolution") layer uses this backward pass as its forward
   pass.
3. Nearest-neighbour (repeat) upsampling followed by a convolution with q is a
   transposed convolution with the kernel ``np.convolve(ones(s), q)``.
4. ``polyphase.upfirdn`` agrees with ``scipy.signal.upfirdn``.

Run with ``python examples/strided_vs_transposed.py``; it checks every claim
and exits with status 0.
"""

import os
import sys

import numpy as np
import scipy.signal

# Allow running from a source checkout without installing the package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import polyphase as pp  # noqa: E402

np.set_printoptions(precision=4, suppress=True, linewidth=100)
rng = np.random.default_rng(0)


def section(title):
    print()
    print(title)
    print("-" * len(title))


def check(label, ok):
    print(f"  [{'ok' if ok else 'FAILED'}] {label}")
    if not ok:
        raise SystemExit(f"check failed: {label}")


s = 2                                    # stride
q = np.array([1., 2., 3.])               # kernel (q0, q1, q2)
N = 6                                    # input length

# ----------------------------------------------------------------------------
section("1. A strided convolution is Down(s) @ Conv(q)")
S = pp.Down(s) @ pp.Conv(q)
print(f"operator: {S!r}, rates (up, down) = {S.rates}")
C = pp.Conv(q).matrix(N, mode="same")
print("convolution matrix Conv(q).matrix(6, 'same'):")
print(C)
print("keep every second row, Down(2).matrix(6) @ C:")
print(pp.Down(s).matrix(N) @ C)
print("the strided-convolution operator on the full window, S.matrix(6):")
print(S.matrix(N))
x = rng.standard_normal(N)
check("S(x) == np.convolve(x, q)[::2]", np.allclose(S(x), np.convolve(x, q)[::s]))

# ----------------------------------------------------------------------------
section("2. Its transpose is the transposed convolution Conv(q).T @ Up(s)")
T = pp.Conv(q).T @ pp.Up(s)
print(f"S.T = {S.T!r}")
print(f"T   = {T!r}")
check("S.T.equals(Conv(q).T @ Up(s))   (exact, polyphase matrices)", S.T.equals(T))

A = S.on(N)                              # finite map: R^6 -> R^4, full window
print(f"finite map: {A!r}")
y = rng.standard_normal(A.shape[0])
dense_T = S.matrix(N).T
print("S.matrix(6).T, the matrix of the backward pass:")
print(dense_T)
# The full window of S starts at output index 0, so the adjoint is T applied
# to y (placed at index 0) and read on input indices [0, N).
check("T(y, mode=(0, N)) == S.matrix(N).T @ y",
      np.allclose(T(y, mode=(0, N)), dense_T @ y))
check("on(N).rmatvec(y) == S.matrix(N).T @ y", np.allclose(A.rmatvec(y), dense_T @ y))
lhs, rhs = A.matvec(x) @ y, x @ A.rmatvec(y)
print(f"  dot-product test: <S x, y> = {lhs:.12f}, <x, S^T y> = {rhs:.12f}")
check("dot-product test", np.isclose(lhs, rhs, rtol=1e-12, atol=0))

# The gradient of L(x) = 0.5 * ||S x - t||^2 is S^T (S x - t): check it
# against central finite differences.
t = rng.standard_normal(A.shape[0])
grad = A.rmatvec(A.matvec(x) - t)
eps = 1e-6
fd = np.array([(0.5 * np.sum((A.matvec(x + eps * e) - t) ** 2)
                - 0.5 * np.sum((A.matvec(x - eps * e) - t) ** 2)) / (2 * eps)
               for e in np.eye(N)])
print("  gradient S^T (S x - t):", grad)
print("  finite differences:    ", fd)
check("the backward pass of a strided convolution is its transpose",
      np.allclose(grad, fd, atol=1e-6))

# Not an inverse: S @ S.T is a convolution, not the identity.
check("S @ S.T == Delay(-1) @ Conv([3, 14, 3])  (not the identity)",
      (S @ S.T).equals(pp.Delay(-1) @ pp.Conv([3., 14., 3.]))
      and not (S @ S.T).equals(pp.Identity()))

# ----------------------------------------------------------------------------
section("3. PyTorch's conv1d / conv_transpose1d as operators")
# torch's conv1d(x, w, stride=s, padding=p) is a correlation:
#     Down(s) @ Delay(p) @ Conv(w).T   on the window (0, O).
# conv_transpose1d(x, w, stride=s, padding=p, output_padding=a) is its
# transpose, Conv(w) @ Up(s), on the window (p, p + O).  The expected values
# below are what PyTorch returns for these inputs.
w = np.array([1., 10., 100.])
x5, x3 = np.arange(1., 6.), np.array([1., 2., 3.])
cases_conv = [(2, 0, [321, 543]), (2, 1, [210, 432, 54]), (1, 0, [321, 432, 543])]
for st, p, expected in cases_conv:
    O = (x5.size + 2 * p - w.size) // st + 1
    out = (pp.Down(st) @ pp.Delay(p) @ pp.Conv(w).T)(x5, mode=(0, O))
    print(f"  conv1d          s={st} p={p}:      {out}")
    check(f"matches torch conv1d s={st} p={p}", np.array_equal(out, expected))
cases_tconv = [(2, 0, 0, [1, 10, 102, 20, 203, 30, 300]),
               (2, 0, 1, [1, 10, 102, 20, 203, 30, 300, 0]),
               (2, 1, 0, [10, 102, 20, 203, 30]),
               (2, 1, 1, [10, 102, 20, 203, 30, 300]),
               (3, 0, 0, [1, 10, 100, 2, 20, 200, 3, 30, 300])]
for st, p, a, expected in cases_tconv:
    O = (x3.size - 1) * st - 2 * p + w.size + a
    out = (pp.Conv(w) @ pp.Up(st))(x3, mode=(p, p + O))
    print(f"  conv_transpose1d s={st} p={p} op={a}: {out}")
    check(f"matches torch conv_transpose1d s={st} p={p} output_padding={a}",
          np.array_equal(out, expected))
check("conv_transpose1d is the transpose of conv1d (s=2, p=1)",
      (pp.Down(2) @ pp.Delay(1) @ pp.Conv(w).T).T.equals(
          pp.Conv(w) @ pp.Delay(-1) @ pp.Up(2)))

# ----------------------------------------------------------------------------
section("4. Repeat-upsample, then convolve == transposed convolution")
for st in (2, 3):
    kernel = np.convolve(np.ones(st), q)
    R = pp.Conv(q) @ pp.Repeat(st)
    TC = pp.Conv(kernel) @ pp.Up(st)
    print(f"  s={st}: Conv(q) @ Repeat({st})  ==  Conv({kernel}) @ Up({st})")
    check(f"exact equality (s={st})", R.equals(TC))
    xr = rng.standard_normal(7)
    direct = np.convolve(np.repeat(xr, st), q)          # numpy, literally
    check(f"numerically: np.convolve(np.repeat(x, {st}), q) == TC(x)",
          np.allclose(direct, TC(xr)[:direct.size]))
# Checkerboard: output phase k of a transposed convolution on a constant
# input is the sum of the k-th polyphase component of its kernel.
print("  constant input through Conv(q) @ Up(2):   ", (pp.Conv(q) @ pp.Up(2))(np.ones(6)))
print("  constant input through Conv(q) @ Repeat(2):", (pp.Conv(q) @ pp.Repeat(2))(np.ones(6)))
print("  polyphase component sums:", pp.decompose(q, 2).sum(axis=1),
      "vs", pp.decompose(np.convolve(np.ones(2), q), 2).sum(axis=1))

# ----------------------------------------------------------------------------
section("5. upfirdn == Down(down) @ Conv(h) @ Up(up), == scipy.signal.upfirdn")
worst = 0.0
count = 0
for up, down in [(1, 1), (2, 1), (1, 3), (3, 2), (2, 3), (5, 4)]:
    for K in (1, 4, 11):
        h = rng.standard_normal(K)
        for n in (2, 9, 32):
            xu = rng.standard_normal(n)
            for mode in ("constant", "symmetric", "reflect", "edge", "wrap",
                         "smooth", "antisymmetric", "antireflect", "line"):
                ours = pp.upfirdn(h, xu, up, down, mode=mode)
                ref = scipy.signal.upfirdn(h, xu, up, down, mode=mode)
                if ours.shape != ref.shape:
                    raise SystemExit(f"shape mismatch: up={up} down={down} K={K} "
                                     f"n={n} mode={mode}: {ours.shape} != {ref.shape}")
                worst = max(worst, float(np.max(np.abs(ours - ref))))
                count += 1
print(f"  {count} cases (6 rate pairs x 3 kernels x 3 lengths x 9 modes), "
      f"max |polyphase - scipy| = {worst:.2e}")
check("upfirdn agrees with scipy.signal.upfirdn", worst < 1e-12)
h = np.arange(1., 9.)
xu = rng.standard_normal(20)
op = pp.Down(2) @ pp.Conv(h) @ pp.Up(3)
n_out = ((xu.size - 1) * 3 + h.size - 1) // 2 + 1
check("upfirdn(h, x, 3, 2) == (Down(2) @ Conv(h) @ Up(3))(x, mode=(0, n_out))",
      np.allclose(pp.upfirdn(h, xu, 3, 2), op(xu, mode=(0, n_out))))
E = op.polyphase()
# The engine runs the canonical polyphase matrix: one multiply per nonzero
# tap, i.e. K multiplies per period of 3 outputs.  Zero-stuffing by 3,
# filtering and discarding every other sample costs K multiplies per computed
# sample and computes 2 samples per kept one.
print(f"  polyphase matrix of {op!r}: {E.up} x {E.down}")
print(f"  multiplies per output sample: polyphase {np.count_nonzero(E.coef) / E.up:.2f}, "
      f"literal zero-stuff/filter/discard {h.size * 2}")

print()
print("all checks passed")

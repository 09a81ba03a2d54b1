"""Polyphase components of a lowpass interpolation filter.

An interpolator by L upsamples (inserts L - 1 zeros after every sample) and
then lowpass-filters with h.  Split h into its type-1 polyphase components

    e_k[n] = h[n*L + k],   k = 0, ..., L - 1       (polyphase.decompose)

Output phase k of the interpolator, y[n*L + k], is then np.convolve(e_k, x):
L short filters running at the *input* rate, with no zero ever multiplied.
This is exactly the polyphase matrix of ``Conv(h) @ Up(L)``: a column
(E_0, ..., E_{L-1}).

Run with ``python examples/polyphase_components.py``; it checks every claim
and exits with status 0.
"""

import os
import sys

import numpy as np
import scipy.signal

# Allow running from a source checkout without installing the package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import polyphase as pp  # noqa: E402

np.set_printoptions(precision=5, suppress=True, linewidth=100)


def check(label, ok):
    print(f"  [{'ok' if ok else 'FAILED'}] {label}")
    if not ok:
        raise SystemExit(f"check failed: {label}")


L = 4                     # interpolation factor
K = 48                    # filter length, a multiple of L here (not required)
# Lowpass with cutoff at the input Nyquist frequency (1/L of the output
# Nyquist), scaled by L so that the interpolator has unit gain.
h = L * scipy.signal.firwin(K, 1.0 / L)
print(f"lowpass h: {K} taps, firwin(cutoff=1/{L}) * {L}, sum(h) = {h.sum():.6f}")

# ----------------------------------------------------------------------------
print("\n1. Polyphase components e_k[n] = h[n*L + k]")
E = pp.decompose(h, L)
print(f"  decompose(h, {L}) has shape {E.shape}: {L} phases of {E.shape[1]} taps")
for k in range(L):
    print(f"  e_{k} = {E[k, :6]} ...   sum = {E[k].sum():.6f}")
check("e_k == h[k::L]", all(np.array_equal(E[k], h[k::L]) for k in range(L)))
check("interleave(decompose(h)) == h", np.array_equal(pp.interleave(E, length=K), h))
# Every phase has (nearly) unit DC gain, so a constant input gives a constant
# output: no checkerboard / "imaging" of DC.
print(f"  max |sum(e_k) - 1| = {np.max(np.abs(E.sum(axis=1) - 1)):.2e}"
      " (a flat input gives a flat output when all phase sums are equal)")

# ----------------------------------------------------------------------------
print("\n2. The polyphase matrix of the interpolator Conv(h) @ Up(L)")
interp = pp.Conv(h) @ pp.Up(L)
P = interp.polyphase()
print(f"  {interp!r}: rates (up, down) = ({P.up}, {P.down})")
for k in range(L):
    taps, offset = P.entry(k, 0)
    print(f"  E[{k}, 0]: {taps.size} taps from block delay {offset}")
check("entry(k, 0) of the polyphase matrix is e_k",
      all(np.allclose(P.entry(k, 0)[0], np.trim_zeros(E[k], "b"))
          and P.entry(k, 0)[1] == 0 for k in range(L)))

# ----------------------------------------------------------------------------
print("\n3. Output phase k of the interpolator is np.convolve(e_k, x)")
rng = np.random.default_rng(0)
x = rng.standard_normal(50)
y = interp(x)
print(f"  x: {x.size} samples -> y = (Conv(h) @ Up({L}))(x): {y.size} samples")
for k in range(L):
    phase = np.convolve(E[k], x)              # runs at the input rate
    err = np.max(np.abs(y[k::L][:phase.size] - phase))
    print(f"  phase {k}: y[{k}::{L}] vs np.convolve(e_{k}, x): max error {err:.2e}")
    check(f"phase {k} matches", err < 1e-12)
# The same thing, the way scipy computes it.
ref = scipy.signal.upfirdn(h, x, L)
check("(Conv(h) @ Up(L))(x) == scipy.signal.upfirdn(h, x, L)",
      np.allclose(y[:ref.size], ref) and not np.any(y[ref.size:]))
check("polyphase.upfirdn(h, x, L) == scipy.signal.upfirdn(h, x, L)",
      np.allclose(pp.upfirdn(h, x, L), ref))

# ----------------------------------------------------------------------------
print("\n4. It interpolates")
f = 0.03                                      # cycles per input sample
n = np.arange(200)
xs = np.sin(2 * np.pi * f * n)
ys = interp(xs)
delay = (K - 1) / 2                           # linear-phase delay, output samples
m = np.arange(ys.size)
ideal = np.sin(2 * np.pi * f * (m - delay) / L)
interior = slice(K, (n.size - 1) * L - K)     # away from both edges
err = np.max(np.abs(ys[interior] - ideal[interior]))
print(f"  sin(2*pi*{f}*n) upsampled by {L}: max interior error against the"
      f" analytic signal {err:.1e}")
check("interior error below 1e-2", err < 1e-2)

# ----------------------------------------------------------------------------
print("\n5. Cost")
taps = np.count_nonzero(P.coef)
print(f"  polyphase: {taps} nonzero taps per period of {L} outputs = "
      f"{taps / L:.0f} multiplies per output sample")
print(f"  literal zero-stuff then filter: {K} multiplies per output sample,"
      f" {K - K // L} of them on inserted zeros")

print("\nall checks passed")

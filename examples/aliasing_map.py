"""The aliasing (bifrequency) map of a rational resampler.

A resampler by 3/2 is ``UpFirDn(h, up=3, down=2) == Down(2) @ Conv(h) @ Up(3)``.
Zero insertion makes 3 copies (images) of the input spectrum; the lowpass
``h`` should keep one; taking every second sample then folds pairs of
frequencies together (aliasing).  The bifrequency map shows where each input
frequency ends up: the wanted line ``w_out = (2/3) w_in`` and, for a poor
filter, the images and aliases the filter lets through.

Two filters with the same DC gain 3:

* ``scipy.signal.resample_poly``'s default: a Kaiser-windowed sinc of 61 taps
  with cutoff ``pi / 3``;
* linear interpolation, the 5-tap triangle ``[1, 2, 3, 2, 1] / 3``.

Writes ``aliasing_map.png`` into the directory given as the first argument
(default ``examples/output/``).  Run with
``python examples/aliasing_map.py [OUTPUT_DIR]``.
"""

import os
import sys

import numpy as np
import scipy.signal

# Allow running from a source checkout without installing the package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from matplotlib.figure import Figure  # noqa: E402

import polyphase as pp  # noqa: E402
from polyphase import analysis, plot  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else \
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
os.makedirs(OUT, exist_ok=True)
np.set_printoptions(precision=4, suppress=True)


def check(label, ok):
    print(f"  [{'ok' if ok else 'FAILED'}] {label}")
    if not ok:
        raise SystemExit(f"check failed: {label}")


L, M = 3, 2
half = 10 * max(L, M)
good = L * scipy.signal.firwin(2 * half + 1, 1 / max(L, M), window=("kaiser", 5.0))
poor = np.array([1.0, 2, 3, 2, 1]) / 3
filters = {"Kaiser sinc, 61 taps (resample_poly)": good,
           "linear interpolation, 5 taps": poor}


def split(res):
    """Gain of the wanted component and of the worst image/alias, per input frequency.

    The input ``e^{j t n}``, ``t`` taken in ``(-pi, pi]``, should leave as
    ``e^{j t M / L n}``; every other output component is an image or an alias.
    """
    t = np.angle(np.exp(1j * res.input_freqs))
    want = np.mod(t * M / L, 2 * np.pi)
    dist = np.abs(np.angle(np.exp(1j * (res.output_freqs - want))))
    k = np.argmin(dist, axis=0)
    cols = np.arange(res.input_freqs.size)
    wanted = np.abs(res.gains[k, cols])
    others = np.abs(res.gains).copy()
    others[k, cols] = 0
    return wanted, others.max(axis=0)


print(f"resampling by {L}/{M}: UpFirDn(h, up={L}, down={M})")
fig = Figure(figsize=(12, 9), layout="constrained")
axes = fig.subplots(2, 2)
worst = {}
for col, (name, h) in enumerate(filters.items()):
    op = pp.UpFirDn(h, up=L, down=M)
    check(f"{name}: UpFirDn == Down({M}) @ Conv(h) @ Up({L})",
          op.equals(pp.Down(M) @ pp.Conv(h) @ pp.Up(L)))
    res = analysis.aliasing(op, worN=1024)
    print(f"  rates {res.rates}: each input frequency leaves as {res.gains.shape[0]} "
          "output frequencies")
    wanted, unwanted = split(res)
    # the band a 3/2 resampler should pass: |input frequency| below 0.8 pi
    # (the Kaiser filter's transition band is above)
    band = np.abs(np.angle(np.exp(1j * res.input_freqs))) < 0.8 * np.pi
    worst[name] = plot.to_db(unwanted[band].max())
    print(f"  {name}: passband gain {wanted[band].min():.3f}..{wanted[band].max():.3f}, "
          f"worst image/alias {worst[name]:.1f} dB")

    ax = plot.aliasing(op, ax=axes[0, col], n=128)
    ax.set_title(f"{name}\nbifrequency map of UpFirDn(h, {L}, {M})", fontsize="medium")
    w_in, w_out, mag = analysis.bifrequency(op, n=128)
    check("the map's image is the bifrequency magnitude (dB)",
          np.allclose(np.asarray(ax.images[0].get_array()),
                      np.maximum(plot.to_db(mag), plot.to_db(mag).max() - 100)))

    ax = axes[1, col]
    x = res.input_freqs / np.pi
    ax.plot(x, plot.to_db(wanted), label="wanted: $\\omega_{out} = 2\\omega_{in}/3$")
    ax.plot(x, plot.to_db(unwanted), label="largest image / alias")
    ax.axvspan(0, 0.8, color="0.9", zorder=0, label="band checked")
    ax.axvspan(1.2, 2, color="0.9", zorder=0)
    ax.set_ylim(-120, 10)
    ax.set_xlim(0, 2)
    ax.set_xlabel(r"input frequency $\omega_{in} / \pi$")
    ax.set_ylabel("gain (dB)")
    ax.set_title(f"worst image/alias for $|\\omega_{{in}}| < 0.8\\pi$: "
                 f"{worst[name]:.1f} dB",
                 fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")

fig.suptitle(f"rational resampling by {L}/{M}: where every input frequency goes")
path = os.path.join(OUT, "aliasing_map.png")
fig.savefig(path, dpi=80)
print(f"  saved {path}")

good_db, poor_db = worst.values()
check("the Kaiser filter keeps images/aliases below -40 dB in the band", good_db < -40)
check("linear interpolation lets them through above -20 dB", poor_db > -20)

# cross-check the map against the engine: a tone at input bin k comes out at the
# output bins the map marks
n = 96                                     # one period of the input, a multiple of M
k = 20
tone = np.exp(2j * np.pi * k * np.arange(4 * n) / n)
y = pp.UpFirDn(poor, L, M)(tone)[len(poor):len(poor) + n * L // M]
spectrum = np.abs(np.fft.fft(y)) / y.size
_, _, mag = analysis.bifrequency(pp.UpFirDn(poor, L, M), n=n)
check("engine output of a tone == the map's column (linear interpolation)",
      np.allclose(spectrum, mag[:, k], atol=1e-9))
print("\nall checks passed")

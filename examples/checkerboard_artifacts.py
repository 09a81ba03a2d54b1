"""Checkerboard artifacts on a photograph: transposed convolution vs its remedies.

A photograph (Grace Hopper, shipped with matplotlib) is box-downsampled by 2
and upsampled back by 2 in four ways, all with a 3x3 box kernel:

1. a stride-2 transposed convolution ("deconvolution") with the scatter kernel
   ``w = ones((3, 3)) * 4/9`` (unit mean gain) -- Odena et al.'s uneven overlap:
   the four output phases get 4, 2, 2 and 1 kernel taps;
2. resize-convolution: nearest-neighbour x2, then a stride-1 3x3 box filter
   ``q = ones((3, 3)) / 9`` (Odena et al.'s remedy);
3. the transposed convolution with the ZOH-corrected kernel
   ``make_checkerboard_free(w, 2, "zoh")`` = ``w * ones((2, 2)) / 4``
   (Sugawara et al.'s fixed zero-order-hold layer folded into the kernel);
4. the transposed convolution with ``make_checkerboard_free(w, 2,
   "renormalize")`` (each polyphase component scaled to the mean gain).

The polyphase DC gains ``g_r = sum_j w[r + 2j]`` predict the artifact
exactly: every output phase of the full transposed convolution sums to
``g_r * sum(x)``, so the photograph is multiplied by the 2x2 tile
``[[16, 8], [8, 4]] / 9``.  Resize-convolution *is* a transposed convolution
whose kernel contains the zero-order hold (``Conv(q) @ Repeat(2) == Conv((1, 1)
* q) @ Up(2)``), so 2 and 3 are the same operator (with ``padding=1`` they
agree to the last pixel), and all three remedies have equal phase gains.

Writes ``checkerboard_artifacts.png`` (zoomed crops, phase-gain tiles and
outputs for a constant input) and ``checkerboard_spectra.png`` (radial power
spectra, Durall et al. 2020: the checkerboard puts a peak at the highest
frequencies) into the directory given as the first argument (default
``examples/output/``).

Run with ``python examples/checkerboard_artifacts.py [OUTPUT_DIR]``.
"""

import os
import sys

import numpy as np

# Allow running from a source checkout without installing the package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from matplotlib import cbook, image  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import polyphase as pp  # noqa: E402
from polyphase import analysis, nn, plot  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else \
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
os.makedirs(OUT, exist_ok=True)
np.set_printoptions(precision=4, suppress=True)


def check(label, ok):
    print(f"  [{'ok' if ok else 'FAILED'}] {label}")
    if not ok:
        raise SystemExit(f"check failed: {label}")


# ----------------------------------------------------------------- the photo
with cbook.get_sample_data("grace_hopper.jpg") as f:
    rgb = image.imread(f, format="jpg")
photo = rgb[..., :3] @ np.array([0.2989, 0.5870, 0.1140]) / 255.0     # gray, [0, 1]
H, W = photo.shape
small = photo.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))        # box-downsample
print(f"photo {photo.shape} -> low resolution {small.shape} -> upsampled x2")
x = small[None, None]                                                 # NCHW

# ------------------------------------------------------------ the four layers
w = np.ones((3, 3)) * 4 / 9                       # scatter kernel, mean phase gain 1
q = np.ones((3, 3)) / 9                           # stride-1 box filter
w_zoh = analysis.make_checkerboard_free(w, 2, method="zoh")
w_ren = analysis.make_checkerboard_free(w, 2, method="renormalize")
print("kernels:\n  w =", w[0], "(x3 rows)\n  zoh =", w_zoh[1], "(middle row)\n"
      "  renormalized =", w_ren[1], "(middle row)")

outputs = {
    # torch semantics: y[2m + k] += x[m] w[k]; padding=1 crops one sample per side
    "transposed conv": nn.conv_transpose2d(x, w[None, None], stride=2, padding=1,
                                           output_padding=1)[0, 0],
    "resize-conv": nn.conv2d(nn.interpolate(x, scale_factor=2, mode="nearest"),
                             q[None, None], padding=1)[0, 0],
    "ZOH-corrected": nn.conv_transpose2d(x, w_zoh[None, None], stride=2, padding=1)[0, 0],
    "renormalized": nn.conv_transpose2d(x, w_ren[None, None], stride=2, padding=1,
                                        output_padding=1)[0, 0],
}
# the same layers as kernels of Conv(k) @ Up(2): resize-conv's is (1, 1) * q
kernels = {"transposed conv": w,
           "resize-conv": np.outer([1, 2, 2, 1], [1, 2, 2, 1]) / 9,    # (1, 1) * q
           "ZOH-corrected": w_zoh, "renormalized": w_ren}
for name, y in outputs.items():
    assert y.shape == photo.shape, (name, y.shape)

# ---------------------------------------------------------------- the checks
print("\n1. Phase gains predict the artifact")
report = analysis.checkerboard(w, 2)
print(f"  transposed conv: gains\n{report.gains}\n  max/min {report.ratio:.3g}, "
      f"ripple {report.ripple:.3g}, alias fraction {report.alias_fraction:.3g}")
full = nn.conv_transpose2d(x, w[None, None], stride=2)[0, 0]        # every output
sums = np.array([[full[a::2, b::2].sum() for b in range(2)] for a in range(2)])
check("each output phase of the full layer sums to g_r * sum(x)",
      np.allclose(sums, report.gains * small.sum()))
for name, k in kernels.items():
    r = analysis.checkerboard(k, 2)
    print(f"  {name:16s} gains {r.gains.ravel()}  free: {r.is_free}")
check("resize-conv, ZOH and renormalized kernels are checkerboard-free",
      all(analysis.checkerboard(kernels[n], 2).is_free for n in list(kernels)[1:]))


def phase_means(y, margin=8):
    """Mean of each of the 2x2 output phases over the interior, over the overall mean."""
    inner = y[margin:-margin, margin:-margin]
    m = np.array([[inner[a::2, b::2].mean() for b in range(2)] for a in range(2)])
    return m / m.mean()


print("\n2. Measured on the photograph: interior mean of each output phase / mean")
measured = {name: phase_means(y) for name, y in outputs.items()}
for name, m in measured.items():
    print(f"  {name:16s} {m.ravel()}  max/min {m.max() / m.min():.3f}")
# padding=1 shifts the tile by one sample per axis: phase (0, 0) of the output
# is phase (1, 1) of the full layer.
predicted = np.roll(report.gains, (-1, -1), axis=(0, 1))
check("transposed conv: measured phase pattern = predicted gains within 2%",
      np.allclose(measured["transposed conv"], predicted / predicted.mean(), rtol=0.02))
check("remedies: every phase within 0.5% of the mean",
      all(np.allclose(measured[n], 1, atol=0.005) for n in list(outputs)[1:]))
check("resize-conv == ZOH-corrected transposed conv, every pixel",
      np.allclose(outputs["resize-conv"], outputs["ZOH-corrected"]))
check("identity behind it: Conv(q) @ Repeat(2) == Conv((1,1)*q) @ Up(2)",
      (pp.Conv([1., 1, 1]) @ pp.Repeat(2)).equals(pp.Conv([1., 2, 2, 1]) @ pp.Up(2)))

# ---------------------------------------------------------------- the figures
print("\n3. Figures")
names = list(outputs)
fig = Figure(figsize=(16, 11), layout="constrained")
axes = fig.subplots(3, len(names))
crop = (slice(150, 214), slice(200, 264))          # 64x64 output pixels: eye and cheek
for col, name in enumerate(names):
    ax = axes[0, col]
    ax.imshow(outputs[name][crop], cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    m = measured[name]
    ax.set_title(f"{name}\nphase max/min on the photo: {m.max() / m.min():.2f}",
                 fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
    plot.checkerboard(kernels[name], 2, ax=(axes[1, col], axes[2, col]))
    axes[1, col].set_title(f"{name} kernel {kernels[name].shape[0]}x"
                           f"{kernels[name].shape[1]}\n" + axes[1, col].get_title(),
                           fontsize="small")
fig.suptitle("x2 upsampling of a photograph: 64x64 crops (top), polyphase DC gains "
             "(middle), output for a constant input (bottom)")
path = os.path.join(OUT, "checkerboard_artifacts.png")
fig.savefig(path, dpi=80)
print(f"  saved {path}")

fig = Figure(figsize=(8, 5), layout="constrained")
ax = fig.subplots()
plot.radial_spectrum(photo, ax=ax, label="original photo", color="k", lw=2)
styles = {"transposed conv": "-", "resize-conv": "-", "ZOH-corrected": "--",
          "renormalized": "-"}
for name in names:
    label = name + (" (same as resize-conv)" if name == "ZOH-corrected" else "")
    plot.radial_spectrum(outputs[name], ax=ax, label=label, lw=1.2, ls=styles[name])
ax.set_title("radial power spectrum (Durall et al.): the checkerboard's peak at the "
             "highest frequencies", fontsize="medium")
path = os.path.join(OUT, "checkerboard_spectra.png")
fig.savefig(path, dpi=80)
print(f"  saved {path}")

r, profile = {}, {}
for name in ["transposed conv", "resize-conv"]:
    r[name], profile[name] = plot.radial_profile(outputs[name])
top = slice(-60, None)                                # the highest radial frequencies
gap = profile["transposed conv"][top].mean() - profile["resize-conv"][top].mean()
print(f"  highest frequencies: transposed conv is {gap:.1f} dB above resize-conv")
check("the transposed convolution has more high-frequency power", gap > 3)
print("\nall checks passed")

"""FCN's bilinear upsampling layer as a polyphase operator.

Fully convolutional networks (Long, Shelhamer & Darrell) upsample class scores
with a Caffe ``Deconvolution`` layer: depthwise (``group = C``), stride ``f``,
``pad = f//2``, kernel ``2f - f%2`` filled with FCN's bilinear kernel and frozen.
This script builds that layer, shows why it has no checkerboard artifacts
(every polyphase component of the kernel sums to 1), and compares it with
``interpolate(mode="bilinear", align_corners=False)``: equal in the interior,
and equal everywhere once the input is edge-replicated.
"""

import numpy as np

import polyphase as pp
from polyphase import caffe, nn

np.set_printoptions(precision=4, suppress=True)

f, C = 2, 21                                   # factor 2, PASCAL VOC's 21 classes
print("bilinear_kernel(2):")
print(pp.bilinear_kernel(f))

layer = caffe.bilinear_upsampling(C, f)        # ConvTranspose2d, groups=C
print("\nFCN upsampling layer:", layer)


def phase_gains(op):
    """DC gain of each output phase: sum of the taps of each polyphase row."""
    E = op.polyphase()
    gains = np.zeros(E.up)
    np.add.at(gains, tuple(E.p.T), E.c)
    return gains / (E.channels[0] if E.channels else 1)


print("polyphase DC gains of the bilinear layer:\n", phase_gains(layer))
odena = nn.ConvTranspose2d(np.ones((1, 1, 3, 3)), stride=2, padding=1)
print("...and of a 3x3 stride-2 deconvolution (uneven overlap, a checkerboard):\n",
      phase_gains(odena))

# a constant score map: the layer is flat inside and decays at the zero-padded border
scores = np.ones((1, C, 4, 5))
up = layer(scores)
print("\nconstant input, channel 0 of the FCN layer's output:")
print(up[0, 0])
print("interpolate on the same input is constant:",
      np.ptp(nn.interpolate(scores, scale_factor=f, mode="bilinear")) == 0)

# random scores: interior equal to bilinear interpolation; all equal with replication
x = np.random.default_rng(0).standard_normal((2, C, 6, 7)).astype(np.float32)
interp = nn.interpolate(x, scale_factor=f, mode="bilinear")
fcn = layer(x)
inner = (slice(None), slice(None), slice(f, -f), slice(f, -f))
print("\nmax |FCN - interpolate| in the interior:", np.abs(fcn[inner] - interp[inner]).max())
print("max |FCN - interpolate| on the border:  ", np.abs(fcn - interp).max())
replicated = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="edge")
exact = nn.conv_transpose2d(replicated, layer.weight, stride=f, padding=f // 2 + f, groups=C)
print("with one edge-replicated sample and padding f//2 + f:", np.abs(exact - interp).max(),
      "(dtype", exact.dtype, ")")

# FCN-8s: upscore8 is kernel 16, stride 8, no padding; a Crop layer with offset 31 aligns it
upscore8 = nn.ConvTranspose2d(np.broadcast_to(pp.bilinear_kernel(8), (C, 1, 16, 16)),
                              stride=8, groups=C)
print("\nFCN-8s upscore8:", upscore8, "maps 9x9 scores to",
      upscore8(np.ones((1, C, 9, 9))).shape[2:], "before the crop (offset 31)")
print("its adjoint, the layer that backpropagates through it:", upscore8.T)
print("as one operator:", upscore8.equals(pp.Conv(pp.bilinear_kernel(8)) @ pp.Up((8, 8))))

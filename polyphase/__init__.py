"""polyphase: multirate signal processing with composable, exact operators.

Every linear multirate operation -- up- and down-sampling, convolution, strided
and transposed convolution, polyphase filtering -- is an :class:`Operator`
described exactly by a polyphase matrix.  Operators compose (``A @ B``), add,
scale, transpose (``.T``, ``.H``), compare exactly (:meth:`Operator.equals`) and
run through one fused numba engine.

>>> import numpy as np, polyphase as pp
>>> strided = pp.Down(2) @ pp.Conv([1, 2, 1])
>>> strided.T.equals(pp.Conv([1, 2, 1]).T @ pp.Up(2))
True
>>> strided(np.arange(6.0))
array([ 0.,  4., 12., 14.])
"""

from .operators import (ChannelConv, Compose, Conv, Delay, Down, Identity, Operator,
                        PixelShuffle, Repeat, Scaled, Sum, Transpose, Up, UpFirDn)
from .caffe import bilinear_kernel
from .signal import decompose, dilate, interleave, resample_poly, upfirdn
from .system import PolyphaseMatrix

__version__ = "0.1.0"

# Submodules that pull in scipy.sparse or numba load on first use, so that
# ``import polyphase`` stays fast.
_LAZY_SUBMODULES = ("testing", "finite", "engine", "extension", "nn", "analysis", "plot")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Operator", "Conv", "ChannelConv", "PixelShuffle", "Up", "Down", "Repeat", "Delay",
    "Identity", "UpFirDn", "Compose", "Sum", "Scaled", "Transpose", "PolyphaseMatrix",
    "upfirdn", "resample_poly", "decompose", "interleave", "dilate", "bilinear_kernel",
]

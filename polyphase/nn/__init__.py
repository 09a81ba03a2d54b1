"""Deep-learning layers as polyphase operators: PyTorch and TensorFlow semantics on numpy arrays.

* :mod:`polyphase.nn.functional` (re-exported here): ``conv1d``, ``conv2d``,
  ``conv_transpose1d``, ``conv_transpose2d``, ``pixel_shuffle``,
  ``pixel_unshuffle``, ``interpolate`` with ``torch.nn.functional``'s
  signatures, layouts and output sizes.
* :mod:`polyphase.nn.grad`: ``conv1d_input``, ``conv1d_weight``,
  ``conv2d_input``, ``conv2d_weight`` as in ``torch.nn.grad``.
* :mod:`polyphase.nn.layers` (re-exported here): ``Conv1d``, ``Conv2d``,
  ``ConvTranspose1d``, ``ConvTranspose2d`` built from a weight; operators that
  compose, compare with ``equals`` and transpose to the adjoint layer.
* :mod:`polyphase.nn.tf`: TensorFlow's ``conv2d`` and ``conv2d_transpose``
  (NHWC, ``SAME``/``VALID``).

Only numpy is needed; PyTorch and TensorFlow are never imported.

Examples
--------
>>> import numpy as np, polyphase as pp
>>> conv = pp.nn.Conv1d([[[1., 2., 1.]]], stride=2)
>>> conv.T.equals(pp.Conv([1., 2., 1.]) @ pp.Up(2))
True
>>> pp.nn.conv_transpose1d(np.array([[[1., 2., 3.]]]), [[[1., 10., 100.]]], stride=3)
array([[[  1.,  10., 100.,   2.,  20., 200.,   3.,  30., 300.]]])
"""

from . import functional, grad, layers, tf
from .functional import (conv1d, conv2d, conv_transpose1d, conv_transpose2d, interpolate,
                         pixel_shuffle, pixel_unshuffle)
from .layers import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pixel_shuffle",
           "pixel_unshuffle", "interpolate", "Conv1d", "Conv2d", "ConvTranspose1d",
           "ConvTranspose2d", "functional", "grad", "layers", "tf"]

"""Argument checks for :mod:`polyphase.nn`, in PyTorch's terms.

Each check raises a ``ValueError`` (``TypeError`` for a wrong type) whose
message names the parameter and, where PyTorch has one, paraphrases PyTorch's
own message for the same mistake.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_int, as_kernel, as_signal


def ntuple(value, n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (or of one, broadcast) as an ``n``-tuple."""
    if isinstance(value, (tuple, list, np.ndarray)):
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) \
            else list(value)
        if len(values) == 1:
            values = values * n
        if len(values) != n:
            raise ValueError(f"expected {name} to be a single integer value or a list "
                             f"of {n} values to match the convolution dimensions, "
                             f"but got {name}={list(value)}")
    else:
        values = [value] * n
    out = tuple(as_int(v, name) for v in values)
    if minimum is not None and min(out) < minimum:
        what = "negative" if minimum == 0 else "non-positive"
        raise ValueError(f"{what} {name} is not supported, got {name}={value!r}")
    return out


def positive_int(value, name: str) -> int:
    out = as_int(value, name)
    if out < 1:
        raise ValueError(f"non-positive {name} is not supported, got {name}={value!r}")
    return out


def conv_padding(padding, n: int, kernel_extent, stride, *, allow_str=True):
    """``(padding, before, after)``: the normalised value and the per-axis
    zero padding at the start and at the end of each signal axis.

    ``"same"`` puts ``total // 2`` at the start and the rest at the end,
    ``total = d*(K - 1)``, as PyTorch does; it needs stride 1.
    """
    if isinstance(padding, str):
        if not allow_str:
            raise ValueError(f"padding must be an int or a tuple of ints for a "
                             f"transposed convolution, got padding={padding!r}")
        if padding == "valid":
            return padding, (0,) * n, (0,) * n
        if padding != "same":
            raise ValueError(f"Invalid padding string: {padding!r} (padding must be "
                             "'same', 'valid', an int or a tuple of ints)")
        if any(s != 1 for s in stride):
            raise ValueError(f"padding='same' is not supported for strided "
                             f"convolutions, got stride={stride}")
        before = tuple((k - 1) // 2 for k in kernel_extent)
        after = tuple(k - 1 - b for k, b in zip(kernel_extent, before))
        return padding, before, after
    pads = ntuple(padding, n, "padding", minimum=0)
    return pads, pads, pads


def weight_array(weight, dims: int, fname: str, transposed: bool) -> np.ndarray:
    w = as_kernel(weight, "weight", nd=True)
    if w.ndim != dims + 2:
        layout = ("in_channels, out_channels/groups" if transposed
                  else "out_channels, in_channels/groups")
        ks = ", ".join(("kW",) if dims == 1 else ("kH", "kW") if dims == 2
                       else [f"k{a}" for a in range(dims)])
        raise ValueError(f"weight of {fname} must have {dims + 2} dimensions "
                         f"({layout}, {ks}), got weight of shape {w.shape}")
    return w


def check_groups(weight: np.ndarray, groups: int) -> None:
    if weight.shape[0] % groups:
        raise ValueError(f"Given groups={groups}, expected weight to be divisible by "
                         f"{groups} at dimension 0, but got weight of size "
                         f"{list(weight.shape)} instead")


def bias_array(bias, channels: int, weight_shape, transposed: bool):
    if bias is None:
        return None
    b = as_kernel(bias, "bias", nd=True)
    if b.shape != (channels,):
        extra = "transposed=1, " if transposed else ""
        raise ValueError(f"Given {extra}weight of size {list(weight_shape)}, expected "
                         f"bias to be 1-dimensional with {channels} elements, but got "
                         f"bias of size {list(b.shape)} instead")
    return b


def input_array(x, dims: int, fname: str):
    """``(x, unbatched)``: ``x`` as an array of shape ``(N, C, *spatial)`` or ``(C, *spatial)``."""
    x = as_signal(x, "input")
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) "
                         f"input to {fname}, but got input of size: {list(x.shape)}")
    return x, x.ndim == dims + 1


def check_in_channels(x, dims, channels, weight_shape, groups, transposed):
    got = x.shape[-dims - 1]
    if got != channels:
        extra = "transposed=1, " if transposed else f"groups={groups}, "
        raise ValueError(f"Given {extra}weight of size {list(weight_shape)}, expected "
                         f"input{list(x.shape)} to have {channels} channels, but got "
                         f"{got} channels instead")


def is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))

"""Checkerboard artifacts of transposed and strided convolutions, and their remedies."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from .._validation import as_factor, as_int
from ..operators import Conv, Down, Operator, Up
from ._common import CHECKERBOARD_RTOL, _check_rtol, _phase_sums, _real_kernel, _strides


@dataclass(frozen=True, eq=False)
class CheckerboardReport:
    """Checkerboard metrics of a transposed convolution (an interpolator).

    Attributes
    ----------
    gains : ndarray, shape (s,) or (s_y, s_x)
        Polyphase DC gains ``g_r = sum_j w[r + j s]`` (``E_r(1)``), indexed by
        output phase.  Operators that mix channels get a leading ``C_out``
        axis when ``C_out > 1`` (gains summed over the input channels).
    ratio : float
        ``max(g) / min(g)`` (gains taken with the sign of their mean); ``inf``
        if some gain has the other sign or is zero.
    ripple : float
        ``(max(g) - min(g)) / |mean(g)|`` (``inf`` for a zero mean).
    alias_fraction : float
        ``1 - (sum g)^2 / (S sum g^2)``, ``S`` the number of phases: the part
        of the output power of a constant input that lies at the image
        frequencies.
    image_gains : ndarray
        ``|W(e^{j 2 pi m / s})| / |W(1)|`` for the image frequencies: ``m =
        1..s-1`` in 1-D (shape ``(s-1,)``), every ``(m_y, m_x) != (0, 0)`` in
        row-major order in 2-D (shape ``(s_y s_x - 1,)``).
    is_free : bool
        All gains equal within ``rtol`` (default :data:`CHECKERBOARD_RTOL`,
        1e-9) times the largest gain magnitude.
    stride : tuple of int
        The stride per axis.

    With a leading channel axis, the scalar metrics are the worst over the
    channels and ``is_free`` requires every channel to be free.
    """

    gains: np.ndarray
    ratio: float
    ripple: float
    alias_fraction: float
    image_gains: np.ndarray
    is_free: bool
    stride: tuple


def _metrics_one(g: np.ndarray, rtol: float):
    # gains spanning hundreds of decades overflow ratios to inf, as they should
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        return _metrics_unguarded(g, rtol)


def _metrics_unguarded(g: np.ndarray, rtol: float):
    S = g.size
    biggest = np.abs(g).max()
    if biggest == 0:
        return 1.0, 0.0, 0.0, np.zeros(S - 1), True
    g = g / biggest                      # the metrics are scale-invariant
    flat = g.ravel()
    total = flat.sum()
    biggest = 1.0
    spread = flat.max() - flat.min()
    is_free = bool(spread <= rtol * biggest)
    signed = flat * (1.0 if total >= 0 else -1.0)
    ratio = float(signed.max() / signed.min()) if total != 0 and signed.min() > 0 \
        else float("inf")
    mean = total / S
    ripple = float(spread / abs(mean)) if mean != 0 else float("inf")
    alias = float(1 - total ** 2 / (S * np.sum(flat ** 2)))
    spectrum = np.abs(np.fft.fftn(g)).ravel()
    images = spectrum[1:] / spectrum[0] if spectrum[0] != 0 else \
        np.where(spectrum[1:] > 0, np.inf, 0.0)
    return ratio, ripple, max(alias, 0.0), images, is_free


def _report(g: np.ndarray, stride: tuple, channels: bool, rtol: float):
    """Report from gains ``g`` of shape (C, *stride)."""
    per = [_metrics_one(gc, rtol) for gc in g]
    if not channels or g.shape[0] == 1:
        ratio, ripple, alias, images, free = per[0]
        return CheckerboardReport(g[0], ratio, ripple, alias, images, free, stride)
    return CheckerboardReport(
        g, max(p[0] for p in per), max(p[1] for p in per), max(p[2] for p in per),
        np.stack([p[3] for p in per]), all(p[4] for p in per), stride)


def _interpolator_gains(op: Operator, stride, name: str):
    """Per-phase DC gains ``E_p(1)`` of an interpolating operator, (C, *s)."""
    E = op.polyphase()
    if E.is_complex:
        raise TypeError(f"{name}={op!r} is complex; checkerboard analysis needs a "
                        f"real operator")
    if op.ndim > 2:
        raise ValueError(f"{name}={op!r} acts on {op.ndim} axes; checkerboard "
                         f"analysis supports 1-D and 2-D operators")
    if E.nnz and any(m != 1 for m in E.downs):
        raise ValueError(
            f"{name}={op!r} has rates {op.rates}, not an interpolator (input rate 1); "
            f"checkerboard analyses transposed convolutions such as Conv(q) @ Up(s) -- "
            f"for a strided convolution use gradient_checkerboard")
    ups = tuple(E.ups) if E.nnz else None
    if stride is not None:
        s = _strides(stride, op.ndim)
        if ups is not None and s != ups:
            raise ValueError(f"stride={stride!r} does not match the rates of "
                             f"{name}={op!r}, which upsamples by {ups}")
        ups = s
    if ups is None:
        raise ValueError(f"{name}={op!r} is zero; pass stride= to analyse it")
    C = 1 if E.channels is None else E.channels[0]
    g = np.zeros((C,) + ups)
    if E.nnz:
        np.add.at(g, (E.o,) + tuple(E.p.T), E.c.real)
    return g, ups, E.channels is not None


def _gains(kernel, stride, name="kernel"):
    """(gains (C, *s), stride tuple, has channels) of an array or an operator."""
    if isinstance(kernel, Operator):
        return _interpolator_gains(kernel, stride, name)
    w = _real_kernel(kernel, name)
    if stride is None:
        raise ValueError(f"stride is required when {name} is an array "
                         f"(got {name} of shape {w.shape} and stride=None)")
    s = _strides(stride, w.ndim)
    return _phase_sums(w, s)[None], s, False



def checkerboard(kernel, stride=None, *, rtol=CHECKERBOARD_RTOL) -> CheckerboardReport:
    """Checkerboard-artifact metrics of a transposed convolution.

    Parameters
    ----------
    kernel : array_like or Operator
        * a 1-D or 2-D kernel ``w``: the transposed convolution ``Conv(w) @
          Up(stride)`` (scatter kernel, as PyTorch's ``conv_transpose`` uses
          its weight: not flipped);
        * an interpolating operator with rates ``(s, 1)`` per axis, e.g.
          ``Conv(q) @ Up(2)``, ``Repeat(2)``, or a
          :class:`polyphase.nn.ConvTranspose1d`/``2d`` layer (padding,
          dilation and groups included).  The gains are the per-phase DC gains
          ``E_p(1)`` of its polyphase matrix.  For a layer that mixes channels
          the gains of output channel ``o`` are summed over the input channels
          (the response to a constant input of 1 on every channel), with a
          leading ``C_out`` axis when ``C_out > 1``.
    stride : int or tuple of int
        Required for an array; for an operator optional (must match its rates).
    rtol : float, keyword-only
        Tolerance of ``is_free`` (default 1e-9).

    Returns
    -------
    CheckerboardReport

    Notes
    -----
    The output for a constant input is periodic with the pattern ``gains``
    (see :func:`constant_response`), and ``|W(e^{j 2 pi m / s})| = |DFT_m(g)|``:
    all gains are equal exactly when the image gains vanish, exactly when
    ``w`` has the zero-order hold ``ones(s)`` as a factor.  Whether ``len(w)``
    is divisible by ``s`` does not decide it (see the examples).  In 2-D a
    separable kernel has the outer product of the 1-D gains, so its ratio is
    the square of the 1-D one.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import checkerboard
    >>> r = checkerboard(np.ones(3), stride=2)
    >>> r.gains, r.ratio, round(r.alias_fraction, 12), r.is_free
    (array([2., 1.]), 2.0, 0.1, False)
    >>> checkerboard([0.7, 0.3], 2).is_free           # size divisible by stride
    False
    >>> checkerboard([0.5, 1, 0.5], 2).is_free        # size not divisible by stride
    True
    >>> checkerboard(np.ones((3, 3)), 2).gains        # 2-D: ratio 4
    array([[4., 2.],
           [2., 1.]])
    >>> checkerboard(pp.Conv([1, 2, 1]) @ pp.Up(2)).image_gains
    array([0.])
    """
    rtol = _check_rtol(rtol)
    g, s, channels = _gains(kernel, stride)
    return _report(g, s, channels, rtol)


def constant_response(kernel, stride=None) -> np.ndarray:
    """One period of the steady-state output of a transposed convolution for input 1.

    Parameters
    ----------
    kernel, stride
        As for :func:`checkerboard`.

    Returns
    -------
    ndarray, shape (s,) or (s_y, s_x)
        ``tile[r]`` is the output at every (absolute) index ``n`` with ``n %
        s == r`` (per axis), once ``n`` is a kernel length away from the
        edges of the input: the polyphase DC gains ``E_r(1)``.  Operators that
        mix channels get a leading ``C_out`` axis when ``C_out > 1``.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import constant_response
    >>> constant_response([1., 1., 1.], 2)
    array([2., 1.])
    >>> y = (pp.Conv([1., 1., 1.]) @ pp.Up(2))(np.ones(6))
    >>> y[4:8]
    array([2., 1., 2., 1.])
    """
    g, _, channels = _gains(kernel, stride)
    return g if channels and g.shape[0] > 1 else g[0]


def gradient_checkerboard(kernel, stride=None, *, rtol=CHECKERBOARD_RTOL):
    """Checkerboard metrics of the input gradient of a strided convolution.

    The dual of :func:`checkerboard`: the gradient of ``y = A x`` with
    respect to ``x`` is ``A.T`` applied to the output gradient, and the
    transpose of the strided convolution ``Down(s) @ Conv(w)`` is the
    transposed convolution ``Conv(w).T @ Up(s)``.  A constant output gradient
    therefore back-propagates into the periodic pattern ``gains``.

    Parameters
    ----------
    kernel : array_like or Operator
        A 1-D or 2-D kernel ``w`` of the strided convolution ``Down(stride) @
        Conv(w)``, or a decimating operator with rates ``(1, s)`` per axis
        (e.g. a :class:`polyphase.nn.Conv1d`/``Conv2d`` layer with stride
        ``s``; for channels, gains per input channel summed over the output
        channels).
    stride : int or tuple of int
        Required for an array.
    rtol : float, keyword-only
        Tolerance of ``is_free``.

    Returns
    -------
    CheckerboardReport
        Of the transposed operator; ``gains[r]`` is the gradient at input
        index ``n`` with ``n % s == r``.

    Notes
    -----
    The gains are the phase sums of ``w`` (in reversed order), so the
    gradient is free exactly when the forward transposed convolution with
    the same kernel is.  Dually, ``W(e^{j 2 pi m / s}) = 0`` keeps the
    components at ``2 pi m / s`` from aliasing onto DC in the forward pass.

    Examples
    --------
    >>> import numpy as np, polyphase as pp
    >>> from polyphase.analysis import gradient_checkerboard
    >>> gradient_checkerboard([1., 2., 3.], 2).gains
    array([4., 2.])
    >>> conv = pp.nn.Conv1d(np.ones((1, 1, 3)), stride=2, padding=1)
    >>> gradient_checkerboard(conv).ratio
    2.0
    """
    rtol = _check_rtol(rtol)
    if isinstance(kernel, Operator):
        E = kernel.polyphase()
        if E.nnz and any(u != 1 for u in E.ups):
            raise ValueError(
                f"kernel={kernel!r} has rates {kernel.rates}, not a strided "
                f"convolution (output rate 1); for a transposed convolution use "
                f"checkerboard")
        if stride is not None and E.nnz:
            s = _strides(stride, kernel.ndim)
            if s != tuple(E.downs):
                raise ValueError(f"stride={stride!r} does not match the rates of "
                                 f"kernel={kernel!r}, which downsamples by {E.downs}")
        op = kernel
    else:
        w = _real_kernel(kernel)
        if stride is None:
            raise ValueError(f"stride is required when kernel is an array "
                             f"(got kernel of shape {w.shape} and stride=None)")
        s = _strides(stride, w.ndim)
        op = Down(s if w.ndim > 1 else s[0]) @ Conv(w)
    g, s, channels = _interpolator_gains(op.T, stride, "kernel")
    return _report(g, s, channels, rtol)


def make_checkerboard_free(kernel, stride, method="zoh") -> np.ndarray:
    """A kernel whose transposed convolution has no checkerboard artifacts.

    Parameters
    ----------
    kernel : array_like
        1-D or 2-D real kernel.
    stride : int or tuple of int
    method : {"zoh", "renormalize"}
        * ``"zoh"``: convolve with the zero-order hold ``ones(s) / s`` per
          axis (Sugawara et al.'s fixed ZOH layer folded into the kernel).
          The result is ``s - 1`` taps longer per axis; every phase gain
          equals the mean gain of ``kernel``.
        * ``"renormalize"``: scale each polyphase component ``w[r::s]`` so its
          sum equals the mean gain (same length; a projection that keeps the
          shape of each phase).  Fails if a component sums to zero or the
          kernel sums to zero.

    Returns
    -------
    ndarray
        A kernel ``w'`` with ``checkerboard(w', stride).is_free``; its mean
        gain (``sum(w') / S``) equals that of ``kernel``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.analysis import checkerboard, make_checkerboard_free
    >>> make_checkerboard_free([1., 1., 1.], 2)
    array([0.5, 1. , 1. , 0.5])
    >>> make_checkerboard_free([1., 1., 1.], 2, method="renormalize")
    array([0.75, 1.5 , 0.75])
    >>> checkerboard(make_checkerboard_free([0.7, 0.3], 2), 2).is_free
    True
    """
    w = _real_kernel(kernel)
    s = _strides(stride, w.ndim)
    if method == "zoh":
        out = w
        for axis, si in enumerate(s):
            hold = np.ones(si) / si
            out = np.apply_along_axis(lambda v, h=hold: np.convolve(v, h), axis, out)
        return out
    if method == "renormalize":
        g = _phase_sums(w, s)
        mean = g.mean()
        if mean == 0:
            raise ValueError("kernel sums to zero: renormalizing every phase to the "
                             "mean gain 0 would zero the kernel; use method='zoh'")
        if np.any(g == 0):
            bad = tuple(int(v) for v in np.argwhere(g == 0)[0])
            raise ValueError(f"kernel's polyphase component {bad} sums to zero and "
                             f"cannot be rescaled; use method='zoh'")
        with np.errstate(over="ignore"):
            factors = mean / g
        if not np.all(np.isfinite(factors)):
            raise ValueError("kernel has a polyphase component too small to rescale to "
                             "the mean gain (the factor overflows); use method='zoh'")
        out = w.copy()
        for r in np.ndindex(*s):
            sl = tuple(slice(ri, None, si) for ri, si in zip(r, s))
            out[sl] *= factors[r]
        return out
    raise ValueError(f"method must be 'zoh' or 'renormalize', got {method!r}")


def icnr(weight_shape, upscale_factor, rng=None, init=None) -> np.ndarray:
    """ICNR initialisation of a sub-pixel convolution (Aitken et al. 2017).

    Parameters
    ----------
    weight_shape : tuple of int
        Shape of the sub-pixel convolution's weight, ``(C r^d, C_in, *k)``
        (PyTorch layout, ``d`` = 1 or 2 spatial axes, followed by
        ``pixel_shuffle(r)``).
    upscale_factor : int
        ``r``.
    rng : None, int or numpy.random.Generator
        Random source of the default ``init``.
    init : callable or array_like, optional
        The sub-kernel ``W0`` of shape ``(C, C_in, *k)``, or a function
        ``init(shape)`` returning it.  Default: He-normal,
        ``N(0, 2 / (C_in prod(k)))``.

    Returns
    -------
    ndarray, shape ``weight_shape``
        ``W[c r^d + j] = W0[c]`` for ``j = 0..r^d - 1`` (``repeat`` along axis 0:
        PyTorch's ``pixel_shuffle`` order).

    Notes
    -----
    Sub-pixel output channel ``c r^2 + i r + j`` becomes phase ``(i, j)`` of
    output channel ``c``, so with all ``r^2`` sub-kernels equal, ``pixel_shuffle(
    conv2d(x, W), r) == interpolate(conv2d(x, W0), scale_factor=r,
    mode="nearest")`` exactly: a resize-convolution, free of checkerboard
    artifacts at initialisation.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.analysis import icnr
    >>> W = icnr((8, 3, 3, 3), 2, rng=0)
    >>> W.shape, bool(np.all(W[0] == W[3])), bool(np.all(W[4] == W[7]))
    ((8, 3, 3, 3), True, True)
    """
    if not isinstance(weight_shape, (tuple, list)) or len(weight_shape) not in (3, 4):
        raise ValueError(f"weight_shape must be (C*r**d, C_in, *kernel) with d = 1 or 2 "
                         f"spatial axes, got {weight_shape!r}")
    shape = tuple(as_int(v, "weight_shape", minimum=1) for v in weight_shape)
    r = as_factor(upscale_factor, "upscale_factor")
    rep = r ** (len(shape) - 2)
    if shape[0] % rep:
        raise ValueError(f"weight_shape[0]={shape[0]} must be divisible by "
                         f"upscale_factor**{len(shape) - 2}={rep}")
    sub = (shape[0] // rep,) + shape[1:]
    if init is None:
        gen = np.random.default_rng(rng)
        fan_in = prod(shape[1:])
        w0 = gen.normal(0.0, np.sqrt(2.0 / fan_in), size=sub)
    else:
        w0 = np.asarray(init(sub) if callable(init) else init)
        if w0.dtype.kind not in "iufc":
            raise TypeError(f"init must give a numeric array, got dtype {w0.dtype}")
        if w0.shape != sub:
            raise ValueError(f"init must give the sub-kernel of shape {sub}, got "
                             f"shape {w0.shape}")
    return np.repeat(w0, rep, axis=0)

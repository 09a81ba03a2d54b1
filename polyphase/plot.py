"""Matplotlib figures of multirate operators.

Every function takes ``ax=`` (an Axes, or a pair of Axes where it draws two
panels) and returns what it drew on; the figure is ``ax.figure``.  Without
``ax`` a new :class:`matplotlib.figure.Figure` is created -- not a pyplot
figure -- so nothing global changes, no window opens and everything works
headless; save it with ``ax.figure.savefig(path)``.  Matplotlib is imported
on first use, never by ``import polyphase``.

The numbers come from :mod:`polyphase.analysis`; :func:`radial_profile` (the
azimuthally averaged log power spectrum of an image, Durall et al. 2020) is
computed here.

============================  ======================================================
:func:`frequency_response`    magnitude (dB) and phase of an LTI operator or kernel
:func:`polyphase_components`  the taps of every polyphase filter ``E[p, q]``
:func:`checkerboard`          per-phase DC gains and the output for a constant input
:func:`aliasing`              bifrequency map of a multirate operator
:func:`response_2d`           magnitude (dB) of a 2-D kernel or operator
:func:`radial_spectrum`       radial (azimuthal) power spectrum of an image
============================  ======================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["frequency_response", "polyphase_components", "checkerboard", "aliasing",
           "response_2d", "radial_spectrum", "radial_profile", "to_db"]

#: floor of the dB scale (relative to 1): magnitudes below 1e-15 are drawn at -300 dB
DB_FLOOR = -300.0


def to_db(magnitude, power=False) -> np.ndarray:
    """``20 log10 |x|`` (``10 log10`` for ``power=True``), floored at -300 dB.

    Exact zeros (for example the zeros a zero-order hold puts at the image
    frequencies) would be ``-inf``; they are drawn at the floor instead.

    Examples
    --------
    >>> from polyphase.plot import to_db
    >>> to_db([1.0, 10.0, 0.0])
    array([   0.,   20., -300.])
    """
    scale = 10.0 if power else 20.0
    a = np.abs(np.asarray(magnitude))
    return scale * np.log10(np.maximum(a, 10.0 ** (DB_FLOOR / scale)))


# --------------------------------------------------------------------- helpers
def _new_axes(nrows=1, ncols=1, figsize=None, **kw):
    """Axes of a new Figure (not pyplot: no global state, works headless)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return axes.ravel().tolist() if axes.size > 1 else axes[0, 0]


def _pair(ax, what, figsize=(6.4, 5.6), **kw):
    """Two axes: a new figure's, or the two the caller passed."""
    if ax is None:
        return tuple(_new_axes(2, 1, figsize=figsize, **kw))
    try:
        first, second = ax
    except (TypeError, ValueError):
        raise TypeError(f"{what}: ax must be None or a pair of Axes, "
                        f"got {type(ax).__name__}") from None
    return first, second


def _single(ax, figsize=None):
    if ax is None:
        return _new_axes(figsize=figsize)
    if not hasattr(ax, "plot"):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _as_operator(op, name):
    from .operators import Conv, Operator

    if isinstance(op, Operator):
        return op
    try:
        h = np.asarray(op)
    except Exception:  # pragma: no cover - numpy accepts nearly everything
        h = None
    if h is None or h.dtype == object or h.ndim == 0 or h.size == 0:
        raise TypeError(f"{name} must be a polyphase Operator or a non-empty kernel "
                        f"array, got {type(op).__name__}")
    return Conv(h)


def _image(ax, data, extent, cmap="viridis", label=None, **kw):
    im = ax.imshow(data, origin="lower", extent=extent, aspect="auto", cmap=cmap,
                   interpolation="nearest", **kw)
    ax.figure.colorbar(im, ax=ax, label=label)
    return im


# ---------------------------------------------------------------- 1-D response
def frequency_response(op, ax=None, worN=512):
    """Plot the magnitude (dB) and phase of an LTI operator or a 1-D kernel.

    Parameters
    ----------
    op : Operator or array_like
        A 1-D linear time-invariant operator (rates 1/1, e.g. ``Conv(h)``) or
        its kernel ``h``.
    ax : Axes or pair of Axes, optional
        A pair ``(magnitude, phase)``: both panels are drawn.  A single Axes:
        only the magnitude.  None: a new figure with both.
    worN : int
        Number of frequencies in ``[0, pi)``.

    Returns
    -------
    Axes or tuple of Axes
        What was drawn on: ``(magnitude_ax, phase_ax)``, or the single Axes.

    Notes
    -----
    The numbers are ``w, H = polyphase.analysis.frequency_response(op, worN)``;
    the x axis is ``w / pi``, the magnitude ``20 log10 |H|`` (floored at
    -300 dB, see :func:`to_db`) and the phase ``np.unwrap(np.angle(H))``.
    For a 2-D kernel use :func:`response_2d`.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase import plot
    >>> mag_ax, phase_ax = plot.frequency_response([1, 2, 1], worN=64)
    >>> float(mag_ax.lines[0].get_ydata()[0])   # 20 log10 |H(0)| = 20 log10 4
    12.041199826559248
    >>> mag_ax.figure.savefig(__import__("io").BytesIO(), format="png")
    """
    from . import analysis

    if not hasattr(op, "polyphase") and np.ndim(op) == 2:
        raise ValueError("frequency_response draws 1-D responses; use "
                         "polyphase.plot.response_2d for a 2-D kernel")
    w, H = analysis.frequency_response(op, worN=worN)
    w, H = np.asarray(w), np.asarray(H)
    if ax is None:
        axes = _pair(None, "frequency_response", sharex=True)
    elif hasattr(ax, "plot"):
        axes = (ax,)
    else:
        axes = _pair(ax, "frequency_response")
    x = w / np.pi
    mag = to_db(H)
    ax_m = axes[0]
    ax_m.plot(x, mag, color="C0")
    finite = mag[mag > DB_FLOOR]
    if finite.size:
        top = finite.max()
        ax_m.set_ylim(max(finite.min(), top - 120.0) - 5.0, top + 5.0)
    ax_m.set_ylabel("magnitude (dB)")
    ax_m.set_title(f"frequency response of {_name(op)}")
    ax_m.grid(True, alpha=0.3)
    if len(axes) == 2:
        ax_p = axes[1]
        ax_p.plot(x, np.unwrap(np.angle(H)), color="C1")
        ax_p.set_ylabel("phase (rad)")
        ax_p.set_xlabel(r"frequency $\omega / \pi$")
        ax_p.grid(True, alpha=0.3)
        return axes
    ax_m.set_xlabel(r"frequency $\omega / \pi$")
    return ax_m


def _name(op, limit=40):
    if hasattr(op, "polyphase"):
        text = repr(op)
    else:
        h = np.asarray(op)
        text = (f"kernel {np.array2string(h, precision=3, separator=', ')}"
                if h.size <= 6 else f"a {'x'.join(map(str, h.shape))} kernel")
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -------------------------------------------------------- polyphase components
def polyphase_components(op, ax=None):
    """Stem plot of the taps of every polyphase filter ``E[p, q]`` of a 1-D operator.

    Parameters
    ----------
    op : Operator or array_like
        A 1-D operator without channel mixing (a kernel is read as ``Conv(h)``,
        whose only component is ``h``).
    ax : Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    Axes

    Notes
    -----
    With rates ``(L, M)`` the output phase ``p`` is
    ``y_p = sum_q E[p, q] * x_q``; entry ``E[p, q]`` has taps at block delays
    ``offset, offset + 1, ...`` (:meth:`~polyphase.PolyphaseMatrix.entry`).
    Each entry is one stem container, labelled ``E[p,q]``, its stems shifted
    a little sideways so that entries at the same delay stay visible; the
    marker positions are ``(delay + shift, tap)``.  Complex taps are drawn as
    real part (filled) and imaginary part (hollow markers).

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase import plot
    >>> ax = plot.polyphase_components(pp.Conv([1, 2, 3]).T @ pp.Up(2))
    >>> [c.get_label() for c in ax.containers]
    ['E[0,0]', 'E[1,0]']
    >>> ax.containers[0].markerline.get_ydata()
    array([3., 1.])
    """
    op = _as_operator(op, "op")
    if op.ndim != 1 or op.channels is not None:
        raise ValueError("polyphase_components draws 1-D single-channel operators; "
                         f"got ndim={op.ndim}, channels={op.channels}")
    E = op.polyphase()
    ax = _single(ax)
    entries = [(p, q, *E.entry(p, q)) for p in range(E.up) for q in range(E.down)]
    entries = [e for e in entries if e[2].size]
    width = 0.6 / max(len(entries), 1)
    for n, (p, q, taps, offset) in enumerate(entries):
        shift = (n - (len(entries) - 1) / 2) * width
        x = offset + np.arange(taps.size) + shift
        color = f"C{n % 10}"
        stem = ax.stem(x, taps.real, linefmt=color, markerfmt="o", basefmt=" ",
                       label=f"E[{p},{q}]")
        stem.markerline.set_color(color)
        if np.iscomplexobj(taps) and np.any(taps.imag):
            im = ax.stem(x, taps.imag, linefmt=color + ":", markerfmt="o", basefmt=" ",
                         label=f"Im E[{p},{q}]")
            im.markerline.set_markerfacecolor("none")
            im.markerline.set_color(color)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("block delay k")
    ax.set_ylabel("tap")
    ax.set_title(f"polyphase components of {_name(op, 50)}\n"
                 f"rates: {E.up} output / {E.down} input samples per period",
                 fontsize="medium")
    if entries:
        ax.legend(fontsize="small", ncols=min(len(entries), 4))
        ks = [o + j for _, _, t, o in entries for j in (0, t.size - 1)]
        ax.set_xticks(np.arange(min(ks), max(ks) + 1))
        ax.set_xlim(min(ks) - 0.5, max(ks) + 0.5)
    return ax


# ---------------------------------------------------------------- checkerboard
def _constant_output(kernel, stride, periods=4):
    """The engine's output of a transposed convolution for a constant input.

    ``kernel`` is the scatter kernel ``w``: ``y[s m + k] += x[m] w[k]``, i.e.
    ``Conv(w) @ Up(s)``.  Returns None when the kernel is not an array.
    """
    from .operators import Conv, Up

    w = np.asarray(kernel)
    s = tuple(np.broadcast_to(np.atleast_1d(stride), (w.ndim,)).tolist())
    op = Conv(w) @ Up(s if w.ndim > 1 else s[0])
    n = tuple(int(np.ceil(k / si)) + periods for k, si in zip(w.shape, s))
    y = op(np.ones(n if w.ndim > 1 else n[0]))
    # the length of torch's conv_transpose output, (n - 1) s + K per axis
    return y[tuple(slice(0, (ni - 1) * si + k) for ni, si, k in zip(n, s, w.shape))]


def checkerboard(kernel, stride=None, ax=None):
    """Plot the checkerboard analysis of a transposed convolution.

    Two panels: the per-phase DC gains ``g`` (bars for 1-D, an image for
    2-D) and the output of the transposed convolution for a constant input
    of ones (the interior repeats the gain tile; the edges ramp up).

    Parameters
    ----------
    kernel : array_like (1-D or 2-D) or Operator
        The scatter kernel ``w`` of the transposed convolution
        ``y[s m + k] += x[m] w[k]`` (``Conv(w) @ Up(s)``), or whatever
        :func:`polyphase.analysis.checkerboard` accepts.
    stride : int or tuple of int, optional
        Passed to :func:`polyphase.analysis.checkerboard`.
    ax : pair of Axes, optional
        ``(gains_ax, output_ax)``; default a new figure.

    Returns
    -------
    tuple of Axes
        ``(gains_ax, output_ax)``.

    Notes
    -----
    The gains are ``g_r = sum_j w[r + j s]``, the report's ``gains``.  The
    layer is checkerboard-free exactly when they are all equal, i.e. when
    ``w`` contains the zero-order hold ``(1, ..., 1)`` of length ``s``;
    "kernel size divisible by stride" is neither necessary nor sufficient.
    The right panel is computed by the engine (``(Conv(w) @ Up(s))(ones)``)
    for an array kernel, else it is the report's steady-state tile
    (:func:`polyphase.analysis.constant_response`) repeated three times.

    Examples
    --------
    >>> from polyphase import plot
    >>> gains_ax, out_ax = plot.checkerboard([1, 1, 1], stride=2)
    >>> [float(b.get_height()) for b in gains_ax.containers[0]]
    [2.0, 1.0]
    >>> out_ax.lines[0].get_ydata()
    array([1., 1., 2., 1., 2., 1., 2., 1., 2., 1., 2., 1., 1.])
    """
    from . import analysis

    report = analysis.checkerboard(kernel, stride)
    gains = np.asarray(report.gains)
    if ax is None:
        ax_g, ax_o = _new_axes(1, 2, figsize=(9.6, 4.0))
    else:
        ax_g, ax_o = _pair(ax, "checkerboard")
    shown = gains.real if np.iscomplexobj(gains) else gains
    if gains.ndim == 1:
        phases = np.arange(gains.size)
        ax_g.bar(phases, shown, color=["C3" if not report.is_free else "C2"] * gains.size)
        ax_g.axhline(shown.mean(), color="k", ls="--", lw=1, label="mean")
        ax_g.set_xticks(phases)
        ax_g.set_xlabel("output phase r")
        ax_g.set_ylabel(r"DC gain $g_r = \sum_j w[r + js]$")
        ax_g.legend(fontsize="small")
    else:
        im = ax_g.imshow(shown, cmap="magma", interpolation="nearest",
                         vmin=min(0.0, shown.min()))
        ax_g.figure.colorbar(im, ax=ax_g, label="DC gain")
        for (i, j), v in np.ndenumerate(shown):
            r, g, b, _ = im.cmap(im.norm(v))           # dark cell: white text
            ax_g.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize="small",
                      color="w" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "k")
        ax_g.set_xticks(range(shown.shape[1]))
        ax_g.set_yticks(range(shown.shape[0]))
        ax_g.set_xlabel("output phase (x)")
        ax_g.set_ylabel("output phase (y)")
    verdict = "checkerboard-free" if report.is_free else "checkerboard"
    stride = tuple(report.stride)
    ax_g.set_title(f"phase gains, stride {stride[0] if len(stride) == 1 else stride}: "
                   f"{verdict}\n"
                   f"max/min {_fmt(report.ratio)}, ripple {_fmt(report.ripple)}, "
                   f"alias fraction {_fmt(report.alias_fraction)}", fontsize="medium")

    out = None
    if not hasattr(kernel, "polyphase"):
        w = np.asarray(kernel)
        out = _constant_output(w, report.stride)
        what = "output for a constant input (engine)"
    if out is None:
        tile = np.asarray(analysis.constant_response(kernel, report.stride))
        out = np.tile(tile, (3,) * tile.ndim)
        what = "steady-state output for a constant input (3 periods)"
    out = out.real if np.iscomplexobj(out) else out
    if out.ndim == 1:
        ax_o.plot(np.arange(out.size), out, "o-", color="C0", ms=4)
        ax_o.set_xlabel("output sample n")
        ax_o.set_ylabel("y[n]")
        ax_o.grid(True, alpha=0.3)
    else:
        im = ax_o.imshow(out, cmap="gray", interpolation="nearest")
        ax_o.figure.colorbar(im, ax=ax_o)
        ax_o.set_xlabel("x")
        ax_o.set_ylabel("y")
    ax_o.set_title(what, fontsize="medium")
    return ax_g, ax_o


def _fmt(v):
    try:
        v = float(v)
        return "0" if abs(v) < 1e-12 else f"{v:.3g}"
    except (TypeError, ValueError):
        return str(v)


# -------------------------------------------------------------------- aliasing
def aliasing(op, ax=None, n=256, db=True):
    """Plot the bifrequency (aliasing) map of a multirate operator.

    Parameters
    ----------
    op : Operator
        A 1-D operator, e.g. ``UpFirDn(h, 3, 2)`` or a transposed convolution.
    ax : Axes, optional
        Default a new figure.
    n : int
        Grid size, passed to :func:`polyphase.analysis.bifrequency`.
    db : bool
        Show ``20 log10`` of the magnitude (floored 100 dB below its peak)
        instead of the magnitude itself.

    Returns
    -------
    Axes

    Notes
    -----
    ``w_in, w_out, magnitude = polyphase.analysis.bifrequency(op, n)``: a
    sinusoid at input frequency ``w_in`` leaves the operator as sinusoids at
    the output frequencies where column ``w_in`` is bright.  An LTI operator
    is a diagonal line; an interpolator by ``L`` adds ``L - 1`` images, a
    decimator by ``M`` folds ``M`` input frequencies onto one output
    frequency (aliasing).  The image array (``ax.images[0].get_array()``) is
    the magnitude (or its dB), rows = output frequency; axes are in units of
    ``pi``.

    Examples
    --------
    >>> import polyphase as pp
    >>> from polyphase import plot
    >>> ax = plot.aliasing(pp.Up(2), n=32)     # 32 input, 64 output frequencies
    >>> ax.images[0].get_array().shape
    (64, 32)
    """
    from . import analysis

    op = _as_operator(op, "op")
    w_in, w_out, mag = (np.asarray(a) for a in analysis.bifrequency(op, n=n))
    ax = _single(ax, figsize=(5.6, 4.6))
    extent = _extent(w_in, w_out)
    if db:
        data = to_db(mag)
        top = data.max()
        data = np.maximum(data, top - 100.0)
        _image(ax, data, extent, cmap="magma", label="gain (dB)")
    else:
        _image(ax, mag, extent, cmap="magma", label="gain")
    ax.set_xlabel(r"input frequency $\omega_{in} / \pi$")
    ax.set_ylabel(r"output frequency $\omega_{out} / \pi$")
    L, M = op.rates
    ax.set_title(f"bifrequency map of {_name(op, 40)}\nrates {L}/{M}",
                 fontsize="medium")
    return ax


def _extent(x, y):
    """imshow extent (units of pi) whose pixel centres are the grid points."""
    def edges(v):
        v = np.asarray(v, dtype=float) / np.pi
        d = (v[-1] - v[0]) / (v.size - 1) if v.size > 1 else 1.0
        return v[0] - d / 2, v[-1] + d / 2
    return (*edges(x), *edges(y))


# ------------------------------------------------------------------ 2-D response
def response_2d(op_or_kernel, ax=None, worN=128):
    """Plot the magnitude (dB) of a 2-D kernel or 2-D LTI operator.

    Parameters
    ----------
    op_or_kernel : array_like (2-D) or Operator
        Passed to :func:`polyphase.analysis.frequency_response`, which returns
        ``(wy, wx, H)`` on fftshifted ``[-pi, pi)`` grids.
    ax : Axes, optional
        Default a new figure.
    worN : int
        Grid size per axis.

    Returns
    -------
    Axes
        The image array is ``20 log10 |H|`` (:func:`to_db`), rows = ``wy``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase import plot
    >>> ax = plot.response_2d(np.ones((2, 2)), worN=16)
    >>> float(ax.images[0].get_array().max())   # 20 log10 4 at DC
    12.041199826559248
    """
    from . import analysis

    wy, wx, H = (np.asarray(a) for a in analysis.frequency_response(op_or_kernel,
                                                                      worN=worN))
    ax = _single(ax, figsize=(5.4, 4.6))
    data = to_db(H)
    finite = data[data > DB_FLOOR]
    vmin = max(finite.min(), finite.max() - 100.0) if finite.size else None
    _image(ax, data, _extent(wx, wy), cmap="viridis", label="magnitude (dB)", vmin=vmin)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\omega_x / \pi$")
    ax.set_ylabel(r"$\omega_y / \pi$")
    ax.set_title(f"2-D response of {_name(op_or_kernel)}", fontsize="medium")
    return ax


# ------------------------------------------------------------- radial spectrum
def _gray(image) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number)
                                 or a.dtype == bool):
        raise TypeError(f"image must be a numeric array, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].astype(float) @ np.array([0.2989, 0.5870, 0.1140])
    if a.ndim != 2:
        raise ValueError("image must be 2-D (grayscale) or (H, W, 3|4) (RGB[A]); "
                         f"got shape {np.shape(image)}")
    if min(a.shape) < 2:
        raise ValueError(f"image must be at least 2x2, got shape {a.shape}")
    return a.astype(float)


def radial_profile(image, db=True, normalize=False, eps=1e-8):
    """Azimuthal average of the (log) power spectrum of an image.

    The spectral statistic of Durall, Keuper & Keuper, "Watch your
    up-convolution" (CVPR 2020), in which up-convolution leaves high-frequency
    replicas.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3|4)
        RGB(A) is converted to gray with ``0.2989 R + 0.5870 G + 0.1140 B``.
    db : bool
        Average ``20 log10 |F + eps|`` (default) instead of the power ``|F|**2``.
    normalize : bool
        Min-max normalise the profile to ``[0, 1]`` (Durall's step 4).
    eps : float
        Added to the spectrum before the log, as in Durall's code.

    Returns
    -------
    radius : ndarray of int
        ``0, 1, ..., R``: bin ``r`` holds the frequencies whose distance from
        DC (in DFT bins) is in ``[r, r + 1)``.
    profile : ndarray of float
        Mean of the spectrum over each bin.

    Notes
    -----
    ``F = fftshift(fft2(gray))``; DC sits at ``(H // 2, W // 2)`` and the
    radius of bin ``(i, j)`` is ``hypot(i - H // 2, j - W // 2)``.  Durall's
    ``azimuthalAverage`` centres on the geometric centre ``((H-1)/2,
    (W-1)/2)`` instead, half a bin off DC for even sizes, and uses the natural
    log; the scale disappears in the normalisation.  For a pure cosine
    ``cos(2 pi (u x / W + v y / H))`` the power ``(H W / 2)**2`` sits in two
    bins at radius ``hypot(u, v)``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.plot import radial_profile
    >>> x = np.arange(32)
    >>> image = np.cos(2 * np.pi * 5 * x / 32) * np.ones((32, 1))
    >>> r, p = radial_profile(image, db=False)
    >>> int(r[np.argmax(p)])          # the power is at radius 5
    5
    """
    g = _gray(image)
    F = np.fft.fftshift(np.fft.fft2(g))
    h, w = g.shape
    yy, xx = np.indices(g.shape)
    rbin = np.floor(np.hypot(yy - h // 2, xx - w // 2)).astype(np.int64).ravel()
    if db:
        values = 20.0 * np.log10(np.abs(F + eps))
    else:
        values = np.abs(F) ** 2
    counts = np.bincount(rbin)
    sums = np.bincount(rbin, weights=values.ravel())
    profile = sums / np.maximum(counts, 1)
    radius = np.arange(profile.size)
    keep = counts > 0
    radius, profile = radius[keep], profile[keep]
    if normalize:
        span = profile.max() - profile.min()
        profile = (profile - profile.min()) / span if span > 0 else np.zeros_like(profile)
    return radius, profile


def radial_spectrum(image, ax=None, label=None, normalize=False, **line_kw):
    """Plot the radial (azimuthally averaged) log power spectrum of an image.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3|4)
    ax : Axes, optional
        Default a new figure.  Call again with the same ``ax`` to overlay
        several images (pass ``label=``).
    label : str, optional
        Legend label of the line.
    normalize : bool
        Min-max normalise to ``[0, 1]`` as Durall et al. do.
    **line_kw
        Passed to ``ax.plot``.

    Returns
    -------
    Axes
        The new line's data are ``radial_profile(image, normalize=normalize)``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase import plot
    >>> img = np.random.default_rng(0).standard_normal((32, 32))
    >>> ax = plot.radial_spectrum(img, label="noise")
    >>> r, p = plot.radial_profile(img)
    >>> bool(np.array_equal(ax.lines[0].get_ydata(), p))
    True
    """
    r, p = radial_profile(image, normalize=normalize)
    ax = _single(ax)
    ax.plot(r, p, label=label, **line_kw)
    ax.set_xlabel("spatial frequency (radius in DFT bins)")
    ax.set_ylabel("normalised log power" if normalize else
                  r"mean $20\log_{10}|F|$ (dB)")
    ax.set_title("radial (azimuthal) power spectrum", fontsize="medium")
    ax.grid(True, alpha=0.3)
    if label is not None:
        ax.legend(fontsize="small")
    return ax

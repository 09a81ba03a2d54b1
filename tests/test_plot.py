"""polyphase.plot: every figure renders headless and draws the analysis numbers."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import polyphase as pp  # noqa: E402
from polyphase import analysis, plot  # noqa: E402


def png(ax) -> bytes:
    axes = ax if isinstance(ax, (tuple, list)) else (ax,)
    buf = io.BytesIO()
    axes[0].figure.savefig(buf, format="png", dpi=40)
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return data


def new_axes(n=1):
    from matplotlib.figure import Figure
    axes = Figure().subplots(1, n, squeeze=False)[0]
    return axes[0] if n == 1 else tuple(axes)


# ---------------------------------------------------------------- headless, lazy
def test_plot_module_is_lazy_and_uses_no_pyplot():
    code = (
        "import sys, numpy as np, polyphase as pp, polyphase.plot as plot\n"
        "assert 'matplotlib' not in sys.modules, 'import polyphase.plot loads matplotlib'\n"
        "ax = plot.polyphase_components(pp.Conv([1, 2, 3]) @ pp.Up(2))\n"
        "plot.radial_spectrum(np.eye(8), ax=ax)\n"
        "import io; ax.figure.savefig(io.BytesIO(), format='png')\n"
        "print(sorted(m for m in ('matplotlib', 'matplotlib.pyplot') if m in sys.modules))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['matplotlib']"


def test_bad_ax_is_a_type_error():
    with pytest.raises(TypeError, match="ax"):
        plot.polyphase_components(pp.Conv([1, 2]), ax="left")
    with pytest.raises(TypeError, match="pair of Axes"):
        plot.checkerboard([1, 1, 1], 2, ax=new_axes())


# ------------------------------------------------------------- frequency response
def test_frequency_response_draws_magnitude_db_and_phase():
    h = np.array([1.0, 2.0, 3.0])
    mag_ax, phase_ax = plot.frequency_response(h, worN=64)
    w, H = analysis.frequency_response(h, worN=64)
    mag, phase = mag_ax.lines[0], phase_ax.lines[0]
    np.testing.assert_allclose(mag.get_xdata(), w / np.pi)
    np.testing.assert_allclose(mag.get_ydata(), 20 * np.log10(np.abs(H)))
    np.testing.assert_allclose(phase.get_ydata(), np.unwrap(np.angle(H)))
    assert mag_ax.figure is phase_ax.figure
    # DC gain of [1, 2, 3] is 6, its response at pi is 1 - 2 + 3 = 2
    assert mag.get_ydata()[0] == pytest.approx(20 * np.log10(6))
    png((mag_ax, phase_ax))


def test_frequency_response_depends_on_the_input():
    a = plot.frequency_response([1, 1], worN=32)
    b = plot.frequency_response([1, -1], worN=32)
    assert not np.allclose(a[0].lines[0].get_ydata(), b[0].lines[0].get_ydata())
    assert png(a) != png(b)


def test_frequency_response_on_given_axes_and_of_an_operator():
    pair = new_axes(2)
    assert plot.frequency_response(pp.Conv([1, 2, 1]), ax=pair, worN=16) == pair
    single = new_axes()
    assert plot.frequency_response(pp.Conv([1, 2, 1]), ax=single, worN=16) is single
    assert len(single.lines) == 1
    # exact zero of the zero-order hold at pi: drawn on the -300 dB floor, not -inf
    ax = plot.frequency_response([1, 1], ax=new_axes(), worN=4)
    _, H = analysis.frequency_response([1, 1], worN=4)
    y = ax.lines[0].get_ydata()
    assert np.all(np.isfinite(y)) and np.all(y >= plot.DB_FLOOR)
    np.testing.assert_allclose(y, plot.to_db(H))


def test_frequency_response_of_a_2d_kernel_points_to_response_2d():
    with pytest.raises(ValueError, match="response_2d"):
        plot.frequency_response(np.ones((2, 2)))


def test_to_db():
    np.testing.assert_allclose(plot.to_db([1, 0.1, 1e-400, 100], power=True),
                               [0, -10, -300, 20])
    np.testing.assert_allclose(plot.to_db([-2j]), [20 * np.log10(2)])


# ----------------------------------------------------------- polyphase components
def test_polyphase_components_draws_every_entry():
    op = pp.Down(2) @ pp.Conv([1, 2, 3, 4, 5])
    ax = plot.polyphase_components(op)
    E = op.polyphase()
    drawn = {c.get_label(): c for c in ax.containers}
    assert set(drawn) == {"E[0,0]", "E[0,1]"}
    for (p, q) in [(0, 0), (0, 1)]:
        taps, offset = E.entry(p, q)
        line = drawn[f"E[{p},{q}]"].markerline
        np.testing.assert_array_equal(line.get_ydata(), taps)
        # stems sit at the block delays, shifted sideways by less than half a delay
        assert np.all(np.abs(line.get_xdata() - (offset + np.arange(taps.size))) < 0.5)
    np.testing.assert_array_equal(drawn["E[0,0]"].markerline.get_ydata(), [1, 3, 5])
    np.testing.assert_array_equal(drawn["E[0,1]"].markerline.get_ydata(), [2, 4])
    png(ax)


def test_polyphase_components_depend_on_the_operator():
    a = plot.polyphase_components(pp.Conv([1, 2, 3]) @ pp.Up(2))
    b = plot.polyphase_components(pp.Conv([1, 2, 3]) @ pp.Up(3))
    assert len(a.containers) == 2 and len(b.containers) == 3
    assert png(a) != png(b)
    # a kernel is Conv(h): one component, h itself
    c = plot.polyphase_components([4.0, 5.0], ax=new_axes())
    np.testing.assert_array_equal(c.containers[0].markerline.get_ydata(), [4, 5])


def test_polyphase_components_complex_and_errors():
    ax = plot.polyphase_components(pp.Conv([1, 1j]) @ pp.Up(2))
    labels = [c.get_label() for c in ax.containers]
    assert labels == ["E[0,0]", "E[1,0]", "Im E[1,0]"]
    with pytest.raises(ValueError, match="1-D"):
        plot.polyphase_components(pp.Conv(np.ones((2, 2))))
    with pytest.raises(TypeError, match="op"):
        plot.polyphase_components("kernel")


# ------------------------------------------------------------------ checkerboard
def test_checkerboard_1d_draws_gains_and_constant_output():
    w = np.array([1.0, 1.0, 1.0])               # Odena's size-3, stride-2 case
    gains_ax, out_ax = plot.checkerboard(w, 2)
    report = analysis.checkerboard(w, 2)
    heights = [b.get_height() for b in gains_ax.containers[0]]
    np.testing.assert_allclose(heights, report.gains)
    np.testing.assert_allclose(heights, [2, 1])
    assert "checkerboard" in gains_ax.get_title() and "free" not in gains_ax.get_title()
    y = out_ax.lines[0].get_ydata()
    engine = (pp.Conv(w) @ pp.Up(2))(np.ones(6))[:(6 - 1) * 2 + 3]
    np.testing.assert_array_equal(y, engine)
    # the interior repeats the one-period tile of the steady state
    tile = np.asarray(analysis.constant_response(w, 2)).ravel()
    interior = y[4:8]
    assert sorted(interior[:2]) == sorted(tile)
    np.testing.assert_array_equal(interior[:2], interior[2:])
    png((gains_ax, out_ax))


def test_checkerboard_depends_on_the_kernel():
    bad = plot.checkerboard([1, 1, 1], 2)
    good = plot.checkerboard([1, 2, 1], 2)        # size 3, stride 2, and free
    assert "free" in good[0].get_title()
    np.testing.assert_allclose([b.get_height() for b in good[0].containers[0]], [2, 2])
    assert np.ptp(good[1].lines[0].get_ydata()[3:-3]) == 0
    assert np.ptp(bad[1].lines[0].get_ydata()[3:-3]) > 0
    assert png(bad) != png(good)


def test_checkerboard_of_an_operator_repeats_the_steady_state_tile():
    op = pp.Conv([1.0, 1.0, 1.0]) @ pp.Up(2)
    gains_ax, out_ax = plot.checkerboard(op)
    np.testing.assert_allclose([b.get_height() for b in gains_ax.containers[0]], [2, 1])
    tile = analysis.constant_response(op)
    np.testing.assert_array_equal(out_ax.lines[0].get_ydata(), np.tile(tile, 3))
    assert "steady-state" in out_ax.get_title()


def test_checkerboard_2d_images():
    w = np.ones((3, 3))
    gains_ax, out_ax = plot.checkerboard(w, 2, ax=new_axes(2))
    report = analysis.checkerboard(w, 2)
    np.testing.assert_allclose(gains_ax.images[0].get_array(), report.gains)
    np.testing.assert_allclose(gains_ax.images[0].get_array(), [[4, 2], [2, 1]])
    out = out_ax.images[0].get_array()
    np.testing.assert_array_equal(out, (pp.Conv(w) @ pp.Up((2, 2)))(np.ones((6, 6)))[:13, :13])
    free = plot.checkerboard(analysis.make_checkerboard_free(w, 2), 2)
    assert np.ptp(np.asarray(free[0].images[0].get_array())) < 1e-12
    assert png((gains_ax, out_ax)) != png(free)


# ---------------------------------------------------------------------- aliasing
def test_aliasing_image_is_the_bifrequency_map():
    op = pp.UpFirDn([1, 2, 3, 2, 1], up=3, down=2)
    ax = plot.aliasing(op, n=48, db=False)
    w_in, w_out, mag = analysis.bifrequency(op, n=48)
    np.testing.assert_allclose(ax.images[0].get_array(), mag)
    x0, x1, y0, y1 = ax.images[0].get_extent()
    assert x0 < w_in[0] / np.pi < w_in[-1] / np.pi < x1
    assert y0 < w_out[0] / np.pi < w_out[-1] / np.pi < y1
    db = plot.aliasing(op, n=48)
    data = np.asarray(db.images[0].get_array())
    expected = plot.to_db(mag)
    np.testing.assert_allclose(data, np.maximum(expected, expected.max() - 100))
    png(db)


def test_aliasing_depends_on_the_operator():
    up = plot.aliasing(pp.Up(2), n=32, db=False)
    held = plot.aliasing(pp.Repeat(2), n=32, db=False)
    down = plot.aliasing(pp.Down(2), n=32, db=False)
    a, b, c = (np.asarray(x.images[0].get_array()) for x in (up, held, down))
    assert a.shape == b.shape == (64, 32) and c.shape == (16, 32)   # rows: output rate
    np.testing.assert_allclose(a[a > 0], 0.5)          # zero insertion: two images of 1/2
    assert not np.allclose(a, b)                       # the hold attenuates the image
    assert png(up) != png(held)


# -------------------------------------------------------------------- 2-D response
def test_response_2d_image_is_the_2d_response():
    k = pp.bilinear_kernel(2)
    ax = plot.response_2d(k, worN=32)
    wy, wx, H = analysis.frequency_response(k, worN=32)
    np.testing.assert_allclose(ax.images[0].get_array(), plot.to_db(H))
    assert ax.images[0].get_array().shape == (32, 32)
    other = plot.response_2d(np.ones((3, 3)), worN=32)
    assert not np.allclose(ax.images[0].get_array(), other.images[0].get_array())
    assert png(ax) != png(other)


# ---------------------------------------------------------------- radial spectrum
def test_radial_profile_of_a_cosine_closed_form():
    h, w, u, v = 48, 64, 6, 8                       # radius hypot(6, 8) = 10
    y, x = np.mgrid[:h, :w]
    image = 3.0 * np.cos(2 * np.pi * (u * x / w + v * y / h))
    r, p = plot.radial_profile(image, db=False)
    counts = np.bincount(np.floor(np.hypot(y - h // 2, x - w // 2)).astype(int).ravel())
    expected = np.zeros_like(p)
    expected[10] = 2 * (3.0 * h * w / 2) ** 2 / counts[10]
    np.testing.assert_array_equal(r, np.arange(r.size))
    np.testing.assert_allclose(p, expected, atol=1e-12 * expected.max())
    assert r.size == counts.size


def test_radial_profile_db_of_a_constant_and_rgb():
    image = np.full((16, 16), 2.0)
    r, p = plot.radial_profile(image)
    assert p[0] == pytest.approx(20 * np.log10(2.0 * 256))          # DC bin alone
    np.testing.assert_allclose(p[1:], 20 * np.log10(1e-8), atol=1e-3)
    rng = np.random.default_rng(1)
    rgb = rng.random((16, 20, 3))
    gray = rgb @ [0.2989, 0.5870, 0.1140]
    np.testing.assert_allclose(plot.radial_profile(rgb)[1], plot.radial_profile(gray)[1])
    _, n = plot.radial_profile(rgb, normalize=True)
    assert n.min() == 0 and n.max() == 1
    with pytest.raises(ValueError, match="image"):
        plot.radial_profile(np.ones(5))


def test_radial_spectrum_sees_the_checkerboard():
    rng = np.random.default_rng(0)
    small = rng.random((32, 32)).cumsum(0).cumsum(1)
    small /= small.max()
    nearest = np.kron(small, np.ones((2, 2)))                 # resize: no replicas
    zeros = np.zeros((64, 64))
    zeros[::2, ::2] = small                                   # bed of nails
    ax = plot.radial_spectrum(nearest, label="nearest")
    plot.radial_spectrum(zeros, ax=ax, label="zero insertion")
    a, b = (line.get_ydata() for line in ax.lines)
    np.testing.assert_array_equal(a, plot.radial_profile(nearest)[1])
    np.testing.assert_array_equal(b, plot.radial_profile(zeros)[1])
    # zero insertion replicates the spectrum: far more power at high frequency
    assert b[-10:].mean() > a[-10:].mean() + 20
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["nearest",
                                                                   "zero insertion"]
    single = plot.radial_spectrum(nearest)
    assert png(single) != png(plot.radial_spectrum(zeros))

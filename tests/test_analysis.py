"""Tests of polyphase.analysis against independent references.

References: scipy.signal.freqz, direct simulation of the operators on long
signals (complex exponentials, constants, periodic signals), dense matrices
(gradients), closed forms (multirate-anchors section 4.5-4.6) and the
known values of the issue.
"""

import dataclasses

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, strategies as st

import polyphase as pp
from polyphase import analysis as an

SQ3, SQ2 = np.sqrt(3.0), np.sqrt(2.0)
DB2 = np.array([1 + SQ3, 3 + SQ3, 3 - SQ3, 1 - SQ3]) / (4 * SQ2)

_q = np.array([0.5, -1.0, 2.0, 0.25])
_g = np.array([1.0, 2.0, -1.0])

# channel-agnostic 1-D operators for the aliasing / bifrequency checks
MULTIRATE = {
    "conv": pp.Conv(_q),
    "conv-complex": pp.Conv([1 + 2j, -0.5j, 3.0]),
    "advance": pp.Delay(-3),
    "up3": pp.Up(3),
    "down2": pp.Down(2),
    "repeat3": pp.Repeat(3),
    "interpolator": pp.Conv(_q) @ pp.Up(3),
    "strided": pp.Down(2) @ pp.Conv(_q),
    "transposed": pp.Conv(_q).T @ pp.Up(2),
    "rational-3/2": pp.Down(2) @ pp.Conv(_q) @ pp.Up(3),
    "rational-2/5": pp.Down(5) @ pp.Conv(pp.dilate(_g, 2)) @ pp.Up(2),
    "sum": pp.Up(2) @ pp.Down(3) + pp.Down(3) @ pp.Up(2),
    "up-down-4": pp.Up(4) @ pp.Down(4),
    "adjoint-complex": (pp.Down(2) @ pp.Conv([1j, 2.0, -1.0])).H,
    "layer": pp.nn.ConvTranspose1d([[[1.0, 3.0, 3.0, 1.0]]], stride=2, padding=1),
}

kernels = st.lists(st.floats(-4, 4, allow_nan=False, allow_infinity=False),
                   min_size=1, max_size=9).map(np.array)


def _interior(op, n_in):
    """An output window well inside the steady state of ``op`` on ``n_in`` samples."""
    L, M = op.rates
    n_out = n_in * L // M
    return n_out * 3 // 10, n_out * 7 // 10


# ------------------------------------------------------------ frequency_response
@given(kernels, st.booleans(), st.integers(1, 64))
def test_frequency_response_is_freqz(h, whole, n):
    w, H = an.frequency_response(pp.Conv(h), worN=n, whole=whole)
    w0, H0 = scipy.signal.freqz(h, worN=n, whole=whole)
    np.testing.assert_allclose(w, w0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(H, H0)          # exactly freqz for Conv(h)


@pytest.mark.parametrize("d", [-3, 0, 2])
def test_frequency_response_delay_phase(d):
    w, H = an.frequency_response(pp.Delay(d) @ pp.Conv([1.0, 2.0, 0.5]), worN=33)
    direct = np.exp(-1j * np.outer(w, np.arange(3) + d)) @ np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(H, direct, atol=1e-12)
    if d >= 0:   # freqz on the delayed kernel
        _, H0 = scipy.signal.freqz(np.r_[np.zeros(d), 1.0, 2.0, 0.5], worN=33)
        np.testing.assert_allclose(H, H0, atol=1e-12)


def test_frequency_response_array_worN_and_kernel_input():
    h = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    w = np.array([0.0, 0.3, 2.0, 5.5])
    w1, H1 = an.frequency_response(h, worN=w)
    _, H0 = scipy.signal.freqz(h, worN=w)
    np.testing.assert_array_equal(w1, w)
    np.testing.assert_allclose(H1, H0, atol=1e-12)


def test_frequency_response_of_lti_composites():
    h = np.arange(1.0, 8.0)
    op = pp.Down(3) @ pp.Conv(h) @ pp.Up(3)        # == Conv(h[::3])
    _, H = an.frequency_response(op, 64, whole=True)
    _, H0 = scipy.signal.freqz(h[::3], worN=64, whole=True)
    np.testing.assert_allclose(H, H0, atol=1e-12)


def test_frequency_response_matches_simulation():
    h = np.array([0.25, -1.0, 2.0, 0.5])
    theta = 0.7
    x = np.exp(1j * theta * np.arange(200))
    y = pp.Conv(h)(x, mode=(50, 150))
    _, H = an.frequency_response(h, worN=[theta])
    np.testing.assert_allclose(y, H[0] * np.exp(1j * theta * np.arange(50, 150)),
                               atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 2), (1, 4), (5, 5)])
@pytest.mark.parametrize("worN", [8, (6, 10)])
def test_frequency_response_2d(shape, worN):
    rng = np.random.default_rng(0)
    h = rng.standard_normal(shape)
    wy, wx, H = an.frequency_response(pp.Conv(h), worN=worN)
    ny, nx = (worN, worN) if np.isscalar(worN) else worN
    assert H.shape == (ny, nx) and wy.shape == (ny,) and wx.shape == (nx,)
    assert wy.min() >= -np.pi and wy.max() < np.pi and wx[0] == -np.pi
    ky, kx = np.indices(shape)
    direct = np.array([[np.sum(h * np.exp(-1j * (a * ky + b * kx))) for b in wx]
                       for a in wy])
    np.testing.assert_allclose(H, direct, atol=1e-12)
    if ny >= shape[0] and nx >= shape[1]:   # the centred DFT grid
        F = np.fft.fftshift(np.fft.fft2(h, s=(ny, nx)))
        np.testing.assert_allclose(H, F, atol=1e-12)


def test_frequency_response_2d_delay_offset():
    op = pp.Delay((1, -2)) @ pp.Conv(np.ones((2, 2)))
    wy, wx, H = an.frequency_response(op, worN=4)
    ky, kx = np.indices((2, 2))
    direct = np.array([[np.sum(np.exp(-1j * (a * (ky + 1) + b * (kx - 2)))) for b in wx]
                       for a in wy])
    np.testing.assert_allclose(H, direct, atol=1e-12)


def test_frequency_response_errors():
    with pytest.raises(ValueError, match="op=.*aliasing"):
        an.frequency_response(pp.Conv([1.0, 2.0]) @ pp.Up(2))
    with pytest.raises(ValueError, match="op=.*mixes channels"):
        an.frequency_response(pp.ChannelConv(np.ones((2, 1, 3))))
    with pytest.raises(TypeError, match="op"):
        an.frequency_response("abc")
    with pytest.raises(ValueError, match="worN"):
        an.frequency_response(pp.Conv([1.0]), worN=0)
    with pytest.raises(ValueError, match="worN"):
        an.frequency_response(pp.Conv(np.ones((2, 2))), worN=(2, 3, 4))
    # a single-channel layer with stride 1 is a plain convolution
    layer = pp.nn.Conv1d([[[1.0, 2.0, 3.0]]], padding=1)
    _, H = an.frequency_response(layer, worN=16)
    _, H0 = an.frequency_response(pp.Delay(-1) @ pp.Conv([3.0, 2.0, 1.0]), worN=16)
    np.testing.assert_allclose(H, H0, atol=1e-12)


# ------------------------------------------------------------------- aliasing
@pytest.mark.parametrize("name", sorted(MULTIRATE))
def test_aliasing_fits_simulation(name):
    """The predicted exponentials explain the output of a long exponential."""
    op = MULTIRATE[name]
    L, M = op.rates
    n_in = 240 * M
    lo, hi = _interior(op, n_in)
    n = np.arange(lo, hi)
    for theta in (0.37, 2.1, 4.9):
        res = an.aliasing(op, worN=[theta])
        assert res.rates == (L, M)
        assert res.output_freqs.shape == res.gains.shape == (L, 1)
        y = op(np.exp(1j * theta * np.arange(n_in)), mode=(lo, hi))
        basis = np.exp(1j * np.outer(n, res.output_freqs[:, 0]))
        fit, *_ = np.linalg.lstsq(basis, y, rcond=None)
        np.testing.assert_allclose(fit, res.gains[:, 0], atol=1e-9)
        np.testing.assert_allclose(basis @ res.gains[:, 0], y, atol=1e-9)


@given(kernels, st.integers(1, 5), st.integers(1, 40))
def test_aliasing_interpolator_closed_form(h, L, n):
    res = an.aliasing(pp.Conv(h) @ pp.Up(L), worN=n)
    theta = 2 * np.pi * np.arange(n) / n
    np.testing.assert_allclose(res.input_freqs, theta)
    if not np.any(h):
        return
    assert res.rates == (L, 1)
    m = np.arange(L)[:, None]
    expected_w = (theta + 2 * np.pi * m) / L
    np.testing.assert_allclose(res.output_freqs, expected_w, atol=1e-12)
    _, H = scipy.signal.freqz(h, worN=expected_w.ravel())
    np.testing.assert_allclose(res.gains, H.reshape(L, n) / L,
                               atol=1e-10 * (1 + np.abs(h).sum()))


@given(kernels, st.integers(2, 5))
def test_aliasing_decimator_closed_form(h, M):
    if not np.any(h):
        return
    theta = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    res = an.aliasing(pp.Down(M) @ pp.Conv(h), worN=theta)
    assert res.gains.shape == (1, 17)
    np.testing.assert_allclose(res.output_freqs[0], np.mod(M * theta, 2 * np.pi),
                               atol=1e-12)
    _, H = scipy.signal.freqz(h, worN=theta)
    np.testing.assert_allclose(res.gains[0], H, atol=1e-10 * (1 + np.abs(h).sum()))
    # the M inputs theta + 2 pi r / M alias onto the same output frequency
    shifted = an.aliasing(pp.Down(M) @ pp.Conv(h), worN=theta + 2 * np.pi / M)
    np.testing.assert_allclose(np.exp(1j * shifted.output_freqs),
                               np.exp(1j * res.output_freqs), atol=1e-12)


def test_aliasing_of_lti_is_frequency_response():
    res = an.aliasing(pp.Conv(_q), worN=32)
    _, H = an.frequency_response(pp.Conv(_q), worN=32, whole=True)
    np.testing.assert_allclose(res.gains[0], H, atol=1e-12)
    np.testing.assert_allclose(res.output_freqs[0], res.input_freqs)


def test_aliasing_result_is_frozen():
    res = an.aliasing(pp.Up(2), worN=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.gains = None


def test_aliasing_errors():
    with pytest.raises(ValueError, match="op=.*mixes channels"):
        an.aliasing(pp.PixelShuffle(2, channels=1, ndim=1))
    with pytest.raises(ValueError, match="op=.*1-D"):
        an.aliasing(pp.Up((2, 2)))
    with pytest.raises(ValueError, match="worN"):
        an.aliasing(pp.Up(2), worN=np.ones((2, 2)))


# --------------------------------------------------------------- bifrequency
@pytest.mark.parametrize("name", ["interpolator", "strided", "rational-3/2", "sum",
                                  "up-down-4", "conv", "adjoint-complex"])
def test_bifrequency_is_dft_of_periodic_response(name):
    op = MULTIRATE[name]
    L, M = op.rates
    w_in, w_out, mag = an.bifrequency(op, n=24)
    n_in, n_out = w_in.size, w_out.size
    assert n_in % M == 0 and n_out == n_in * L // M and mag.shape == (n_out, n_in)
    periods = 12
    for k in (0, 1, 5, n_in - 1):
        x = np.exp(2j * np.pi * k * np.arange(periods * n_in) / n_in)
        start = 5 * n_out
        y = op(x, mode=(start, start + n_out))
        np.testing.assert_allclose(np.abs(np.fft.fft(y)) / n_out, mag[:, k], atol=1e-9)


def test_bifrequency_errors():
    with pytest.raises(ValueError, match="n must be >= 1"):
        an.bifrequency(pp.Up(2), n=0)


# --------------------------------------------------------- polyphase_response
def test_polyphase_response_type1_identity():
    """sum_p e^{-jwp} E_p(e^{jwL}) == H(e^{jw}) for Conv(h) @ Up(L)."""
    h = np.array([1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0])
    L = 3
    w = np.linspace(0, 2 * np.pi, 19, endpoint=False)
    E = an.polyphase_response(pp.Conv(h) @ pp.Up(L), worN=L * w)
    assert E.shape == (19, L, 1)
    total = np.einsum("np,np->n", E[:, :, 0], np.exp(-1j * np.outer(w, np.arange(L))))
    _, H = scipy.signal.freqz(h, worN=w)
    np.testing.assert_allclose(total, H, atol=1e-12)


def test_polyphase_response_grid_and_closed_form():
    E = an.polyphase_response(pp.Down(2) @ pp.Conv([1.0, 2.0, 3.0]), worN=8)
    z = np.exp(1j * 2 * np.pi * np.arange(8) / 8)
    # y[b] = x[2b] + 2 x[2b-1] + 3 x[2b-2]: E_0 = 1 + 3 z^-1, E_1 = 2 z^-1
    np.testing.assert_allclose(E[:, 0, 0], 1 + 3 / z, atol=1e-12)
    np.testing.assert_allclose(E[:, 0, 1], 2 / z, atol=1e-12)


# ------------------------------------------------------------------- is_lti
def _shift_invariant(op, n=40):
    """Brute force: the response to delta[n - n0 - 1] is that to delta[n - n0] delayed."""
    n0 = n // 2
    e0, e1 = np.zeros(n), np.zeros(n)
    e0[n0], e1[n0 + 1] = 1.0, 1.0
    L, M = op.rates
    lo, hi = -20, n * L // M + 20
    y0, y1 = op(e0, mode=(lo, hi)), op(e1, mode=(lo, hi))
    tol = 1e-12 * max(np.abs(y0).max(), np.abs(y1).max())
    return L == M and np.allclose(y1[1:], y0[:-1], rtol=0, atol=tol) and abs(y1[0]) <= tol


def test_is_lti_examples():
    assert an.is_lti(pp.Conv([1.0, 2.0]))
    assert an.is_lti(pp.Delay(-4))
    assert an.is_lti([1.0, 2.0, 3.0])
    assert an.is_lti(pp.Down(3) @ pp.Conv(np.arange(1.0, 8.0)) @ pp.Up(3))
    assert not an.is_lti(pp.Up(2) @ pp.Down(2))
    assert not an.is_lti(pp.Up(2))
    assert not an.is_lti(pp.Down(2) @ pp.Conv([1.0, 1.0]))
    polyphase_sum = sum((pp.Delay(r) @ pp.Up(3) @ pp.Down(3) @ pp.Delay(-r)
                         for r in range(1, 3)), pp.Up(3) @ pp.Down(3))
    assert an.is_lti(polyphase_sum) and polyphase_sum.equals(pp.Identity())
    assert an.is_lti(pp.ChannelConv(np.ones((2, 3, 4))))      # MIMO convolution
    assert an.is_lti(pp.Up(2) - pp.Up(2))                     # zero


@given(st.lists(kernels, min_size=1, max_size=3), st.integers(2, 3), st.booleans())
def test_is_lti_matches_brute_force(gs, L, pseudo_circulant):
    """Pseudo-circulant constructions are LTI; generic L x L matrices are not."""
    op = None
    for r, g in enumerate(gs):
        if pseudo_circulant:   # Down(L) @ Conv(g) @ Up(L) and its conjugates by delays
            term = pp.Delay(r) @ pp.Down(L) @ pp.Conv(g) @ pp.Up(L) @ pp.Delay(-r)
        else:
            term = pp.Delay(r) @ pp.Up(L) @ pp.Conv(g) @ pp.Down(L)
        op = term if op is None else op + term
    assert an.is_lti(op) == _shift_invariant(op)
    if pseudo_circulant:
        assert an.is_lti(op)


def test_is_lti_errors():
    with pytest.raises(ValueError, match="rtol"):
        an.is_lti(pp.Up(2), rtol=-1)


# -------------------------------------------------------------- checkerboard
def test_checkerboard_known_values():
    r = an.checkerboard(np.ones(3), stride=2)
    np.testing.assert_array_equal(r.gains, [2.0, 1.0])
    assert r.ratio == 2.0
    assert r.ripple == pytest.approx(1 / 1.5)
    assert r.alias_fraction == pytest.approx(0.1)
    np.testing.assert_allclose(r.image_gains, [1 / 3])     # |W(-1)| / |W(1)|
    assert not r.is_free and r.stride == (2,)


def test_divisibility_rule_is_wrong_both_ways():
    # kernel size divisible by the stride, yet not free
    r = an.checkerboard([0.7, 0.3], 2)
    assert not r.is_free
    np.testing.assert_allclose(r.gains, [0.7, 0.3])
    # kernel size not divisible by the stride, yet free
    r = an.checkerboard([0.5, 1.0, 0.5], 2)
    assert r.is_free and r.ratio == 1.0 and r.ripple == 0.0
    np.testing.assert_allclose(r.image_gains, [0.0], atol=1e-15)


def test_checkerboard_2d_separable_ratio_squares():
    r1 = an.checkerboard(np.ones(3), 2)
    r2 = an.checkerboard(np.ones((3, 3)), 2)
    np.testing.assert_array_equal(r2.gains, np.outer(r1.gains, r1.gains))
    assert r2.ratio == r1.ratio ** 2 == 4.0
    assert r2.stride == (2, 2) and r2.image_gains.shape == (3,)
    r = an.checkerboard(np.ones((3, 4)), (2, 3))
    assert r.gains.shape == (2, 3) and r.stride == (2, 3)


@given(kernels, st.integers(1, 4))
def test_checkerboard_against_simulation_and_freqz(w, s):
    """Gains from a simulated constant input; image gains from freqz; alias fraction
    from the power of the steady-state output."""
    if abs(w.sum()) < 1e-3 or np.abs(w).max() < 1e-3:
        return
    r = an.checkerboard(w, s)
    op = pp.Conv(w) @ pp.Up(s)
    n_in = 40
    y = op(np.ones(n_in), mode=(10 * s, 20 * s))
    tile = y[:s]                      # absolute index 10 s is phase 0
    # (the engine runs the canonical form, which drops taps below 1e-12 * max|w|)
    tol = 1e-10 * np.abs(w).sum()
    np.testing.assert_allclose(y, np.tile(tile, 10), atol=tol)
    np.testing.assert_allclose(r.gains, tile, atol=tol)
    _, W = scipy.signal.freqz(w, worN=2 * np.pi * np.arange(s) / s)
    np.testing.assert_allclose(r.image_gains, np.abs(W[1:]) / abs(W[0]),
                               atol=1e-9 * np.abs(w).sum() / abs(W[0]))
    power = np.mean(tile ** 2)
    assert r.alias_fraction == pytest.approx(1 - tile.mean() ** 2 / power, abs=1e-8)
    assert r.is_free == bool(np.all(r.image_gains < 1e-9 * np.abs(w).sum() / abs(W[0]))
                             or np.ptp(tile) <= 1e-9 * np.abs(tile).max())


@given(kernels, st.integers(1, 4))
def test_zoh_factor_is_always_free(q, s):
    r = an.checkerboard(np.convolve(np.ones(s), q), s)
    assert r.is_free
    np.testing.assert_allclose(r.gains, np.full(s, q.sum()), atol=1e-12 * (1 + np.abs(q).sum()))


def test_checkerboard_operator_matches_array():
    w = np.array([0.2, 1.0, -0.5, 0.7, 0.1])
    for s in (2, 3):
        ra = an.checkerboard(w, s)
        ro = an.checkerboard(pp.Conv(w) @ pp.Up(s))
        np.testing.assert_allclose(ro.gains, ra.gains, atol=1e-15)
        assert (ro.ratio, ro.is_free, ro.stride) == (ra.ratio, ra.is_free, ra.stride)
        np.testing.assert_allclose(ro.image_gains, ra.image_gains, atol=1e-15)
    w2 = np.arange(1.0, 13.0).reshape(3, 4)
    ro = an.checkerboard(pp.Conv(w2) @ pp.Up((2, 3)))
    np.testing.assert_allclose(ro.gains, an.checkerboard(w2, (2, 3)).gains)
    assert an.checkerboard(pp.Repeat(3)).is_free
    assert an.checkerboard(pp.Conv([[1.0, 2.0]]) @ pp.Repeat((2, 2))).is_free
    up = an.checkerboard(pp.Up(2))
    np.testing.assert_array_equal(up.gains, [1.0, 0.0])
    assert up.ratio == np.inf and not up.is_free


def test_checkerboard_transposed_conv_layers():
    w = np.array([0.2, 1.0, -0.5, 0.7, 0.1])
    g = an.checkerboard(w, 2).gains
    for p in (0, 1, 2):
        layer = pp.nn.ConvTranspose1d(w.reshape(1, 1, -1), stride=2, padding=p)
        # padding p crops p samples: output index n is index n + p of the full scatter
        np.testing.assert_allclose(an.checkerboard(layer).gains, np.roll(g, -p))
    # several input channels: gains summed over the inputs
    W = np.random.default_rng(1).standard_normal((3, 1, 4))
    r = an.checkerboard(pp.nn.ConvTranspose1d(W, stride=2))
    np.testing.assert_allclose(r.gains, an.checkerboard(W.sum(axis=0)[0], 2).gains)
    # depthwise 2-D (FCN's fixed bilinear layer): one tile per output channel
    for f in (2, 3, 4):
        layer = pp.caffe.bilinear_upsampling(3, f)
        r = an.checkerboard(layer)
        assert r.gains.shape == (3, f, f) and r.is_free and r.stride == (f, f)
        np.testing.assert_allclose(r.gains, 1.0)
    # per-channel worst case
    two = pp.nn.ConvTranspose1d(np.array([[[1.0, 1.0, 0.0]], [[1.0, 1.0, 1.0]]]),
                                stride=2, groups=2)
    r = an.checkerboard(two)
    assert r.gains.shape == (2, 2) and not r.is_free and r.ratio == 2.0
    assert r.image_gains.shape == (2, 1)


def test_bilinear_and_resize_convolution_are_free():
    for f in range(1, 7):
        for ndim in (1, 2):
            assert an.checkerboard(pp.bilinear_kernel(f, ndim=ndim), f).is_free
    rng = np.random.default_rng(2)
    for s in (2, 3):
        q = rng.standard_normal(5)
        assert an.checkerboard(pp.Conv(q) @ pp.Repeat(s)).is_free       # resize-conv
        q2 = rng.standard_normal((3, 3))
        assert an.checkerboard(pp.Conv(q2) @ pp.Repeat((s, s))).is_free
        assert not an.checkerboard(pp.Conv(q) @ pp.Up(s)).is_free


def test_zero_kernel_is_trivially_free():
    r = an.checkerboard(np.zeros(4), 2)
    assert r.is_free and r.ratio == 1.0 and r.ripple == 0.0 and r.alias_fraction == 0.0


def test_sign_changing_gains():
    r = an.checkerboard([1.0, -1.0], 2)        # a highpass: alternating output
    assert r.ratio == np.inf and r.ripple == np.inf and r.alias_fraction == 1.0
    assert not r.is_free
    r = an.checkerboard([-2.0, -1.0], 2)       # negative mean: the sign is taken out
    assert r.ratio == 2.0


def test_checkerboard_errors():
    with pytest.raises(ValueError, match="stride is required"):
        an.checkerboard([1.0, 2.0])
    with pytest.raises(ValueError, match="gradient_checkerboard"):
        an.checkerboard(pp.Down(2) @ pp.Conv([1.0, 2.0]))
    with pytest.raises(ValueError, match="stride=3 does not match"):
        an.checkerboard(pp.Conv([1.0, 2.0]) @ pp.Up(2), stride=3)
    with pytest.raises(TypeError, match="kernel must be real"):
        an.checkerboard([1j, 2.0], 2)
    with pytest.raises(ValueError, match="kernel must be a 1-D or 2-D"):
        an.checkerboard(np.ones((2, 2, 2)), 2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        an.checkerboard([1.0], 0)
    with pytest.raises(ValueError, match="stride must be an int or 2 ints"):
        an.checkerboard(np.ones((2, 2)), (1, 2, 3))
    with pytest.raises(ValueError, match="rtol"):
        an.checkerboard([1.0], 1, rtol=-1.0)
    with pytest.raises(TypeError, match="stride must be an integer"):
        an.checkerboard([1.0], "2")


# ---------------------------------------------------------- constant_response
@pytest.mark.parametrize("s", [1, 2, 3])
def test_constant_response_1d_simulation(s):
    w = np.array([0.3, 1.0, 0.2, -0.4, 0.9])
    tile = an.constant_response(w, s)
    y = (pp.Conv(w) @ pp.Up(s))(np.ones(50), mode=(9 * s, 40 * s))
    n = np.arange(9 * s, 40 * s)
    np.testing.assert_allclose(y, tile[n % s], atol=1e-14)


def test_constant_response_2d_simulation():
    w = np.random.default_rng(3).standard_normal((3, 4))
    s = (2, 3)
    tile = an.constant_response(w, s)
    assert tile.shape == s
    y = (pp.Conv(w) @ pp.Up(s))(np.ones((20, 20)), mode=[(10, 30), (15, 45)])
    ny, nx = np.meshgrid(np.arange(10, 30), np.arange(15, 45), indexing="ij")
    np.testing.assert_allclose(y, tile[ny % 2, nx % 3], atol=1e-12)


def test_constant_response_of_padded_layer():
    w = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    layer = pp.nn.ConvTranspose1d(w, stride=3, padding=2)
    tile = an.constant_response(layer)
    y = layer(np.ones((1, 1, 40)))[0, 0]        # PyTorch call: index 0 is absolute 0
    n = np.arange(9, 100)
    np.testing.assert_allclose(y[n], tile[n % 3])


# ------------------------------------------------------- gradient_checkerboard
@given(kernels, st.integers(1, 4))
def test_gradient_checkerboard_is_the_gradient(w, s):
    """Against the dense matrix: d/dx sum(Down(s) @ Conv(w) x) = A^T 1."""
    A = (pp.Down(s) @ pp.Conv(w)).matrix(12 * s)
    grad = A.T @ np.ones(A.shape[0])
    r = an.gradient_checkerboard(w, s)
    n = np.arange(len(w), 12 * s - len(w))       # away from the edges
    tol = 1e-10 * np.abs(w).sum()                # canonical forms drop taps < 1e-12 max
    np.testing.assert_allclose(grad[n], r.gains[n % s], atol=tol)
    fwd = an.checkerboard(w, s)                  # the dual: same phase sums
    np.testing.assert_allclose(np.sort(r.gains), np.sort(fwd.gains), atol=tol)
    assert r.is_free == fwd.is_free


def test_gradient_checkerboard_of_torch_conv_layer():
    w = np.array([1.0, 2.0, 3.0])
    conv = pp.nn.Conv1d(w.reshape(1, 1, -1), stride=2, padding=1)
    r = an.gradient_checkerboard(conv)
    grad = conv.matrix(30).T @ np.ones(conv.matrix(30).shape[0])
    n = np.arange(4, 26)
    np.testing.assert_allclose(grad[n], r.gains[n % 2])
    assert r.ratio == 2.0 and not r.is_free
    W2 = np.ones((1, 1, 3, 3))
    r2 = an.gradient_checkerboard(pp.nn.Conv2d(W2, stride=2, padding=1))
    assert r2.ratio == 4.0 and r2.gains.shape == (2, 2)
    assert an.gradient_checkerboard(pp.nn.Conv2d(np.ones((1, 1, 4, 4)), stride=2)).is_free


def test_gradient_checkerboard_errors():
    with pytest.raises(ValueError, match="checkerboard"):
        an.gradient_checkerboard(pp.Conv([1.0]) @ pp.Up(2))
    with pytest.raises(ValueError, match="stride is required"):
        an.gradient_checkerboard([1.0, 2.0])
    with pytest.raises(ValueError, match="stride=3 does not match"):
        an.gradient_checkerboard(pp.Down(2) @ pp.Conv([1.0, 2.0]), stride=3)


# ------------------------------------------------------ make_checkerboard_free
def test_make_checkerboard_free_examples():
    np.testing.assert_allclose(an.make_checkerboard_free([0.7, 0.3], 2),
                               [0.35, 0.5, 0.15])
    np.testing.assert_allclose(an.make_checkerboard_free([0.7, 0.3], 2, "renormalize"),
                               [0.5, 0.5])


@given(kernels, st.integers(1, 4), st.sampled_from(["zoh", "renormalize"]))
def test_make_checkerboard_free_1d(w, s, method):
    g = an.checkerboard(w, s).gains
    if method == "renormalize":
        if w.sum() == 0 or np.any(g == 0):
            with pytest.raises(ValueError, match="renormaliz|component"):
                an.make_checkerboard_free(w, s, method)
            return
        if abs(w.sum()) < 1e-6 or np.abs(g).min() < 1e-6 * np.abs(g).max():
            return          # ill-conditioned rescaling: covered by the error tests
    out = an.make_checkerboard_free(w, s, method)
    assert out.shape == ((w.size + s - 1,) if method == "zoh" else w.shape)
    r = an.checkerboard(out, s)
    assert r.is_free
    np.testing.assert_allclose(r.gains, g.mean(), atol=1e-9 * (1 + np.abs(w).sum()))


@pytest.mark.parametrize("method", ["zoh", "renormalize"])
def test_make_checkerboard_free_2d(method):
    w = np.random.default_rng(4).uniform(0.1, 1.0, (3, 5))
    s = (2, 3)
    out = an.make_checkerboard_free(w, s, method)
    r = an.checkerboard(out, s)
    assert r.is_free
    np.testing.assert_allclose(r.gains, an.checkerboard(w, s).gains.mean())
    expected = (4, 7) if method == "zoh" else (3, 5)
    assert out.shape == expected
    if method == "zoh":    # == Conv(w) @ Repeat(s) scaled by 1/S: a resize-convolution
        op = pp.Conv(w) @ pp.Repeat(s)
        assert (6 * pp.Conv(out) @ pp.Up(s)).equals(op)


def test_make_checkerboard_free_errors():
    with pytest.raises(ValueError, match="method"):
        an.make_checkerboard_free([1.0, 2.0], 2, method="nope")
    with pytest.raises(ValueError, match="sums to zero"):
        an.make_checkerboard_free([1.0, -1.0], 2, method="renormalize")
    with pytest.raises(ValueError, match="component"):
        an.make_checkerboard_free([1.0, 1.0, -1.0], 2, method="renormalize")
    with pytest.raises(TypeError, match="kernel"):
        an.make_checkerboard_free(pp.Conv([1.0]), 2)


# ---------------------------------------------------------------------- icnr
@pytest.mark.parametrize("r", [2, 3])
def test_icnr_subpixel_conv_equals_nearest_resize(r):
    C, C_in, k = 2, 3, 3
    rng = np.random.default_rng(5)
    W0 = rng.standard_normal((C, C_in, k, k))
    W = an.icnr((C * r * r, C_in, k, k), r, init=W0)
    assert W.shape == (C * r * r, C_in, k, k)
    for c in range(C):
        for j in range(r * r):
            np.testing.assert_array_equal(W[c * r * r + j], W0[c])
    x = rng.standard_normal((2, C_in, 6, 7))
    sub = pp.nn.pixel_shuffle(pp.nn.conv2d(x, W, padding=1), r)
    resize = pp.nn.interpolate(pp.nn.conv2d(x, W0, padding=1), scale_factor=r,
                               mode="nearest")
    np.testing.assert_allclose(sub, resize, atol=1e-12)
    # as an operator: sub-pixel convolution is an interpolator; ICNR makes it free
    op = pp.PixelShuffle(r, C) @ pp.nn.Conv2d(W, padding=1)
    assert op.rates == ((r, r), (1, 1))
    assert an.checkerboard(op).is_free
    random = pp.PixelShuffle(r, C) @ pp.nn.Conv2d(rng.standard_normal(W.shape), padding=1)
    assert not an.checkerboard(random).is_free


def test_icnr_default_init_and_errors():
    W = an.icnr((8, 3, 5), 2, rng=0)            # 1-D: r copies
    assert W.shape == (8, 3, 5)
    np.testing.assert_array_equal(W[0], W[1])
    assert not np.array_equal(W[0], W[2])
    np.testing.assert_array_equal(W, an.icnr((8, 3, 5), 2, rng=0))
    W = an.icnr((4, 2, 3, 3), 2, init=lambda shape: np.ones(shape))
    assert np.all(W == 1)
    with pytest.raises(ValueError, match="divisible"):
        an.icnr((6, 3, 3, 3), 2)
    with pytest.raises(ValueError, match="weight_shape"):
        an.icnr((6, 3), 2)
    with pytest.raises(ValueError, match="init"):
        an.icnr((4, 1, 3, 3), 2, init=np.ones((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="upscale_factor"):
        an.icnr((4, 1, 3, 3), 0)


# -------------------------------------------------------- perfect_reconstruction
def _qmf(h0):
    K = len(h0)
    h1 = np.array([(-1) ** n * h0[K - 1 - n] for n in range(K)])
    return [h0, h1], [h0[::-1], h1[::-1]]


def _round_trip(analysis, synthesis, x):
    M = len(analysis)
    return sum(pp.upfirdn(f, pp.upfirdn(h, x, 1, M), M) for h, f in
               zip(analysis, synthesis))


def test_pr_haar():
    h0 = np.array([1.0, 1.0]) / SQ2
    ana, syn = _qmf(h0)
    r = an.perfect_reconstruction(ana, syn)
    assert r.ok and r.delay == 1 and r.gain == pytest.approx(1.0)
    assert r.alias_error < 1e-12 and r.distortion_error < 1e-12
    x = np.random.default_rng(6).standard_normal(50)
    y = _round_trip(ana, syn, x)
    np.testing.assert_allclose(y[1:51], x, atol=1e-12)


def test_pr_db2_closed_form():
    ana, syn = _qmf(DB2)
    r = an.perfect_reconstruction(ana, syn)
    assert r.ok and r.delay == 3 and r.gain == pytest.approx(1.0)
    assert r.alias_error < 1e-12 and r.distortion_error < 1e-12
    x = np.random.default_rng(7).standard_normal(60)
    np.testing.assert_allclose(_round_trip(ana, syn, x)[3:63], x, atol=1e-12)


@pytest.mark.parametrize("M", [2, 3, 4])
def test_pr_lazy_bank(M):
    ana = [np.eye(M)[k] for k in range(M)]               # delta[n - k]
    syn = [np.eye(M)[M - 1 - k] for k in range(M)]       # delta[n - (M-1-k)]
    r = an.perfect_reconstruction(ana, syn)
    assert r.ok and r.delay == M - 1 and r.gain == pytest.approx(1.0)


def test_pr_broken_banks():
    ana, syn = _qmf(DB2)
    broken = [syn[0], syn[1] * 1.01]
    r = an.perfect_reconstruction(ana, broken)
    assert not r.ok and r.alias_error > 1e-3
    # a bank without aliasing but with distortion
    h0 = np.array([1.0, 1.0]) / SQ2
    ana, syn = _qmf(h0)
    r = an.perfect_reconstruction(ana, [np.convolve(syn[0], [1.0, 0.5]),
                                        np.convolve(syn[1], [1.0, 0.5])])
    assert not r.ok and r.alias_error < 1e-12 and r.distortion_error > 0.1
    # no reconstruction at all
    r = an.perfect_reconstruction(ana, [syn[0], syn[0]])
    assert not r.ok


def test_pr_alias_components_match_aliasing():
    """A_l(e^{jw}) from the AC matrix == the multirate aliasing gains of the bank."""
    ana, syn = _qmf(DB2)
    syn = [syn[0], syn[1] * 1.3]
    M = 2
    (h0, h1), (f0, f1) = ana, syn
    system = (pp.Conv(f0) @ pp.Up(M) @ pp.Down(M) @ pp.Conv(h0)
              + pp.Conv(f1) @ pp.Up(M) @ pp.Down(M) @ pp.Conv(h1))
    theta = np.array([0.3, 1.1, 2.5, 4.0])
    res = an.aliasing(system, worN=theta)
    assert res.rates == (M, M)
    for m in range(M):
        w = theta + 2 * np.pi * m / M
        A = sum(scipy.signal.freqz(h, worN=w - 2 * np.pi * m / M)[1]
                * scipy.signal.freqz(f, worN=w)[1] for h, f in zip(ana, syn)) / M
        np.testing.assert_allclose(res.gains[m], A, atol=1e-12)


def test_pr_report_and_errors():
    r = an.perfect_reconstruction([[1.0]], [[2.0]])      # M = 1: a gain
    assert r.ok and r.gain == 2.0 and r.delay == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.ok = False
    with pytest.raises(ValueError, match="same number of channels"):
        an.perfect_reconstruction([[1.0], [1.0]], [[1.0]])
    with pytest.raises(TypeError, match="analysis"):
        an.perfect_reconstruction(None, [[1.0]])
    with pytest.raises(ValueError, match=r"synthesis\[0\]"):
        an.perfect_reconstruction([[1.0]], [[]])

"""Tests for polyphase.extension.extend against scipy.signal.upfirdn itself.

The oracle reads scipy's extension out of upfirdn's output.  For a delta
filter ``h = np.zeros(npre + npost + 1); h[npre] = 1``, output sample ``k`` is
``sum_j h[j] * x_ext[k - j] = x_ext[k - npre]`` for ``k = 0 .. n + npre +
npost - 1``, i.e. upfirdn returns scipy's own extension of ``x`` from index
``-npre`` to ``n + npost - 1`` -- the very array ``extend`` must produce.
Multiplying by 1 and adding products with 0 is exact for finite data, so the
comparison is exact (``assert_array_equal``), not approximate.
"""

import ast
import doctest
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from scipy.signal import upfirdn

import polyphase.extension as extension_module
from polyphase.extension import MODES, extend, validate_mode

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]

# On a length-1 signal scipy's kernel divides by len(x) - 1 == 0 for these
# (the process dies with SIGFPE) or reads outside the signal ("smooth"), so
# scipy must never be called with them; extend raises instead.
NEEDS_TWO = {"reflect", "antireflect", "smooth"}


def scipy_extension(x, npre, npost, mode, cval=0.0, axis=-1):
    """``x`` extended by scipy.signal.upfirdn's own rules (see module doc)."""
    x = np.asarray(x)
    # A filter in x's real precision keeps scipy's kernel in x's precision
    # (upfirdn computes in result_type(h, x, float32)).
    real = np.float32 if x.dtype in (np.float16, np.float32, np.complex64) else np.float64
    h = np.zeros(npre + npost + 1, dtype=real)
    h[npre] = 1
    return upfirdn(h, x, mode=mode, cval=cval, axis=axis)


def make_signal(rng, shape, dtype):
    """Random data spanning several magnitudes so rounding is exercised."""
    scale = 10.0 ** rng.integers(-3, 4)
    x = rng.standard_normal(shape) * scale
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape) * scale
    return x.astype(dtype)


def assert_same(got, want):
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    # assert_array_equal treats NaN == NaN and -0.0 == 0.0.
    assert_array_equal(got, want)


def pad_pairs(n):
    """(npre, npost) pairs: none, short, longer than the signal, much longer."""
    return [(0, 0), (1, 0), (0, 1), (1, 1), (n, n - 1), (n + 1, 2 * n + 1),
            (3 * n + 2, 2 * n), (17, 23)]


# ---------------------------------------------------------------------------
# the oracle itself


def test_oracle_places_signal_after_npre_samples():
    x = np.arange(1.0, 6.0)
    for mode in MODES:
        out = scipy_extension(x, 3, 4, mode)
        assert out.shape == (3 + 5 + 4,)
        assert_array_equal(out[3:8], x)


# ---------------------------------------------------------------------------
# every mode, dtype and short length against scipy


# Length 1 is left out for the modes scipy cannot extend it in
# (test_length_one_undefined_modes_raise) and for "line", whose NaN slope the
# delta oracle cannot localise (test_line_on_one_sample_is_nan_like_scipy).
MODE_LENGTHS = [(mode, n) for mode in MODES for n in range(1, 8)
                if n > 1 or (mode not in NEEDS_TWO and mode != "line")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode, n", MODE_LENGTHS)
def test_matches_scipy(mode, n, dtype):
    rng = np.random.default_rng([n, MODES.index(mode), DTYPES.index(dtype)])
    for trial in range(3):
        x = make_signal(rng, n, dtype)
        for npre, npost in pad_pairs(n):
            got = extend(x, npre, npost, mode=mode)
            assert got.shape == (npre + n + npost,)
            assert_same(got, scipy_extension(x, npre, npost, mode))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_integer_valued_signal(mode, dtype):
    # Small integers make any mistake in the index pattern obvious in the
    # failure message, independent of rounding.
    for n in range(2, 8):
        x = (np.arange(n) ** 2 - 3 * np.arange(n) + 1).astype(dtype)
        if np.dtype(dtype).kind == "c":
            x = x + 1j * np.arange(n)[::-1].astype(dtype)
        for npre, npost in pad_pairs(n):
            assert_same(extend(x, npre, npost, mode),
                        scipy_extension(x, npre, npost, mode))


def _finite(dtype):
    kw = dict(allow_nan=False, allow_infinity=False)
    if dtype == np.float32:
        return st.floats(-1e6, 1e6, width=32, **kw)
    if dtype == np.float64:
        return st.floats(-1e6, 1e6, **kw)
    width = 64 if dtype == np.complex64 else 128
    return st.complex_numbers(max_magnitude=1e6, width=width, **kw)


@st.composite
def cases(draw):
    mode = draw(st.sampled_from(MODES))
    dtype = draw(st.sampled_from(DTYPES))
    n_min = 2 if mode in NEEDS_TWO or mode == "line" else 1
    values = draw(st.lists(_finite(dtype), min_size=n_min, max_size=12))
    npre = draw(st.integers(0, 60))
    npost = draw(st.integers(0, 60))
    return mode, np.array(values, dtype=dtype), npre, npost


@settings(max_examples=400, deadline=None)
@given(cases())
def test_matches_scipy_hypothesis(case):
    mode, x, npre, npost = case
    assert_same(extend(x, npre, npost, mode), scipy_extension(x, npre, npost, mode))


# ---------------------------------------------------------------------------
# length-1 and empty signals


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["constant", "symmetric", "edge", "wrap",
                                  "antisymmetric"])
def test_length_one_defined_modes(mode, dtype):
    x = np.array([2.5 - 1.5j if np.dtype(dtype).kind == "c" else -2.5], dtype)
    for npre, npost in [(1, 0), (0, 1), (5, 9), (12, 3)]:
        assert_same(extend(x, npre, npost, mode),
                    scipy_extension(x, npre, npost, mode))


@pytest.mark.parametrize("dtype", DTYPES)
def test_line_on_one_sample_is_nan_like_scipy(dtype):
    # scipy's slope is (x[0] - x[0]) / 0 = NaN.  Every upfirdn output then
    # mixes in a NaN (NaN * 0 is NaN), so the oracle can only confirm that
    # the extension is NaN, not where; extend keeps x itself intact.
    x = np.array([3.0], dtype)
    got = extend(x, 4, 2, mode="line")
    assert got.dtype == np.dtype(dtype)
    assert np.isnan(got[:4]).all() and np.isnan(got[5:]).all()
    assert got[4] == x[0]
    assert np.isnan(scipy_extension(x, 4, 2, "line")).all()
    # Without any extension nothing is NaN, in scipy or here.
    assert_same(extend(x, 0, 0, mode="line"), scipy_extension(x, 0, 0, "line"))


@pytest.mark.parametrize("mode", sorted(NEEDS_TWO))
def test_length_one_undefined_modes_raise(mode):
    x = np.array([1.0])
    for npre, npost in [(1, 0), (0, 1), (3, 3)]:
        with pytest.raises(ValueError, match="mode="):
            extend(x, npre, npost, mode)
    # Nothing to extend: fine for every mode.
    assert_array_equal(extend(x, 0, 0, mode), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_signal_constant_matches_scipy(dtype):
    x = np.zeros(0, dtype)
    for cval in (0.0, 2.5):
        assert_same(extend(x, 2, 3, cval=cval),
                    scipy_extension(x, 2, 3, "constant", cval=cval))


@pytest.mark.parametrize("mode", [m for m in MODES if m != "constant"])
def test_empty_signal_other_modes_raise(mode):
    with pytest.raises(ValueError, match="mode="):
        extend(np.zeros(0), 1, 1, mode)
    assert extend(np.zeros(0), 0, 0, mode).shape == (0,)


# ---------------------------------------------------------------------------
# cval


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cval", [0.0, -0.0, 1.0, 0.1, -7.25e5, 3, 1e-30,
                                  np.float32(0.3), np.float64(2.0 / 3.0)])
def test_cval_matches_scipy(cval, dtype):
    # 0.1 and 2/3 are not float32 numbers: the rounding must match too.
    x = make_signal(np.random.default_rng(7), 4, dtype)
    for npre, npost in [(1, 0), (0, 2), (6, 9)]:
        assert_same(extend(x, npre, npost, "constant", cval=cval),
                    scipy_extension(x, npre, npost, "constant", cval=cval))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("cval", [1.5 - 2j, 0.1j, np.complex64(3 + 0.3j)])
def test_complex_cval_matches_scipy(cval, dtype):
    x = make_signal(np.random.default_rng(8), 3, dtype)
    assert_same(extend(x, 4, 5, "constant", cval=cval),
                scipy_extension(x, 4, 5, "constant", cval=cval))


@pytest.mark.parametrize("mode", [m for m in MODES if m != "constant"])
def test_cval_ignored_by_other_modes(mode):
    x = make_signal(np.random.default_rng(9), 5, np.float64)
    want = scipy_extension(x, 7, 8, mode, cval=4.0)
    assert_same(extend(x, 7, 8, mode, cval=4.0), want)
    assert_same(extend(x, 7, 8, mode), want)


def test_complex_cval_for_real_signal_raises_like_scipy():
    x = np.arange(3.0)
    with pytest.raises(TypeError):
        scipy_extension(x, 1, 1, "constant", cval=1j)
    with pytest.raises(TypeError, match="cval"):
        extend(x, 1, 1, "constant", cval=1j)
    with pytest.raises(TypeError, match="cval"):
        extend(x, 1, 1, "constant", cval=np.complex128(1 + 2j))


@pytest.mark.parametrize("cval", ["1", None, [1.0]])
def test_non_numeric_cval_raises_like_scipy(cval):
    x = np.arange(3.0)
    with pytest.raises(TypeError):
        scipy_extension(x, 1, 1, "constant", cval=cval)
    with pytest.raises(TypeError):
        extend(x, 1, 1, "constant", cval=cval)


# ---------------------------------------------------------------------------
# N-D input and axis


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_2d_axis_matches_scipy(axis, mode, dtype):
    rng = np.random.default_rng(11)
    x = make_signal(rng, (4, 6), dtype)
    got = extend(x, 9, 5, mode, cval=1.25, axis=axis)
    assert got.flags.c_contiguous
    assert_same(got, scipy_extension(x, 9, 5, mode, cval=1.25, axis=axis))


@pytest.mark.parametrize("mode", MODES)
def test_3d_and_non_contiguous_input(mode):
    rng = np.random.default_rng(12)
    base = make_signal(rng, (5, 8, 6), np.complex128)
    x = base[::2, :, ::-1].transpose(2, 0, 1)        # strided, reversed view
    for axis in range(3):
        assert_same(extend(x, 4, 11, mode, axis=axis),
                    scipy_extension(x, 4, 11, mode, axis=axis))


def test_2d_rows_are_independent():
    # Each row is extended on its own, as if it were the only one.
    x = make_signal(np.random.default_rng(13), (3, 4), np.float64)
    for mode in MODES:
        got = extend(x, 6, 7, mode, axis=-1)
        for row in range(3):
            assert_same(got[row], extend(x[row], 6, 7, mode))


# ---------------------------------------------------------------------------
# dtypes and the returned array


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_kept_and_input_untouched(dtype):
    x = make_signal(np.random.default_rng(14), 5, dtype)
    before = x.copy()
    for mode in MODES:
        out = extend(x, 3, 3, mode)
        assert out.dtype == np.dtype(dtype)
    assert_array_equal(x, before)
    # No extension still gives a new array, never a view of x.
    out = extend(x, 0, 0)
    assert_array_equal(out, x)
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("mode", MODES)
def test_integer_and_half_inputs_match_scipy(mode):
    # Integers are computed in float64 (scipy with the usual float64 filter),
    # float16 in float32 (scipy's smallest kernel).
    xi = np.array([3, -1, 4, 1, -5], dtype=np.int32)
    assert_same(extend(xi, 6, 8, mode), scipy_extension(xi.astype(float), 6, 8, mode))
    xh = np.array([0.5, 1.25, -2.0, 3.0], dtype=np.float16)
    assert_same(extend(xh, 6, 8, mode), scipy_extension(xh, 6, 8, mode))
    assert extend([True, False], 1, 1, "wrap").dtype == np.float64


def test_list_input():
    assert_same(extend([1.0, 2.0, 4.0], 2, 2, "reflect"),
                scipy_extension(np.array([1.0, 2.0, 4.0]), 2, 2, "reflect"))


@pytest.mark.parametrize("x", [np.array([1.0], np.longdouble),
                               np.array(["a", "b"]), np.array([None, 1.0])])
def test_unsupported_dtypes_raise(x):
    with pytest.raises(TypeError, match="x must be"):
        extend(x, 1, 1, "edge")


# ---------------------------------------------------------------------------
# mode validation


def test_modes_are_scipys():
    assert set(MODES) == {"constant", "symmetric", "reflect", "edge", "wrap",
                          "smooth", "antisymmetric", "antireflect", "line"}
    assert len(MODES) == 9
    # Every one is accepted by scipy itself.
    for mode in MODES:
        scipy_extension(np.arange(3.0), 1, 1, mode)


@pytest.mark.parametrize("mode", MODES)
def test_validate_mode_accepts_any_case_like_scipy(mode):
    assert validate_mode(mode) == mode
    assert validate_mode(mode.upper()) == mode
    x = np.arange(1.0, 5.0)
    assert_same(extend(x, 5, 6, mode.capitalize()), scipy_extension(x, 5, 6, mode.upper()))


@pytest.mark.parametrize("bad", ["periodic", "", "zero", None, 3, b"wrap", ["wrap"]])
def test_bad_mode_raises_naming_mode_and_listing_modes(bad):
    for call in (lambda: validate_mode(bad), lambda: extend(np.ones(3), 1, 1, bad)):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert message.startswith("mode ")
        for mode in MODES:
            assert repr(mode) in message


# ---------------------------------------------------------------------------
# npre / npost / axis / x validation


@pytest.mark.parametrize("name", ["npre", "npost"])
@pytest.mark.parametrize("bad", [-1, -10, 1.5, float("nan"), "2", None, True,
                                 np.bool_(False), [1], 2 + 0j])
def test_bad_counts_raise_naming_parameter(name, bad):
    kwargs = {"npre": 1, "npost": 1, name: bad}
    with pytest.raises(ValueError, match=name):
        extend(np.ones(3), mode="edge", **kwargs)


@pytest.mark.parametrize("count", [np.int64(3), np.uint8(3), 3.0, np.float32(3)])
def test_integral_counts_accepted(count):
    x = np.arange(4.0)
    want = scipy_extension(x, 3, 3, "wrap")
    assert_same(extend(x, count, count, "wrap"), want)


@pytest.mark.parametrize("axis", [2, -3, 1.5, "0", None, True])
def test_bad_axis_raises(axis):
    with pytest.raises(ValueError, match="axis"):
        extend(np.ones((2, 3)), 1, 1, axis=axis)


def test_integral_float_axis_accepted():
    x = make_signal(np.random.default_rng(15), (3, 4), np.float64)
    assert_same(extend(x, 2, 5, "symmetric", axis=0.0),
                scipy_extension(x, 2, 5, "symmetric", axis=0))


def test_zero_dimensional_input_raises():
    with pytest.raises(ValueError, match="at least one dimension"):
        extend(np.float64(1.0), 1, 1)


# ---------------------------------------------------------------------------
# module hygiene


def test_docstring_examples_run():
    result = doctest.testmod(extension_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_module_imports_only_numpy():
    # Importing the module must stay cheap: numpy at most, scipy only in tests.
    tree = ast.parse(inspect.getsource(extension_module))
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "numbers", "numpy"}

"""The kernels' stand-ins for numba's ``min``, ``max``, ``int`` of a bool,
``np.empty`` and ``reshape`` (:mod:`polyphase.engine.inline_builtins`)
against Python's and numpy's own."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, strategies as st

from polyphase.engine.inline_builtins import (empty1, empty2, empty3, flag, flat, imax, imin,
                                              matrix, zero_fill, zeros1)


@numba.njit(cache=False)
def _min_max_i64(a, b):
    return imin(a, b), imax(a, b)


@numba.njit(cache=False)
def _min_max(a, b):
    return imin(a, b), imax(a, b)


@numba.njit(cache=False)
def _mixed_widths(a, b):
    # an int32 and an int64: compared as int64, as numba's min does
    return imin(np.int32(a), b), imax(b, np.int32(a))


@given(st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1))
def test_min_and_max_of_signed_integers(a, b):
    assert _min_max_i64(a, b) == (min(a, b), max(a, b))


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_min_and_max_of_unsigned_integers_compare_unsigned(a, b):
    lo, hi = _min_max(np.uint64(a), np.uint64(b))
    assert (int(lo), int(hi)) == (min(a, b), max(a, b))


@given(st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1))
def test_min_and_max_of_mixed_widths(a, b):
    assert _mixed_widths(a, b) == (min(a, b), max(a, b))


def test_min_of_a_float_is_refused():
    # (only integers: a float would need NaN's rules, which numba's min has)
    f = numba.njit(cache=False)(lambda a, b: imin(a, b))
    with pytest.raises(numba.core.errors.TypingError):
        f(1.0, 2)


def test_flag_is_one_or_zero():
    f = numba.njit(cache=False)(lambda v, t: flag(v > t))
    assert (f(3, 2), f(2, 3)) == (1, 0)
    assert numba.typeof(f(3, 2)) == numba.int64


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int64])
def test_empty_arrays_have_the_shape_dtype_and_layout_of_np_empty(dtype):
    @numba.njit(cache=False)
    def make(like, m, n):
        a, b = empty1(like, m), empty2(like, m, n)
        a[:] = 1
        b[:] = 2
        return a, b

    a, b = make(np.zeros(1, dtype), 5, 3)
    for got, want in ((a, np.full(5, 1, dtype)), (b, np.full((5, 3), 2, dtype))):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.flags.c_contiguous
        assert got.ctypes.data % 64 == 0           # a cache line (numba's own: 32)
        np.testing.assert_array_equal(got, want)
    assert b.strides == np.empty((5, 3), dtype).strides
    assert make(np.zeros(1, dtype), 0, 4)[1].shape == (0, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int64])
def test_zeros_and_three_axes_and_scalar_types_match_numpy(dtype):
    """``zeros1`` is ``np.zeros``, ``empty3`` has ``np.empty``'s shape and strides, and ``like``
    may be a numpy scalar type instead of an array."""
    zeros = numba.njit(cache=False)(lambda like, n: zeros1(like, n))
    for _ in range(3):             # (the runtime's freed blocks come back dirty)
        np.full(33, 7, dtype)
        z = zeros(np.zeros(1, dtype), 33)
        assert z.dtype == dtype and z.shape == (33,) and z.flags.c_contiguous
        np.testing.assert_array_equal(z, np.zeros(33, dtype))
    e3 = numba.njit(cache=False)(lambda like, a, b, c: empty3(like, a, b, c))(
        np.zeros(1, dtype), 2, 3, 4)
    assert e3.shape == (2, 3, 4) and e3.strides == np.empty((2, 3, 4), dtype).strides
    typed = numba.njit(cache=False)(lambda n: (empty1(np.int64, n), zeros1(np.float32, n)))
    a, b = typed(5)
    assert a.dtype == np.int64 and b.dtype == np.float32 and not b.any()
    with pytest.raises(ValueError, match="negative dimensions"):
        typed(-1)


def test_empty_refuses_a_negative_size():
    f = numba.njit(cache=False)(lambda like, m, n: empty2(like, m, n))
    with pytest.raises(ValueError, match="negative dimensions"):
        f(np.zeros(1), 3, -1)


def _allocations(script):
    """What ``script`` prints, run with numba's runtime counting its
    allocations (NUMBA_NRT_STATS is read at start-up: a child process)."""
    return subprocess.run([sys.executable, "-c", script], check=True, text=True,
                          stdout=subprocess.PIPE,
                          env=dict(os.environ, NUMBA_NRT_STATS="1")).stdout


def test_empty_arrays_are_freed():
    # an array the intrinsic made and the caller dropped must be freed, as
    # np.empty's are, and take as many allocations
    script = """
import numba, numpy as np
from numba.core.runtime import rtsys
from polyphase.engine.inline_builtins import empty1
for f in (numba.njit(cache=False)(lambda like, n: empty1(like, n).shape[0]),
          numba.njit(cache=False)(lambda like, n: np.empty(n, like.dtype).shape[0])):
    f(np.zeros(1), 10)
    before = rtsys.get_allocation_stats()
    for _ in range(5):
        f(np.zeros(1), 1000)
    after = rtsys.get_allocation_stats()
    print(after.alloc - before.alloc, after.free - before.free)
"""
    ours, numpys = _allocations(script).splitlines()
    assert ours == numpys and len(set(ours.split())) == 1 and ours.split()[0] != "0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int64])
def test_zero_fill_zeroes_a_contiguous_view_and_nothing_else(dtype):
    @numba.njit(cache=False)
    def fill(a, i, j):
        zero_fill(a[i:j])

    a = (np.arange(1, 11) * (1 + 1j if dtype == np.complex128 else 1)).astype(dtype)
    expected = a.copy()
    expected[3:8] = 0
    fill(a, 3, 8)
    np.testing.assert_array_equal(a, expected)
    fill(a, 5, 5)                                   # an empty view: nothing
    np.testing.assert_array_equal(a, expected)


def test_zero_fill_refuses_a_strided_view():
    # (a memset would zero the elements between the view's)
    f = numba.njit(cache=False)(lambda a: zero_fill(a[::2]))
    with pytest.raises(numba.core.errors.TypingError):
        f(np.ones(6))


@numba.njit(cache=False)
def _views(a, o, rows, cols):
    return matrix(a[o:], rows, cols), flat(matrix(a[o:], rows, cols))


@given(st.integers(0, 5), st.integers(0, 6), st.integers(0, 6), st.integers(0, 4),
       st.sampled_from([np.float32, np.float64, np.complex128, np.int64]))
def test_matrix_and_flat_are_numpys_reshape(o, rows, cols, spare, dtype):
    a = np.arange(o + rows * cols + spare).astype(dtype)
    m, f = _views(a, o, rows, cols)
    want = a[o:o + rows * cols].reshape((rows, cols))
    assert m.dtype == want.dtype and m.shape == want.shape
    if m.size:                                      # (an empty one's are numpy's choice)
        assert m.strides == want.strides
    np.testing.assert_array_equal(m, want)
    np.testing.assert_array_equal(f, want.reshape(-1))
    if m.size:                                     # views: they write through
        m[-1, -1] = 99
        assert a[o + rows * cols - 1] == 99
        f[0] = 77
        assert a[o] == 77


def test_matrix_refuses_a_view_larger_than_its_array_or_a_negative_size():
    f = numba.njit(cache=False)(lambda a, m, n: matrix(a, m, n))
    with pytest.raises(ValueError, match="larger than its array"):
        f(np.ones(5), 2, 3)
    with pytest.raises(ValueError, match="negative dimensions"):
        f(np.ones(5), -1, -2)


def test_views_refuse_a_strided_array():
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(cache=False)(lambda a: matrix(a[::2], 1, 2))(np.ones(6))
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(cache=False)(lambda a: flat(a[:, ::2]))(np.ones((2, 4)))


def test_a_view_keeps_its_array_alive_and_is_freed_with_it():
    # a view returned from the function that allocated its array holds the
    # array (numba's reference count on it): as for reshape, the data stays
    # valid, and is freed once the view is dropped
    script = """
import gc, numba, numpy as np
from numba.core.runtime import rtsys
from polyphase.engine.inline_builtins import empty1, matrix
for f in (numba.njit(cache=False)(lambda like, n: matrix(empty1(like, 2 * n), n, 2)),
          numba.njit(cache=False)(lambda like, n: np.empty(2 * n, like.dtype).reshape((n, 2)))):
    f(np.zeros(1), 10)
    before = rtsys.get_allocation_stats()
    views = [f(np.zeros(1), 1000) for _ in range(5)]
    for v in views:
        v[:] = 3.0
    held = rtsys.get_allocation_stats()
    ok = all(float(v.sum()) == 6000.0 for v in views)
    del views, v
    gc.collect()
    after = rtsys.get_allocation_stats()
    print(ok, held.alloc - before.alloc, held.free - before.free,
          after.alloc - before.alloc, after.free - before.free)
"""
    ours, numpys = _allocations(script).splitlines()
    assert ours == numpys
    ok, alloc_held, free_held, alloc, free = map(eval, ours.split())
    assert ok and free_held < alloc_held == alloc == free

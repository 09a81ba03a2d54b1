"""Parallel groups of a serial kernel's jobs, called by address (engine.groups)."""

import contextlib
import re

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from polyphase.engine import groups


@njit(nogil=True)
def scaled_rows(x, k, out, pairs, j0, j1):
    """Rows ``[j0, j1)``: ``out[j] = k * x[j]``, plus the sum of ``pairs``'s
    two arrays when it is not None (a tuple inside the arguments, as the
    axis-0 kernel's)."""
    for j in range(j0, j1):
        for i in range(x.shape[1]):
            out[j, i] = k * x[j, i]
            if pairs is not None:
                out[j, i] += pairs[0][i] + pairs[1][i]


@njit(nogil=True)
def count_above(x, limit, j0, j1):
    """How many of ``x[j0:j1]`` exceed ``limit``."""
    n = 0
    for j in range(j0, j1):
        n += x[j] > limit
    return n


@njit(nogil=True)
def mean_of(x, j0, j1):
    """A float per group: the sum of ``x[j0:j1]``."""
    s = 0.0
    for j in range(j0, j1):
        s += x[j]
    return s


def expected_rows(x, k, pairs):
    return k * x + (0 if pairs is None else pairs[0] + pairs[1])


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(0, 40), ngroups=st.integers(1, 12), with_pairs=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_groups_write_what_the_serial_kernel_writes(rows, ngroups, with_pairs, dtype):
    """Every job runs exactly once, whatever the number of groups (more
    groups than jobs included), with a None or a tuple among the arguments."""
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 5)).astype(dtype)
    pairs = (rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)) \
        if with_pairs else None
    out = np.full_like(x, np.nan)
    got = groups.run(scaled_rows, (x, 1.5, out, pairs), rows, ngroups)
    assert got == (None if ngroups == 1 else 0.0)      # (one group: on this thread)
    serial = np.full_like(x, np.nan)
    scaled_rows(x, 1.5, serial, pairs, 0, rows)
    np.testing.assert_array_equal(out, serial)
    np.testing.assert_allclose(out, expected_rows(x, 1.5, pairs), rtol=1e-6)


@pytest.mark.parametrize("kernel, like", [(count_above, 3), (mean_of, 0.25)])
def test_groups_sum_what_the_kernel_returns(kernel, like):
    x = np.random.default_rng(1).standard_normal(1001)
    args = (x, 0.5) if kernel is count_above else (x,)
    for ngroups in (1, 3, 8):
        got = groups.run(kernel, args, x.size, ngroups)
        assert got == pytest.approx(kernel(*args, 0, x.size), rel=1e-12)
    assert groups.run(count_above, (x, 0.5), x.size, 4) == np.sum(x > 0.5)


def test_the_parallel_function_calls_the_kernel_by_address():
    """The compiled parallel function holds no copy of the kernel's code: its
    library defines no function of the kernel's (a fresh compile of it:
    numba shows no code loaded from its cache), and a call with other
    arguments of the same types uses the same parallel compile."""
    x = np.ones((6, 3))
    groups.run(scaled_rows, (x, 2.0, np.empty_like(x), None), 6, 2)
    compiled = len(groups._in_groups.signatures)
    groups.run(scaled_rows, (x + 1, 3.0, np.empty_like(x), None), 6, 3)
    assert len(groups._in_groups.signatures) == compiled
    fresh = njit(nogil=True, parallel=True)(groups._in_groups.py_func)
    addr, like = groups._address(scaled_rows, (x, 2.0, x, None), None)
    fresh(addr, (x, 2.0, x, None), 6, 2, like)
    code = fresh.inspect_llvm(fresh.signatures[0])
    defined = set(re.findall(r'^define [^@]*@"?([^"(]+)', code, re.M))
    kernel_symbols = {scaled_rows.overloads[s].fndesc.mangled_name
                      for s in scaled_rows.signatures}
    assert kernel_symbols and defined and not kernel_symbols & defined


def test_a_kept_address_is_reused_per_kernel(monkeypatch):
    """With ``addresses``, the kernel's address is looked up once and kept
    there by kernel; later calls (with read-only input: the same layout)
    give the same numbers as the first, and another kernel gets its own."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 4))
    looked_up = []
    address = groups._address
    monkeypatch.setattr(groups, "_address",
                        lambda *a: looked_up.append(a[0]) or address(*a))
    kept = {}
    first = np.empty_like(x)
    groups.run(scaled_rows, (x, 2.0, first, None), 9, 3, addresses=kept)
    frozen = x.copy()
    frozen.flags.writeable = False
    again = np.empty_like(x)
    groups.run(scaled_rows, (frozen, 2.0, again, None), 9, 1, addresses=kept)
    assert groups.run(count_above, (x.ravel(), 0.5), x.size, 2, addresses=kept) == \
        np.sum(x > 0.5)
    assert looked_up == [scaled_rows, count_above]
    assert set(kept) == {scaled_rows, count_above}
    np.testing.assert_array_equal(first, 2.0 * x)
    np.testing.assert_array_equal(again, first)


def test_setting_is_entered_while_the_kernel_compiles():
    entered = []

    @contextlib.contextmanager
    def setting():
        entered.append(numba.core.config.SLP_VECTORIZE)
        yield

    @njit(nogil=True)
    def fill(out, j0, j1):
        for j in range(j0, j1):
            out[j] = j

    out = np.zeros(10)
    groups.run(fill, (out,), 10, 2, setting=setting)
    groups.run(fill, (out,), 10, 2, setting=setting)     # compiled: not again
    assert len(entered) == 1 and fill.signatures
    np.testing.assert_array_equal(out, np.arange(10))


def test_a_kernel_returning_something_else_is_refused():
    @njit(nogil=True)
    def pair(x, j0, j1):
        return (j0, j1)

    with pytest.raises(TypeError, match="returning"):
        groups.run(pair, (np.ones(2),), 2, 1)


def test_an_exception_on_the_calling_thread_reaches_the_caller():
    """One group runs on the calling thread, and what the kernel raises is
    raised (in parallel groups numba's loop drops it, as it did before)."""
    @njit(nogil=True)
    def check(x, j0, j1):
        for j in range(j0, j1):
            if x[j] < 0:
                raise ValueError("negative sample")

    x = np.ones(8)
    assert groups.run(check, (x,), 8, 1) is None
    x[5] = -1.0
    with pytest.raises(ValueError, match="negative sample"):
        groups.run(check, (x,), 8, 1)

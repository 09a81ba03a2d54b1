"""Hypothesis: random expressions against an independent reference.

The reference evaluates an expression stage by stage on time-indexed signals
``(values, origin)`` (``values[i]`` is the sample at time ``origin + i``), with
each primitive and its transpose written from its textbook definition; applied
to the columns of an identity matrix, it is the product of the stages' dense
matrices.  None of it uses the polyphase-matrix algebra under test.
"""

import numpy as np
from hypothesis import given, strategies as st

import polyphase as pp
from polyphase.finite import output_window
from polyphase.testing import check_operator


# ---------------------------------------------------------------- reference
def ref_conv(h):
    def f(v, o):
        if v.shape[0] == 0:                     # nothing left of the signal
            return v, o
        return np.stack([np.convolve(c, h) for c in v.T], 1), o
    return f


def ref_up(L):
    def f(v, o):
        out = np.zeros((v.shape[0] * L, v.shape[1]), dtype=v.dtype)
        out[::L] = v
        return out, o * L
    return f


def ref_down(M):
    def f(v, o):
        first = -(-o // M)                      # first multiple of M >= o
        times = np.arange(first * M, o + v.shape[0], M)
        return v[times - o], first
    return f


def ref_delay(d):
    return lambda v, o: (v, o + d)


def ref_repeat(L):
    return lambda v, o: (np.repeat(v, L, axis=0), o * L)


def then(*fs):
    def f(v, o):
        for g in fs:
            v, o = g(v, o)
        return v, o
    return f


# primitives as (operator, reference, reference of its transpose)
def prim_conv(h):
    h = np.asarray(h, float)
    return pp.Conv(h), ref_conv(h), then(ref_conv(h[::-1]), ref_delay(1 - h.size))


def prim_up(L):
    return pp.Up(L), ref_up(L), ref_down(L)


def prim_down(M):
    return pp.Down(M), ref_down(M), ref_up(M)


def prim_delay(d):
    return pp.Delay(d), ref_delay(d), ref_delay(-d)


def prim_repeat(L):
    return pp.Repeat(L), ref_repeat(L), then(ref_conv(np.ones(L)), ref_delay(1 - L),
                                              ref_down(L))


factors = st.integers(1, 4)
kernels = st.lists(st.floats(-4, 4, allow_nan=False).map(lambda v: round(v, 3)),
                   min_size=1, max_size=5)
primitive = st.one_of(
    kernels.map(prim_conv), factors.map(prim_up), factors.map(prim_down),
    st.integers(-3, 3).map(prim_delay), factors.map(prim_repeat))


@st.composite
def expressions(draw):
    """A chain of primitives (some transposed); returns (op, reference)."""
    stages = draw(st.lists(st.tuples(primitive, st.booleans()), min_size=1,
                           max_size=4))
    op, refs = None, []
    for (prim, fwd, bwd), transposed in stages:
        this = prim.T if transposed else prim
        refs.append(bwd if transposed else fwd)
        op = this if op is None else this @ op
    return op, then(*refs)


def reference_on_window(ref, n, window):
    """Dense matrix of ``ref`` on length-n inputs, rows = output window."""
    values, origin = ref(np.eye(n), 0)
    start, stop = window
    D = np.zeros((stop - start, n))
    lo, hi = max(start, origin), min(stop, origin + values.shape[0])
    if lo < hi:
        D[lo - start:hi - start] = values[lo - origin:hi - origin]
    # whatever the reference reaches outside the window must be zero
    outside = np.ones(values.shape[0], bool)
    outside[max(0, lo - origin):max(0, hi - origin)] = False
    assert not np.any(values[outside]), "full window misses reachable samples"
    return D


@given(expressions(), st.integers(1, 9))
def test_composition_matches_product_of_stage_matrices(expr, n):
    op, ref = expr
    window = output_window(op._declared, n, "full")
    expected = reference_on_window(ref, n, window)
    np.testing.assert_allclose(op.matrix(n), expected, rtol=1e-12, atol=1e-12)


@given(expressions(), expressions(), st.integers(1, 7))
def test_composition_of_two_expressions(a_expr, b_expr, n):
    (a, ra), (b, rb) = a_expr, b_expr
    op = a @ b
    window = output_window(op._declared, n, "full")
    expected = reference_on_window(then(rb, ra), n, window)
    np.testing.assert_allclose(op.matrix(n), expected, rtol=1e-12, atol=1e-12)


@given(expressions(), st.integers(0, 9),
       st.sampled_from(["full", "same", "valid"]))
def test_every_expression_passes_check_operator(expr, n, mode):
    check_operator(expr[0], n, mode, trials=2)


@given(expressions())
def test_transpose_is_involution_and_equals_is_reflexive(expr):
    op = expr[0]
    assert op.T.T.equals(op)
    assert op.H.H.equals(op)
    assert op.equals(op)
    assert (op @ pp.Identity()).equals(op)
    assert (pp.Identity() @ op).equals(op)


@given(expressions(), expressions())
def test_transpose_of_product(a_expr, b_expr):
    a, b = a_expr[0], b_expr[0]
    assert (a @ b).T.equals(b.T @ a.T)


@given(expressions(), st.floats(-3, 3, allow_nan=False), st.integers(1, 8))
def test_scaling_and_sum_match_matrices(expr, c, n):
    op = expr[0]
    total = c * op + op
    window = output_window(op._declared, n, "full")
    np.testing.assert_allclose(total.matrix(n, mode=window),
                               (c + 1) * op.matrix(n, mode=window),
                               rtol=1e-12, atol=1e-12)


@given(expressions())
def test_canonical_form_is_minimal_and_idempotent(expr):
    E = expr[0].polyphase()
    again = E.canonical()
    assert (again.up, again.down, again.start) == (E.up, E.down, E.start)
    np.testing.assert_array_equal(again.coef, E.coef)
    # no period divisor describes it: lifting the canonical form never
    # reduces below itself
    lifted = E.lift(2).canonical()
    assert (lifted.up, lifted.down) == (E.up, E.down)

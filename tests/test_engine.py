"""The numba engine: dtypes, memory layouts, special values, both code paths."""

import functools

import numpy as np
import pytest
from helpers import record_jobs
from hypothesis import given, settings
from hypothesis import strategies as st

import polyphase as pp
from polyphase import engine
from polyphase.testing import reference_matrix

RNG = np.random.default_rng(11)
OPS = {
    "interp": pp.Conv(RNG.standard_normal(9)) @ pp.Up(3),
    "decim": pp.Down(4) @ pp.Conv(RNG.standard_normal(13)),
    "rational": pp.Down(3) @ pp.Conv(RNG.standard_normal(11)) @ pp.Up(2),
    "transposed": pp.Conv(RNG.standard_normal(4)).T @ pp.Up(2),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_kept_and_accurate(name, dtype):
    op = OPS[name]
    x64 = RNG.standard_normal(200) + (1j * RNG.standard_normal(200)
                                       if np.dtype(dtype).kind == "c" else 0)
    y = op(x64.astype(dtype))
    assert y.dtype == dtype
    exact = reference_matrix(op, 200) @ x64.astype(dtype).astype(np.complex128)
    tol = 1e-5 if np.dtype(dtype).itemsize in (4, 8) and dtype != np.float64 else 1e-13
    scale = np.abs(exact).max()
    assert np.abs(y - exact).max() <= tol * scale


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16, bool])
def test_integers_and_bools_become_float64(dtype):
    x = np.array([1, 0, 1, 1], dtype=dtype)
    y = pp.Conv([1.0, 2.0])(x)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, np.convolve(x.astype(float), [1.0, 2.0]))


def test_complex_operator_promotes_real_input():
    y = pp.Conv([1j])(np.ones(3, dtype=np.float32))
    assert y.dtype == np.complex64
    np.testing.assert_array_equal(y, 1j * np.ones(3))


def test_float16_computes_in_float32():
    assert pp.Up(2)(np.ones(3, dtype=np.float16)).dtype == np.float32


def test_float32_accuracy_against_float64_reference():
    # float32 stays float32 and is as accurate as float32 arithmetic allows
    h = RNG.standard_normal(64).astype(np.float32)
    x = RNG.standard_normal(50_000).astype(np.float32)
    y32 = (pp.Conv(h) @ pp.Up(2))(x)
    y64 = (pp.Conv(h.astype(np.float64)) @ pp.Up(2))(x.astype(np.float64))
    err = np.abs(y32 - y64).max() / np.abs(y64).max()
    assert y32.dtype == np.float32 and err < 1e-5


@pytest.mark.parametrize("name", sorted(OPS))
def test_non_contiguous_and_strided_inputs(name):
    op = OPS[name]
    base = RNG.standard_normal((40, 30))
    for x, axis in [(base[::2, ::3], 0), (base[::2, ::3], 1), (base.T, 0),
                    (base[::-1], 1), (np.asfortranarray(base), 1)]:
        expected = np.apply_along_axis(op, axis, np.ascontiguousarray(x))
        np.testing.assert_allclose(op(x, axis=axis), expected, rtol=1e-13, atol=1e-13)


def test_parallel_and_serial_paths_agree(monkeypatch):
    op = OPS["rational"]
    x = RNG.standard_normal((3, 5000))
    parallel = op(x)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
    serial = op(x)
    np.testing.assert_array_equal(parallel, serial)


def test_long_signal_spans_many_chunks():
    h = RNG.standard_normal(7)
    x = RNG.standard_normal(5 * engine.job_blocks(1, 7, 8) + 17)
    np.testing.assert_allclose(pp.Conv(h)(x), np.convolve(x, h), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((pp.Down(3) @ pp.Conv(h))(x), np.convolve(x, h)[::3],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L, taps, job_bytes", [(2, 8, "PAIR_OUT"), (2, 12, "SHORT"),
                                                (3, 9, "SHORT"), (8, 13, "SHORT")])
def test_upsampler_spans_many_jobs(L, taps, job_bytes, monkeypatch):
    """Short filters that upsample take longer jobs than decimators (see
    ``JOB_BYTES_SHORT``), and L = 2 with at most four taps a phase longer
    still (``JOB_BYTES_PAIR_OUT``): several of them, and a last partial one,
    against scipy, serial and in parallel.  (The 1-D kernel's: short
    filters at L = 2-4 would take the transposed kernel.)"""
    import scipy.signal
    monkeypatch.setattr(engine, "TRANSPOSED_1D_STRIDES", ())
    h = RNG.standard_normal(taps)
    blocks = engine.job_blocks(L, -(-taps // L), 8)
    expected_bytes = getattr(engine, "JOB_BYTES_" + job_bytes)
    if isinstance(expected_bytes, dict):
        expected_bytes = engine.machine.pick(expected_bytes)
    assert blocks == expected_bytes // (L * 8)
    x = RNG.standard_normal((2, 5 * blocks + 17))
    expected = scipy.signal.upfirdn(h, x, L)
    for work in (1 << 62, 1):                  # serial, then parallel
        monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", work)
        np.testing.assert_allclose(pp.upfirdn(h, x, L), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L, M, taps", [(1, 2, 13), (1, 5, 9), (2, 1, 8), (2, 3, 13),
                                        (3, 1, 10), (3, 2, 9), (5, 7, 13), (9, 2, 20)])
def test_each_kind_runs_its_own_1d_kernel(L, M, taps, monkeypatch):
    """:func:`.kernels.job_kernel` picks the kernel compiled for the signal's
    kind (gather, split, pairs): serial and parallel runs against scipy, and
    the recorded kernel is that kind's (a kernel without pairs skips pair
    groups, so a wrong pick would show in the numbers)."""
    import scipy.signal
    from polyphase.engine import kernels
    h = RNG.standard_normal(taps)
    x = RNG.standard_normal((2, 3 * engine.job_blocks(L, taps, 8) * M + 11))
    expected = scipy.signal.upfirdn(h, x, L, M)
    kind = (2 < L <= kernels.GATHER_MAX, M > 1, L > 1)
    for work in (1 << 62, 1):                  # serial, then parallel
        with monkeypatch.context() as m:
            m.setattr(engine, "PARALLEL_MIN_WORK", work)
            m.setattr(engine, "BAND_MIN_OUTPUTS", 1 << 62)       # (not the band route)
            m.setattr(engine, "TRANSPOSED_1D_STRIDES", ())  # (nor the transposed kernel)
            m.setattr(pp.signal, "_REPEATS", {})     # (a repeat keeps its kernel call)
            calls = record_jobs(m, kernels.RUN_JOBS, kind)
            np.testing.assert_allclose(pp.upfirdn(h, x, L, M), expected, rtol=1e-12,
                                       atol=1e-12)
        assert calls


# A fresh process and an empty cache: the first call of a kind compiles the
# helpers that kind runs and no others (J1 of the issue times that call)
_KIND_CHILD = """
import json
import numpy as np
import polyphase as pp
from polyphase.engine import kernels
pp.upfirdn(np.ones({taps}), np.ones(1 << 12), {L}, {M})
helpers = ("split_phases", "_taps2", "_taps2_out", "_store2", "_store_all")
print(json.dumps(dict(kinds=[k for k, f in kernels.RUN_JOBS.items() if f.overloads],
                      helpers=[n for n in helpers if getattr(kernels, n).overloads])))
"""


@pytest.mark.parametrize("L, M, taps, helpers", [
    # (10 taps, 5 a phase: the 1-D kernel's; 4 a phase take the transposed
    # one.  4096 samples: fewer outputs than the band route needs)
    (2, 1, 10, ["_taps2_out", "_store2"]),
    (1, 2, 4, ["split_phases"]),
])
def test_a_kind_compiles_only_its_own_code(L, M, taps, helpers, tmp_path):
    import json
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _KIND_CHILD.format(L=L, M=M, taps=taps)],
                         env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got == dict(kinds=[[False, M > 1, L > 1]], helpers=helpers)


@pytest.mark.parametrize("L, M", [(1, 2), (1, 3), (1, 4), (1, 6), (1, 11), (2, 3),
                                  (2, 11), (5, 7)])
def test_jobs_split_what_they_read(L, M, monkeypatch):
    """For 1 < M < 16 each job splits the input blocks its taps read: many
    jobs on several lanes, an input that starts inside a block (windows of a
    finite operator) and the parallel kernel, against scipy."""
    import scipy.signal
    from polyphase.engine import kernels
    h = RNG.standard_normal(13)
    x = RNG.standard_normal((3, 7 * engine.job_blocks(L, 13, 8) * M + 29))
    expected = scipy.signal.upfirdn(h, x, L, M)
    monkeypatch.setattr(engine, "BAND_MIN_OUTPUTS", 1 << 62)       # (not the band route)
    with monkeypatch.context() as m:          # serial, recording the split
        m.setattr(engine, "PARALLEL_MIN_WORK", 1 << 62)
        calls = record_jobs(m, kernels.RUN_JOBS, (2 < L <= kernels.GATHER_MAX, True, L > 1))
        np.testing.assert_allclose(pp.upfirdn(h, x, L, M), expected, rtol=1e-12,
                                   atol=1e-12)
    assert calls and all(c[1][-3] == M for c in calls)   # ints ends (pre, M, kmin, kmax)
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)        # parallel
    np.testing.assert_allclose(pp.upfirdn(h, x, L, M), expected, rtol=1e-12, atol=1e-12)
    op = pp.Down(M) @ pp.Conv(h) @ pp.Up(L)
    y = RNG.standard_normal(40 * M + 3)
    for mode in ("same", "valid", (-5, 37)):
        np.testing.assert_allclose(op(y, mode=mode),
                                   reference_matrix(op, y.shape, mode) @ y,
                                   rtol=1e-12, atol=1e-12)


def test_nan_and_inf_propagate_as_arithmetic_says():
    x = np.array([1.0, np.nan, 2.0, np.inf, 3.0, 4.0, 5.0])
    y = pp.Conv([1.0, 1.0])(x)
    with np.errstate(invalid="ignore"):
        expected = np.convolve(x, [1.0, 1.0])
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(y[np.isfinite(expected)], expected[np.isfinite(expected)])
    # a sample that no tap touches stays clean: Down(2) skips the NaN
    np.testing.assert_array_equal(pp.Down(2)(x), x[::2])
    # inserted zeros are never multiplied, so inf never meets 0 (no NaN)
    up = pp.Up(2)(np.array([np.inf, 1.0]))
    np.testing.assert_array_equal(up, [np.inf, 0.0, 1.0, 0.0])


def test_zero_operator_and_zero_taps():
    x = RNG.standard_normal(5)
    np.testing.assert_array_equal((pp.Conv([1.0]) - pp.Identity())(x), np.zeros(5))
    np.testing.assert_array_equal(pp.Conv([0.0, 0.0])(x), np.zeros(6))


def test_tap_lists_skip_zeros():
    E = (pp.Conv([1.0, 0.0, 3.0, 4.0]) @ pp.Up(2)).polyphase()
    ptr, q, k, c = engine.tap_lists(E, np.float64)
    assert c.size == 3 and np.all(c != 0)       # the zero tap is not stored
    np.testing.assert_array_equal(ptr, [0, 2, 3])


def test_tiny_taps_are_kept_when_running():
    # equals() may treat 1e-13 relative taps as rounding residue; running may not
    h = np.array([1e-13, 1.0, 0.0, -2e-14])
    x = RNG.standard_normal(7)
    np.testing.assert_allclose(pp.Conv(h)(x), np.convolve(x, h), rtol=0, atol=1e-300)
    assert pp.Conv([1e-13, 1.0]).equals(pp.Conv([0.0, 1.0]))
    assert not pp.Conv([1e-13, 1.0]).equals(pp.Conv([0.0, 1.0]), rtol=0)


@pytest.mark.parametrize("M", [2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 32])
def test_deinterleave_any_offset(M):
    """Phase streams for every offset, also negative ones (the FFT path's);
    lengths past one tile of the general split (64 blocks) and the wide one."""
    from polyphase.engine import kernels
    rng = np.random.default_rng(M)
    for n in list(range(1, 12)) + [64 * M + 5, 300 * M + 1]:
        for pre in range(-9, 8):
            for extra in (-1, 0, 2):
                nb = max(1, -(-(n + pre) // M) + extra)
                x = rng.standard_normal((2, n))
                out = np.full((2, M, nb), np.nan)
                kernels.deinterleave(x, pre, M, out)
                i = np.arange(nb)[None, :] * M + np.arange(M)[:, None] - pre
                ok = (i >= 0) & (i < n)
                ref = np.where(ok, x[:, np.clip(i, 0, n - 1)], 0.0)
                np.testing.assert_array_equal(out, ref, err_msg=f"n={n} pre={pre}")


@functools.cache
def _split_columns():
    """:func:`.kernels.split_columns` (numba-only) callable from Python."""
    from polyphase.engine import kernels
    from polyphase.engine.jit import njit

    @njit(nogil=True)
    def split(xf, base, n1, n2, row0, rstep, count, S, col0, cols, cpf, d0, dstep, pstep,
              zeros):
        kernels.split_columns(xf, base, n1, n2, row0, rstep, count, S, col0, cols, cpf, d0,
                              dstep, pstep, zeros)
    return split


@settings(max_examples=200, deadline=None)
@given(n1=st.integers(1, 9), n2=st.integers(1, 80), S=st.integers(1, 7),
       rstep=st.integers(1, 3), row0=st.integers(-4, 8), count=st.integers(1, 8),
       col0=st.integers(-20, 40), cols=st.integers(1, 50), zeros=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64, np.complex128]))
def test_split_columns_against_its_definition(n1, n2, S, rstep, row0, count, col0, cols,
                                              zeros, dtype):
    """:func:`.kernels.split_columns`: ``cp[i, k, j] = img[row0 + i*rstep,
    col0 + S*j + k]``, zero outside the image, for columns before, across
    and past the image's edges (the vectors there are windows of masked
    loads and stores); no sample outside the image read (they are nan
    here) and nothing written outside ``cp``.  With ``zeros`` off, the
    samples outside the image are zero or left as they were."""
    rng = np.random.default_rng(n1 * 1000 + n2)
    img = rng.standard_normal((n1, n2)).astype(dtype)
    base = 5
    xf = np.concatenate([np.full(base, np.nan, dtype), img.ravel(), np.full(7, np.nan, dtype)])
    d0, dstep = 3, cols + 2
    pstep = count * dstep + 1
    keep = 1234.5
    cpf = np.full(d0 + S * pstep + 9, keep, dtype)
    _split_columns()(xf, base, n1, n2, row0, rstep, count, S, col0, cols, cpf, d0, dstep,
                     pstep, zeros)
    i, k, j = np.ix_(np.arange(count), np.arange(S), np.arange(cols))
    r, c = row0 + i * rstep + 0 * (k + j), col0 + S * j + k + 0 * i
    inside = (r >= 0) & (r < n1) & (c >= 0) & (c < n2)
    at = d0 + i * dstep + k * pstep + j
    got = cpf[at]
    np.testing.assert_array_equal(got[inside], img[r[inside], c[inside]])
    outside = got[~inside]
    assert np.all(outside == 0) if zeros else np.all((outside == 0) | (outside == keep))
    rest = np.ones(cpf.size, bool)
    rest[at.ravel()] = False
    assert np.all(cpf[rest] == keep)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_split_run_splits_rows_of_up_to_eight_phases_or_says_it_did_not(dtype):
    """:func:`.simd.split_run` against numpy's strided views: every count
    from below a vector to past a few (the last vector overlaps the one
    before it), into a C-ordered ``P`` and into rows of a larger array
    (numba's "A" layout).  For nine phases, fewer samples than a vector, or
    rows whose elements are not adjacent it writes nothing and returns False."""
    from polyphase.engine import simd
    from polyphase.engine.jit import njit

    @njit(nogil=True)
    def run(src, M, P, j0, count):
        return simd.split_run(src, M, P, j0, count)

    rng = np.random.default_rng(5)
    lanes = 64 // np.dtype(dtype).itemsize
    assert simd.SPLIT_MAX == 8
    for M in range(1, 10):
        for count in sorted({1, lanes - 1, lanes, lanes + 1, 2 * lanes, 3 * lanes + 5}):
            src = rng.standard_normal(M * count + 3)
            if np.dtype(dtype).kind == "c":
                src = src * (1 - 2j)
            src = src.astype(dtype)
            expected = src[:M * count].reshape(count, M).T
            big = np.full((M + 2, 3, count + 9), np.nan, dtype)
            for P in (np.full((M, count + 4), np.nan, dtype), big[1:M + 1, 1]):
                P[...] = np.nan
                done = run(src, M, P, 3, count)
                assert done == (M <= 8 and count >= lanes), (M, count)
                if done:
                    np.testing.assert_array_equal(P[:, 3:3 + count], expected)
                    assert np.isnan(P[:, :3]).all() and np.isnan(P[:, 3 + count:]).all()
                else:
                    assert np.isnan(P).all()
            if M <= 8 and count >= lanes:       # elements not adjacent: not done
                P = np.full((M, 2 * count + 8), np.nan, dtype)
                assert not run(src, M, P[:, ::2], 3, count) and np.isnan(P).all()
                assert not run(np.repeat(src, 2)[::2], M, P, 3, count) and np.isnan(P).all()
    assert np.isnan(big[0]).all() and np.isnan(big[-1]).all()


@pytest.mark.parametrize("M1, M2", [(1, 2), (2, 2), (2, 3), (3, 1)])
def test_deinterleave_2d_matches_phase_stream_definition(M1, M2):
    from polyphase.engine import kernels2d
    from polyphase.engine.gemm import stream_blocks
    rng = np.random.default_rng(7)
    for n1, n2 in [(1, 1), (2, 5), (5, 2), (7, 8)]:
        for p1 in range(M1):
            for p2 in range(M2):
                x = rng.standard_normal((2, n1, n2))
                nb = stream_blocks((n1, n2), (M1, M2), (p1, p2))
                for extra in (0, 2):       # streams longer than the input
                    out = np.full((2, M1 * M2, nb[0] + extra, nb[1] + extra), np.nan)
                    kernels2d.deinterleave(x, p1, p2, M1, M2, out, 0, 2 * M1 * out.shape[2])  # all of out
                    check_phase_images(x, out, M1, M2, p1, p2)


def check_phase_images(x, out, M1, M2, p1, p2):
    """``out[:, m1*M2 + m2, b1, b2]`` is ``x[:, b1*M1 + m1 - p1, b2*M2 + m2 - p2]``
    inside ``x``, zero outside."""
    n1, n2 = x.shape[1:]
    nb = out.shape[2:]
    for m1 in range(M1):
        for m2 in range(M2):
            i = np.arange(nb[0]) * M1 + m1 - p1
            j = np.arange(nb[1]) * M2 + m2 - p2
            ok = ((i >= 0) & (i < n1))[:, None] & ((j >= 0) & (j < n2))[None]
            ref = np.where(ok, x[:, np.clip(i, 0, n1 - 1)][:, :, np.clip(j, 0, n2 - 1)], 0)
            np.testing.assert_array_equal(out[:, m1 * M2 + m2], ref)


def test_scratch_memory_is_reused_but_never_returned():
    """Temporaries come from per-thread scratch; results are fresh arrays."""
    from polyphase.engine.scratch import scratch
    a = scratch("test", (4, 5), np.float64)
    b = scratch("test", (3,), np.float32)
    assert np.shares_memory(a, b) and a.flags.c_contiguous
    h = RNG.standard_normal(31)
    x = RNG.standard_normal(5000)
    y1 = pp.upfirdn(h, x, 2, 147)                  # phase streams in scratch
    y2 = pp.upfirdn(h, 2 * x, 2, 147)
    np.testing.assert_allclose(y1 * 2, y2, rtol=1e-12, atol=1e-12)
    import scipy.signal
    np.testing.assert_allclose(y1, scipy.signal.upfirdn(h, x, 2, 147), rtol=1e-12,
                               atol=1e-12)


def test_large_results_are_recycled_only_once_released():
    """A result's memory is reused only after the caller dropped it and its views."""
    h = RNG.standard_normal(8)
    x = RNG.standard_normal(1 << 18)
    expected = np.convolve(x, h)
    first = pp.upfirdn(h, x)
    view = first[10:20]                       # keeps the first result alive
    del first
    second = pp.upfirdn(h, 2 * x)
    assert not np.shares_memory(view, second)
    np.testing.assert_allclose(view, expected[10:20], rtol=1e-12)
    address = second.ctypes.data
    del second, view
    third = pp.upfirdn(h, 3 * x)              # may reuse a released buffer
    np.testing.assert_allclose(third, 3 * expected, rtol=1e-12, atol=1e-12)
    fourth = pp.upfirdn(h, 4 * x)
    assert not np.shares_memory(third, fourth)
    np.testing.assert_allclose(third, 3 * expected, rtol=1e-12, atol=1e-12)
    assert third.ctypes.data == address or fourth.ctypes.data == address


def test_a_caller_that_drops_its_results_gets_one_buffer():
    """Calls whose results are dropped each time write into one recycled
    buffer, not two in turn (which doubled the memory the calls keep in
    cache: the record of which buffer was recycled once held it)."""
    import scipy.signal
    from polyphase.engine.scratch import mapped, release
    h = RNG.standard_normal(8)
    x = RNG.standard_normal(1 << 18)
    expected = scipy.signal.upfirdn(h, x, 2)
    release()
    seen = []
    for k in range(1, 6):
        y = pp.upfirdn(h, k * x, 2)
        np.testing.assert_allclose(y, k * expected, rtol=1e-12, atol=1e-12)
        seen.append((y.ctypes.data, mapped(y)))
        del y
    assert len({a for a, _ in seen}) == 1
    assert [m for _, m in seen] == [0, 1, 1, 1, 1]


def test_results_up_to_the_kept_size_are_recycled():
    """Buffers up to ``RESULT_KEEP_BYTES`` (a 2**22-sample float64 signal
    upsampled by 8, 268 MB) are kept for the next result; larger ones are
    not.  (No page of them is written here.)"""
    import importlib
    scratch = importlib.import_module("polyphase.engine.scratch")
    for nbytes, kept in ((1 << 28, True), (scratch.RESULT_KEEP_BYTES, False)):
        scratch.release()
        first = scratch.result((nbytes // 8,), np.float64)
        address = first.ctypes.data
        del first
        second = scratch.result((nbytes // 8,), np.float64)
        assert scratch.mapped(second) == kept
        # (a fresh mapping may land where the freed one was)
        assert second.ctypes.data == address or not kept
        del second
    scratch.release()


def test_small_results_after_a_large_one_keep_to_one_buffer():
    """After a large result, calls for a smaller one take the smallest free
    buffer each time: the first free one alternated between the large
    buffer and the small one (twice the memory through the caches)."""
    import scipy.signal
    from polyphase.engine.scratch import release
    h = RNG.standard_normal(8)
    small, large = RNG.standard_normal(1 << 17), RNG.standard_normal(1 << 20)
    expected = scipy.signal.upfirdn(h, small, 2)
    release()
    y = pp.upfirdn(h, small, 2)                 # the small buffer
    big = pp.upfirdn(h, large, 2)               # a large one, both held
    del y, big
    seen = set()
    for k in range(1, 5):
        y = pp.upfirdn(h, k * small, 2)
        np.testing.assert_allclose(y, k * expected, rtol=1e-12, atol=1e-12)
        seen.add(y.ctypes.data)
        del y
    assert len(seen) == 1


def test_row_preparations_are_bounded_and_per_call_shape():
    pm = pp.Conv(RNG.standard_normal(5)).polyphase()
    for n in range(1, 3 * engine.ROW_PREP_SIZE):
        x = RNG.standard_normal((1, n))
        np.testing.assert_allclose(engine.run_rows(pm, x, np.float64, 0, 0, n + 4)[0],
                                   np.convolve(x[0], pm.c), rtol=1e-12, atol=1e-12)
        assert len(pm._plans["rows"]) <= engine.ROW_PREP_SIZE
    # the same length with another input origin is another preparation
    x = RNG.standard_normal((1, 20))
    shifted = engine.run_rows(pm, x, np.float64, 3, 0, 27)[0]
    np.testing.assert_allclose(shifted, np.convolve(np.r_[np.zeros(3), x[0]], pm.c),
                               rtol=1e-12, atol=1e-12)

"""Kernels loaded from numba's cache without numba's registry refresh
(:mod:`polyphase.engine.jit`): in a fresh process with a warm cache they
run, give the results of compiled ones, leave numba's compiler unloaded,
and numba still compiles the user's own functions afterwards."""

import gc
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
import scipy.signal

import polyphase as pp
import polyphase.nn as pnn

# the benchmark's J2 kernels (1-D, band, axis 0, 2-D boxes, strided, ring,
# GEMM and interleave), float32 and complex cases, and calls large enough for the
# parallel path (numba's thread pool, started by the kernel's reload hook)
CALLS = [
    "pp.upfirdn(rng.standard_normal(8), rng.standard_normal(1 << 14), 2)",
    "pp.upfirdn(rng.standard_normal(4), rng.standard_normal(1 << 17), 1, 5)",
    "pp.upfirdn(rng.standard_normal(96), rng.standard_normal(1 << 15), 3, 2)",
    "pp.upfirdn(rng.standard_normal(3), rng.standard_normal((2048, 64)), 2, axis=0)",
    "pp.upfirdn(rng.standard_normal(8), rng.standard_normal((4096, 64)), 2, axis=0)",
    "pp.upfirdn(rng.standard_normal(64).astype(np.float32), "
    "rng.standard_normal(1 << 20).astype(np.float32), 2)",
    "pp.upfirdn(rng.standard_normal(16), rng.standard_normal(1 << 20), 3, 2)",
    "pp.upfirdn(rng.standard_normal(5) + 1j, rng.standard_normal(1000) - 2j, 3)",
    "pnn.conv_transpose2d(rng.standard_normal((1, 1, 128, 128)), "
    "rng.standard_normal((1, 1, 3, 3)), stride=2)",
    "pnn.conv2d(rng.standard_normal((1, 1, 256, 256)), rng.standard_normal((1, 1, 3, 3)), "
    "stride=2)",
    "pnn.conv2d(rng.standard_normal((1, 1, 512, 512)), rng.standard_normal((1, 1, 3, 3)), "
    "stride=3)",
    "pnn.conv2d(rng.standard_normal((1, 1, 512, 512)), rng.standard_normal((1, 1, 3, 3)), "
    "stride=5)",
    "pnn.conv_transpose2d(rng.standard_normal((1, 8, 16, 16)), "
    "rng.standard_normal((8, 8, 3, 3)), stride=2)",
]

_CHILD = """
import json, sys
import numpy as np
import polyphase as pp
import polyphase.nn as pnn
rng = np.random.default_rng(0)
outs = [{calls}]
np.savez({path!r}, *outs)
compiler_loaded = "numba.np.arraymath" in sys.modules
arrays_loaded = "numba.np.arrayobj" in sys.modules
import numba
user = numba.njit(lambda a: np.sum(a))          # numba compiles after the loads
print(json.dumps(dict(compiler_loaded=compiler_loaded, arrays_loaded=arrays_loaded,
                      user_jit=float(user(np.arange(4.0))))))
"""


def _child(path):
    script = _CHILD.format(calls=", ".join(CALLS), path=str(path))
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_kernels_loaded_from_the_cache(tmp_path):
    _child(tmp_path / "fill.npz")                  # compiles what the cache lacks
    res = _child(tmp_path / "warm.npz")
    assert not res["compiler_loaded"], "a load refreshed numba's registries"
    # (a kernel that calls one of numba's overloads of numpy (np.empty,
    # reshape, carray) imports numba.np.arrayobj, ~20 ms, when it is loaded:
    # the kernels use the intrinsics of polyphase.engine.inline_builtins)
    assert not res["arrays_loaded"], "a kernel loaded numba.np.arrayobj"
    assert res["user_jit"] == 6.0
    expected = _calls("pp.upfirdn")
    with np.load(tmp_path / "warm.npz") as warm:
        got = [warm[f"arr_{i}"] for i in range(len(CALLS))]
    for call, e, g in zip(CALLS, expected, got):
        assert g.dtype == e.dtype and g.shape == e.shape, call
        np.testing.assert_array_equal(g, e, err_msg=call)
    # and the 1-D ones against scipy (an independent reference)
    for call, g, ref in zip(CALLS, got, _calls("scipy.signal.upfirdn")):
        if call.startswith("pp.upfirdn"):
            tol = 1e-4 if g.dtype == np.float32 else 1e-10
            np.testing.assert_allclose(g, ref, rtol=tol, atol=tol * np.abs(ref).max(),
                                       err_msg=call)


def _calls(upfirdn):
    """:data:`CALLS` in this process, ``pp.upfirdn`` replaced by ``upfirdn``."""
    names = dict(np=np, pp=pp, pnn=pnn, scipy=scipy, rng=np.random.default_rng(0))
    return [eval(call.replace("pp.upfirdn", upfirdn), names) for call in CALLS]


@pytest.mark.parametrize("cache", [True, False])
def test_njit_keeps_numba_semantics(cache):
    from polyphase.engine.jit import njit

    @njit(cache=cache, nogil=True)
    def scaled(a, c):
        return a * c

    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(scaled(x, np.float32(2)), x * 2)
    assert scaled(x, np.float32(2)).dtype == np.float32


_INTERNAL_CALLS = """
import importlib, json, pkgutil
import numpy as np
from polyphase import engine
names = []
for mod in pkgutil.iter_modules(engine.__path__):
    module = importlib.import_module("polyphase.engine." + mod.name)
    for name, f in vars(module).items():
        internal = getattr(f, "targetoptions", {}).get("no_cpython_wrapper")
        if internal and f.__module__ == module.__name__:
            try:
                f(np.ones(4))
            except TypeError as e:
                names.append((name, str(e)))
print(json.dumps(names))
"""


def test_internal_helpers_refuse_python_calls():
    """A helper built without numba's Python wrapper (``internal=True``)
    raises ``TypeError`` when Python calls it; numba would otherwise jump to
    the wrapper it never built and crash the process (run in a child, so
    that a crash fails this test only)."""
    out = subprocess.run([sys.executable, "-c", _INTERNAL_CALLS], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    refused = dict(json.loads(out.strip().splitlines()[-1]))
    assert {"not_finite", "split_phases", "_taps1", "_taps2"} <= set(refused)
    assert all("not for calls from Python" in m for m in refused.values())
    # numba's own calls still reach the helper
    import numba

    from polyphase.engine.kernels import not_finite

    any_not_finite = numba.njit(lambda a: not_finite(a) != 0)
    assert any_not_finite(np.array([1.0, np.nan])) and not any_not_finite(np.ones(3))


_HELPERS_CHILD = """
import numpy as np
import polyphase as pp
rng = np.random.default_rng(1)
# (4096 samples: fewer outputs than the band route needs)
h, x = rng.standard_normal(9), rng.standard_normal(1 << 12)
np.savez({path!r}, *[pp.upfirdn(h, x, L, M) for L, M in {rates}])
"""


def test_helpers_from_the_cache_link_into_new_kernels(tmp_path):
    """Helpers only kernels call keep no machine code of their own
    (:class:`polyphase.engine.jit._LinkOnlyLibrary`); their cache entries
    hold the code a new kernel links.  A first process compiles the L=2
    kind (caching ``_taps1``, ``_taps2`` ...); a second compiles three other
    kinds, which load those helpers from the cache, and matches scipy."""
    from polyphase.engine import jit
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")
    rates = {"first": [(2, 1)], "then": [(3, 1), (3, 2), (1, 3), (2, 3)]}
    for name, r in rates.items():
        script = _HELPERS_CHILD.format(path=str(tmp_path / f"{name}.npz"), rates=r)
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
    rng = np.random.default_rng(1)
    h, x = rng.standard_normal(9), rng.standard_normal(1 << 12)
    with np.load(tmp_path / "then.npz") as got:
        for i, (L, M) in enumerate(rates["then"]):
            np.testing.assert_allclose(got[f"arr_{i}"], scipy.signal.upfirdn(h, x, L, M),
                                       rtol=1e-12, atol=1e-12, err_msg=f"{L}/{M}")
    # (a helper compiled here is link-only, and its caller runs)
    @jit.njit(internal=True, nogil=True)
    def twice(v):
        return 2 * v

    @jit.njit(nogil=True)
    def caller(v):
        return twice(v) + 1

    assert caller(3.0) == 7.0
    (cres,) = twice.overloads.values()
    if jit._LINK_ONLY:
        assert isinstance(cres.library, jit._LinkOnlyLibrary)


_KINDS_CHILD = """
import json, sys
import numpy as np
import polyphase as pp
from polyphase.engine import kernels
rng = np.random.default_rng(1)
# (4096 samples: fewer outputs than the band route needs)
h, x = rng.standard_normal(9), rng.standard_normal(1 << 12)
out = {{}}
for L, M in {rates}:
    y = pp.upfirdn(h, x, L, M)
    (cres,) = kernels.job_kernel(L, M).overloads.values()
    out[f"{{L}}/{{M}}"] = [y.tolist(), cres.fndesc.mangled_name]
print(json.dumps(out))
"""


def test_kinds_compiled_in_two_processes_keep_their_own_code(tmp_path):
    """The 1-D kernel's kinds are closures of one source.  numba names a
    function's code after its qualified name, its argument types and a
    counter of the compiling process: two kinds, each compiled first thing
    in a process of its own, had one name (``run_jobs`` ``v1``), and a
    process that loaded both from the cache held two bodies under one
    symbol (numba issue #10486).  Each kind now has a name of its own
    (``njit(name=...)``): two processes compile a kind each, a third loads
    both, and each matches scipy."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="1")
    rates = [(3, 2), (2, 3)]

    def child(rates):
        script = _KINDS_CHILD.format(rates=rates)
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    names = [child([r])[f"{r[0]}/{r[1]}"][1] for r in rates]
    assert names[0] != names[1]
    both = child(rates)
    rng = np.random.default_rng(1)
    h, x = rng.standard_normal(9), rng.standard_normal(1 << 12)
    for (L, M), name in zip(rates, names):
        y, loaded = both[f"{L}/{M}"]
        assert loaded == name                   # (from the cache, not compiled again)
        np.testing.assert_allclose(y, scipy.signal.upfirdn(h, x, L, M), rtol=1e-12,
                                   atol=1e-12, err_msg=f"{L}/{M}")


_RUNTIME_KERNEL = """
import numpy as np
from polyphase.engine.jit import njit


@njit(cache=True, nogil=True)
def scaled_copy(x, c):
    y = np.empty_like(x)            # (an array numba's runtime allocates)
    for i in range(x.size):
        y[i] = c * x[i]
    return y
"""

_RUNTIME_CHILD = """
import json, sys
sys.path.insert(0, {dir!r})
from numba.core.runtime import nrtdynmod, rtsys
made = []
create = nrtdynmod.create_nrt_module
nrtdynmod.create_nrt_module = lambda ctx: (made.append(1), create(ctx))[1]
import numba
import numpy as np
import runtime_kernel
x = np.arange(6.0)
y = runtime_kernel.scaled_copy(x, 2.0)
before = rtsys.get_allocation_stats()
z = runtime_kernel.scaled_copy(x, 3.0)
@numba.njit                         # compiled here: it links the runtime's code
def user(n):
    a = np.arange(n * 1.0)
    return a[::2].copy().sum()
s = user(10)
del z
after = rtsys.get_allocation_stats()
print(json.dumps(dict(made=len(made), y=y.tolist(), user=s, allocs=after.alloc - before.alloc,
                      frees=after.free - before.free)))
"""


def test_numba_runtime_read_from_the_cache(tmp_path):
    """numba's runtime functions are compiled in the first process that
    needs them and read from the cache in the next
    (:func:`polyphase.engine.jit.initialize_runtime`); the code read
    counts references as the compiled one does (every array allocated is
    freed, numba's own statistics), a function numba compiles afterwards
    links it, and a damaged file is made again."""
    (tmp_path / "runtime_kernel.py").write_text(_RUNTIME_KERNEL)
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBA_NRT_STATS="1")
    script = _RUNTIME_CHILD.format(dir=str(tmp_path))

    def child():
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        assert res["y"] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        assert res["user"] == 20.0
        assert res["allocs"] == res["frees"] >= 2
        return res["made"]

    from polyphase.engine import jit
    if not jit._RUNTIME_CACHE:
        pytest.skip("this numba lacks what the runtime's cache relies on")
    assert child() == 1                     # compiled (with the kernel), and written
    (saved,) = cache.rglob("numba-runtime-*.nbo")
    assert child() == 0                     # read
    saved.write_bytes(b"not a library")
    assert child() == 1                     # made again...
    assert child() == 0                     # ... and written again


_DEFAULT_THRESHOLDS = gc.get_threshold()


def test_compiles_run_with_the_collector_paused_and_restore_it(monkeypatch):
    """A kernel compiles with Python's cyclic garbage collector paused (it
    ran ~350 times in one kernel's compile), and leaves it as it was:
    collections while numba's pipeline runs are counted, with a threshold
    that collects at about every allocation."""
    from numba.core import compiler

    from polyphase.engine import jit

    inside, seen = [False], []
    pipeline = compiler.compile_extra

    def watched_pipeline(*args, **kwargs):
        inside[0] = True
        try:
            return pipeline(*args, **kwargs)
        finally:
            inside[0] = False

    def watch(phase, info):
        if phase == "start":
            seen.append(inside[0])

    monkeypatch.setattr(compiler, "compile_extra", watched_pipeline)

    def fresh():
        @jit.njit(nogil=True)
        def grow(n):
            t = 0.0
            for i in range(n):
                t += i * 0.5
            return t
        return grow

    gc.callbacks.append(watch)
    try:
        gc.set_threshold(1, 1, 1)
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            seen.clear()
            assert fresh()(4) == 3.0
            assert True not in seen and gc.isenabled() == enabled
        # the count can fail: numba's own dispatcher, its collector not paused
        gc.enable()
        seen.clear()
        assert numba.njit(fresh().py_func)(4) == 3.0
        assert seen.count(True) > 0
    finally:
        gc.callbacks.remove(watch)
        gc.set_threshold(*_DEFAULT_THRESHOLDS)
        gc.enable()


def test_a_cached_closure_needs_a_name_of_its_own():
    """Closures of one source share a qualified name, hence numba's symbol
    (see the test above): ``njit`` refuses a cached one without ``name``,
    and names it with one."""
    from polyphase.engine import jit

    def make(scale, name=None):
        def scaled(v):
            return scale * v
        return jit.njit(cache=True, name=name)(scaled)

    with pytest.raises(TypeError, match="needs njit\\(name=...\\)"):
        make(2.0)
    named = make(3.0, name="scaled_by_3")
    assert named.py_func.__qualname__.endswith(".scaled_by_3")
    assert named(2.0) == 6.0


_STAMPED = """
import numpy as np
from polyphase.engine.jit import njit


@njit(cache=True, nogil=True)
def twice(a):
    return 2.0 * a[0]


def run():
    value = twice(np.ones(1))
    return dict(value=value, hits=sum(twice.stats.cache_hits.values()))
"""

_STAMP_CHILD = """
import json, sys
from polyphase.engine import jit
if {edited}:        # as if one of the engine's modules had changed
    jit._ENGINE_STAMP = jit.engine_stamp() + (("edited.py", 0.0, 1),)
sys.path.insert(0, {folder!r})
import stamped
print(json.dumps(stamped.run()))
"""


def test_an_edit_of_any_engine_module_makes_cached_kernels_stale(tmp_path):
    """numba stamps a cached function with its own file only: an intrinsic
    edited in another module (simd.py) left the kernels that compiled it in
    loading their old code.  The engine's kernels take the stamp of every
    engine module too."""
    (tmp_path / "stamped.py").write_text(_STAMPED)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")

    def child(edited):
        script = _STAMP_CHILD.format(edited=edited, folder=str(tmp_path))
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    runs = [child(False), child(False), child(True), child(True)]
    assert [r["value"] for r in runs] == [2.0] * 4
    # compiled, loaded; compiled again after the edit, then loaded
    assert [r["hits"] for r in runs] == [0, 1, 0, 1]

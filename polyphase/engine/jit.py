"""``njit`` for the engine's kernels: numba's, with a cache that loads a
compiled kernel without first loading numba's whole compiler.

numba's cache refreshes the target context before every load
(``FunctionCache.load_overload``): it imports and registers every typing
and lowering registry numba has, numpy's linear algebra among them, which
imports ``scipy.linalg`` (and, through it, ``numpy.f2py``).  A kernel read
from the cache is machine code: none of that is needed to run it, only
numba's runtime for the arrays it allocates (NRT), which that refresh
happened to initialise.  On the Xeon, in a fresh process with a warm cache,
``import polyphase`` plus the first call of every kernel of the benchmark's
J2 took 0.59-0.66 s with the refresh and 0.41 s without (the refresh alone:
0.27 s, 0.11 of it ``scipy.linalg``).

numba's runtime itself is compiled by LLVM in every process, before the
first kernel it compiles or loads (34-43 ms); its machine code is cached
too (:func:`initialize_runtime`).

The rest of numba's machinery is untouched: a kernel that is not in the
cache is compiled by numba's pipeline, which refreshes the context itself;
every symbol a loaded kernel links against is registered when numba
creates its target context (its C helpers, libm) or by the kernel's own
``reload_init`` (a ``parallel=True`` kernel's thread pool).  Where a numba
release lacks the private methods this relies on, the stock cache is used.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import tempfile

import llvmlite
import numba
from numba.core import caching, codegen, config
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_lock import global_compiler_lock
from numba.core.compiler_machinery import register_pass
from numba.core.runtime import nrtdynmod, rtsys
from numba.core.typed_passes import NativeLowering


class KernelCache(caching.FunctionCache):
    """numba's ``FunctionCache``, whose loads initialise only numba's runtime
    (see the module docstring), and whose entries are stale when any of the
    engine's modules changes (:func:`engine_stamp`)."""

    def __init__(self, py_func):
        super().__init__(py_func)
        file = getattr(self, "_cache_file", None)
        if file is not None and hasattr(file, "_source_stamp"):
            file._source_stamp = (file._source_stamp, engine_stamp())

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)        # (once: it returns at once after)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


_FAST_LOAD = all(hasattr(caching.FunctionCache, name) for name in
                 ("_guard_against_spurious_io_errors", "_load_overload"))


def engine_stamp():
    """The name, modification time and size of each of the engine's modules
    (read once a process).

    numba stamps a cached function with its own file only: its entries are
    loaded while that file is unchanged, whatever changed in the code it
    compiled in from elsewhere -- the intrinsics of :mod:`.simd` and
    :mod:`.inline_builtins`, the helpers of :mod:`.kernels`.  A kernel of
    :mod:`.kernels2d` kept the code of an intrinsic edited since (a
    session measured it as the new code).  The engine's kernels take this
    stamp with their own: an edit of any engine module makes them all
    compile again.

    Examples
    --------
    >>> stamp = engine_stamp()
    >>> any(name == "simd.py" for name, _, _ in stamp)
    True
    """
    global _ENGINE_STAMP
    if _ENGINE_STAMP is None:
        folder = os.path.dirname(os.path.abspath(__file__))
        stamp = []
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                info = os.stat(os.path.join(folder, name))
                stamp.append((name, info.st_mtime, info.st_size))
        _ENGINE_STAMP = tuple(stamp)
    return _ENGINE_STAMP


_ENGINE_STAMP = None


def initialize_runtime(target_context, directory):
    """numba's ``rtsys.initialize(target_context)``, with the machine code of
    numba's runtime functions (reference counts, ``NRT_MemInfo_data``...)
    read from ``directory``, where the first process to need them wrote it.

    numba makes that code with LLVM in every process, before the first
    kernel it compiles or loads: 34-43 ms of a warm start on the Xeon
    (J2), against 3.5-4.3 ms to read it.  The file is named after what
    the code depends on (numba's and llvmlite's versions, the target
    machine and numba's runtime debug settings), and a file that cannot
    be read or loaded is made again.  Everything else numba's
    ``initialize`` does (its C helpers' symbols, statistics) is numba's
    own: it runs with this in place of its compile step.
    """
    if not _RUNTIME_CACHE or getattr(rtsys, "_init", True):
        return
    with global_compiler_lock:
        if rtsys._init:
            return
        compile_functions = nrtdynmod.compile_nrt_functions
        nrtdynmod.compile_nrt_functions = lambda ctx: _runtime_library(ctx, directory)
        try:
            rtsys.initialize(target_context)
        finally:
            nrtdynmod.compile_nrt_functions = compile_functions


_RUNTIME_CACHE = all(hasattr(nrtdynmod, name) for name in
                     ("compile_nrt_functions", "create_nrt_module")) and \
    hasattr(rtsys, "_init") and hasattr(codegen.JITCodeLibrary, "serialize_using_object_code")


def _runtime_library(ctx, directory):
    """numba's runtime library (``nrtdynmod.compile_nrt_functions(ctx)``),
    read from its file in ``directory``, or compiled and written there."""
    key = repr((numba.__version__, llvmlite.__version__, ctx.codegen().magic_tuple(),
                config.MACHINE_BITS, config.DEBUG_NRT, config.DEBUG_NRT_STACK_LIMIT))
    path = os.path.join(directory, "numba-runtime-%s.nbo"
                        % hashlib.sha256(key.encode()).hexdigest()[:20])
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
        return ctx.codegen().unserialize_library(state)
    except Exception:       # (absent, unreadable or not loadable: made below)
        pass
    ir_module, library = nrtdynmod.create_nrt_module(ctx)
    library.enable_object_caching()
    library.add_ir_module(ir_module)
    library.finalize()
    try:
        data = pickle.dumps(library.serialize_using_object_code(), protocol=4)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)   # (whole or not at all, for concurrent starts)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except Exception:
        pass                        # (not written: made again by the next process)
    return library


class _LinkOnlyLibrary(codegen.JITCodeLibrary):
    """The code of a helper that only other numba functions call
    (``internal=True``): kept for linking into its callers, and neither
    optimised as a module nor turned into machine code of its own.

    numba optimises every function it compiles and makes its machine code;
    a caller then links the helper's LLVM IR, optimises it again with its
    own and makes machine code of all of it (the helper inlined or not):
    the helper's own machine code is never run, and its own optimisation is
    done again.  The two took 0.25-0.6 s of the 1-D kernel's first calls
    (see docs/design-notes.rst, "Compile time").  The helper keeps numba's
    function passes (which run before a module is linked anywhere).  The
    cache keeps the IR for linking (numba's "bitcode" form;
    a helper loaded from it gets machine code then, as numba's own bitcode
    entries do).  numba sets the address of a function's environment after
    compiling it; the helpers' code never reads theirs (a kernel loaded
    from the cache runs without it), so that is skipped.
    """

    def _optimize_final_module(self):
        # (its callers optimise the IR they link, so it is optimised once,
        # there: numba's function passes only here)
        pass

    def _finalize_final_module(self):
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    @property
    def codegen(self):
        return _NoEnvironment(self._codegen)

    def serialize_using_object_code(self):
        return self.name, "bitcode", self._get_module_for_linking().as_bitcode()


class _NoEnvironment:
    """numba's code generator, for a :class:`_LinkOnlyLibrary`: setting the
    environment of a function with no machine code does nothing."""

    def __init__(self, codegen):
        self._codegen = codegen

    def set_env(self, env_name, env):
        pass

    def __getattr__(self, name):
        return getattr(self._codegen, name)


@register_pass(mutates_CFG=True, analysis_only=False)
class _LinkOnlyLowering(NativeLowering):
    """numba's lowering into a :class:`_LinkOnlyLibrary`."""
    _name = "polyphase_link_only_lowering"

    def run_pass(self, state):
        if state.library is None:
            state.library = _LinkOnlyLibrary(state.targetctx.codegen(),
                                             state.func_id.func_qualname)
            state.library.enable_object_caching()
        return super().run_pass(state)


class _HelperCompiler(CompilerBase):
    """numba's nopython pipeline with :class:`_LinkOnlyLowering`."""

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.passes = [(_LinkOnlyLowering if cls is NativeLowering else cls, what)
                     for cls, what in pm.passes]
        pm.finalize()
        return [pm]


# (numba's private methods the link-only helpers rely on; without them a
# helper compiles as any function does)
_LINK_ONLY = all(hasattr(codegen.JITCodeLibrary, name) for name in
                 ("_finalize_dynamic_globals", "_verify_declare_only_symbols",
                  "_get_module_for_linking", "_finalize_final_module",
                  "_optimize_final_module", "serialize_using_object_code", "codegen"))


def njit(**options):
    """``numba.njit(**options)``, keywords only; with ``cache=True`` the
    dispatcher's cache is a :class:`KernelCache`.  The dispatcher compiles
    with Python's garbage collector paused (:class:`_PausedCollector`).

    ``internal=True`` marks a helper that only other numba functions call:
    numba then builds neither of the wrappers it gives every function for
    calls from Python and through C pointers, whose lowering, optimisation
    and machine code cost ~20 ms a helper (a trivial one: 40-46 against
    22-26 ms).  The 1-D kernel's seven such helpers took its cold JIT from
    3.90-3.92 to 3.69-3.72 s on the Xeon.  Its code is compiled to LLVM IR
    for its callers to link, and neither optimised as a module nor turned
    into machine code of its own (:class:`_LinkOnlyLibrary`).  The helper
    cannot be called from Python: such a call raises ``TypeError`` (numba
    would jump to the wrapper that was not built, and the process would
    crash).

    ``name`` replaces the function's qualified name, for the functions a
    factory makes from one source (a kernel per kind of signal): each needs
    a name of its own.  numba names a function's code after its qualified
    name, its argument types and a counter of the process that compiled it
    (``v<count>``): the 1-D kernel's kinds, each compiled first thing in a
    process of its own, were all ``run_jobs`` with ``v1``, two bodies under
    one symbol in a process that loads both from the cache (numba issue
    #10486: a call may then reach the other body).  A closure with
    ``cache=True`` and no ``name`` is refused (``TypeError``).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> @njit(nogil=True, internal=True)
    ... def add(t, v):
    ...     return t + v
    >>> @njit(nogil=True)
    ... def total(a):
    ...     t = 0.0
    ...     for v in a:
    ...         t = add(t, v)
    ...     return t
    >>> total(np.arange(4.0))
    6.0
    >>> add(1.0, 2.0)
    Traceback (most recent call last):
    ...
    TypeError: add is for numba functions only (internal=True), not for calls from Python
    """
    internal = options.pop("internal", False)
    name = options.pop("name", None)
    if internal:
        options.update(no_cpython_wrapper=True, no_cfunc_wrapper=True)
        if _LINK_ONLY:
            options.update(pipeline_class=_HelperCompiler)
    cache = options.pop("cache", False)

    def decorate(func):
        # (a cached closure without a name of its own is the collision above)
        if cache and func.__closure__ and name is None:
            raise TypeError(f"{func.__qualname__}: a cached closure needs njit(name=...), "
                            "one per closure made from its source")
        if name is not None:
            func.__qualname__ = f"{func.__qualname__.rpartition('.')[0]}.{name}".lstrip(".")
        dispatcher = numba.njit(**options)(func)
        dispatcher.__class__ = _engine_class(type(dispatcher), internal)
        if cache and _FAST_LOAD:
            dispatcher._cache = KernelCache(dispatcher.py_func)
        elif cache:
            dispatcher.enable_caching()
        return dispatcher
    return decorate


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off for the block (if it was on)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _PausedCollector:
    """numba's ``compile`` with Python's cyclic garbage collector paused.

    numba allocates Python objects by the million while it compiles a
    kernel, and the collector runs as they accumulate: the 1-D kernel's
    2/3 kind's first call went through ~350 collections, two of them of
    every object in the process (0.14 s), ~0.2 s of its ~2.9 s on the
    Xeon.  Paused, they are left to the next collection after the compile
    (the objects numba keeps are not garbage; what it drops is freed by
    reference counting as before).  Loading a kernel from the cache goes
    through here too, and costs the same either way.  Either first
    initialises numba's runtime from the cache (:func:`initialize_runtime`)."""

    def compile(self, sig):
        if isinstance(self._cache, KernelCache):
            # (before numba's own compile or load initialises it the slow way)
            initialize_runtime(self.targetctx, self._cache.cache_path)
        with _collector_paused():
            return super().compile(sig)


def _refuse_python_calls(self, *args, **kwargs):
    raise TypeError(f"{self.py_func.__name__} is for numba functions only "
                    "(internal=True), not for calls from Python")


_CLASSES: dict = {}


def _engine_class(base, internal):
    """A subclass of numba's dispatcher class ``base`` that compiles with
    the collector paused (:class:`_PausedCollector`); ``internal``: its
    Python calls raise ``TypeError`` (numba's own calls, which are typed
    and linked at compile time, never go through ``__call__``)."""
    key = base, internal
    if key not in _CLASSES:
        body = {"__module__": __name__}
        if internal:
            body["__call__"] = _refuse_python_calls
        _CLASSES[key] = type(("Internal" if internal else "Engine") + base.__name__,
                             (_PausedCollector, base), body)
    return _CLASSES[key]

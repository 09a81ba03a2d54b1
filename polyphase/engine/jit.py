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

The rest of numba's machinery is untouched: a kernel that is not in the
cache is compiled by numba's pipeline, which refreshes the context itself;
every symbol a loaded kernel links against is registered when numba
creates its target context (its C helpers, libm) or by the kernel's own
``reload_init`` (a ``parallel=True`` kernel's thread pool).  Where a numba
release lacks the private methods this relies on, the stock cache is used.
"""

from __future__ import annotations

import numba
from numba.core import caching
from numba.core.runtime import rtsys


class KernelCache(caching.FunctionCache):
    """numba's ``FunctionCache``, whose loads initialise only numba's runtime
    (see the module docstring)."""

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)        # (once: it returns at once after)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


_FAST_LOAD = all(hasattr(caching.FunctionCache, name) for name in
                 ("_guard_against_spurious_io_errors", "_load_overload"))


def njit(**options):
    """``numba.njit(**options)``, keywords only; with ``cache=True`` the
    dispatcher's cache is a :class:`KernelCache`.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> @njit(nogil=True)
    ... def total(a):
    ...     t = 0.0
    ...     for v in a:
    ...         t += v
    ...     return t
    >>> total(np.arange(4.0))
    6.0
    """
    cache = options.pop("cache", False)

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if cache and _FAST_LOAD:
            dispatcher._cache = KernelCache(dispatcher.py_func)
        elif cache:
            dispatcher.enable_caching()
        return dispatcher
    return decorate

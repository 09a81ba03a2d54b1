"""The OS thread ids of the threads that run numba's parallel kernels.

:func:`.pinning.numba_team` sets their CPUs before a parallel kernel wakes
them; numba does not say which threads they are, so a parallel kernel
asks each thread for its id (``gettid``).
"""

import platform

from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .jit import njit


def _has_gettid():
    try:
        import ctypes
        return hasattr(ctypes.CDLL(None), "gettid")
    except OSError:
        return False


# whether _gettid can be linked here: glibc's gettid (2.30 and later); a
# symbol the JIT cannot resolve would abort the process
SUPPORTED = platform.system() == "Linux" and _has_gettid()


@intrinsic
def _gettid(typingctx):
    """The calling thread's OS id: a call of libc's ``gettid``, declared by
    name (a ctypes function would stop numba from caching the kernel)."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module,
                                            ir.FunctionType(ir.IntType(32), []), "gettid")
        return builder.sext(builder.call(fn, []), ir.IntType(64))
    return types.int64(), codegen


@njit(cache=True, parallel=True)
def thread_ids(out):
    """``out[i]``: the OS id of the thread that ran index ``i`` of a
    ``prange`` over ``out`` (numba splits it evenly between its threads)."""
    for i in prange(out.shape[0]):
        out[i] = _gettid()

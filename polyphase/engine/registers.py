"""Register-blocked accumulators for numba kernels, and the compiler setting
that vectorises them.

A kernel that keeps a few vectors of outputs in registers while it runs over
taps (each tap one broadcast multiply-add per vector) is bound by its
multiply-adds rather than by loads and stores of an accumulator in memory.
numba offers no vector types, so such a kernel is written with scalars:

* :func:`accumulators` is a fixed-size array on the stack; once the loops
  over its ``G`` (or ``NB * G``) elements are unrolled every index is a
  constant and LLVM keeps the elements in registers (a heap array is loaded
  and stored at every multiply-add).  :func:`lanes` gives ``G`` as a
  constant LLVM sees (``64 // x.itemsize`` is read from the array at run
  time, and a loop over a run-time count is not unrolled);
* the unrolled scalar multiply-adds become vector instructions only through
  LLVM's SLP vectoriser, which numba leaves off by default: :func:`call`
  switches it on while a kernel compiles (2-3x faster).
"""

import contextlib

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Vectors of G outputs in registers at once: each coefficient or sample
# loaded serves NB of them.  Measured on the band kernel (U1-U6 shapes):
# NB = 4 beat 2 and 8 with G = 64 bytes; 32-byte vectors with NB = 8 ran
# 1.5-2x slower.
NB = 4
# Vectors of G elements :func:`accumulators` holds: NB of accumulators and
# one of finiteness checks (see :mod:`.kernels_band`).
VECTORS = NB + 1


@intrinsic
def lanes(typingctx, dtype):
    """``G``, the elements of ``dtype`` in 64 bytes, as a compile-time constant."""
    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, 512 // dtype.dtype.bitwidth)
    return types.intp(dtype), codegen


@intrinsic
def accumulators(typingctx, dtype):
    """``VECTORS * G`` elements of ``dtype`` on the stack (uninitialised),
    a 1-D array the function that calls this owns until it returns; the
    ones a kernel does not use cost nothing.  (An intrinsic rather than
    ``numba.carray`` over a pointer from one: the cached kernels that used
    that had ``import numba.np.arrayobj`` run when they were loaded, ~20
    ms of a warm start; see :mod:`.inline_builtins`.)"""
    count = VECTORS * 512 // dtype.dtype.bitwidth
    arrtype = types.Array(dtype.dtype, 1, "C")

    def codegen(context, builder, signature, args):
        from .inline_builtins import _array
        ty = context.get_data_type(dtype.dtype)
        intp = context.get_value_type(types.intp)
        data = cgutils.alloca_once(builder, ty, size=ir.Constant(intp, count))
        return _array(context, builder, arrtype, [ir.Constant(intp, count)],
                      ir.Constant(intp, context.get_abi_sizeof(ty)), data, None)
    return arrtype(dtype), codegen


# (kernel name, dtype of the first argument) compiled in this process
_READY = set()


def call(kernel, args):
    """``kernel(*args)``, compiled (or loaded from numba's cache) with LLVM's
    SLP vectoriser on the first time."""
    # (a new signature compiles: array dtypes and the other arguments' types)
    key = (kernel.__name__,) + tuple(getattr(a, "dtype", type(a)) for a in args)
    if key in _READY:
        return kernel(*args)
    # under numba's compiler lock: the setting is global, and another thread
    # compiling meanwhile must neither see it nor switch it off under us
    from numba.core.compiler_lock import global_compiler_lock
    with global_compiler_lock, slp_vectorizer():
        value = kernel(*args)
    _READY.add(key)
    return value


@contextlib.contextmanager
def slp_vectorizer():
    """Compile with LLVM's SLP vectoriser (numba's ``NUMBA_SLP_VECTORIZE``
    setting, read when a function is optimised)."""
    from numba.core import config
    old = config.SLP_VECTORIZE, config.LOOP_VECTORIZE
    config.SLP_VECTORIZE, config.LOOP_VECTORIZE = 1, 0
    try:
        yield
    finally:
        config.SLP_VECTORIZE, config.LOOP_VECTORIZE = old

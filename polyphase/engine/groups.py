"""A kernel's jobs run by calling its compiled code: in parallel without
compiling the kernel again, and with its arrays uncounted.

Each parallel kernel was ``for g in prange(ngroups): serial(..., j0, j1)``.
Compiling it links the serial kernel's code in and optimises all of it
again, twice (in numba's gufunc for the loop body, then in the function
around it), after the serial kernel's own compile: the first parallel call
of the 1-D kernel (:func:`.kernels.run_jobs`) took 3.6 s more than the
first serial one, the axis-0 kernel's 5.0 s more.

Here one small parallel function, :func:`_in_groups`, calls the serial
kernel's compiled code by its address (an ``int64`` argument), so LLVM
never sees that code again: each first parallel call compiles only that
function for its argument types.  The address is the serial kernel's
native entry, looked up once per kernel and argument types
(:func:`_address`); the call follows numba's calling convention, as a call
between two numba functions does.  An exception raised in a job is lost,
as in numba's ``prange`` loop that called the kernel directly (numba's
parallel loops do not pass it on); on the calling thread (one group,
:func:`_in_one`) it is raised as from the kernel.

The kernel's arrays are passed uncounted (:func:`_borrowed`), which also
pays on one thread: a serial run of many jobs goes through here as well
(the engine's ``_jobs``), the 1-D kernel with 8 taps 11-17 % faster.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .inline_builtins import empty1
from .jit import njit


@intrinsic
def _pack(typingctx, args):
    """A pointer to a copy of the tuple ``args`` in the caller's frame.

    numba's parallel loop passes each variable it uses as an argument of a
    gufunc, which takes arrays and scalars, and a tuple of them split into
    its items, but not a tuple inside a tuple (the axis-0 kernel's
    ``pairs``): the loop takes this pointer, a scalar, instead."""
    def codegen(context, builder, signature, llargs):
        return cgutils.alloca_once_value(builder, llargs[0])

    return types.CPointer(args)(args), codegen


@intrinsic
def _call(typingctx, addr, packed, j0, j1, like):
    """``f(*args, j0, j1)`` for the numba function whose native entry is at
    ``addr``, ``packed`` pointing to ``args`` (:func:`_pack`); ``like``
    (None or a number) has the type ``f`` returns."""
    rtype = types.none if isinstance(like, types.NoneType) else like
    items = tuple(packed.dtype.types)
    argtypes = items + (types.int64, types.int64)

    def codegen(context, builder, signature, llargs):
        address, pointer, lo, hi, _ = llargs
        lo = context.cast(builder, lo, j0, types.int64)     # (a literal 0 too)
        hi = context.cast(builder, hi, j1, types.int64)
        args = builder.load(pointer)
        values = [_borrowed(context, builder, ty, builder.extract_value(args, i))
                  for i, ty in enumerate(items)]
        fnty = context.call_conv.get_function_type(rtype, argtypes)
        fn = builder.inttoptr(address, fnty.as_pointer())
        status, value = context.call_conv.call_function(builder, fn, rtype, argtypes,
                                                        values + [lo, hi])
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return value if rtype is not types.none else context.get_dummy_value()

    return rtype(addr, packed, j0, j1, like), codegen


def _borrowed(context, builder, ty, value):
    """``value`` with the arrays in it (also in tuples) given no reference
    count (a null meminfo): numba's reference counting then skips them.

    The kernel's views of its arguments, and its calls with them, count
    references on the arguments' meminfos, an atomic add each time (~70 a
    job in the 1-D kernel), shared by all groups: with two threads that cache
    line moved between the cores at each, and the 1-D kernel's parallel run
    on 2**16 samples took 80 us against 64 us serial.  (Compiled into the
    parallel loop, LLVM had removed most of those counts.)  The arrays stay
    alive: the caller holds them until the parallel loop returns, and the
    kernel's jobs return no array."""
    if isinstance(ty, types.Array):
        array = cgutils.create_struct_proxy(ty)(context, builder, value=value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        return array._getvalue()
    if isinstance(ty, types.BaseTuple):
        for i, item in enumerate(ty):
            value = builder.insert_value(
                value, _borrowed(context, builder, item, builder.extract_value(value, i)), i)
    return value


@njit(cache=True, nogil=True)
def _in_one(addr, args, njobs, like):
    """All the jobs ``[0, njobs)`` on the calling thread; what the kernel returns."""
    return _call(addr, _pack(args), 0, njobs, like)


@njit(cache=True, nogil=True, parallel=True)
def _in_groups(addr, args, njobs, ngroups, like):
    """The jobs ``[0, njobs)`` in ``ngroups`` contiguous groups, one ``prange``
    index each; the sum of what the groups return (0 when nothing)."""
    packed = _pack(args)
    if like is None:
        for g in prange(ngroups):
            _call(addr, packed, g * njobs // ngroups, (g + 1) * njobs // ngroups, like)
        return 0.0
    # each group's own slot, summed after: a prange reduction (``total +=``)
    # is lowered with numba's np.empty, whose module (numba's arrayobj,
    # ~20 ms) a cached function that uses it imports when it is loaded
    sums = empty1(np.float64, ngroups)
    for g in prange(ngroups):
        sums[g] = _call(addr, packed, g * njobs // ngroups, (g + 1) * njobs // ngroups, like)
    total = 0.0
    for g in range(ngroups):
        total += sums[g]
    return total


# (kernel, argument types) -> (address, like); the compiled code stays
# alive with its dispatcher, which a module keeps
_ADDRESSES = {}


def _fingerprint(args):
    """A key for the numba types of ``args`` (~0.2 us; numba's typeof of a
    tuple of arrays takes ~45 us)."""
    try:
        return numba._dispatcher.compute_fingerprint(args)
    except (AttributeError, NotImplementedError, ValueError, TypeError):
        return numba.typeof(args)


def _address(kernel, args, setting):
    key = (kernel, _fingerprint(args))
    found = _ADDRESSES.get(key)
    if found is None:
        argtypes = tuple(numba.typeof(args).types) + (types.int64, types.int64)
        from numba.core.compiler_lock import global_compiler_lock
        with global_compiler_lock, (setting() if setting else contextlib.nullcontext()):
            kernel.compile(argtypes)          # (or loaded from numba's cache)
        result = kernel.overloads[argtypes]
        found = (result.library.get_pointer_to_function(result.fndesc.llvm_func_name),
                 _like(result.signature.return_type))
        _ADDRESSES[key] = found
    return found


def _like(rtype):
    """A Python value of the type a kernel returns, for :func:`_call`'s typing."""
    if rtype == types.none:
        return None
    if isinstance(rtype, types.Integer):
        return 0
    if isinstance(rtype, types.Float):
        return 0.0
    raise TypeError(f"groups.run: a kernel returning {rtype} is not supported")


def run(kernel, args, njobs: int, ngroups: int, setting=None, addresses=None):
    """``kernel(*args, j0, j1)`` for ``ngroups`` contiguous ranges ``[j0, j1)``
    of the jobs ``[0, njobs)``, in parallel on numba's threads; all of them
    on the calling thread when ``ngroups`` <= 1.  Either way the kernel's
    compiled code is called by address with its arrays uncounted (see the
    module's docstring).

    Parameters
    ----------
    kernel : numba dispatcher
        Runs jobs ``[j0, j1)`` given its two last arguments; jobs must
        write disjoint outputs.  It returns nothing or a number.
    args : tuple
        Its other arguments.
    njobs, ngroups : int
        Jobs, and the groups they are split into (one ``prange`` index each).
    setting : context manager factory, optional
        Entered while the kernel compiles (e.g.
        :func:`.registers.slp_vectorizer`).
    addresses : dict, optional
        Kept by a caller whose calls pass arguments of the same types each
        time (arrays of one dtype and number of dimensions, C-contiguous;
        the flags that do not change an array's layout in memory, read-only
        or aligned, may differ): the kernel's address is kept there, and
        the arguments' types are not looked up again (9 us of a call right
        after a kernel that wrote a few MB, which pushes Python out of the
        core's caches).

    Returns
    -------
    number or None
        In parallel: the sum of what the groups returned (0.0 when the
        kernel returns nothing); on the calling thread: what the kernel
        returned.

    Examples
    --------
    >>> import numpy as np
    >>> from numba import njit
    >>> @njit(nogil=True)
    ... def twice(x, out, j0, j1):
    ...     for j in range(j0, j1):
    ...         out[j] = 2 * x[j]
    >>> x, out = np.arange(6.0), np.zeros(6)
    >>> run(twice, (x, out), 6, 3)
    0.0
    >>> out
    array([ 0.,  2.,  4.,  6.,  8., 10.])
    >>> run(twice, (x + 1, out), 6, 1) is None
    True
    >>> out
    array([ 2.,  4.,  6.,  8., 10., 12.])
    """
    found = None if addresses is None else addresses.get(kernel)
    if found is None:
        found = _address(kernel, args, setting)
        if addresses is not None:
            addresses[kernel] = found
    addr, like = found
    if ngroups <= 1:
        return _in_one(addr, args, njobs, like)
    return _in_groups(addr, args, np.int64(njobs), np.int64(ngroups), like)

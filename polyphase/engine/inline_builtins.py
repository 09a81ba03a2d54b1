"""Stand-ins for numba builtins that compile at their call site.

numba 0.68 implements ``min``, ``max``, ``int`` and ``np.empty`` as
overloads: each is a function of its own, typed, lowered, optimised and
turned into machine code once per signature in a process, then linked into
its caller and optimised again.  A kernel's first call paid for each: in
the 1-D kernel's cold compile, ``min`` and ``max`` (two signatures each)
took 0.10 s, ``np.empty`` 0.08 s and ``int`` 0.02 s of about 3 s (and
the kernel's own zeroing loop, a helper, 0.02 s).  ``reshape`` is worse:
its first use in a process compiles a function of numba's through
``compile_internal``, 0.13 s (the 1-D kernel's plan is unpacked with five).  The
intrinsics here emit the same few instructions straight into the caller
(``min``: a compare and a select; ``empty``: numba's runtime allocation),
so there is nothing to compile for them.  Nor anything to import when a
cached kernel is loaded: numba's overloads keep their module
(``numba.np.arrayobj``, ~20 ms) in the kernel's environment, which a warm
start imports.

For the engine's kernels only: the kernels' arguments are checked before
the call, and these accept integers (``imin``, ``imax``), non-negative
sizes (``empty1``, ``empty2``, ``empty3``, ``zeros1``, which raise
``ValueError`` on a negative one) and contiguous arrays (``zero_fill``, ``matrix``,
``flat``) only.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _integers(typingctx, a, b):
    """The type both integers compare in (``None`` if either is not one)."""
    if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
        return None
    ty = typingctx.unify_types(a, b)
    return ty if isinstance(ty, types.Integer) else None


def _contiguous(a):
    """Whether ``a`` is a C-contiguous array type."""
    return isinstance(a, types.Array) and a.layout == "C"


def _select(name, less_first):
    """The intrinsic ``i{name}(a, b)``: Python's ``{name}`` of two integers."""
    def typer(typingctx, a, b):
        ty = _integers(typingctx, a, b)
        if ty is None:
            return None

        def codegen(context, builder, sig, args):
            x = context.cast(builder, args[0], sig.args[0], ty)
            y = context.cast(builder, args[1], sig.args[1], ty)
            op = builder.icmp_signed if ty.signed else builder.icmp_unsigned
            first = op("<" if less_first else ">", x, y)
            return builder.select(first, x, y)
        return ty(a, b), codegen
    typer.__name__ = typer.__qualname__ = f"i{name}"
    typer.__doc__ = f"""``{name}(a, b)`` of two integers, compiled in place (see the module
    docstring).

    Examples
    --------
    >>> from polyphase.engine.jit import njit
    >>> njit()(lambda a, b: i{name}(a, b))(3, -2)
    {min(3, -2) if less_first else max(3, -2)}
    """
    return intrinsic(typer)


imin = _select("min", True)
imax = _select("max", False)


@intrinsic
def flag(typingctx, cond):
    """``int(cond)`` of a boolean: 1 or 0 as an ``int64``, compiled in place.

    Examples
    --------
    >>> from polyphase.engine.jit import njit
    >>> njit()(lambda v: flag(v > 2))(3)
    1
    """
    if not isinstance(cond, types.Boolean):
        return None

    def codegen(context, builder, sig, args):
        return builder.zext(args[0], ir.IntType(64))
    return types.int64(cond), codegen


def _sizes(context, builder, tys, values):
    """The sizes as ``intp`` values, and a check that none is negative."""
    sizes = [context.cast(builder, v, t, types.intp) for v, t in zip(values, tys)]
    negative = cgutils.false_bit
    for s in sizes:
        negative = builder.or_(negative, cgutils.is_neg_int(builder, s))
    with builder.if_then(negative, likely=False):
        context.call_conv.return_user_exc(builder, ValueError,
                                          ("negative dimensions not allowed",))
    return sizes


def _count(builder, sizes):
    """The number of elements of an array of shape ``sizes`` (``intp`` values)."""
    count = ir.Constant(sizes[0].type, 1)
    for s in sizes:
        count = builder.mul(count, s)
    return count


def _allocate(context, builder, arrtype, sizes):
    """A new C-ordered array of ``arrtype`` with shape ``sizes`` from numba's
    runtime (what ``np.empty`` does, without its overload's function).

    (numba's own ``arrayobj._empty_nd_impl`` would do, but it allocates
    through ``compile_internal``, which compiles two more functions: the
    costs this module is here to avoid.  Sizes are the kernels' own, far
    from overflowing, so its overflow check is left out.)  The data start a
    64-byte line (numba's preferred alignment is 32 bytes): rows of whole
    vectors in a scratch array then start lines too, and a vector stored
    into them is one line, not two (see :func:`.kernels.split_phases`)."""
    itemsize = context.get_abi_sizeof(context.get_data_type(arrtype.dtype))
    intp = context.get_value_type(types.intp)
    meminfo = context.nrt.meminfo_alloc_aligned(
        builder, size=builder.mul(_count(builder, sizes), ir.Constant(intp, itemsize)),
        align=max(64, context.get_preferred_array_alignment(arrtype.dtype)))
    data = context.nrt.meminfo_data(builder, meminfo)
    return _array(context, builder, arrtype, sizes, ir.Constant(intp, itemsize),
                  builder.bitcast(data, context.get_data_type(arrtype.dtype).as_pointer()),
                  meminfo)


def _array(context, builder, arrtype, sizes, itemsize, data, meminfo, parent=None):
    """The C-ordered array of ``arrtype`` with shape ``sizes`` over ``data``."""
    # (imported when compiling: numba.np.arrayobj took 20-30 ms of
    # ``import polyphase``, which a warm start pays)
    from numba.np.arrayobj import populate_array
    strides = [itemsize]
    for s in reversed(sizes[1:]):
        strides.append(builder.mul(strides[-1], s))
    ary = context.make_array(arrtype)(context, builder)
    populate_array(ary, data=data, shape=cgutils.pack_array(builder, sizes),
                   strides=cgutils.pack_array(builder, list(reversed(strides))),
                   itemsize=itemsize, meminfo=meminfo, parent=parent)
    return ary._getvalue()


def _empty(typingctx, like, *sizes, zeroed=False):
    """``np.empty(sizes)`` (``np.zeros`` if ``zeroed``) of ``like``'s dtype:
    ``like`` an array or a numpy scalar type (``np.int64``)."""
    if isinstance(like, types.Array):
        dtype = like.dtype
    elif isinstance(like, types.NumberClass):
        dtype = like.instance_type
    else:
        return None
    if not all(isinstance(s, types.Integer) for s in sizes):
        return None
    arrtype = types.Array(dtype, len(sizes), "C")

    def codegen(context, builder, sig, args):
        sizes = _sizes(context, builder, sig.args[1:], args[1:])
        array = _allocate(context, builder, arrtype, sizes)
        if zeroed:
            ary = context.make_array(arrtype)(context, builder, array)
            cgutils.memset(builder, ary.data, builder.mul(ary.nitems, ary.itemsize), 0)
        return array
    return arrtype(like, *sizes), codegen


@intrinsic
def empty1(typingctx, like, n):
    """``np.empty(n, like.dtype)``, compiled in place (see the module
    docstring); ``like`` is an array or a numpy scalar type.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> a = njit()(lambda x, n: empty1(x, n))(np.ones(2, np.float32), 5)
    >>> a.shape, a.dtype
    ((5,), dtype('float32'))
    >>> njit()(lambda n: empty1(np.int64, n))(3).dtype
    dtype('int64')
    """
    return _empty(typingctx, like, n)


@intrinsic
def empty2(typingctx, like, n0, n1):
    """``np.empty((n0, n1), like.dtype)``, compiled in place (see the module
    docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> a = njit()(lambda x, m, n: empty2(x, m, n))(np.ones(2), 3, 4)
    >>> a.shape, a.dtype, a.flags.c_contiguous
    ((3, 4), dtype('float64'), True)
    """
    return _empty(typingctx, like, n0, n1)


@intrinsic
def zeros1(typingctx, like, n):
    """``np.zeros(n, like.dtype)``, compiled in place (see the module
    docstring); ``like`` is an array or a numpy scalar type.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> njit()(lambda x, n: zeros1(x, n))(np.ones(2, np.float32), 3)
    array([0., 0., 0.], dtype=float32)
    """
    return _empty(typingctx, like, n, zeroed=True)


@intrinsic
def empty3(typingctx, like, n0, n1, n2):
    """``np.empty((n0, n1, n2), like.dtype)``, compiled in place (see the
    module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> njit()(lambda a, b, c: empty3(np.int64, a, b, c))(2, 3, 4).shape
    (2, 3, 4)
    """
    return _empty(typingctx, like, n0, n1, n2)


@intrinsic
def zero_fill(typingctx, a):
    """``a[:] = 0`` for a contiguous array, one ``memset`` in place (a loop
    of stores is a function of its own to compile; see the module
    docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> a = np.arange(4.0)
    >>> njit()(lambda v: zero_fill(v[1:3]))(a)
    >>> a
    array([0., 0., 0., 3.])
    """
    if not _contiguous(a):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        size = builder.mul(ary.nitems, ary.itemsize)
        cgutils.memset(builder, ary.data, size, 0)
        return context.get_dummy_value()
    return types.void(a), codegen


def _view(context, builder, sig, args, sizes):
    """A C-ordered view of shape ``sizes`` over the data of the intrinsic's
    first argument, a contiguous array (``ValueError`` if larger than it)."""
    # (imported when compiling, see _array)
    from numba.core.imputils import impl_ret_borrowed
    src = context.make_array(sig.args[0])(context, builder, args[0])
    with builder.if_then(builder.icmp_signed(">", _count(builder, sizes), src.nitems),
                         likely=False):
        context.call_conv.return_user_exc(builder, ValueError, ("view larger than its array",))
    view = _array(context, builder, sig.return_type, sizes, src.itemsize, src.data,
                  src.meminfo, src.parent)
    return impl_ret_borrowed(context, builder, sig.return_type, view)


@intrinsic
def matrix(typingctx, a, rows, cols):
    """``a[:rows * cols].reshape((rows, cols))`` of a contiguous 1-D array:
    a view, compiled in place (see the module docstring).  ``ValueError``
    if a size is negative or the view is larger than ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> njit()(lambda v: matrix(v, 2, 3))(np.arange(7))
    array([[0, 1, 2],
           [3, 4, 5]])
    """
    if not (_contiguous(a) and a.ndim == 1 and isinstance(rows, types.Integer)
            and isinstance(cols, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return _view(context, builder, sig, args, _sizes(context, builder, sig.args[1:],
                                                         args[1:]))
    return a.copy(ndim=2)(a, rows, cols), codegen


@intrinsic
def flat(typingctx, a):
    """``a.reshape(a.size)`` of a contiguous array: a view, compiled in
    place (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from polyphase.engine.jit import njit
    >>> njit()(lambda v: flat(v))(np.arange(6).reshape(2, 3))
    array([0, 1, 2, 3, 4, 5])
    """
    if not _contiguous(a):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        return _view(context, builder, sig, args, [src.nitems])
    return a.copy(ndim=1)(a), codegen

"""Explicit vector code for numba kernels whose loops are short.

LLVM's loop vectoriser guards every vectorised loop with run-time checks
that no store stream overlaps a load stream (numba arrays may alias).  A
loop with nine loads and nine stores per iteration pays dozens of checks
each time it is entered, so over the 16 tiles of a tile row (a 64x64 image
in Winograd F(2x2, 2x2)) the checks cost ~10x the vector body: the data
transform of a 64-channel strided layer took 3.9 ms, about as long as a
scalar loop.  The intrinsics here emit the vector instructions themselves:
one vector (64 bytes: 16 float32, 8 float64) per call, no checks and no
loop, with unaligned loads and stores; :func:`rows_fma4x4` runs a loop over
rows inside, its accumulators in registers.  See the design notes
("Explicit vector code") for where each is used and what it replaced.

They do not check bounds: the caller guarantees that every lane it asks
for lies inside the arrays.  Complex arrays run as arrays of their real
components (the operations here are additions, subtractions and copies of
whole elements, which act on the components alike).
"""

import copy

from llvmlite import ir
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .inline_builtins import imin
from .jit import njit

# (``lanes(dtype)``: elements of ``dtype`` in one vector, a compile-time
# constant; the register-blocked kernels use the same width)
from .registers import lanes  # noqa: F401

# bytes per vector: one AVX-512 register (the target's width; narrower
# machines split it into two or four instructions, with the same results)
VECTOR_BYTES = 64


def _layout(context, dtype):
    """LLVM component type, components per element, and elements per vector."""
    if isinstance(dtype, types.Complex):
        part, per = dtype.underlying_float, 2
    else:
        part, per = dtype, 1
    count = VECTOR_BYTES * 8 // dtype.bitwidth
    return context.get_value_type(part), per, count


def _pointer(context, builder, aty, arr, comp):
    data = context.make_array(aty)(context, builder, arr).data
    return builder.bitcast(data, comp.as_pointer())


class _Vectors:
    """Loads and stores of whole vectors at element offsets of one array."""

    def __init__(self, context, builder, aty, arr):
        comp, self.per, self.count = _layout(context, aty.dtype)
        self.builder = builder
        self.base = _pointer(context, builder, aty, arr, comp)
        self.vty = ir.VectorType(comp, self.count * self.per)
        self.align = context.get_abi_sizeof(comp)

    def _at(self, off):
        b = self.builder
        if self.per > 1:
            off = b.mul(off, ir.Constant(off.type, self.per))
        return b.bitcast(b.gep(self.base, [off]), self.vty.as_pointer())

    def load(self, off, mask=None):
        """The vector at ``off``; with ``mask`` (:func:`_first`) only its lanes
        that are on are read (the others are zero and may lie outside the array)."""
        if mask is None:
            return self.builder.load(self._at(off), align=self.align)
        fn = self._masked("load", ir.FunctionType(self.vty, [self.vty.as_pointer(), _I32,
                                                             mask.type, self.vty]))
        return self.builder.call(fn, [self._at(off), ir.Constant(_I32, self.align), mask,
                                      ir.Constant(self.vty, None)])

    def store(self, value, off, mask=None):
        """Store ``value`` at ``off``; with ``mask``, only its lanes that are on."""
        if mask is None:
            self.builder.store(value, self._at(off), align=self.align)
            return
        fn = self._masked("store", ir.FunctionType(ir.VoidType(), [
            self.vty, self.vty.as_pointer(), _I32, mask.type]))
        self.builder.call(fn, [value, self._at(off), ir.Constant(_I32, self.align), mask])

    def rebased(self, base):
        """These loads and stores from ``base`` (a pointer of the same
        component type) instead of the array's first element."""
        other = copy.copy(self)
        other.base = base
        return other

    def _masked(self, what, fnty):
        # AVX-512 runs these as one masked move (no access past the lanes that are on)
        part = "f32" if self.vty.element == ir.FloatType() else "f64"
        name = f"llvm.masked.{what}.v{self.vty.count}{part}.p0"
        return cgutils.get_or_insert_function(self.builder.module, fnty, name)

    def stream(self, value, off):
        """A non-temporal store of a whole vector; ``off`` must start a 64-byte line."""
        b = self.builder
        store = b.store(value, self._at(off), align=VECTOR_BYTES)
        store.set_metadata("nontemporal", b.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))


# Non-temporal ("streaming") stores write whole cache lines to memory without
# reading them first.  A plain store of a line that is not in cache reads it
# from memory before overwriting it, so writing an output costs twice its
# bytes: a kernel that reads n bytes and writes 2n moves 5n, and cannot pass
# 60 % of a copy's bandwidth (glibc's memcpy, hence ``np.copyto``, streams
# large copies).  Measured here, a copy of 256 MB: 23 GB/s with plain stores,
# 34.5 with streaming ones, 27.6 for np.copyto; (65536, 64) L=2 with 8 taps
# along axis 0, one thread: float64 (band route) 8.1-10.4 -> 4.4-4.6 ms,
# float32 (axis-0 kernel) 4.5-4.6 -> 2.9 ms.  They also bypass the cache,
# which a result that fits in it and is read soon after would rather keep:
# kernels stream outputs of at least ``STREAM_BYTES`` (half the L3 here),
# and end with :func:`fence`; and only into recycled memory, whose pages
# are mapped (:func:`.scratch.mapped`: into fresh pages streaming was slower).
STREAM_BYTES = 1 << 24


@njit(inline="always")
def streams(out, after, mapped):
    """Whether a kernel streams ``out``: ``mapped`` (its pages are, see
    :func:`.scratch.mapped`), at least ``STREAM_BYTES``, 64-byte aligned,
    and rows of ``after`` elements that are whole lines (so every row starts
    on one)."""
    return mapped != 0 and out.size * out.itemsize >= STREAM_BYTES and \
        out.ctypes.data % np.uint64(64) == 0 and after * out.itemsize % 64 == 0


@intrinsic
def stream_vector(typingctx, src, s, dst, d):
    """``dst[d + i] = src[s + i]`` for the ``lanes`` elements ``i``, a
    non-temporal store: ``dst[d]`` must start a 64-byte line."""
    def codegen(context, builder, sig, args):
        _, S, _, D = args
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 2)
        dst_v.stream(src_v.load(S), D)
        return context.get_dummy_value()
    return types.void(src, s, dst, d), codegen


@njit(cache=True, internal=True, nogil=True)
def stream_copy_at(src, s, dst, d, n):
    """``dst[d:d + n] = src[s:s + n]``, the whole 64-byte lines of ``dst``
    with non-temporal stores (:func:`stream_vector`), the samples before its
    first line and after its last with plain ones: for a row of an output
    whose rows do not start on a line (a 4098-column image).  The caller
    ends with :func:`fence`.  (Offsets, not slices: two threads streaming
    C2's 2048x2048 image a row at a time through slices of the row and of
    the output took 3.8-4.2 against 3.1-3.4 ms.)"""
    G = lanes(dst.dtype)
    # (unsigned: the address is; elements divide a line)
    at = dst.ctypes.data + np.uint64(d * dst.itemsize)
    head = (np.uint64(64) - at % np.uint64(64)) % np.uint64(64) // np.uint64(dst.itemsize)
    head = imin(n, np.int64(head))
    for i in range(head):
        dst[d + i] = src[s + i]
    stop = head + (n - head) // G * G
    for i in range(head, stop, G):
        stream_vector(src, s + i, dst, d + i)
    for i in range(stop, n):
        dst[d + i] = src[s + i]


@intrinsic
def fence(typingctx):
    """A full memory fence (a locked instruction on x86): non-temporal stores are weakly
    ordered, so a kernel that streamed its output ends with this before the
    output is handed on."""
    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


_I32 = ir.IntType(32)


def prefetch_at(builder, ptr):
    """A prefetch of the cache line at ``ptr`` into all levels of the caches
    (``llvm.prefetch``: a hint that never faults, so an address outside the
    data is harmless; the pointer is computed without ``inbounds``)."""
    i8p = ir.IntType(8).as_pointer()
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32]),
        "llvm.prefetch.p0i8")
    builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(_I32, 0), ir.Constant(_I32, 3),
                      ir.Constant(_I32, 1)])


@intrinsic
def prefetch(typingctx, x, i):
    """A prefetch of the cache line of ``x[i]`` into all levels of the caches
    (:func:`prefetch_at`: any ``i``, inside ``x`` or not)."""
    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        prefetch_at(builder, builder.gep(arr.data, [args[1]]))
        return context.get_dummy_value()
    return types.void(x, i), codegen


def _first(builder, count, n, per, skip=0):
    """The mask of a vector's elements ``e`` (``n`` of them, ``per`` components
    each) with ``e + skip < count``: its first ``count - skip`` (none if that
    is <= 0, all if it is >= ``n``)."""
    ity = count.type
    index = ir.Constant(ir.VectorType(ity, n * per), [e + skip for e in range(n)
                                                      for _ in range(per)])
    return builder.icmp_signed("<", index, _splat(builder, count, n * per))


def _window(builder, lo, hi, n, per, skip=0):
    """The mask of a vector's elements ``e`` (``n`` of them, ``per`` components
    each) with ``lo <= e + skip < hi``."""
    ity = lo.type
    index = ir.Constant(ir.VectorType(ity, n * per), [e + skip for e in range(n)
                                                      for _ in range(per)])
    return builder.and_(builder.icmp_signed(">=", index, _splat(builder, lo, n * per)),
                        builder.icmp_signed("<", index, _splat(builder, hi, n * per)))


def _spread(builder, count, k, n, per):
    """The masks of ``k`` consecutive vectors over their first ``k * count``
    elements (``k`` elements per tile of the first ``count``), one per vector."""
    total = builder.mul(count, ir.Constant(count.type, k))
    return tuple(_first(builder, total, n, per, q * n) for q in range(k))


def _arrays(context, builder, sig, args, *which):
    """:class:`_Vectors` over the intrinsic's array arguments ``which``."""
    return [_Vectors(context, builder, sig.args[i], args[i]) for i in which]


def _offset(builder, base, k, step):
    """``base + k * step`` (``k`` a Python int)."""
    if k == 0:
        return base
    return builder.add(base, builder.mul(step, ir.Constant(step.type, k)))


def _bt(b, d):
    """``BT d`` of 3 points (F(2, 2): ``(d0 - d1, d1, d2 - d1)``) or 4 (F(3, 2)
    and F(2, 3): ``(d0 - d2, d1 + d2, d2 - d1, d3 - d1)``)."""
    if len(d) == 3:
        return b.fsub(d[0], d[1]), d[1], b.fsub(d[2], d[1])
    return b.fsub(d[0], d[2]), b.fadd(d[1], d[2]), b.fsub(d[2], d[1]), b.fsub(d[3], d[1])


def _bt2d(A, part):
    """The code of :func:`bt3x3` (``A = 3``) and :func:`bt4x4` (``A = 4``),
    ``part``: of their ``_part``: ``BT`` along each row of the ``A x A``
    tile, then along each column."""
    def codegen(context, builder, sig, args):
        rows, cols, D, P = args[1:1 + A], args[1 + A:1 + 2 * A], args[2 + 2 * A], \
            args[3 + 2 * A]
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 1 + 2 * A)
        b = builder
        mask = _first(b, args[4 + 2 * A], src_v.count, src_v.per) if part else None
        e = [_bt(b, [src_v.load(b.add(r, c), mask) for c in cols]) for r in rows]
        for col in range(A):
            for row, value in enumerate(_bt(b, [e[a][col] for a in range(A)])):
                dst_v.store(value, _offset(b, D, A * row + col, P), mask)
        return context.get_dummy_value()
    return codegen


@intrinsic
def bt3x3(typingctx, src, r0, r1, r2, c0, c1, c2, dst, d, step):
    """Winograd F(2x2, 2x2)'s data transform ``BT d BT^T`` of one vector of
    tiles: tile ``i`` (``i < lanes``) has ``d[a, b] = src[r_a + c_b + i]``,
    and point ``p = 3a + b`` of its transform goes to ``dst[d + p*step + i]``.

    Along a row ``BT`` gives ``(d0 - d1, d1, d2 - d1)``; across rows the same.
    """
    return types.void(src, r0, r1, r2, c0, c1, c2, dst, d, step), _bt2d(3, False)


@intrinsic
def bt3x3_part(typingctx, src, r0, r1, r2, c0, c1, c2, dst, d, step, count):
    """:func:`bt3x3` of the tiles ``i < count`` only (``count < lanes``: the
    end of a run of tiles), with masked loads and stores."""
    return types.void(src, r0, r1, r2, c0, c1, c2, dst, d, step, count), _bt2d(3, True)


def _bt4(part):
    """The code of :func:`bt4` (``part``: of :func:`bt4_part`)."""
    def codegen(context, builder, sig, args):
        _, C0, C1, C2, C3, _, D, P = args[:8]
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 5)
        b = builder
        mask = _first(b, args[8], src_v.count, src_v.per) if part else None
        for p, value in enumerate(_bt(b, [src_v.load(c, mask) for c in (C0, C1, C2, C3)])):
            dst_v.store(value, _offset(b, D, p, P), mask)
        return context.get_dummy_value()
    return codegen


@intrinsic
def bt4(typingctx, src, c0, c1, c2, c3, dst, d, step):
    """Winograd F(3, 2)'s data transform ``BT d = (d0 - d2, d1 + d2, d2 - d1,
    d3 - d1)`` of one vector of tiles: tile ``i`` has ``d[a] = src[c_a + i]``,
    and point ``p`` of its transform goes to ``dst[d + p*step + i]``."""
    return types.void(src, c0, c1, c2, c3, dst, d, step), _bt4(False)


@intrinsic
def bt4_part(typingctx, src, c0, c1, c2, c3, dst, d, step, count):
    """:func:`bt4` of the tiles ``i < count`` only (``count < lanes``), with
    masked loads and stores."""
    return types.void(src, c0, c1, c2, c3, dst, d, step, count), _bt4(True)


@intrinsic
def bt4x4(typingctx, src, r0, r1, r2, r3, c0, c1, c2, c3, dst, d, step):
    """Winograd F(2x2, 3x3)'s data transform ``BT d BT^T`` of one vector of
    tiles: tile ``i`` (``i < lanes``) has ``d[a, b] = src[r_a + c_b + i]``,
    and point ``p = 4a + b`` of its transform goes to ``dst[d + p*step + i]``.

    Along a row ``BT`` gives :func:`bt4`'s ``(d0 - d2, d1 + d2, d2 - d1, d3 -
    d1)``; across rows the same.
    """
    return types.void(src, r0, r1, r2, r3, c0, c1, c2, c3, dst, d, step), _bt2d(4, False)


@intrinsic
def bt4x4_part(typingctx, src, r0, r1, r2, r3, c0, c1, c2, c3, dst, d, step, count):
    """:func:`bt4x4` of the tiles ``i < count`` only (``count < lanes``), with
    masked loads and stores."""
    return (types.void(src, r0, r1, r2, r3, c0, c1, c2, c3, dst, d, step, count),
            _bt2d(4, True))


def _at2x2(points, part):
    """The code of the output transforms of a 2x2 tile from ``points`` (9:
    :func:`at3x3`, 16: :func:`at4x4`; ``part``: their ``_part``)."""
    def codegen(context, builder, sig, args):
        _, A, P, _, O0, O1, TOP, BOTTOM = args[:8]
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 3)
        b, n, per = builder, src_v.count, src_v.per
        tiles, halves = None, (None, None)
        if part:
            # the tiles i < count; their outputs in a row are the first 2*count
            # elements of the row's pair of vectors
            tiles = _first(b, args[8], n, per)
            halves = _spread(b, args[8], 2, n, per)
        m = [src_v.load(_offset(b, A, p, P), tiles) for p in range(points)]
        if points == 9:
            # F(2x2, 2x2): the sums of the 2x2 windows
            s14, s47 = b.fadd(m[1], m[4]), b.fadd(m[4], m[7])
            y = ((b.fadd(b.fadd(m[0], m[3]), s14), b.fadd(s14, b.fadd(m[2], m[5]))),
                 (b.fadd(b.fadd(m[3], m[6]), s47), b.fadd(s47, b.fadd(m[5], m[8]))))
        else:
            # F(2x2, 3x3): AT = [[1, 1, 1, 0], [0, 1, -1, -1]] along rows, then columns
            def at(m0, m1, m2, m3):
                return b.fadd(b.fadd(m0, m1), m2), b.fsub(b.fsub(m1, m2), m3)
            r = [at(*m[4 * a:4 * a + 4]) for a in range(4)]
            cols = [at(*(r[a][j] for a in range(4))) for j in range(2)]
            y = ((cols[0][0], cols[1][0]), (cols[0][1], cols[1][1]))
        ity = ir.IntType(32)
        for keep, O, (left, right) in ((TOP, O0, y[0]), (BOTTOM, O1, y[1])):
            with b.if_then(keep):
                for half in range(2):
                    # tiles half*n/2 .. : their left and right columns in turn
                    order = [(t + half * n // 2 + side * n) * per + r
                             for t in range(n // 2) for side in (0, 1) for r in range(per)]
                    pair = b.shuffle_vector(left, right,
                                            ir.Constant(ir.VectorType(ity, len(order)), order))
                    dst_v.store(pair, b.add(O, ir.Constant(O.type, half * n)), halves[half])
        return context.get_dummy_value()
    return codegen


@intrinsic
def at3x3(typingctx, src, a, step, dst, o0, o1, top, bottom):
    """Winograd F(2x2, 2x2)'s output transform ``AT M AT^T`` (the sums of the
    2x2 windows of a 3x3 ``M``) of one vector of tiles: tile ``i`` has
    ``M[p] = src[a + p*step + i]``; its outputs ``(0, 0), (0, 1)`` go to
    ``dst[o0 + 2*i]`` and ``dst[o0 + 2*i + 1]`` when ``top``, ``(1, 0), (1,
    1)`` to ``dst[o1 + 2*i]`` and ``+ 1`` when ``bottom``: two vectors of
    each output row, the tiles' columns interleaved."""
    return types.void(src, a, step, dst, o0, o1, top, bottom), _at2x2(9, False)


@intrinsic
def at3x3_part(typingctx, src, a, step, dst, o0, o1, top, bottom, count):
    """:func:`at3x3` of the tiles ``i < count`` only (``count < lanes``), with
    masked loads and stores."""
    return types.void(src, a, step, dst, o0, o1, top, bottom, count), _at2x2(9, True)


@intrinsic
def at4x4(typingctx, src, a, step, dst, o0, o1, top, bottom):
    """Winograd F(2x2, 3x3)'s output transform ``AT M AT^T`` of a 4x4 ``M``,
    ``AT = [[1, 1, 1, 0], [0, 1, -1, -1]]``, of one vector of tiles, laid
    out and stored as by :func:`at3x3`."""
    return types.void(src, a, step, dst, o0, o1, top, bottom), _at2x2(16, False)


@intrinsic
def at4x4_part(typingctx, src, a, step, dst, o0, o1, top, bottom, count):
    """:func:`at4x4` of the tiles ``i < count`` only (``count < lanes``), with
    masked loads and stores."""
    return types.void(src, a, step, dst, o0, o1, top, bottom, count), _at2x2(16, True)


def _at4(T, part):
    """The code of :func:`at4` (``T = 3``) and :func:`at4_2` (``T = 2``);
    ``part``: of their ``_part``."""
    def codegen(context, builder, sig, args):
        _, A, P, _, O = args[:5]
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 3)
        b, n, per = builder, src_v.count, src_v.per
        tiles, parts = None, (None,) * T
        if part:
            # the tiles i < count; their outputs are the first T*count
            # elements of the T output vectors
            tiles = _first(b, args[5], n, per)
            parts = _spread(b, args[5], T, n, per)
        m = [src_v.load(_offset(b, A, p, P), tiles) for p in range(4)]
        s12 = b.fadd(m[1], m[2])
        if T == 3:
            y = (b.fadd(m[0], s12), b.fsub(m[1], m[2]), b.fadd(s12, m[3]))
        else:
            y = (b.fadd(m[0], s12), b.fsub(b.fsub(m[1], m[2]), m[3]))
        ity = ir.IntType(32)
        for q in range(T):
            # element e of output vector q is output j of tile i: T*i + j = q*n + e
            where = [divmod(q * n + e, T) for e in range(n)]
            first = [(j * n + i) * per + r if j < 2 else r
                     for i, j in where for r in range(per)]
            value = b.shuffle_vector(y[0], y[1], ir.Constant(ir.VectorType(ity, len(first)),
                                                             first))
            if T == 3:
                final = [(n + i) * per + r if j == 2 else e * per + r
                         for e, (i, j) in enumerate(where) for r in range(per)]
                value = b.shuffle_vector(value, y[2], ir.Constant(
                    ir.VectorType(ity, len(final)), final))
            dst_v.store(value, b.add(O, ir.Constant(O.type, q * n)), parts[q])
        return context.get_dummy_value()
    return codegen


@intrinsic
def at4(typingctx, src, a, step, dst, o):
    """Winograd F(3, 2)'s output transform ``AT m = (m0 + m1 + m2, m1 - m2,
    m1 + m2 + m3)`` of one vector of tiles, tile ``i`` having ``m[p] =
    src[a + p*step + i]``, its three outputs interleaved into
    ``dst[o + 3*i + j]``: three whole vectors (a stride-3 store of each
    output had compiled to single elements)."""
    return types.void(src, a, step, dst, o), _at4(3, False)


@intrinsic
def at4_part(typingctx, src, a, step, dst, o, count):
    """:func:`at4` of the tiles ``i < count`` only (``count < lanes``), with
    masked loads and stores."""
    return types.void(src, a, step, dst, o, count), _at4(3, True)


@intrinsic
def at4_2(typingctx, src, a, step, dst, o):
    """Winograd F(2, 3)'s output transform ``AT m = (m0 + m1 + m2, m1 - m2 -
    m3)`` of one vector of tiles, laid out as by :func:`at4`, its two outputs
    interleaved into ``dst[o + 2*i + j]``."""
    return types.void(src, a, step, dst, o), _at4(2, False)


@intrinsic
def at4_2_part(typingctx, src, a, step, dst, o, count):
    """:func:`at4_2` of the tiles ``i < count`` only (``count < lanes``), with
    masked loads and stores."""
    return types.void(src, a, step, dst, o, count), _at4(2, True)


def _halves(builder, lo, hi, count, per, odd):
    """The even (``odd`` False) or odd elements of ``lo`` followed by ``hi``,
    elements of ``per`` components."""
    mask = [(2 * i + odd) * per + r for i in range(count) for r in range(per)]
    return builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(ir.IntType(32), len(mask)),
                                                      mask))


def _gather(builder, vectors, where, per):
    """The vector whose element ``e`` is element ``where[e][1]`` of
    ``vectors[where[e][0]]``, built a source vector at a time (one
    two-source permute each, the first one a permute of its own)."""
    ity = ir.IntType(32)
    n = len(where)
    acc = None
    for k, vec in enumerate(vectors):
        lane = {e: i for e, (src, i) in enumerate(where) if src == k}
        if not lane:
            continue
        if acc is None:
            mask = [lane[e] * per + r if e in lane else 0 for e in range(n) for r in range(per)]
            acc = builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(ity, len(mask)),
                                                               mask))
            continue
        # lanes from ``vec`` are indexed after the accumulator's
        mask = [(n + lane[e]) * per + r if e in lane else e * per + r
                for e in range(n) for r in range(per)]
        acc = builder.shuffle_vector(acc, vec, ir.Constant(ir.VectorType(ity, len(mask)), mask))
    return acc


def _phase(builder, vectors, M, m, count, per):
    """Phase ``m`` of the ``M`` vectors (elements ``m, m + M, ...`` of their
    concatenation), gathered a vector at a time (:func:`_gather`)."""
    return _gather(builder, vectors, [divmod(M * i + m, count) for i in range(count)], per)


def _phases(builder, vectors, M, count, per):
    """The ``M`` phases of the ``M`` vectors (:func:`_phase` each); two as
    even/odd halves (a two-source permute each), four and eight in rounds
    of them (``M log2 M`` permutes: 8 for four, not 12; 24 for eight, not
    56): the even phases of the vectors are the phases of their even
    halves, the odd ones those of their odd halves."""
    b, v = builder, vectors
    if M in (2, 4, 8):
        # the even and the odd elements of the M vectors' concatenation are
        # M/2 vectors each, whose M/2 phases are the even and the odd phases
        even, odd = ([_halves(b, v[2 * i], v[2 * i + 1], count, per, o) for i in range(M // 2)]
                     for o in (0, 1))
        if M == 2:
            return even + odd
        pe, po = _phases(b, even, M // 2, count, per), _phases(b, odd, M // 2, count, per)
        return [pe[m // 2] if m % 2 == 0 else po[m // 2] for m in range(M)]
    return [_phase(b, v, M, m, count, per) for m in range(M)]


def _split_step(b, src_v, dst_v, M, S, D, P, loads=None, stores=None):
    """One vector of each of the ``M`` phases of the ``M`` vectors of
    ``src_v`` from element ``S``, stored from element ``D`` of ``dst_v``,
    phase ``m`` at ``D + m*P``; ``loads`` (one mask per vector) and
    ``stores`` (one mask) for the end of a row."""
    n, per = src_v.count, src_v.per
    loads = loads or [None] * M
    v = [src_v.load(_offset(b, S, m, ir.Constant(S.type, n)), loads[m]) for m in range(M)]
    for m, value in enumerate(_phases(b, v, M, n, per)):
        dst_v.store(value, _offset(b, D, m, P), stores)


def _deinterleave_code(M, part, window=False):
    """The code of ``deinterleave{M}`` (``part``: of ``deinterleave{M}_part``,
    ``window``: of ``deinterleave{M}_window``)."""
    def codegen(context, builder, sig, args):
        _, S, _, D, P = args[:5]
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 2)
        b, n, per = builder, src_v.count, src_v.per
        loads, stores = None, None
        if window:
            # the elements of src from lo to hi, of the first count of each phase
            loads = tuple(_window(b, args[5], args[6], n, per, q * n) for q in range(M))
            stores = _first(b, args[7], n, per)
        elif part:
            # the first count elements of each phase: the first M*count of src
            loads = _spread(b, args[5], M, n, per)
            stores = _first(b, args[5], n, per)
        _split_step(b, src_v, dst_v, M, S, D, P, loads, stores)
        return context.get_dummy_value()
    return codegen


def _deinterleave(M):
    @intrinsic
    def deinterleave(typingctx, src, s, dst, d, step):
        return types.void(src, s, dst, d, step), _deinterleave_code(M, False)
    deinterleave.__doc__ = (
        f"``dst[d + m*step + i] = src[s + {M}*i + m]`` for ``m < {M}`` and the "
        f"``lanes`` elements ``i``: one vector of each of the {M} phases of "
        f"{M} vectors of ``src``.")
    return deinterleave


def _deinterleave_part(M):
    @intrinsic
    def deinterleave_part(typingctx, src, s, dst, d, step, count):
        return types.void(src, s, dst, d, step, count), _deinterleave_code(M, True)
    deinterleave_part.__doc__ = (
        f"``deinterleave{M}`` of the elements ``i < count`` only (``count < "
        f"lanes``: the end of a row), with masked loads and stores: no sample "
        f"past ``src[s + {M}*count - 1]`` is read.")
    return deinterleave_part


def _deinterleave_window(M):
    @intrinsic
    def deinterleave_window(typingctx, src, s, dst, d, step, lo, hi, count):
        return (types.void(src, s, dst, d, step, lo, hi, count),
                _deinterleave_code(M, True, window=True))
    deinterleave_window.__doc__ = (
        f"``dst[d + m*step + i] = src[s + {M}*i + m]`` where ``lo <= {M}*i + m < "
        f"hi``, else 0, for ``m < {M}`` and the elements ``i < count`` (``count "
        f"<= lanes``), with masked loads and stores: no sample of ``src`` outside "
        f"``[s + lo, s + hi)`` is read (a row's columns at an image's edges).")
    return deinterleave_window


deinterleave2, deinterleave3 = _deinterleave(2), _deinterleave(3)
deinterleave4, deinterleave6 = _deinterleave(4), _deinterleave(6)
deinterleave2_part, deinterleave3_part = _deinterleave_part(2), _deinterleave_part(3)
deinterleave4_part, deinterleave6_part = _deinterleave_part(4), _deinterleave_part(6)
deinterleave2_window, deinterleave3_window = _deinterleave_window(2), _deinterleave_window(3)
deinterleave4_window, deinterleave6_window = _deinterleave_window(4), _deinterleave_window(6)


# The most phases :func:`split_run` splits (8: two- and four-phase splits
# were its first; 5-8 doubled the speed of decimators by those, whose
# samples had gone to their phases one at a time).
SPLIT_MAX = 8


@intrinsic
def split_run(typingctx, src, M, P, j0, count):
    """``P[m, j0 + t] = src[M*t + m]`` for ``m < M`` and ``t < count``: a
    row split into its ``M`` phases, a vector of each phase at a time
    (:func:`_phases`), for ``M`` from 1 to ``SPLIT_MAX``.  True when done; False, and
    nothing done, for another ``M``, fewer than ``lanes`` samples a phase,
    or a row of ``src`` or ``P`` whose elements are not adjacent: the caller
    then runs its own loop.  A ``count`` that is not a multiple of
    ``lanes`` ends with a vector that overlaps the one before it (``P`` and
    ``src`` must not overlap).

    The loops are emitted here, one per ``M``, rather than left to LLVM's
    loop vectoriser, which made the same shuffles from four loops of
    literal stride (:func:`.kernels.split_phases`) but took 0.3-0.4 s of a
    1-D kernel's cold compile to do it.
    """
    if not (isinstance(src, types.Array) and src.ndim == 1 and isinstance(P, types.Array)
            and P.ndim == 2 and src.dtype == P.dtype):
        return None

    def codegen(context, builder, sig, args):
        b = builder
        src_v, dst_v = _arrays(context, b, sig, args, 0, 2)
        n = src_v.count
        Mv, J0, COUNT = (context.cast(b, args[k], sig.args[k], types.int64) for k in (1, 3, 4))
        i64 = Mv.type
        size = ir.Constant(i64, context.get_abi_sizeof(context.get_data_type(src.dtype)))
        s_stride, = cgutils.unpack_tuple(
            b, context.make_array(sig.args[0])(context, b, args[0]).strides, 1)
        p_rows, p_stride = cgutils.unpack_tuple(
            b, context.make_array(sig.args[2])(context, b, args[2]).strides, 2)
        step = b.sdiv(p_rows, size)                 # P's rows apart, in elements
        ok = b.and_(b.icmp_signed(">=", COUNT, ir.Constant(i64, n)),
                    b.and_(b.icmp_signed("==", s_stride, size),
                           b.icmp_signed("==", p_stride, size)))
        ok = b.and_(ok, b.and_(b.icmp_signed(">=", Mv, ir.Constant(i64, 1)),
                               b.icmp_signed("<=", Mv, ir.Constant(i64, SPLIT_MAX))))
        with b.if_then(ok):
            last = b.sub(COUNT, ir.Constant(i64, n))        # the overlapping last vector
            vectors = b.sdiv(b.add(COUNT, ir.Constant(i64, n - 1)), ir.Constant(i64, n))
            for M_ in range(1, SPLIT_MAX + 1):
                with b.if_then(b.icmp_signed("==", Mv, ir.Constant(i64, M_))):
                    with cgutils.for_range(b, vectors) as loop:
                        t = b.mul(loop.index, ir.Constant(i64, n))
                        t = b.select(b.icmp_signed("<", t, last), t, last)
                        _split_step(b, src_v, dst_v, M_, b.mul(t, ir.Constant(i64, M_)),
                                    b.add(J0, t), step)
        return ok

    return types.boolean(src, M, P, j0, count), codegen


def _interleave_code(M):
    """The code of ``interleave{M}``.

    An even number of rows is the interleave of the even rows' interleave
    and the odd rows' (one two-source permute per output vector, ``M
    log2(M)`` in all for L = 4 and 8); an odd number gathers each output
    vector from the rows (:func:`_gather`).  (Gathering for every ``M`` was
    10-20 % slower than LLVM's own vectorised loops for L = 4, 5 and 8.)"""
    def codegen(context, builder, sig, args):
        _, S, P, _, D, count = args
        src_v, dst_v = _arrays(context, builder, sig, args, 0, 3)
        b, n, per = builder, src_v.count, src_v.per
        # the first count elements of each row: the first M*count of dst
        # (masked moves: all lanes on costs what a plain one does)
        loads, stores = _first(b, count, n, per), _spread(b, count, M, n, per)
        rows = [src_v.load(_offset(b, S, m, P), loads) for m in range(M)]
        for q, value in enumerate(_interleaved(b, rows, n, per)):
            dst_v.store(value, b.add(D, ir.Constant(D.type, q * n)), stores[q])
        return context.get_dummy_value()
    return codegen


def _interleaved(b, rows, n, per):
    """The vectors of ``rows`` interleaved (element ``e`` of vector ``q`` is
    element ``(q*n + e) // M`` of row ``(q*n + e) % M``), in order."""
    M = len(rows)
    if M == 1:
        return rows
    if M % 2 == 1:
        return [_gather(b, rows, [((q * n + e) % M, (q * n + e) // M) for e in range(n)], per)
                for q in range(M)]
    out = []
    ity = ir.IntType(32)
    for x, y in zip(_interleaved(b, rows[0::2], n, per), _interleaved(b, rows[1::2], n, per)):
        for half in (0, 1):
            mask = [(t + half * n // 2 + side * n) * per + r
                    for t in range(n // 2) for side in (0, 1) for r in range(per)]
            out.append(b.shuffle_vector(x, y, ir.Constant(ir.VectorType(ity, len(mask)), mask)))
    return out


def _interleave(M):
    @intrinsic
    def interleave(typingctx, src, s, step, dst, d, count):
        return types.void(src, s, step, dst, d, count), _interleave_code(M)
    interleave.__doc__ = (
        f"``dst[d + {M}*i + m] = src[s + m*step + i]`` for ``m < {M}`` and the "
        f"elements ``i < count`` (``count <= lanes``): a vector of each of {M} "
        f"rows into {M} vectors of ``dst``, interleaved, with masked loads and "
        f"stores.")
    return interleave


interleave2 = _interleave(2)
interleave3, interleave4, interleave5 = _interleave(3), _interleave(4), _interleave(5)
interleave6, interleave7, interleave8 = _interleave(6), _interleave(7), _interleave(8)


@intrinsic
def real(typingctx, a):
    """Whether array ``a`` holds real numbers, a compile-time constant
    (``np.iscomplexobj`` would do, but its implementation lives in a numba
    module that a kernel calling it imports whenever it is loaded from the
    cache, and with it numba's compiler: see :mod:`.jit`)."""
    def codegen(context, builder, sig, args):
        return context.get_constant(types.boolean, not isinstance(a.dtype, types.Complex))
    return types.boolean(a), codegen


def _phase_sum(b, fma, c, v):
    """``sum_t c[t] * v[t]`` over the vectors ``v`` (``c`` splat vectors),
    summed in pairs: ``(c0 v0 + c1 v1) + (c2 v2 + c3 v3) + ...``."""
    terms = [b.call(fma, [c[t + 1], v[t + 1], b.fmul(c[t], v[t])])
             for t in range(0, len(v) - 1, 2)]
    if len(v) % 2:
        terms.append(b.fmul(c[-1], v[-1]))
    total = terms[0]
    for term in terms[1:]:
        total = b.fadd(total, term)
    return total


def _two_phases(b, fma, c, v):
    """Two phases' sums of four taps over the vectors ``v``: coefficients
    (splat vectors) ``c[0:4]`` and ``c[4:8]``, each summed as ``(c0 v0 +
    c1 v1) + (c2 v2 + c3 v3)``, the scalar loops' order (:func:`_phase_sum`)."""
    return [_phase_sum(b, fma, c[o:o + 4], v) for o in (0, 4)]


@intrinsic
def pair_taps4_run(typingctx, s0, s1, s2, s3, coefs, dst, n, stream):
    """``dst[2k] = sum_t coefs[t] * s_t[k]`` and ``dst[2k + 1] = sum_t
    coefs[4 + t] * s_t[k]`` (``t < 4``) for ``k < n``: four taps' samples,
    two phases' multiply-adds, interleaved, a vector of ``k`` at a time (the
    1-D kernel's single pass for L = 2, :func:`.kernels._taps2`).

    Loads and stores are masked moves.  With ``stream``, the whole vectors
    from the first ``k`` whose ``dst[2k]`` starts a 64-byte line are written
    with non-temporal stores (none when no such ``k`` exists: ``dst`` an odd
    number of samples into a line); the ``head`` before it is a vector of
    its own.  The loop, with one copy of its body, and the head are emitted
    here rather than written in numba: the 1-D kernel's L=2 kind compiled
    0.15 s faster (3.15 -> 3.0 s on the Xeon).  Real data only: for complex
    arrays (which the kernel never passes) it does nothing.
    """
    def codegen(context, builder, sig, args):
        if isinstance(sig.args[0].dtype, types.Complex):
            return context.get_dummy_value()
        C, N, stream = args[4], args[6], args[7]
        src = _arrays(context, builder, sig, args, 0, 1, 2, 3)
        out, = _arrays(context, builder, sig, args, 5)
        b, n = builder, out.count
        fma = _fma_function(b, out.vty)
        c = [_splat(b, b.extract_value(C, t), n) for t in range(8)]
        i64 = N.type
        zero, one, G = (ir.Constant(i64, v) for v in (0, 1, n))
        # the head: samples before the first pair of phases that starts a
        # line (a line is 64 bytes, a pair 2 * itemsize of them)
        pair = ir.Constant(i64, 2 * context.get_abi_sizeof(out.vty.element))
        at = b.and_(b.ptrtoint(out.base, i64), ir.Constant(i64, 63))
        on = b.and_(cgutils.is_true(b, stream),
                    b.icmp_signed("==", b.srem(at, pair), zero))
        head = b.select(on, b.sdiv(b.and_(b.sub(ir.Constant(i64, 64), at),
                                          ir.Constant(i64, 63)), pair), zero)
        h = b.select(b.icmp_signed("<", head, N), head, N)
        first = b.zext(b.icmp_signed(">", h, zero), i64)      # a head vector or not
        steps = b.add(first, b.sdiv(b.add(b.sub(N, h), b.sub(G, one)), G))
        with cgutils.for_range(b, steps) as loop:
            k = loop.index
            in_head = b.icmp_signed("<", k, first)
            i = b.select(in_head, zero, b.add(h, b.mul(b.sub(k, first), G)))
            left = b.sub(N, i)
            count = b.select(in_head, h, b.select(b.icmp_signed("<", left, G), left, G))
            v = [s.load(i, _first(b, count, n, 1)) for s in src]
            values = _interleaved(b, _two_phases(b, fma, c, v), n, 1)
            d = b.mul(i, ir.Constant(i64, 2))
            where = [d, b.add(d, G)]
            whole = b.and_(b.not_(in_head), b.icmp_signed("==", count, G))
            with b.if_else(b.and_(whole, on)) as (streamed, plain):
                with streamed:
                    for value, at_ in zip(values, where):
                        out.stream(value, at_)
                with plain:
                    for value, at_, mask in zip(values, where, _spread(b, count, 2, n, 1)):
                        out.store(value, at_, mask)
        return context.get_dummy_value()
    return types.void(s0, s1, s2, s3, coefs, dst, n, stream), codegen


def _box_types(x, zero, rows, c, dst, rows_box, box, phases):
    """Whether :func:`box_taps_checked`'s (or :func:`box_taps_edge`'s)
    arguments are ones its code is for: the box and phases integer
    literals (numba types them so when the plain integers are refused)."""
    return all(isinstance(v, types.IntegerLiteral) for v in (rows_box, box, phases)) \
        and isinstance(x, types.Array) and x.layout == "C" and isinstance(c, types.Array) \
        and c.ndim == 4 and c.layout == "C" and isinstance(rows, types.UniTuple) \
        and isinstance(rows.dtype, types.Integer) and len(rows) >= rows_box.literal_value \
        and x.dtype == zero.dtype == c.dtype == dst.dtype


def _box_code(R, B, P, edge):
    """The code of :func:`box_taps_checked` (``edge`` False) and of
    :func:`box_taps_edge` (True): their arguments up to ``d`` are the same
    (``x, zero, rows, e, c, p1, dst, d``)."""

    def codegen(context, builder, sig, args):
        if isinstance(sig.args[6].dtype, types.Complex):
            return context.get_dummy_value()
        b = builder
        ROWS, E, P1, D = args[2], args[3], args[5], args[7]
        xv, zv, out = _arrays(context, b, sig, args, 0, 1, 6)
        check_v = _arrays(context, b, sig, args, 11 if edge else 9)[0]
        n_ = out.count
        i64 = D.type
        zero, G = ir.Constant(i64, 0), ir.Constant(i64, n_)
        # row r: from element rows[r] + e of x, or e of the zero row
        # when rows[r] is negative
        src = []
        for r in range(R):
            at = b.extract_value(ROWS, r)
            image = b.gep(xv.base, [b.add(at, E)])
            src.append(xv.rebased(b.select(b.icmp_signed("<", at, zero), b.gep(zv.base, [E]),
                                           image)))
        fma = _fma_function(b, out.vty)
        # c[p1, r, p, t], flat at ((p1*R + r)*P + p)*B + t, splat once before the loop
        cp = b.gep(_pointer(context, b, sig.args[4], args[4], out.vty.element),
                   [b.mul(P1, ir.Constant(i64, R * P * B))])
        coef = [[_splat(b, b.load(b.gep(cp, [ir.Constant(i64, (r * P + p) * B + t)])), n_)
                 for r in range(R) for t in range(B)] for p in range(P)]
        # the check's sum, a register across the loop (LLVM promotes the slot)
        total = cgutils.alloca_once_value(b, ir.Constant(out.vty, None))

        def step(i, loads, stores):
            v = [src[r].load(b.add(i, ir.Constant(i64, B - 1 - t)), loads[t])
                 for r in range(R) for t in range(B)]
            by_phase = [_phase_sum(b, fma, coef[p], v) for p in range(P)]
            sums = b.load(total)
            for value in by_phase:    # (lanes a masked load left out are 0: they add 0)
                sums = b.fadd(sums, b.fsub(value, value))
            b.store(sums, total)
            at = b.add(D, b.mul(i, ir.Constant(i64, P)))
            for q, (value, m) in enumerate(zip(_interleaved(b, by_phase, n_, 1), stores)):
                out.store(value, b.add(at, ir.Constant(i64, q * n_)), m)

        if edge:
            # one step, its loads of the columns inside [0, n2) only and its
            # stores inside [lo, hi)
            N2, LO, HI = args[8], args[9], args[10]
            loads = [_inside(b, b.add(E, ir.Constant(i64, B - 1 - t)), zero, N2, n_)
                     for t in range(B)]
            stores = [_inside(b, b.add(D, ir.Constant(i64, q * n_)), LO, HI, n_)
                      for q in range(P)]
            step(zero, loads, stores)
        else:
            N = args[8]
            whole = b.sdiv(N, G)
            with cgutils.for_range(b, whole) as loop:
                step(b.mul(loop.index, G), [None] * B, [None] * P)
            rest = b.sub(N, b.mul(whole, G))
            with b.if_then(b.icmp_signed(">", rest, zero)):
                mask = _first(b, rest, n_, 1)
                step(b.mul(whole, G), [mask] * B, _spread(b, rest, P, n_, 1))
        check_v.store(b.fadd(check_v.load(zero), b.load(total)), zero)
        return context.get_dummy_value()
    return codegen


def _inside(builder, first, lo, hi, n):
    """The mask of a vector's elements ``e`` (``n``) with ``lo <= first + e <
    hi``."""
    ity = first.type
    index = builder.add(_splat(builder, first, n),
                        ir.Constant(ir.VectorType(ity, n), list(range(n))))
    return builder.and_(builder.icmp_signed(">=", index, _splat(builder, lo, n)),
                        builder.icmp_signed("<", index, _splat(builder, hi, n)))


@intrinsic
def box_taps_checked(typingctx, x, zero, rows, e, c, p1, dst, d, n, check, rows_box, box,
                     phases):
    """``dst[d + P k + p] = sum_{r,t} c[p1, r, p, t] * x_r[e + B - 1 - t + k]``
    for the phases ``p < P`` and ``k < n`` (``R = rows_box``, ``B = box``,
    ``P = phases``, constants of the caller's code): the ``P`` phases' sums
    of taps in an ``R x B`` box (``c`` C-contiguous, shape ``(L1, R, P, B)``),
    interleaved, a vector of ``k`` at a time, with plain stores; and
    ``check[:lanes] +=`` the sum of ``v - v`` over the outputs ``v`` it
    writes: zero unless one is not finite (the transposed kernel's,
    :func:`.kernels2d.transposed_rows`, whose taps include zeros that would
    turn an ``inf`` read into ``NaN``).

    Row ``x_r`` starts at flat element ``rows[r]`` of ``x`` (C-contiguous),
    or is ``zero`` where ``rows[r]`` is negative: offsets rather than views
    of the rows, whose reference counts (an atomic add and a call each)
    cost the kernel 15-20 % of a 512x512 float32 image's time on the Xeon.

    The whole vectors run in a loop of plain loads and stores, the rest in
    one masked step after it: a masked step each time (the loop of
    :func:`pair_taps4_run`, which also places a head for streaming) spends
    ~10 more instructions a vector on its masks and offsets, and a row
    that stays in cache (the kernel's row for a streamed output) is bound
    by them: a 2048x2048 float32 image, stride 2, one thread, on the Xeon,
    6.7-7.4 ms with LLVM's vectorised loop, 8.0-8.6 with that loop.
    Real data only: for complex arrays (which the kernel never passes) it
    does nothing.
    """
    if not _box_types(x, zero, rows, c, dst, rows_box, box, phases):
        return None
    return types.void(x, zero, rows, e, c, p1, dst, d, n, check, rows_box, box, phases), \
        _box_code(rows_box.literal_value, box.literal_value, phases.literal_value, False)


@intrinsic
def box_taps_edge(typingctx, x, zero, rows, e, c, p1, dst, d, n2, lo, hi, check, rows_box,
                  box, phases):
    """One vector step of :func:`box_taps_checked` (``k < lanes``) at a row's
    ends: it reads only the samples of the rows' columns ``[0, n2)`` (0
    elsewhere: ``x_r[e + B - 1 - t + k]`` for the columns of the row
    inside), and writes only ``dst[lo:hi]`` (of ``dst[d:d + P lanes]``).
    ``e`` and ``d`` may lie before the rows and ``dst``: masked loads and
    stores touch no element outside the lanes that are on.

    The transposed kernel's columns at a row's ends, whose boxes reach past
    the image, had been computed one at a time, each tap tested: 45 ns a
    row of a 3x3 box (k = 5 or 6, stride 2), a quarter of a 256x256
    float32 image's time on the Xeon.
    """
    if not _box_types(x, zero, rows, c, dst, rows_box, box, phases):
        return None
    return types.void(x, zero, rows, e, c, p1, dst, d, n2, lo, hi, check, rows_box, box,
                      phases), \
        _box_code(rows_box.literal_value, box.literal_value, phases.literal_value, True)


@intrinsic
def rows_pair4(typingctx, x, o0, o1, o2, o3, coefs, out, d0, d1, count, stream):
    """``out[d0 + k] = sum_t coefs[t] * x[o_t + k]`` and ``out[d1 + k] =
    sum_t coefs[4 + t] * x[o_t + k]`` (``t < 4``) for the elements ``k <
    count`` (``count <= lanes``): four input rows' samples, two phases'
    multiply-adds, two output rows (the axis-0 kernel's pairs of phases
    with four taps, :func:`.kernels_axis0._pair_rows`).  Masked loads and
    stores; with ``stream`` (and ``count == lanes``; ``out[d0]`` and
    ``out[d1]`` must start 64-byte lines) the stores are non-temporal.
    Real data only: for complex arrays (which the kernel never passes) it
    does nothing.
    """
    def codegen(context, builder, sig, args):
        if isinstance(sig.args[0].dtype, types.Complex):
            return context.get_dummy_value()
        C, D0, D1, count, stream = args[5], args[7], args[8], args[9], args[10]
        xv, ov = _arrays(context, builder, sig, args, 0, 6)
        b, n = builder, xv.count
        fma = _fma_function(b, xv.vty)
        mask = _first(b, count, n, 1)
        v = [xv.load(o, mask) for o in args[1:5]]
        c = [_splat(b, b.extract_value(C, t), n) for t in range(8)]
        rows = _two_phases(b, fma, c, v)
        with b.if_else(cgutils.is_true(b, stream)) as (streamed, plain):
            with streamed:
                for value, at in zip(rows, (D0, D1)):
                    ov.stream(value, at)
            with plain:
                for value, at in zip(rows, (D0, D1)):
                    ov.store(value, at, mask)
        return context.get_dummy_value()
    return types.void(x, o0, o1, o2, o3, coefs, out, d0, d1, count, stream), codegen


def _fma_function(builder, vty):
    """LLVM's fused multiply-add on vectors of type ``vty``."""
    name = f"llvm.fma.v{vty.count}{'f32' if vty.element == ir.FloatType() else 'f64'}"
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), name)


def _splat(builder, value, count):
    vty = ir.VectorType(value.type, count)
    one = builder.insert_element(ir.Constant(vty, None), value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), count),
                                                        [0] * count))


def _lane_halves(builder, lo, hi, count, odd):
    """The even (``odd`` False) or odd elements of ``lo`` followed by ``hi``,
    in the order one in-lane shuffle (``vshufps`` / ``vshufpd``) leaves them:
    each 128-bit lane holds half a lane's worth from ``lo``, then from ``hi``.
    :func:`_lane_order` undoes it; sums of such vectors keep that order."""
    q = count // 4 if count >= 8 else count      # elements per 128-bit lane
    half = q // 2
    mask = [base + k * q + 2 * m + odd for k in range(count // q)
            for base in (0, count) for m in range(half)]
    return builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(ir.IntType(32), count),
                                                      mask))


def _lane_order(builder, value, count):
    """``value`` (in :func:`_lane_halves`'s order) in element order."""
    q = count // 4 if count >= 8 else count
    half = q // 2
    # element of position p: lane k = p // q, then half from lo, half from hi
    where = {}
    for p in range(count):
        k, r = divmod(p, q)
        where[k * half + r if r < half else count // 2 + k * half + r - half] = p
    mask = [where[i] for i in range(count)]
    return builder.shuffle_vector(value, value, ir.Constant(ir.VectorType(ir.IntType(32),
                                                                          count), mask))


def _strided_box(k, nrows):
    @intrinsic
    def box(typingctx, src, rows, w, dst, o, ostep, check):
        def codegen(context, builder, sig, args):
            _, row_t, w_t, _, O, OSTEP, _ = args
            src_v, dst_v, chk_v = _arrays(context, builder, sig, args, 0, 3, 6)
            n, b = src_v.count, builder
            fma = _fma_function(b, src_v.vty)
            acc = [None] * nrows
            for t in range(k + 2 * (nrows - 1)):
                r = b.extract_value(row_t, t)
                # x[r + 2i + c] for c = 0, 1 (one pair of vectors) and c = 2, 3
                # (the pair two samples on), split once for every output row
                taps = []
                for shift in range(0, k, 2):
                    start = b.add(r, ir.Constant(r.type, shift))
                    lo = src_v.load(start)
                    hi = src_v.load(b.add(start, ir.Constant(r.type, n)))
                    taps += [_lane_halves(b, lo, hi, n, odd) for odd in (0, 1)[:k - shift]]
                for j in range(nrows):
                    a = t - 2 * j                  # output row j reads input rows 2j..
                    if not 0 <= a < k:
                        continue
                    for col, tap in enumerate(taps):
                        wv = _splat(b, b.extract_value(w_t, a * k + col), n)
                        acc[j] = b.fmul(wv, tap) if acc[j] is None else \
                            b.call(fma, [wv, tap, acc[j]])
            zero = ir.Constant(O.type, 0)
            total = chk_v.load(zero)
            for j in range(nrows):
                dst_v.store(_lane_order(b, acc[j], n), _offset(b, O, j, OSTEP))
                total = b.fadd(total, b.fsub(acc[j], acc[j]))
            chk_v.store(total, zero)
            return context.get_dummy_value()
        return types.void(src, rows, w, dst, o, ostep, check), codegen
    box.__doc__ = (
        f"One vector of {nrows} output row(s) of a stride-2 correlation with a "
        f"{k}x{k} box of taps: ``dst[o + j*ostep + i] = sum_ab w[{k}*a + b] * "
        f"src[rows[2*j + a] + 2*i + b]`` for the ``lanes`` outputs ``i`` "
        f"(``rows`` and ``w`` tuples; real data).  Each pair of vectors loaded "
        f"is split into its even and odd samples once, for every output row "
        f"that reads it.  Adds ``value - value`` of the outputs to "
        f"``check[:lanes]`` (0 unless one is not finite).")
    return box


strided_box3, strided_box4 = _strided_box(3, 1), _strided_box(4, 1)
strided_box3x2, strided_box4x2 = _strided_box(3, 2), _strided_box(4, 2)


def _strided_box_run(k, nrows):
    @intrinsic
    def run(typingctx, src, rows, w, dst, o, ostep, nblocks, check):
        def codegen(context, builder, sig, args):
            _, row_t, w_t, _, O, OSTEP, NB, _ = args
            src_v, dst_v, chk_v = _arrays(context, builder, sig, args, 0, 3, 7)
            n, b = src_v.count, builder
            fma = _fma_function(b, src_v.vty)
            starts = [b.extract_value(row_t, t) for t in range(k + 2 * (nrows - 1))]
            w = [[_splat(b, b.extract_value(w_t, a * k + c), n) for c in range(k)]
                 for a in range(k)]

            def madd(wv, v, acc):
                return b.fmul(wv, v) if acc is None else b.call(fma, [wv, v, acc])

            def sums(off):
                # per output row, the taps on the even and odd samples in
                # place (V) and those one output on (U), for the block of
                # outputs whose input starts ``off`` samples into the rows
                V, U = [None] * nrows, [None] * nrows
                for t, start in enumerate(starts):
                    lo = src_v.load(b.add(start, off))
                    hi = src_v.load(b.add(b.add(start, off), ir.Constant(off.type, n)))
                    even, odd = (_halves(b, lo, hi, n, 1, h) for h in (0, 1))
                    for j in range(nrows):
                        a = t - 2 * j                  # output row j reads rows 2j..
                        if 0 <= a < k:
                            V[j] = madd(w[a][1], odd, madd(w[a][0], even, V[j]))
                            U[j] = madd(w[a][2], even, U[j])
                            if k == 4:
                                U[j] = madd(w[a][3], odd, U[j])
                return V, U

            V0, U0 = sums(ir.Constant(NB.type, 0))
            held = [[cgutils.alloca_once_value(b, v) for v in pair] for pair in zip(V0, U0)]
            total = cgutils.alloca_once_value(b, chk_v.load(ir.Constant(O.type, 0)))
            shift = ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(1, n + 1)))
            with cgutils.for_range(b, NB) as loop:
                i = loop.index
                Vn, Un = sums(b.mul(b.add(i, ir.Constant(i.type, 1)),
                                    ir.Constant(i.type, 2 * n)))
                for j in range(nrows):
                    V, U = (b.load(h) for h in held[j])
                    value = b.fadd(V, b.shuffle_vector(U, Un[j], shift))
                    dst_v.store(value, b.add(_offset(b, O, j, OSTEP),
                                             b.mul(i, ir.Constant(i.type, n))))
                    b.store(b.fadd(b.load(total), b.fsub(value, value)), total)
                    b.store(Vn[j], held[j][0])
                    b.store(Un[j], held[j][1])
            chk_v.store(b.load(total), ir.Constant(O.type, 0))
            return context.get_dummy_value()
        return types.void(src, rows, w, dst, o, ostep, nblocks, check), codegen
    run.__doc__ = (
        f"{nrows} output row(s) of :func:`strided_box{k}` for ``nblocks`` vectors "
        f"of outputs in a row, ``dst[o + j*ostep + v*lanes + i]``.  It reads the "
        f"samples of one vector more (``2*lanes*(nblocks + 1)`` from each row "
        f"start), which must lie inside ``src``.  Each input vector is loaded and "
        f"split into its even and odd samples once (in order, two-source permutes), "
        f"and the taps on the samples two on (``b >= 2``) are summed in place and "
        f"shifted by one output afterwards, with the next vector's sums: no loads "
        f"two samples on and no split of them.")
    return run


strided_box_run3, strided_box_run4 = _strided_box_run(3, 1), _strided_box_run(4, 1)
strided_box_run3x2, strided_box_run4x2 = _strided_box_run(3, 2), _strided_box_run(4, 2)


@intrinsic
def strided_phases_run(typingctx, src, r0, rstep, nrows, w, box, stride, dst, o, count,
                       avail, check):
    """``dst.flat[o + t] = sum_{a, b} w[a, b] * src.flat[r0 + a*rstep + S t + b]``
    for the outputs ``t < count`` (at least ``lanes``), over ``a < nrows``
    and ``b < box`` (``w`` C-contiguous, ``box`` columns; ``box`` and the
    column stride ``S = stride``, 2-4, constants of the caller's code): one
    output row of a strided convolution, the box's rows starting ``rstep``
    elements apart; and ``check[:lanes] +=`` the sum of ``v - v`` over the
    outputs ``v`` (0 unless one is not finite).  True when done; False,
    and nothing done, when ``src`` or ``dst`` is not C-contiguous (a
    constant of the caller's code) or ``count`` is less than ``lanes``:
    the caller then runs its own loops.

    Each row's ``S`` vectors are loaded and split into their ``S`` phases
    once, for all the taps of the row: tap ``b`` reads phase ``b % S``,
    ``b // S`` outputs on.  The taps are summed per shift ``b // S`` in
    place, and the sums of each shift moved by as many outputs with the
    next vector's sums (one two-source shuffle each), where a loop per box
    row with interleaved loads (what LLVM makes of
    :func:`.kernels2d.strided_rows`'s loops) loads and splits each sample
    once per tap: a 256x256 float32 image, one thread, on the Xeon, k = 5
    at stride 2 0.060 against 0.031 ms a call, k = 8 0.091 against 0.046.
    The sums of the vector after the last are made too, from samples of
    each row up to ``avail`` elements from ``r0`` (the loads are masked
    there: nothing past them is read).  A count that is not a multiple of
    ``lanes`` ends with a vector that overlaps the one before it.  Real data
    only: for complex arrays it does nothing.
    """
    if not (isinstance(box, types.IntegerLiteral) and isinstance(stride, types.IntegerLiteral)
            and isinstance(src, types.Array) and isinstance(w, types.Array)
            and w.layout == "C" and isinstance(dst, types.Array)
            and src.dtype == w.dtype == dst.dtype and 2 <= stride.literal_value <= 4):
        return None
    B, S = box.literal_value, stride.literal_value
    H = -(-B // S)                          # shifts
    done = src.layout == "C" and dst.layout == "C" and not isinstance(src.dtype, types.Complex)

    def codegen(context, builder, sig, args):
        if not done:
            return ir.Constant(ir.IntType(1), 0)
        b = builder
        src_v, dst_v, chk_v = _arrays(context, b, sig, args, 0, 7, 11)
        n, vty = src_v.count, src_v.vty
        R0, RSTEP, NROWS, O, COUNT, AVAIL = (
            context.cast(b, args[k], sig.args[k], types.int64) for k in (1, 2, 3, 8, 9, 10))
        i64 = R0.type
        wp = _pointer(context, b, sig.args[4], args[4], vty.element)
        fma = _fma_function(b, vty)
        acc = [cgutils.alloca_once(b, vty) for _ in range(H)]
        held = [cgutils.alloca_once(b, vty) for _ in range(H)]
        total = cgutils.alloca_once_value(b, ir.Constant(vty, None))
        zero = ir.Constant(i64, 0)

        def sums(start, left, masked):
            # the shifts' sums for a vector of outputs whose samples start
            # ``start`` elements into the first row, ``left`` of them there
            for a_ in acc:
                b.store(ir.Constant(vty, None), a_)
            masks = [_first(b, left, n, 1, m * n) if masked else None for m in range(S)]
            with cgutils.for_range(b, NROWS) as row:
                a = row.index
                at = b.add(start, b.mul(a, RSTEP))
                v = [src_v.load(b.add(at, ir.Constant(i64, m * n)), masks[m])
                     for m in range(S)]
                phases = _phases(b, v, S, n, 1)
                wa = b.mul(a, ir.Constant(i64, B))
                for s in range(H):
                    value = b.load(acc[s])
                    for m in range(min(S, B - S * s)):
                        tap = b.load(b.gep(wp, [b.add(wa, ir.Constant(i64, S * s + m))]))
                        value = b.call(fma, [_splat(b, tap, n), phases[m], value])
                    b.store(value, acc[s])
            return [b.load(a_) for a_ in acc]

        def step(start, o, avail, i, masked):
            # output vector i; the sums of vector i + 1 (made here) are held
            # for the next step
            ahead = b.mul(b.add(i, ir.Constant(i64, 1)), ir.Constant(i64, S * n))
            following = sums(b.add(start, ahead), b.sub(avail, ahead), masked)
            value = b.load(held[0])
            for s in range(1, H):
                shifted = b.shuffle_vector(b.load(held[s]), following[s], ir.Constant(
                    ir.VectorType(_I32, n), list(range(s, s + n))))
                value = b.fadd(value, shifted)
            dst_v.store(value, b.add(o, b.mul(i, ir.Constant(i64, n))))
            b.store(b.fadd(b.load(total), b.fsub(value, value)), total)
            for s in range(H):
                b.store(following[s], held[s])

        def run(start, o, nblocks, avail):
            # vectors [0, nblocks) of outputs from ``o``, the last one's
            # following sums from masked loads
            for s, v in enumerate(sums(start, avail, False)):
                b.store(v, held[s])
            last = b.sub(nblocks, ir.Constant(i64, 1))
            with cgutils.for_range(b, last) as loop:
                step(start, o, avail, loop.index, False)
            step(start, o, avail, last, True)

        # (fewer outputs than a vector: nothing done, False, and the caller's
        # loops run them)
        enough = b.icmp_signed(">=", COUNT, ir.Constant(i64, n))
        with b.if_then(enough):
            whole = b.sdiv(COUNT, ir.Constant(i64, n))
            run(R0, O, whole, AVAIL)
            with b.if_then(b.icmp_signed(">", b.srem(COUNT, ir.Constant(i64, n)), zero)):
                j = b.sub(COUNT, ir.Constant(i64, n))
                js = b.mul(j, ir.Constant(i64, S))
                run(b.add(R0, js), b.add(O, j), ir.Constant(i64, 1), b.sub(AVAIL, js))
            chk_v.store(b.fadd(chk_v.load(zero), b.load(total)), zero)
        return enough

    return types.boolean(src, r0, rstep, nrows, w, box, stride, dst, o, count, avail,
                         check), codegen


def _accumulators(builder, R, V, vty):
    """``R x V`` vector accumulators, zero, on the stack: LLVM promotes them to
    registers."""
    zero = ir.Constant(vty, None)
    return [[cgutils.alloca_once_value(builder, zero) for _ in range(V)] for _ in range(R)]


def _products(context, builder, sig, args, vec, coef, R, V):
    """What a register-blocked product needs: :class:`_Vectors` over argument
    ``vec`` (the loaded vectors), LLVM's fma for them, a pointer to the
    elements of argument ``coef`` (the broadcast coefficients) and ``R x V``
    zero accumulators."""
    vv = _Vectors(context, builder, sig.args[vec], args[vec])
    fma = _fma_function(builder, vv.vty)
    cptr = _pointer(context, builder, sig.args[coef], args[coef], vv.vty.element)
    return vv, fma, cptr, _accumulators(builder, R, V, vv.vty)


def _store_rows(b, put, values, OO, OS, n, masks=None, vstep=None):
    """``put(values[r][v], OO + r*OS + v*n)`` for every row ``r`` and vector
    ``v`` (``put``: a :class:`_Vectors` store), only the lanes of
    ``masks[v]`` when given; ``vstep`` (a value) in place of ``n``."""
    for r, row in enumerate(values):
        base = _offset(b, OO, r, OS)
        for v, value in enumerate(row):
            at = b.add(base, ir.Constant(base.type, v * n)) if vstep is None else \
                _offset(b, base, v, vstep)
            if masks is None:
                put(value, at)
            else:
                put(value, at, masks[v])


def _add_checks(b, cv, values, at):
    """``check[:G] += value - value`` over ``values`` (0 unless one is not
    finite); ``at`` is a zero offset of the arguments' integer type."""
    total = cv.load(at)
    for value in values:
        total = b.fadd(total, b.fsub(value, value))
    cv.store(total, at)


def _fma_row(b, xv, dptr, fma, acc, xrow, drow, dstep=None, masks=None, vstep=None,
             dsteps=None):
    """``acc[r][v] += d[drow + r*dstep] * x[xrow + v*G:][:G]`` for every
    ``r``, ``v`` (``dstep`` 1 when None; ``vstep``, a value, in place of
    ``G``; ``dsteps[r]``, values, in place of ``r*dstep``): ``V`` vectors
    of ``x`` loaded once (only the lanes of ``masks[v]`` when given, the
    others zero), each broadcast coefficient serving ``V`` of them."""
    n = xv.count
    xs_ = [xv.load(b.add(xrow, ir.Constant(xrow.type, v * n)) if vstep is None else
                   _offset(b, xrow, v, vstep),
                   None if masks is None else masks[v]) for v in range(len(acc[0]))]
    for r, row in enumerate(acc):
        at = dsteps[r] if dsteps is not None else ir.Constant(drow.type, r) \
            if dstep is None else b.mul(dstep, ir.Constant(dstep.type, r))
        coef = b.load(b.gep(dptr, [b.add(drow, at)]))
        cr = _splat(b, coef, n)
        for v, a in enumerate(row):
            b.store(b.call(fma, [cr, xs_[v], b.load(a)]), a)


def _rows_fma(R, V, ahead=False):
    def codegen(context, builder, sig, args):
        _, XO, XS, _, DO, DS, NW, _, OO, OS, _, STREAM = args[:12]
        ov, cv = _arrays(context, builder, sig, args, 7, 10)
        b = builder
        xv, fma, dptr, acc = _products(context, b, sig, args, 0, 3, R, V)
        n = xv.count
        with cgutils.for_range(b, NW) as loop:
            w = loop.index
            row = b.add(XO, b.mul(w, XS))
            if ahead:
                later = b.add(row, args[12])
                for v in range(V):
                    prefetch_at(b, b.gep(xv.base, [b.add(later, ir.Constant(later.type,
                                                                            v * n))]))
            _fma_row(b, xv, dptr, fma, acc, row, b.add(DO, b.mul(w, DS)))
        values = [[b.load(acc[r][v]) for v in range(V)] for r in range(R)]
        _add_checks(b, cv, [v for row in values for v in row], ir.Constant(OO.type, 0))
        with b.if_else(STREAM) as (streamed, plain):
            for branch, put in ((streamed, ov.stream), (plain, ov.store)):
                with branch:
                    _store_rows(b, put, values, OO, OS, n)
        return context.get_dummy_value()

    if ahead:
        @intrinsic
        def rows_fma(typingctx, x, xo, xs, d, do, ds, nw, out, oo, os, check, stream, pa):
            return types.void(x, xo, xs, d, do, ds, nw, out, oo, os, check, stream,
                              pa), codegen
    else:
        @intrinsic
        def rows_fma(typingctx, x, xo, xs, d, do, ds, nw, out, oo, os, check, stream):
            return types.void(x, xo, xs, d, do, ds, nw, out, oo, os, check, stream), codegen
    rows_fma.__doc__ = (
        f"{R} rows of {V} vectors: ``out[oo + r*os + v*G + i] = sum_(w < nw) "
        f"d[do + w*ds + r] * x[xo + w*xs + v*G + i]`` for ``r < {R}``, ``v < {V}`` "
        f"and the ``G`` lanes ``i``, accumulated in registers over ``w``; adds "
        f"``value - value`` of every output vector to ``check[:G]`` (0 unless one "
        f"is not finite).  Each row of ``x`` loaded serves {R} rows of outputs.  "
        f"``stream`` (a run-time flag): the outputs are written with non-temporal "
        f"stores, and every output vector must then start a 64-byte line."
        + (f"  Step ``w`` also prefetches the lines of its {V} vectors ``pa`` "
           f"elements further on (:func:`prefetch_at`; any offset)." if ahead else ""))
    return rows_fma


# (the Winograd route's products, whose operands are in cache)
rows_fma4x4, rows_fma4x1 = _rows_fma(4, 4), _rows_fma(4, 1)
# the band route's rows along axis 0, which read the signal from memory once
# (see kernels_band._rows); the lanes left over from tiles of four vectors
# run as many accumulators and eight output rows per loaded input vector
rows_fma4x4_ahead = _rows_fma(4, 4, ahead=True)
rows_fma8x2_ahead, rows_fma8x1_ahead = _rows_fma(8, 2, ahead=True), _rows_fma(8, 1, ahead=True)


def _rows_fma_taps_code(R, V, part, paired=False):
    def codegen(context, builder, sig, args):
        _, XO, XS, TOFF, _, DO, DS, NC, _, OO, OS = args[:11]
        (ov,) = _arrays(context, builder, sig, args, 8)
        b = builder
        xv, fma, dptr, acc = _products(context, b, sig, args, 0, 4, R, V)
        n = xv.count
        # (paired: vector v of x from xo + v*args[11], of out from oo + v*args[12])
        xstep, ostep = (args[11], args[12]) if paired else (None, None)
        # (a row's end, its count the last argument: masked loads as well, so
        # that no load passes the input's end either)
        masks = [_first(b, args[-1], n, xv.per, 0 if paired else v * n) for v in range(V)] \
            if part else None
        taps = context.make_array(sig.args[3])(context, b, TOFF)
        ntaps = cgutils.unpack_tuple(b, taps.shape, 1)[0]
        with cgutils.for_range(b, ntaps) as outer:
            t = outer.index
            xt = b.add(XO, b.load(b.gep(taps.data, [t])))
            dt = b.add(DO, b.mul(b.mul(t, NC), DS))
            with cgutils.for_range(b, NC) as inner:
                c = inner.index
                _fma_row(b, xv, dptr, fma, acc, b.add(xt, b.mul(c, XS)),
                         b.add(dt, b.mul(c, DS)), masks=masks, vstep=xstep)
        _store_rows(b, ov.store, [[b.load(a) for a in row] for row in acc], OO, OS, n,
                    masks, ostep)
        return context.get_dummy_value()
    return codegen


def _rows_fma_taps(R, V):
    @intrinsic
    def rows_fma_taps(typingctx, x, xo, xs, toff, d, do, ds, nc, out, oo, os):
        return (types.void(x, xo, xs, toff, d, do, ds, nc, out, oo, os),
                _rows_fma_taps_code(R, V, False))

    @intrinsic
    def rows_fma_taps_part(typingctx, x, xo, xs, toff, d, do, ds, nc, out, oo, os, count):
        return (types.void(x, xo, xs, toff, d, do, ds, nc, out, oo, os, count),
                _rows_fma_taps_code(R, V, True))
    rows_fma_taps.__doc__ = (
        f"{R} rows of {V} vectors: ``out[oo + r*os + v*G + i] = sum_(t, c < nc) "
        f"d[do + (t*nc + c)*ds + r] * x[xo + toff[t] + c*xs + v*G + i]`` for "
        f"``r < {R}``, ``v < {V}`` and the ``G`` lanes ``i``, over every tap "
        f"offset ``toff[t]`` (int64) and ``nc`` channels, accumulated in "
        f"registers.  Each vector of ``x`` loaded serves {R} rows of outputs and "
        f"each broadcast coefficient {V} vectors.")
    rows_fma_taps_part.__doc__ = (
        "The same over the columns ``v*G + i < count`` only (masked loads and "
        "stores: the end of an output row).")
    return rows_fma_taps, rows_fma_taps_part


@intrinsic
def rows_fma_taps8x2_rows(typingctx, x, xo, xs, toff, d, do, ds, nc, out, oo, os, xv, ov,
                          count):
    """:func:`rows_fma_taps8x2` with its two vectors at ``xo`` and ``xo + xv``
    of ``x``, ``oo`` and ``oo + ov`` of ``out`` (two output rows of at most
    one vector each), over their first ``count`` columns (masked loads and
    stores).  Rows of one vector would otherwise take blocks of one vector
    a row, with one broadcast coefficient per multiply-add."""
    return (types.void(x, xo, xs, toff, d, do, ds, nc, out, oo, os, xv, ov, count),
            _rows_fma_taps_code(8, 2, True, paired=True))


# (the direct kernel's block: 16 vectors of accumulators, two FMAs in flight
# per coefficient broadcast)
rows_fma_taps8x2, rows_fma_taps8x2_part = _rows_fma_taps(8, 2)
# (the end of an output row of at most one vector: the direct kernel's row mode)
rows_fma_taps8x1, rows_fma_taps8x1_part = _rows_fma_taps(8, 1)


def _transposed(b, values, n):
    """``P`` vectors ``values[j]`` of ``n`` elements (``P`` a power of two) as
    ``n`` pieces of ``P``: piece ``e`` is ``(values[0][e], ...,
    values[P-1][e])`` (interleaves of pairs, then of pairs of pairs, then a
    gather of each piece, which LLVM lowers to in-lane unpacks and
    permutes)."""
    def shuffle(u, w, mask):
        return b.shuffle_vector(u, w, ir.Constant(ir.VectorType(_I32, len(mask)), mask))
    level, width = list(values), 1
    while len(level) > 1:
        # (groups of ``width`` elements, one per e: u's group e, then w's)
        mask = [k for e in range(n) for k in list(range(e * width, (e + 1) * width))
                + list(range(n * width + e * width, n * width + (e + 1) * width))]
        level = [shuffle(level[k], level[k + 1], mask) for k in range(0, len(level), 2)]
        width *= 2
    P = len(values)
    return [shuffle(level[0], level[0], [P * e + k for k in range(P)]) for e in range(n)]


@intrinsic
def transpose_tile(typingctx, x, xo, xs, rows, out, oo, os, cols):
    """``out[oo + e*os + r] = x[xo + r*xs + e]`` for ``r < rows`` and ``e <
    cols`` (each 1 to ``G``): a tile of ``G x G`` elements through
    registers, its rows loaded as vectors (masked to ``cols``), its columns
    stored as vectors (masked to ``rows``)."""
    def codegen(context, builder, sig, args):
        _, XO, XS, ROWS, _, OO, OS, COLS = args
        xv, ov = _arrays(context, builder, sig, args, 0, 4)
        b = builder
        n, ity = xv.count, XO.type
        last = b.sub(ROWS, ir.Constant(ity, 1))
        mask = _first(b, COLS, n, xv.per)
        values = []
        for r in range(n):
            # (rows past the last read the last again: their lanes are not stored)
            rc = b.select(b.icmp_signed("<", ir.Constant(ity, r), last), ir.Constant(ity, r),
                          last)
            values.append(xv.load(b.add(XO, b.mul(XS, rc)), mask))
        pieces = _transposed(b, values, n)
        keep = _first(b, ROWS, n, ov.per)
        for e in range(n):
            with b.if_then(b.icmp_signed("<", ir.Constant(ity, e), COLS)):
                ov.store(pieces[e], _offset(b, OO, e, OS), keep)
        return context.get_dummy_value()
    return types.void(x, xo, xs, rows, out, oo, os, cols), codegen


def _store_points(b, ov, acc, OA, OB, M, OS, NJ, ADD):
    """``out[o_j + (v*G + e)*OS] = acc[j][v][e]`` for the points ``j < NJ``
    and every channel ``v*G + e``, ``o_j`` being ``OA + j`` for ``j < M``
    and ``OB + j - M`` after: each channel's ``P`` points (``len(acc)``)
    one masked store, or two when they wrap (``M < NJ``); ``+=`` when
    ``ADD`` (an i1) is set, with a masked load before each store."""
    n = ov.count
    P, V = len(acc), len(acc[0])
    ity = OA.type
    piece = ir.VectorType(ov.vty.element, P)
    kind = 'f32' if ov.vty.element == ir.FloatType() else 'f64'
    masks = ir.VectorType(ir.IntType(1), P)
    store_p = cgutils.get_or_insert_function(b.module, ir.FunctionType(ir.VoidType(), [
        piece, piece.as_pointer(), _I32, masks]), f"llvm.masked.store.v{P}{kind}.p0")
    load_p = cgutils.get_or_insert_function(b.module, ir.FunctionType(piece, [
        piece.as_pointer(), _I32, masks, piece]), f"llvm.masked.load.v{P}{kind}.p0")
    points = ir.Constant(ir.VectorType(ity, P), list(range(P)))
    first = b.icmp_signed("<", points, _splat(b, b.select(b.icmp_signed("<", M, NJ), M, NJ), P))
    rest = b.and_(b.icmp_signed(">=", points, _splat(b, M, P)),
                  b.icmp_signed("<", points, _splat(b, NJ, P)))
    pieces = [_transposed(b, [b.load(acc[j][v]) for j in range(P)], n) for v in range(V)]
    align = ir.Constant(_I32, ov.align)

    def put(base, mask, add):
        for v in range(V):
            for e in range(n):
                at = b.add(base, b.mul(OS, ir.Constant(ity, v * n + e)))
                ptr = b.bitcast(ov._at(at), piece.as_pointer())
                value = pieces[v][e]
                if add:
                    value = b.fadd(value, b.call(load_p, [ptr, align, mask,
                                                         ir.Constant(piece, None)]))
                b.call(store_p, [value, ptr, align, mask])

    def put_all(add):
        put(OA, first, add)
        # (the points after M as a store from OB - M, its first M lanes off)
        with b.if_then(b.icmp_signed("<", M, NJ)):
            put(b.sub(OB, M), rest, add)
    with b.if_else(ADD) as (adding, storing):
        with adding:
            put_all(True)
        with storing:
            put_all(False)


def _points_fma(P, V):
    @intrinsic
    def points_fma(typingctx, x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa,
                   ob, os, add):
        def codegen(context, builder, sig, args):
            _, XA, XB, XS, M, NJ, XOFF, DOFF, CS, NC, _, DO, DS, _, OA, OB, OS, ADD = args
            (ov,) = _arrays(context, builder, sig, args, 13)
            b = builder
            dv, fma, xptr, acc = _products(context, b, sig, args, 10, 0, P, V)
            ity = XA.type
            # points past nj read the last one's samples again (inside x):
            # one code for every count, its extra sums not stored
            last = b.sub(NJ, ir.Constant(ity, 1))
            starts = []
            for j in range(P):
                jc = b.select(b.icmp_signed("<", ir.Constant(ity, j), last),
                              ir.Constant(ity, j), last)
                starts.append(b.select(b.icmp_signed("<", jc, M), b.add(XA, b.mul(XS, jc)),
                                       b.add(XB, b.mul(XS, b.sub(jc, M)))))
            xt_ = context.make_array(sig.args[6])(context, b, XOFF)
            dt_ = context.make_array(sig.args[7])(context, b, DOFF)
            ntaps = cgutils.unpack_tuple(b, xt_.shape, 1)[0]
            with cgutils.for_range(b, ntaps) as outer:
                t = outer.index
                xt = b.load(b.gep(xt_.data, [t]))
                dt = b.add(DO, b.load(b.gep(dt_.data, [t])))
                with cgutils.for_range(b, NC) as inner:
                    c = inner.index
                    _fma_row(b, dv, xptr, fma, acc, b.add(dt, b.mul(c, DS)),
                             b.add(xt, b.mul(c, CS)), dsteps=starts)
            _store_points(b, ov, acc, OA, OB, M, OS, NJ,
                          b.icmp_unsigned("!=", ADD, ir.Constant(ADD.type, 0)))
            return context.get_dummy_value()
        return (types.void(x, xa, xb, xs, m, nj, xoff, doff, cs, nc, d, do, ds, out, oa, ob,
                           os, add), codegen)
    points_fma.__doc__ = (
        f"{P} output points by {V} vectors of output channels: ``out[o_j + (v*G + "
        f"e)*os] = sum_(t, c < nc) x[x_j + xoff[t] + c*cs] * d[do + doff[t] + "
        f"c*ds + v*G + e]`` for the points ``j < nj`` (``nj`` 1 to {P}) and every "
        f"channel, accumulated in registers over the taps ``t`` (``xoff``, "
        f"``doff``: int64) and ``nc`` input channels; point ``j`` is ``x_j = xa "
        f"+ j*xs``, ``o_j = oa + j`` for ``j < m`` and ``xb + (j - m)*xs``, "
        f"``ob + j - m`` after ({P} points over the end of an output row); "
        f"``+=`` in place of ``=`` when ``add`` is true.  "
        f"Each vector of ``d`` loaded serves {P} broadcast samples of ``x``, "
        f"so the samples may lie any distance apart (strided and dilated "
        f"layers read ``x`` in place); the sums of a channel are transposed "
        f"into masked stores of {P}.  ``d`` must hold {V} whole vectors from "
        f"every ``do + doff[t] + c*ds``.")
    return points_fma


# (16 accumulators: 4 points x 4 vectors of channels; 6 or 12 points, 24
# accumulators, ran at half the speed; 8 x 2 at 0.85-0.9 of it)
points_fma4x4 = _points_fma(4, 4)
# (eight points by two vectors, 32 float32 channels: a layer of 32 output
# channels would leave half of a 4 x 4 block's channels unused)
points_fma8x2 = _points_fma(8, 2)
# (sixteen points by one vector, 16 float32 channels: each broadcast sample
# serves one multiply-add, folded into it as a memory operand, so the block
# needs only its accumulators and one vector of weights in registers)
points_fma16x1 = _points_fma(16, 1)



def _any(b, mask):
    """Whether any lane of the i1 vector ``mask`` is on."""
    bits = b.bitcast(mask, ir.IntType(mask.type.count))
    return b.icmp_unsigned("!=", bits, ir.Constant(bits.type, 0))


def _grid_stores(b, n, L, J0, P2, W, rows, ostep):
    """Where :func:`_phases_fma`'s ``L`` interleaved vectors go: for vector
    ``q``, ``(base, mask)`` of the lanes in the grid row of its first column
    and of those in the next row.  Lane ``k`` of vector ``q`` is output
    phase ``(q*n + k) % L`` of grid column ``J0 + (q*n + k) // L`` (from the
    call's row on, ``P2`` columns a row): in the row at output column ``L *
    column + phase``, if that is below ``W`` and the row one of ``rows``;
    rows ``ostep`` apart in the output.  (At most two rows a vector: ``P2``
    is at least ``n // L + 1``.)"""
    ity = J0.type
    vty = ir.VectorType(ity, n)

    def const(values):
        return ir.Constant(vty, [int(v) for v in values])

    def splat(v):
        return _splat(b, v, n)

    one = ir.Constant(ity, 1)
    parts = []
    for q in range(L):
        uq = q * n // L
        lanes_k = range(q * n, (q + 1) * n)
        du = const([k // L - uq for k in lanes_k])      # columns past the first
        K = const([k - L * uq for k in lanes_k])        # outputs past its first
        a = b.add(J0, ir.Constant(ity, uq))
        # (the row of column a: a is below 3 * P2)
        past = b.add(b.zext(b.icmp_signed(">=", a, P2), ity),
                     b.zext(b.icmp_signed(">=", a, b.add(P2, P2)), ity))
        col = b.sub(a, b.mul(past, P2))
        first = b.icmp_signed("<", du, splat(b.sub(P2, col)))
        in_a = b.and_(first, b.icmp_signed("<", K, splat(b.sub(W, b.mul(col, ir.Constant(
            ity, L))))))
        in_a = b.and_(in_a, splat(b.icmp_signed("<", past, rows)))
        col_b = b.sub(col, P2)
        in_b = b.and_(b.not_(first), b.icmp_signed("<", K, splat(b.sub(W, b.mul(
            col_b, ir.Constant(ity, L))))))
        in_b = b.and_(in_b, splat(b.icmp_signed("<", b.add(past, one), rows)))
        # (lane k at base + k: output L*col + K[k], K[k] = k + q*n - L*uq)
        row_a = b.add(b.mul(past, ostep), ir.Constant(ity, q * n - L * uq))
        base_a = b.add(row_a, b.mul(col, ir.Constant(ity, L)))
        base_b = b.add(b.add(row_a, ostep), b.mul(col_b, ir.Constant(ity, L)))
        parts.append(((base_a, in_a), (base_b, in_b)))
    return parts


def _phases_fma(R, L):
    @intrinsic
    def phases_fma(typingctx, x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr,
                   j0, pitch, width, rows, ostep):
        def codegen(context, builder, sig, args):
            _, XO, XS, TOFF, TSPLIT, SB, _, DO, DS, NC, _, OO, OS, NR = args[:14]
            J0, P2, W, ROWS, OSTEP = args[14:]
            (ov,) = _arrays(context, builder, sig, args, 10)
            b = builder
            xv, fma, dptr, acc = _products(context, b, sig, args, 0, 6, R, L)
            n, ity = xv.count, XO.type
            taps = context.make_array(sig.args[3])(context, b, TOFF).data
            split = context.make_array(sig.args[4])(context, b, TSPLIT).data
            one = ir.Constant(ity, 1)
            for e in range(L):
                # phase e's taps, into its column of accumulators
                lo = b.load(b.gep(split, [b.add(SB, ir.Constant(ity, e))]))
                hi = b.load(b.gep(split, [b.add(SB, ir.Constant(ity, e + 1))]))
                column = [[acc[r][e]] for r in range(R)]
                with cgutils.for_range_slice(b, lo, hi, one, intp=ity) as (t, _):
                    xt = b.add(XO, b.load(b.gep(taps, [t])))
                    dt = b.add(DO, b.mul(b.mul(t, NC), DS))
                    with cgutils.for_range(b, NC) as inner:
                        c = inner.index
                        _fma_row(b, xv, dptr, fma, column, b.add(xt, b.mul(c, XS)),
                                 b.add(dt, b.mul(c, DS)))
            stores = _grid_stores(b, n, L, J0, P2, W, ROWS, OSTEP)
            for r in range(R):
                with b.if_then(b.icmp_signed(">", NR, ir.Constant(ity, r))):
                    row = _interleaved(b, [b.load(a) for a in acc[r]], n, xv.per)
                    at = _offset(b, OO, r, OS)
                    for value, ((base_a, in_a), (base_b, in_b)) in zip(row, stores):
                        ov.store(value, b.add(at, base_a), in_a)
                        # (a vector past a row's end only: a masked store
                        # of no lanes still costs one, and its address runs
                        # into the stores before it)
                        with b.if_then(_any(b, in_b), likely=False):
                            ov.store(value, b.add(at, base_b), in_b)
            return context.get_dummy_value()
        return (types.void(x, xo, xs, toff, tsplit, sb, d, do, ds, nc, out, oo, os, nr, j0,
                           pitch, width, rows, ostep), codegen)
    phases_fma.__doc__ = (
        f"{R} output rows of {L} interleaved column phases over a vector of "
        f"``G`` columns of a grid of rows ``pitch`` columns long: column "
        f"``j0 + i`` (``i < G``) of the grid is ``v_i[r, e] = sum_(t, c < nc) "
        f"d[do + (t*nc + c)*ds + r] * x[xo + toff[t] + c*xs + i]``, phase ``e < "
        f"{L}`` summing its taps ``t`` in ``[tsplit[sb + e], tsplit[sb + e + 1])``; "
        f"written to ``out[oo + r*os + g*ostep + {L}*j + e]`` for grid row ``g`` "
        f"(0 or 1, the column ``j0 + i`` past the row's end) and column ``j`` of "
        f"it, where ``{L}*j + e < width``, ``g < rows`` and ``r < min(nr, {R})`` "
        f"(masked stores: the grid's padding columns and the rows outside the "
        f"output are not written).  A transposed layer's output phases side by "
        f"side, its output needing no interleave of its own; each vector of "
        f"``x`` loaded serves {R} broadcast coefficients.  ``pitch`` must be at "
        f"least ``G // {L} + 1``.")
    return phases_fma


# (a transposed layer's products with their interleave: 8 rows x 2 column
# phases, or 4 x 3 and 4 x 4, at most 16 accumulators as in rows_fma_taps8x2)
phases_fma8x2, phases_fma4x3, phases_fma4x4 = _phases_fma(8, 2), _phases_fma(4, 3), \
    _phases_fma(4, 4)

def _band_fma(J):
    @intrinsic
    def band_fma(typingctx, d, do, ds, x, xo, xs, nw, out, oo, os, check, pa, ps, stream):
        def codegen(context, builder, sig, args):
            _, DO, DS, _, XO, XS, NW, _, OO, OS, _, PA, PS, STREAM = args
            ov, cv = _arrays(context, builder, sig, args, 7, 10)
            b = builder
            dv, fma, xptr, acc = _products(context, b, sig, args, 0, 3, J, 1)
            with cgutils.for_range(b, NW) as loop:
                w = loop.index
                prefetch_at(b, b.gep(xptr, [b.add(PA, b.mul(w, PS))]))
                _fma_row(b, dv, xptr, fma, acc, b.add(DO, b.mul(w, DS)), b.add(XO, w), XS)
            values = [[b.load(acc[j][0])] for j in range(J)]
            _add_checks(b, cv, [row[0] for row in values], ir.Constant(OO.type, 0))
            with b.if_else(STREAM) as (streamed, plain):
                for branch, put in ((streamed, ov.stream), (plain, ov.store)):
                    with branch:
                        _store_rows(b, put, values, OO, OS, dv.count)
            return context.get_dummy_value()
        return types.void(d, do, ds, x, xo, xs, nw, out, oo, os, check, pa, ps,
                          stream), codegen
    band_fma.__doc__ = (
        f"{J} vectors of outputs of the band route: ``out[oo + j*os + i] = "
        f"sum_(w < nw) x[xo + w + j*xs] * d[do + w*ds + i]`` for ``j < {J}`` and "
        f"the ``G`` lanes ``i``, accumulated in registers; adds ``value - value`` "
        f"of every output vector to ``check[:G]`` (0 unless one is not finite).  "
        f"Each vector of ``d`` loaded serves {J} broadcast samples.  Step ``w`` "
        f"also prefetches the line of ``x[pa + w*ps]`` (:func:`prefetch_at`; "
        f"any index, inside ``x`` or not).  ``stream`` (a run-time flag): the "
        f"outputs are written with non-temporal stores, and every output vector "
        f"must then start a 64-byte line.")
    return band_fma


# (the 1-D band route's interior: eight macro-blocks, eight chains of
# multiply-adds, as many as two FMA units with four cycles of latency keep busy)
band_fma8 = _band_fma(8)


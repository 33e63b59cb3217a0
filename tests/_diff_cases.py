"""Hostile elementwise inputs for the differential tests: a case is a recipe, built afresh for
every backend, so each backend sees the same bytes in the same arrangement.

A :class:`Case` says how to lay ``x`` out in a byte buffer (dtype, byte order, shape, strides,
start offset, read-only, subclass) and how ``out`` relates to it (absent, fresh, x itself, a
reversed view, a shifted view overlapping it either way, a zero-stride view, wrong ones).
:func:`build` makes the arrays; :func:`run` calls an op and records everything a backend
could have done: the exception type, or the result and every byte of the buffers it could
reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

from relukit.conformance import edge_values

FLOAT_DTYPES = ("float32", "float64")
REJECTED_DTYPES = ("float16", "int32", "int64", "bool", "complex64", "object")
LAYOUTS = ("C", "F", "sliced", "as_strided", "zero_stride", "byte_stride")
OUTS = (
    "none",
    "fresh_c",
    "fresh_f",
    "fresh_strided",
    "fresh_unaligned",
    "self",
    "same_view",
    "reversed",
    "shift_fwd",
    "shift_bwd",
    "zero_stride",
    "wrong_dtype",
    "wrong_shape",
    "readonly",
    "list",
)
WRAPPERS = ("ndarray", "subclass", "matrix", "memmap")
SCALARS = ("pyfloat", "pyint", "bigint", "bool", "np_float32", "np_float64")
PAD_ITEMS = 4  # room (in elements) on both sides of x for the shifted outs


class Sub(np.ndarray):
    """A trivial ndarray subclass."""


@dataclass(frozen=True)
class Case:
    """One arrangement of ``x`` and ``out``; see the module docstring."""

    dtype: str = "float32"
    swapped: bool = False
    shape: tuple[int, ...] = (3,)
    layout: str = "C"
    steps: tuple[int, ...] = ()  # "sliced": a step per axis (nonzero, maybe negative)
    perm: tuple[int, ...] = ()  # "sliced": then this axis order
    strides: tuple[int, ...] = ()  # "as_strided": strides in elements (zero, negative, odd)
    phase: int = 0  # byte offset of x's first element modulo ... anything (unaligned if odd)
    readonly: bool = False
    wrapper: str = "ndarray"
    out: str = "none"
    shift: int = 1  # shifted outs: by this many bytes (a multiple of the itemsize, or not)
    scalar: str = ""  # a scalar input instead of an array
    seed: int = 0

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES and not self.swapped

    def describe(self) -> str:
        return repr(self)


@dataclass
class Built:
    """The arrays of one case: x, out, and every buffer the call may touch."""

    x: Any
    out: Any
    buffers: list[np.ndarray] = field(default_factory=list)  # uint8 views of all memory
    x_values: np.ndarray | None = None  # x's values before the call (native, C order)
    out_footprint: list[np.ndarray] | None = None  # per buffer: bytes out may write
    ambiguous: bool = False  # out overlaps itself: which write lands last is not defined


def _dtype(case: Case) -> np.dtype:
    dt = np.dtype(case.dtype)
    return dt.newbyteorder("S") if case.swapped else dt


def _element_strides(case: Case, itemsize: int) -> tuple[int, ...]:
    """Byte strides of x for the case's layout."""
    shape = case.shape
    if case.layout == "C" or (case.layout == "F" and len(shape) < 2):
        return _c_strides(shape, itemsize)
    if case.layout == "F":
        return tuple(reversed(_c_strides(tuple(reversed(shape)), itemsize)))
    if case.layout == "zero_stride":
        # every axis but possibly the last aliases: at least one zero stride
        s = list(_c_strides(shape, itemsize))
        for i in range(len(s)):
            if i % 2 == 0:
                s[i] = 0
        return tuple(s)
    if case.layout == "byte_stride":  # 1-D, self-overlapping: 2-byte steps
        return (2,)
    if case.layout == "as_strided":
        return tuple(s * itemsize for s in case.strides)
    raise AssertionError(case.layout)


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _extent(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> tuple[int, int]:
    """(lowest, one past the highest) byte of an array relative to its first element."""
    if math.prod(shape) == 0:
        return 0, 0
    lo = sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if s < 0)
    hi = sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if s > 0)
    return lo, hi + itemsize


def footprint(a: np.ndarray, base: np.ndarray) -> np.ndarray:
    """A bool mask over the uint8 buffer ``base``: the bytes the array ``a`` (a view into
    it) covers."""
    mask = np.zeros(base.size, bool)
    if a.size == 0:
        return mask
    start = a.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    offs = np.full((), start, np.int64)
    for axis, (n, s) in enumerate(zip(a.shape, a.strides, strict=True)):
        shape = [1] * a.ndim
        shape[axis] = n
        offs = offs + (np.arange(n, dtype=np.int64) * s).reshape(shape)
    offs = offs.reshape(-1)
    for k in range(a.dtype.itemsize):
        mask[offs + k] = True
    return mask


def _values(dtype: np.dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values of a native dtype: for floats, the conformance edge values (NaN payloads,
    signalling NaNs, ±inf, ±0.0, subnormals, extremes) mixed with ordinary numbers."""
    kind = dtype.kind
    if kind == "f" and dtype.itemsize in (4, 8):
        edges = edge_values(dtype)
        extra = np.array([0.5, -1.0, 1.0, 0.25, -0.75, 6.0, 40.0, -40.0], dtype)
        pool = np.concatenate([edges, extra])
        normal = (rng.standard_normal(n) * rng.choice([0.5, 3.0, 30.0], n)).astype(dtype)
        pick = pool[rng.integers(0, pool.size, n)]
        return np.where(rng.random(n) < 0.6, pick, normal)
    if kind == "f":
        return rng.standard_normal(n).astype(dtype)
    if kind == "b":
        return rng.random(n) < 0.5
    if kind == "c":
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    return rng.integers(-100, 100, n).astype(dtype)


def _scalar(case: Case, rng: np.random.Generator) -> Any:
    v = float(_values(np.dtype(np.float64), 1, rng)[0])
    if case.scalar == "pyfloat":
        return v
    if case.scalar == "pyint":
        return int(rng.integers(-(2**63), 2**63 - 1, endpoint=True))
    if case.scalar == "bigint":
        return 2**63 + int(rng.integers(0, 10))
    if case.scalar == "bool":
        return bool(rng.integers(0, 2))
    dt = np.dtype(case.scalar.removeprefix("np_"))
    return _values(dt, 1, rng)[0]


def build(case: Case) -> Built:
    """Make the case's arrays (deterministic: the same bytes on every call)."""
    rng = np.random.default_rng(case.seed)
    if case.scalar:
        x = _scalar(case, rng)
        out = None if case.out == "none" else np.full(3, 7.0)
        return Built(x, out, [] if out is None else [out.view(np.uint8).reshape(-1)])
    if case.dtype == "object":
        return _build_object(case, rng)
    dt = _dtype(case)
    item = dt.itemsize
    shape = case.shape
    if case.layout == "sliced":
        return _build_sliced(case, dt, rng)
    strides = _element_strides(case, item)
    lo, hi = _extent(shape, strides, item)
    pad = PAD_ITEMS * item + 8
    first = pad - lo + case.phase  # byte offset of x[0, ..., 0] in the buffer
    buf = np.zeros(first + hi + pad, np.uint8)
    _fill(buf, dt, first % item, rng)
    x = np.ndarray(shape, dt, buffer=buf, offset=first, strides=strides)
    if case.layout == "as_strided":  # the same array through as_strided
        x = np.lib.stride_tricks.as_strided(x, shape, strides)
    return _finish(case, x, buf, first, strides, rng)


def _fill(buf: np.ndarray, dt: np.dtype, phase: int, rng: np.random.Generator) -> None:
    """Fill a uint8 buffer with values of dtype ``dt`` whose elements start at ``phase``."""
    item = dt.itemsize
    n = buf.size // item + 2
    native = dt.newbyteorder("=")
    vals = _values(native, n, rng).astype(native)
    raw = np.frombuffer(vals.astype(dt).tobytes(), np.uint8)
    skip = (item - phase) % item
    buf[:] = raw[skip : skip + buf.size]


def _build_sliced(case: Case, dt: np.dtype, rng: np.random.Generator) -> Built:
    """x = parent[::s0, ::s1, ...].transpose(perm) of a C-contiguous parent in the buffer."""
    item = dt.itemsize
    parent_shape = tuple(max(n * abs(s), 1) for n, s in zip(case.shape, case.steps, strict=True))
    pad = PAD_ITEMS * item + 8
    first = pad + case.phase
    nbytes = math.prod(parent_shape) * item
    buf = np.zeros(first + nbytes + pad, np.uint8)
    _fill(buf, dt, first % item, rng)
    parent = np.ndarray(parent_shape, dt, buffer=buf, offset=first)
    view = parent[(*(slice(None, None, s) for s in case.steps), Ellipsis)]
    view = view[(*(slice(0, n) for n in case.shape), Ellipsis)]
    x = view.transpose(case.perm) if case.perm else view
    start = x.__array_interface__["data"][0] - buf.__array_interface__["data"][0]
    return _finish(case, x, buf, start, x.strides, rng)


def _build_object(case: Case, rng: np.random.Generator) -> Built:
    n = math.prod(case.shape)
    x = np.empty(n, object)
    x[:] = [float(v) for v in rng.standard_normal(n)]
    if n and rng.random() < 0.3:
        x[0] = None
    x = x.reshape(case.shape)
    out = None if case.out == "none" else np.full(case.shape, 7.0)
    buffers = [] if out is None else [out.reshape(-1).view(np.uint8)]
    return Built(x, out, buffers)


def _finish(
    case: Case,
    xa: np.ndarray,
    buf: np.ndarray,
    first: int,
    strides: tuple[int, ...],
    rng: np.random.Generator,
) -> Built:
    """Wrap x, set its read-only flag, make out, and record the buffers and footprints."""
    dt = xa.dtype
    shape = xa.shape
    x_values = None
    if dt.kind == "f" and dt.isnative and dt.itemsize in (4, 8):
        x_values = np.array(xa, order="C", copy=True)
    x: Any = xa
    if case.wrapper == "subclass":
        x = xa.view(Sub)
    elif case.wrapper == "matrix" and xa.ndim == 2:
        x = xa.view(np.matrix)
    elif case.wrapper == "memmap":
        x = xa.view(np.memmap)
    if case.readonly:
        x.flags.writeable = False
    out: Any = None
    buffers = [buf]
    ambiguous = False
    kind = case.out
    owner: np.ndarray | None = None  # the fresh memory out lives in, if not buf
    if kind in ("fresh_c", "fresh_f", "readonly", "wrong_dtype", "wrong_shape"):
        odt, oshape = dt, shape
        if kind == "wrong_dtype":
            odt = np.dtype(np.float64 if dt.itemsize == 4 else np.float32)
        if kind == "wrong_shape":
            oshape = (*shape, 2) if rng.random() < 0.5 else (math.prod(shape) + 1,)
        out = owner = np.full(oshape, 7, odt, order="F" if kind == "fresh_f" else "C")
        if kind == "readonly":
            out.flags.writeable = False
    elif kind == "fresh_strided":
        parent = owner = np.full((*shape[:-1], 2 * shape[-1]) if shape else (2,), 7, dt)
        out = parent[..., ::-2] if shape else parent[:1].reshape(())
    elif kind == "fresh_unaligned":
        obuf = owner = np.zeros(math.prod(shape) * dt.itemsize + 1, np.uint8)
        out = np.ndarray(shape, dt, buffer=obuf, offset=1)
        out[...] = 7
    elif kind == "self":
        out = x
    elif kind == "same_view":
        out = xa.view()
    if kind in ("self", "same_view"):
        # in place on elements that overlap each other by a few bytes: the bytes depend on
        # the order of the stores (test_hostile pins that order down for a 1-D view)
        ambiguous = case.layout == "byte_stride"
    elif kind == "reversed":
        out = xa[(*(slice(None, None, -1) for _ in shape), Ellipsis)]
        ambiguous = case.layout == "byte_stride"
    elif kind in ("shift_fwd", "shift_bwd"):
        delta = case.shift if kind == "shift_fwd" else -case.shift
        out = np.ndarray(shape, dt, buffer=buf, offset=first + delta, strides=strides)
        ambiguous = case.layout == "byte_stride"
    elif kind == "zero_stride":
        cell = owner = np.full(1, 7, dt)
        out = np.lib.stride_tricks.as_strided(cell, shape, (0,) * len(shape))
        ambiguous = math.prod(shape) > 1
    elif kind == "list":
        out = [7.0] * (shape[0] if shape else 1)
    out_fp = None
    if isinstance(out, np.ndarray):
        if owner is not None:
            buffers.append(owner.reshape(-1, order="A").view(np.uint8))
        out_fp = [footprint(out, b) if _inside(out, b) else np.zeros(b.size, bool) for b in buffers]
    return Built(x, out, buffers, x_values, out_fp, ambiguous)


def _inside(a: np.ndarray, buf: np.ndarray) -> bool:
    if a.size == 0:
        return False
    p = a.__array_interface__["data"][0]
    b0 = buf.__array_interface__["data"][0]
    return b0 <= p < b0 + buf.size


# ---- running an op ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What one call did: an exception type, or the result and the buffers' bytes after."""

    exc: type | None
    message: str
    result_type: type | None
    result: np.ndarray | None  # a copy (0-d for scalars)
    result_is_out: bool
    buffers: list[np.ndarray]
    result_flags: tuple[bool, bool] | None = None


def run(fn: Callable[..., Any], built: Built, backend: str) -> Outcome:
    """``fn(x, out=out, backend=backend)`` (``out`` omitted when None), recorded."""
    kwargs: dict[str, Any] = {"backend": backend}
    if built.out is not None:
        kwargs["out"] = built.out
    try:
        with np.errstate(all="ignore"):
            r = fn(built.x, **kwargs)
    except Exception as exc:
        return Outcome(type(exc), str(exc), None, None, False, [b.copy() for b in built.buffers])
    flags = None
    if isinstance(r, np.ndarray):
        res = np.array(r, copy=True)
        flags = (bool(r.flags.c_contiguous), bool(r.flags.f_contiguous))
    else:
        res = np.array(r)
    return Outcome(
        None,
        "",
        type(r),
        res,
        r is built.out and built.out is not None,
        [b.copy() for b in built.buffers],
        flags,
    )


def as_bits(a: np.ndarray) -> np.ndarray:
    """An array's bytes in C order (any dtype, any layout)."""
    if a.dtype.kind == "O":
        return np.array([repr(v) for v in a.reshape(-1)], dtype=object)
    return np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8)


# ---- hypothesis strategies ---------------------------------------------------------------


@st.composite
def shapes(draw: st.DrawFn, max_dims: int = 6, max_size: int = 48) -> tuple[int, ...]:
    ndim = draw(st.integers(0, max_dims))
    dims: list[int] = []
    for _ in range(ndim):
        limit = max(1, max_size // max(math.prod(dims), 1))
        dims.append(draw(st.integers(0, min(limit, 5 if ndim > 2 else 17))))
    return tuple(dims)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Any arrangement: mostly valid float arrays, sometimes rejected dtypes or scalars."""
    seed = draw(st.integers(0, 2**32 - 1))
    if draw(st.integers(0, 15)) == 0:
        return Case(
            scalar=draw(st.sampled_from(SCALARS)),
            out=draw(st.sampled_from(("none", "none", "fresh_c"))),
            seed=seed,
        )
    if draw(st.integers(0, 7)) == 0:
        dtype = draw(st.sampled_from(REJECTED_DTYPES))
    else:
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
    swapped = dtype != "object" and dtype != "bool" and draw(st.integers(0, 7)) == 0
    shape = draw(shapes())
    layout = draw(st.sampled_from(LAYOUTS)) if dtype != "object" else "C"
    if layout == "byte_stride":
        shape = (draw(st.integers(1, 40)),) if np.dtype(dtype).itemsize >= 4 else shape
        layout = "byte_stride" if np.dtype(dtype).itemsize >= 4 else "C"
    steps: tuple[int, ...] = ()
    perm: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    if layout == "sliced":
        steps = tuple(draw(st.sampled_from((1, 2, 3, -1, -2))) for _ in shape)
        perm = tuple(draw(st.permutations(range(len(shape)))))
    elif layout == "as_strided":
        strides = tuple(draw(st.sampled_from((0, 1, 2, 3, 5, -1, -2, -3))) for _ in shape)
    item = np.dtype(dtype).itemsize if dtype != "object" else 8
    phase = draw(st.sampled_from((0, 0, 0, 1, 2, 3, item // 2 or 1)))
    out_kind = (
        draw(st.sampled_from(OUTS))
        if dtype != "object"
        else draw(st.sampled_from(("none", "fresh_c")))
    )
    shift = draw(st.sampled_from((item, 2 * item, 3 * item, 1, item // 2 or 1, item + 1)))
    return Case(
        dtype=dtype,
        swapped=swapped,
        shape=shape,
        layout=layout,
        steps=steps,
        perm=perm,
        strides=strides,
        phase=phase,
        readonly=draw(st.integers(0, 7)) == 0,
        wrapper=draw(st.sampled_from(WRAPPERS)) if draw(st.integers(0, 5)) == 0 else "ndarray",
        out=out_kind,
        shift=shift,
        seed=seed,
    )

"""C backend: the kernels of csrc/ through the cffi module built into ``relukit._native``.

cffi releases the GIL around every call. Arrays reach C as one flat buffer each
(``ffi.from_buffer``: zero-copy for C-contiguous arrays); C checks the lengths before it
touches memory and reports a mismatch as a status. ``from_buffer`` reads any buffer's bytes
as the C type it is given, so this module checks every array's dtype and shape before a call
(TypeError for a wrong dtype, ValueError for a wrong shape) and never hands C an array of
another layout. Large calls are split over the C thread pool (``set_num_threads``;
csrc/runtime/pool.c).

Every elementwise kernel of :data:`relukit.ops.KERNELS` is registered by one loop
(``<k>_float``, ``<k>_array``) from the C functions ``relukit_<k>_f64`` and
``relukit_<k>_array_{f32,f64}``, which take the kernel's parameters in that order.

The fast paths (``relu_fast``, ``relu_grad_fast``, ``dense_fast``) take what the acceptance
spec allows (exact ndarrays, native float32/float64, aligned, contiguous; see
``relukit.backends``) with as few Python operations as possible and return ``NotImplemented``
for anything else, never raising, so that every error still comes from
:mod:`relukit._validate`:

- ``from_buffer`` is asked for a plain (``PyBUF_SIMPLE``) buffer, which NumPy grants only for
  C-contiguous arrays: a failure there means "not this path". It is not asked for a writable
  buffer (``require_writable=True`` costs ~2.5x as much): an output is either allocated here
  or checked writeable (``out.flags.writeable``) first.
- Overlap between ``x`` and ``out`` is left to C, which compares the two address ranges and
  returns ``RELUKIT_EOVERLAP`` without writing anything when ``out`` overlaps ``x`` other than
  exactly (in place); the validated path then reads from a copy.
- Out of place, a small array is copied (one allocation, one ``from_buffer``) and the copy
  is transformed in place: cheaper than allocating the result and taking two buffers, up to
  :data:`COPY_MAX_BYTES`, where the extra pass over the data starts to cost more.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from relukit._native import c_kernels as _c
from relukit.backends._layout import flat_pair
from relukit.ops import KERNELS

NAME = "c"
ffi, lib = _c.ffi, _c.lib
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_CTYPE = {"f": ffi.typeof("float[]"), "d": ffi.typeof("double[]")}  # parsed once
_PTR = {"f": ffi.typeof("float *"), "d": ffi.typeof("double *")}
#: NumPy 1.x still lets ``a.data = ...`` move a live array's buffer (2.x refuses).
_DATA_SETTABLE = np.lib.NumpyVersion(np.__version__) < "2.0.0"

#: Out of place, arrays up to this many bytes take the copy-then-in-place route (measured:
#: see the module docstring; the two routes cost the same around 16 KiB here).
COPY_MAX_BYTES = 8192

#: The C thread pool's cap (relukit_max_threads()).
MAX_THREADS = int(lib.relukit_max_threads())

relu_int = lib.relukit_relu_i64
relu_grad_int = lib.relukit_relu_grad_i64
_DENSE = {"f": lib.relukit_dense_forward_f32, "d": lib.relukit_dense_forward_f64}


def set_num_threads(n: int) -> None:
    """Let large C calls use ``n`` threads (called by :func:`relukit.set_num_threads`);
    values outside 1..MAX_THREADS are taken as the nearer bound, as C does."""
    lib.relukit_set_num_threads(min(max(int(n), 1), MAX_THREADS))


def get_num_threads() -> int:
    """The thread count the C kernels use now (what C holds)."""
    return int(lib.relukit_get_num_threads())


def runtime_info() -> dict[str, Any]:
    """What the C runtime detected (SIMD path, caches, CPUs) and the thresholds it derived."""
    info = ffi.new("struct relukit_runtime_info *")
    _check(lib.relukit_runtime_info(info), "runtime_info")
    simd = {
        lib.RELUKIT_SIMD_PORTABLE: "portable",
        lib.RELUKIT_SIMD_AVX2: "avx2",
        lib.RELUKIT_SIMD_AVX512: "avx512",
    }
    return {
        "simd": simd.get(info.simd, str(info.simd)),
        "fma": bool(info.fma),
        "cache_source": ffi.string(info.cache_source).decode(),
        "l2_bytes": int(info.l2_bytes),
        "l3_bytes": int(info.l3_bytes),
        "l3_cpus": int(info.l3_cpus),
        "l3_share_bytes": int(info.l3_share_bytes),
        "cpus": int(info.cpus),
        "max_threads": int(info.max_threads),
        "nt_bytes": int(info.nt_bytes),
        "nt_bytes_per_thread": int(info.nt_bytes_per_thread),
        "split_bytes": int(info.split_bytes),
        "dense_split_macs": int(info.dense_split_macs),
        "l1d_bytes": int(info.l1d_bytes),
        "gemm_simd": simd.get(info.gemm_simd, str(info.gemm_simd)),
        **{
            f"gemm_{name}": {
                k: int(blocks[i]) for i, k in enumerate(("mr", "nr", "kc", "mc", "nc"))
            }
            for name, blocks in (("float32", info.gemm_f32), ("float64", info.gemm_f64))
        },
    }


def _check(status: int, what: str) -> None:
    if status == lib.RELUKIT_EOVERLAP:
        raise ValueError(f"relukit C kernel {what}: the output overlaps an input")
    if status == lib.RELUKIT_EINVAL:
        raise ValueError(
            f"relukit C kernel {what}: unknown activation or wrong number of its parameters"
        )
    if status != lib.RELUKIT_OK:
        raise ValueError(f"relukit C kernel {what}: buffer lengths do not match (status {status})")


def _float_code(a: Any, what: str) -> str:
    """The cffi type code of a float32/float64 ndarray ('f' or 'd'); TypeError otherwise."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"relukit C kernel: {what} must be a NumPy array, got {type(a).__name__}")
    dt = a.dtype
    if dt == _F32 and dt.isnative:
        return "f"
    if dt == _F64 and dt.isnative:
        return "d"
    raise TypeError(f"relukit C kernel: {what} has dtype {dt}; it takes float32 or float64")


def _like(a: Any, dt: np.dtype, shape: tuple[int, ...], what: str) -> None:
    """``a`` is an ndarray of ``shape`` (ValueError) and dtype ``dt`` (TypeError)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"relukit C kernel: {what} must be a NumPy array, got {type(a).__name__}")
    if a.shape != shape:
        raise ValueError(f"relukit C kernel: {what} has shape {a.shape}, expected {shape}")
    if a.dtype != dt:
        raise TypeError(f"relukit C kernel: {what} has dtype {a.dtype}, expected {dt}")


def _c_input(a: np.ndarray) -> np.ndarray:
    """``a`` itself if C can read it as one flat buffer, else a C-contiguous copy."""
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.ascontiguousarray(a)


# --- the validated paths (inputs checked by relukit._validate) -------------------------------


def _elementwise(kernels: dict, x: np.ndarray, out: np.ndarray, what: str, params: tuple) -> None:
    code = _float_code(x, "x")
    if out.dtype != x.dtype:
        raise TypeError(f"relukit C kernel {what}: out has dtype {out.dtype}, x has {x.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"relukit C kernel {what}: out has shape {out.shape}, x has {x.shape}")
    ctype = _CTYPE[code]
    try:  # the common case, both C-contiguous: from_buffer refuses anything else
        cx = ffi.from_buffer(ctype, x)
        cy = ffi.from_buffer(ctype, out, require_writable=True)
        finish = None
    except (ValueError, BufferError, TypeError):
        xf, yf, finish = flat_pair(x, out)
        cx = ffi.from_buffer(ctype, xf)
        cy = ffi.from_buffer(ctype, yf, require_writable=True)
    _check(kernels[code](cx, len(cx), cy, len(cy), *params), what)
    if finish is not None:
        finish()


def _array_kernels(name: str) -> dict:
    return {
        "f": getattr(lib, f"relukit_{name}_array_f32"),
        "d": getattr(lib, f"relukit_{name}_array_f64"),
    }


def _make_array(name: str, n_params: int) -> Callable[..., None]:
    kernels = _array_kernels(name)

    def array(x: np.ndarray, out: np.ndarray, *params: float) -> None:
        if len(params) != n_params:
            raise TypeError(f"relukit C kernel {name}: takes {n_params} parameters")
        _elementwise(kernels, x, out, name, params)

    array.__name__ = f"{name}_array"
    array.__doc__ = f"out = {name}(x{', ' if n_params else ''}{', '.join(KERNELS[name])})"
    return array


def _register_elementwise() -> None:
    """``<k>_float`` and ``<k>_array`` for every kernel k of relukit.ops.KERNELS."""
    module = globals()
    for name, params in KERNELS.items():
        module[f"{name}_float"] = getattr(lib, f"relukit_{name}_f64")
        module[f"{name}_array"] = _make_array(name, len(params))


_register_elementwise()
_RELU = _array_kernels("relu")
_RELU_GRAD = _array_kernels("relu_grad")


def _layer_call(
    what: str,
    kernels: dict,
    inputs: list[tuple[str, Any, tuple[int, ...]]],
    outputs: list[tuple[str, Any, tuple[int, ...]]],
    dims: tuple[int, ...],
) -> None:
    """Check every buffer (shape, dtype: the first input's), make the inputs C-contiguous,
    run the kernel into C-contiguous outputs (through temporaries where an output is not),
    copy back. An output given as None is passed as (NULL, 0)."""
    code = _float_code(inputs[0][1], inputs[0][0])
    dt = inputs[0][1].dtype
    ctype = _CTYPE[code]
    args: list[Any] = []
    for label, a, shape in inputs:
        _like(a, dt, shape, label)
        buf = ffi.from_buffer(ctype, _c_input(a))
        args += [buf, len(buf)]
    copies = []
    for label, a, shape in outputs:
        if a is None:
            args += [ffi.NULL, 0]
            continue
        _like(a, dt, shape, label)
        if not a.flags.writeable:
            raise ValueError(f"relukit C kernel: {label} is read-only")
        target = a if a.flags.c_contiguous and a.flags.aligned else np.empty(shape, dt)
        if target is not a:
            copies.append((a, target))
        buf = ffi.from_buffer(ctype, target, require_writable=True)
        args += [buf, len(buf)]
    _check(kernels[code](*args, *dims), what)
    for a, target in copies:
        np.copyto(a, target)


def _matrix_dims(x: Any, w: Any) -> tuple[int, int, int]:
    """(batch, in, out) from x (batch, in) and w (in, out); ValueError if they do not fit."""
    _float_code(x, "x")
    _float_code(w, "w")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(
            f"relukit C kernel: x (batch, in) and w (in, out) do not fit: {x.shape}, {w.shape}"
        )
    return x.shape[0], x.shape[1], w.shape[1]


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    batch, n_in, n_out = _matrix_dims(x, w)
    _layer_call(
        "dense_forward",
        _DENSE,
        [("x", x, (batch, n_in)), ("w", w, (n_in, n_out)), ("b", b, (n_out,))],
        [("out", out, (batch, n_out))],
        (batch, n_in, n_out),
    )


# --- fast paths: NotImplemented (never an exception) for anything they do not take ---------


def _elementwise_fast(kernels: dict, scalar: str) -> Callable:
    """The fast path of one elementwise op (names bound as locals: fewer look-ups per call).

    ``scalar`` names this module's function for one Python float, looked up at each call so
    that replacing it (a test does) reaches the fast path too.
    """
    module = globals()
    k32, k64 = kernels["f"], kernels["d"]
    c32, c64 = _CTYPE["f"], _CTYPE["d"]
    f32, f64, ndarray, from_buffer = _F32, _F64, np.ndarray, ffi.from_buffer
    copy_max, not_impl = COPY_MAX_BYTES, NotImplemented
    refused = (ValueError, BufferError, TypeError)

    def fast(x: Any, out: Any) -> Any:
        if type(x) is ndarray:
            dt = x.dtype
            if dt is f32:
                ctype, kernel = c32, k32
            elif dt is f64:
                ctype, kernel = c64, k64
            else:
                return not_impl
            flags = x.flags
            if not flags.aligned:
                return not_impl
            if out is None:
                if x.nbytes <= copy_max:
                    if not flags.c_contiguous:
                        return not_impl
                    y = x.copy()
                    try:
                        cy = from_buffer(ctype, y)
                    except refused:  # contiguous but not C order (a Fortran-order copy)
                        return not_impl
                    n = len(cy)
                    kernel(cy, n, cy, n)
                    return y
                try:
                    cx = from_buffer(ctype, x)
                except refused:
                    return not_impl
                y = np.empty(x.shape, dt)
                cy = from_buffer(ctype, y)
                n = len(cx)
                kernel(cx, n, cy, n)
                return y
            if out is x:
                if not flags.writeable:
                    return not_impl
                try:
                    cx = from_buffer(ctype, x)
                except refused:
                    return not_impl
                n = len(cx)
                kernel(cx, n, cx, n)
                return x
            if (
                type(out) is not ndarray
                or out.dtype is not dt
                or out.shape != x.shape
                or not out.flags.writeable
                or not out.flags.aligned
            ):
                return not_impl
            try:
                cx = from_buffer(ctype, x)
                cy = from_buffer(ctype, out)  # writeable: checked just above
            except refused:
                return not_impl
            n = len(cx)
            if kernel(cx, n, cy, n):  # RELUKIT_EOVERLAP: nothing written
                return not_impl
            return out
        if type(x) is float and out is None:
            return module[scalar](x)
        return not_impl

    return fast


relu_fast = _elementwise_fast(_RELU, "relu_float")
relu_grad_fast = _elementwise_fast(_RELU_GRAD, "relu_grad_float")


# --- dense: cached pointers to a layer's weights and biases ---------------------------------
#
# Dense keeps its weights and biases as C-contiguous arrays it owns, so a layer's arrays are
# the same objects call after call. The cache maps id(w) to plain (non-owning) pointers into w
# and b and the layout they were taken with, plus weak references to both whose callbacks drop
# the entry when either array dies: an entry present always belongs to live arrays, so id(w)
# cannot have been reused, and id(b) is compared to the id stored. A live array can still be
# changed in place (``w.shape = ...``, ``w.strides = ...``, ``b.dtype = ...``; NumPy 1.x also
# ``w.data = ...``), so every call compares the arrays' shape and dtype with the entry's and
# checks that both are still C-contiguous (for a given shape, the one layout the pointers were
# taken for; on NumPy 1.x also the data pointer), about 0.2 us, and rebuilds the entry from the
# arrays as they are now if anything differs; a layout C cannot take goes to the validated path.
# Holding a weak reference makes NumPy refuse w.resize() (even with refcheck=False). In-place
# writes (layer.weights[...] = v) keep the buffer and are seen by C. Nothing is kept alive by
# the cache, and it is cleared when it reaches _CACHE_MAX entries.

_CACHE_MAX = 256
_dense_cache: dict[int, tuple] = {}


def _forget(key: int) -> Callable[[object], None]:
    def drop(_ref: object) -> None:
        _dense_cache.pop(key, None)

    return drop


def _data_pointer(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0] if _DATA_SETTABLE else 0


def _dense_entry(w: Any, b: Any) -> tuple | None:
    """Build (and cache) the entry for the pair (w, b), or None if the fast path can't take it."""
    if type(w) is not np.ndarray or type(b) is not np.ndarray:
        return None
    dt = w.dtype
    if (dt is not _F32 and dt is not _F64) or b.dtype is not dt:
        return None
    if w.ndim != 2 or b.shape != (w.shape[1],) or not (w.flags.aligned and b.flags.aligned):
        return None
    code = dt.char
    try:
        cw = ffi.from_buffer(_CTYPE[code], w)  # C-contiguous only
        cb = ffi.from_buffer(_CTYPE[code], b)
    except (ValueError, BufferError, TypeError):
        return None
    if len(_dense_cache) >= _CACHE_MAX:
        _dense_cache.clear()
    key = id(w)
    drop = _forget(key)
    entry = (
        id(b),
        w.shape,
        b.shape,
        dt,
        ffi.cast(_PTR[code], cw),
        len(cw),
        ffi.cast(_PTR[code], cb),
        len(cb),
        w.shape[0],
        w.shape[1],
        _DENSE[code],
        _CTYPE[code],
        _data_pointer(w),
        _data_pointer(b),
        weakref.ref(w, drop),
        weakref.ref(b, drop),
    )
    _dense_cache[key] = entry
    return entry


def _make_dense_fast() -> Callable:
    cache_get, ndarray, from_buffer, empty = _dense_cache.get, np.ndarray, ffi.from_buffer, np.empty
    not_impl, refused = NotImplemented, (ValueError, BufferError, TypeError)
    check_pointer = _DATA_SETTABLE

    def dense_fast(x: Any, w: Any, b: Any, shape: tuple[int, int] | None = None) -> Any:
        if type(x) is not ndarray:
            return not_impl
        ws = w.shape  # fetched once: each shape/strides/flags look-up costs ~70 ns
        if shape is not None and ws != shape:
            return not_impl
        e = cache_get(id(w))
        if (
            e is None
            or e[0] != id(b)
            or ws != e[1]
            or b.shape != e[2]
            or w.dtype is not e[3]
            or b.dtype is not e[3]
            or not (w.flags.c_contiguous and b.flags.c_contiguous)
            or (check_pointer and (_data_pointer(w), _data_pointer(b)) != (e[12], e[13]))
        ):
            e = _dense_entry(w, b)
            if e is None:
                return not_impl
        _, _, _, dt, pw, nw, pb, nb, n_in, n_out, kernel, ctype, _, _, _, _ = e
        if x.dtype is not dt or not x.flags.aligned:
            return not_impl
        shape = x.shape
        if shape == (n_in,):
            batch = 1
            y = empty(n_out, dt)
        elif len(shape) == 2 and shape[1] == n_in:
            batch = shape[0]
            y = empty((batch, n_out), dt)
        else:
            return not_impl
        try:
            cx = from_buffer(ctype, x)  # C-contiguous only: len(cx) == batch * n_in
        except refused:
            return not_impl
        if kernel(
            cx,
            batch * n_in,
            pw,
            nw,
            pb,
            nb,
            from_buffer(ctype, y),
            batch * n_out,
            batch,
            n_in,
            n_out,
        ):
            return not_impl  # cannot happen for a fresh y; the validated path will say
        return y

    return dense_fast


dense_fast = _make_dense_fast()


# ---- prelu: per-channel slopes --------------------------------------------------------------

_PRELU = _array_kernels("prelu")
_PRELU_GRAD = _array_kernels("prelu_grad")


def _prelu(kernels: dict, x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    """The C kernel takes C-ordered (outer, channels, inner) buffers: copy x if needed, and
    go through a temporary when out is not C-contiguous."""
    code = _float_code(x, "x")
    if x.ndim < 2:
        raise ValueError(f"relukit C kernel prelu: x must have a channel axis, got {x.shape}")
    _like(out, x.dtype, x.shape, "out")
    _like(weight, x.dtype, (x.shape[1],), "weight")
    ctype = _CTYPE[code]
    xc = _c_input(x)
    target = out if out.flags.c_contiguous and out.flags.aligned else np.empty(x.shape, x.dtype)
    cx = ffi.from_buffer(ctype, xc)
    cy = ffi.from_buffer(ctype, target, require_writable=True)
    cw = ffi.from_buffer(ctype, _c_input(weight))
    outer, channels = x.shape[0], x.shape[1]
    inner = math.prod(x.shape[2:])
    _check(kernels[code](cx, len(cx), cy, len(cy), cw, len(cw), outer, channels, inner), "prelu")
    if target is not out:
        np.copyto(out, target)


def prelu_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _prelu(_PRELU, x, out, weight)


def prelu_grad_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _prelu(_PRELU_GRAD, x, out, weight)


# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------

_LINEAR = {"f": lib.relukit_linear_forward_f32, "d": lib.relukit_linear_forward_f64}
_BACKWARD = {"f": lib.relukit_dense_backward_f32, "d": lib.relukit_dense_backward_f64}


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    batch, n_in, n_out = _matrix_dims(x, w)
    _layer_call(
        "linear_forward",
        _LINEAR,
        [("x", x, (batch, n_in)), ("w", w, (n_in, n_out)), ("b", b, (n_out,))],
        [("out", out, (batch, n_out))],
        (batch, n_in, n_out),
    )


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    batch, n_in, n_out = _matrix_dims(x, w)
    _layer_call(
        "dense_backward",
        _BACKWARD,
        [("x", x, (batch, n_in)), ("w", w, (n_in, n_out)), ("dy", dy, (batch, n_out))],
        [("dx", dx, (batch, n_in)), ("dw", dw, (n_in, n_out)), ("db", db, (n_out,))],
        (batch, n_in, n_out),
    )


# ---- affine: y = act(x @ w + b), the activation fused into the GEMM's epilogue ---------------

_AFFINE = {"f": lib.relukit_affine_forward_f32, "d": lib.relukit_affine_forward_f64}


def affine_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    activation: str | None = None,
    params: tuple[float, ...] = (),
) -> None:
    """out = activation(x @ w + b): ``activation`` None (linear) or a kernel name of
    :data:`relukit.ops.KERNELS` with its parameters in that order; the same bits as the op's
    array kernel applied to :func:`linear_forward`'s result. ValueError for an unknown name or
    the wrong number of parameters."""
    if activation is not None and activation not in KERNELS:
        raise ValueError(f"relukit C kernel affine_forward: unknown activation {activation!r}")
    if activation is not None and len(params) != len(KERNELS[activation]):
        raise ValueError(
            f"relukit C kernel affine_forward: {activation} takes {len(KERNELS[activation])} "
            f"parameters, got {len(params)}"
        )
    if activation is None and params:
        raise ValueError("relukit C kernel affine_forward: no activation takes no parameters")
    batch, n_in, n_out = _matrix_dims(x, w)
    name = ffi.NULL if activation is None else activation.encode()
    cparams = ffi.new("double[]", [float(p) for p in params]) if params else ffi.NULL
    kernels = {
        code: (lambda *args, _k=kernel: _k(*args, name, cparams, len(params)))
        for code, kernel in _AFFINE.items()
    }
    _layer_call(
        "affine_forward",
        kernels,
        [("x", x, (batch, n_in)), ("w", w, (n_in, n_out)), ("b", b, (n_out,))],
        [("out", out, (batch, n_out))],
        (batch, n_in, n_out),
    )

"""C backend: the kernels of csrc/ through the cffi module built into ``relukit._native``.

cffi releases the GIL around every call. Arrays reach C as one flat buffer each
(``ffi.from_buffer``: zero-copy for C-contiguous arrays); C checks the lengths before it
touches memory and reports a mismatch as a status. Large calls are split over the C thread
pool (``set_num_threads``; csrc/pool.c).

The fast paths (``relu_fast``, ``relu_grad_fast``, ``dense_fast``) take the common inputs
with as few Python operations as possible and return ``NotImplemented`` for anything else,
never raising, so that every error still comes from :mod:`relukit._validate`:

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

NAME = "c"
ffi, lib = _c.ffi, _c.lib
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_CTYPE = {"f": ffi.typeof("float[]"), "d": ffi.typeof("double[]")}  # parsed once
_PTR = {"f": ffi.typeof("float *"), "d": ffi.typeof("double *")}

#: Out of place, arrays up to this many bytes take the copy-then-in-place route (measured:
#: see the module docstring; the two routes cost the same around 16 KiB here).
COPY_MAX_BYTES = 8192

relu_float = lib.relukit_relu_f64
relu_int = lib.relukit_relu_i64
relu_grad_float = lib.relukit_relu_grad_f64
relu_grad_int = lib.relukit_relu_grad_i64

_RELU = {"f": lib.relukit_relu_array_f32, "d": lib.relukit_relu_array_f64}
_RELU_GRAD = {"f": lib.relukit_relu_grad_array_f32, "d": lib.relukit_relu_grad_array_f64}
_DENSE = {"f": lib.relukit_dense_forward_f32, "d": lib.relukit_dense_forward_f64}


def set_num_threads(n: int) -> None:
    """Let large C calls use ``n`` threads (called by :func:`relukit.set_num_threads`)."""
    lib.relukit_set_num_threads(n)


def get_num_threads() -> int:
    """The thread count the C kernels use now (what C holds)."""
    return int(lib.relukit_get_num_threads())


def _check(status: int, what: str) -> None:
    if status == lib.RELUKIT_EOVERLAP:
        raise ValueError(f"relukit C kernel {what}: the output overlaps an input")
    if status != lib.RELUKIT_OK:
        raise ValueError(f"relukit C kernel {what}: buffer lengths do not match (status {status})")


# --- the validated paths (inputs checked by relukit._validate) -------------------------------


def _elementwise(kernels: dict, x: np.ndarray, out: np.ndarray, what: str) -> None:
    code = x.dtype.char
    ctype = _CTYPE[code]
    try:  # the common case, both C-contiguous: from_buffer refuses anything else
        cx = ffi.from_buffer(ctype, x)
        cy = ffi.from_buffer(ctype, out)  # out is writeable: _validate checked
        finish = None
    except (ValueError, BufferError, TypeError):
        xf, yf, finish = flat_pair(x, out)
        cx = ffi.from_buffer(ctype, xf)
        cy = ffi.from_buffer(ctype, yf, require_writable=True)
    _check(kernels[code](cx, len(cx), cy, len(cy)), what)
    if finish is not None:
        finish()


def relu_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(_RELU, x, out, "relu")


def relu_grad_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(_RELU_GRAD, x, out, "relu_grad")


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    ctype = _CTYPE[x.dtype.char]
    cx, cw, cb = (ffi.from_buffer(ctype, a) for a in (x, w, b))
    cy = ffi.from_buffer(ctype, out, require_writable=True)
    batch, n_in = x.shape
    status = _DENSE[x.dtype.char](
        cx, len(cx), cw, len(cw), cb, len(cb), cy, len(cy), batch, n_in, w.shape[1]
    )
    _check(status, "dense_forward")


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
            if out is None:
                if x.nbytes <= copy_max:
                    y = x.copy("K")  # the layout empty_like(x) would have; any x
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
                if not x.flags.writeable:
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
# Dense keeps its weights and biases as C-contiguous arrays it owns and replaces them (never
# reallocates them) when they are assigned, so their data pointers are fixed for the arrays'
# lifetime. The cache maps id(w) to plain (non-owning) pointers into w and b, plus weak
# references to both whose callbacks drop the entry when either array dies: an entry present
# always belongs to live arrays, so id(w) cannot have been reused, and id(b) is compared to
# the id stored. Holding a weak reference also makes NumPy refuse w.resize() (even with
# refcheck=False), the one operation that could move a live array's data. In-place writes
# (layer.weights[...] = v) keep the buffer and are seen by C. Nothing is kept alive by the
# cache, and it is cleared when it reaches _CACHE_MAX entries.

_CACHE_MAX = 256
_dense_cache: dict[int, tuple] = {}


def _forget(key: int) -> Callable[[object], None]:
    def drop(_ref: object) -> None:
        _dense_cache.pop(key, None)

    return drop


def _dense_entry(w: np.ndarray, b: np.ndarray) -> tuple | None:
    """Build (and cache) the entry for the pair (w, b), or None if the fast path can't take it."""
    if type(w) is not np.ndarray or type(b) is not np.ndarray:
        return None
    dt = w.dtype
    if (dt is not _F32 and dt is not _F64) or b.dtype is not dt:
        return None
    if w.ndim != 2 or b.shape != (w.shape[1],):
        return None
    code = dt.char
    try:
        cw = ffi.from_buffer(_CTYPE[code], w)
        cb = ffi.from_buffer(_CTYPE[code], b)
    except (ValueError, BufferError, TypeError):
        return None
    if len(_dense_cache) >= _CACHE_MAX:
        _dense_cache.clear()
    key = id(w)
    drop = _forget(key)
    entry = (
        id(b),
        ffi.cast(_PTR[code], cw),
        len(cw),
        ffi.cast(_PTR[code], cb),
        len(cb),
        w.shape[0],
        w.shape[1],
        _DENSE[code],
        _CTYPE[code],
        dt,
        weakref.ref(w, drop),
        weakref.ref(b, drop),
    )
    _dense_cache[key] = entry
    return entry


def _make_dense_fast() -> Callable:
    cache_get, ndarray, from_buffer, empty = _dense_cache.get, np.ndarray, ffi.from_buffer, np.empty
    not_impl, refused = NotImplemented, (ValueError, BufferError, TypeError)

    def dense_fast(x: Any, w: np.ndarray, b: np.ndarray) -> Any:
        if type(x) is not ndarray:
            return not_impl
        e = cache_get(id(w))
        if e is None or e[0] != id(b):
            e = _dense_entry(w, b)
            if e is None:
                return not_impl
        _, pw, nw, pb, nb, n_in, n_out, kernel, ctype, dt, _, _ = e
        if x.dtype is not dt:
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


# ==== the ReLU family (relukit._family's protocol; contract in docs/activations.md) =========
#
# csrc/family.c: piecewise-linear kernels decide on bit patterns (AVX2 when available, the
# path relu uses); on float32 arrays sigmoid, tanh, elu and gelu_tanh (and their grads) run an
# AVX2+FMA kernel in float64 lanes, the other transcendental cases libm loops in double.
# Parameters arrive rounded to the array's dtype; cffi passes them to float/double unchanged.


def _family(name: str) -> dict:
    return {
        "f": getattr(lib, f"relukit_{name}_array_f32"),
        "d": getattr(lib, f"relukit_{name}_array_f64"),
    }


def _family_elementwise(kernels: dict, x: np.ndarray, out: np.ndarray, *params: float) -> None:
    """``_elementwise`` with the op's parameters after the buffers."""
    code = x.dtype.char
    ctype = _CTYPE[code]
    try:  # both C-contiguous: straight to C
        cx = ffi.from_buffer(ctype, x)
        cy = ffi.from_buffer(ctype, out, require_writable=True)
        finish = None
    except (ValueError, BufferError, TypeError):
        xf, yf, finish = flat_pair(x, out)
        cx = ffi.from_buffer(ctype, xf)
        cy = ffi.from_buffer(ctype, yf, require_writable=True)
    _check(kernels[code](cx, len(cx), cy, len(cy), *params), "family kernel")
    if finish is not None:
        finish()


def _family_array(name: str, n_params: int) -> Callable[..., None]:
    kernels = _family(name)

    def array(x: np.ndarray, out: np.ndarray, *params: float) -> None:
        _family_elementwise(kernels, x, out, *params[:n_params])

    array.__name__ = f"{name}_array"
    return array


leaky_relu_float = lib.relukit_leaky_relu_f64
leaky_relu_grad_float = lib.relukit_leaky_relu_grad_f64
hardtanh_float = lib.relukit_hardtanh_f64
hardtanh_grad_float = lib.relukit_hardtanh_grad_f64
threshold_float = lib.relukit_threshold_f64
elu_float = lib.relukit_elu_f64
elu_grad_float = lib.relukit_elu_grad_f64
gelu_float = lib.relukit_gelu_f64
gelu_grad_float = lib.relukit_gelu_grad_f64
gelu_tanh_float = lib.relukit_gelu_tanh_f64
gelu_tanh_grad_float = lib.relukit_gelu_tanh_grad_f64
sigmoid_float = lib.relukit_sigmoid_f64
sigmoid_grad_float = lib.relukit_sigmoid_grad_f64
tanh_float = lib.relukit_tanh_f64
tanh_grad_float = lib.relukit_tanh_grad_f64


def threshold_grad_float(x: float, th: float, value: float) -> float:
    return lib.relukit_threshold_grad_f64(x, th)  # the derivative does not depend on value


leaky_relu_array = _family_array("leaky_relu", 1)
leaky_relu_grad_array = _family_array("leaky_relu_grad", 1)
hardtanh_array = _family_array("hardtanh", 2)
hardtanh_grad_array = _family_array("hardtanh_grad", 2)
threshold_array = _family_array("threshold", 2)
threshold_grad_array = _family_array("threshold_grad", 1)
elu_array = _family_array("elu", 1)
elu_grad_array = _family_array("elu_grad", 1)
gelu_array = _family_array("gelu", 0)
gelu_grad_array = _family_array("gelu_grad", 0)
gelu_tanh_array = _family_array("gelu_tanh", 0)
gelu_tanh_grad_array = _family_array("gelu_tanh_grad", 0)
sigmoid_array = _family_array("sigmoid", 0)
sigmoid_grad_array = _family_array("sigmoid_grad", 0)
tanh_array = _family_array("tanh", 0)
tanh_grad_array = _family_array("tanh_grad", 0)

_PRELU = _family("prelu")
_PRELU_GRAD = _family("prelu_grad")


def _prelu(kernels: dict, x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    """The C kernel takes C-ordered (outer, channels, inner) buffers: copy x if needed, and
    go through a temporary when out is not C-contiguous."""
    code = x.dtype.char
    ctype = _CTYPE[code]
    xc = np.ascontiguousarray(x)
    target = out if out.flags.c_contiguous else np.empty_like(xc)
    cx = ffi.from_buffer(ctype, xc)
    cy = ffi.from_buffer(ctype, target, require_writable=True)
    cw = ffi.from_buffer(ctype, weight)
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
    ctype = _CTYPE[x.dtype.char]
    cx, cw, cb = (ffi.from_buffer(ctype, a) for a in (x, w, b))
    cy = ffi.from_buffer(ctype, out, require_writable=True)
    batch, n_in = x.shape
    status = _LINEAR[x.dtype.char](
        cx, len(cx), cw, len(cw), cb, len(cb), cy, len(cy), batch, n_in, w.shape[1]
    )
    _check(status, "linear_forward")


def _out_buffer(ctype: object, a: np.ndarray | None) -> tuple[object, int]:
    if a is None:
        return ffi.NULL, 0
    buf = ffi.from_buffer(ctype, a, require_writable=True)
    return buf, len(buf)


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    ctype = _CTYPE[x.dtype.char]
    cx, cw, cdy = (ffi.from_buffer(ctype, a) for a in (x, w, dy))
    batch, n_in = x.shape
    status = _BACKWARD[x.dtype.char](
        cx,
        len(cx),
        cw,
        len(cw),
        cdy,
        len(cdy),
        *_out_buffer(ctype, dx),
        *_out_buffer(ctype, dw),
        *_out_buffer(ctype, db),
        batch,
        n_in,
        w.shape[1],
    )
    _check(status, "dense_backward")

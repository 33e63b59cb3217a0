"""C backend: the kernels of csrc/ through the cffi module built into ``relukit._native``.

cffi releases the GIL around every call. Arrays reach C as one flat buffer each
(``ffi.from_buffer``: zero-copy for contiguous arrays); C checks the lengths before it
touches memory and reports a mismatch as a status, raised here as ValueError.
"""

from __future__ import annotations

import numpy as np

from relukit._native import c_kernels as _c
from relukit.backends._layout import flat_pair

NAME = "c"
ffi, lib = _c.ffi, _c.lib
_CTYPE = {"f": ffi.typeof("float[]"), "d": ffi.typeof("double[]")}  # parsed once

relu_float = lib.relukit_relu_f64
relu_int = lib.relukit_relu_i64
relu_grad_float = lib.relukit_relu_grad_f64
relu_grad_int = lib.relukit_relu_grad_i64

_RELU = {"f": lib.relukit_relu_array_f32, "d": lib.relukit_relu_array_f64}
_RELU_GRAD = {"f": lib.relukit_relu_grad_array_f32, "d": lib.relukit_relu_grad_array_f64}
_DENSE = {"f": lib.relukit_dense_forward_f32, "d": lib.relukit_dense_forward_f64}


def _check(status: int, what: str) -> None:
    if status != lib.RELUKIT_OK:
        raise ValueError(f"relukit C kernel {what}: buffer lengths do not match (status {status})")


def _elementwise(kernels: dict, x: np.ndarray, out: np.ndarray, what: str) -> None:
    code = x.dtype.char
    ctype = _CTYPE[code]
    try:  # the common case, both C-contiguous: from_buffer refuses anything else
        cx = ffi.from_buffer(ctype, x)
        cy = ffi.from_buffer(ctype, out, require_writable=True)
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


relu_fast = relu_grad_fast = dense_fast = None  # no fast paths (yet)


# ==== the ReLU family (relukit._family's protocol; contract in docs/activations.md) =========
#
# csrc/family.c: piecewise-linear kernels decide on bit patterns (AVX2 when available, the
# path relu uses); transcendental ones are libm loops in double. Parameters arrive rounded to
# the array's dtype and cffi passes them to the float/double arguments unchanged.

import math  # noqa: E402
from collections.abc import Callable  # noqa: E402


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

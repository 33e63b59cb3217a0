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
# Interim: the NumPy backend's family functions until the native kernels of the family land
# (the next commits replace this section).

from relukit._family import KERNELS as _FAMILY_KERNELS  # noqa: E402
from relukit.backends import numpy as _np_backend  # noqa: E402

for _k in _FAMILY_KERNELS:
    globals()[_k + "_float"] = getattr(_np_backend, _k + "_float")
    globals()[_k + "_array"] = getattr(_np_backend, _k + "_array")
prelu_array = _np_backend.prelu_array
prelu_grad_array = _np_backend.prelu_grad_array


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

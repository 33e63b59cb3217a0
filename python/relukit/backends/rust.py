"""Rust backend: relukit-kernels through the pyo3 module ``relukit._native``.

The validated-path functions borrow the NumPy arrays without copying, whatever their
layout, and release the GIL for large ones. The fast paths (``relu_fast``,
``relu_grad_fast``, ``dense_fast``) are the pyo3 functions themselves, so a facade call on
a plain float32/float64 array is one native call; they return ``NotImplemented`` for
anything they do not take (see ``relukit-py/src/lib.rs``, module ``fast``). Large calls are
split over a persistent pool of ``set_num_threads(n)`` threads (the caller included).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from relukit import _native as _rs

NAME = "rust"

relu_float = _rs.relu_float
relu_int = _rs.relu_int
relu_grad_float = _rs.relu_grad_float
relu_grad_int = _rs.relu_grad_int

_RELU = {"f": (_rs.relu_f32, _rs.relu_inplace_f32), "d": (_rs.relu_f64, _rs.relu_inplace_f64)}
_RELU_GRAD = {
    "f": (_rs.relu_grad_f32, _rs.relu_grad_inplace_f32),
    "d": (_rs.relu_grad_f64, _rs.relu_grad_inplace_f64),
}
_DENSE = {"f": _rs.dense_forward_f32, "d": _rs.dense_forward_f64}


def _elementwise(kernels: dict, x: np.ndarray, out: np.ndarray) -> None:
    outofplace, inplace = kernels[x.dtype.char]
    if out is x:
        inplace(x)  # one writeable borrow: rust-numpy refuses x and out borrowed together
    else:
        outofplace(x, out)


def relu_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(_RELU, x, out)


def relu_grad_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(_RELU_GRAD, x, out)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    _DENSE[x.dtype.char](x, w, b, out)


relu_fast = _rs.relu_fast
relu_grad_fast = _rs.relu_grad_fast
dense_fast = _rs.dense_fast

#: Called by relukit's thread setting (``relukit.set_num_threads``) at import and on change.
set_num_threads = _rs.set_num_threads


# ==== the ReLU family (relukit._family's protocol; contract in docs/activations.md) =========
#
# relukit-kernels' family.rs through relukit-py's family.rs: one function per dtype and form,
# the op chosen by a code (the table of relukit-py/src/family.rs), two parameters rounded to the
# dtype by the facade. Any layout is walked in place (ndarray views).


_FAMILY_CODES = {
    "leaky_relu": 0,
    "leaky_relu_grad": 1,
    "hardtanh": 2,
    "hardtanh_grad": 3,
    "threshold": 4,
    "threshold_grad": 5,
    "elu": 6,
    "elu_grad": 7,
    "gelu": 8,
    "gelu_grad": 9,
    "gelu_tanh": 10,
    "gelu_tanh_grad": 11,
    "sigmoid": 12,
    "sigmoid_grad": 13,
    "tanh": 14,
    "tanh_grad": 15,
}
_FAMILY = {
    "f": (_rs.family_f32, _rs.family_inplace_f32),
    "d": (_rs.family_f64, _rs.family_inplace_f64),
}
_PRELU = {"f": (_rs.prelu_f32, _rs.prelu_inplace_f32), "d": (_rs.prelu_f64, _rs.prelu_inplace_f64)}


def _family_kernels(code: int) -> tuple[Callable[..., float], Callable[..., None]]:
    family_float = _rs.family_float

    def scalar(x: float, p0: float = 0.0, p1: float = 0.0) -> float:
        return family_float(code, x, p0, p1)

    def array(x: np.ndarray, out: np.ndarray, p0: float = 0.0, p1: float = 0.0) -> None:
        outofplace, inplace = _FAMILY[x.dtype.char]
        if out is x:
            inplace(code, p0, p1, x)
        else:
            outofplace(code, p0, p1, x, out)

    return scalar, array


for _name, _code in _FAMILY_CODES.items():
    globals()[_name + "_float"], globals()[_name + "_array"] = _family_kernels(_code)


def _prelu(x: np.ndarray, out: np.ndarray, weight: np.ndarray, grad: bool) -> None:
    outofplace, inplace = _PRELU[x.dtype.char]
    if out is x:
        inplace(x, weight, grad)
    else:
        outofplace(x, weight, out, grad)


def prelu_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _prelu(x, out, weight, False)


def prelu_grad_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _prelu(x, out, weight, True)


# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------

_LINEAR = {"f": _rs.linear_forward_f32, "d": _rs.linear_forward_f64}
_BACKWARD = {"f": _rs.dense_backward_f32, "d": _rs.dense_backward_f64}


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    _LINEAR[x.dtype.char](x, w, b, out)


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    _BACKWARD[x.dtype.char](x, w, dy, dx, dw, db)

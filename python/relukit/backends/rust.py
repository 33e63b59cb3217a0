"""Rust backend: relukit-kernels through the pyo3 module ``relukit._native``.

The pyo3 functions borrow the NumPy arrays without copying, whatever their layout, and
release the GIL for large ones.
"""

from __future__ import annotations

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

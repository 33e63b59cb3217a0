"""Rust backend: relukit-kernels through the pyo3 module ``relukit._native``.

The validated-path functions borrow the NumPy arrays without copying, whatever their
layout, and release the GIL for large ones. The fast paths (``relu_fast``,
``relu_grad_fast``, ``dense_fast``) are the pyo3 functions themselves, so a facade call on
a plain float32/float64 array is one native call; they return ``NotImplemented`` for
anything they do not take (see ``relukit-py/src/lib.rs``, module ``fast``). Large calls are
split over a persistent pool of ``set_num_threads(n)`` threads (the caller included).
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


relu_fast = _rs.relu_fast
relu_grad_fast = _rs.relu_grad_fast
dense_fast = _rs.dense_fast

#: Called by relukit's thread setting (``relukit.set_num_threads``) at import and on change.
set_num_threads = _rs.set_num_threads

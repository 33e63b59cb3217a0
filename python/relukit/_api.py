"""The elementwise facade: one entry per op, dispatching to the resolved backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from relukit._backend import resolve
from relukit._validate import array_and_out, as_float_array, check_dtype, check_int

_NDARRAY = np.ndarray  # one global look-up on the hot path of relu_array


def _apply(
    x: Any,
    out: Any,
    f_float: Callable[[float], float],
    f_int: Callable[[int], int],
    f_array: Callable[[np.ndarray, np.ndarray], None],
) -> Any:
    """Run one op on a number or an array with the result type the contract promises."""
    t = type(x)
    if t is np.ndarray:
        x, out = array_and_out(check_dtype(x), out)
        f_array(x, out)
        return out
    if out is None:
        if t is float:
            return f_float(x)
        if t is int:
            return f_int(check_int(x))
        if isinstance(x, np.generic):  # NumPy scalar in, NumPy scalar of the same type out
            a = check_dtype(np.asarray(x), "NumPy scalar")
            res = np.empty_like(a)
            f_array(a, res)
            return res[()]
        if isinstance(x, bool):
            raise TypeError("relukit: bool is not a number here; use int(x) or float(x)")
        if isinstance(x, float):
            return f_float(float(x))
        if isinstance(x, int):
            return f_int(check_int(int(x)))
    elif isinstance(x, (int, float, np.generic)):
        raise TypeError("relukit: out= needs an array input, not a scalar")
    x, out = array_and_out(as_float_array(x), out)
    f_array(x, out)
    return out


def relu(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """ReLU, ``max(x, 0)``: NaN stays NaN, -0.0 and negatives become +0.0.

    ``x`` may be a Python float or int (same type back), a NumPy float32/float64 scalar or
    array (same dtype back), or an array-like (converted, integers to float64). ``out`` takes
    the result in place of a new array and may be ``x`` itself.
    """
    b = resolve(backend)
    fast = b.relu_fast
    if fast is not None:
        r = fast(x, out)
        if r is not NotImplemented:
            return r
    return _apply(x, out, b.relu_float, b.relu_int, b.relu_array)


def relu_array(
    arr: Any, *, out: np.ndarray | None = None, backend: str | None = None
) -> np.ndarray:
    """ReLU of an array-like, always returning an ndarray (the guide's ``relu_array``)."""
    b = resolve(backend)
    if type(arr) is not _NDARRAY:  # numbers and lists: an ndarray first (never a scalar back)
        return _apply(as_float_array(arr), out, b.relu_float, b.relu_int, b.relu_array)
    fast = b.relu_fast
    if fast is not None:
        r = fast(arr, out)
        if r is not NotImplemented:
            return r
    return _apply(arr, out, b.relu_float, b.relu_int, b.relu_array)


def relu_grad(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """Derivative of ReLU: 1 for x > 0, 0 for x <= 0 (0 at ±0.0, as PyTorch), NaN for NaN."""
    b = resolve(backend)
    fast = b.relu_grad_fast
    if fast is not None:
        r = fast(x, out)
        if r is not NotImplemented:
            return r
    return _apply(x, out, b.relu_grad_float, b.relu_grad_int, b.relu_grad_array)

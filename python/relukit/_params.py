"""The activations' parameter checks, in one place: every backend sees the same errors.

Each check takes the user's value (and the parameter's name, for the message) and returns it
normalised (a Python float, a string, a float64 array); :data:`relukit.ops.OPS` names the check
of each parameter.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any

import numpy as np

from relukit._validate import F64, to_array

_APPROXIMATE = ("none", "tanh")


def check_number(value: Any, name: str, *, finite: bool = True) -> float:
    """A real number parameter as a Python float.

    TypeError for anything that is not an int or float (bool, str, None, complex, arrays);
    ValueError for NaN, and for ±inf when ``finite`` (parameters that multiply x must be
    finite; bounds and thresholds, which are only compared and selected, may be infinite).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"relukit: {name} must be a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:
        raise ValueError(f"relukit: {name}={value!r} is too large for a float") from None
    if v != v:
        raise ValueError(f"relukit: {name} must not be NaN")
    if finite and math.isinf(v):
        raise ValueError(f"relukit: {name} must be finite, got {v!r}")
    return v


def check_beta(value: Any, name: str) -> float:
    """softplus's ``beta``: a finite number that is not zero, in float32 too (it divides)."""
    v = check_number(value, name)
    if v == 0.0:
        raise ValueError(f"relukit: {name} must not be zero (it divides)")
    if abs(v) <= 2.0**-150:
        raise ValueError(f"relukit: {name}={value!r} rounds to 0 in float32 (it divides)")
    return v


def check_bounds(min_val: Any, max_val: Any) -> tuple[float, float]:
    """hardtanh's bounds: numbers (±inf allowed), not NaN, ``min_val <= max_val``."""
    lo = check_number(min_val, "min_val", finite=False)
    hi = check_number(max_val, "max_val", finite=False)
    if lo > hi:
        raise ValueError(f"relukit: min_val={lo!r} must not be greater than max_val={hi!r}")
    return lo, hi


def check_approximate(approximate: Any) -> str:
    """gelu's ``approximate``: ``"none"`` (the exact erf form) or ``"tanh"``."""
    if not isinstance(approximate, str):
        raise TypeError(
            f"relukit: approximate must be 'none' or 'tanh', got {type(approximate).__name__}"
        )
    if approximate not in _APPROXIMATE:
        raise ValueError(f"relukit: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def cast_params(params: tuple[float, ...], dtype: np.dtype, names: tuple[str, ...]) -> tuple:
    """The parameters rounded to ``dtype`` (as PyTorch's ``Scalar.to<scalar_t>()``), as Python
    floats; ValueError if a finite parameter overflows the dtype."""
    if dtype == F64:
        return params
    rounded, overflow = _round32(params)
    if overflow >= 0:
        raise ValueError(f"relukit: {names[overflow]}={params[overflow]!r} overflows {dtype}")
    return rounded


_F32 = struct.Struct("f")


@functools.lru_cache(maxsize=512)
def _round32(params: tuple[float, ...]) -> tuple[tuple[float, ...], int]:
    """(each parameter rounded to float32, to nearest as a C cast; the index of the first finite
    parameter that became inf, or -1). Cached: layers call with the same parameters."""
    rounded = tuple(_F32.unpack(_F32.pack(p))[0] for p in params)
    for i, (p, r) in enumerate(zip(params, rounded, strict=True)):
        if math.isinf(r) and not math.isinf(p):
            return rounded, i
    return rounded, -1


def check_weight(weight: Any, x_shape: tuple[int, ...] | None) -> np.ndarray:
    """prelu's weight as a 1-D float64 array: a number or a 0-d/1-D array of real numbers, all
    finite; one element, or ``x.shape[1]`` elements when ``x.ndim >= 2`` (PyTorch: the channel
    axis is axis 1; an input with fewer than 2 dimensions has one channel).

    ``x_shape`` None means a scalar input (one channel).
    """
    w = to_array(weight, "weight")
    if w.dtype.kind not in "iuf":
        raise TypeError(f"relukit: prelu weight must hold real numbers, got dtype {w.dtype}")
    if w.ndim > 1:
        raise ValueError(f"relukit: prelu weight must be a number or 1-D, got shape {w.shape}")
    w = w.astype(F64).reshape(-1)
    if not np.all(np.isfinite(w)):
        raise ValueError("relukit: prelu weight must be finite (no NaN or inf)")
    channels = x_shape[1] if x_shape is not None and len(x_shape) >= 2 else 1
    if w.size not in (1, channels):
        where = (
            f"x.shape[1] = {channels}"
            if x_shape is not None and len(x_shape) >= 2
            else "x has no channel axis (ndim < 2), so 1"
        )
        raise ValueError(
            f"relukit: prelu weight has {w.size} elements; it needs 1 or the number of "
            f"channels ({where})"
        )
    return w

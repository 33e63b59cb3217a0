"""The ReLU family: leaky_relu, prelu, elu, gelu, relu6, hardtanh, threshold, sigmoid, tanh,
and the derivative of each under ``<op>_grad`` with the same parameters.

Every op goes through the facade's :func:`relukit._api._apply` (so scalars, dtypes, ``out=``,
in place, layouts and bad input behave exactly as for ``relu``), after its parameters are
checked here, in one place. The numeric contract of each op is in ``docs/activations.md``.

Backend protocol (each ``relukit/backends/<name>.py`` defines, in its family section):

- ``<k>_float(x: float, *params) -> float`` for a Python float, and
- ``<k>_array(x, out, *params) -> None`` under :func:`relukit._validate.array_and_out`'s
  guarantees, with every parameter a Python float already rounded to ``x``'s dtype,

for the kernels ``k`` in :data:`KERNELS`; and ``prelu_array(x, out, weight)`` /
``prelu_grad_array(x, out, weight)`` where ``weight`` is a C-contiguous 1-D array of ``x``'s
dtype with ``x.shape[1]`` entries (``x.ndim >= 2``): the per-channel slopes of axis 1. ``relu6``
is ``hardtanh`` with bounds 0 and 6 (as in PyTorch), and ``prelu`` with a one-element weight is
``leaky_relu`` with that slope, so they need no kernels of their own.

Python ints are accepted (within int64, as for ``relu``) and computed as floats: the family's
results are not integers in general, so an int in gives a float out.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from relukit._api import _apply
from relukit._backend import resolve
from relukit._validate import F64, array_and_out, as_float_array, check_dtype, to_array

#: Every elementwise kernel a backend provides for the family (``<k>_float``, ``<k>_array``).
KERNELS: tuple[str, ...] = (
    "leaky_relu",
    "leaky_relu_grad",
    "hardtanh",
    "hardtanh_grad",
    "threshold",
    "threshold_grad",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "gelu_tanh",
    "gelu_tanh_grad",
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
)

_APPROXIMATE = ("none", "tanh")

# ---- parameter checks (the one place for the family's parameter errors) -------------------


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


# ---- running one op -----------------------------------------------------------------------


def _run(
    x: Any,
    out: Any,
    backend: str | None,
    kernel: str,
    params: tuple[float, ...] = (),
    names: tuple[str, ...] = (),
) -> Any:
    """One elementwise kernel, parameters bound per dtype: an exact ndarray goes straight to
    the kernel after :func:`array_and_out` (the checks ``_apply`` makes for arrays); anything
    else through the facade's ``_apply``."""
    b = resolve(backend)
    f_array = getattr(b, kernel + "_array")
    if type(x) is np.ndarray:
        x, out = array_and_out(check_dtype(x), out)
        f_array(x, out, *cast_params(params, x.dtype, names))
        return out
    f_float = getattr(b, kernel + "_float")

    def on_array(a: np.ndarray, o: np.ndarray) -> None:
        f_array(a, o, *cast_params(params, a.dtype, names))

    return _apply(
        x,
        out,
        lambda v: f_float(v, *params),
        lambda i: f_float(float(i), *params),
        on_array,
    )


# ---- the ops ------------------------------------------------------------------------------


def leaky_relu(
    x: Any,
    negative_slope: float = 0.01,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Leaky ReLU: ``x`` for x > 0, else ``x * negative_slope`` (in x's dtype); NaN kept.

    As PyTorch: the slope is rounded to x's dtype first and may be any finite number.
    """
    s = check_number(negative_slope, "negative_slope")
    return _run(x, out, backend, "leaky_relu", (s,), ("negative_slope",))


def leaky_relu_grad(
    x: Any,
    negative_slope: float = 0.01,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Derivative of leaky_relu: 1 for x > 0, ``negative_slope`` for x <= 0 (at ±0.0 too, as
    PyTorch's ``leaky_relu_backward``); NaN for NaN."""
    s = check_number(negative_slope, "negative_slope")
    return _run(x, out, backend, "leaky_relu_grad", (s,), ("negative_slope",))


def _prelu(x: Any, weight: Any, out: Any, backend: str | None, grad: bool) -> Any:
    kernel = "leaky_relu_grad" if grad else "leaky_relu"
    if type(x) is not np.ndarray and isinstance(x, (int, float, np.generic)):
        w = check_weight(weight, None)
        return _run(x, out, backend, kernel, (float(w[0]),), ("weight",))
    a = x if type(x) is np.ndarray else as_float_array(x)
    w = check_weight(weight, a.shape)
    if w.size == 1 or a.ndim < 2:
        return _run(a, out, backend, kernel, (float(w[0]),), ("weight",))
    a, out = array_and_out(check_dtype(a), out)
    with np.errstate(over="ignore"):
        wt = w.astype(a.dtype)
    if not np.all(np.isfinite(wt)):
        raise ValueError(f"relukit: prelu weight overflows {a.dtype}")
    b = resolve(backend)
    (b.prelu_grad_array if grad else b.prelu_array)(a, out, wt)
    return out


def prelu(x: Any, weight: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """PReLU: ``x`` for x > 0, else ``weight[c] * x`` with c the channel (axis 1), as PyTorch.

    ``weight`` is a number or 1-D with 1 element (shared) or ``x.shape[1]`` elements; an input
    with fewer than 2 dimensions has one channel. The weight is rounded to x's dtype.
    """
    return _prelu(x, weight, out, backend, grad=False)


def prelu_grad(
    x: Any, weight: Any, *, out: np.ndarray | None = None, backend: str | None = None
) -> Any:
    """d prelu / dx: 1 for x > 0, ``weight[c]`` for x <= 0; NaN for NaN."""
    return _prelu(x, weight, out, backend, grad=True)


def prelu_weight_grad(x: Any, grad_out: Any, weight: Any) -> np.ndarray:
    """d loss / d weight of prelu, given ``grad_out`` = d loss / d prelu(x).

    ``sum(grad_out * x where x <= 0, else 0)`` over every axis but the channel axis 1 (over
    all axes for a one-element weight), as PyTorch's ``_prelu_kernel_backward``. Returns an
    array of the weight's shape in x's dtype; the sum is accumulated in float64 with NumPy
    (the same on every backend). A NaN in x or grad_out at x <= 0 gives NaN.
    """
    a = as_float_array(x)
    g = as_float_array(grad_out)
    if g.shape != a.shape:
        raise ValueError(f"relukit: grad_out has shape {g.shape}, x has {a.shape}")
    shape = np.shape(to_array(weight, "weight"))
    w = check_weight(weight, a.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        contrib = np.where(a > 0, 0.0, a.astype(F64) * g.astype(F64))
        if w.size == 1 or a.ndim < 2:
            total = np.array([contrib.sum()])
        else:
            axes = tuple(i for i in range(a.ndim) if i != 1)
            total = contrib.sum(axis=axes)
        return total.astype(a.dtype).reshape(shape)


def elu(
    x: Any,
    alpha: float = 1.0,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """ELU: ``x`` for x > 0, else ``alpha * (exp(x) - 1)`` (computed with expm1)."""
    a = check_number(alpha, "alpha")
    return _run(x, out, backend, "elu", (a,), ("alpha",))


def elu_grad(
    x: Any,
    alpha: float = 1.0,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Derivative of elu: 1 for x > 0, ``alpha * exp(x)`` for x <= 0 (``alpha`` at ±0.0, as
    PyTorch's ``elu_backward``)."""
    a = check_number(alpha, "alpha")
    return _run(x, out, backend, "elu_grad", (a,), ("alpha",))


def gelu(
    x: Any,
    approximate: str = "none",
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """GELU, ``x * Phi(x)``: ``approximate="none"`` uses the normal CDF (via erfc),
    ``"tanh"`` PyTorch's tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    kernel = "gelu" if check_approximate(approximate) == "none" else "gelu_tanh"
    return _run(x, out, backend, kernel)


def gelu_grad(
    x: Any,
    approximate: str = "none",
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Derivative of gelu (of the same ``approximate`` form)."""
    kernel = "gelu_grad" if check_approximate(approximate) == "none" else "gelu_tanh_grad"
    return _run(x, out, backend, kernel)


def relu6(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """ReLU6, ``min(max(x, 0), 6)``: PyTorch's ``hardtanh(x, 0, 6)`` (so -0.0 stays -0.0)."""
    return _run(x, out, backend, "hardtanh", (0.0, 6.0), ("min_val", "max_val"))


def relu6_grad(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """Derivative of relu6: 1 for 0 < x < 6, 0 elsewhere (0 at x = 0 and x = 6, as
    PyTorch's ``hardtanh_backward``); NaN for NaN."""
    return _run(x, out, backend, "hardtanh_grad", (0.0, 6.0), ("min_val", "max_val"))


def hardtanh(
    x: Any,
    min_val: float = -1.0,
    max_val: float = 1.0,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """HardTanh, PyTorch's clamp: ``min_val`` for x < min_val, ``max_val`` for x > max_val,
    else x itself (a tie keeps x, so ``hardtanh(-0.0, 0.0, 1.0)`` is -0.0); NaN kept."""
    lo, hi = check_bounds(min_val, max_val)
    return _run(x, out, backend, "hardtanh", (lo, hi), ("min_val", "max_val"))


def hardtanh_grad(
    x: Any,
    min_val: float = -1.0,
    max_val: float = 1.0,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Derivative of hardtanh: 1 for min_val < x < max_val, 0 elsewhere (0 at both bounds)."""
    lo, hi = check_bounds(min_val, max_val)
    return _run(x, out, backend, "hardtanh_grad", (lo, hi), ("min_val", "max_val"))


def threshold(
    x: Any,
    threshold: float,
    value: float,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Threshold, as PyTorch: ``x`` if x > threshold, else ``value``; NaN kept."""
    th = check_number(threshold, "threshold", finite=False)
    v = check_number(value, "value", finite=False)
    return _run(x, out, backend, "threshold", (th, v), ("threshold", "value"))


def threshold_grad(
    x: Any,
    threshold: float,
    value: float,
    *,
    out: np.ndarray | None = None,
    backend: str | None = None,
) -> Any:
    """Derivative of threshold: 1 for x > threshold, 0 for x <= threshold; NaN for NaN."""
    th = check_number(threshold, "threshold", finite=False)
    v = check_number(value, "value", finite=False)
    return _run(x, out, backend, "threshold_grad", (th, v), ("threshold", "value"))


def sigmoid(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow for any x."""
    return _run(x, out, backend, "sigmoid")


def sigmoid_grad(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """Derivative of sigmoid, ``sigmoid(x) * sigmoid(-x)`` (no cancellation for large |x|)."""
    return _run(x, out, backend, "sigmoid_grad")


def tanh(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """Hyperbolic tangent."""
    return _run(x, out, backend, "tanh")


def tanh_grad(x: Any, *, out: np.ndarray | None = None, backend: str | None = None) -> Any:
    """Derivative of tanh, ``1 - tanh(x)^2`` computed as ``4 e / (1 + e)^2``, e = exp(-2|x|)."""
    return _run(x, out, backend, "tanh_grad")


#: The family's public functions, by name (``<op>`` and ``<op>_grad``).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        leaky_relu,
        leaky_relu_grad,
        prelu,
        prelu_grad,
        elu,
        elu_grad,
        gelu,
        gelu_grad,
        relu6,
        relu6_grad,
        hardtanh,
        hardtanh_grad,
        threshold,
        threshold_grad,
        sigmoid,
        sigmoid_grad,
        tanh,
        tanh_grad,
    )
}

__all__ = [*FUNCTIONS, "prelu_weight_grad"]

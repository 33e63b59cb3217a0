"""relukit's op table: one row per public elementwise activation, everything else derived.

Each :class:`Op` row says what the op is called, its parameters (defaults and checks), its
docstring, the kernels every backend runs for it, its reference formula and what the
conformance check and the benchmark need (one :class:`Check` per conformance row), its
derivative's row and its ``relukit.nn`` module. Derived from :data:`OPS`:

- :data:`KERNELS` (kernel name -> the kernel's parameter names, in the order every backend's
  ``<kernel>_float(x, *params)`` and ``<kernel>_array(x, out, *params)`` take them);
- :data:`FUNCTIONS`: the facade functions (``relukit.leaky_relu`` ...), generated with real
  signatures and docstrings (:func:`relukit._api.make_function`), and so ``relukit.__all__``;
- the conformance rows (:mod:`relukit.conformance`), the benchmark's op list and the JSON
  schema's op enum (:mod:`relukit.bench`), the nn activation modules (:mod:`relukit.nn`).

A new elementwise op costs its kernels (C, Rust, NumPy, Python), one row here, one row of
``docs/activations.md`` and its tests. The numeric contract of each op is in
``docs/activations.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relukit import _reference as R
from relukit._params import check_approximate, check_beta, check_bounds, check_number

# ---- the row types ---------------------------------------------------------------------------


class _Required:
    """The default of a parameter without one."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


def finite(value: Any, name: str) -> float:
    """A finite real number (parameters that multiply x)."""
    return check_number(value, name)


def extended(value: Any, name: str) -> float:
    """A real number, ±inf allowed (bounds and thresholds: only compared and selected)."""
    return check_number(value, name, finite=False)


def approximation(value: Any, name: str) -> str:
    """gelu's ``approximate``: ``"none"`` or ``"tanh"``."""
    return check_approximate(value)


def nonzero(value: Any, name: str) -> float:
    """A finite real number that is not zero (softplus's ``beta``, which divides)."""
    return check_beta(value, name)


def array_like(value: Any, name: str) -> Any:
    """Passed on unchanged: prelu checks its weight against x's shape at call time."""
    return value


@dataclass(frozen=True)
class Param:
    """One parameter of an op: its name, default (or :data:`REQUIRED`), check and type."""

    name: str
    default: Any = REQUIRED
    check: Callable[[Any, str], Any] = finite
    annotation: Any = float


@dataclass(frozen=True)
class Check:
    """One conformance row (and one benchmark op) of an op.

    ``param_sets``: the keyword parameters checked (the first is the default, used by the
    benchmark); ``ref(x, **params)``: the reference, an array (bit-for-bit, ``ulps`` None) or
    a ``(value, exact, floor)`` tuple (within ``ulps``: per dtype, a number or a function of
    |x|); ``kinks(**params)``: the x where the op changes piece (edge vectors put values at and
    next to each); ``min_floor``: per dtype, the least floor of the ulp measure; ``numpy``:
    the plain NumPy spelling a user would write and how it is displayed (the benchmark's
    baseline, not bit-exact); ``ref_int``: the result for a Python int (ops with int results).
    """

    name: str
    param_sets: tuple[dict[str, Any], ...]
    ref: Callable[..., Any]
    numpy: tuple[Callable[..., np.ndarray], str]
    ulps: dict[str, Any] | None = None
    kinks: Callable[..., tuple[float, ...]] = lambda **_: (0.0,)
    min_floor: dict[str, float] | None = None
    ref_int: Callable[[int], int] | None = None


@dataclass(frozen=True)
class Op:
    """One public elementwise op (``relukit.<name>``).

    ``kernels``: kernel name -> its parameter names, for every kernel the op may run (each
    backend defines ``<kernel>_float`` and ``<kernel>_array``). ``select(*checked params)``
    picks the kernel and its float arguments; None means the op's one kernel with the op's
    parameters in order. ``constraint(*checked params)`` checks the parameters together.
    ``fast``: the op has an int kernel (``<name>_int``, an int result for an int) and an
    optional fast path (``<name>_fast``) that is tried first. ``run``: a custom
    implementation ``run(x, *params, out, backend)`` (prelu's per-channel weight).
    ``module``: the ``relukit.nn`` class name; ``grad``: the derivative's row.
    """

    name: str
    doc: str
    params: tuple[Param, ...] = ()
    kernels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    select: Callable[..., tuple[str, tuple[float, ...]]] | None = None
    constraint: Callable[..., None] | None = None
    fast: bool = False
    run: str | None = None
    module: str | None = None
    grad: str | None = None


# ---- the plain NumPy spellings (the benchmark's baselines) -----------------------------------

_K_BETA, _K_KAPPA = 0.7978845608028654, 0.044715  # sqrt(2/pi), tanh-GELU's cubic coefficient


def _np_erfc(x: np.ndarray) -> np.ndarray:
    from relukit.backends._erfc import erfc

    return erfc(x)


def _np_gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + (1.0 - _np_erfc(x * 0.7071067811865476)))).astype(x.dtype)


def _np_gelu_grad(x: np.ndarray) -> np.ndarray:
    cdf = 0.5 * _np_erfc(-x * 0.7071067811865476)
    return (cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)).astype(x.dtype)


def _np_gelu_tanh(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1 + np.tanh(_K_BETA * (x + _K_KAPPA * x**3)))).astype(x.dtype)


def _np_gelu_tanh_grad(x: np.ndarray) -> np.ndarray:
    t = np.tanh(_K_BETA * (x + _K_KAPPA * x**3))
    du = _K_BETA * (1 + 3 * _K_KAPPA * x * x)
    return (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du).astype(x.dtype)


def _np_sigmoid_grad(x: np.ndarray) -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    return (s * (1 - s)).astype(x.dtype)


def _np_silu_grad(x: np.ndarray) -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    return (s * (1 + x * (1 - s))).astype(x.dtype)


def _np_softplus(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    b = x.dtype.type(beta)
    return np.where(x * b > threshold, x, np.log1p(np.exp(x * b)) / b).astype(x.dtype)


def _np_softplus_grad(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    b = x.dtype.type(beta)
    return np.where(x * b > threshold, 1, 1 / (1 + np.exp(-x * b))).astype(x.dtype)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _np_selu(x: np.ndarray) -> np.ndarray:
    neg = _SELU_SCALE * _SELU_ALPHA * (np.exp(x) - 1)
    return np.where(x > 0, _SELU_SCALE * x, neg).astype(x.dtype)


def _np_selu_grad(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, _SELU_SCALE, _SELU_SCALE * _SELU_ALPHA * np.exp(x)).astype(x.dtype)


def _np_mish_grad(x: np.ndarray) -> np.ndarray:
    t = np.tanh(np.log1p(np.exp(x)))
    s = 1 / (1 + np.exp(-x))
    return (t + x * s * (1 - t * t)).astype(x.dtype)


def _np_hardswish_grad(x: np.ndarray) -> np.ndarray:
    return np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1)).astype(x.dtype)


def _one_or(x: np.ndarray, keep: np.ndarray, other: Any) -> np.ndarray:
    return np.where(keep, x.dtype.type(1), x.dtype.type(other))


# ---- conformance parameters and bounds -------------------------------------------------------


def _ulps(f32: float, f64: Any) -> dict[str, Any]:
    return {"float32": f32, "float64": f64}


def _per_u(base: float, per_u: float) -> Callable[[np.ndarray], np.ndarray]:
    """A bound growing with |u(x)| = sqrt(2/pi) (|x| + 0.044715 |x|^3): the rounding of u,
    amplified by sigmoid(2u)'s steepness, in tanh-GELU's negative tail (|x| capped at 40,
    beyond which the results are exact)."""

    def bound(ax: np.ndarray) -> np.ndarray:
        a = np.minimum(ax, 40.0)
        return base + per_u * _K_BETA * (a + _K_KAPPA * a**3)

    return bound


#: float64 GELU near underflow: errors measured against 2^-1016 at least, i.e. an absolute
#: error of 4 ulp there is 2^-1066 (~2.5e-321) -- the subnormal rounding of exp's result,
#: multiplied by x, for x < -37 where the result is below the normal range anyway.
_GELU_FLOOR = {"float64": 2.0**-1016}

#: float64 silu, mish and their derivatives for x < -708, where exp(x) is subnormal: its
#: absolute rounding error (2^-1075) times |x| (< 2^9.6) is measured against 2^-1012 at least
#: (0.35 ulp there) instead of against the subnormal result.
_SUB_FLOOR = {"float64": 2.0**-1012}

_SLOPES = ({"negative_slope": 0.01}, {"negative_slope": 0.2}, {"negative_slope": -1.5})
_ALPHAS = ({"alpha": 1.0}, {"alpha": 0.3})
_WEIGHTS = ({"weight": 0.25}, {"weight": [0.25, -0.1, 0.0, 3.0]})
_BOUNDS = ({"min_val": -1.0, "max_val": 1.0}, {"min_val": -0.1, "max_val": 2.5})
_THRESHOLDS = ({"threshold": 0.1, "value": 20.0}, {"threshold": -1.0, "value": -0.0})
_NONE, _TANH = ({"approximate": "none"},), ({"approximate": "tanh"},)


_SOFTPLUS = (
    {"beta": 1.0, "threshold": 20.0},
    {"beta": 2.0, "threshold": 5.0},
    {"beta": -0.5, "threshold": 20.0},
)


def _softplus_kinks(beta: float, threshold: float) -> tuple[float, ...]:
    return (threshold / beta, 0.0)


def _hard_kinks() -> tuple[float, ...]:
    return (-3.0, 3.0, 0.0)


def _relu6_kinks() -> tuple[float, ...]:
    return (0.0, 6.0)


def _bounds_kinks(min_val: float, max_val: float) -> tuple[float, ...]:
    return (min_val, max_val)


def _threshold_kinks(threshold: float, value: float) -> tuple[float, ...]:
    return (threshold, value)


def _gelu_kernel(suffix: str) -> Callable[[str], tuple[str, tuple[float, ...]]]:
    def select(approximate: str) -> tuple[str, tuple[float, ...]]:
        return ("gelu" if approximate == "none" else "gelu_tanh") + suffix, ()

    return select


# ---- the table -------------------------------------------------------------------------------

_SLOPE = Param("negative_slope", 0.01)
_ALPHA = Param("alpha", 1.0)
_MIN, _MAX = Param("min_val", -1.0, extended), Param("max_val", 1.0, extended)
_THRESHOLD, _VALUE = Param("threshold", check=extended), Param("value", check=extended)
_APPROX = Param("approximate", "none", approximation, str)
_BETA = Param("beta", 1.0, nonzero)
_SP_THRESHOLD = Param("threshold", 20.0, extended)
_WEIGHT = Param("weight", check=array_like, annotation=Any)
_BOUNDED = ("min_val", "max_val")

OPS: tuple[Op, ...] = (
    Op(
        "relu",
        """ReLU, ``max(x, 0)``: NaN stays NaN, -0.0 and negatives become +0.0.

    ``x`` may be a Python float or int (same type back), a NumPy float32/float64 scalar or
    array (same dtype back), or an array-like (converted, integers to float64). ``out`` takes
    the result in place of a new array and may be ``x`` itself.
    """,
        kernels={"relu": ()},
        checks=(
            Check(
                "relu",
                ({},),
                R.ref_relu,
                (lambda x: np.maximum(x, 0), "np.maximum(x, 0)"),
                ref_int=lambda i: max(i, 0),
            ),
        ),
        fast=True,
        module="ReLU",
        grad="relu_grad",
    ),
    Op(
        "relu_grad",
        """Derivative of ReLU: 1 for x > 0, 0 for x <= 0 (0 at ±0.0, as PyTorch), NaN for NaN.

    Takes the same inputs as :func:`relu` (an int gives an int).
    """,
        kernels={"relu_grad": ()},
        checks=(
            Check(
                "relu_grad",
                ({},),
                R.ref_relu_grad,
                (lambda x: (x > 0).astype(x.dtype), "(x > 0).astype"),
                ref_int=lambda i: int(i > 0),
            ),
        ),
        fast=True,
    ),
    Op(
        "leaky_relu",
        """Leaky ReLU: ``x`` for x > 0, else ``x * negative_slope`` (in x's dtype); NaN kept.

    As PyTorch: the slope is rounded to x's dtype first and may be any finite number.
    """,
        (_SLOPE,),
        {"leaky_relu": ("negative_slope",)},
        (
            Check(
                "leaky_relu",
                _SLOPES,
                R.ref_leaky_relu,
                (
                    lambda x, negative_slope: np.where(x > 0, x, x * x.dtype.type(negative_slope)),
                    "np.where(x > 0, x, x * negative_slope)",
                ),
            ),
        ),
        module="LeakyReLU",
        grad="leaky_relu_grad",
    ),
    Op(
        "leaky_relu_grad",
        """Derivative of leaky_relu: 1 for x > 0, ``negative_slope`` for x <= 0 (at ±0.0 too,
    as PyTorch's ``leaky_relu_backward``); NaN for NaN.""",
        (_SLOPE,),
        {"leaky_relu_grad": ("negative_slope",)},
        (
            Check(
                "leaky_relu_grad",
                _SLOPES,
                R.ref_leaky_relu_grad,
                (
                    lambda x, negative_slope: _one_or(x, x > 0, negative_slope),
                    "np.where(x > 0, 1, negative_slope)",
                ),
            ),
        ),
    ),
    Op(
        "prelu",
        """PReLU: ``x`` for x > 0, else ``weight[c] * x`` with c the channel (axis 1), as
    PyTorch.

    ``weight`` is a number or 1-D with 1 element (shared) or ``x.shape[1]`` elements; an input
    with fewer than 2 dimensions has one channel. The weight is rounded to x's dtype.
    """,
        (_WEIGHT,),
        {"leaky_relu": ("negative_slope",)},
        (
            Check(
                "prelu",
                _WEIGHTS,
                R.ref_prelu,
                (
                    lambda x, weight: np.where(x > 0, x, x * x.dtype.type(np.ravel(weight)[0])),
                    "np.where(x > 0, x, x * weight)",
                ),
            ),
        ),
        run="prelu",
        module="PReLU",
        grad="prelu_grad",
    ),
    Op(
        "prelu_grad",
        """d prelu / dx: 1 for x > 0, ``weight[c]`` for x <= 0; NaN for NaN.""",
        (_WEIGHT,),
        {"leaky_relu_grad": ("negative_slope",)},
        (
            Check(
                "prelu_grad",
                _WEIGHTS,
                R.ref_prelu_grad,
                (
                    lambda x, weight: _one_or(x, x > 0, np.ravel(weight)[0]),
                    "np.where(x > 0, 1, weight)",
                ),
            ),
        ),
        run="prelu_grad",
    ),
    Op(
        "relu6",
        """ReLU6, ``min(max(x, 0), 6)``: PyTorch's ``hardtanh(x, 0, 6)`` (so -0.0 stays -0.0).""",
        kernels={"hardtanh": _BOUNDED},
        checks=(
            Check(
                "relu6",
                ({},),
                R.ref_relu6,
                (lambda x: np.clip(x, 0, 6), "np.clip(x, 0, 6)"),
                kinks=_relu6_kinks,
            ),
        ),
        select=lambda: ("hardtanh", (0.0, 6.0)),
        module="ReLU6",
        grad="relu6_grad",
    ),
    Op(
        "relu6_grad",
        """Derivative of relu6: 1 for 0 < x < 6, 0 elsewhere (0 at x = 0 and x = 6, as
    PyTorch's ``hardtanh_backward``); NaN for NaN.""",
        kernels={"hardtanh_grad": _BOUNDED},
        checks=(
            Check(
                "relu6_grad",
                ({},),
                R.ref_relu6_grad,
                (lambda x: ((x > 0) & (x < 6)).astype(x.dtype), "((x > 0) & (x < 6)).astype"),
                kinks=_relu6_kinks,
            ),
        ),
        select=lambda: ("hardtanh_grad", (0.0, 6.0)),
    ),
    Op(
        "hardtanh",
        """HardTanh, PyTorch's clamp: ``min_val`` for x < min_val, ``max_val`` for x > max_val,
    else x itself (a tie keeps x, so ``hardtanh(-0.0, 0.0, 1.0)`` is -0.0); NaN kept.""",
        (_MIN, _MAX),
        {"hardtanh": _BOUNDED},
        (
            Check(
                "hardtanh",
                _BOUNDS,
                R.ref_hardtanh,
                (
                    lambda x, min_val, max_val: np.clip(x, min_val, max_val),
                    "np.clip(x, min_val, max_val)",
                ),
                kinks=_bounds_kinks,
            ),
        ),
        constraint=check_bounds,
        module="Hardtanh",
        grad="hardtanh_grad",
    ),
    Op(
        "hardtanh_grad",
        """Derivative of hardtanh: 1 for min_val < x < max_val, 0 elsewhere (0 at both
    bounds); NaN for NaN.""",
        (_MIN, _MAX),
        {"hardtanh_grad": _BOUNDED},
        (
            Check(
                "hardtanh_grad",
                _BOUNDS,
                R.ref_hardtanh_grad,
                (
                    lambda x, min_val, max_val: ((x > min_val) & (x < max_val)).astype(x.dtype),
                    "((x > min_val) & (x < max_val)).astype",
                ),
                kinks=_bounds_kinks,
            ),
        ),
        constraint=check_bounds,
    ),
    Op(
        "threshold",
        """Threshold, as PyTorch: ``x`` if x > threshold, else ``value``; NaN kept.""",
        (_THRESHOLD, _VALUE),
        {"threshold": ("threshold", "value")},
        (
            Check(
                "threshold",
                _THRESHOLDS,
                R.ref_threshold,
                (
                    lambda x, threshold, value: np.where(x > threshold, x, value).astype(x.dtype),
                    "np.where(x > threshold, x, value)",
                ),
                kinks=_threshold_kinks,
            ),
        ),
        module="Threshold",
        grad="threshold_grad",
    ),
    Op(
        "threshold_grad",
        """Derivative of threshold: 1 for x > threshold, 0 for x <= threshold; NaN for NaN
    (``value`` does not change it).""",
        (_THRESHOLD, _VALUE),
        {"threshold_grad": ("threshold", "value")},
        (
            Check(
                "threshold_grad",
                _THRESHOLDS,
                R.ref_threshold_grad,
                (
                    lambda x, threshold, value: (x > threshold).astype(x.dtype),
                    "(x > threshold).astype",
                ),
                kinks=_threshold_kinks,
            ),
        ),
    ),
    Op(
        "elu",
        """ELU: ``x`` for x > 0, else ``alpha * (exp(x) - 1)`` (computed with expm1).""",
        (_ALPHA,),
        {"elu": ("alpha",)},
        (
            Check(
                "elu",
                _ALPHAS,
                R.ref_elu,
                (
                    lambda x, alpha: np.where(x > 0, x, alpha * (np.exp(x) - 1)).astype(x.dtype),
                    "np.where(x > 0, x, alpha * (np.exp(x) - 1))",
                ),
                ulps=_ulps(1, 2),
            ),
        ),
        module="ELU",
        grad="elu_grad",
    ),
    Op(
        "elu_grad",
        """Derivative of elu: 1 for x > 0, ``alpha * exp(x)`` for x <= 0 (``alpha`` at ±0.0, as
    PyTorch's ``elu_backward``).""",
        (_ALPHA,),
        {"elu_grad": ("alpha",)},
        (
            Check(
                "elu_grad",
                _ALPHAS,
                R.ref_elu_grad,
                (
                    lambda x, alpha: np.where(x > 0, 1, alpha * np.exp(x)).astype(x.dtype),
                    "np.where(x > 0, 1, alpha * np.exp(x))",
                ),
                ulps=_ulps(1, 2),
            ),
        ),
    ),
    Op(
        "gelu",
        """GELU, ``x * Phi(x)``: ``approximate="none"`` uses the normal CDF (via erfc),
    ``"tanh"`` PyTorch's tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """,
        (_APPROX,),
        {"gelu": (), "gelu_tanh": ()},
        (
            Check(
                "gelu",
                _NONE,
                R.ref_gelu,
                (lambda x, approximate: _np_gelu(x), "0.5 x (1 + erf(x / sqrt 2)) (erfc)"),
                ulps=_ulps(1, 6),
                min_floor=_GELU_FLOOR,
            ),
            Check(
                "gelu_tanh",
                _TANH,
                R.ref_gelu_tanh,
                (
                    lambda x, approximate: _np_gelu_tanh(x),
                    "0.5 x (1 + np.tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
                ),
                ulps=_ulps(1, _per_u(4, 8)),
            ),
        ),
        select=_gelu_kernel(""),
        module="GELU",
        grad="gelu_grad",
    ),
    Op(
        "gelu_grad",
        """Derivative of gelu (of the same ``approximate`` form).""",
        (_APPROX,),
        {"gelu_grad": (), "gelu_tanh_grad": ()},
        (
            Check(
                "gelu_grad",
                _NONE,
                R.ref_gelu_grad,
                (lambda x, approximate: _np_gelu_grad(x), "Phi(x) + x phi(x) (erfc, exp)"),
                ulps=_ulps(1, 6),
                min_floor=_GELU_FLOOR,
            ),
            Check(
                "gelu_tanh_grad",
                _TANH,
                R.ref_gelu_tanh_grad,
                (
                    lambda x, approximate: _np_gelu_tanh_grad(x),
                    "0.5 (1 + t) + 0.5 x (1 - t^2) u'(x), t = np.tanh(u(x))",
                ),
                ulps=_ulps(1, _per_u(4, 8)),
            ),
        ),
        select=_gelu_kernel("_grad"),
    ),
    Op(
        "sigmoid",
        """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow for any x.""",
        kernels={"sigmoid": ()},
        checks=(
            Check(
                "sigmoid",
                ({},),
                R.ref_sigmoid,
                (lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype), "1 / (1 + np.exp(-x))"),
                ulps=_ulps(1, 4),
            ),
        ),
        module="Sigmoid",
        grad="sigmoid_grad",
    ),
    Op(
        "sigmoid_grad",
        """Derivative of sigmoid, ``sigmoid(x) * sigmoid(-x)`` (no cancellation for large
    |x|).""",
        kernels={"sigmoid_grad": ()},
        checks=(
            Check(
                "sigmoid_grad",
                ({},),
                R.ref_sigmoid_grad,
                (_np_sigmoid_grad, "s (1 - s), s = 1 / (1 + np.exp(-x))"),
                ulps=_ulps(1, 8),
            ),
        ),
    ),
    Op(
        "tanh",
        """Hyperbolic tangent.""",
        kernels={"tanh": ()},
        checks=(Check("tanh", ({},), R.ref_tanh, (np.tanh, "np.tanh(x)"), ulps=_ulps(1, 3)),),
        module="Tanh",
        grad="tanh_grad",
    ),
    Op(
        "tanh_grad",
        """Derivative of tanh, ``1 - tanh(x)^2`` computed as ``4 e / (1 + e)^2``,
    e = exp(-2|x|).""",
        kernels={"tanh_grad": ()},
        checks=(
            Check(
                "tanh_grad",
                ({},),
                R.ref_tanh_grad,
                (lambda x: (1 - np.tanh(x) ** 2).astype(x.dtype), "1 - np.tanh(x) ** 2"),
                ulps=_ulps(1, 8),
            ),
        ),
    ),
    Op(
        "silu",
        """SiLU (swish), ``x * sigmoid(x)``; ``silu(-inf)`` is -0.0 (the limit).""",
        kernels={"silu": ()},
        checks=(
            Check(
                "silu",
                ({},),
                R.ref_silu,
                (lambda x: (x / (1 + np.exp(-x))).astype(x.dtype), "x / (1 + np.exp(-x))"),
                ulps=_ulps(1, 4),
                min_floor=_SUB_FLOOR,
            ),
        ),
        module="SiLU",
        grad="silu_grad",
    ),
    Op(
        "silu_grad",
        """Derivative of silu, ``s + x s (1 - s)`` with s = sigmoid(x), computed as
    ``s + x e / (1 + e)^2``, e = exp(-|x|) (PyTorch's ``silu_backward``; 0 at -inf, 1 at +inf).""",
        kernels={"silu_grad": ()},
        checks=(
            Check(
                "silu_grad",
                ({},),
                R.ref_silu_grad,
                (_np_silu_grad, "s (1 + x (1 - s)), s = 1 / (1 + np.exp(-x))"),
                ulps=_ulps(1, 8),
                min_floor=_SUB_FLOOR,
            ),
        ),
    ),
    Op(
        "softplus",
        """Softplus, as PyTorch: ``x`` where ``beta * x > threshold`` (the product in x's
    dtype), else ``log1p(exp(beta * x)) / beta`` (computed as ``(max(z, 0) + log1p(exp(-|z|)))
    / beta``, z = beta x, so no overflow for a large threshold). ``beta`` must be nonzero.""",
        (_BETA, _SP_THRESHOLD),
        {"softplus": ("beta", "threshold")},
        (
            Check(
                "softplus",
                _SOFTPLUS,
                R.ref_softplus,
                (
                    lambda x, beta, threshold: _np_softplus(x, beta, threshold),
                    "np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)",
                ),
                ulps=_ulps(1, 4),
                kinks=_softplus_kinks,
            ),
        ),
        module="Softplus",
        grad="softplus_grad",
    ),
    Op(
        "softplus_grad",
        """Derivative of softplus: 1 where ``beta * x > threshold``, else ``sigmoid(beta * x)``
    (PyTorch's ``softplus_backward``).""",
        (_BETA, _SP_THRESHOLD),
        {"softplus_grad": ("beta", "threshold")},
        (
            Check(
                "softplus_grad",
                _SOFTPLUS,
                R.ref_softplus_grad,
                (
                    lambda x, beta, threshold: _np_softplus_grad(x, beta, threshold),
                    "np.where(x * beta > threshold, 1, 1 / (1 + np.exp(-x * beta)))",
                ),
                ulps=_ulps(1, 4),
                kinks=_softplus_kinks,
            ),
        ),
    ),
    Op(
        "selu",
        """SELU: ``scale * x`` for x > 0, else ``scale * alpha * expm1(x)`` (+0.0 at ±0.0),
    with PyTorch's alpha = 1.6732632423543772848170429916717 and
    scale = 1.0507009873554804934193349852946.""",
        kernels={"selu": ()},
        checks=(
            Check(
                "selu",
                ({},),
                R.ref_selu,
                (_np_selu, "np.where(x > 0, scale * x, scale * alpha * (np.exp(x) - 1))"),
                ulps=_ulps(1, 3),
            ),
        ),
        module="SELU",
        grad="selu_grad",
    ),
    Op(
        "selu_grad",
        """Derivative of selu: ``scale`` for x > 0, ``scale * alpha * exp(x)`` for x <= 0
    (``scale * alpha`` at ±0.0, as PyTorch's ``elu_backward``).""",
        kernels={"selu_grad": ()},
        checks=(
            Check(
                "selu_grad",
                ({},),
                R.ref_selu_grad,
                (_np_selu_grad, "np.where(x > 0, scale, scale * alpha * np.exp(x))"),
                ulps=_ulps(1, 3),
            ),
        ),
    ),
    Op(
        "mish",
        """Mish, ``x * tanh(softplus(x))``, computed as ``x * n / (n + 2)`` with
    n = e (e + 2), e = exp(x), rewritten in e = exp(-|x|) for x > 0 (no overflow, no log);
    ``mish(-inf)`` is -0.0 (the limit).""",
        kernels={"mish": ()},
        checks=(
            Check(
                "mish",
                ({},),
                R.ref_mish,
                (
                    lambda x: (x * np.tanh(np.log1p(np.exp(x)))).astype(x.dtype),
                    "x * np.tanh(np.log1p(np.exp(x)))",
                ),
                ulps=_ulps(1, 6),
                min_floor=_SUB_FLOOR,
            ),
        ),
        module="Mish",
        grad="mish_grad",
    ),
    Op(
        "mish_grad",
        """Derivative of mish, ``t + x sigmoid(x) (1 - t^2)`` with t = tanh(softplus(x))
    (PyTorch's ``mish_backward``), ``1 - t^2`` computed without cancellation.""",
        kernels={"mish_grad": ()},
        checks=(
            Check(
                "mish_grad",
                ({},),
                R.ref_mish_grad,
                (_np_mish_grad, "t + x s (1 - t^2), t = np.tanh(np.log1p(np.exp(x)))"),
                ulps=_ulps(1, 8),
                min_floor=_SUB_FLOOR,
            ),
        ),
    ),
    Op(
        "hardswish",
        """Hardswish, ``x * relu6(x + 3) / 6`` with PyTorch's arithmetic: -0.0 for x <= -3
    (PyTorch's ``x * 0 / 6``), x for x >= 3, else ``(x * (x + 3)) / 6``, each step in x's
    dtype; NaN kept.""",
        kernels={"hardswish": ()},
        checks=(
            Check(
                "hardswish",
                ({},),
                R.ref_hardswish,
                (lambda x: x * np.clip(x + 3, 0, 6) / 6, "x * np.clip(x + 3, 0, 6) / 6"),
                kinks=_hard_kinks,
            ),
        ),
        module="Hardswish",
        grad="hardswish_grad",
    ),
    Op(
        "hardswish_grad",
        """Derivative of hardswish, as PyTorch's ``hardswish_backward``: 0 for x < -3,
    ``x / 3 + 0.5`` for -3 <= x <= 3 (so -0.5 at x = -3 and 1.5 at x = 3), 1 for x > 3.""",
        kernels={"hardswish_grad": ()},
        checks=(
            Check(
                "hardswish_grad",
                ({},),
                R.ref_hardswish_grad,
                (_np_hardswish_grad, "np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1))"),
                kinks=_hard_kinks,
            ),
        ),
    ),
    Op(
        "hardsigmoid",
        """Hardsigmoid, ``relu6(x + 3) / 6``: +0.0 for x <= -3, 1 for x >= 3, else
    ``(x + 3) / 6`` in x's dtype; NaN kept.""",
        kernels={"hardsigmoid": ()},
        checks=(
            Check(
                "hardsigmoid",
                ({},),
                R.ref_hardsigmoid,
                (lambda x: np.clip(x + 3, 0, 6) / 6, "np.clip(x + 3, 0, 6) / 6"),
                kinks=_hard_kinks,
            ),
        ),
        module="Hardsigmoid",
        grad="hardsigmoid_grad",
    ),
    Op(
        "hardsigmoid_grad",
        """Derivative of hardsigmoid: 1/6 (in x's dtype) for -3 < x < 3, else 0 (0 at both
    kinks, as PyTorch's ``hardsigmoid_backward``).""",
        kernels={"hardsigmoid_grad": ()},
        checks=(
            Check(
                "hardsigmoid_grad",
                ({},),
                R.ref_hardsigmoid_grad,
                (
                    lambda x: np.where((x > -3) & (x < 3), x.dtype.type(1 / 6), 0).astype(x.dtype),
                    "np.where((x > -3) & (x < 3), 1 / 6, 0)",
                ),
                kinks=_hard_kinks,
            ),
        ),
    ),
)

#: The rows by name.
BY_NAME: dict[str, Op] = {op.name: op for op in OPS}


def _kernels() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for op in OPS:
        for kernel, names in op.kernels.items():
            if table.setdefault(kernel, names) != names:
                raise AssertionError(
                    f"kernel {kernel!r}: {op.name} says {names}, not {table[kernel]}"
                )
    return table


#: Every elementwise kernel a backend provides: name -> its parameter names, in order.
KERNELS: dict[str, tuple[str, ...]] = _kernels()


def _checks() -> tuple[tuple[Op, Check], ...]:
    """The conformance rows in table order, each forward row followed by its derivative's row
    of the same parameters (gelu, gelu_grad, gelu_tanh, gelu_tanh_grad)."""
    rows: list[tuple[Op, Check]] = []
    for op in OPS:
        if op.fast or any(op.name == other.grad for other in OPS):
            continue  # relu's rows are checked apart; a derivative comes after its op
        grad = BY_NAME[op.grad] if op.grad else None
        for check in op.checks:
            rows.append((op, check))
            if grad is not None:
                rows += [(grad, c) for c in grad.checks if c.param_sets == check.param_sets]
    return tuple(rows)


#: Every conformance row (and benchmark op) of the activations without int kernels.
CHECKS: tuple[tuple[Op, Check], ...] = _checks()

#: The nn module class names (forward ops only).
MODULES: dict[str, str] = {op.module: op.name for op in OPS if op.module}


def _functions() -> dict[str, Callable[..., Any]]:
    from relukit._api import make_function

    return {op.name: make_function(op) for op in OPS}


#: The facade functions, by op name (``relukit.<name>``).
FUNCTIONS: dict[str, Callable[..., Any]] = _functions()


# ---- the type stub of the generated functions ------------------------------------------------

#: What the stub of :data:`FUNCTIONS` (``relukit/_functions.pyi``) starts with.
_STUB_HEADER = '''\
"""Types of the functions relukit.ops generates (relukit.relu, relukit.leaky_relu, ...).

Generated from the op table by relukit.ops.stub_source(): `make stubs` rewrites this file.
"""

from typing import Any, TypeVar, overload

import numpy as np
import numpy.typing as npt

_F = TypeVar("_F", bound=np.floating[Any])
_A = TypeVar("_A", bound=np.ndarray[Any, Any])

__all__ = [{names}]
'''


_STUB_TYPES = {float: "float", int: "int", str: "str"}


def _stub_params(op: Op) -> str:
    parts = []
    for p in op.params:
        ann = _STUB_TYPES.get(p.annotation, "Any")
        parts.append(f"{p.name}: {ann}" if p.default is REQUIRED else f"{p.name}: {ann} = ...")
    return "".join(f", {part}" for part in parts)


def stub_source() -> str:
    """The text of ``relukit/_functions.pyi``: for every op, overloads for the scalar/array
    contract (a NumPy float scalar gives the same type; an int gives an int for the ops with
    int kernels, a float for the others; a float gives a float; an ndarray gives an ndarray of
    its dtype; ``out=`` gives ``out``; any other array-like gives an ndarray)."""
    tail = ", backend: str | None = None"
    blocks = [_STUB_HEADER.format(names=", ".join(repr(op.name) for op in OPS))]
    for op in OPS:
        p = _stub_params(op)
        sigs = [f"(x: _F{p}, *, out: None = None{tail}) -> _F"]
        sigs.append(f"(x: int{p}, *, out: None = None{tail}) -> {'int' if op.fast else 'float'}")
        sigs.append(f"(x: float{p}, *, out: None = None{tail}) -> float")
        sigs.append(f"(x: npt.NDArray[_F]{p}, *, out: None = None{tail}) -> npt.NDArray[_F]")
        sigs.append(f"(x: npt.ArrayLike{p}, *, out: _A{tail}) -> _A")
        sigs.append(f"(x: npt.ArrayLike{p}, *, out: None = None{tail}) -> npt.NDArray[Any]")
        blocks.append("".join(f"@overload\ndef {op.name}{sig}: ...\n" for sig in sigs))
    return "\n".join(blocks)


def write_stub(path: str) -> None:
    """Write :func:`stub_source` to ``path`` (``make stubs``: ``relukit/_functions.pyi``)."""
    from pathlib import Path

    Path(path).write_text(stub_source())

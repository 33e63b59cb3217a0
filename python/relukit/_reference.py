"""Reference formulas of every activation: independent of every backend and of the facade.

The piecewise-linear references work on bit patterns (NumPy integer ops and selections, no
float compare) and multiply with NumPy in the array's dtype: bit for bit what the contract
says. The smooth references return ``(value, exact, floor)`` computed in long double (80-bit
on x86-64; math.erfc with a long-double argument correction for the erf-based GELU): value,
where the result must equal value rounded to the dtype bit for bit, and a magnitude below
which errors are measured in ulps of the floor instead of the value (the size of the terms of
a sum that cancels, else 0). :mod:`relukit.conformance` judges results against them.

Every array built here has an explicit dtype: NumPy 1.x and 2.x promote Python and NumPy
scalars differently, and the references must give the same bits under both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

_UINT = {4: np.uint32, 8: np.uint64}


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(_UINT[x.dtype.itemsize])


def _parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bits, negative, nan) of a float array."""
    bits = _bits(np.ascontiguousarray(x))
    width = 8 * x.dtype.itemsize
    sign = bits.dtype.type(1) << bits.dtype.type(width - 1)
    inf_bits = _bits(np.array(np.inf, x.dtype).reshape(1))[0]
    magnitude = bits & ~sign
    return bits, (bits & sign) != 0, magnitude > inf_bits


def ref_relu(x: np.ndarray) -> np.ndarray:
    """x where the sign bit is clear or x is NaN, else +0.0: the contract on bit patterns."""
    bits, negative, nan = _parts(x)
    res = np.zeros_like(bits)  # +0.0, in the bits' own unsigned dtype
    keep = ~negative | nan
    res[keep] = bits[keep]
    return res.view(x.dtype).reshape(x.shape)


def ref_relu_grad(x: np.ndarray) -> np.ndarray:
    """x for NaN, 1 for x > 0 (sign clear, not +0.0), else +0.0."""
    bits, negative, nan = _parts(x)
    one = _bits(np.ones(1, x.dtype))[0]
    positive = ~negative & (bits != 0)
    res = np.zeros_like(bits)  # the unsigned dtype throughout (no np.where promotion)
    res[positive] = one
    res[nan] = bits[nan]
    return res.view(x.dtype).reshape(x.shape)


def ref_scalar(ref: Callable[[np.ndarray], np.ndarray], x: float) -> float:
    return float(ref(np.array([x]))[0])


LD = np.longdouble
_SQRT1_2_LD = LD("0.707106781186547524400844362104849039")
_TWO_OVER_SQRTPI_LD = LD("1.12837916709551257389615890312154517")
_INV_SQRT_2PI_LD = LD("0.398942280401432677939946059934381868")
_BETA_LD = LD("0.797884560802865355879892119868763737")  # sqrt(2/pi)
_KAPPA_LD = LD("0.044715")


def _keys(x: np.ndarray) -> np.ndarray:
    """Monotone int64 keys of the values (-0.0 and +0.0 share key 0); NaNs get meaningless
    keys, so callers mask them out."""
    bits, negative, _ = _parts(x)
    width = 8 * x.dtype.itemsize
    mag = (bits & ~(bits.dtype.type(1) << bits.dtype.type(width - 1))).astype(np.int64)
    return np.where(negative, -mag, mag).reshape(x.shape)


def _key(value: float, dtype: np.dtype) -> int:
    return int(_keys(np.array([value], dtype))[0])


def _nan_mask(x: np.ndarray) -> np.ndarray:
    return _parts(x)[2].reshape(x.shape)


def _param(value: float, dtype: np.dtype) -> Any:
    """A parameter rounded to the dtype (as the facade does), as a NumPy scalar."""
    with np.errstate(over="ignore"):
        return np.dtype(dtype).type(value)


def _select(x: np.ndarray, keep: np.ndarray, other: Any) -> np.ndarray:
    """x (exact bits) where keep, else other (an array or scalar of x's dtype)."""
    other = np.broadcast_to(np.asarray(other, dtype=x.dtype), x.shape)
    return np.where(keep, x, other)


def _grad_values(x: np.ndarray, nan: np.ndarray, values: Any) -> np.ndarray:
    """NaN where x is NaN (x's bits), else the given values in x's dtype."""
    return _select(x, nan, np.asarray(values, dtype=x.dtype))


def ref_leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    return _ref_leaky(x, _param(negative_slope, x.dtype))


def ref_leaky_relu_grad(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    return _ref_leaky_grad(x, _param(negative_slope, x.dtype))


def _ref_leaky(x: np.ndarray, slopes: Any) -> np.ndarray:
    nan = _nan_mask(x)
    with np.errstate(all="ignore"):
        product = np.multiply(x, slopes, dtype=x.dtype)
    return _select(x, nan | (_keys(x) > 0), product)


def _ref_leaky_grad(x: np.ndarray, slopes: Any) -> np.ndarray:
    nan = _nan_mask(x)
    slopes = np.broadcast_to(np.asarray(slopes, dtype=x.dtype), x.shape)
    return _grad_values(x, nan, np.where(_keys(x) > 0, x.dtype.type(1), slopes))


def _channel_weight(x: np.ndarray, weight: Any) -> Any:
    w = np.asarray(weight, dtype=np.float64).reshape(-1).astype(x.dtype)
    if w.size == 1 or x.ndim < 2:
        return w[0]
    return w.reshape((1, -1) + (1,) * (x.ndim - 2))


def ref_prelu(x: np.ndarray, weight: Any = 0.25) -> np.ndarray:
    return _ref_leaky(x, _channel_weight(x, weight))


def ref_prelu_grad(x: np.ndarray, weight: Any = 0.25) -> np.ndarray:
    return _ref_leaky_grad(x, _channel_weight(x, weight))


def ref_hardtanh(x: np.ndarray, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    k = _keys(x)
    nan = _nan_mask(x)
    lo, hi = _param(min_val, x.dtype), _param(max_val, x.dtype)
    y = _select(x, nan | (k >= _key(lo, x.dtype)), lo)
    return _select(y, nan | (k <= _key(hi, x.dtype)), hi)


def ref_hardtanh_grad(x: np.ndarray, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    k = _keys(x)
    lo, hi = _key(_param(min_val, x.dtype), x.dtype), _key(_param(max_val, x.dtype), x.dtype)
    return _grad_values(x, _nan_mask(x), (k > lo) & (k < hi))


def ref_relu6(x: np.ndarray) -> np.ndarray:
    return ref_hardtanh(x, 0.0, 6.0)


def ref_relu6_grad(x: np.ndarray) -> np.ndarray:
    return ref_hardtanh_grad(x, 0.0, 6.0)


def ref_threshold(x: np.ndarray, threshold: float = 0.0, value: float = 0.0) -> np.ndarray:
    above = _keys(x) > _key(_param(threshold, x.dtype), x.dtype)
    return _select(x, _nan_mask(x) | above, _param(value, x.dtype))


def ref_threshold_grad(x: np.ndarray, threshold: float = 0.0, value: float = 0.0) -> np.ndarray:
    above = _keys(x) > _key(_param(threshold, x.dtype), x.dtype)
    return _grad_values(x, _nan_mask(x), above)


# -- transcendental references: (value, exact, floor) in long double ----------------------------
#
# value: the function at x (long double); exact: where the result must equal value rounded to
# the dtype bit for bit; floor: a magnitude below which errors are measured in ulps of the
# floor instead of the value (the size of the terms of a sum that cancels, else 0).


def _ld(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # a signalling NaN is quieted (and ignored)
        return x.astype(LD)


def _special(x: np.ndarray) -> np.ndarray:
    """Where the contract gives exact results for every transcendental op: ±0.0, ±inf."""
    with np.errstate(invalid="ignore"):
        return (x == 0) | np.isinf(x)


def ref_elu(x: np.ndarray, alpha: float = 1.0) -> tuple:
    a = LD(_param(alpha, x.dtype))
    xl = _ld(x)
    with np.errstate(all="ignore"):
        value = np.where(xl > 0, xl, a * (np.expm1(xl) + LD(0)))
    return value, _special(x) | (_keys(x) > 0), np.zeros_like(xl)


def ref_elu_grad(x: np.ndarray, alpha: float = 1.0) -> tuple:
    a = LD(_param(alpha, x.dtype))
    xl = _ld(x)
    with np.errstate(all="ignore"):
        value = np.where(xl > 0, LD(1), a * np.exp(xl))
    return value, _special(x) | (_keys(x) > 0), np.zeros_like(xl)


def ref_sigmoid(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        value = LD(1) / (LD(1) + np.exp(-xl))
    return value, _special(x), np.zeros_like(xl)


def ref_sigmoid_grad(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(xl))
        value = e / ((LD(1) + e) * (LD(1) + e))
    return value, _special(x), np.zeros_like(xl)


def ref_tanh(x: np.ndarray) -> tuple:
    xl = _ld(x)
    return np.tanh(xl), _special(x), np.zeros_like(xl)


def ref_tanh_grad(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        e = np.exp(LD(-2) * np.abs(xl))
        value = LD(4) * e / ((LD(1) + e) * (LD(1) + e))
    return value, _special(x), np.zeros_like(xl)


def _erfc_ld(z: np.ndarray) -> np.ndarray:
    """erfc of a long-double argument: math.erfc at z rounded to float64, corrected to first
    order for the part of z that rounding dropped (erfc' = -2/sqrt(pi) exp(-z^2))."""
    hi = z.astype(np.float64)
    finite = np.isfinite(hi)
    lo = np.where(finite, z - hi.astype(LD), LD(0))
    base = np.array([math.erfc(v) for v in hi.ravel().tolist()], dtype=LD).reshape(z.shape)
    with np.errstate(all="ignore"):
        slope = _TWO_OVER_SQRTPI_LD * np.exp(-(hi.astype(LD) ** 2))
        return base - np.where(finite, slope * lo, LD(0))


def ref_gelu(x: np.ndarray, approximate: str = "none") -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        cdf = LD(0.5) * _erfc_ld(-xl * _SQRT1_2_LD)
        value = np.where(np.isneginf(xl), LD(-0.0), xl * cdf)
    return value, _special(x), np.zeros_like(xl)


def ref_gelu_grad(x: np.ndarray, approximate: str = "none") -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        cdf = LD(0.5) * _erfc_ld(-xl * _SQRT1_2_LD)
        xpdf = xl * _INV_SQRT_2PI_LD * np.exp(LD(-0.5) * xl * xl)
        xpdf = np.where(np.isinf(xl), LD(0), xpdf)
        value = cdf + xpdf
    return value, _special(x), np.abs(cdf) + np.abs(xpdf)


def _sigmoid2_ld(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid(2u), sigmoid(2u) * sigmoid(-2u)) in long double."""
    e = np.exp(LD(-2) * np.abs(u))
    d = LD(1) + e
    return np.where(u >= 0, LD(1), e) / d, e / (d * d)


def ref_gelu_tanh(x: np.ndarray, approximate: str = "tanh") -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        s, _ = _sigmoid2_ld(_BETA_LD * (xl + _KAPPA_LD * xl * xl * xl))
        value = np.where(np.isneginf(xl), LD(-0.0), xl * s)
    return value, _special(x), np.zeros_like(xl)


def ref_gelu_tanh_grad(x: np.ndarray, approximate: str = "tanh") -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        s, ss = _sigmoid2_ld(_BETA_LD * (xl + _KAPPA_LD * xl * xl * xl))
        du = _BETA_LD * (LD(1) + LD(3) * _KAPPA_LD * xl * xl)
        term = LD(2) * xl * du * ss
        term = np.where(np.isinf(xl) | (ss == 0), LD(0), term)
        value = s + term
    return value, _special(x), np.abs(s) + np.abs(term)


# -- the family PyTorch users reach for: silu, softplus, selu, mish (smooth), hardswish and
# hardsigmoid (piecewise: bit-level, the dtype's own arithmetic) ------------------------------

SELU_ALPHA_LD = LD("1.6732632423543772848170429916717")
SELU_SCALE_LD = LD("1.0507009873554804934193349852946")


def _sigmoid_ld(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, LD(1), e) / (LD(1) + e)


def ref_silu(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        value = np.where(np.isneginf(xl), LD(-0.0), xl * _sigmoid_ld(xl))
    return value, _special(x), np.zeros_like(xl)


def ref_silu_grad(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        s, sn = _sigmoid_ld(xl), _sigmoid_ld(-xl)
        term = np.where(np.isinf(xl), LD(0), xl * s * sn)
        value = s + term
    return value, _special(x), np.abs(s) + np.abs(term)


def _softplus_linear(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    """Where softplus takes x itself: beta * x > threshold, the product in x's dtype."""
    with np.errstate(all="ignore"):
        z = np.multiply(x, _param(beta, x.dtype), dtype=x.dtype)
        return z > _param(threshold, x.dtype)


def ref_softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> tuple:
    xl = _ld(x)
    b = LD(_param(beta, x.dtype))
    linear = _softplus_linear(x, beta, threshold)
    with np.errstate(all="ignore"):
        z = xl * b
        sp = np.maximum(z, LD(0)) + np.log1p(np.exp(-np.abs(z)))
        value = np.where(linear, xl, sp / b)
    return value, linear | np.isinf(x), np.zeros_like(xl)


def ref_softplus_grad(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> tuple:
    xl = _ld(x)
    b = LD(_param(beta, x.dtype))
    linear = _softplus_linear(x, beta, threshold)
    with np.errstate(all="ignore"):
        value = np.where(linear, LD(1), _sigmoid_ld(xl * b))
    return value, linear | np.isinf(x), np.zeros_like(xl)


def ref_selu(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        neg = SELU_SCALE_LD * SELU_ALPHA_LD * (np.expm1(xl) + LD(0))
        value = np.where(xl > 0, SELU_SCALE_LD * xl, neg)
        # beyond the dtype's range the result is the rounding itself (inf, or max): exact
        overflow = np.abs(value) > LD(np.finfo(x.dtype).max)
        value = np.where(overflow, value.astype(x.dtype).astype(LD), value)
    return value, _special(x) | overflow, np.zeros_like(xl)


def ref_selu_grad(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        value = np.where(xl > 0, SELU_SCALE_LD, SELU_SCALE_LD * SELU_ALPHA_LD * np.exp(xl))
    return value, np.isinf(x), np.zeros_like(xl)


def _tanh_softplus_ld(xl: np.ndarray) -> np.ndarray:
    return np.tanh(np.maximum(xl, LD(0)) + np.log1p(np.exp(-np.abs(xl))))


def ref_mish(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        value = np.where(np.isneginf(xl), LD(-0.0), xl * _tanh_softplus_ld(xl))
    return value, _special(x), np.zeros_like(xl)


def ref_mish_grad(x: np.ndarray) -> tuple:
    xl = _ld(x)
    with np.errstate(all="ignore"):
        t = _tanh_softplus_ld(xl)
        e = np.exp(-np.abs(xl))
        # 1 - t^2 without cancellation: 4 w (1 + w)^2 ... written with e = exp(-|x|)
        den = np.where(xl > 0, LD(1) + 2 * e + 2 * e * e, e * (e + 2) + 2)
        one_minus_t2 = np.where(xl > 0, 4 * e * e, LD(4)) * (LD(1) + e) ** 2 / (den * den)
        term = np.where(np.isinf(xl), LD(0), xl * _sigmoid_ld(xl) * one_minus_t2)
        value = t + term
    return value, _special(x), np.abs(t) + np.abs(term)


def _hard_keys(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    k = _keys(x)
    return k, _nan_mask(x), _key(-3.0, x.dtype), _key(3.0, x.dtype)


def ref_hardswish(x: np.ndarray) -> np.ndarray:
    """-0.0 for x <= -3, x for x >= 3, else (x * (x + 3)) / 6 in x's dtype; NaN kept."""
    k, nan, k_lo, k_hi = _hard_keys(x)
    t = x.dtype.type
    with np.errstate(all="ignore"):
        mid = np.divide(np.multiply(x, np.add(x, t(3), dtype=x.dtype), dtype=x.dtype), t(6))
    y = np.where(k <= k_lo, t(-0.0), mid.astype(x.dtype))
    return _select(x, nan | (k >= k_hi), y)


def ref_hardswish_grad(x: np.ndarray) -> np.ndarray:
    """+0.0 for x < -3, x / 3 + 0.5 for -3 <= x <= 3 (PyTorch's hardswish_backward: -0.5 at
    x = -3, 1.5 at x = 3), 1 for x > 3; NaN kept."""
    k, nan, k_lo, k_hi = _hard_keys(x)
    t = x.dtype.type
    with np.errstate(all="ignore"):
        mid = np.add(np.divide(x, t(3), dtype=x.dtype), t(0.5), dtype=x.dtype)
    y = np.where(k < k_lo, t(0), np.where(k > k_hi, t(1), mid))
    return _select(x, nan, y.astype(x.dtype))


def ref_hardsigmoid(x: np.ndarray) -> np.ndarray:
    """+0.0 for x <= -3, 1 for x >= 3, else (x + 3) / 6 in x's dtype; NaN kept."""
    k, nan, k_lo, k_hi = _hard_keys(x)
    t = x.dtype.type
    with np.errstate(all="ignore"):
        mid = np.divide(np.add(x, t(3), dtype=x.dtype), t(6), dtype=x.dtype)
    y = np.where(k <= k_lo, t(0), np.where(k >= k_hi, t(1), mid))
    return _select(x, nan, y.astype(x.dtype))


def ref_hardsigmoid_grad(x: np.ndarray) -> np.ndarray:
    """1/6 (rounded to x's dtype) for -3 < x < 3, else +0.0; NaN kept."""
    k, nan, k_lo, k_hi = _hard_keys(x)
    t = x.dtype.type
    y = np.where((k > k_lo) & (k < k_hi), t(1) / t(6), t(0))
    return _select(x, nan, y.astype(x.dtype))

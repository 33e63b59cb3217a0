"""NumPy backend: ufuncs, written to the numeric contract.

``np.maximum(x, 0)`` is exactly the contract for relu (NaN kept, -0.0 -> +0.0); the argument
order matters, ``np.maximum(0, x)`` keeps -0.0. Scalars are of x's dtype throughout, so NumPy
1.x and 2.x pick the same loops.
"""

from __future__ import annotations

import numpy as np

NAME = "numpy"


def relu_float(x: float) -> float:
    return float(np.maximum(x, 0.0))


def relu_int(x: int) -> int:
    return int(np.maximum(np.int64(x), 0))


def relu_grad_float(x: float) -> float:
    return x if x != x else float(x > 0.0)


def relu_grad_int(x: int) -> int:
    return int(x > 0)


def relu_array(x: np.ndarray, out: np.ndarray) -> None:
    # a zero of x's dtype: NumPy 1.x would run the Python int 0 through a float64 loop for a
    # float32 x, which quiets a signalling NaN on the way
    np.maximum(x, x.dtype.type(0), out=out)


def relu_grad_array(x: np.ndarray, out: np.ndarray) -> None:
    nan = np.isnan(x)
    positive = np.greater(x, x.dtype.type(0))
    np.copyto(out, x, where=nan)  # NaN propagates with its bits (a no-op in place)
    np.copyto(out, positive, where=~nan)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.matmul(x, w, out=out)
    out += b
    np.maximum(out, out.dtype.type(0), out=out)


relu_fast = relu_grad_fast = dense_fast = None  # the facade's validated path only


# ==== the other activations (the kernels of relukit.ops.KERNELS; contract: docs/activations.md)
#
# Piecewise-linear ops select with NumPy compares and copyto (NaN bits copied, never computed)
# and multiply in the array's dtype: bit for bit the same as every other backend. The
# transcendental ops compute float32 through float64 (one rounding at the end) with np.exp,
# np.expm1, np.tanh and the fdlibm erfc of ``_erfc``; NaN inputs are copied through.

from collections.abc import Callable  # noqa: E402

from relukit.backends._erfc import erfc as _erfc  # noqa: E402

_SQRT1_2 = 0.7071067811865476  # 1/sqrt(2) rounded to float64 ...
_SQRT1_2_LO = -4.833646656726457e-17  # ... and what that rounding dropped
_TWO_OVER_SQRTPI = 1.1283791670955126  # 2/sqrt(pi)
_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's splitter for float64
_INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2 pi)
_BETA = 0.7978845608028654  # sqrt(2/pi)
_KAPPA = 0.044715
_KAPPA3 = 3.0 * _KAPPA
_GELU_CUT = 40.0  # |x| beyond which gelu and its derivatives are exactly saturated


def _nan_scalar(f: Callable[..., np.ndarray]) -> Callable[..., float]:
    """A scalar kernel that passes NaN through (the exact object) and computes f otherwise."""

    def g(x: float, *params: float) -> float:
        if x != x:
            return x
        with np.errstate(all="ignore"):
            return float(f(np.float64(x), *params))

    return g


def _via_f64(x: np.ndarray, out: np.ndarray, f: Callable[..., np.ndarray], *params: float) -> None:
    """out = f(x) computed in float64 and rounded once to x's dtype; NaN bits copied."""
    nan = np.isnan(x)
    with np.errstate(all="ignore"):
        xd = x.astype(np.float64)
        r = np.asarray(f(xd, *params), dtype=np.float64)
        if nan.any():
            r = r.astype(x.dtype)
            r[nan] = x[nan]  # fancy indexing copies the bytes: NaN payloads kept
        np.copyto(out, r, casting="unsafe")


# -- piecewise linear ------------------------------------------------------------------------


def _leaky(x: np.ndarray, out: np.ndarray, slopes: np.ndarray | float) -> None:
    keep = ~np.less_equal(x, x.dtype.type(0))  # x > 0 or NaN: x itself (np.where copies its bits)
    with np.errstate(all="ignore"):
        product = np.multiply(x, slopes)
    np.copyto(out, np.where(keep, x, product))


def _leaky_grad(x: np.ndarray, out: np.ndarray, slopes: np.ndarray | float) -> None:
    grad = np.where(np.greater(x, x.dtype.type(0)), x.dtype.type(1), slopes)
    np.copyto(out, np.where(np.isnan(x), x, grad))


def leaky_relu_float(x: float, slope: float) -> float:
    return x if x > 0.0 or x != x else x * slope


def leaky_relu_grad_float(x: float, slope: float) -> float:
    return x if x != x else (1.0 if x > 0.0 else slope)


def leaky_relu_array(x: np.ndarray, out: np.ndarray, slope: float) -> None:
    _leaky(x, out, x.dtype.type(slope))


def leaky_relu_grad_array(x: np.ndarray, out: np.ndarray, slope: float) -> None:
    _leaky_grad(x, out, x.dtype.type(slope))


def _channel_slopes(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """weight[c] broadcast along axis 1 of x."""
    return weight.reshape((1, -1) + (1,) * (x.ndim - 2))


def prelu_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _leaky(x, out, _channel_slopes(x, weight))


def prelu_grad_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _leaky_grad(x, out, _channel_slopes(x, weight))


def hardtanh_float(x: float, lo: float, hi: float) -> float:
    if x < lo:
        return lo
    return hi if x > hi else x


def hardtanh_grad_float(x: float, lo: float, hi: float) -> float:
    return x if x != x else float(lo < x < hi)


def hardtanh_array(x: np.ndarray, out: np.ndarray, lo: float, hi: float) -> None:
    lo_, hi_ = x.dtype.type(lo), x.dtype.type(hi)  # compares are False for NaN: x kept
    np.copyto(out, np.where(np.less(x, lo_), lo_, np.where(np.greater(x, hi_), hi_, x)))


def hardtanh_grad_array(x: np.ndarray, out: np.ndarray, lo: float, hi: float) -> None:
    inside = np.greater(x, x.dtype.type(lo)) & np.less(x, x.dtype.type(hi))
    np.copyto(out, np.where(np.isnan(x), x, inside.astype(x.dtype)))


def threshold_float(x: float, th: float, value: float) -> float:
    return value if x <= th else x


def threshold_grad_float(x: float, th: float, value: float) -> float:
    return x if x != x else float(x > th)


def threshold_array(x: np.ndarray, out: np.ndarray, th: float, value: float) -> None:
    np.copyto(out, np.where(np.less_equal(x, x.dtype.type(th)), x.dtype.type(value), x))


def threshold_grad_array(x: np.ndarray, out: np.ndarray, th: float, value: float) -> None:
    above = np.greater(x, x.dtype.type(th)).astype(x.dtype)
    np.copyto(out, np.where(np.isnan(x), x, above))


# -- transcendental (float64 formulas; the same ones in every backend) ------------------------


def _elu(x: np.ndarray, alpha: float) -> np.ndarray:
    # + 0.0 turns expm1(-0.0) = -0.0 into +0.0, as PyTorch's (exp(x) - 1) * alpha
    return np.where(x > 0, x, alpha * (np.expm1(x) + 0.0))


def _elu_grad(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, 1.0, alpha * np.exp(x))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _sigmoid_grad(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    d = 1.0 + e
    return e / (d * d)


def _tanh_grad(x: np.ndarray) -> np.ndarray:
    e = np.exp(-2.0 * np.abs(x))
    d = 1.0 + e
    return 4.0 * e / (d * d)


def _two_prod(a: np.ndarray, b: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(p, e) with p = fl(a*b) and p + e = a*b exactly (Dekker; C and Rust use fma), for
    |a| <= 40 as here (no overflow in the split)."""
    p = a * b
    t = _SPLIT * a
    a1 = t - (t - a)
    a2 = a - a1
    t = _SPLIT * b
    b1 = t - (t - b)
    b2 = b - b1
    return p, ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2


def _erfc_scaled(xc: np.ndarray) -> np.ndarray:
    """erfc(-xc/sqrt(2)) for |xc| <= 40: erfc at z = fl(-xc/sqrt(2)), corrected to first order
    for the rounding of z (erfc' = -2/sqrt(pi) exp(-z^2)). Without it the rounding of z,
    amplified by erfc's steepness, costs up to ~1.5 x^2 ulp in the far negative tail."""
    n = -xc
    z, zerr = _two_prod(n, _SQRT1_2)
    zerr = zerr + n * _SQRT1_2_LO
    return _erfc(z) - _TWO_OVER_SQRTPI * np.exp(-z * z) * zerr


def _gelu(x: np.ndarray) -> np.ndarray:
    xc = np.clip(x, -_GELU_CUT, _GELU_CUT)
    return np.where(x < -_GELU_CUT, -0.0, (0.5 * x) * _erfc_scaled(xc))


def _gelu_grad(x: np.ndarray) -> np.ndarray:
    xc = np.clip(x, -_GELU_CUT, _GELU_CUT)
    cdf = 0.5 * _erfc_scaled(xc)
    sq, sqerr = _two_prod(xc, xc)  # x^2 = sq + sqerr exactly: exp(-x^2/2) without its rounding
    pdf = _INV_SQRT_2PI * (np.exp(-0.5 * sq) * (1.0 - 0.5 * sqerr))
    return cdf + xc * pdf


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    u = _BETA * (x + _KAPPA * (x * x * x))
    e = np.exp(-2.0 * np.abs(u))
    s = np.where(u >= 0, 1.0, e) / (1.0 + e)
    return np.where(x < -_GELU_CUT, -0.0, x * s)


def _gelu_tanh_grad(x: np.ndarray) -> np.ndarray:
    xc = np.clip(x, -_GELU_CUT, _GELU_CUT)
    u = _BETA * (xc + _KAPPA * (xc * xc * xc))
    du = _BETA * (1.0 + _KAPPA3 * (xc * xc))
    e = np.exp(-2.0 * np.abs(u))
    d = 1.0 + e
    s = np.where(u >= 0, 1.0, e) / d
    return s + 2.0 * xc * du * e / (d * d)


def _transcendental(
    f: Callable[..., np.ndarray],
) -> tuple[Callable[..., float], Callable[..., None]]:
    """(<op>_float, <op>_array) for a float64 formula f(x, *params)."""

    def array(x: np.ndarray, out: np.ndarray, *params: float) -> None:
        _via_f64(x, out, f, *params)

    return _nan_scalar(f), array


elu_float, elu_array = _transcendental(_elu)
elu_grad_float, elu_grad_array = _transcendental(_elu_grad)
sigmoid_float, sigmoid_array = _transcendental(_sigmoid)
sigmoid_grad_float, sigmoid_grad_array = _transcendental(_sigmoid_grad)
tanh_float, tanh_array = _transcendental(np.tanh)
tanh_grad_float, tanh_grad_array = _transcendental(_tanh_grad)
gelu_float, gelu_array = _transcendental(_gelu)
gelu_grad_float, gelu_grad_array = _transcendental(_gelu_grad)
gelu_tanh_float, gelu_tanh_array = _transcendental(_gelu_tanh)
gelu_tanh_grad_float, gelu_tanh_grad_array = _transcendental(_gelu_tanh_grad)


# -- silu, softplus, selu, mish (float64 formulas, as every backend) --------------------------

_SAT = 800.0  # silu, mish and their derivatives are saturated exactly beyond |x| = 800
_SELU_SCALE = 1.0507009873554805  # PyTorch's scale and scale * alpha, rounded to float64
_SELU_SA = 1.7580993408473768


def _sigmoid_of(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _silu(x: np.ndarray) -> np.ndarray:
    return np.where(x < -_SAT, -0.0, x * _sigmoid_of(x))


def _silu_grad(x: np.ndarray) -> np.ndarray:
    xc = np.clip(x, -_SAT, _SAT)
    e = np.exp(-np.abs(xc))
    d = 1.0 + e
    s = np.where(xc >= 0, 1.0, e) / d
    return s + xc * e / (d * d)


def _softplus_linear(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    """beta * x > threshold with the product in x's dtype (PyTorch's test)."""
    t = x.dtype.type
    with np.errstate(all="ignore"):
        return np.greater(np.multiply(x, t(beta)), t(threshold))


def _softplus(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    z = x * beta  # exact in float64 for a float32 x and beta
    return (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))) / beta


def _softplus_grad(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    return _sigmoid_of(x * beta)


def _softplus_kernel(
    f: Callable[..., np.ndarray], linear_value: Callable[[np.ndarray], np.ndarray]
) -> tuple[Callable[..., float], Callable[..., None]]:
    """(float, array) kernels of softplus(_grad): linear_value(x) where beta * x > threshold
    (decided in x's dtype), else the float64 formula f rounded once."""

    def scalar(x: float, beta: float, threshold: float) -> float:
        if x != x:
            return x
        with np.errstate(all="ignore"):
            if x * beta > threshold:
                return float(linear_value(np.float64(x)))
            return float(f(np.float64(x), beta, threshold))

    def array(x: np.ndarray, out: np.ndarray, beta: float, threshold: float) -> None:
        linear = _softplus_linear(x, beta, threshold)

        def either(xd: np.ndarray, beta: float, threshold: float) -> np.ndarray:
            return np.where(linear, linear_value(xd), f(xd, beta, threshold))  # exact in f64

        _via_f64(x, out, either, beta, threshold)

    return scalar, array


def _selu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, _SELU_SCALE * x, _SELU_SA * (np.expm1(x) + 0.0))


def _selu_grad(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, _SELU_SCALE, _SELU_SA * np.exp(x))


def _mish_parts(xc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(num, den, g, e): tanh(softplus(x)) = num / den and x sigmoid(x) (1 - t^2) =
    4 x g (1 + e) / den^2, with e = exp(-|x|), g = e^2 for x > 0 and e for x <= 0."""
    e = np.exp(-np.abs(xc))
    pos = xc > 0
    n_neg = e * (e + 2.0)
    num = np.where(pos, 1.0 + 2.0 * e, n_neg)
    den = np.where(pos, num + 2.0 * e * e, n_neg + 2.0)
    return num, den, np.where(pos, e * e, e), e


def _mish(x: np.ndarray) -> np.ndarray:
    num, den, _, _ = _mish_parts(x)
    return np.where(x < -_SAT, -0.0, x * (num / den))


def _mish_grad(x: np.ndarray) -> np.ndarray:
    xc = np.clip(x, -_SAT, _SAT)
    num, den, g, e = _mish_parts(xc)
    return num / den + 4.0 * xc * g * (1.0 + e) / (den * den)


silu_float, silu_array = _transcendental(_silu)
silu_grad_float, silu_grad_array = _transcendental(_silu_grad)
softplus_float, softplus_array = _softplus_kernel(_softplus, lambda x: x)
softplus_grad_float, softplus_grad_array = _softplus_kernel(_softplus_grad, np.ones_like)
selu_float, selu_array = _transcendental(_selu)
selu_grad_float, selu_grad_array = _transcendental(_selu_grad)
mish_float, mish_array = _transcendental(_mish)
mish_grad_float, mish_grad_array = _transcendental(_mish_grad)


# -- hardswish, hardsigmoid (piecewise: each step in x's dtype, the same bits everywhere) -----


def _hardswish(x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    with np.errstate(all="ignore"):
        mid = (x * (x + t(3))) / t(6)
    y = np.where(x <= t(-3), t(-0.0), np.where(x >= t(3), x, mid))
    return np.where(np.isnan(x), x, y)


def _hardswish_grad(x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    with np.errstate(all="ignore"):
        mid = x / t(3) + t(0.5)
    y = np.where(x < t(-3), t(0), np.where(x > t(3), t(1), mid))
    return np.where(np.isnan(x), x, y)


def _hardsigmoid(x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    with np.errstate(all="ignore"):
        mid = (x + t(3)) / t(6)
    y = np.where(x <= t(-3), t(0), np.where(x >= t(3), t(1), mid))
    return np.where(np.isnan(x), x, y)


def _hardsigmoid_grad(x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    y = np.where((x > t(-3)) & (x < t(3)), t(1) / t(6), t(0))
    return np.where(np.isnan(x), x, y)


def _in_dtype(
    f: Callable[[np.ndarray], np.ndarray],
) -> tuple[Callable[[float], float], Callable[..., None]]:
    """(float, array) kernels of a piecewise op computed in x's own dtype."""

    def scalar(x: float) -> float:
        return x if x != x else float(f(np.array([x], np.float64))[0])

    def array(x: np.ndarray, out: np.ndarray) -> None:
        np.copyto(out, f(x))

    return scalar, array


hardswish_float, hardswish_array = _in_dtype(_hardswish)
hardswish_grad_float, hardswish_grad_array = _in_dtype(_hardswish_grad)
hardsigmoid_float, hardsigmoid_array = _in_dtype(_hardsigmoid)
hardsigmoid_grad_float, hardsigmoid_grad_array = _in_dtype(_hardsigmoid_grad)


# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.matmul(x, w, out=out)
    out += b


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    if dx is not None:
        np.matmul(dy, w.T, out=dx)
    if dw is not None:
        np.matmul(x.T, dy, out=dw)
    if db is not None:
        np.sum(dy, axis=0, out=db)

"""Pure Python backend: the textbook Python loop written to the numeric contract.

The textbook ``max(0, x)`` returns the int 0 for negative floats and drops NaN; here every
element goes through plain Python floats, and a NaN's exact bits are copied through (a
float32 signalling NaN would otherwise come back quieted by the float32 -> float conversion).
NumPy only supplies the buffers; the arithmetic is Python's.
"""

from __future__ import annotations

import numpy as np

from relukit.backends._layout import flat_pair

NAME = "python"
_BITS = {"f": "I", "d": "Q"}  # float code -> unsigned int code of the same width


def relu_float(x: float) -> float:
    return x if x > 0.0 or x != x else 0.0


def relu_int(x: int) -> int:
    return x if x > 0 else 0


def relu_grad_float(x: float) -> float:
    if x != x:
        return x
    return 1.0 if x > 0.0 else 0.0


def relu_grad_int(x: int) -> int:
    return 1 if x > 0 else 0


def _views(a: np.ndarray) -> tuple[memoryview, memoryview]:
    raw = memoryview(a).cast("B")
    return raw.cast(a.dtype.char), raw.cast(_BITS[a.dtype.char])


def _elementwise(x: np.ndarray, out: np.ndarray, positive: bool) -> None:
    """out = relu(x) (positive=False: x for x > 0) or relu_grad(x) (positive=True: 1.0)."""
    xf, yf, finish = flat_pair(x, out)
    xs, xbits = _views(xf)
    ys, ybits = _views(yf)
    for i, v in enumerate(xs):
        if v != v:
            ybits[i] = xbits[i]  # NaN: keep its exact bits
        elif v > 0.0:
            ys[i] = 1.0 if positive else v
        else:
            ys[i] = 0.0
    if finish is not None:
        finish()


def relu_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(x, out, positive=False)


def relu_grad_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(x, out, positive=True)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """The layer loop: for each output, sum x[k] * w[k][j] over k, add b[j], relu."""
    if out.size == 0:  # no output: never turn a (huge, 0) weight into lists
        return
    weights = w.tolist()
    biases = b.tolist()
    rows = []
    for inputs in x.tolist():
        row = [0.0] * len(biases)
        for j, bias in enumerate(biases):
            acc = 0.0
            for k, value in enumerate(inputs):
                acc += value * weights[k][j]
            row[j] = relu_float(acc + bias)
        rows.append(row)
    with np.errstate(over="ignore"):  # a float32 layer's sums may overflow to inf, as in C
        out[...] = np.array(rows, dtype=np.float64).reshape(out.shape)


relu_fast = relu_grad_fast = dense_fast = None  # the facade's validated path only


# ==== the other activations (the kernels of relukit.ops.KERNELS; contract: docs/activations.md)
#
# Plain Python floats and the math module, one element at a time. A float32 array's elements
# are exact as Python floats and every result is rounded once to float32 when stored, so the
# piecewise-linear ops (a product of two float32 numbers is exact in float64) give float32
# arithmetic's bits, and the transcendental ops are computed in float64 and rounded once.
# NaN inputs are copied through with their exact bits.

import math  # noqa: E402
import struct  # noqa: E402
from collections.abc import Callable  # noqa: E402

_SQRT1_2 = 0.7071067811865476  # 1/sqrt(2) rounded to float64 ...
_SQRT1_2_LO = -4.833646656726457e-17  # ... and what that rounding dropped
_TWO_OVER_SQRTPI = 1.1283791670955126  # 2/sqrt(pi)
_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's splitter for float64
_INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2 pi)
_BETA = 0.7978845608028654  # sqrt(2/pi)
_KAPPA = 0.044715
_KAPPA3 = 3.0 * _KAPPA
_GELU_CUT = 40.0  # |x| beyond which gelu and its derivatives are exactly saturated
_UINT = {"f": np.uint32, "d": np.uint64}


def _map(x: np.ndarray, out: np.ndarray, f: Callable[..., float], params: tuple) -> None:
    """out[i] = f(x[i], *params) for every element (any layout); NaN bits copied."""
    _map_each(x, out, lambda v, _i: f(v, *params))


def _map_each(x: np.ndarray, out: np.ndarray, f: Callable[[float, int], float]) -> None:
    """out[i] = f(x[i], i) with i the C-order flat index; NaN inputs copied bit for bit."""
    xc = np.ascontiguousarray(x).reshape(-1)
    values = xc.tolist()
    res = [v if v != v else f(v, i) for i, v in enumerate(values)]
    nans = [i for i, v in enumerate(values) if v != v]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        r = np.array(res, dtype=np.float64).astype(x.dtype)  # one rounding per element
    if nans:
        rbits, xbits = r.view(_UINT[x.dtype.char]), xc.view(_UINT[x.dtype.char])
        for i in nans:
            rbits[i] = xbits[i]
    out[...] = r.reshape(x.shape)


def leaky_relu_float(x: float, slope: float) -> float:
    return x if x > 0.0 or x != x else x * slope


def leaky_relu_grad_float(x: float, slope: float) -> float:
    if x != x:
        return x
    return 1.0 if x > 0.0 else slope


def hardtanh_float(x: float, lo: float, hi: float) -> float:
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x  # NaN and ties (-0.0 against 0.0) keep x


def hardtanh_grad_float(x: float, lo: float, hi: float) -> float:
    if x != x:
        return x
    return 1.0 if lo < x < hi else 0.0


def threshold_float(x: float, th: float, value: float) -> float:
    return value if x <= th else x


def threshold_grad_float(x: float, th: float, value: float) -> float:
    if x != x:
        return x
    return 1.0 if x > th else 0.0


def elu_float(x: float, alpha: float) -> float:
    if x > 0.0 or x != x:
        return x
    return alpha * (math.expm1(x) + 0.0)  # + 0.0: expm1(-0.0) = -0.0 becomes +0.0, as PyTorch


def elu_grad_float(x: float, alpha: float) -> float:
    if x != x:
        return x
    return 1.0 if x > 0.0 else alpha * math.exp(x)


def sigmoid_float(x: float) -> float:
    if x != x:
        return x
    e = math.exp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


def sigmoid_grad_float(x: float) -> float:
    if x != x:
        return x
    e = math.exp(-abs(x))
    d = 1.0 + e
    return e / (d * d)


def tanh_float(x: float) -> float:
    return x if x != x else math.tanh(x)


def tanh_grad_float(x: float) -> float:
    if x != x:
        return x
    e = math.exp(-2.0 * abs(x))
    d = 1.0 + e
    return 4.0 * e / (d * d)


def _two_prod(a: float, b: float) -> tuple[float, float]:
    """(p, e) with p = fl(a*b) and p + e = a*b exactly (Dekker), for |a|, |b| <= 40."""
    p = a * b
    t = _SPLIT * a
    a1 = t - (t - a)
    a2 = a - a1
    t = _SPLIT * b
    b1 = t - (t - b)
    b2 = b - b1
    return p, ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2


def _erfc_scaled(xc: float) -> float:
    """erfc(-xc/sqrt(2)) for |xc| <= 40, corrected for the rounding of the argument."""
    n = -xc
    z, zerr = _two_prod(n, _SQRT1_2)
    zerr = zerr + n * _SQRT1_2_LO
    return math.erfc(z) - _TWO_OVER_SQRTPI * math.exp(-z * z) * zerr


def gelu_float(x: float) -> float:
    if x != x:
        return x
    if x < -_GELU_CUT:
        return -0.0
    return (0.5 * x) * _erfc_scaled(min(x, _GELU_CUT))


def gelu_grad_float(x: float) -> float:
    if x != x:
        return x
    xc = min(max(x, -_GELU_CUT), _GELU_CUT)
    cdf = 0.5 * _erfc_scaled(xc)
    sq, sqerr = _two_prod(xc, xc)
    pdf = _INV_SQRT_2PI * (math.exp(-0.5 * sq) * (1.0 - 0.5 * sqerr))
    return cdf + xc * pdf


def _sigmoid2(u: float) -> tuple[float, float, float]:
    """(sigmoid(2u), e, 1 + e) with e = exp(-2|u|)."""
    e = math.exp(-2.0 * abs(u))
    d = 1.0 + e
    return (1.0 if u >= 0.0 else e) / d, e, d


def gelu_tanh_float(x: float) -> float:
    if x != x:
        return x
    if x < -_GELU_CUT:
        return -0.0
    u = _BETA * (x + _KAPPA * (x * x * x))  # x**3 may overflow to +-inf: u = +-inf, fine
    return x * _sigmoid2(u)[0]


def gelu_tanh_grad_float(x: float) -> float:
    if x != x:
        return x
    xc = min(max(x, -_GELU_CUT), _GELU_CUT)
    u = _BETA * (xc + _KAPPA * (xc * xc * xc))
    du = _BETA * (1.0 + _KAPPA3 * (xc * xc))
    s, e, d = _sigmoid2(u)
    return s + 2.0 * xc * du * e / (d * d)


def _array_kernel(f: Callable[..., float]) -> Callable[..., None]:
    def array(x: np.ndarray, out: np.ndarray, *params: float) -> None:
        _map(x, out, f, params)

    return array


leaky_relu_array = _array_kernel(leaky_relu_float)
leaky_relu_grad_array = _array_kernel(leaky_relu_grad_float)
hardtanh_array = _array_kernel(hardtanh_float)
hardtanh_grad_array = _array_kernel(hardtanh_grad_float)
threshold_array = _array_kernel(threshold_float)
threshold_grad_array = _array_kernel(threshold_grad_float)
elu_array = _array_kernel(elu_float)
elu_grad_array = _array_kernel(elu_grad_float)
sigmoid_array = _array_kernel(sigmoid_float)
sigmoid_grad_array = _array_kernel(sigmoid_grad_float)
tanh_array = _array_kernel(tanh_float)
tanh_grad_array = _array_kernel(tanh_grad_float)
gelu_array = _array_kernel(gelu_float)
gelu_grad_array = _array_kernel(gelu_grad_float)
gelu_tanh_array = _array_kernel(gelu_tanh_float)
gelu_tanh_grad_array = _array_kernel(gelu_tanh_grad_float)


# -- silu, softplus, selu, mish (float64 formulas, as every backend) --------------------------

_SAT = 800.0  # silu, mish and their derivatives are saturated exactly beyond |x| = 800
_SELU_SCALE = 1.0507009873554805  # PyTorch's scale and scale * alpha, rounded to float64
_SELU_SA = 1.7580993408473768
_F32 = struct.Struct("f")


def _sigmoid_of(z: float) -> float:
    e = math.exp(-abs(z))
    return (1.0 if z >= 0.0 else e) / (1.0 + e)


def silu_float(x: float) -> float:
    if x != x:
        return x
    return -0.0 if x < -_SAT else x * _sigmoid_of(x)


def silu_grad_float(x: float) -> float:
    if x != x:
        return x
    xc = min(max(x, -_SAT), _SAT)
    e = math.exp(-abs(xc))
    d = 1.0 + e
    s = (1.0 if xc >= 0.0 else e) / d
    return s + xc * e / (d * d)


def _softplus_value(x: float, beta: float) -> float:
    z = x * beta  # exact in float64 for a float32 x and beta
    return (max(z, 0.0) + math.log1p(math.exp(-abs(z)))) / beta


def softplus_float(x: float, beta: float, threshold: float) -> float:
    if x != x or x * beta > threshold:
        return x
    return _softplus_value(x, beta)


def softplus_grad_float(x: float, beta: float, threshold: float) -> float:
    if x != x:
        return x
    return 1.0 if x * beta > threshold else _sigmoid_of(x * beta)


def _round32(v: float) -> float:
    """v rounded to float32 (to nearest), or +-inf beyond its range."""
    try:
        return _F32.unpack(_F32.pack(v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


def _softplus_array(grad: bool) -> Callable[..., None]:
    """softplus(_grad) on an array: the test beta * x > threshold with the product rounded to
    x's dtype (float32 arithmetic's product for a float32 array), as PyTorch."""

    def array(x: np.ndarray, out: np.ndarray, beta: float, threshold: float) -> None:
        r = _round32 if x.dtype == np.float32 else float

        def f(v: float) -> float:
            if r(v * beta) > threshold:
                return 1.0 if grad else v
            return _sigmoid_of(v * beta) if grad else _softplus_value(v, beta)

        _map(x, out, f, ())

    return array


def selu_float(x: float) -> float:
    if x != x:
        return x
    return _SELU_SCALE * x if x > 0.0 else _SELU_SA * (math.expm1(x) + 0.0)


def selu_grad_float(x: float) -> float:
    if x != x:
        return x
    return _SELU_SCALE if x > 0.0 else _SELU_SA * math.exp(x)


def _mish_parts(x: float) -> tuple[float, float, float, float]:
    """(num, den, g, e): tanh(softplus(x)) = num / den and x sigmoid(x) (1 - t^2) =
    4 x g (1 + e) / den^2, with e = exp(-|x|), g = e^2 for x > 0 and e for x <= 0."""
    e = math.exp(-abs(x))
    if x > 0.0:
        num = 1.0 + 2.0 * e
        return num, num + 2.0 * e * e, e * e, e
    num = e * (e + 2.0)
    return num, num + 2.0, e, e


def mish_float(x: float) -> float:
    if x != x:
        return x
    if x < -_SAT:
        return -0.0
    num, den, _, _ = _mish_parts(x)
    return x * (num / den)


def mish_grad_float(x: float) -> float:
    if x != x:
        return x
    xc = min(max(x, -_SAT), _SAT)
    num, den, g, e = _mish_parts(xc)
    return num / den + 4.0 * xc * g * (1.0 + e) / (den * den)


silu_array = _array_kernel(silu_float)
silu_grad_array = _array_kernel(silu_grad_float)
softplus_array = _softplus_array(grad=False)
softplus_grad_array = _softplus_array(grad=True)
selu_array = _array_kernel(selu_float)
selu_grad_array = _array_kernel(selu_grad_float)
mish_array = _array_kernel(mish_float)
mish_grad_array = _array_kernel(mish_grad_float)


# -- hardswish, hardsigmoid: each step rounded to the array's dtype (a float32 step computed
# in float64 and rounded to float32 is float32's correctly rounded step: 53 >= 2 * 24 + 2) ---


def _same(v: float) -> float:
    return v


def _hardswish(x: float, r: Callable[[float], float]) -> float:
    if x != x or x >= 3.0:
        return x
    if x <= -3.0:
        return -0.0
    return r(r(x * r(x + 3.0)) / 6.0)


def _hardswish_grad(x: float, r: Callable[[float], float]) -> float:
    if x != x:
        return x
    if x < -3.0:
        return 0.0
    return 1.0 if x > 3.0 else r(r(x / 3.0) + 0.5)


def _hardsigmoid(x: float, r: Callable[[float], float]) -> float:
    if x != x:
        return x
    if x <= -3.0:
        return 0.0
    return 1.0 if x >= 3.0 else r(r(x + 3.0) / 6.0)


def _hardsigmoid_grad(x: float, r: Callable[[float], float]) -> float:
    if x != x:
        return x
    return r(1.0 / 6.0) if -3.0 < x < 3.0 else 0.0


def _in_dtype(
    f: Callable[[float, Callable[[float], float]], float],
) -> tuple[Callable[[float], float], Callable[..., None]]:
    """(float, array) kernels of a piecewise op whose steps round to the array's dtype."""

    def scalar(x: float) -> float:
        return f(x, _same)

    def array(x: np.ndarray, out: np.ndarray) -> None:
        r = _round32 if x.dtype == np.float32 else _same
        _map(x, out, lambda v: f(v, r), ())

    return scalar, array


hardswish_float, hardswish_array = _in_dtype(_hardswish)
hardswish_grad_float, hardswish_grad_array = _in_dtype(_hardswish_grad)
hardsigmoid_float, hardsigmoid_array = _in_dtype(_hardsigmoid)
hardsigmoid_grad_float, hardsigmoid_grad_array = _in_dtype(_hardsigmoid_grad)


def _per_channel(
    f: Callable[[float, float], float], x: np.ndarray, out: np.ndarray, weight: np.ndarray
) -> None:
    """out = f(x, weight[c]) with c the index along axis 1 (C-order flat index -> channel)."""
    slopes = weight.tolist()
    channels = len(slopes)
    inner = math.prod(x.shape[2:])
    _map_each(x, out, lambda v, i: f(v, slopes[(i // inner) % channels]))


def prelu_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _per_channel(leaky_relu_float, x, out, weight)


def prelu_grad_array(x: np.ndarray, out: np.ndarray, weight: np.ndarray) -> None:
    _per_channel(leaky_relu_grad_float, x, out, weight)


# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------
# Plain Python loops over Python floats (float64 sums, one rounding to the array's dtype at
# the end): for small tests and as a readable reference, not for speed.


def _store(out: np.ndarray, rows: list) -> None:
    with np.errstate(over="ignore"):  # float32 results may overflow to inf, as in C
        out[...] = np.array(rows, dtype=np.float64).reshape(out.shape)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """y[r][j] = b[j] + sum over k of x[r][k] * w[k][j]."""
    if out.size == 0:
        return
    weights = w.tolist()
    biases = b.tolist()
    rows = []
    for inputs in x.tolist():
        row = []
        for j, bias in enumerate(biases):
            acc = bias
            for k, value in enumerate(inputs):
                acc += value * weights[k][j]
            row.append(acc)
        rows.append(row)
    _store(out, rows)


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    """dx = dy @ w.T, dw = x.T @ dy, db = column sums of dy, one element at a time."""
    if dy.size == 0:  # every sum is empty: zeros (never lists of a (huge, 0) weight)
        for a in (dx, dw, db):
            if a is not None:
                a.fill(0)
        return
    xs, ws, dys = x.tolist(), w.tolist(), dy.tolist()
    n_in, n_out = w.shape
    if dx is not None:
        rows = []
        for g in dys:
            rows.append([sum(g[j] * ws[k][j] for j in range(n_out)) for k in range(n_in)])
        _store(dx, rows)
    if dw is not None:
        rows = []
        for k in range(n_in):
            row = []
            for j in range(n_out):
                acc = 0.0
                for r, g in enumerate(dys):
                    acc += xs[r][k] * g[j]
                row.append(acc)
            rows.append(row)
        _store(dw, rows)
    if db is not None:
        _store(db, [sum((g[j] for g in dys), 0.0) for j in range(n_out)])

"""The conformance table: every op, its independent reference, and the edge-case vectors.

Shared by ``relukit check`` and the test suite, so both judge backends by the same rules.
The references work on bit patterns (NumPy integer ops only), independent of every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from relukit._api import relu, relu_grad
from relukit.dense import Dense

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LENGTHS = (0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000)
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
    keep = ~negative | nan
    return np.where(keep, bits, 0).astype(bits.dtype).view(x.dtype).reshape(x.shape)


def ref_relu_grad(x: np.ndarray) -> np.ndarray:
    """x for NaN, 1 for x > 0 (sign clear, not +0.0), else +0.0."""
    bits, negative, nan = _parts(x)
    one = _bits(np.ones(1, x.dtype))[0]
    positive = ~negative & (bits != 0)
    res = np.where(nan, bits, np.where(positive, one, 0)).astype(bits.dtype)
    return res.view(x.dtype).reshape(x.shape)


def ref_scalar(ref: Callable[[np.ndarray], np.ndarray], x: float) -> float:
    return float(ref(np.array([x]))[0])


@dataclass(frozen=True)
class Op:
    """One elementwise op of the conformance table."""

    name: str
    func: Callable[..., Any]
    ref: Callable[[np.ndarray], np.ndarray]
    ref_int: Callable[[int], int]


OPS: tuple[Op, ...] = (
    Op("relu", relu, ref_relu, lambda i: max(i, 0)),
    Op("relu_grad", relu_grad, ref_relu_grad, lambda i: int(i > 0)),
)


def edge_values(dtype: np.dtype) -> np.ndarray:
    """Every special value of the dtype: NaNs (both signs, payloads, signalling), ±inf, ±0.0,
    subnormals, extremes, and ordinary numbers."""
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    u = _UINT[dtype.itemsize]
    width = 8 * dtype.itemsize
    sign = 1 << (width - 1)
    exp_all = int(_bits(np.array([np.inf], dtype))[0])
    quiet = 1 << (info.nmant - 1)
    nan_bits = [exp_all | quiet, exp_all | quiet | 0x5A5, exp_all | 1, exp_all | (quiet - 1)]
    nan_bits += [b | sign for b in nan_bits]
    nans = np.array(nan_bits, dtype=u).view(dtype)
    tiny = info.smallest_subnormal
    values = np.array(
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            np.inf,
            -np.inf,
            info.max,
            -info.max,
            info.tiny,
            -info.tiny,
            tiny,
            -tiny,
            tiny * 3,
            -tiny * 3,
            info.tiny - tiny,
            -(info.tiny - tiny),
            info.eps,
            -info.eps,
            1e-30,
            -1e-30,
            3.5,
            -7.25,
            123456.0,
            -123456.0,
        ],
        dtype=dtype,
    )
    return np.concatenate([values, nans])


def random_values(dtype: np.dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random bit patterns (every class of float shows up) mixed with normal numbers."""
    dtype = np.dtype(dtype)
    raw = rng.integers(
        0, np.iinfo(_UINT[dtype.itemsize]).max, n, dtype=_UINT[dtype.itemsize], endpoint=True
    ).view(dtype)
    normal = rng.standard_normal(n).astype(dtype)
    return np.where(rng.random(n) < 0.5, raw, normal)


def layouts(base: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The same values in many memory layouts: contiguous, unaligned, strided, reversed, 2-D."""
    n = base.size
    yield "contiguous", base.copy()
    buf = np.zeros(n * 2 + 4, base.dtype)
    for off in (1, 3):
        yield f"offset{off}", _place(buf.copy(), off, base)
    strided = np.zeros(2 * n, base.dtype)
    strided[::2] = base
    yield "step2", strided[::2]
    yield "reversed", base[::-1].copy()[::-1]
    if n % 2 == 0 and n:
        yield "2d-C", base.reshape(2, -1).copy()
        yield "2d-F", np.asfortranarray(base.reshape(2, -1))
        yield "2d-transposed", base.reshape(-1, 2).copy().T
        yield "2d-reversed-cols", base.reshape(2, -1)[:, ::-1].copy()[:, ::-1]
    yield "0d" if n == 1 else "copy", base.reshape(()) if n == 1 else base.copy()


def _place(buf: np.ndarray, off: int, values: np.ndarray) -> np.ndarray:
    view = buf[off : off + values.size]
    view[...] = values
    return view


def same_bits(a: Any, b: np.ndarray) -> bool:
    """Bit-for-bit equality of an array result with the reference (shape and dtype too)."""
    if not isinstance(a, np.ndarray) or a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(_bits(np.ascontiguousarray(a)), _bits(np.ascontiguousarray(b))))


def dense_tolerance(x: np.ndarray, w: np.ndarray, b: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Error bound of relu(x @ w + b) in ``dtype`` against the exact (float64) value.

    A dot product of length K summed in floating point has error at most
    gamma_K * sum|x_k w_k| (Higham, Accuracy and Stability, 3.1), gamma_K ~ K*u; adding b and
    rounding the result add two more roundings, so we allow (K + 2) * eps * (sum|x||w| + |b|),
    eps = 2u being the dtype's machine epsilon. ReLU is 1-Lipschitz, so the bound survives it.
    """
    eps = np.finfo(dtype).eps
    k = x.shape[-1]
    mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)) + np.abs(b.astype(np.float64))
    return (k + 2) * eps * mag + np.finfo(dtype).smallest_subnormal


def dense_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(x.astype(np.float64) @ w.astype(np.float64) + b.astype(np.float64), 0)


@dataclass
class Result:
    """Agreement of one backend on one op: cases passed out of cases run, first failure."""

    passed: int = 0
    total: int = 0
    first_failure: str = ""

    def add(self, ok: bool, what: str) -> None:
        self.total += 1
        self.passed += ok
        if not ok and not self.first_failure:
            self.first_failure = what

    @property
    def ok(self) -> bool:
        return self.passed == self.total


def check_backend(backend: str, *, seed: int = 0, n_random: int = 2000) -> dict[str, Result]:
    """Run the whole conformance table through one backend; one Result per op (and dense)."""
    rng = np.random.default_rng(seed)
    results: dict[str, Result] = {}
    for op in OPS:
        res = results.setdefault(op.name, Result())
        for dtype in DTYPES:
            edges = edge_values(dtype)
            vectors = [edges, random_values(dtype, n_random, rng)]
            vectors += [np.resize(edges, n) for n in LENGTHS]
            for vec in vectors:
                for layout, x in layouts(vec):
                    what = f"{dtype.name} n={vec.size} {layout}"
                    expect = op.ref(x)
                    before = x.copy()
                    got = op.func(x, backend=backend)
                    res.add(same_bits(got, expect) and same_bits(x, before), what)
                    out = np.full_like(x, 7)
                    got = op.func(x, out=out, backend=backend)
                    res.add(got is out and same_bits(out, expect), what + " out=")
                    inplace = x.copy()
                    got = op.func(inplace, out=inplace, backend=backend)
                    res.add(same_bits(inplace, expect), what + " in place")
            for v in edges:  # NumPy scalars keep their type and bits
                got = op.func(v, backend=backend)
                ok = type(got) is type(v) and same_bits(np.array(got), op.ref(np.array(v)))
                res.add(ok, f"{dtype.name} scalar {v!r}")
        for v in edge_values(np.float64).tolist():  # Python floats
            got = op.func(v, backend=backend)
            ok = type(got) is float and same_bits(np.array(got), op.ref(np.array(v)))
            res.add(ok, f"float {v!r}")
        for i in (0, 1, -1, 5, -5, 2**62, -(2**62), 2**63 - 1, -(2**63)):
            got = op.func(i, backend=backend)
            res.add(type(got) is int and got == op.ref_int(i), f"int {i}")
    results.update(check_family(backend, rng))
    results["dense"] = check_dense(backend, rng)
    return results


def check_dense(backend: str, rng: np.random.Generator) -> Result:
    """Dense forward within :func:`dense_tolerance` of the float64 reference."""
    res = Result()
    for dtype in DTYPES:
        for n_in, n_out, batch in (
            (3, 2, 1),
            (3, 2, 5),
            (1, 1, 1),
            (0, 4, 2),
            (17, 9, 3),
            (64, 33, 4),
            (784, 256, 2),
            (5, 0, 3),
            (5, 3, 0),
        ):
            layer = Dense(n_in, n_out, dtype=dtype, seed=int(rng.integers(1 << 30)))
            layer.biases = rng.standard_normal(n_out)
            x = rng.standard_normal((batch, n_in)).astype(dtype)
            got = layer.forward(x, backend=backend)
            expect = dense_reference(x, layer.weights, layer.biases)
            tol = dense_tolerance(x, layer.weights, layer.biases, dtype)
            ok = (
                got.dtype == dtype
                and got.shape == expect.shape
                and bool(np.all(np.abs(got.astype(np.float64) - expect) <= tol))
            )
            res.add(ok, f"{dtype.name} {n_in}->{n_out} batch {batch}")
            if batch:
                one = layer.forward(x[0], backend=backend)
                res.add(
                    one.shape == (n_out,) and bool(np.all(np.abs(one - expect[0]) <= tol[0])),
                    f"{dtype.name} {n_in}->{n_out} 1-D input",
                )
    # NaN in an input row gives NaN in that row's outputs (it reaches every sum).
    layer = Dense(3, 2, dtype="float64", seed=1)
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, -1.0]])
    got = layer.forward(x, backend=backend)
    res.add(bool(np.all(np.isnan(got[0])) and not np.any(np.isnan(got[1]))), "NaN input row")
    return res


# ==== the ReLU family =========================================================================
#
# One Activation per op and per derivative. Piecewise-linear ops (leaky_relu, prelu, relu6,
# hardtanh, threshold and their derivatives) are checked bit for bit against references that
# decide on integer keys of the bit patterns (no float compare) and multiply with NumPy in the
# array's dtype. The transcendental ops (elu, gelu, gelu with approximate="tanh", sigmoid,
# tanh and their derivatives) are checked against references computed in long double (80-bit
# on x86-64; math.erfc with a long-double argument correction for the erf-based GELU), within
# the ulp bound of the entry (docs/activations.md), and bit for bit at NaN, ±0.0, ±inf and
# wherever the contract gives an exact value (elu(x) = x for x > 0, ...).

import math  # noqa: E402
from functools import partial  # noqa: E402

from relukit import _family as family  # noqa: E402

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


def ulp_error(
    x: np.ndarray, got: np.ndarray, ref: tuple, min_floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(error in ulps, exact-ok) of ``got`` against a transcendental reference ``ref``.

    The error is |got - value| in units of the dtype's spacing at max(|value|, floor); the
    second array says whether the exact-bits requirement holds (True where none applies).
    NaN inputs must come back with their exact bits (error 0 if so, inf if not).
    ``min_floor`` raises every floor to at least that (an absolute tolerance near underflow).
    """
    value, exact, floor = ref
    floor = np.maximum(floor, LD(min_floor))
    dtype = x.dtype
    nan = _nan_mask(x)
    with np.errstate(all="ignore"):
        rounded = value.astype(dtype)
        rounded = np.where(nan, x, rounded)
        scale = np.maximum(np.abs(value), floor).astype(dtype)
        spacing = np.spacing(np.where(np.isfinite(scale), scale, np.finfo(dtype).max))
        err = np.abs(got.astype(LD) - value) / spacing.astype(LD)
        both_inf = np.isinf(got) & np.isinf(value) & (np.sign(got) == np.sign(value))
        err = np.where(both_inf, LD(0), err)
    gbits = _bits(np.ascontiguousarray(got)).reshape(x.shape)
    rbits = _bits(np.ascontiguousarray(rounded)).reshape(x.shape)
    same = gbits == rbits
    err = np.where(nan, np.where(same, LD(0), LD(np.inf)), err)
    err = np.where(np.isnan(err), LD(np.inf), err)
    return err.astype(np.float64), same | ~(exact | nan)


#: Allowed error in ulps: per dtype, a number or a function of x (float64) giving one per element.
UlpBound = dict[str, "float | Callable[[np.ndarray], np.ndarray]"]


@dataclass(frozen=True)
class Activation:
    """One op (or derivative) of the ReLU family in the conformance table.

    ``func`` is the facade function; ``param_sets`` the keyword parameters the table checks
    (the first is the default, used by :meth:`call` and by benchmarks); ``ref(x, **params)``
    the reference: an array (bit-for-bit ops, ``ulps`` None) or a (value, exact, floor) tuple
    (transcendental ops, within ``ulps``). ``grad`` names the derivative's entry (None for a
    derivative); ``kinks(**params)`` lists the x where the op changes piece (edge vectors put
    values at and next to each); ``numpy_expr(x, **params)`` is the plain NumPy spelling a
    user would write, the baseline for speed comparisons (not bit-exact).
    """

    name: str
    func: Callable[..., Any]
    param_sets: tuple[dict[str, Any], ...]
    ref: Callable[..., Any]
    ulps: UlpBound | None = None
    grad: str | None = None
    kinks: Callable[..., tuple[float, ...]] = lambda **_: (0.0,)
    numpy_expr: Callable[..., np.ndarray] | None = None
    min_floor: dict[str, float] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The default parameters (the first set)."""
        return self.param_sets[0]

    @property
    def exact(self) -> bool:
        """Whether the op is checked bit for bit (piecewise linear) rather than within ulps."""
        return self.ulps is None

    def call(self, x: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """``func(x, **params, **kwargs)`` (``kwargs``: ``out=``, ``backend=``)."""
        return self.func(x, **(self.params if params is None else params), **kwargs)

    def bound(self, params: dict[str, Any] | None = None) -> Callable[..., Any]:
        """``func`` with the parameters bound: ``f(x, *, out=None, backend=None)``."""
        return partial(self.func, **(self.params if params is None else params))

    def allowed_ulps(self, x: np.ndarray) -> np.ndarray:
        """The ulp bound for each element of x (transcendental ops)."""
        assert self.ulps is not None
        b = self.ulps[np.dtype(x.dtype).name]
        with np.errstate(invalid="ignore"):
            xd = np.abs(x.astype(np.float64))
            allowed = np.broadcast_to(b(xd) if callable(b) else np.float64(b), x.shape)
        return np.where(np.isnan(allowed), 0.0, allowed)  # NaN x: exact bits, checked apart

    def verify(self, x: np.ndarray, got: Any, params: dict[str, Any] | None = None) -> bool:
        """Whether ``got`` is this op of the array ``x`` under the contract."""
        p = self.params if params is None else params
        if not isinstance(got, np.ndarray) or got.dtype != x.dtype or got.shape != x.shape:
            return False
        if self.exact:
            return same_bits(got, self.ref(x, **p))
        floor = (self.min_floor or {}).get(np.dtype(x.dtype).name, 0.0)
        err, exact_ok = ulp_error(x, got, self.ref(x, **p), floor)
        return bool(np.all(exact_ok) and np.all(err <= self.allowed_ulps(x)))


def _ulps(f32: float, f64: Any) -> UlpBound:
    return {"float32": f32, "float64": f64}


def _per_u(base: float, per_u: float) -> Callable[[np.ndarray], np.ndarray]:
    """A bound growing with |u(x)| = sqrt(2/pi) (|x| + 0.044715 |x|^3): the rounding of u,
    amplified by sigmoid(2u)'s steepness, in tanh-GELU's negative tail (|x| capped at 40,
    beyond which the results are exact)."""

    def bound(ax: np.ndarray) -> np.ndarray:
        a = np.minimum(ax, 40.0)
        return base + per_u * 0.7978845608028654 * (a + 0.044715 * a**3)

    return bound


#: float64 GELU near underflow: errors measured against 2^-1016 at least, i.e. an absolute
#: error of 4 ulp there is 2^-1066 (~2.5e-321) -- the subnormal rounding of exp's result,
#: multiplied by x, for x < -37 where the result is below the normal range anyway.
_GELU_FLOOR = {"float64": 2.0**-1016}


_SLOPES = ({"negative_slope": 0.01}, {"negative_slope": 0.2}, {"negative_slope": -1.5})
_ALPHAS = ({"alpha": 1.0}, {"alpha": 0.3})
_WEIGHTS = ({"weight": 0.25}, {"weight": [0.25, -0.1, 0.0, 3.0]})
_BOUNDS = ({"min_val": -1.0, "max_val": 1.0}, {"min_val": -0.1, "max_val": 2.5})
_THRESHOLDS = ({"threshold": 0.1, "value": 20.0}, {"threshold": -1.0, "value": -0.0})


def _np_gelu(x: np.ndarray) -> np.ndarray:
    from relukit.backends._erfc import erfc

    return (0.5 * x * (1.0 + (1.0 - erfc(x * 0.7071067811865476)))).astype(x.dtype)


FAMILY: tuple[Activation, ...] = (
    Activation(
        "leaky_relu",
        family.leaky_relu,
        _SLOPES,
        ref_leaky_relu,
        grad="leaky_relu_grad",
        numpy_expr=lambda x, negative_slope: np.where(x > 0, x, x * x.dtype.type(negative_slope)),
    ),
    Activation("leaky_relu_grad", family.leaky_relu_grad, _SLOPES, ref_leaky_relu_grad),
    Activation(
        "prelu",
        family.prelu,
        _WEIGHTS,
        ref_prelu,
        grad="prelu_grad",
        numpy_expr=lambda x, weight: np.where(x > 0, x, x * x.dtype.type(np.ravel(weight)[0])),
    ),
    Activation("prelu_grad", family.prelu_grad, _WEIGHTS, ref_prelu_grad),
    Activation(
        "relu6",
        family.relu6,
        ({},),
        ref_relu6,
        grad="relu6_grad",
        kinks=lambda: (0.0, 6.0),
        numpy_expr=lambda x: np.clip(x, 0, 6),
    ),
    Activation("relu6_grad", family.relu6_grad, ({},), ref_relu6_grad, kinks=lambda: (0.0, 6.0)),
    Activation(
        "hardtanh",
        family.hardtanh,
        _BOUNDS,
        ref_hardtanh,
        grad="hardtanh_grad",
        kinks=lambda min_val, max_val: (min_val, max_val),
        numpy_expr=lambda x, min_val, max_val: np.clip(x, min_val, max_val),
    ),
    Activation(
        "hardtanh_grad",
        family.hardtanh_grad,
        _BOUNDS,
        ref_hardtanh_grad,
        kinks=lambda min_val, max_val: (min_val, max_val),
    ),
    Activation(
        "threshold",
        family.threshold,
        _THRESHOLDS,
        ref_threshold,
        grad="threshold_grad",
        kinks=lambda threshold, value: (threshold, value),
        numpy_expr=lambda x, threshold, value: np.where(x > threshold, x, value).astype(x.dtype),
    ),
    Activation(
        "threshold_grad",
        family.threshold_grad,
        _THRESHOLDS,
        ref_threshold_grad,
        kinks=lambda threshold, value: (threshold, value),
    ),
    Activation(
        "elu",
        family.elu,
        _ALPHAS,
        ref_elu,
        ulps=_ulps(1, 2),
        grad="elu_grad",
        numpy_expr=lambda x, alpha: np.where(x > 0, x, alpha * (np.exp(x) - 1)).astype(x.dtype),
    ),
    Activation("elu_grad", family.elu_grad, _ALPHAS, ref_elu_grad, ulps=_ulps(1, 2)),
    Activation(
        "gelu",
        family.gelu,
        ({"approximate": "none"},),
        ref_gelu,
        ulps=_ulps(1, 6),
        grad="gelu_grad",
        numpy_expr=lambda x, approximate: _np_gelu(x),
        min_floor=_GELU_FLOOR,
    ),
    Activation(
        "gelu_grad",
        family.gelu_grad,
        ({"approximate": "none"},),
        ref_gelu_grad,
        ulps=_ulps(1, 6),
        min_floor=_GELU_FLOOR,
    ),
    Activation(
        "gelu_tanh",
        family.gelu,
        ({"approximate": "tanh"},),
        ref_gelu_tanh,
        ulps=_ulps(1, _per_u(4, 8)),
        grad="gelu_tanh_grad",
        numpy_expr=lambda x, approximate: (
            0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))
        ).astype(x.dtype),
    ),
    Activation(
        "gelu_tanh_grad",
        family.gelu_grad,
        ({"approximate": "tanh"},),
        ref_gelu_tanh_grad,
        ulps=_ulps(1, _per_u(4, 8)),
    ),
    Activation(
        "sigmoid",
        family.sigmoid,
        ({},),
        ref_sigmoid,
        ulps=_ulps(1, 4),
        grad="sigmoid_grad",
        numpy_expr=lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype),
    ),
    Activation("sigmoid_grad", family.sigmoid_grad, ({},), ref_sigmoid_grad, ulps=_ulps(1, 8)),
    Activation(
        "tanh",
        family.tanh,
        ({},),
        ref_tanh,
        ulps=_ulps(1, 3),
        grad="tanh_grad",
        numpy_expr=lambda x: np.tanh(x),
    ),
    Activation("tanh_grad", family.tanh_grad, ({},), ref_tanh_grad, ulps=_ulps(1, 8)),
)

#: The family's entries by name.
FAMILY_BY_NAME: dict[str, Activation] = {a.name: a for a in FAMILY}

#: x values where the transcendental ops change method or saturate (erfc's ranges at
#: x = z*sqrt(2), the |x| = 40 cut, exp's overflow and underflow, float32's too).
_TRANSCENDENTAL_POINTS = (
    1e-300,
    1e-30,
    1e-8,
    0.25,
    0.5,
    0.75179,
    0.84375 * math.sqrt(2),
    1.25 * math.sqrt(2),
    (1 / 0.35) * math.sqrt(2),
    6 * math.sqrt(2),
    1.0,
    2.0,
    3.0,
    5.0,
    9.0,
    10.0,
    14.0,
    15.0,
    18.0,
    20.0,
    22.0,
    26.5,
    28 * math.sqrt(2),
    37.0,
    38.5,
    40.0,
    88.7,
    103.9,
    500.0,
    709.78,
    745.2,
    1e10,
    1e30,
)


def family_edge_values(entry: Activation, params: dict[str, Any], dtype: np.dtype) -> np.ndarray:
    """The relu edge values, each kink with its neighbours on both sides, and (transcendental
    ops) the points where the method changes, of both signs."""
    dtype = np.dtype(dtype)
    points = [float(k) for k in entry.kinks(**params)]
    if not entry.exact:
        points += list(_TRANSCENDENTAL_POINTS)
    with np.errstate(over="ignore"):
        pts = np.array(points + [-p for p in points], dtype=dtype)
    pts = pts[np.isfinite(pts)]
    up = np.nextafter(pts, dtype.type(np.inf))
    down = np.nextafter(pts, dtype.type(-np.inf))
    return np.concatenate([edge_values(dtype), pts, up, down, np.nextafter(up, dtype.type(np.inf))])


def family_random_values(dtype: np.dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random bit patterns, and normal values at the scales where the ops are curved."""
    dtype = np.dtype(dtype)
    scale = rng.choice(np.array([0.3, 1.0, 3.0, 10.0, 30.0]), n)
    curved = (rng.standard_normal(n) * scale).astype(dtype)
    return np.where(rng.random(n) < 0.25, random_values(dtype, n, rng), curved)


def _family_params(entry: Activation, params: dict[str, Any], x: Any) -> dict[str, Any]:
    """prelu's per-channel weights apply to x of ndim >= 2 with that many channels; other
    shapes get the first weight (so every layout can be checked)."""
    w = params.get("weight")
    if w is None or np.ndim(w) == 0:
        return params
    shape = np.shape(x)
    if len(shape) >= 2 and shape[1] == len(w):
        return params
    return {**params, "weight": w[0]}


def check_family(backend: str, rng: np.random.Generator, *, n_random: int = 600) -> dict:
    """Run the family's entries through one backend; one Result per entry."""
    results: dict[str, Result] = {}
    for entry in FAMILY:
        res = results.setdefault(entry.name, Result())
        for params in entry.param_sets:
            label = ",".join(f"{k}={v}" for k, v in params.items())
            for dtype in DTYPES:
                edges = family_edge_values(entry, params, dtype)
                vectors = [edges, family_random_values(dtype, n_random, rng)]
                lengths = [np.resize(edges, n) for n in LENGTHS]
                for vec, all_layouts in [(v, True) for v in vectors] + [
                    (v, False) for v in lengths
                ]:
                    for layout, x in layouts(vec):
                        if not all_layouts and layout not in ("contiguous", "offset1"):
                            continue
                        _check_forms(
                            entry,
                            params,
                            x,
                            backend,
                            res,
                            f"{label} {dtype.name} n={vec.size} {layout}",
                        )
                channels = np.resize(edges, 4 * 4 * 3).reshape(4, 4, 3)
                for x in (channels, channels.transpose(1, 0, 2), channels[:, :, ::-1]):
                    _check_forms(entry, params, x, backend, res, f"{label} {dtype.name} (4,4,3)")
                for v in edges:  # NumPy scalars keep their type
                    p = _family_params(entry, params, v)
                    got = entry.call(v, p, backend=backend)
                    ok = type(got) is type(v) and entry.verify(np.array([v]), np.array([got]), p)
                    res.add(ok, f"{label} {dtype.name} scalar {v!r}")
            for v in family_edge_values(entry, params, np.float64).tolist():  # Python floats
                p = _family_params(entry, params, v)
                got = entry.call(v, p, backend=backend)
                ok = type(got) is float and entry.verify(np.array([v]), np.array([got]), p)
                res.add(ok, f"{label} float {v!r}")
            for i in (0, 1, -1, 7, -7, 2**62, -(2**63)):  # ints are computed as floats
                p = _family_params(entry, params, i)
                got = entry.call(i, p, backend=backend)
                want = entry.call(float(i), p, backend=backend)
                ok = type(got) is float and same_bits(np.array(got), np.array(want))
                res.add(ok, f"{label} int {i}")
    return results


def _check_forms(
    entry: Activation, params: dict, x: np.ndarray, backend: str, res: Result, what: str
) -> None:
    """Out of place (input untouched), out= (out itself back) and in place, all verified."""
    p = _family_params(entry, params, x)
    before = x.copy()
    got = entry.call(x, p, backend=backend)
    res.add(entry.verify(x, got, p) and same_bits(x, before), what)
    out = np.full_like(x, 7)
    got = entry.call(x, p, out=out, backend=backend)
    res.add(got is out and entry.verify(x, out, p), what + " out=")
    inplace = x.copy()
    got = entry.call(inplace, p, out=inplace, backend=backend)
    res.add(got is inplace and entry.verify(before, inplace, p), what + " in place")

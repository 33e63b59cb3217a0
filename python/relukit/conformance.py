"""The conformance check: every op of :data:`relukit.ops.OPS` against its reference, on the
edge-case vectors and in many layouts.

Shared by ``relukit check`` and the test suite, so both judge backends by the same rules.
The references (:mod:`relukit._reference`, named by the op table) are independent of every
backend: bit patterns and NumPy integer ops for the piecewise-linear ops, long double for the
smooth ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from relukit import ops
from relukit._reference import _UINT, LD, _bits, _nan_mask
from relukit._reference import ref_relu as ref_relu  # re-exported: tests and bench use them
from relukit._reference import ref_relu_grad as ref_relu_grad
from relukit._reference import ref_scalar as ref_scalar
from relukit.dense import Dense

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LENGTHS = (0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000)


@dataclass(frozen=True)
class Op:
    """One elementwise op of the conformance table."""

    name: str
    func: Callable[..., Any]
    ref: Callable[[np.ndarray], np.ndarray]
    ref_int: Callable[[int], int]


#: The ops with int kernels (relu, relu_grad), from the op table.
OPS: tuple[Op, ...] = tuple(
    Op(check.name, ops.FUNCTIONS[op.name], check.ref, check.ref_int)
    for op in ops.OPS
    if op.fast
    for check in op.checks
    if check.ref_int is not None
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
    results.update(check_activations(backend, rng))
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


# ==== the other activations ====================================================================
#
# One Activation per conformance row of the op table (an op and its derivative are two rows;
# gelu has one per approximation). Piecewise-linear ops (leaky_relu, prelu, relu6, hardtanh,
# threshold and their derivatives) are checked bit for bit against the bit-level references.
# The smooth ops (elu, gelu, gelu with approximate="tanh", sigmoid, tanh and their
# derivatives) are checked against the long-double references within the row's ulp bound
# (docs/activations.md), and bit for bit at NaN, ±0.0, ±inf and wherever the contract gives
# an exact value (elu(x) = x for x > 0, ...).

import math  # noqa: E402
from functools import partial  # noqa: E402


def ulp_error(
    x: np.ndarray, got: np.ndarray, ref: tuple, min_floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(error in ulps, exact-ok) of ``got`` against a smooth reference ``ref``.

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
UlpBound = dict[str, Any]


@dataclass(frozen=True)
class Activation:
    """One conformance row: an op (or derivative) of the op table with its parameters bound.

    ``func`` is the facade function; ``param_sets`` the keyword parameters the table checks
    (the first is the default, used by :meth:`call` and by benchmarks); ``ref(x, **params)``
    the reference: an array (bit-for-bit ops, ``ulps`` None) or a (value, exact, floor) tuple
    (smooth ops, within ``ulps``). ``grad`` names the derivative's row (None for a
    derivative); ``kinks(**params)`` lists the x where the op changes piece (edge vectors put
    values at and next to each); ``numpy`` is ``(f(x, **params), text)``, the plain NumPy
    spelling a user would write, the baseline for speed comparisons (not bit-exact).
    """

    name: str
    func: Callable[..., Any]
    param_sets: tuple[dict[str, Any], ...]
    ref: Callable[..., Any]
    ulps: UlpBound | None = None
    grad: str | None = None
    kinks: Callable[..., tuple[float, ...]] = lambda **_: (0.0,)
    numpy: tuple[Callable[..., np.ndarray], str] | None = None
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
        """The ulp bound for each element of x (smooth ops)."""
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


def _rows() -> tuple[Activation, ...]:
    """The op table's conformance rows (ops without int kernels); ``grad`` links a forward
    row to its derivative's row of the same form (gelu_tanh -> gelu_tanh_grad)."""
    rows = []
    for op, check in ops.CHECKS:
        grad = None
        if op.grad is not None:
            grad_op = ops.BY_NAME[op.grad]
            (grad,) = (c.name for c in grad_op.checks if c.param_sets == check.param_sets)
        rows.append(
            Activation(
                check.name,
                ops.FUNCTIONS[op.name],
                check.param_sets,
                check.ref,
                ulps=check.ulps,
                grad=grad,
                kinks=check.kinks,
                numpy=check.numpy,
                min_floor=check.min_floor,
            )
        )
    return tuple(rows)


#: Every activation's conformance rows but relu's (see :data:`OPS`).
ACTIVATIONS: tuple[Activation, ...] = _rows()
#: The rows by name.
ACTIVATIONS_BY_NAME: dict[str, Activation] = {a.name: a for a in ACTIVATIONS}


#: x values where the smooth ops change method or saturate (erfc's ranges at
#: x = z*sqrt(2), the |x| = 40 cut, exp's overflow and underflow, float32's too).
_SMOOTH_POINTS = (
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


def activation_edge_values(
    entry: Activation, params: dict[str, Any], dtype: np.dtype
) -> np.ndarray:
    """The relu edge values, each kink with its neighbours on both sides, and (smooth
    ops) the points where the method changes, of both signs."""
    dtype = np.dtype(dtype)
    points = [float(k) for k in entry.kinks(**params)]
    if not entry.exact:
        points += list(_SMOOTH_POINTS)
    with np.errstate(over="ignore"):
        pts = np.array(points + [-p for p in points], dtype=dtype)
    pts = pts[np.isfinite(pts)]
    up = np.nextafter(pts, dtype.type(np.inf))
    down = np.nextafter(pts, dtype.type(-np.inf))
    return np.concatenate([edge_values(dtype), pts, up, down, np.nextafter(up, dtype.type(np.inf))])


def activation_random_values(dtype: np.dtype, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random bit patterns, and normal values at the scales where the ops are curved."""
    dtype = np.dtype(dtype)
    scale = rng.choice(np.array([0.3, 1.0, 3.0, 10.0, 30.0]), n)
    curved = (rng.standard_normal(n) * scale).astype(dtype)
    return np.where(rng.random(n) < 0.25, random_values(dtype, n, rng), curved)


def _fit_params(entry: Activation, params: dict[str, Any], x: Any) -> dict[str, Any]:
    """prelu's per-channel weights apply to x of ndim >= 2 with that many channels; other
    shapes get the first weight (so every layout can be checked)."""
    w = params.get("weight")
    if w is None or np.ndim(w) == 0:
        return params
    shape = np.shape(x)
    if len(shape) >= 2 and shape[1] == len(w):
        return params
    return {**params, "weight": w[0]}


def check_activations(backend: str, rng: np.random.Generator, *, n_random: int = 600) -> dict:
    """Run every activation row through one backend; one Result per row."""
    results: dict[str, Result] = {}
    for entry in ACTIVATIONS:
        res = results.setdefault(entry.name, Result())
        for params in entry.param_sets:
            label = ",".join(f"{k}={v}" for k, v in params.items())
            for dtype in DTYPES:
                edges = activation_edge_values(entry, params, dtype)
                vectors = [edges, activation_random_values(dtype, n_random, rng)]
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
                    p = _fit_params(entry, params, v)
                    got = entry.call(v, p, backend=backend)
                    ok = type(got) is type(v) and entry.verify(np.array([v]), np.array([got]), p)
                    res.add(ok, f"{label} {dtype.name} scalar {v!r}")
            for v in activation_edge_values(entry, params, np.float64).tolist():  # Python floats
                p = _fit_params(entry, params, v)
                got = entry.call(v, p, backend=backend)
                ok = type(got) is float and entry.verify(np.array([v]), np.array([got]), p)
                res.add(ok, f"{label} float {v!r}")
            for i in (0, 1, -1, 7, -7, 2**62, -(2**63)):  # ints are computed as floats
                p = _fit_params(entry, params, i)
                got = entry.call(i, p, backend=backend)
                want = entry.call(float(i), p, backend=backend)
                ok = type(got) is float and same_bits(np.array(got), np.array(want))
                res.add(ok, f"{label} int {i}")
    return results


def _check_forms(
    entry: Activation, params: dict, x: np.ndarray, backend: str, res: Result, what: str
) -> None:
    """Out of place (input untouched), out= (out itself back) and in place, all verified."""
    p = _fit_params(entry, params, x)
    before = x.copy()
    got = entry.call(x, p, backend=backend)
    res.add(entry.verify(x, got, p) and same_bits(x, before), what)
    out = np.full_like(x, 7)
    got = entry.call(x, p, out=out, backend=backend)
    res.add(got is out and entry.verify(x, out, p), what + " out=")
    inplace = x.copy()
    got = entry.call(inplace, p, out=inplace, backend=backend)
    res.add(got is inplace and entry.verify(before, inplace, p), what + " in place")

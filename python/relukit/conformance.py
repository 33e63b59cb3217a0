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

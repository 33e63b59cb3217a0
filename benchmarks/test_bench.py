"""relukit's cross-backend benchmark: the four backends side by side, one group per case.

Every group is one op, dtype and size (e.g. ``relu_array float32 n=65536``) and holds the
backends ``python``, ``numpy``, ``c`` and ``rust`` called through the facade, plus

- ``numpy-ref``: the plain NumPy expression the facade competes with
  (``np.maximum(x, 0, out=y)``; for ``relu_grad`` the textbook ``np.greater(x, 0, out=y)``),
- ``copyto``: ``np.copyto(y, x)`` on the same buffers, the memory roofline,
- ``numpy-expr`` in the dense groups: ``np.maximum(x @ W + b, 0)``.

Each case is checked before it is timed (and the ``out=`` cases again afterwards): relu
bit for bit against ``np.maximum(x, 0)``, relu_grad bit for bit against the contract,
dense within the documented rounding bound of a float64 reference. A wrong backend fails
its test instead of reporting a speed. The pure Python backend is left out of the
parametrisation where one call would take too long (more than 64 Ki elements; the 784->256
layer at batch 256).

Run with ``make bench``; ``pytest benchmarks --benchmark-disable`` runs every check once
without timing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest

import relukit

BACKENDS = ("python", "numpy", "c", "rust")
PYTHON_MAX_ELEMENTS = 1 << 16  # one pure-Python call stays under ~20 ms
KI, MI = 1 << 10, 1 << 20
RELU_SIZES = (16, 256, 4 * KI, 64 * KI, MI, 16 * MI)  # 16 Mi float32: x + y = 4 x the 32 MiB L3
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
UINT = {F32: np.uint32, F64: np.uint64}
DTYPE_RANK = {F32: 0, F64: 1}
INPLACE_ROUNDS = 200  # in place needs fresh input per round: fixed rounds via pedantic()

# Sort keys for the groups (the conftest orders groups by these, not alphabetically).
OP_RANK = {
    "relu": 0,
    "relu_array": 1,
    "relu_array alloc": 2,
    "relu_array in-place": 3,
    "relu_grad": 4,
    "dense": 5,
}


# ----------------------------------------------------------------------------- data


def size_label(n: int) -> str:
    return f"{n // MI}M" if n >= MI and n % MI == 0 else str(n)


def _special_values(dtype: np.dtype) -> np.ndarray:
    """The numeric contract's edge cases: NaNs (with payload, negative), ±inf, ±0, subnormals."""
    info = np.finfo(dtype)
    values = np.array(
        [
            0.0,
            -0.0,
            np.inf,
            -np.inf,
            info.smallest_subnormal,
            -info.smallest_subnormal,
            info.tiny,
            -info.tiny,
            info.max,
            -info.max,
            1.0,
            -1.0,
            np.nan,
            -np.nan,
            np.nan,
        ],
        dtype=dtype,
    )
    bits = values.view(UINT[dtype])
    bits[-1] |= 1  # a quiet NaN with a payload
    return values


@cache
def inputs(dtype: np.dtype, n: int) -> np.ndarray:
    """Standard normal data (half negative), the same for every implementation in a group."""
    rng = np.random.default_rng(n)
    return rng.standard_normal(n, dtype=dtype)


@cache
def special_inputs(dtype: np.dtype, n: int) -> np.ndarray:
    """``inputs`` with the edge cases spread over the array (body and tail of the kernels)."""
    x = inputs(dtype, n).copy()
    specials = _special_values(dtype)
    k = min(n, len(specials))
    positions = np.linspace(0, n - 1, k).astype(np.intp)
    x.view(UINT[dtype])[positions] = specials.view(UINT[dtype])[:k]
    return x


@cache
def out_buffer(dtype: np.dtype, n: int) -> np.ndarray:
    """The preallocated ``out`` shared by a group (so copyto runs on the same buffers)."""
    y = np.empty(n, dtype=dtype)
    y.fill(0)  # touch every page now, not inside the first timed call
    return y


def relu_expected(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def grad_expected(x: np.ndarray) -> np.ndarray:
    """The contract's derivative: 1 for x > 0, 0 for x <= 0, NaN (same bits) for NaN."""
    g = np.greater(x, 0).astype(x.dtype)
    nan = np.isnan(x)
    g.view(UINT[x.dtype])[nan] = x.view(UINT[x.dtype])[nan]
    return g


def assert_bits_equal(got: Any, expected: np.ndarray, what: str) -> None:
    assert isinstance(got, np.ndarray), f"{what}: returned {type(got).__name__}, not an ndarray"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, expected {expected.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    u = UINT[expected.dtype]
    bad = np.flatnonzero(got.view(u) != expected.view(u))
    assert bad.size == 0, (
        f"{what}: {bad.size} elements differ from the reference bit for bit, first at index "
        f"{bad[0]}: got {got[bad[0]]!r}, expected {expected[bad[0]]!r}"
    )


def _check_elementwise(
    call: Callable[[np.ndarray], Any],
    impl: str,
    dtype: np.dtype,
    n: int,
    expected_of: Callable[[np.ndarray], np.ndarray],
    what: str,
) -> None:
    """Check ``call(x)`` (returns the result array) on the timed input, and for the
    backends also on the same input with the contract's edge cases spread through it."""
    if impl == "copyto":
        expected_of = np.copy
    arrays = [inputs(dtype, n)]
    if impl in BACKENDS:
        arrays.append(special_inputs(dtype, n))
    for x in arrays:
        assert_bits_equal(call(x), expected_of(x), what)


def _elementwise_info(dtype: np.dtype, n: int) -> dict[str, int]:
    return {"elements": n, "nbytes": 2 * n * dtype.itemsize}


def _impls(n: int) -> list[str]:
    backends = [b for b in BACKENDS if b != "python" or n <= PYTHON_MAX_ELEMENTS]
    return [*backends, "numpy-ref", "copyto"]


def _params(cases: list[tuple[np.dtype, int]]) -> list[Any]:
    return [
        pytest.param(dtype, n, impl, id=f"{dtype.name}-n={size_label(n)}-{impl}")
        for dtype, n in cases
        for impl in _impls(n)
    ]


# ----------------------------------------------------------------------------- relu, one value


SCALAR = -2.5
SCALAR_CHECKS = (-2.5, 3.0, 0.0, -0.0, float("inf"), float("-inf"), 5e-324, -5e-324, float("nan"))


def _float_bits(v: float) -> bytes:
    return struct.pack("<d", v)


@pytest.mark.parametrize("impl", [*BACKENDS, "numpy-ref"])
def test_relu_scalar(benchmark: Any, case: Callable[..., None], impl: str) -> None:
    """``relukit.relu(x)`` on one Python float (the facade's per-call cost)."""
    case(group="relu float (one value)", impl=impl, order=(OP_RANK["relu"],), elements=1, nbytes=0)
    if impl == "numpy-ref":
        fn, kwargs = np.maximum, {}
        args: tuple = (SCALAR, 0.0)
    else:
        fn, kwargs, args = relukit.relu, {"backend": impl}, (SCALAR,)
        for v in SCALAR_CHECKS:
            got = relukit.relu(v, backend=impl)
            expected = float(np.maximum(v, 0.0))
            assert type(got) is float, f"relu({v!r}) on {impl} returned {type(got).__name__}"
            assert _float_bits(got) == _float_bits(expected), f"relu({v!r}) on {impl}: {got!r}"
        assert relukit.relu(-3, backend=impl) == 0
        assert type(relukit.relu(7, backend=impl)) is int
    result = benchmark(fn, *args, **kwargs)
    assert float(result) == 0.0


# ----------------------------------------------------------------------------- relu_array


#: op -> (the plain NumPy reference with out=, the facade function)
OUT_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "relu_array": (np.maximum, relukit.relu_array),
    "relu_grad": (np.greater, relukit.relu_grad),  # the textbook derivative (NaN -> 0)
}
EXPECTED = {"relu_array": relu_expected, "relu_grad": grad_expected}


def _out_call(op: str, impl: str, x: np.ndarray, out: np.ndarray) -> tuple[Any, tuple, dict]:
    """(fn, args, kwargs): one call writing op(x) (copyto: x) into ``out``, no wrapper."""
    reference, facade = OUT_OPS[op]
    if impl == "numpy-ref":
        return reference, (x, 0), {"out": out}
    if impl == "copyto":
        return np.copyto, (out, x), {}
    return facade, (x,), {"out": out, "backend": impl}


def _bench_out(benchmark: Any, op: str, impl: str, dtype: np.dtype, n: int) -> None:
    """Check, time and check again ``op`` into the group's preallocated ``out``."""
    what = f"{op}(x, out=y) on {impl}"

    def call(a: np.ndarray) -> np.ndarray:
        y = np.full_like(a, 12345)  # a sentinel: elements left unwritten show up
        fn, args, kwargs = _out_call(op, impl, a, y)
        result = fn(*args, **kwargs)
        if impl in BACKENDS:
            assert result is y, f"{what}: did not return out"
        return y

    # numpy-ref of relu_grad turns NaN into 0: like copyto it is checked on the timed data only
    _check_elementwise(call, impl, dtype, n, EXPECTED[op], what)
    x, out = inputs(dtype, n), out_buffer(dtype, n)
    fn, args, kwargs = _out_call(op, impl, x, out)
    benchmark(fn, *args, **kwargs)
    assert_bits_equal(out, x if impl == "copyto" else EXPECTED[op](x), f"{what} after timing")


RELU_OUT_CASES = [(F32, n) for n in RELU_SIZES] + [(F64, 4 * KI), (F64, MI)]


@pytest.mark.parametrize(("dtype", "n", "impl"), _params(RELU_OUT_CASES))
def test_relu_array(
    benchmark: Any, case: Callable[..., None], dtype: np.dtype, n: int, impl: str
) -> None:
    """``relu_array(x, out=y)`` into a preallocated ``y``: the kernel plus the facade."""
    case(
        group=f"relu_array {dtype.name} n={size_label(n)}",
        impl=impl,
        order=(OP_RANK["relu_array"], DTYPE_RANK[dtype], n),
        **_elementwise_info(dtype, n),
    )
    _bench_out(benchmark, "relu_array", impl, dtype, n)


RELU_ALLOC_CASES = [(F32, 4 * KI), (F32, MI)]


@pytest.mark.parametrize(("dtype", "n", "impl"), _params(RELU_ALLOC_CASES))
def test_relu_array_alloc(
    benchmark: Any, case: Callable[..., None], dtype: np.dtype, n: int, impl: str
) -> None:
    """``relu_array(x)`` out of place: the timed call includes allocating the result."""
    case(
        group=f"relu_array {dtype.name} n={size_label(n)} alloc",
        impl=impl,
        order=(OP_RANK["relu_array alloc"], DTYPE_RANK[dtype], n),
        **_elementwise_info(dtype, n),
    )
    x = inputs(dtype, n)
    if impl == "numpy-ref":
        fn, args, kwargs = np.maximum, (x, 0), {}
    elif impl == "copyto":  # allocation + copy: the roofline of an out-of-place op
        fn, args, kwargs = x.copy, (), {}
    else:
        fn, args, kwargs = relukit.relu_array, (x,), {"backend": impl}

    def call(a: np.ndarray) -> Any:
        if impl == "numpy-ref":
            return np.maximum(a, 0)
        if impl == "copyto":
            return a.copy()
        return relukit.relu_array(a, backend=impl)

    _check_elementwise(call, impl, dtype, n, relu_expected, f"relu_array (alloc) on {impl}")
    result = benchmark(fn, *args, **kwargs)
    assert_bits_equal(result, x if impl == "copyto" else relu_expected(x), f"{impl} after timing")


RELU_INPLACE_CASES = [(F32, MI)]


@pytest.mark.parametrize(("dtype", "n", "impl"), _params(RELU_INPLACE_CASES))
def test_relu_array_inplace(
    benchmark: Any, case: Callable[..., None], dtype: np.dtype, n: int, impl: str
) -> None:
    """``relu_array(x, out=x)``; each round restores x first (untimed), so every timed call
    sees the same half-negative data rather than its own already-rectified output."""
    case(
        group=f"relu_array {dtype.name} n={size_label(n)} in-place",
        impl=impl,
        order=(OP_RANK["relu_array in-place"], DTYPE_RANK[dtype], n),
        **_elementwise_info(dtype, n),
    )
    x = inputs(dtype, n)
    buf = x.copy()
    out = out_buffer(dtype, n)

    def run() -> None:
        if impl == "numpy-ref":
            np.maximum(buf, 0, out=buf)
        elif impl == "copyto":  # no in-place copy: the roofline from buf to another buffer
            np.copyto(out, buf)
        else:
            relukit.relu_array(buf, out=buf, backend=impl)

    def restore() -> None:
        np.copyto(buf, x)

    def call(a: np.ndarray) -> np.ndarray:
        b = a.copy()
        if impl == "numpy-ref":
            np.maximum(b, 0, out=b)
        elif impl == "copyto":
            return a.copy()
        else:
            assert relukit.relu_array(b, out=b, backend=impl) is b, "out=x must return x"
        return b

    _check_elementwise(call, impl, dtype, n, relu_expected, f"relu_array (in place) on {impl}")
    benchmark.pedantic(run, setup=restore, rounds=INPLACE_ROUNDS, warmup_rounds=5)
    if impl == "copyto":
        assert_bits_equal(out, x, "copyto after timing")
    else:
        assert_bits_equal(buf, relu_expected(x), f"{impl} after timing")


# ----------------------------------------------------------------------------- relu_grad


RELU_GRAD_CASES = [(F32, 4 * KI), (F32, MI)]


@pytest.mark.parametrize(("dtype", "n", "impl"), _params(RELU_GRAD_CASES))
def test_relu_grad(
    benchmark: Any, case: Callable[..., None], dtype: np.dtype, n: int, impl: str
) -> None:
    """``relu_grad(x, out=y)`` into a preallocated ``y``."""
    case(
        group=f"relu_grad {dtype.name} n={size_label(n)}",
        impl=impl,
        order=(OP_RANK["relu_grad"], DTYPE_RANK[dtype], n),
        **_elementwise_info(dtype, n),
    )
    _bench_out(benchmark, "relu_grad", impl, dtype, n)


# ----------------------------------------------------------------------------- dense


# (dtype, in, out, batch); batch 0 = a 1-D input, as in the guide's example
DENSE_CASES = [(F64, 3, 2, 0), (F32, 784, 256, 1), (F32, 784, 256, 256)]
PYTHON_MAX_MACS = 1 << 20  # pure Python: ~50-100 ns per multiply-add


def _dense_label(dtype: np.dtype, n_in: int, n_out: int, batch: int) -> str:
    shape = "guide example, 1-D input" if batch == 0 else f"batch={batch}"
    return f"dense {dtype.name} {n_in}->{n_out} {shape}"


def _dense_params() -> list[Any]:
    params = []
    for dtype, n_in, n_out, batch in DENSE_CASES:
        for impl in [*BACKENDS, "numpy-expr"]:
            if impl == "python" and max(batch, 1) * n_in * n_out > PYTHON_MAX_MACS:
                continue
            cid = f"{dtype.name}-{n_in}x{n_out}-batch{batch}-{impl}"
            params.append(pytest.param(dtype, n_in, n_out, batch, impl, id=cid))
    return params


def _layer(dtype: np.dtype, n_in: int, n_out: int, impl: str) -> relukit.Dense:
    backend = impl if impl in BACKENDS else "numpy"
    if (n_in, n_out) == (3, 2):  # the guide's layer: randn weights, zero biases, float64
        return relukit.SimpleNeuralLayer(3, 2, seed=0, backend=backend)
    layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=0, backend=backend)
    layer.biases = np.random.default_rng(1).standard_normal(n_out) * 0.1
    return layer


def _dense_input(dtype: np.dtype, n_in: int, batch: int) -> np.ndarray:
    if n_in == 3:
        return np.array([1.0, 2.0, -1.0], dtype=dtype)  # the guide's input
    return np.random.default_rng(2).random((batch, n_in)).astype(dtype)  # pixel-like [0, 1)


def assert_dense_close(got: Any, x: np.ndarray, layer: relukit.Dense, what: str) -> None:
    """Within (K + 2) * eps * (sum |x||W| + |b|) of the float64 result (README's bound)."""
    x64, w64, b64 = (a.astype(np.float64) for a in (x, layer.weights, layer.biases))
    expected = np.maximum(x64 @ w64 + b64, 0)
    assert isinstance(got, np.ndarray), f"{what}: returned {type(got).__name__}"
    assert got.dtype == layer.dtype, f"{what}: dtype {got.dtype}, expected {layer.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    eps = np.finfo(layer.dtype).eps
    tol = (x.shape[-1] + 2) * eps * (np.abs(x64) @ np.abs(w64) + np.abs(b64))
    tol += np.finfo(layer.dtype).smallest_subnormal
    err = np.abs(got.astype(np.float64) - expected)
    assert np.all(err <= tol), f"{what}: max error {err.max():.3g} exceeds the bound"


@pytest.mark.parametrize(("dtype", "n_in", "n_out", "batch", "impl"), _dense_params())
def test_dense_forward(
    benchmark: Any,
    case: Callable[..., None],
    dtype: np.dtype,
    n_in: int,
    n_out: int,
    batch: int,
    impl: str,
) -> None:
    """``Dense(...).forward(x)`` against ``np.maximum(x @ W + b, 0)``."""
    rows = max(batch, 1)
    nbytes = (rows * n_in + n_in * n_out + n_out + rows * n_out) * dtype.itemsize
    case(
        group=_dense_label(dtype, n_in, n_out, batch),
        impl=impl,
        kind="dense",
        order=(OP_RANK["dense"], n_in * n_out, batch),
        elements=rows * n_out,
        nbytes=nbytes,
        flops=2 * rows * n_in * n_out,
    )
    layer = _layer(dtype, n_in, n_out, impl)
    x = _dense_input(dtype, n_in, batch)
    if impl == "numpy-expr":
        w, b = layer.weights, layer.biases

        def fn(v: np.ndarray) -> np.ndarray:
            return np.maximum(v @ w + b, 0)
    else:
        fn = layer.forward
    assert_dense_close(fn(x), x, layer, f"dense forward on {impl}")
    result = benchmark(fn, x)
    assert_dense_close(result, x, layer, f"dense forward on {impl} after timing")

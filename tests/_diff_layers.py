"""Hostile parameters for the layer differential tests: ``Dense`` and ``nn.Linear`` with any
array assigned to their weights and biases (F-ordered, a transposed PyTorch-style weight,
another dtype or shape, non-contiguous, unaligned) and changed in place after a forward.

:func:`run_layer` records each step of one scenario on one backend (the exception type, or
the arrays computed); :func:`compare_layer_runs` holds a backend's steps to the numpy
backend's within the dense tolerance of :func:`relukit.conformance.dense_tolerance`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import relukit
from relukit import nn
from relukit.conformance import dense_tolerance

# ---- the dense fast path's inputs --------------------------------------------------------

ARRAY_KINDS = ("C", "C", "C", "F", "sliced", "unaligned", "subclass", "readonly")
DTYPE_KINDS = ("same", "same", "same", "same", "other", "float16", "int64", "swapped")


@dataclass(frozen=True)
class DenseFastCase:
    dtype: str
    n_in: int
    n_out: int
    batch: int
    x_ndim: int  # 1, 2, or something else (0, 3)
    x_extra: int  # extra columns (a wrong in-features)
    x_kind: str
    x_dtype: str
    w_kind: str
    w_dtype: str
    w_transposed: bool  # w given as (out, in)
    b_kind: str
    b_dtype: str
    b_len_extra: int
    seed: int


def _convert(a: np.ndarray, dtype_kind: str, dtype: np.dtype) -> np.ndarray:
    if dtype_kind == "other":
        return a.astype(np.float64 if dtype == np.float32 else np.float32)
    if dtype_kind == "float16":
        return a.astype(np.float16)
    if dtype_kind == "int64":
        return np.rint(a).astype(np.int64)
    if dtype_kind == "swapped":
        return a.astype(dtype.newbyteorder("S"))
    return a.astype(dtype)


def arrange(a: np.ndarray, kind: str) -> np.ndarray:
    """The values of ``a`` in another memory layout (or another type)."""
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "sliced":
        parent = np.zeros((*a.shape[:-1], 2 * a.shape[-1]) if a.ndim else (2,), a.dtype)
        view = parent[..., ::2] if a.ndim else parent[:1].reshape(())
        view[...] = a
        return view
    if kind == "unaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        view = np.ndarray(a.shape, a.dtype, buffer=buf, offset=1)
        view[...] = a
        return view
    if kind == "reversed":
        parent = a[::-1].copy() if a.ndim else a.copy()
        return parent[::-1] if a.ndim else parent
    if kind == "subclass":
        return a.copy().view(_Sub)
    if kind == "readonly":
        b = np.array(a)  # an ndarray (0-d for a NumPy scalar) that can be made read-only
        b.flags.writeable = False
        return b
    return np.ascontiguousarray(a)


class _Sub(np.ndarray):
    """A trivial ndarray subclass."""


@st.composite
def dense_fast_cases(draw: st.DrawFn) -> DenseFastCase:
    return DenseFastCase(
        dtype=draw(st.sampled_from(("float32", "float64"))),
        n_in=draw(st.integers(0, 9)),
        n_out=draw(st.integers(0, 9)),
        batch=draw(st.integers(0, 4)),
        x_ndim=draw(st.sampled_from((1, 2, 2, 2, 0, 3))),
        x_extra=draw(st.sampled_from((0, 0, 0, 0, 1))),
        x_kind=draw(st.sampled_from(ARRAY_KINDS)),
        x_dtype=draw(st.sampled_from(DTYPE_KINDS)),
        w_kind=draw(st.sampled_from(ARRAY_KINDS)),
        w_dtype=draw(st.sampled_from(DTYPE_KINDS)),
        w_transposed=draw(st.integers(0, 7)) == 0,
        b_kind=draw(st.sampled_from(ARRAY_KINDS)),
        b_dtype=draw(st.sampled_from(DTYPE_KINDS)),
        b_len_extra=draw(st.sampled_from((0, 0, 0, 0, 1))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def build_dense_fast(case: DenseFastCase) -> tuple[Any, np.ndarray, np.ndarray]:
    dt = np.dtype(case.dtype)
    rng = np.random.default_rng(case.seed)
    w = rng.standard_normal((case.n_in, case.n_out)) * 2
    if case.w_transposed:
        w = w.T
    w = arrange(_convert(w, case.w_dtype, dt), case.w_kind)
    b = rng.standard_normal(case.n_out + case.b_len_extra) * 2
    b = arrange(_convert(b, case.b_dtype, dt), case.b_kind)
    n_in = case.n_in + case.x_extra
    shape = {0: (), 1: (n_in,), 2: (case.batch, n_in), 3: (2, case.batch, n_in)}[case.x_ndim]
    x = rng.standard_normal(shape) * 2
    x = arrange(_convert(x, case.x_dtype, dt), case.x_kind)
    return x, w, b


def tolerance(x: np.ndarray, w: np.ndarray, b: Any, dtype: np.dtype) -> np.ndarray:
    """The dense tolerance of ``x @ w + b`` (conformance's bound; ReLU does not widen it)."""
    x64 = np.asarray(x, dtype=np.float64)
    w64 = np.asarray(w, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    return dense_tolerance(x64, w64, b64, np.dtype(dtype))


# ---- layer scenarios ---------------------------------------------------------------------

WEIGHTS = (
    "keep",
    "C",
    "F",
    "transposed",
    "other_float",
    "int",
    "float16",
    "bool",
    "wrong_shape",
    "sliced",
    "unaligned",
    "reversed",
    "readonly",
    "swapped",
)
BIASES = (
    "keep",
    "C",
    "other_float",
    "int",
    "f64_bytes",
    "wrong_len",
    "row",
    "sliced",
    "unaligned",
    "reversed",
    "swapped",
)
MUTATIONS = ("none", "w_write", "w_shape", "w_dtype", "b_write", "b_shape", "b_dtype")
INPUTS = ("C", "F", "sliced", "unaligned", "other_float", "int", "list", "readonly")


@dataclass(frozen=True)
class LayerCase:
    kind: str  # "dense" or "linear"
    dtype: str
    n_in: int
    n_out: int
    batch: int
    one_d: bool
    weight: str
    bias: str
    mutate: str
    x_kind: str
    seed: int


@st.composite
def layer_cases(draw: st.DrawFn) -> LayerCase:
    return LayerCase(
        kind=draw(st.sampled_from(("dense", "linear"))),
        dtype=draw(st.sampled_from(("float32", "float64"))),
        n_in=draw(st.integers(0, 9)),
        n_out=draw(st.integers(0, 10)),
        batch=draw(st.integers(0, 4)),
        one_d=draw(st.integers(0, 5)) == 0,
        weight=draw(st.sampled_from(WEIGHTS)),
        bias=draw(st.sampled_from(BIASES)),
        mutate=draw(st.sampled_from(MUTATIONS)),
        x_kind=draw(st.sampled_from(INPUTS)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def _weight_value(case: LayerCase, rng: np.random.Generator, dt: np.dtype) -> Any:
    kind = case.weight
    shape = (case.n_in, case.n_out)
    w = rng.standard_normal(shape)
    if kind == "transposed":  # a PyTorch-style (out, in) weight, seen through .T
        return np.ascontiguousarray(rng.standard_normal(shape[::-1]).astype(dt)).T
    if kind == "other_float":
        return w.astype(np.float64 if dt == np.float32 else np.float32)
    if kind == "int":
        return np.rint(w * 3).astype(np.int64)
    if kind == "float16":
        return w.astype(np.float16)
    if kind == "bool":
        return w > 0
    if kind == "swapped":
        return w.astype(dt.newbyteorder("S"))
    if kind == "wrong_shape":
        return rng.standard_normal((case.n_in + 1, case.n_out)).astype(dt)
    return arrange(w.astype(dt), kind)


def _bias_value(case: LayerCase, rng: np.random.Generator, dt: np.dtype) -> Any:
    kind = case.bias
    b = rng.standard_normal(case.n_out)
    if kind == "other_float":
        return b.astype(np.float64 if dt == np.float32 else np.float32)
    if kind == "int":
        return np.rint(b * 3).astype(np.int64)
    if kind == "f64_bytes":  # float64 with the byte count of the float32 bias (or half of it)
        return np.ones(max(case.n_out * dt.itemsize // 8, 1))
    if kind == "wrong_len":
        return rng.standard_normal(case.n_out + 1).astype(dt)
    if kind == "row":
        return b.astype(dt).reshape(1, -1)
    if kind == "swapped":
        return b.astype(dt.newbyteorder("S"))
    return arrange(b.astype(dt), kind)


def _input(case: LayerCase, rng: np.random.Generator, dt: np.dtype) -> Any:
    shape = (case.n_in,) if case.one_d else (case.batch, case.n_in)
    x = rng.standard_normal(shape)
    kind = case.x_kind
    if kind == "other_float":
        return x.astype(np.float64 if dt == np.float32 else np.float32)
    if kind == "int":
        return np.rint(x * 3).astype(np.int64)
    if kind == "list":
        return x.astype(dt).tolist()
    return arrange(x.astype(dt), kind)


@dataclass
class Step:
    """One step of a scenario: an exception type, or the arrays it computed."""

    label: str
    exc: type | None = None
    message: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    tolerances: dict[str, np.ndarray] = field(default_factory=dict)


def _params(layer: Any, case: LayerCase) -> tuple[Any, Any]:
    if case.kind == "dense":
        return layer.weights, layer.biases
    return layer.weight.value, layer.bias.value


def _mutate(layer: Any, case: LayerCase, rng: np.random.Generator) -> None:
    """Change a parameter in place, as a user might after a forward."""
    w, b = _params(layer, case)
    kind = case.mutate
    if kind == "w_write":
        w[...] = rng.standard_normal(w.shape)
    elif kind == "b_write":
        b[...] = rng.standard_normal(b.shape)
    elif kind == "w_shape":
        w.shape = w.shape[::-1] if w.ndim == 2 and w.shape[0] != w.shape[1] else (w.size,)
    elif kind == "b_shape":
        b.shape = (1, b.size)
    elif kind == "w_dtype":
        w.dtype = np.dtype(f"i{w.dtype.itemsize}")
    elif kind == "b_dtype":
        b.dtype = np.dtype(f"i{b.dtype.itemsize}")


def _forward_tolerance(x: Any, w: Any, b: Any, dt: np.dtype) -> np.ndarray | None:
    try:
        x2 = np.asarray(x, dtype=np.float64)
        x2 = x2.reshape(1, -1) if x2.ndim == 1 else x2
        with np.errstate(all="ignore"):
            return tolerance(x2, w, b, dt)
    except (ValueError, TypeError):
        return None


def run_layer(case: LayerCase, backend: str) -> list[Step]:
    """The scenario on one backend: construct, assign, forward, mutate, forward, backward."""
    dt = np.dtype(case.dtype)
    rng = np.random.default_rng(case.seed)
    steps: list[Step] = []
    if case.kind == "dense":
        layer: Any = relukit.Dense(case.n_in, case.n_out, dtype=dt, seed=1, backend=backend)
    else:
        layer = nn.Linear(case.n_in, case.n_out, dtype=dt, seed=1, backend=backend)
    layer_dt = dt

    def record(label: str, fn: Callable[[], dict[str, np.ndarray]], tol: Callable) -> bool:
        step = Step(label)
        steps.append(step)
        try:
            with np.errstate(all="ignore"):
                step.arrays = fn()
        except Exception as exc:
            step.exc, step.message = type(exc), str(exc)
            return False
        if backend == "numpy":
            step.tolerances = tol(step.arrays)
        return True

    w_value = None if case.weight == "keep" else _weight_value(case, rng, dt)
    b_value = None if case.bias == "keep" else _bias_value(case, rng, dt)

    def assign() -> dict:
        if case.kind == "dense":
            if w_value is not None:
                layer.weights = w_value
            if b_value is not None:
                layer.biases = b_value
        else:
            if w_value is not None:
                layer.weight.value = w_value
            if b_value is not None:
                layer.bias.value = b_value
        return {}

    if not record("assign", assign, lambda a: {}):
        return steps
    x = _input(case, rng, dt)
    dy = rng.standard_normal((case.n_out,) if case.one_d else (case.batch, case.n_out))

    def forward() -> dict:
        y = layer.forward(x)
        return {"y": np.array(y, copy=True)}

    def forward_tol(arrays: dict) -> dict:
        w, b = _params(layer, case)
        t = _forward_tolerance(x, w, b, arrays["y"].dtype)
        return {} if t is None else {"y": t}

    if not record("forward", forward, forward_tol):
        return steps
    if case.mutate != "none":
        if not record("mutate", lambda: (_mutate(layer, case, rng), {})[1], lambda a: {}):
            return steps
        if not record("forward after the change", forward, forward_tol):
            return steps
    if case.kind == "linear":

        def backward() -> dict:
            g = dy.astype(layer_dt)
            dx = layer.backward(g)
            return {
                "dx": np.array(dx, copy=True),
                "dW": np.array(layer.weight.grad, copy=True),
                "db": np.array(layer.bias.grad, copy=True),
            }

        def backward_tol(arrays: dict) -> dict:
            tols = {}
            try:
                w = np.asarray(layer.weight.value, dtype=np.float64)
                xs = np.asarray(x, dtype=np.float64).reshape(-1, case.n_in)
                g = np.asarray(dy, dtype=np.float64).reshape(xs.shape[0], -1)
                tols["dx"] = tolerance(g, w.T, np.zeros(w.shape[0]), arrays["dx"].dtype)
                tols["dW"] = tolerance(xs.T, g, np.zeros(g.shape[1]), arrays["dW"].dtype)
                ones = np.ones((1, xs.shape[0]))
                tols["db"] = tolerance(ones, g, np.zeros(g.shape[1]), arrays["db"].dtype)[0]
                if case.one_d:
                    tols["dx"] = tols["dx"].reshape(-1)
            except (ValueError, TypeError):
                pass
            return tols

        record("backward", backward, backward_tol)
    return steps


def compare_layer_runs(
    got: list[Step], want: list[Step], kind_of: Callable[[type | None], type | None]
) -> str:
    """'' if a backend's steps match numpy's; else the first difference."""
    for g, w in zip(got, want, strict=False):
        if kind_of(g.exc) is not kind_of(w.exc):
            return f"{w.label}: raised {g.exc} ({g.message}), numpy {w.exc} ({w.message})"
        for name, want_a in w.arrays.items():
            got_a = g.arrays[name]
            if got_a.dtype != want_a.dtype or got_a.shape != want_a.shape:
                return (
                    f"{w.label}: {name} is {got_a.dtype}{got_a.shape}, "
                    f"numpy {want_a.dtype}{want_a.shape}"
                )
            tol = w.tolerances.get(name)
            a, b = got_a.astype(np.float64), want_a.astype(np.float64)
            same_nan = np.isnan(a) == np.isnan(b)
            with np.errstate(invalid="ignore"):
                close = (a == b) | (np.abs(a - b) <= (2 * tol if tol is not None else 0))
            if not np.all(same_nan & (close | np.isnan(a))):
                worst = np.nanmax(np.abs(a - b)) if a.size else 0
                return f"{w.label}: {name} differs from numpy (max abs difference {worst:.3g})"
    if len(got) != len(want):
        return f"ran {len(got)} steps, numpy {len(want)}"
    return ""

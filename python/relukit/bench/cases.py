"""The benchmark's case registry: every op, the statements it times, how each is checked.

A :class:`Case` is one op at one dtype, size (or dense shape) and thread count. Building it
(:func:`build`) gives its :class:`Impl`\\ s, each one timed statement:

- one per backend, called through the facade (``relukit.relu(x, out=y, backend="c")``);
- ``ref``, the *reference*: the plain NumPy expression the op is compared with
  (``np.maximum(x, 0, out=y)``; for one Python float, a pure-Python expression instead);
- ``roofline``: ``np.copyto(y, x)`` on the same buffers, the memory-bound ceiling of an
  elementwise op (``x.copy()`` for the allocating op; ``x @ W`` alone for dense).

Every implementation is checked before it is timed (on an ``out`` filled with a sentinel, so
an element left unwritten shows) and again after its last timed run, on the output of that
run: relu and relu_grad bit for bit against the bit-level references of
:mod:`relukit.conformance`, dense within its documented rounding bound. The timed input is
standard-normal data (half negative) with the contract's edge values (NaNs with payloads,
signalling NaNs, ±inf, ±0.0, subnormals) spread through it, so the check covers them too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

import relukit
from relukit.conformance import (
    ACTIVATIONS,
    ACTIVATIONS_BY_NAME,
    Activation,
    dense_reference,
    dense_tolerance,
    edge_values,
    ref_relu,
    ref_relu_grad,
)

KI, MI = 1 << 10, 1 << 20
DTYPES = ("float32", "float64")
BACKENDS = ("python", "numpy", "c", "rust")
#: Roles of an implementation in a case.
BACKEND, REFERENCE, ROOFLINE, BASELINE = "backend", "reference", "roofline", "baseline"


@dataclass(frozen=True)
class Op:
    """One benchmarked operation and what it is compared with."""

    name: str
    kind: str  # "elementwise", "dense" or "scalar"
    call: str  # how the facade is called
    reference: str  # the plain expression it is compared with ("x NumPy")
    roofline: str | None
    about: str


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(
            "relu",
            "elementwise",
            "relu(x, out=y)",
            "np.maximum(x, 0, out=y)",
            "np.copyto(y, x)",
            "out of place into a preallocated y",
        ),
        Op(
            "relu_inplace",
            "elementwise",
            "relu(x, out=x)",
            "np.maximum(x, 0, out=x)",
            "np.copyto(y, x)",
            "in place; every timed run starts from the original x (restored untimed), the "
            "calls after the first in a run re-apply relu, which is idempotent and moves the "
            "same bytes",
        ),
        Op(
            "relu_alloc",
            "elementwise",
            "relu(x)",
            "np.maximum(x, 0)",
            "x.copy()",
            "out of place, a new array per call (allocation and first-touch included)",
        ),
        Op(
            "relu_grad",
            "elementwise",
            "relu_grad(x, out=y)",
            "np.greater(x, 0, out=y)",
            "np.copyto(y, x)",
            "into a preallocated y; the NumPy reference is the textbook derivative, which "
            "gives 0 for NaN where the contract keeps the NaN",
        ),
        Op(
            "dense",
            "dense",
            "Dense(in, out).forward(x)",
            "np.maximum(x @ W + b, 0)",
            "x @ W",
            "relu(x @ W + b); batch 1 is a 1-D input; the roofline is the "
            "matrix product alone (NumPy's BLAS)",
        ),
        Op(
            "relu_float",
            "scalar",
            "relu(v)",
            "v if v > 0.0 or v != v else 0.0",
            None,
            "one Python float; the reference is the contract in pure Python",
        ),
    )
}


def _params_text(params: dict[str, Any]) -> str:
    return "".join(f", {k}={v!r}" for k, v in params.items())


def activation_numpy(entry: Activation) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The plain NumPy expression of an activation (the op table's) with its default params
    (floating-point warnings silenced: exp overflows in the tails) and how it is displayed."""
    assert entry.numpy is not None
    fn, text = entry.numpy
    bound = partial(fn, **entry.params)

    def ref(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return bound(x)

    return ref, text


for _entry in ACTIVATIONS:
    _func = getattr(_entry.func, "__name__", _entry.name)
    OPS[_entry.name] = Op(
        _entry.name,
        "elementwise",
        f"{_func}(x, out=y{_params_text(_entry.params)})",
        activation_numpy(_entry)[1],
        "np.copyto(y, x)",
        "default params, into a preallocated y; checked with the conformance "
        "table's verify ("
        + ("bit for bit" if _entry.exact else "within its ulp bound")
        + "); the NumPy reference is checked loosely (|x| < 1e4, relative 1e-3)",
    )

#: The activation ops but relu's (``--ops activations``); not in the default sweep, which
#: they would make several times longer.
ACTIVATION_OPS = tuple(e.name for e in ACTIVATIONS)
DEFAULT_OPS = ("relu", "relu_inplace", "relu_grad", "dense", "relu_float")
#: Dense shapes of the default sweep: (batch, in, out). Batch 1 is a 1-D input.
DENSE_SHAPES = ((1, 3, 2), (1, 784, 256), (32, 784, 256), (256, 784, 256))


@dataclass(frozen=True)
class Case:
    """One op at one dtype and size (elements; dense: a (batch, in, out) shape), one
    thread count. ``extra`` names additional baselines to time alongside (targets mode)."""

    op: str
    dtype: str = "float32"
    n: int = 0
    shape: tuple[int, int, int] | None = None
    threads: int = 1
    extra: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return OPS[self.op].kind

    @property
    def size_label(self) -> str:
        if self.kind == "dense":
            batch, n_in, n_out = self.shape or (1, 1, 1)
            return f"{n_in}->{n_out} batch {batch}"
        if self.kind == "scalar":
            return "1 float"
        return size_label(self.n)

    @property
    def id(self) -> str:
        """Stable key (used to match cases across runs in ``--compare``)."""
        return f"{self.op} {self.dtype} {self.size_label} t={self.threads}"

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        """Bytes one call must move: elementwise, x read + y written (in place as well: read
        and write); dense, x + W + b read and y written; a scalar, 0."""
        if self.kind == "elementwise":
            return 2 * self.n * self.itemsize
        if self.kind == "dense":
            batch, n_in, n_out = self.shape  # type: ignore[misc]
            return (batch * n_in + n_in * n_out + n_out + batch * n_out) * self.itemsize
        return 0

    @property
    def flops(self) -> int:
        """Floating-point operations of one call (dense: 2 per multiply-add)."""
        if self.kind == "dense":
            batch, n_in, n_out = self.shape  # type: ignore[misc]
            return 2 * batch * n_in * n_out
        return 0

    @property
    def work(self) -> int:
        """Elements (dense: multiply-adds) of one call, what a pure-Python call scales with."""
        if self.kind == "dense":
            batch, n_in, n_out = self.shape  # type: ignore[misc]
            return batch * n_in * n_out
        return max(self.n, 1)


def size_label(n: int) -> str:
    """16, 4K, 1M, 32M (binary prefixes, as elements)."""
    for unit, scale in (("M", MI), ("K", KI)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def parse_count(text: str) -> int:
    """``"4096"``, ``"4K"``, ``"4Ki"``, ``"16M"`` -> elements (binary prefixes)."""
    t = text.strip().upper().removesuffix("I")
    scale = {"K": KI, "M": MI, "G": 1 << 30}.get(t[-1:], 1)
    digits = t[:-1] if scale > 1 else t
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"not a size: {text!r} (use e.g. 16, 4096, 64K, 16M)")
    return int(digits) * scale


def default_sizes(dtype: str, l3_bytes: int) -> list[int]:
    """Powers of 4 from 16 elements, then the first power of 2 whose array (x alone) is at
    least 4x the L3, so the last size streams from DRAM."""
    item = np.dtype(dtype).itemsize
    sizes, n = [], 16
    while n * item < 4 * l3_bytes:
        sizes.append(n)
        n *= 4
    last = 1 << math.ceil(math.log2(4 * l3_bytes / item))
    sizes.append(max(last, 16))
    return sorted(set(sizes))


# ----------------------------------------------------------------------------- data


def _spread_edges(x: np.ndarray) -> np.ndarray:
    """Put the contract's edge values into x at evenly spaced places (at most a quarter)."""
    edges = edge_values(x.dtype)
    k = min(edges.size, x.size // 4)
    if k:
        u = np.dtype(f"u{x.dtype.itemsize}")
        where = np.linspace(0, x.size - 1, k).astype(np.intp)
        x.view(u)[where] = edges[:k].view(u)
    return x


PAGE = 4096
#: Where each buffer starts within a page: x and y half a page apart (see :func:`placed`).
X_OFFSET, Y_OFFSET, BUF_OFFSET = 0, PAGE // 2, PAGE // 4


def placed(n: int, dtype: str, offset: int) -> np.ndarray:
    """An uninitialised array of ``n`` elements starting ``offset`` bytes into a page.

    Two buffers whose addresses are equal modulo 4096 make the CPU stall loads behind
    stores to the other buffer ("4K aliasing"): ``np.copyto`` of 4K float32 ran 7x slower
    on this project's machine with buffers placed that way by the allocator. The bench puts
    x at the start of a page and y half a page further, so every implementation sees the
    same, fair placement whatever malloc returns.
    """
    dt = np.dtype(dtype)
    raw = np.empty(n * dt.itemsize + PAGE + offset, dtype=np.uint8)
    start = (-raw.ctypes.data) % PAGE + offset
    return raw[start : start + n * dt.itemsize].view(dt)


@dataclass
class ElementwiseData:
    """The buffers of one (dtype, n): x, the shared out y, and buf for in place."""

    x: np.ndarray
    y: np.ndarray
    buf: np.ndarray
    _expected: dict[str, np.ndarray] = field(default_factory=dict)

    def expected(self, what: str) -> np.ndarray:
        """``relu``, ``relu_grad`` (the contract) or ``textbook_grad`` (NaN -> 0) of x."""
        if what not in self._expected:
            x = self.x
            if what == "relu":
                value = ref_relu(x)
            elif what == "relu_grad":
                value = ref_relu_grad(x)
            elif what == "textbook_grad":
                value = np.where(np.isnan(x), 0, ref_relu_grad(x)).astype(x.dtype)
            else:
                value = x.copy()
            self._expected[what] = value
        return self._expected[what]


@dataclass
class DenseData:
    x: np.ndarray
    layer: relukit.Dense


class Workspace:
    """Input data for the cases, made once per (dtype, size) and reused by every op and
    thread count of that size; :meth:`release` frees it when the sweep moves on."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._cache: dict[tuple, Any] = {}

    def release(self) -> None:
        self._cache.clear()

    def elementwise(self, dtype: str, n: int) -> ElementwiseData:
        key = ("elementwise", dtype, n)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, n])
            x, y, buf = (placed(n, dtype, off) for off in (X_OFFSET, Y_OFFSET, BUF_OFFSET))
            x[...] = _spread_edges(rng.standard_normal(n, dtype=np.dtype(dtype)))
            y[...] = 0  # every page touched now, not in the first timed call
            buf[...] = x
            self._cache[key] = ElementwiseData(x, y, buf)
        return self._cache[key]

    def dense(self, dtype: str, shape: tuple[int, int, int]) -> DenseData:
        key = ("dense", dtype, shape)
        if key not in self._cache:
            batch, n_in, n_out = shape
            rng = np.random.default_rng([self.seed, batch, n_in, n_out])
            layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=self.seed)
            layer.biases = rng.standard_normal(n_out) * 0.1
            x = rng.random((batch, n_in)).astype(dtype)  # pixel-like [0, 1)
            self._cache[key] = DenseData(x[0].copy() if batch == 1 else x, layer)
        return self._cache[key]


# ----------------------------------------------------------------------------- checks


def _sentinel(dtype: np.dtype) -> np.ndarray:
    """A signalling NaN with a payload no input holds: an element left unwritten shows."""
    u = np.dtype(f"u{dtype.itemsize}")
    bits = 0x7FA5A5A5 if dtype.itemsize == 4 else 0x7FF4A5A5A5A5A5A5
    return np.array(bits, dtype=u).view(dtype)


def bits_mismatch(got: Any, expected: np.ndarray) -> str | None:
    """None when ``got`` has the dtype, shape and bits of ``expected``, else what differs."""
    if not isinstance(got, np.ndarray):
        return f"returned {type(got).__name__}, not an ndarray"
    if got.dtype != expected.dtype or got.shape != expected.shape:
        want = f"{expected.dtype}{list(expected.shape)}"
        return f"returned {got.dtype}{list(got.shape)}, expected {want}"
    u = np.dtype(f"u{expected.dtype.itemsize}")
    bad = np.flatnonzero(got.reshape(-1).view(u) != expected.reshape(-1).view(u))
    if bad.size == 0:
        return None
    i = int(bad[0])
    g, e = got.reshape(-1)[i], expected.reshape(-1)[i]
    return (
        f"{bad.size} of {expected.size} elements differ bit for bit; first at [{i}]: "
        f"got {g!r} (0x{int(got.reshape(-1).view(u)[i]):x}), expected {e!r} "
        f"(0x{int(expected.reshape(-1).view(u)[i]):x})"
    )


def close_mismatch(got: Any, expected: np.ndarray, tol: np.ndarray, dtype: np.dtype) -> str | None:
    """None when ``got`` (of ``dtype``) is within ``tol`` of the float64 ``expected``."""
    if not isinstance(got, np.ndarray):
        return f"returned {type(got).__name__}, not an ndarray"
    if got.dtype != dtype or got.shape != expected.shape:
        return f"returned {got.dtype}{list(got.shape)}, expected {dtype}{list(expected.shape)}"
    err = np.abs(got.astype(np.float64) - expected)
    bad = ~(err <= tol)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad.reshape(-1))[0])
    return (
        f"{int(bad.sum())} of {expected.size} outputs outside the rounding bound; first at "
        f"[{i}]: got {got.reshape(-1)[i]!r}, expected {expected.reshape(-1)[i]!r} "
        f"± {tol.reshape(-1)[i]:.3g}"
    )


# ----------------------------------------------------------------------------- impls


@dataclass
class Impl:
    """One timed statement of a case and how to check what it computed.

    ``expr`` is what the report shows; the timed statement (:attr:`stmt`) is the same
    expression with NumPy functions called by bare name, evaluated in ``env``; ``setup``
    runs (untimed) before every timed run. ``output`` names the env array a call writes
    (None: the call returns a new result); ``returns_output`` says the call must return that
    very array (facade ``out=``). ``check(result)`` gives None or what is wrong.
    """

    name: str
    role: str
    expr: str
    env: dict[str, Any]
    check: Callable[[Any], str | None]
    setup: str = "pass"
    output: str | None = None
    returns_output: bool = False
    call_s: float = 0.0  # how long the precheck's call took

    @property
    def stmt(self) -> str:
        return _stmt(self.expr)

    def call(self) -> Any:
        """One untimed call (setup first), returning what the statement returned."""
        exec(self.setup, self.env)
        return eval(self.stmt, self.env)

    def precheck(self) -> str | None:
        """Check one fresh call; an ``out`` is filled with a sentinel first."""
        if self.output is not None and self.output != "buf":
            out = self.env[self.output]
            out.fill(_sentinel(out.dtype))
        start = time.perf_counter()
        result = self.call()
        self.call_s = time.perf_counter() - start
        return self._verify(result)

    def postcheck(self) -> str | None:
        """Check the output of the last timed run (a new call for ops that return a new
        array: their result of the timed run is gone)."""
        if self.output is None:
            return self._verify(self.call())
        return self.check(self.env[self.output])

    def _verify(self, result: Any) -> str | None:
        if self.output is None:
            return self.check(result)
        out = self.env[self.output]
        if self.returns_output and result is not out:
            return "did not return its out= array"
        return self.check(out)


#: NumPy functions the statements call by bare name, so no ``np.`` attribute look-up is timed
#: (the facade functions are called by bare name too).
_NP_NAMES = {"maximum": np.maximum, "greater": np.greater, "copyto": np.copyto}


def _stmt(expr: str) -> str:
    """The timed statement of a displayed expression: ``np.maximum`` -> ``maximum``."""
    for name in _NP_NAMES:
        expr = expr.replace(f"np.{name}(", f"{name}(")
    return expr


#: op -> (facade call with {b} for the backend, the array it writes, expected value)
_FACADE = {
    "relu": ("relu(x, out=y, backend={b!r})", "y", "relu"),
    "relu_inplace": ("relu(buf, out=buf, backend={b!r})", "buf", "relu"),
    "relu_alloc": ("relu(x, backend={b!r})", None, "relu"),
    "relu_grad": ("relu_grad(x, out=y, backend={b!r})", "y", "relu_grad"),
}
#: op -> (the NumPy reference, the array it writes, expected value)
_REFERENCE = {
    "relu": ("np.maximum(x, 0, out=y)", "y", "relu"),
    "relu_inplace": ("np.maximum(buf, 0, out=buf)", "buf", "relu"),
    "relu_alloc": ("np.maximum(x, 0)", None, "relu"),
    "relu_grad": ("np.greater(x, 0, out=y)", "y", "textbook_grad"),
}


def _elementwise_impls(case: Case, d: ElementwiseData, backends: list[str]) -> list[Impl]:
    env = {"relu": relukit.relu, "relu_grad": relukit.relu_grad, **_NP_NAMES}
    env.update(x=d.x, y=d.y, buf=d.buf)
    # in place: every timed run starts from the original x (restored before it, untimed)
    setup = "copyto(buf, x)" if case.op == "relu_inplace" else "pass"

    def impl(name: str, role: str, expr: str, output: str | None, expected: str) -> Impl:
        return Impl(
            name,
            role,
            expr,
            env,
            check=lambda got: bits_mismatch(got, d.expected(expected)),
            setup=setup if output == "buf" else "pass",
            output=output,
            returns_output=role == BACKEND and output is not None,
        )

    call, output, expected = _FACADE[case.op]
    impls = [impl(b, BACKEND, call.format(b=b), output, expected) for b in backends]
    impls.append(impl("ref", REFERENCE, *_REFERENCE[case.op]))
    if "numpy-relu" in case.extra:  # NumPy's relu as a bandwidth baseline for another op
        impls.append(impl("numpy-relu", BASELINE, "np.maximum(x, 0, out=y)", "y", "relu"))
    if case.op == "relu_alloc":
        impls.append(impl("roofline", ROOFLINE, "x.copy()", None, "copy"))
    else:
        impls.append(impl("roofline", ROOFLINE, "np.copyto(y, x)", "y", "copy"))
    return impls


def _loose_mismatch(x: np.ndarray, got: Any, entry: Activation) -> str | None:
    """The NumPy reference against the contract, loosely: |x| < 1e4 only (the textbook
    formulas overflow beyond: x**3, exp), within 1e-3 relative (plus an absolute 1e-5 where
    they cancel)."""
    if not isinstance(got, np.ndarray) or got.shape != x.shape:
        return f"returned {type(got).__name__}, not an array of shape {list(x.shape)}"
    r = entry.ref(x, **entry.params)
    want = r if entry.exact else r[0]
    finite = (np.abs(x) < 1e4) & np.isfinite(want)  # the textbook formulas overflow beyond
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
        bad = finite & ~(err <= 1e-3 * np.abs(want.astype(np.float64)) + 1e-5)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return (
        f"{int(bad.sum())} of {x.size} outputs far from the contract; first at [{i}] "
        f"(x={x[i]!r}): got {got[i]!r}, expected {float(want[i])!r}"
    )


def _activation_impls(case: Case, d: ElementwiseData, backends: list[str]) -> list[Impl]:
    entry = ACTIVATIONS_BY_NAME[case.op]
    ref, _ = activation_numpy(entry)
    env = {"f": entry.bound(), "ref": ref, **_NP_NAMES}
    env.update(x=d.x, y=d.y)
    x = d.x

    def verify(got: Any) -> str | None:
        if entry.verify(x, got):
            return None
        return f"output does not conform to {entry.name} (conformance verify failed)"

    def copy(got: Any) -> str | None:
        return bits_mismatch(got, d.expected("copy"))

    impls = [
        Impl(
            b, BACKEND, f"f(x, out=y, backend={b!r})", env, verify, output="y", returns_output=True
        )
        for b in backends
    ]
    impls.append(Impl("ref", REFERENCE, "ref(x)", env, lambda got: _loose_mismatch(x, got, entry)))
    impls.append(Impl("roofline", ROOFLINE, "np.copyto(y, x)", env, copy, output="y"))
    return impls


def _dense_impls(case: Case, d: DenseData, backends: list[str]) -> list[Impl]:
    layer, x = d.layer, d.x
    w, b = layer.weights, layer.biases
    dtype = layer.dtype
    expected = dense_reference(x, w, b)
    tol = dense_tolerance(x, w, b, dtype)
    env = {"layer": layer, "x": x, "W": w, "b": b, **_NP_NAMES}

    def check(got: Any) -> str | None:
        return close_mismatch(got, expected, tol, dtype)

    zero = np.zeros_like(b)
    product = x.astype(np.float64) @ w.astype(np.float64)
    product_tol = dense_tolerance(x, w, zero, dtype)

    def check_product(got: Any) -> str | None:
        return close_mismatch(got, product, product_tol, dtype)

    impls = [Impl(n, BACKEND, f"layer.forward(x, backend={n!r})", env, check) for n in backends]
    impls.append(Impl("ref", REFERENCE, OPS["dense"].reference, env, check))
    impls.append(Impl("roofline", ROOFLINE, "x @ W", env, check_product))
    return impls


SCALAR_VALUE = -2.5
SCALAR_CHECKS = (-2.5, 3.0, 0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324, math.nan)


def _float_mismatch(fn: Callable[[float], Any]) -> str | None:
    """None when ``fn`` returns a float with the contract's bits for every check value."""
    for v in SCALAR_CHECKS:
        got = fn(v)
        expected = ref_relu(np.array([v]))[0]
        if type(got) is not float:
            return f"relu({v!r}) returned {type(got).__name__}, not float"
        if np.array(got).view(np.uint64) != expected.view(np.uint64):
            return f"relu({v!r}) returned {got!r}, expected {float(expected)!r}"
    return None


def _scalar_impls(case: Case, backends: list[str]) -> list[Impl]:
    env: dict[str, Any] = {"relu": relukit.relu, "v": SCALAR_VALUE}
    impls = []
    for b in backends:

        def check(_: Any, b: str = b) -> str | None:
            return _float_mismatch(lambda v: relukit.relu(v, backend=b))

        impls.append(Impl(b, BACKEND, f"relu(v, backend={b!r})", env, check))
    ref = OPS["relu_float"].reference

    def check_ref(_: Any) -> str | None:
        return _float_mismatch(lambda v: eval(ref, {"v": v}))

    impls.append(Impl("ref", REFERENCE, ref, env, check_ref))
    return impls


def build(case: Case, backends: list[str], workspace: Workspace) -> list[Impl]:
    """The implementations of ``case`` for ``backends`` (backend names, in order)."""
    if case.op in ACTIVATIONS_BY_NAME:
        return _activation_impls(case, workspace.elementwise(case.dtype, case.n), backends)
    if case.kind == "elementwise":
        return _elementwise_impls(case, workspace.elementwise(case.dtype, case.n), backends)
    if case.kind == "dense":
        assert case.shape is not None
        return _dense_impls(case, workspace.dense(case.dtype, case.shape), backends)
    return _scalar_impls(case, backends)

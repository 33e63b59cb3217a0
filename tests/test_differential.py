"""Differential fuzz test: every backend against the numpy backend on hostile inputs.

Hypothesis generates arrays of any shape (0-d, empty, up to 6 dimensions), dtype (float32,
float64 and rejected ones), byte order, C/F order, strides (negative, zero, odd multiples,
2-byte self-overlapping), unaligned starts, read-only, subclasses, and every relation of
``out`` to the input (see ``_diff_cases``). Each backend must give what the numpy backend
gives: the same exception type, or the same result and the same bytes in every buffer the
call could reach (the input when it is not written, ``out``, the memory around them).
Piecewise-linear ops are compared bit for bit everywhere; smooth ops bit for bit between C
and Rust and within the conformance ulp bound (``relukit.conformance``) otherwise.

The fast paths are held to the acceptance spec (``relukit.backends._fastpath``), and the
layers (``Dense``, ``nn.Linear``) to the numpy backend under any assignment to their
parameters. A part runs again in a subprocess with ``RELUKIT_FORCE_PORTABLE=1``.

``RELUKIT_DIFF_EXAMPLES`` scales the number of examples (default: the CI budget).
"""

from __future__ import annotations

import builtins
import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import _diff_cases as dc
import _diff_layers as dl
import relukit
from relukit import _backend, ops
from relukit.backends._fastpath import dense_fast_may_take, fast_path_may_take
from relukit.conformance import ACTIVATIONS_BY_NAME, Activation, ulp_error
from relukit.ops import KERNELS

BACKENDS = ("python", "numpy", "c", "rust")
THOROUGH = os.environ.get("RELUKIT_HYPOTHESIS_PROFILE") == "thorough"
SCALE = float(os.environ.get("RELUKIT_DIFF_EXAMPLES", "1"))


def fuzz_settings(examples: int) -> settings:
    """A fixed-seed (derandomized) profile for CI, random and larger when thorough."""
    n = max(1, int(examples * SCALE * (10 if THOROUGH else 1)))
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=not THOROUGH,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module", autouse=True)
def every_backend_loads():
    """All four backends must be built: a missing one fails here (never skips)."""
    for name in BACKENDS:
        _backend.load(name)


# ---- the ops under test ------------------------------------------------------------------


def _prelu_weight(x: Any) -> Any:
    """Per-channel weights when x has a channel axis, else one shared weight."""
    shape = np.shape(x) if not isinstance(x, (int, float)) else ()
    if len(shape) >= 2:
        return np.linspace(-0.5, 2.0, shape[1])
    return 0.25


@dataclass(frozen=True)
class Op:
    """One facade call under test: ``fn(x, out=..., backend=...)``."""

    label: str
    kernel: str  # the relukit.ops.KERNELS entry it runs (prelu: the leaky kernels' kin)
    fn: Callable[..., Any]
    entry: Activation | None = None  # smooth ops: the conformance entry (ulp bound)
    params: dict | None = None

    @property
    def smooth(self) -> bool:
        return self.entry is not None and not self.entry.exact


def _op(label: str, kernel: str, fn: Callable[..., Any], entry: str | None = None, **params):
    bound = (lambda x, **kw: fn(x, **params, **kw)) if params else fn
    return Op(label, kernel, bound, ACTIVATIONS_BY_NAME[entry] if entry else None, params or {})


_HAND_PICKED: tuple[Op, ...] = (
    _op("relu", "relu", relukit.relu),
    _op("relu_grad", "relu_grad", relukit.relu_grad),
    _op("leaky_relu", "leaky_relu", relukit.leaky_relu, negative_slope=0.2),
    _op("leaky_relu_grad", "leaky_relu_grad", relukit.leaky_relu_grad, negative_slope=0.2),
    _op("hardtanh", "hardtanh", relukit.hardtanh),
    _op("hardtanh_grad", "hardtanh_grad", relukit.hardtanh_grad),
    _op("relu6", "hardtanh", relukit.relu6),
    _op("relu6_grad", "hardtanh_grad", relukit.relu6_grad),
    _op("threshold", "threshold", relukit.threshold, threshold=0.5, value=-1.0),
    _op("threshold_grad", "threshold_grad", relukit.threshold_grad, threshold=0.5, value=-1.0),
    Op("prelu", "leaky_relu", lambda x, **kw: relukit.prelu(x, _prelu_weight(x), **kw)),
    Op(
        "prelu_grad",
        "leaky_relu_grad",
        lambda x, **kw: relukit.prelu_grad(x, _prelu_weight(x), **kw),
    ),
    _op("elu", "elu", relukit.elu, "elu", alpha=1.0),
    _op("elu_grad", "elu_grad", relukit.elu_grad, "elu_grad", alpha=1.0),
    _op("gelu", "gelu", relukit.gelu, "gelu", approximate="none"),
    _op("gelu_grad", "gelu_grad", relukit.gelu_grad, "gelu_grad", approximate="none"),
    _op("gelu_tanh", "gelu_tanh", relukit.gelu, "gelu_tanh", approximate="tanh"),
    _op(
        "gelu_tanh_grad", "gelu_tanh_grad", relukit.gelu_grad, "gelu_tanh_grad", approximate="tanh"
    ),
    _op("sigmoid", "sigmoid", relukit.sigmoid, "sigmoid"),
    _op("sigmoid_grad", "sigmoid_grad", relukit.sigmoid_grad, "sigmoid_grad"),
    _op("tanh", "tanh", relukit.tanh, "tanh"),
    _op("tanh_grad", "tanh_grad", relukit.tanh_grad, "tanh_grad"),
)


def _from_table() -> tuple[Op, ...]:
    """Every other conformance row of the op table (relukit.ops.CHECKS), with its first
    parameter set: an op added to the table is fuzzed without an edit here."""
    covered = {op.label for op in _HAND_PICKED}
    rows = []
    for table_op, check in ops.CHECKS:
        if check.name in covered:
            continue
        params = dict(check.param_sets[0])
        if table_op.select is not None:
            kernel = table_op.select(*params.values())[0]
        else:
            (kernel,) = table_op.kernels
        smooth = check.ulps is not None
        func = ops.FUNCTIONS[table_op.name]
        rows.append(_op(check.name, kernel, func, check.name if smooth else None, **params))
    return tuple(rows)


OPS: tuple[Op, ...] = _HAND_PICKED + _from_table()
OP_IDS = [op.label for op in OPS]


def test_every_kernel_is_fuzzed():
    """Each kernel of relukit.ops.KERNELS is reached by at least one op under test."""
    missing = set(KERNELS) - {op.kernel for op in OPS}
    assert not missing, f"no differential test for the kernels {sorted(missing)}"


# ---- comparing two outcomes --------------------------------------------------------------


def exception_kind(exc: type | None) -> type | None:
    """The builtin exception class an exception type is (NumPy's private subclasses of
    TypeError and ValueError count as those)."""
    if exc is None:
        return None
    for cls in exc.__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls
    return exc


def _bits_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(dc.as_bits(a), dc.as_bits(b)))


def _masked_equal(got: list, want: list, masks: list | None) -> list[int]:
    """Indices of the buffers whose bytes differ outside ``masks`` (None: everywhere)."""
    bad = []
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        keep = np.ones(g.size, bool) if masks is None else ~masks[i]
        if not np.array_equal(g[keep], w[keep]):
            bad.append(i)
    return bad


def _within_bound(op: Op, x: np.ndarray, got: np.ndarray) -> bool:
    """A smooth op's result against the long-double reference, within the conformance bound."""
    assert op.entry is not None
    with np.errstate(all="ignore"):
        return op.entry.verify(x, np.asarray(got).reshape(x.shape), op.params)


def _one_of_bound(op: Op, x: np.ndarray, value: np.ndarray) -> bool:
    """The value of a zero-stride out is the op of some element of x (within the bound)."""
    if x.size == 0:
        return True
    assert op.entry is not None
    floor = (op.entry.min_floor or {}).get(x.dtype.name, 0.0)
    flat = x.reshape(-1)
    with np.errstate(all="ignore"):
        err, exact_ok = ulp_error(
            flat, np.broadcast_to(value, flat.shape).copy(), op.entry.ref(flat, **op.params), floor
        )
    return bool(np.any((err <= op.entry.allowed_ulps(flat)) & exact_ok))


def compare(op: Op, built: dc.Built, got: dc.Outcome, want: dc.Outcome, exact: bool) -> str:
    """'' if ``got`` (a backend) matches ``want`` (numpy); else what differs."""
    if exception_kind(got.exc) is not exception_kind(want.exc):
        return f"raised {got.exc} ({got.message}), numpy {want.exc} ({want.message})"
    if got.exc is not None:
        return (
            ""
            if _masked_equal(got.buffers, want.buffers, None) == []
            else ("raised, but wrote into a buffer first")
        )
    if got.result_type is not want.result_type:
        return f"returned {got.result_type}, numpy {want.result_type}"
    if got.result_is_out != want.result_is_out:
        return f"result is out: {got.result_is_out}, numpy {want.result_is_out}"
    if built.out is None and got.result_flags != want.result_flags:
        return f"result (C, F)-contiguous {got.result_flags}, numpy {want.result_flags}"
    masks = built.out_footprint if (built.ambiguous or not exact) else None
    bad = _masked_equal(got.buffers, want.buffers, masks)
    if bad:
        return f"different bytes in buffer(s) {bad} (0: x's buffer) outside what out covers"
    if built.ambiguous:  # out overlaps itself: which write lands last is not defined ...
        out = built.out
        if got.result is None or built.x_values is None or not all(s == 0 for s in out.strides):
            return ""
        cell = got.result.reshape(-1)[:1]  # ... but a zero-stride out holds op(some element)
        if not exact:
            ok = _one_of_bound(op, built.x_values, cell)
        else:
            values = want_elementwise(op, built)
            ok = values is None or bool(np.isin(_u(cell), _u(values)).all())
        return "" if ok else "a zero-stride out holds none of the op's values of x"
    if exact:
        return "" if _bits_equal(got.result, want.result) else "different result bits"
    x = built.x_values
    if x is None:  # scalar input: the op of that number
        x = np.array([want_scalar_input(built)])
    if got.result is not None and not _within_bound(op, x, got.result):
        return "result outside the conformance ulp bound"
    return ""


def _u(a: np.ndarray) -> np.ndarray:
    """Bit patterns as unsigned ints (NaNs compare by payload)."""
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    return np.ascontiguousarray(a).reshape(-1).view(uint)


def want_scalar_input(built: dc.Built) -> Any:
    x = built.x
    return np.float64(x) if isinstance(x, (int, float)) else x


def want_elementwise(op: Op, built: dc.Built) -> np.ndarray | None:
    """The numpy backend's op of x into a fresh array (the values a zero-stride out may hold)."""
    try:
        with np.errstate(all="ignore"):
            return np.asarray(op.fn(built.x_values.copy(), backend="numpy"))
    except Exception:
        return None


def _c_and_rust_agree(op: Op, case: dc.Case) -> bool:
    """Smooth ops C and Rust compute with one algorithm, bit for bit: all but the erf form of
    GELU in float64 (C calls libm's erfc there, Rust its own; both within the bound)."""
    if not op.smooth:
        return False
    dtype = (
        case.dtype if not case.scalar else "float32" if case.scalar == "np_float32" else "float64"
    )
    return not (op.label in ("gelu", "gelu_grad") and dtype == "float64")


def check_case(op: Op, case: dc.Case, backends: tuple[str, ...] = BACKENDS) -> None:
    """Run the case on every backend and compare each with numpy; C and Rust bit for bit."""
    built = dc.build(case)
    want = dc.run(op.fn, built, "numpy")
    outcomes = {}
    problems = []
    if op.smooth and want.exc is None and not built.ambiguous:  # numpy itself within the bound
        x = built.x_values if built.x_values is not None else np.array([want_scalar_input(built)])
        if not _within_bound(op, x, want.result):
            problems.append("numpy: result outside the conformance ulp bound")
    for name in backends:
        if name == "numpy":
            continue
        built = dc.build(case)
        got = outcomes[name] = dc.run(op.fn, built, name)
        why = compare(op, built, got, want, exact=not op.smooth)
        if why:
            problems.append(f"{name}: {why}")
    if _c_and_rust_agree(op, case) and "c" in outcomes and "rust" in outcomes:
        c, r = outcomes["c"], outcomes["rust"]
        same = exception_kind(c.exc) is exception_kind(r.exc) and (
            c.exc is not None
            or (_bits_equal(c.result, r.result) and not _masked_equal(c.buffers, r.buffers, None))
        )
        if not same and not dc.build(case).ambiguous:
            problems.append("c and rust differ (they agree bit for bit on smooth ops)")
    assert not problems, f"{op.label} on {case.describe()}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@fuzz_settings(200)
@given(case=dc.cases())
def test_elementwise_matches_numpy(op, case):
    check_case(op, case)


# ---- the fast paths against the acceptance spec ----------------------------------------

FAST = ("relu_fast", "relu_grad_fast")
FAST_OPS = {"relu_fast": OPS[0], "relu_grad_fast": OPS[1]}


def _fast_backends() -> list[tuple[str, str]]:
    return [
        (b, f) for b in BACKENDS for f in FAST if getattr(_backend.load(b), f, None) is not None
    ]


@pytest.mark.parametrize("fast_name", FAST)
@fuzz_settings(400)
@given(case=dc.cases())
def test_fast_paths_take_only_what_the_spec_allows(fast_name, case):
    want = dc.run(FAST_OPS[fast_name].fn, dc.build(case), "numpy")
    for name in BACKENDS:
        fast = getattr(_backend.load(name), fast_name, None)
        if fast is None:
            continue
        built = dc.build(case)
        may = fast_path_may_take(built.x, built.out)
        before = [b.copy() for b in built.buffers]
        try:
            with np.errstate(all="ignore"):
                r = fast(built.x, built.out)
        except Exception as exc:  # a fast path never raises
            pytest.fail(f"{name}.{fast_name} raised {exc!r} on {case.describe()}")
        if r is NotImplemented:
            assert not _masked_equal(built.buffers, before, None), (
                f"{name}.{fast_name} declined but wrote first, on {case.describe()}"
            )
            continue
        assert may, f"{name}.{fast_name} took what the spec does not allow: {case.describe()}"
        if built.out is not None:
            assert r is built.out, f"{name}.{fast_name} did not return out: {case.describe()}"
        got = dc.Outcome(
            None,
            "",
            type(r),
            np.array(r, copy=True),
            r is built.out and built.out is not None,
            [b.copy() for b in built.buffers],
            (bool(r.flags.c_contiguous), bool(r.flags.f_contiguous))
            if isinstance(r, np.ndarray)
            else None,
        )
        why = compare(FAST_OPS[fast_name], built, got, want, exact=True)
        assert not why, f"{name}.{fast_name} on {case.describe()}: {why}"


@fuzz_settings(400)
@given(case=dl.dense_fast_cases())
def test_dense_fast_takes_only_what_the_spec_allows(case):
    # no layer shape (a direct call), the layer's own, and one the arrays no longer have
    shapes = (None, (case.n_in, case.n_out), (case.n_in + 1, case.n_out))
    for name, shape in itertools.product(BACKENDS, shapes):
        mod = _backend.load(name)
        if getattr(mod, "dense_fast", None) is None:
            continue
        x, w, b = dl.build_dense_fast(case)
        may = dense_fast_may_take(x, w, b, shape)
        before = [a.copy() for a in (x, w, b) if isinstance(a, np.ndarray)]
        try:
            with np.errstate(all="ignore"):
                r = mod.dense_fast(x, w, b, shape)
        except Exception as exc:
            pytest.fail(f"{name}.dense_fast raised {exc!r} on {case}, shape {shape}")
        after = [a for a in (x, w, b) if isinstance(a, np.ndarray)]
        assert all(_bits_equal(p, q) for p, q in zip(before, after, strict=True)), (
            f"{name}.dense_fast wrote into an input, on {case}"
        )
        if r is NotImplemented:
            continue
        assert may, f"{name}.dense_fast took what the spec does not allow: {case}, shape {shape}"
        x2 = np.ascontiguousarray(x).reshape(1, -1) if x.ndim == 1 else np.ascontiguousarray(x)
        out = np.empty((x2.shape[0], w.shape[1]), w.dtype)
        mod.dense_forward(x2, np.ascontiguousarray(w), np.ascontiguousarray(b), out)
        validated = out[0] if x.ndim == 1 else out
        assert type(r) is np.ndarray and _bits_equal(r, validated), (
            f"{name}.dense_fast differs from its validated path on {case}"
        )
        ref = np.empty_like(out)
        _backend.load("numpy").dense_forward(
            x2, np.ascontiguousarray(w), np.ascontiguousarray(b), ref
        )
        tol = dl.tolerance(x2, w, b, w.dtype)
        assert np.all(np.abs(out.astype(np.float64) - ref) <= 2 * tol), (
            f"{name}.dense_fast outside the dense tolerance of numpy on {case}"
        )


# ---- layers under any parameter assignment -----------------------------------------------


@fuzz_settings(600)
@given(case=dl.layer_cases())
def test_layers_match_numpy_under_any_parameter_assignment(case):
    want = dl.run_layer(case, "numpy")
    problems = []
    for name in BACKENDS:
        if name == "numpy":
            continue
        why = dl.compare_layer_runs(dl.run_layer(case, name), want, exception_kind)
        if why:
            problems.append(f"{name}: {why}")
    assert not problems, f"{case}:\n  " + "\n  ".join(problems)


# ---- the forced-portable path --------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("RELUKIT_FORCE_PORTABLE") == "1", reason="already on the portable path"
)
def test_forced_portable_path(tmp_path):
    """A part of this file again in a process with RELUKIT_FORCE_PORTABLE=1 (read once per
    process): the portable kernels against numpy, and C against Rust."""
    env = dict(os.environ, RELUKIT_FORCE_PORTABLE="1", RELUKIT_DIFF_EXAMPLES=str(SCALE * 0.4))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            __file__,
            "-k",
            "elementwise or layers or fast",
        ],
        env=env,
        cwd=os.path.dirname(os.path.dirname(__file__)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

"""The activations (leaky_relu, prelu, relu6, hardtanh, threshold, elu, gelu, sigmoid, tanh and
every derivative) in every backend, against relukit.conformance's references: bit for bit for
the piecewise-linear ops, within the stated ulp bounds for the transcendental ones."""

from __future__ import annotations

import math
import struct

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import relukit
from conftest import BACKENDS, DTYPES, backend_module, bits
from relukit import _api, ops
from relukit.conformance import (
    ACTIVATIONS,
    ACTIVATIONS_BY_NAME,
    LENGTHS,
    Activation,
    activation_edge_values,
    activation_random_values,
    layouts,
    same_bits,
    ulp_error,
)

IDS = [a.name for a in ACTIVATIONS]
NATIVE = ("c", "rust")
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def params_for(entry: Activation, params: dict, x: object) -> dict:
    """prelu's per-channel weights only fit x with that many channels on axis 1."""
    w = params.get("weight")
    if w is None or np.ndim(w) == 0:
        return params
    shape = np.shape(x)
    return params if len(shape) >= 2 and shape[1] == len(w) else {**params, "weight": w[0]}


def explain(entry: Activation, x: np.ndarray, got: np.ndarray, p: dict) -> str:
    """The first element where ``got`` breaks the contract, for assertion messages."""
    if entry.exact:
        want = entry.ref(x, **p)
        bad = np.flatnonzero(bits(got).ravel() != bits(want).ravel())
        if bad.size == 0:
            return "shape/dtype"
        i = bad[0]
        return f"x={x.ravel()[i]!r}: got {got.ravel()[i]!r}, want {want.ravel()[i]!r}"
    err, exact_ok = ulp_error(x, got, entry.ref(x, **p))
    allowed = entry.allowed_ulps(x)
    bad = np.flatnonzero((~exact_ok | (err > allowed)).ravel())
    if bad.size == 0:
        return "shape/dtype"
    i = bad[0]
    return (
        f"x={x.ravel()[i]!r}: got {got.ravel()[i]!r}, error {err.ravel()[i]:.3g} ulp "
        f"(allowed {allowed.ravel()[i]:.3g}), exact-bits ok: {exact_ok.ravel()[i]}"
    )


def check_forms(entry: Activation, params: dict, x: np.ndarray, backend: str, what: str) -> None:
    """Out of place (input untouched), out= (returns out) and in place (out=x)."""
    p = params_for(entry, params, x)
    before = x.copy()
    got = entry.call(x, p, backend=backend)
    assert isinstance(got, np.ndarray) and got is not x, what
    assert entry.verify(x, got, p), f"{what}: {explain(entry, x, got, p)}"
    assert same_bits(x, before), f"{what}: the input changed"

    out = np.full_like(x, 7)
    got = entry.call(x, p, out=out, backend=backend)
    assert got is out, f"{what}: out= must return out"
    assert entry.verify(x, out, p), f"{what} out=: {explain(entry, x, out, p)}"

    inplace = x.copy()
    got = entry.call(inplace, p, out=inplace, backend=backend)
    assert got is inplace, f"{what}: in place must return x"
    assert entry.verify(before, inplace, p), (
        f"{what} in place: {explain(entry, before, inplace, p)}"
    )


# --- the table itself ---------------------------------------------------------------------


def test_every_op_is_public_and_in_the_table():
    names = {a.name for a in ACTIVATIONS}
    for name, func in ops.FUNCTIONS.items():
        assert getattr(relukit, name) is func
        assert name in relukit.__all__
        assert name in names or name in {"gelu", "gelu_grad", "relu", "relu_grad"}
    assert relukit.prelu_weight_grad is _api.prelu_weight_grad
    for a in ACTIVATIONS:
        if a.grad is not None:
            assert ACTIVATIONS_BY_NAME[a.grad].func.__name__ == a.func.__name__ + "_grad"
            assert ACTIVATIONS_BY_NAME[a.grad].param_sets == a.param_sets
    assert len(ACTIVATIONS) == sum(len(op.checks) for op in ops.OPS if not op.fast) >= 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_defines_every_kernel(backend):
    module = backend_module(backend)
    for k in ops.KERNELS:
        assert callable(getattr(module, k + "_float")), k
        assert callable(getattr(module, k + "_array")), k
    assert callable(module.prelu_array) and callable(module.prelu_grad_array)


def test_entry_helpers():
    leaky = ACTIVATIONS_BY_NAME["leaky_relu"]
    x = np.array([-2.0, 3.0])
    assert leaky.params == {"negative_slope": 0.01}
    assert leaky.bound()(x).tolist() == [-0.02, 3.0]
    assert leaky.call(x, {"negative_slope": 0.5}).tolist() == [-1.0, 3.0]
    assert leaky.verify(x, leaky.call(x))
    assert not leaky.verify(x, np.array([-0.02, 3.0000000000000004]))
    assert not leaky.verify(x, x.astype(np.float32))
    assert leaky.numpy[0](x, **leaky.params).tolist() == [-0.02, 3.0]
    gelu = ACTIVATIONS_BY_NAME["gelu"]
    assert not gelu.exact
    assert gelu.verify(x, relukit.gelu(x))
    assert not gelu.verify(x, relukit.gelu(x) * (1 + 1e-14))


# --- the references, checked against independent spellings --------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_piecewise_references(dtype):
    t = dtype.type
    x = np.array([3.5, -2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 6.0, 7.0, 0.1, -1.0], dtype)
    ref = ACTIVATIONS_BY_NAME

    def want(values):
        return np.array(values, dtype)

    got = ref["leaky_relu"].ref(x, negative_slope=0.5)
    assert same_bits(got, want([3.5, -1, 0, -0.0, np.inf, -np.inf, np.nan, 6, 7, 0.1, -0.5]))
    got = ref["leaky_relu_grad"].ref(x, negative_slope=0.5)
    assert same_bits(got, want([1, 0.5, 0.5, 0.5, 1, 0.5, np.nan, 1, 1, 1, 0.5]))
    got = ref["relu6"].ref(x)  # a tie keeps x: -0.0 stays -0.0, as torch.clamp
    assert same_bits(got, want([3.5, 0, 0, -0.0, 6, 0, np.nan, 6, 6, 0.1, 0]))
    got = ref["relu6_grad"].ref(x)  # 0 at both kinks
    assert same_bits(got, want([1, 0, 0, 0, 0, 0, np.nan, 0, 0, 1, 0]))
    got = ref["hardtanh"].ref(x, min_val=-1.0, max_val=1.0)
    assert same_bits(got, want([1, -1, 0, -0.0, 1, -1, np.nan, 1, 1, 0.1, -1]))
    got = ref["hardtanh_grad"].ref(x, min_val=-1.0, max_val=1.0)
    assert same_bits(got, want([0, 0, 1, 1, 0, 0, np.nan, 0, 0, 1, 0]))
    got = ref["threshold"].ref(x, threshold=0.1, value=20.0)  # x <= threshold -> value
    assert same_bits(got, want([3.5, 20, 20, 20, np.inf, 20, np.nan, 6, 7, 20, 20]))
    got = ref["threshold_grad"].ref(x, threshold=0.1, value=20.0)
    assert same_bits(got, want([1, 0, 0, 0, 1, 0, np.nan, 1, 1, 0, 0]))
    w = np.array([0.25, -1.0, 2.0])
    x2 = np.array([[-4.0, -4.0, -4.0], [1.0, np.nan, -0.0]], dtype)
    got = ref["prelu"].ref(x2, weight=w)
    assert same_bits(got, np.array([[-1.0, 4.0, -8.0], [1.0, np.nan, -0.0]], dtype))
    got = ref["prelu_grad"].ref(x2, weight=w)
    assert same_bits(got, np.array([[0.25, -1.0, 2.0], [1.0, np.nan, 2.0]], dtype))
    assert t(0.1) == ref["threshold"].ref(np.array([0.5], dtype), threshold=1.0, value=0.1)[0]


def test_transcendental_references_against_math():
    """The long-double references agree with the math module at ordinary points."""
    xs = np.array([-30.0, -5.0, -1.5, -0.3, 0.2, 1.0, 2.5, 7.0])
    pdf = [math.exp(-v * v / 2) / math.sqrt(2 * math.pi) for v in xs]
    cdf = [0.5 * math.erfc(-v / math.sqrt(2)) for v in xs]
    u = [math.sqrt(2 / math.pi) * (v + 0.044715 * v**3) for v in xs]
    s2 = [
        math.exp(2 * t) / (1 + math.exp(2 * t)) if t < 0 else 1 / (1 + math.exp(-2 * t)) for t in u
    ]
    expect = {
        "elu": [math.expm1(v) if v <= 0 else v for v in xs],
        "elu_grad": [math.exp(v) if v <= 0 else 1.0 for v in xs],
        "sigmoid": [1 / (1 + math.exp(-v)) for v in xs],
        "sigmoid_grad": [math.exp(-v) / (1 + math.exp(-v)) ** 2 for v in xs],
        "tanh": [math.tanh(v) for v in xs],
        "tanh_grad": [1 / math.cosh(v) ** 2 for v in xs],
        "gelu": [v * c for v, c in zip(xs, cdf, strict=True)],
        "gelu_grad": [c + v * d for v, c, d in zip(xs, cdf, pdf, strict=True)],
        "gelu_tanh": [v * s for v, s in zip(xs, s2, strict=True)],
        "gelu_tanh_grad": [
            s + 2 * v * s * (1 - s) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * v * v)
            for v, s in zip(xs, s2, strict=True)
        ],
    }
    for name, values in expect.items():
        value = ACTIVATIONS_BY_NAME[name].ref(xs)[0].astype(np.float64)
        np.testing.assert_allclose(value, values, rtol=1e-12, atol=1e-300, err_msg=name)


def test_ulp_error_measures_ulps():
    entry = ACTIVATIONS_BY_NAME["tanh"]
    x = np.array([0.5, 0.7, np.nan, 0.0, -0.0], np.float32)
    good = entry.ref(x)[0].astype(np.float32)
    good[2], good[3], good[4] = x[2], 0.0, -0.0
    err, exact_ok = ulp_error(x, good, entry.ref(x))
    assert err.max() <= 0.5 and exact_ok.all()
    off = good.copy()
    off[0] = np.nextafter(np.nextafter(off[0], np.float32(1)), np.float32(1))
    err, _ = ulp_error(x, off, entry.ref(x))
    assert 1.5 <= err[0] <= 2.5
    wrong_zero = good.copy()
    wrong_zero[4] = 0.0  # tanh(-0.0) must be -0.0 exactly
    assert not ulp_error(x, wrong_zero, entry.ref(x))[1][4]
    quieted = good.copy()
    quieted.view(np.uint32)[2] ^= 1  # NaN with other bits
    assert ulp_error(x, quieted, entry.ref(x))[0][2] == np.inf


# --- every backend, every op, every dtype: edge values in every layout ----------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_values_every_layout(backend, entry, dtype):
    for params in entry.param_sets:
        edges = activation_edge_values(entry, params, dtype)
        for layout, x in layouts(edges):
            check_forms(entry, params, x, backend, f"{backend} {entry.name}{params} {layout}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_lengths_and_random_values(backend, entry, dtype):
    """Every length around the vector widths (and unaligned), random bits and normal values."""
    rng = np.random.default_rng(len(entry.name))
    params = entry.params
    pool = np.concatenate(
        [activation_edge_values(entry, params, dtype), activation_random_values(dtype, 200, rng)]
    )
    for n in LENGTHS:
        vec = rng.permutation(np.resize(pool, n))
        for layout, x in layouts(vec):
            if layout in ("contiguous", "offset1", "offset3", "step2"):
                check_forms(entry, params, x, backend, f"{backend} {entry.name} n={n} {layout}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_scalars(backend, entry, dtype):
    """NumPy scalars keep their type, Python floats stay float, ints are computed as floats;
    0-d arrays stay 0-d."""
    params = params_for(entry, entry.params, 1.0)
    for v in activation_edge_values(entry, params, dtype)[::3]:
        got = entry.call(v, params, backend=backend)
        assert type(got) is dtype.type, f"{backend} {entry.name} {v!r} -> {type(got)}"
        assert entry.verify(np.array([v]), np.array([got]), params), f"{entry.name} {v!r}"
        zero_d = entry.call(np.array(v), params, backend=backend)
        assert isinstance(zero_d, np.ndarray) and zero_d.shape == ()
        assert same_bits(zero_d.reshape(1), np.array([got]))
    if dtype == F64:
        for v in activation_edge_values(entry, params, dtype)[::3].tolist():
            got = entry.call(v, params, backend=backend)
            assert type(got) is float, f"{backend} {entry.name} {v!r}"
            assert entry.verify(np.array([v]), np.array([got]), params), f"{entry.name} {v!r}"
        for i in (0, 3, -3, 2**63 - 1, -(2**63)):
            got = entry.call(i, params, backend=backend)
            assert type(got) is float
            assert same_bits(np.array(got), np.array(entry.call(float(i), params, backend=backend)))


@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_signalling_nans_keep_their_bits(backend, entry):
    for dtype, patterns in (
        (np.float32, (0x7F800001, 0xFFA00000, 0x7FC00001)),
        (np.float64, (0x7FF0000000000001, 0xFFF4000000000000, 0x7FF8000000000123)),
    ):
        raw = np.array(patterns, dtype=np.uint32 if dtype == np.float32 else np.uint64)
        x = raw.view(dtype)
        assert bits(entry.call(x, backend=backend)).tolist() == raw.tolist()
        inplace = x.copy()
        entry.call(inplace, out=inplace, backend=backend)
        assert bits(inplace).tolist() == raw.tolist()
    v = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000001))[0]
    got = entry.call(v, params_for(entry, entry.params, v), backend=backend)
    assert struct.unpack("<Q", struct.pack("<d", got))[0] == 0x7FF0000000000001


# --- large arrays: vector loops, threads, GIL release ----------------------------------------

LARGE = 2**20 + 3


@pytest.fixture(scope="module")
def large_inputs():
    rng = np.random.default_rng(5)
    return {d: activation_random_values(d, LARGE, rng) for d in DTYPES}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("entry", [a for a in ACTIVATIONS if a.exact], ids=lambda a: a.name)
@pytest.mark.parametrize("backend", ["numpy", *NATIVE])
def test_large_arrays_piecewise(backend, entry, dtype, large_inputs):
    x = large_inputs[dtype]
    p = params_for(entry, entry.params, x)
    want = entry.ref(x, **p)
    assert same_bits(entry.call(x, p, backend=backend), want)
    out = np.empty_like(x)
    entry.call(x, p, out=out, backend=backend)
    assert same_bits(out, want)
    inplace = x.copy()
    entry.call(inplace, p, out=inplace, backend=backend)
    assert same_bits(inplace, want)
    assert same_bits(entry.call(x[3:], p, backend=backend), want[3:])  # unaligned start


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("entry", [a for a in ACTIVATIONS if not a.exact], ids=lambda a: a.name)
@pytest.mark.parametrize("backend", ["numpy", *NATIVE])
def test_large_arrays_transcendental(backend, entry, dtype, large_inputs):
    x = large_inputs[dtype][: 2**17 + 5]
    got = entry.call(x, backend=backend)
    assert entry.verify(x, got), explain(entry, x, got, entry.params)
    inplace = x.copy()
    entry.call(inplace, out=inplace, backend=backend)
    assert same_bits(inplace, got)


# --- the contract's fixed points (docs/activations.md) --------------------------------------

INF, NAN = math.inf, math.nan
#: op -> (params, [(x, exact result)]); results compared bit for bit (sign of zero too).
CONTRACT = {
    "leaky_relu": (
        {"negative_slope": 0.01},
        [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -INF), (2.0, 2.0)],
    ),
    "leaky_relu_grad": ({"negative_slope": 0.01}, [(0.0, 0.01), (-0.0, 0.01), (1e-40, 1.0)]),
    "relu6": ({}, [(-0.0, -0.0), (0.0, 0.0), (6.0, 6.0), (INF, 6.0), (-INF, 0.0)]),
    "relu6_grad": ({}, [(0.0, 0.0), (6.0, 0.0), (5.5, 1.0), (1e-40, 1.0), (-INF, 0.0)]),
    "hardtanh": ({"min_val": -1.0, "max_val": 1.0}, [(-1.0, -1.0), (-5.0, -1.0), (-0.0, -0.0)]),
    "hardtanh_grad": ({"min_val": -1.0, "max_val": 1.0}, [(-1.0, 0.0), (1.0, 0.0), (0.0, 1.0)]),
    "threshold": ({"threshold": 0.0, "value": -7.0}, [(0.0, -7.0), (-0.0, -7.0), (1e-40, 1e-40)]),
    "threshold_grad": ({"threshold": 0.0, "value": -7.0}, [(0.0, 0.0), (1e-45, 1.0)]),
    "elu": ({"alpha": 1.0}, [(0.0, 0.0), (-0.0, 0.0), (-INF, -1.0), (INF, INF), (0.5, 0.5)]),
    "elu_grad": ({"alpha": 0.5}, [(0.0, 0.5), (-0.0, 0.5), (-INF, 0.0), (INF, 1.0), (2.0, 1.0)]),
    "gelu": ({}, [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -0.0), (-50.0, -0.0), (50.0, 50.0)]),
    "gelu_grad": ({}, [(0.0, 0.5), (-0.0, 0.5), (INF, 1.0), (-INF, 0.0), (50.0, 1.0)]),
    "gelu_tanh": (
        {"approximate": "tanh"},
        [(-0.0, -0.0), (INF, INF), (-INF, -0.0), (1e300, 1e300)],
    ),
    "gelu_tanh_grad": ({"approximate": "tanh"}, [(0.0, 0.5), (INF, 1.0), (-INF, 0.0)]),
    "sigmoid": ({}, [(0.0, 0.5), (-0.0, 0.5), (INF, 1.0), (-INF, 0.0), (-800.0, 0.0)]),
    "sigmoid_grad": ({}, [(0.0, 0.25), (INF, 0.0), (-INF, 0.0), (800.0, 0.0)]),
    "tanh": ({}, [(0.0, 0.0), (-0.0, -0.0), (INF, 1.0), (-INF, -1.0), (30.0, 1.0)]),
    "tanh_grad": ({}, [(0.0, 1.0), (-0.0, 1.0), (INF, 0.0), (-INF, 0.0), (400.0, 0.0)]),
    "silu": ({}, [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -0.0), (-900.0, -0.0)]),
    "silu_grad": ({}, [(0.0, 0.5), (-0.0, 0.5), (INF, 1.0), (-INF, 0.0), (900.0, 1.0)]),
    "softplus": (
        {"beta": 1.0, "threshold": 20.0},
        [(20.5, 20.5), (-INF, 0.0), (INF, INF), (1e30, 1e30)],
    ),
    "softplus_grad": (
        {"beta": 2.0, "threshold": 5.0},
        [(2.75, 1.0), (0.0, 0.5), (-0.0, 0.5), (-INF, 0.0), (INF, 1.0)],
    ),
    "selu": ({}, [(0.0, 0.0), (-0.0, 0.0), (INF, INF)]),
    "selu_grad": ({}, [(INF, 1.0507009873554805), (-INF, 0.0)]),
    "mish": ({}, [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -0.0), (-900.0, -0.0)]),
    "mish_grad": ({}, [(INF, 1.0), (-INF, 0.0), (900.0, 1.0)]),
    "hardswish": (
        {},
        [(-3.0, -0.0), (-INF, -0.0), (3.0, 3.0), (INF, INF), (-0.0, -0.0), (1e30, 1e30)],
    ),
    "hardswish_grad": ({}, [(-3.0, -0.5), (3.0, 1.5), (-3.5, 0.0), (3.5, 1.0), (-1.5, 0.0)]),
    "hardsigmoid": ({}, [(-3.0, 0.0), (3.0, 1.0), (0.0, 0.5), (-INF, 0.0), (INF, 1.0)]),
    "hardsigmoid_grad": ({}, [(-3.0, 0.0), (3.0, 0.0), (-INF, 0.0), (INF, 0.0)]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(CONTRACT))
@pytest.mark.parametrize("backend", BACKENDS)
def test_contract_fixed_points(backend, name, dtype):
    entry = ACTIVATIONS_BY_NAME[name]
    params, cases = CONTRACT[name]
    params = {**entry.params, **params}
    with np.errstate(over="ignore"):
        x = np.array([c[0] for c in cases], dtype)
        want = np.array([c[1] for c in cases], dtype)
    got = entry.call(x, params, backend=backend)
    assert same_bits(got, want), f"{backend} {name}: {got!r} != {want!r}"
    if dtype == F64:
        for (v, w), g in zip(cases, got.tolist(), strict=True):
            r = entry.call(v, params, backend=backend)
            assert struct.pack("<d", r) == struct.pack("<d", w), f"{name}({v}) = {r!r}"
            assert struct.pack("<d", g) == struct.pack("<d", w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameters_are_rounded_to_the_dtype_first(backend):
    """As PyTorch: float32 leaky_relu multiplies by float32(slope), not by the float64 slope."""
    rng = np.random.default_rng(9)
    x = -np.abs(rng.standard_normal(2000)).astype(np.float32)
    got = relukit.leaky_relu(x, 0.1, backend=backend)
    assert same_bits(got, x * np.float32(0.1))
    via_f64 = (x.astype(np.float64) * 0.1).astype(np.float32)
    assert not same_bits(got, via_f64)  # the two roundings differ for some x: the test bites
    got = relukit.threshold(np.array([0.1, 0.2], np.float32), 0.1, 0.3, backend=backend)
    assert same_bits(got, np.array([0.3, 0.2], np.float32))  # float32(0.1) <= float32(0.1)


# --- derivatives are derivatives ------------------------------------------------------------


@pytest.mark.parametrize("entry", [a for a in ACTIVATIONS if a.grad], ids=lambda a: a.name)
def test_grad_matches_finite_differences(entry):
    """Away from kinks, each <op>_grad is the central difference of <op> (float64)."""
    grad = ACTIVATIONS_BY_NAME[entry.grad]
    rng = np.random.default_rng(1)
    for params in entry.param_sets:
        x = rng.uniform(-8, 8, 400)
        kinks = np.array(entry.kinks(**params), dtype=np.float64)
        x = x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-3]
        p = params_for(entry, params, x)
        h = 1e-6
        fd = (entry.call(x + h, p) - entry.call(x - h, p)) / (2 * h)
        np.testing.assert_allclose(grad.call(x, p), fd, rtol=1e-6, atol=1e-8, err_msg=entry.name)


# --- prelu's channels and weight gradient ----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_prelu_channels_on_axis_1(backend):
    x = np.arange(-6, 6, dtype=np.float32).reshape(2, 3, 2)
    w = np.array([0.1, 0.6, -0.3], np.float32)
    want = np.where(x > 0, x, x * w[None, :, None])
    assert same_bits(relukit.prelu(x, w, backend=backend), want)
    assert same_bits(
        relukit.prelu_grad(x, w, backend=backend),
        np.where(x > 0, np.float32(1), np.broadcast_to(w[None, :, None], x.shape)),
    )
    assert relukit.prelu(x.tolist(), w.tolist(), backend=backend).dtype == np.float64
    # a transposed (non-contiguous) view: the channel is still axis 1 of the view
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert same_bits(relukit.prelu(xt, w, backend=backend), want)
    four_d = np.linspace(-3, 3, 2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    got = relukit.prelu(four_d, [0.5, 2.0, -1.0], backend=backend)
    assert same_bits(
        got, np.where(four_d > 0, four_d, four_d * np.array([0.5, 2.0, -1.0])[:, None, None])
    )
    # 1-D and 0-d inputs have one channel; scalars too
    assert relukit.prelu(np.array([-2.0, 2.0]), [0.25], backend=backend).tolist() == [-0.5, 2.0]
    assert relukit.prelu(-2.0, 0.25, backend=backend) == -0.5
    assert relukit.prelu_grad(np.float32(-2.0), np.array([0.25]), backend=backend) == np.float32(
        0.25
    )
    with pytest.raises(ValueError, match="channels"):
        relukit.prelu(np.array([-2.0, 2.0]), [0.25, 0.5], backend=backend)
    with pytest.raises(ValueError, match=r"x.shape\[1\] = 3"):
        relukit.prelu(x, [0.25, 0.5], backend=backend)


def test_prelu_weight_grad():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    g = rng.standard_normal((4, 3, 5)).astype(np.float32)
    w = np.array([0.1, 0.2, 0.3], np.float32)
    got = relukit.prelu_weight_grad(x, g, w)
    want = np.where(x > 0, 0, x.astype(np.float64) * g).sum(axis=(0, 2))
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    one = relukit.prelu_weight_grad(x, g, 0.25)
    assert one.shape == () and np.isclose(one, want.sum(), rtol=1e-6)
    shared = relukit.prelu_weight_grad(x, g, [0.25])
    assert shared.shape == (1,)
    xn = x.copy()
    xn[0, 1, 0] = np.nan
    assert np.isnan(relukit.prelu_weight_grad(xn, g, w)[1])
    with pytest.raises(ValueError, match="grad_out has shape"):
        relukit.prelu_weight_grad(x, g[:2], w)
    with pytest.raises(ValueError, match="channels"):
        relukit.prelu_weight_grad(x, g, [1.0, 2.0])
    # consistent with prelu: d/dw sum(g * prelu(x, w)) by finite differences
    xd, gd = x.astype(np.float64), g.astype(np.float64)
    wd = w.astype(np.float64)
    for c in range(3):
        step = np.zeros(3)
        step[c] = 1e-6
        fd = (
            (gd * relukit.prelu(xd, wd + step)).sum() - (gd * relukit.prelu(xd, wd - step)).sum()
        ) / 2e-6
        assert np.isclose(relukit.prelu_weight_grad(xd, gd, wd)[c], fd, rtol=1e-6)


# --- bad parameters: the same exception in every backend --------------------------------------

BAD_PARAMS = [
    (relukit.leaky_relu, {"negative_slope": None}, TypeError, "negative_slope must be a real"),
    (relukit.leaky_relu, {"negative_slope": "0.1"}, TypeError, "real number"),
    (relukit.leaky_relu, {"negative_slope": True}, TypeError, "real number"),
    (relukit.leaky_relu, {"negative_slope": 1j}, TypeError, "real number"),
    (relukit.leaky_relu, {"negative_slope": np.array([0.1])}, TypeError, "real number"),
    (relukit.leaky_relu_grad, {"negative_slope": math.nan}, ValueError, "NaN"),
    (relukit.leaky_relu, {"negative_slope": math.inf}, ValueError, "finite"),
    (relukit.leaky_relu, {"negative_slope": 10**400}, ValueError, "too large"),
    (relukit.elu, {"alpha": -math.inf}, ValueError, "finite"),
    (relukit.elu_grad, {"alpha": "1"}, TypeError, "alpha"),
    (relukit.hardtanh, {"min_val": 2.0, "max_val": 1.0}, ValueError, "greater than max_val"),
    (relukit.hardtanh_grad, {"min_val": math.nan}, ValueError, "min_val must not be NaN"),
    (relukit.hardtanh, {"max_val": None}, TypeError, "max_val"),
    (relukit.threshold, {"threshold": math.nan, "value": 0.0}, ValueError, "threshold"),
    (relukit.threshold_grad, {"threshold": 0.0, "value": "x"}, TypeError, "value"),
    (relukit.gelu, {"approximate": "exact"}, ValueError, "'none' or 'tanh'"),
    (relukit.gelu_grad, {"approximate": None}, TypeError, "'none' or 'tanh'"),
    (relukit.gelu, {"approximate": True}, TypeError, "'none' or 'tanh'"),
    (relukit.prelu, {"weight": [[0.1]]}, ValueError, "1-D"),
    (relukit.prelu, {"weight": [0.1, math.nan]}, ValueError, "finite"),
    (relukit.prelu_grad, {"weight": [True]}, TypeError, "real numbers"),
    (relukit.prelu, {"weight": "a"}, TypeError, "weight"),
    (relukit.prelu, {"weight": None}, TypeError, "weight"),
    (relukit.prelu, {"weight": [1.0, 2.0, 3.0]}, ValueError, "channels"),
]


@pytest.mark.parametrize(
    ("func", "kwargs", "exc", "match"),
    BAD_PARAMS,
    ids=[f"{f.__name__}-{'-'.join(map(str, k.values()))}" for f, k, _, _ in BAD_PARAMS],
)
def test_bad_parameters_same_exception_everywhere(func, kwargs, exc, match):
    x = np.array([[-1.0, 0.5], [2.0, -3.0]], np.float32)
    before = x.copy()
    kinds = set()
    for backend in BACKENDS:
        if func.__name__.startswith("threshold") and "threshold" not in kwargs:
            kwargs = {"threshold": 0.0, "value": 0.0, **kwargs}
        for arg in (x, -1.5):
            with pytest.raises(exc, match=match) as info:
                func(arg, **kwargs, backend=backend)
            kinds.add(type(info.value))
        out = np.zeros_like(x)
        with pytest.raises(exc):
            func(x, **kwargs, out=out, backend=backend)
        assert not out.any(), "a rejected call wrote out"
    assert kinds == {exc}
    assert same_bits(x, before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_overflowing_float32(backend):
    x32 = np.array([-1.0, 1.0], np.float32)
    with pytest.raises(ValueError, match="overflows float32"):
        relukit.leaky_relu(x32, 1e300, backend=backend)
    with pytest.raises(ValueError, match="overflows float32"):
        relukit.prelu(np.ones((2, 2), np.float32), [1e300, 1.0], backend=backend)
    assert relukit.leaky_relu(x32.astype(np.float64), 1e300, backend=backend)[0] == -1e300
    # bounds and thresholds may be infinite (they are only compared)
    assert relukit.hardtanh(x32, -math.inf, 0.5, backend=backend).tolist() == [-1.0, 0.5]
    assert relukit.threshold(x32, -math.inf, 0.0, backend=backend).tolist() == [-1.0, 1.0]


BAD_X = [
    (None, TypeError, "NoneType"),
    ("abc", TypeError, "str"),
    (True, TypeError, "bool"),
    (np.zeros(2, np.int32), TypeError, "dtype int32"),
    (np.zeros(2, np.float16), TypeError, "dtype float16"),
    (np.zeros(2, ">f8"), TypeError, "byte order"),
    ([[1.0], [2.0, 3.0]], ValueError, "rectangular"),
    (2**63, OverflowError, "int64"),
    (1 + 2j, TypeError, "complex"),
]


@pytest.mark.parametrize(("x", "exc", "match"), BAD_X, ids=[repr(c[0])[:20] for c in BAD_X])
@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
def test_bad_input_same_as_relu(entry, x, exc, match):
    for backend in BACKENDS:
        with pytest.raises(exc, match=match):
            entry.call(x, params_for(entry, entry.params, x), backend=backend)


@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
def test_bad_out_same_as_relu(entry):
    x = np.array([-1.0, 2.0, -3.0], np.float32)
    p = params_for(entry, entry.params, x)
    for backend in BACKENDS:
        for out, exc, match in (
            (np.zeros(4, np.float32), ValueError, "shape"),
            (np.zeros(3, np.float64), TypeError, "dtype"),
            ([0.0] * 3, TypeError, "out must be a NumPy array"),
        ):
            with pytest.raises(exc, match=match):
                entry.call(x, p, out=out, backend=backend)
        ro = np.zeros(3, np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            entry.call(x, p, out=ro, backend=backend)
        with pytest.raises(TypeError, match="out="):
            entry.call(1.5, params_for(entry, entry.params, 1.5), out=np.zeros(()), backend=backend)


@pytest.mark.parametrize("entry", ACTIVATIONS, ids=IDS)
def test_partial_overlap_reads_a_copy(entry):
    for backend in BACKENDS:
        buf = np.linspace(-4, 4, 12)
        x, out = buf[:8], buf[4:]
        p = params_for(entry, entry.params, x)
        want = entry.call(x.copy(), p, backend=backend)
        entry.call(x, p, out=out, backend=backend)
        assert same_bits(out, want), backend


# --- hypothesis: arbitrary floats and views, every backend within the contract ---------------


def float_arrays(dtype: np.dtype) -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7)
    floats = st.floats(width=8 * dtype.itemsize, allow_subnormal=True)
    by_bits = hnp.arrays(np.dtype(f"u{dtype.itemsize}"), shapes).map(lambda a: a.view(dtype))
    return st.one_of(hnp.arrays(dtype, shapes, elements=floats), by_bits)


@given(
    data=st.data(),
    entry=st.sampled_from(ACTIVATIONS),
    dtype=st.sampled_from(DTYPES),
    step=st.sampled_from((1, -1, 2)),
)
def test_hypothesis_all_backends_within_the_contract(data, entry, dtype, step):
    a = data.draw(float_arrays(dtype))
    x = a[(slice(None, None, step),) * a.ndim]
    params = data.draw(st.sampled_from(entry.param_sets))
    p = params_for(entry, params, x)
    for backend in BACKENDS:
        got = entry.call(x, p, backend=backend)
        assert entry.verify(x, got, p), f"{backend}: {explain(entry, x, got, p)}"
        if entry.exact and backend != BACKENDS[0]:
            assert same_bits(got, entry.call(x, p, backend=BACKENDS[0]))


# --- what the op table derives ----------------------------------------------------------------


def test_the_facade_functions_have_real_signatures_and_docstrings():
    import inspect
    import pydoc

    sig = inspect.signature(relukit.leaky_relu)
    assert list(sig.parameters) == ["x", "negative_slope", "out", "backend"]
    assert sig.parameters["negative_slope"].default == 0.01
    assert sig.parameters["out"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(relukit.threshold).parameters["threshold"].default is (
        inspect.Parameter.empty
    )
    text = pydoc.render_doc(relukit.leaky_relu, renderer=pydoc.plaintext)
    assert "leaky_relu(x: Any, negative_slope: float = 0.01, *, out:" in text
    assert "Leaky ReLU" in text
    for op in ops.OPS:
        fn = getattr(relukit, op.name)
        assert fn is ops.FUNCTIONS[op.name] and fn.__module__ == "relukit"
        assert fn.__doc__ == op.doc and fn.__name__ == op.name
        assert [p.name for p in op.params] == list(inspect.signature(fn).parameters)[1:-2]


def test_relu_is_a_row_with_its_fast_path():
    row = ops.BY_NAME["relu"]
    assert row.fast and row.module == "ReLU" and row.grad == "relu_grad"
    assert relukit.relu(-2.5) == 0.0 and relukit.relu(3) == 3 and type(relukit.relu(3)) is int


def test_everything_derived_from_the_table():
    from relukit.bench import cases
    from relukit.bench.schema import _CASE

    names = {op.name for op in ops.OPS}
    assert names <= set(relukit.__all__)
    assert {k for op in ops.OPS for k in op.kernels} == set(ops.KERNELS)
    rows = [check.name for _, check in ops.CHECKS]
    assert [a.name for a in ACTIVATIONS] == rows and list(cases.ACTIVATION_OPS) == rows
    assert _CASE["properties"]["op"]["enum"] == [*cases.OPS]
    for module, op in ops.MODULES.items():
        cls = getattr(relukit.nn, module)
        assert cls.op == op and module in relukit.nn.__all__
    assert relukit.nn.LeakyReLU().negative_slope == 0.01
    assert repr(relukit.nn.Hardtanh(-2, 3)) == "Hardtanh(min_val=-2.0, max_val=3.0)"
    with pytest.raises(ValueError, match="must not be greater"):
        relukit.nn.Hardtanh(3, -2)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        relukit.nn.LeakyReLU("0.1")


def test_a_new_row_gets_a_function_and_a_module():
    """A row is all the Python a new op needs besides its kernels: here a row that reuses the
    leaky_relu kernel under another name and default, and elu's module made again."""
    import dataclasses

    from relukit._api import make_function
    from relukit.nn import _make_module

    row = dataclasses.replace(
        ops.BY_NAME["leaky_relu"],
        name="leaky_relu_02",
        params=(ops.Param("negative_slope", 0.2),),
        module="LeakyReLU02",
    )
    fn = make_function(row)
    x = np.array([-1.0, 2.0])
    assert fn(x).tolist() == [-0.2, 2.0] and fn(x, 0.5).tolist() == [-0.5, 2.0]
    cls = _make_module(ops.BY_NAME["elu"])
    assert cls.__name__ == "ELU" and repr(cls(0.5)) == "ELU(alpha=0.5)"
    assert np.array_equal(cls(0.5).forward(x), relukit.nn.ELU(0.5).forward(x))

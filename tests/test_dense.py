"""Dense layer y = relu(x @ W + b) and SimpleNeuralLayer, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import relukit
from conftest import BACKENDS, DTYPES, backend_module
from relukit import dense
from relukit.conformance import dense_reference, dense_tolerance, same_bits


def assert_close_to_reference(layer: relukit.Dense, x: np.ndarray, got: np.ndarray, what: str):
    x = np.asarray(x, dtype=layer.dtype)
    x2 = x.reshape(1, -1) if x.ndim == 1 else x
    expect = dense_reference(x2, layer.weights, layer.biases)
    tol = dense_tolerance(x2, layer.weights, layer.biases, layer.dtype)
    if x.ndim == 1:
        expect, tol = expect[0], tol[0]
    assert got.dtype == layer.dtype, what
    assert got.shape == expect.shape, what
    err = np.abs(got.astype(np.float64) - expect)
    assert np.all(err <= tol), f"{what}: max error {err.max()} > tolerance"
    assert np.all(got >= 0), what


# --- the classic example ----------------------------------------------------------------------


def test_simple_neural_layer_defaults():
    layer = relukit.SimpleNeuralLayer(3, 2)
    assert isinstance(layer, relukit.Dense)
    assert layer.in_features == 3 and layer.out_features == 2
    assert layer.dtype == np.float64
    assert layer.weights.shape == (3, 2) and layer.weights.dtype == np.float64
    assert layer.biases.shape == (2,) and layer.biases.dtype == np.float64
    assert same_bits(layer.biases, np.zeros(2))
    assert np.all(np.isfinite(layer.weights)) and np.any(layer.weights != 0)


def test_simple_neural_layer_seed_reproducible():
    a = relukit.SimpleNeuralLayer(5, 4, seed=123)
    b = relukit.SimpleNeuralLayer(5, 4, seed=123)
    c = relukit.SimpleNeuralLayer(5, 4, seed=124)
    assert same_bits(a.weights, b.weights)
    assert not np.array_equal(a.weights, c.weights)
    x = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    assert same_bits(a.forward(x), b.forward(x))
    # no seed: fresh randomness each time
    assert not np.array_equal(
        relukit.SimpleNeuralLayer(5, 4).weights, relukit.SimpleNeuralLayer(5, 4).weights
    )


def test_simple_neural_layer_weights_are_standard_normal():
    w = relukit.SimpleNeuralLayer(400, 500, seed=0).weights  # 200 000 samples
    assert abs(w.mean()) < 0.01
    assert abs(w.std() - 1.0) < 0.01
    assert abs(np.mean(np.abs(w) < 1.0) - 0.6827) < 0.01  # normal, not uniform
    assert 3.5 < np.abs(w).max() < 6.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_guide_example_known_weights(backend):
    layer = relukit.SimpleNeuralLayer(3, 2, backend=backend)
    layer.weights = np.array([[0.5, -1.0], [0.25, 2.0], [2.0, 0.5]])
    layer.biases = np.array([0.25, -0.5])
    inputs = np.array([1, 2, -1])  # an int input, cast to float64
    out = layer.forward(inputs)
    # [1, 2, -1] @ W = [0.5 + 0.5 - 2, -1 + 4 - 0.5] = [-1, 2.5]; + b = [-0.75, 2.0]
    assert same_bits(out, np.array([0.0, 2.0]))
    assert same_bits(layer(inputs), out)  # __call__ is forward
    assert same_bits(layer.forward([[1, 2, -1], [-1, -2, 1]]), np.array([[0.0, 2.0], [1.25, 0.0]]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_guide_example_random_weights(backend):
    layer = relukit.SimpleNeuralLayer(3, 2, seed=42)
    inputs = np.array([1, 2, -1])
    got = layer.forward(inputs, backend=backend)
    expect = np.maximum(inputs @ layer.weights + layer.biases, 0)  # the textbook formula
    assert_close_to_reference(layer, inputs, got, backend)
    assert np.allclose(got, expect, rtol=1e-14, atol=1e-15)


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("init", dense.INITS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dense_shapes_dtypes_inits(dtype, init):
    layer = relukit.Dense(300, 200, dtype=dtype, init=init, seed=5)
    assert layer.weights.shape == (300, 200) and layer.weights.dtype == dtype
    assert layer.biases.shape == (200,) and layer.biases.dtype == dtype
    assert layer.weights.flags.c_contiguous
    assert same_bits(layer.biases, np.zeros(200, dtype))
    w = layer.weights.astype(np.float64)
    if init == "zeros":
        assert not np.any(w)
        return
    expected_std = {
        "he_normal": np.sqrt(2 / 300),
        "he_uniform": np.sqrt(6 / 300) / np.sqrt(3),
        "glorot_uniform": np.sqrt(6 / 500) / np.sqrt(3),
        "standard_normal": 1.0,
    }[init]
    assert abs(w.mean()) < 0.05 * expected_std
    assert abs(w.std() / expected_std - 1) < 0.02, (init, w.std(), expected_std)
    if init.endswith("uniform"):
        limit = np.sqrt(6 / (300 if init == "he_uniform" else 500))
        assert np.abs(w).max() <= limit * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * limit
    assert same_bits(layer.weights, relukit.Dense(300, 200, dtype=dtype, init=init, seed=5).weights)


def test_dense_defaults():
    layer = relukit.Dense(4, 3)
    assert layer.dtype == np.float32 and layer.weights.dtype == np.float32
    assert layer.backend is None
    assert "Dense(4, 3" in repr(layer) and "float32" in repr(layer)
    assert relukit.Dense(4, 3, dtype=np.float64).dtype == np.float64
    assert relukit.Dense(4, 3, dtype="f8").dtype == np.float64
    assert relukit.Dense(np.int64(4), 3).in_features == 4


@pytest.mark.parametrize("bad", ["nope", "He_Normal", "", None, 3])
def test_bad_init(bad):
    with pytest.raises(ValueError, match="init") as info:
        relukit.Dense(3, 2, init=bad)
    for name in dense.INITS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [np.int32, "int32", np.float16, "float16", np.int64, complex, bool, ">f4", "bogus", object],
)
def test_bad_dtype(bad):
    with pytest.raises(TypeError, match="dtype"):
        relukit.Dense(3, 2, dtype=bad)


@pytest.mark.parametrize(
    ("n_in", "n_out", "exc"),
    [
        (-1, 2, ValueError),
        (2, -1, ValueError),
        (2.0, 2, TypeError),
        (2, "3", TypeError),
        (True, 2, TypeError),
        (None, 2, TypeError),
    ],
)
def test_bad_sizes(n_in, n_out, exc):
    with pytest.raises(exc):
        relukit.Dense(n_in, n_out)


def test_dense_bogus_backend():
    with pytest.raises(ValueError, match="valid names"):
        relukit.Dense(3, 2, backend="bogus")
    with pytest.raises(ValueError, match="valid names"):
        relukit.SimpleNeuralLayer(3, 2, backend="bogus")
    layer = relukit.Dense(3, 2)
    with pytest.raises(ValueError, match="valid names"):
        layer.forward(np.zeros(3), backend="bogus")


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_weight_and_bias_setters(dtype):
    layer = relukit.Dense(3, 2, dtype=dtype)
    w = np.arange(6, dtype=np.int64).reshape(3, 2)
    layer.weights = w
    assert layer.weights.dtype == dtype and np.array_equal(layer.weights, w)
    w[0, 0] = 100  # the layer keeps its own copy
    assert layer.weights[0, 0] == 0
    layer.weights = np.asfortranarray(np.ones((3, 2)))
    assert layer.weights.flags.c_contiguous
    layer.biases = [1, -2]
    assert layer.biases.dtype == dtype and layer.biases.tolist() == [1.0, -2.0]

    for bad in (np.zeros((2, 3)), np.zeros(6), np.zeros((3, 2, 1)), [[1, 2], [3, 4]], 1.0):
        with pytest.raises(ValueError, match="shape"):
            layer.weights = bad
    for bad in (np.zeros(3), np.zeros((1, 2)), 0.0, []):
        with pytest.raises(ValueError, match="shape"):
            layer.biases = bad
    for bad in (
        np.full((3, 2), "a"),
        np.zeros((3, 2), dtype=object),
        None,
        np.zeros((3, 2), complex),
        np.zeros((3, 2), bool),
    ):
        with pytest.raises(TypeError):
            layer.weights = bad
    for bad in (["a", "b"], np.array([None, None]), None, np.zeros(2, complex)):
        with pytest.raises(TypeError):
            layer.biases = bad
    assert layer.weights.tolist() == [[1.0, 1.0]] * 3  # failed sets changed nothing
    assert layer.biases.tolist() == [1.0, -2.0]


# --- forward against the float64 reference ----------------------------------------------------

SHAPES = [  # (in, out, batch)
    (3, 2, 1),
    (3, 2, 7),
    (1, 1, 1),
    (1, 5, 3),
    (5, 1, 3),
    (17, 9, 4),
    (64, 33, 5),
    (128, 64, 2),
    (784, 256, 1),
    (784, 256, 256),
    (0, 4, 3),
    (4, 0, 3),
    (4, 3, 0),
    (0, 0, 0),
    (2, 3, 300),
]  # 784 -> 256 batch 256 takes the pure Python backend ~5 s per dtype: the price of "every"


@pytest.mark.parametrize(
    ("backend", "shape"),
    [(b, s) for b in BACKENDS for s in SHAPES],
    ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)),
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_matches_reference(backend, shape, dtype):
    n_in, n_out, batch = shape
    rng = np.random.default_rng(n_in * 1000 + n_out + batch)
    layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=n_in + n_out, backend=backend)
    layer.biases = rng.standard_normal(n_out)
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    got = layer.forward(x)
    assert got.shape == (batch, n_out)
    assert_close_to_reference(layer, x, got, f"{backend} {shape}")
    if n_in == 0:
        assert same_bits(got, np.broadcast_to(np.maximum(layer.biases, 0), (batch, n_out)).copy())
    if batch:
        one = layer.forward(x[0])
        assert one.shape == (n_out,)
        assert_close_to_reference(layer, x[0], one, f"{backend} {shape} 1-D")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_backends_agree_with_each_other(dtype):
    rng = np.random.default_rng(99)
    for n_in, n_out, batch in ((3, 2, 1), (33, 17, 5), (200, 50, 8)):
        layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=1)
        layer.biases = rng.standard_normal(n_out)
        x = rng.standard_normal((batch, n_in)).astype(dtype)
        tol = dense_tolerance(x, layer.weights, layer.biases, dtype)
        results = {b: layer.forward(x, backend=b).astype(np.float64) for b in BACKENDS}
        for b, got in results.items():
            assert np.all(np.abs(got - results["numpy"]) <= 2 * tol), b
        # C and Rust document the same summation order (b first, k increasing, no fma)
        assert same_bits(results["c"], results["rust"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_uses_the_chosen_backend(backend, monkeypatch):
    calls = []
    for name in BACKENDS:
        module = backend_module(name)
        original = module.dense_forward

        def spy(*args, _name=name, _original=original):
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, "dense_forward", spy)
    x = np.ones(3)
    relukit.Dense(3, 2, backend=backend).forward(x)
    assert calls == [backend]
    calls.clear()
    with relukit.use_backend(backend):
        relukit.Dense(3, 2).forward(x)
    assert calls == [backend]
    calls.clear()
    other = "numpy" if backend != "numpy" else "c"
    relukit.Dense(3, 2, backend=other).forward(x, backend=backend)  # per call wins
    assert calls == [backend]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_propagates_to_its_row_only(backend, dtype):
    layer = relukit.Dense(3, 4, dtype=dtype, seed=1, backend=backend)
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, -1.0], [0.0, 0.0, 0.0], [np.nan, 0, 0]], dtype)
    got = layer.forward(x)
    assert np.all(np.isnan(got[0])) and np.all(np.isnan(got[3]))
    assert not np.any(np.isnan(got[1:3]))
    assert_close_to_reference(layer, x[1:3], got[1:3], backend)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_noncontiguous_and_cast_inputs(backend, dtype):
    rng = np.random.default_rng(5)
    layer = relukit.Dense(6, 4, dtype=dtype, seed=2, backend=backend)
    layer.biases = rng.standard_normal(4)
    wide = rng.standard_normal((5, 12))
    x = wide[:, ::2]
    assert not x.flags.c_contiguous
    assert_close_to_reference(layer, x.astype(dtype), layer.forward(x), "x[:, ::2]")
    xt = rng.standard_normal((6, 5)).astype(dtype)
    assert_close_to_reference(layer, xt.T, layer.forward(xt.T), "x.T")
    rev = rng.standard_normal((5, 6)).astype(dtype)
    assert_close_to_reference(layer, rev[::-1], layer.forward(rev[::-1]), "x[::-1]")
    ints = rng.integers(-5, 5, (3, 6))
    assert_close_to_reference(layer, ints.astype(dtype), layer.forward(ints), "int input")
    assert_close_to_reference(
        layer, ints[0].astype(dtype), layer.forward(ints[0].tolist()), "list input"
    )
    assert_close_to_reference(
        layer, wide[0, :6].astype(dtype), layer.forward(wide[0, :6]), "float64 input"
    )
    before = wide.copy()
    layer.forward(x)
    assert same_bits(wide, before)  # forward does not write into its input


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_forward_inputs(backend):
    layer = relukit.Dense(3, 2, backend=backend)
    for bad in (
        np.zeros(4),
        np.zeros((2, 4)),
        np.zeros((2, 3, 3)),
        np.zeros(()),
        1.0,
        np.zeros((3, 1)),
        [[1, 2, 3], [4, 5]],
        np.zeros(0),
    ):
        with pytest.raises(ValueError):
            layer.forward(bad)
    for bad in (
        "abc",
        b"abc",
        None,
        np.array([1, None, 2], dtype=object),
        np.zeros(3, complex),
        np.array(["a", "b", "c"]),
        np.zeros(3, bool),
    ):
        with pytest.raises(TypeError):
            layer.forward(bad)
    with pytest.raises(ValueError, match=r"\(3,\) or \(batch, 3\)"):
        layer.forward(np.zeros(5))


def test_python_backend_skips_empty_outputs():
    """A (2**31 + 1, 0) weight on a zero-size batch: nothing to compute, no 2**31 lists."""
    import time

    n = 2**31 + 1
    start = time.perf_counter()
    d = relukit.Dense(n, 0, backend="python")
    assert d.forward(np.empty((0, n), np.float32)).shape == (0, 0)
    layer = relukit.nn.Linear(n, 0, backend="python")
    assert layer.forward(np.empty((0, n), np.float32)).shape == (0, 0)
    assert layer.backward(np.empty((0, 0), np.float32)).shape == (0, n)
    small = relukit.nn.Linear(3, 2, backend="python")
    small.forward(np.ones((0, 3), np.float32))
    small.backward(np.ones((0, 2), np.float32))
    assert np.array_equal(small.weight.grad, np.zeros((3, 2), np.float32))
    assert time.perf_counter() - start < 5.0

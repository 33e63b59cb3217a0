"""relukit.nn: gradients (checked by finite differences), Linear, Sequential, activation
modules, SGD, softmax_cross_entropy, dead_fraction, and backend selection."""

from __future__ import annotations

import numpy as np
import pytest

import relukit
from conftest import BACKENDS, backend_module
from relukit import nn

#: Every activation module with its constructor arguments.
ACTIVATIONS = {
    "ReLU": lambda be: nn.ReLU(backend=be),
    "LeakyReLU": lambda be: nn.LeakyReLU(0.1, backend=be),
    "PReLU": lambda be: nn.PReLU(3, init=0.2, dtype="float64", backend=be),
    "ELU": lambda be: nn.ELU(0.7, backend=be),
    "GELU": lambda be: nn.GELU(backend=be),
    "GELU-tanh": lambda be: nn.GELU("tanh", backend=be),
    "ReLU6": lambda be: nn.ReLU6(backend=be),
    "Hardtanh": lambda be: nn.Hardtanh(-0.5, 0.8, backend=be),
    "Threshold": lambda be: nn.Threshold(0.1, -0.3, backend=be),
    "Sigmoid": lambda be: nn.Sigmoid(backend=be),
    "Tanh": lambda be: nn.Tanh(backend=be),
}


def numeric_grad(f, a: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every element of a (in place)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * h)
    return g


def away_from_kinks(shape, rng, kinks=(0.0,), margin=0.05):
    """float64 values in [-2, 2] (and a few larger) at least ``margin`` from every kink."""
    x = rng.uniform(-2, 2, shape)
    for k in kinks:
        near = np.abs(x - k) < margin
        x[near] = k + np.copysign(margin * 2, x[near] - k + 1e-12)
    return x


KINKS = {
    "ReLU6": (0.0, 6.0),
    "Hardtanh": (-0.5, 0.8),
    "Threshold": (0.1,),
}


# ---- gradient checks ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_gradients(backend):
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 4, seed=1, dtype="float64", backend=backend)
    layer.bias.value[:] = rng.uniform(-1, 1, 4)
    x = rng.uniform(-1, 1, (3, 5))
    c = rng.uniform(-1, 1, (3, 4))  # loss = sum(c * y): dL/dy = c

    def loss():
        return float(np.sum(c * layer.forward(x)))

    layer.zero_grad()
    layer.forward(x)
    dx = layer.backward(c)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        layer.weight.grad, numeric_grad(loss, layer.weight.value), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        layer.bias.grad, numeric_grad(loss, layer.bias.value), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_activation_gradients(backend, name):
    rng = np.random.default_rng(2)
    m = ACTIVATIONS[name](backend)
    x = away_from_kinks((4, 3), rng, KINKS.get(name, (0.0,)))
    c = rng.uniform(-1, 1, (4, 3))

    def loss():
        return float(np.sum(c * m.forward(x)))

    m.zero_grad()
    m.forward(x)
    dx = m.backward(c)
    assert dx.shape == x.shape and dx.dtype == x.dtype
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-8)
    for p in m.parameters():  # PReLU's slopes
        np.testing.assert_allclose(p.grad, numeric_grad(loss, p.value), rtol=1e-5, atol=1e-8)
        assert np.any(p.grad != 0)


def test_softmax_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4)) * 3
    y = np.array([0, 3, 1, 1, 2])
    loss, d = nn.softmax_cross_entropy(z, y)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-12)
    np.testing.assert_allclose(
        d, numeric_grad(lambda: nn.softmax_cross_entropy(z, y)[0], z), rtol=1e-6, atol=1e-10
    )
    np.testing.assert_allclose(d.sum(1), 0, atol=1e-15)  # softmax minus one-hot


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequential_mlp_gradients(backend):
    rng = np.random.default_rng(4)
    model = nn.Sequential(
        nn.Linear(6, 5, seed=0, dtype="float64"),
        nn.ReLU(),
        nn.Linear(5, 3, seed=1, dtype="float64"),
        backend_note := nn.ReLU(),
        nn.Linear(3, 4, seed=2, dtype="float64"),
    )
    assert backend_note is model[3]
    for layer in model[::2]:  # nonzero biases keep every pre-activation off relu's kink
        layer.bias.value[:] = rng.uniform(0.05, 0.3, layer.bias.shape)
    x = rng.uniform(-1, 1, (7, 6))
    y = rng.integers(0, 4, 7)
    with relukit.use_backend(backend):

        def loss():
            return nn.softmax_cross_entropy(model.forward(x), y)[0]

        model.zero_grad()
        _, d = nn.softmax_cross_entropy(model.forward(x), y)
        dx = model.backward(d)
        np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-9)
        for p in model.parameters():
            np.testing.assert_allclose(p.grad, numeric_grad(loss, p.value), rtol=1e-5, atol=1e-9)
        assert model.backward(d, input_grad=False) is None


# ---- Linear ------------------------------------------------------------------------------------


def test_linear_construction():
    layer = nn.Linear(64, 128, seed=0)
    assert layer.weight.shape == (64, 128) and layer.bias.shape == (128,)
    assert layer.weight.value.dtype == np.float32 and layer.bias.value.dtype == np.float32
    assert np.all(layer.bias.value == 0) and np.all(layer.weight.grad == 0)
    assert abs(layer.weight.value.std() - np.sqrt(2 / 64)) < 0.01  # He normal
    same = nn.Linear(64, 128, seed=0)
    assert np.array_equal(layer.weight.value, same.weight.value)
    assert not np.array_equal(layer.weight.value, nn.Linear(64, 128, seed=1).weight.value)
    assert [p.name for p in layer.parameters()] == ["weight", "bias"]
    nb = nn.Linear(3, 2, bias=False, init="zeros", dtype=np.float64)
    assert nb.bias is None and len(nb.parameters()) == 1
    assert nb.forward(np.ones((2, 3))).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert "Linear(3, 2, bias=False" in repr(nb)
    with pytest.raises(ValueError, match="init"):
        nn.Linear(3, 2, init="bogus")
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(3, 2, dtype="int32")
    with pytest.raises(ValueError, match=">= 0"):
        nn.Linear(-1, 2)
    with pytest.raises(TypeError):
        nn.Linear(3.5, 2)
    with pytest.raises(ValueError, match="valid names"):
        nn.Linear(3, 2, backend="bogus")


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_forward_backward_shapes(backend):
    layer = nn.Linear(3, 2, seed=0, backend=backend)
    y = layer.forward([1, 2, -1])  # a list of ints, one sample
    assert y.shape == (2,) and y.dtype == np.float32
    dx = layer.backward(np.ones(2))
    assert dx.shape == (3,)
    assert layer.weight.grad.tolist() == [[1, 1], [2, 2], [-1, -1]]
    assert layer.bias.grad.tolist() == [1, 1]
    layer.backward(np.ones(2))  # backward adds
    assert layer.bias.grad.tolist() == [2, 2]
    layer.zero_grad()
    assert layer.bias.grad.tolist() == [0, 0]
    with pytest.raises(ValueError, match="takes input of shape"):
        layer.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="output's shape"):
        layer.backward(np.ones((2, 2)))
    with pytest.raises(TypeError):
        layer.forward(None)
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(3, 2).backward(np.ones((1, 2)))
    empty = nn.Linear(3, 2, backend=backend)
    assert empty.forward(np.ones((0, 3))).shape == (0, 2)
    assert empty.backward(np.ones((0, 2))).shape == (0, 3)


# ---- backend selection ---------------------------------------------------------------------------


def _spy(monkeypatch, attrs):
    calls = []
    for name in BACKENDS:
        module = backend_module(name)
        for attr in attrs:
            original = getattr(module, attr)

            def spy(*args, _name=name, _original=original, **kwargs):
                calls.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(module, attr, spy)
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_modules_follow_backend(backend, monkeypatch):
    calls = _spy(monkeypatch, ("linear_forward", "dense_backward", "relu_array"))
    other = "python" if backend != "python" else "numpy"
    x = np.ones((2, 3))
    with relukit.use_backend(other):
        model = nn.Sequential(nn.Linear(3, 2, backend=backend), nn.ReLU(backend=backend))
        model.backward(model.forward(x))
        assert calls and set(calls) == {backend}
        calls.clear()
        free = nn.Sequential(nn.Linear(3, 2), nn.ReLU())  # no backend=: the current one
        free.backward(free.forward(x))
        assert calls and set(calls) == {other}
    calls.clear()
    with relukit.use_backend(backend):  # ... at call time, not at construction
        free.backward(free.forward(x))
    assert calls and set(calls) == {backend}


def test_readme_training_loop_trains():
    """The training loop of the nn module's docstring and the README, verbatim, on every
    backend the tests require."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 64), dtype=np.float32)
    y = (x[:, :10].argmax(1)).astype(np.int64)  # a learnable rule
    for be in ("numpy", "c", "rust"):
        with relukit.use_backend(be):
            model = nn.Sequential(nn.Linear(64, 128, seed=0), nn.ReLU(), nn.Linear(128, 10, seed=1))
            opt = nn.SGD(model.parameters(), lr=0.05, momentum=0.9)
            losses = []
            for _ in range(30):
                logits = model(x)
                loss, dlogits = nn.softmax_cross_entropy(logits, y)
                opt.zero_grad()
                model.backward(dlogits)
                opt.step()
                losses.append(loss)
            assert logits.dtype == np.float32 and dlogits.dtype == np.float32
            assert losses[-1] < 0.5 * losses[0], be


# ---- activation modules ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_forward_is_the_facade_op(name):
    m = ACTIVATIONS[name]("numpy")
    x = np.linspace(-3, 3, 12).reshape(4, 3)  # 3 channels for PReLU(3)
    fn = getattr(relukit, m.op)
    args = m._args()
    grad = getattr(relukit, m.op + "_grad")
    assert np.array_equal(m.forward(x), fn(x, *args, backend="numpy"), equal_nan=True)
    assert np.array_equal(m.derivative(x), grad(x, *args, backend="numpy"))
    assert m(x).shape == x.shape
    assert repr(m).startswith(type(m).__name__ + "(")


def test_activation_errors():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Tanh().backward(np.ones(2))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.PReLU().backward(np.ones(2))
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(TypeError, match="number"):
        nn.LeakyReLU("0.1")
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match="valid names"):
        nn.Sigmoid(backend="bogus")


def test_relu_backward_after_inplace_forward():
    """ReLU keeps its output for backward, so inplace=True gives the right gradient."""
    x = np.array([-1.0, 0.0, 2.0, np.nan, -0.0, 3.0])
    m = nn.ReLU(inplace=True)
    m.forward(x)
    g = m.backward(np.full(6, 2.0))
    assert np.array_equal(g, [0, 0, 2, np.nan, 0, 2], equal_nan=True)


def test_prelu_learns_its_slope():
    m = nn.PReLU(dtype="float64")
    opt = nn.SGD(m.parameters(), lr=0.1)
    x = np.linspace(-2, 2, 41)
    target = np.where(x > 0, x, 0.6 * x)
    for _ in range(200):
        d = m.forward(x) - target
        opt.zero_grad()
        m.backward(2 * d / x.size)
        opt.step()
    assert m.weight.value[0] == pytest.approx(0.6, abs=1e-3)


# ---- SGD ----------------------------------------------------------------------------------------


def test_sgd_matches_the_torch_update_rule():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = nn.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    grads = [np.array([0.5, 0.5]), np.array([-1.0, 2.0]), np.array([0.0, 0.25])]
    value, buf = np.array([1.0, -2.0]), None
    for g in grads:
        p.grad[:] = g
        opt.step()
        d = g + 0.01 * value
        buf = d.copy() if buf is None else 0.9 * buf + d
        value = value - 0.1 * buf
        np.testing.assert_allclose(p.value, value, rtol=1e-15)
    plain = nn.Parameter(np.array([1.0], np.float32))
    plain.grad[:] = 2.0
    nn.SGD([plain], lr=0.25).step()
    assert plain.value.tolist() == [0.5] and plain.value.dtype == np.float32
    opt.zero_grad()
    assert p.grad.tolist() == [0.0, 0.0]


def test_sgd_arguments():
    p = [nn.Parameter(np.zeros(2))]
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr"):
            nn.SGD(p, lr=bad)
    with pytest.raises(ValueError, match="momentum"):
        nn.SGD(p, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        nn.SGD(p, lr=0.1, weight_decay=-1)
    with pytest.raises(TypeError, match="Parameters"):
        nn.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="number"):
        nn.SGD(p, lr="0.1")


# ---- loss ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_stable_and_typed(dtype):
    z = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], dtype)
    loss, d = nn.softmax_cross_entropy(z, [0, 2])
    assert np.isfinite(loss) and loss == pytest.approx(np.log(3) / 2)
    assert d.dtype == dtype and np.all(np.isfinite(d))
    _, d_wrong = nn.softmax_cross_entropy(z, np.array([1, 2]))
    assert d_wrong[0].tolist() == pytest.approx([0.5, -0.5, 0.0])  # (p - onehot) / batch


def test_softmax_cross_entropy_errors():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        nn.softmax_cross_entropy(z, [0, 3])
    with pytest.raises(ValueError, match=r"lie in"):
        nn.softmax_cross_entropy(z, [-1, 0])
    with pytest.raises(ValueError, match="shape"):
        nn.softmax_cross_entropy(z, [0])
    with pytest.raises(TypeError, match="integers"):
        nn.softmax_cross_entropy(z, [0.0, 1.0])
    with pytest.raises(TypeError, match="float"):
        nn.softmax_cross_entropy(np.zeros((2, 3), int), [0, 1])
    with pytest.raises(ValueError, match="batch, classes"):
        nn.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, int))
    with pytest.raises(ValueError, match="batch, classes"):
        nn.softmax_cross_entropy(np.zeros(3), [0, 1, 2])


# ---- dead_fraction ------------------------------------------------------------------------


def test_dead_fraction():
    a = np.array([[0.0, 1.0, 0.0, -0.0], [0.0, 0.0, 2.0, 0.0], [-0.0, 0.0, 0.0, 0.0]])
    assert relukit.dead_fraction(a) == 0.5  # columns 0 and 3
    assert nn.dead_fraction is relukit.dead_fraction
    assert relukit.dead_fraction(np.array([[np.nan, 0.0]])) == 0.5  # NaN is not dead
    assert relukit.dead_fraction(np.zeros((3, 2, 2))) == 1.0
    assert relukit.dead_fraction([[1, 0]]) == 0.5
    relu_out = relukit.relu(np.array([[-1.0, 2.0], [-3.0, 0.5]]))
    assert relukit.dead_fraction(relu_out) == 0.5
    with pytest.raises(ValueError, match="batch"):
        relukit.dead_fraction(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="batch"):
        relukit.dead_fraction(np.float64(0.0))
    with pytest.raises(TypeError):
        relukit.dead_fraction(["a"])

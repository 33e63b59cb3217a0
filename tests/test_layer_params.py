"""Arrays a user assigns to layers (``Dense.weights`` / ``.biases``, ``nn.Parameter.value``):
any layout, another dtype, another shape, changed in place after a forward. Every backend
computes what the numpy backend computes or raises what it raises; none reads wrong bytes."""

from __future__ import annotations

import numpy as np
import pytest

import relukit
from conftest import BACKENDS
from relukit import nn

RNG = np.random.default_rng(7)
W_TORCH = RNG.standard_normal((32, 64)).astype(np.float32)  # PyTorch's (out, in) layout
X = RNG.standard_normal((5, 64)).astype(np.float32)
DY = RNG.standard_normal((5, 32)).astype(np.float32)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-5)


def _linear(backend: str, weight, bias=None) -> nn.Linear:
    layer = nn.Linear(64, 32, seed=0, backend=backend)
    layer.weight.value = weight
    if bias is not None:
        layer.bias.value = bias
    return layer


def _outcome(fn):
    """(result, None) or (None, exception type)."""
    try:
        return fn(), None
    except Exception as exc:  # the type is what must agree
        return None, type(exc)


def _layouts() -> dict[str, np.ndarray]:
    w = W_TORCH.T  # (64, 32), F-contiguous: the transposed view of a PyTorch weight
    big = np.zeros((128, 32), np.float32)
    big[::2] = w
    raw = np.zeros(w.size * 4 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(64, 32)
    unaligned[...] = w
    return {
        "transposed": w,
        "fortran": np.asfortranarray(w),
        "strided": big[::2],
        "reversed": w[::-1].copy()[::-1],
        "float64": w.astype(np.float64),
        "int": np.round(w * 4).astype(np.int64),
        "unaligned": unaligned,
        "list": w.tolist(),
    }


@pytest.mark.parametrize("layout", list(_layouts()))
@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_weight_of_any_layout(backend, layout):
    w = _layouts()[layout]
    want = _linear("numpy", w)
    got = _linear(backend, w)
    assert got.weight.value.flags.c_contiguous and got.weight.value.dtype == np.float32
    assert got.weight.value.flags.aligned
    y_want, y_got = want.forward(X), got.forward(X)
    assert _close(y_got, y_want), np.abs(y_got - y_want).max()
    dx_want, dx_got = want.backward(DY), got.backward(DY)
    assert _close(dx_got, dx_want), np.abs(dx_got - dx_want).max()
    assert _close(got.weight.grad, want.weight.grad)
    assert _close(got.bias.grad, want.bias.grad)


@pytest.mark.parametrize("layout", list(_layouts()))
@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_weights_of_any_layout(backend, layout):
    w = _layouts()[layout]
    want = relukit.Dense(64, 32, backend="numpy")
    got = relukit.Dense(64, 32, backend=backend)
    want.weights = got.weights = w
    want.biases = got.biases = np.linspace(-1, 1, 32)  # float64 into a float32 layer: cast
    assert got.weights.flags.c_contiguous and got.biases.dtype == np.float32
    assert _close(got.forward(X), want.forward(X))
    assert _close(got.forward(X[0]), want.forward(X[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_of_another_dtype_is_cast_and_another_shape_raises(backend):
    """A float64 bias of the byte count of the float32 one is never read as float32 bytes."""
    w = W_TORCH.T
    with pytest.raises(ValueError, match=r"parameter 'bias' must have shape \(32,\)"):
        _linear(backend, w, np.ones(16))
    want = _linear("numpy", w, np.ones(32)).forward(X)
    got = _linear(backend, w, np.ones(32)).forward(X)
    assert _close(got, want)
    assert _close(got, X @ w + 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_weights_reshaped_in_place_after_a_forward(backend):
    d = relukit.Dense(8, 32, seed=1, backend=backend)
    x = RNG.standard_normal((3, 8)).astype(np.float32)
    d.forward(x)
    d.weights.shape = (32, 8)
    with pytest.raises(ValueError, match=r"Dense weights must have shape \(8, 32\)"):
        d.forward(x)
    d.weights.shape = (8, 32)
    assert _close(d.forward(x), relukit.Dense(8, 32, seed=1, backend="numpy").forward(x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_biases_changed_in_place(backend):
    d = relukit.Dense(8, 32, seed=1, backend=backend)
    x = RNG.standard_normal((3, 8)).astype(np.float32)
    d.forward(x)
    d.biases.shape = (4, 8)
    with pytest.raises(ValueError, match=r"Dense biases must have shape \(32,\)"):
        d.forward(x)
    d.biases.shape = (32,)
    d.biases.dtype = np.int32  # the same bytes read as ints (all zero): cast, never reread
    want = relukit.Dense(8, 32, seed=1, backend="numpy").forward(x)
    assert _close(d.forward(x), want)
    assert d.biases.dtype == np.float32


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_reshaped_in_place_raises_on_every_backend(backend):
    layer = _linear(backend, W_TORCH.T)
    layer.forward(X)
    layer.weight.value.shape = (32, 64)
    with pytest.raises(ValueError, match=r"parameter 'weight' must have shape \(64, 32\)"):
        layer.forward(X)
    with pytest.raises(ValueError, match="must have shape"):
        layer.backward(DY)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_outcome_as_numpy_for_bad_assignments(backend):
    for bad in (np.ones((32, 64)), np.ones(64 * 32), np.array(["a"] * 2048).reshape(64, 32)):
        outcomes = []
        for b in ("numpy", backend):
            layer = nn.Linear(64, 32, backend=b)
            outcomes.append(_outcome(lambda w=layer.weight, v=bad: setattr(w, "value", v)))
        assert outcomes[0][1] is not None and outcomes[0][1] == outcomes[1][1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_prelu_weight_assigned(backend):
    m = nn.PReLU(3, backend=backend)
    m.weight.value = np.array([0.5, -1.0, 2.0])  # float64 into a float32 parameter
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    want = np.where(x > 0, x, x * np.array([0.5, -1.0, 2.0], np.float32))
    assert np.array_equal(m.forward(x), want)
    with pytest.raises(ValueError, match="must have shape"):
        m.weight.value = np.ones(4)


def test_sgd_still_updates_in_place():
    layer = _linear("numpy", W_TORCH.T)
    value = layer.weight.value
    opt = nn.SGD(layer.parameters(), lr=0.1)
    layer.forward(X)
    layer.backward(DY)
    opt.step()
    assert layer.weight.value is value  # normalised once, then updated in place


def test_a_normalised_array_is_kept_not_copied():
    layer = nn.Linear(4, 2)
    w = np.zeros((4, 2), np.float32)
    layer.weight.value = w
    assert layer.weight.value is w
    d = relukit.Dense(4, 2)
    d.weights = w
    assert d.weights is w
    d.weights = w.T.copy().T  # F-ordered: a C-contiguous copy
    assert d.weights is not w and d.weights.flags.c_contiguous

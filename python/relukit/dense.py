"""Dense layer ``y = relu(x @ W + b)`` (and ``SimpleNeuralLayer``) on any backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from relukit._backend import resolve
from relukit._validate import check_dtype, to_array

INITS = ("he_normal", "he_uniform", "glorot_uniform", "standard_normal", "zeros")


def _init_weights(init: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    fan_in, fan_out = shape
    if init == "he_normal":
        return rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1))
    if init == "he_uniform":
        limit = np.sqrt(6.0 / max(fan_in, 1))
        return rng.uniform(-limit, limit, shape)
    if init == "glorot_uniform":
        limit = np.sqrt(6.0 / max(fan_in + fan_out, 1))
        return rng.uniform(-limit, limit, shape)
    if init == "standard_normal":
        return rng.standard_normal(shape)
    if init == "zeros":
        return np.zeros(shape)
    raise ValueError(f"relukit: init={init!r} is unknown; valid: {', '.join(INITS)}")


def layer_array(value: Any, shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    """A layer parameter as every backend may read it: numbers (TypeError otherwise) of
    exactly ``shape`` (ValueError naming ``what`` otherwise), stored C-contiguous, aligned,
    writeable and of the layer's ``dtype`` -- ``value`` itself when it already is such an
    ndarray, else a converted copy (any layout, e.g. the transposed view of a PyTorch
    ``(out, in)`` weight; float arrays of another dtype are cast, ints converted)."""
    a = to_array(value, what)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"relukit: {what} must be numbers, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"relukit: {what} must have shape {shape}, got {a.shape}")
    if not (
        type(a) is np.ndarray
        and a.dtype == dtype
        and a.flags.c_contiguous
        and a.flags.aligned
        and a.flags.writeable
    ):
        a = np.array(a, dtype=dtype, order="C")
    return a


def c_strides(shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    """The strides NumPy gives a new C-contiguous array of ``shape`` and ``dtype`` (the
    memory is never touched)."""
    return np.empty(shape, dtype).strides


def _size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"relukit: {name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"relukit: {name} must be >= 0, got {value}")
    return int(value)


class Dense:
    """Fully connected layer with ReLU: ``forward(x) = relu(x @ weights + biases)``.

    ``weights`` has shape (in_features, out_features) and ``biases`` (out_features,). An
    array assigned to either is checked and stored as :func:`layer_array` says (C-contiguous,
    the layer's dtype, the exact shape), and checked again before every call into a backend.
    ``x`` is (in_features,) or (batch, in_features); numbers are cast to the layer's dtype.
    Sums may round differently per backend (see the README's tolerance).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "he_normal",
        dtype: Any = "float32",
        seed: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.in_features = _size(in_features, "in_features")
        self.out_features = _size(out_features, "out_features")
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"relukit: dtype={dtype!r} is not a dtype") from exc
        self.dtype = check_dtype(np.empty(0, dt), "Dense dtype").dtype
        self._w_shape = (self.in_features, self.out_features)
        self._b_shape = (self.out_features,)
        self._w_strides = c_strides(self._w_shape, self.dtype)
        self._b_strides = c_strides(self._b_shape, self.dtype)
        if backend is not None:
            resolve(backend)  # an unknown or unbuilt backend fails here, not at forward()
        self.backend = backend
        rng = np.random.default_rng(seed)
        self.weights = _init_weights(init, (self.in_features, self.out_features), rng)
        self.biases = np.zeros(self.out_features)

    @property
    def weights(self) -> np.ndarray:
        return self._weights

    @weights.setter
    def weights(self, value: Any) -> None:
        self._weights = layer_array(value, self._w_shape, self.dtype, "Dense weights")

    @property
    def biases(self) -> np.ndarray:
        return self._biases

    @biases.setter
    def biases(self, value: Any) -> None:
        self._biases = layer_array(value, self._b_shape, self.dtype, "Dense biases")

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        """weights and biases as the backend must see them, checked again right before a backend
        call: the same arrays when unchanged (shape, C strides, dtype: an ndarray's data pointer
        cannot move, so it stays aligned), else :func:`layer_array` of them -- an in-place
        change (``layer.weights.shape = ...``) raises or is converted alike on every backend."""
        w, b = self._weights, self._biases
        if w.shape != self._w_shape or w.strides != self._w_strides or w.dtype is not self.dtype:
            w = self._weights = layer_array(w, self._w_shape, self.dtype, "Dense weights")
        if b.shape != self._b_shape or b.strides != self._b_strides or b.dtype is not self.dtype:
            b = self._biases = layer_array(b, self._b_shape, self.dtype, "Dense biases")
        return w, b

    def _input(self, x: Any) -> np.ndarray:
        a = to_array(x, "Dense input")
        if a.dtype.kind not in "fiu":
            raise TypeError(f"relukit: Dense input must be numbers, got dtype {a.dtype}")
        if a.ndim not in (1, 2) or a.shape[-1] != self.in_features:
            raise ValueError(
                f"relukit: Dense({self.in_features}, {self.out_features}) takes input of shape "
                f"({self.in_features},) or (batch, {self.in_features}), got {a.shape}"
            )
        return np.ascontiguousarray(a, dtype=self.dtype)

    def forward(self, x: Any, *, backend: str | None = None) -> np.ndarray:
        """``relu(x @ weights + biases)``; a 1-D input gives a 1-D output."""
        b = resolve(backend if backend is not None else self.backend)
        fast = b.dense_fast
        if fast is not None:  # it checks the arrays itself, the layer's shape included
            r = fast(x, self._weights, self._biases, self._w_shape)
            if r is not NotImplemented:
                return r
        w, bias = self._params()
        a = self._input(x)
        x2 = a.reshape(1, -1) if a.ndim == 1 else a
        out = np.empty((x2.shape[0], self.out_features), dtype=self.dtype)
        b.dense_forward(x2, w, bias, out)
        return out[0] if a.ndim == 1 else out

    __call__ = forward

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_features}, {self.out_features}, "
            f"dtype={self.dtype.name!r}, backend={self.backend!r})"
        )


class SimpleNeuralLayer(Dense):
    """The classic tutorial layer: standard-normal weights, zero biases, float64."""

    def __init__(
        self,
        input_size: int,
        output_size: int,
        *,
        seed: int | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(
            input_size,
            output_size,
            init="standard_normal",
            dtype="float64",
            seed=seed,
            backend=backend,
        )

"""The C and Rust GEMMs follow one numeric definition (an FMA chain over k in increasing order,
bias first; see csrc/include/relukit.h), so their dense, linear, affine and backward results
are the same bits on every shape, thread count and activation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import relukit
from relukit import _backend

C = _backend.load("c")
RUST = _backend.load("rust")

SHAPES = [
    (1, 1, 1),
    (1, 3, 2),
    (2, 0, 3),
    (0, 4, 5),
    (3, 1, 7),
    (5, 17, 33),
    (7, 64, 15),
    (13, 129, 65),
    (32, 784, 256),
    (65, 257, 131),
    (256, 300, 48),
]


def _data(batch: int, n_in: int, n_out: int, dtype: str, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    w = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    dy = rng.standard_normal((batch, n_out)).astype(dtype)
    return x, w, b, dy


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    relukit.set_num_threads(request.param)
    yield request.param
    relukit.set_num_threads(None)


@pytest.mark.parametrize(
    ("shape", "dtype"), list(itertools.product(SHAPES, ["float32", "float64"]))
)
def test_forward_and_backward_are_the_same_bits_in_c_and_rust(shape, dtype, threads):
    x, w, b, dy = _data(*shape, dtype, seed=sum(shape))
    batch, _, n_out = shape
    for kernel in ("dense_forward", "linear_forward"):
        yc = np.full((batch, n_out), np.nan, dtype)
        yr = np.full((batch, n_out), np.nan, dtype)
        getattr(C, kernel)(x, w, b, yc)
        getattr(RUST, kernel)(x, w, b, yr)
        assert _same(yc, yr), f"{kernel} {shape} {dtype} t={threads}"
    grads = []
    for mod in (C, RUST):
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
        mod.dense_backward(x, w, dy, dx, dw, db)
        grads.append((dx, dw, db))
    for name, gc, gr in zip(("dx", "dw", "db"), *grads, strict=True):
        assert _same(gc, gr), f"dense_backward {name} {shape} {dtype} t={threads}"


@pytest.mark.parametrize(
    ("activation", "params"),
    [
        (None, ()),
        ("relu", ()),
        ("leaky_relu", (0.2,)),
        ("hardtanh", (-0.5, 0.5)),
        ("elu", (1.0,)),
        ("sigmoid", ()),
        ("tanh", ()),
        ("gelu_tanh", ()),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_activation_is_the_op_applied_after(activation, params, dtype):
    x, w, b, _ = _data(33, 70, 41, dtype, seed=7)
    lin = np.empty((33, 41), dtype)
    C.linear_forward(x, w, b, lin)
    want = (
        lin
        if activation is None
        else getattr(relukit, "gelu" if activation == "gelu_tanh" else activation)(
            lin, *(("tanh",) if activation == "gelu_tanh" else params), backend="c"
        )
    )
    for mod in (C, RUST):
        y = np.full_like(lin, np.nan)
        mod.affine_forward(x, w, b, y, activation, params)
        assert _same(y, want), f"{mod.NAME} {activation} {dtype}"

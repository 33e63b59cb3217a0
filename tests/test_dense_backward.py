"""The backends' linear_forward / dense_backward entries and relukit.nn.linear(_backward).

Results are compared with a float64 reference under the dot-product bound
``|got - exact| <= (K + 2) * eps * sum_k |a_k b_k|`` (K the length of each sum: in for the
forward pass, out for dx, batch for dw and db), as the README's dense section states.
The C and Rust kernels add in the same documented order, so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import relukit
from conftest import BACKENDS, DTYPES, backend_module
from relukit import nn
from relukit.conformance import same_bits

SHAPES = [
    (1, 1, 1),
    (1, 3, 2),
    (2, 1, 5),
    (4, 5, 7),
    (3, 17, 33),
    (9, 7, 8),
    (3, 2, 15),
    (2, 3, 16),
    (5, 0, 3),
    (0, 4, 3),
    (3, 4, 0),
    (0, 0, 0),
    (33, 10, 64),
]
SMALL = [s for s in SHAPES if s[0] * s[1] * s[2] <= 2000]  # the python backend's share


def shapes_for(backend):
    return SMALL if backend == "python" else SHAPES


def reference(x, w, b, dy):
    """float64 results and their error bounds."""
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    eps = np.finfo(x.dtype).eps
    n_batch, n_in = x.shape
    n_out = w.shape[1]
    y = x64 @ w64 + b.astype(np.float64)
    y_tol = (n_in + 2) * eps * (np.abs(x64) @ np.abs(w64) + np.abs(b.astype(np.float64)))
    dx = dy64 @ w64.T
    dx_tol = (n_out + 2) * eps * (np.abs(dy64) @ np.abs(w64).T)
    dw = x64.T @ dy64
    dw_tol = (n_batch + 2) * eps * (np.abs(x64).T @ np.abs(dy64))
    db = dy64.sum(0)
    db_tol = (n_batch + 2) * eps * np.abs(dy64).sum(0)
    return (y, y_tol), (dx, dx_tol), (dw, dw_tol), (db, db_tol)


def random_problem(shape, dtype, seed=0):
    n_batch, n_in, n_out = shape
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n_batch, n_in)).astype(dtype)
    w = rng.uniform(-1, 1, (n_in, n_out)).astype(dtype)
    b = rng.uniform(-0.5, 0.5, n_out).astype(dtype)
    dy = rng.uniform(-1, 1, (n_batch, n_out)).astype(dtype)
    return x, w, b, dy


def assert_within(got, ref_tol, dtype, what):
    ref, tol = ref_tol
    assert got.dtype == dtype, what
    assert got.shape == ref.shape, what
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= tol), f"{what}: max error {err.max() if err.size else 0} > bound"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_entries_against_reference(backend, dtype):
    mod = backend_module(backend)
    for shape in shapes_for(backend):
        x, w, b, dy = random_problem(shape, dtype)
        (yr, dxr, dwr, dbr) = reference(x, w, b, dy)
        y = np.full((shape[0], shape[2]), 7, dtype)
        mod.linear_forward(x, w, b, y)
        assert_within(y, yr, dtype, f"{backend} y {shape}")
        dx, dw, db = (np.full(a.shape, 7, dtype) for a in (x, w, b))  # overwritten, not added
        mod.dense_backward(x, w, dy, dx, dw, db)
        assert_within(dx, dxr, dtype, f"{backend} dx {shape}")
        assert_within(dw, dwr, dtype, f"{backend} dw {shape}")
        assert_within(db, dbr, dtype, f"{backend} db {shape}")
        # any output may be skipped; the others are unchanged
        for skip in range(3):
            outs = [np.empty_like(a) for a in (dx, dw, db)]
            outs[skip] = None
            mod.dense_backward(x, w, dy, *outs)
            for i, (o, full) in enumerate(zip(outs, (dx, dw, db), strict=True)):
                if i != skip:
                    assert same_bits(o, full), f"{backend} {shape} skip {skip}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_c_and_rust_agree_bit_for_bit(dtype):
    c, rs = backend_module("c"), backend_module("rust")
    for shape in [*SHAPES, (64, 128, 10), (32, 64, 128), (7, 300, 33)]:
        x, w, b, dy = random_problem(shape, dtype, seed=1)
        results = []
        for mod in (c, rs):
            y = np.empty((shape[0], shape[2]), dtype)
            mod.linear_forward(x, w, b, y)
            dx, dw, db = (np.empty_like(a) for a in (x, w, b))
            mod.dense_backward(x, w, dy, dx, dw, db)
            results.append((y, dx, dw, db))
        for a, b_ in zip(*results, strict=True):
            assert same_bits(a, b_), shape


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", ["numpy", "c", "rust"])
def test_linear_matches_dense_before_relu(backend, dtype):
    """Dense is relu(linear): with the C/Rust summation order shared, bit for bit there."""
    x, w, b, _ = random_problem((6, 19, 11), dtype, seed=2)
    y = nn.linear(x, w, b, backend=backend)
    layer = relukit.Dense(19, 11, dtype=dtype, backend=backend)
    layer.weights, layer.biases = w, b
    dense = layer.forward(x)
    if backend == "numpy":
        np.testing.assert_allclose(np.maximum(y, 0), dense, rtol=0, atol=1e-5)
    else:
        assert same_bits(np.maximum(y, 0), dense)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_values_propagate(backend):
    mod = backend_module(backend)
    x = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 4.0]])
    w = np.array([[0.5, -1.0], [0.25, 0.5], [-1.0, 2.0]])
    dy = np.array([[1.0, np.nan], [0.5, 3.0]])
    dx, dw, db = np.empty((2, 3)), np.empty((3, 2)), np.empty(2)
    mod.dense_backward(x, w, dy, dx, dw, db)
    assert np.all(np.isnan(dx[0])) and np.all(np.isfinite(dx[1]))
    assert np.all(np.isnan(dw[:, 1])) and np.all(np.isfinite(dw[:, 0]))
    assert np.isnan(db[1]) and db[0] == 1.5
    dy = np.array([[np.inf, 0.0], [0.0, 0.0]])
    mod.dense_backward(x, w, dy, dx, dw, db)
    assert db[0] == np.inf and dx[0, 0] == np.inf and dx[0, 2] == -np.inf
    assert np.all(dx[1] == 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_worked_example(backend):
    """Exact in binary, so every backend gives these numbers exactly."""
    x = np.array([[1, 2, -1], [0.5, 0, 4]], np.float32)
    w = np.array([[0.5, -1], [0.25, 0.5], [-1, 2]], np.float32)
    b = np.array([0.5, 3], np.float32)
    dy = np.array([[1, -2], [0.5, 3]], np.float32)
    y = nn.linear(x, w, b, backend=backend)
    assert y.tolist() == [[2.5, 1.0], [-3.25, 10.5]]
    dx, dw, db = nn.linear_backward(x, w, dy, backend=backend)
    assert dx.tolist() == [[2.5, -0.75, -5.0], [-2.75, 1.625, 5.5]]
    assert dw.tolist() == [[1.25, -0.5], [2.0, -4.0], [1.0, 14.0]]
    assert db.tolist() == [1.5, 1.0]
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    # one sample as 1-D arrays
    dx1, dw1, db1 = nn.linear_backward(x[0], w, dy[0], backend=backend)
    assert dx1.tolist() == dx[0].tolist() and dx1.shape == (3,)
    assert dw1.tolist() == [[1.0, -2.0], [2.0, -4.0], [-1.0, 2.0]]
    assert db1.tolist() == [1.0, -2.0]
    assert nn.linear(x[0], w, b, backend=backend).tolist() == [2.5, 1.0]
    none, _, _ = nn.linear_backward(x, w, dy, input_grad=False, backend=backend)
    assert none is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_layouts_and_casts(backend):
    """Non-contiguous and integer inputs are made contiguous / cast to w's dtype."""
    x, w, b, dy = random_problem((4, 6, 5), np.float64, seed=3)
    ref = nn.linear_backward(x, w, dy, backend=backend)
    xf = np.asfortranarray(x)
    wt = np.ascontiguousarray(w.T).T  # a transposed view
    dys = np.repeat(dy, 2, axis=1)[:, ::2]  # strided
    for got, want in zip(nn.linear_backward(xf, wt, dys, backend=backend), ref, strict=True):
        assert same_bits(got, want)
    assert same_bits(nn.linear(xf, wt, b, backend=backend), nn.linear(x, w, b, backend=backend))
    y = nn.linear([[1, 2]], np.eye(2, dtype=np.float32), [0, 0], backend=backend)
    assert y.dtype == np.float32 and y.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_bad_input(backend):
    x, w, b, dy = random_problem((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="input must have shape"):
        nn.linear(x[:, :2], w, b, backend=backend)
    with pytest.raises(ValueError, match="bias must have shape"):
        nn.linear(x, w, b[:3], backend=backend)
    with pytest.raises(ValueError, match="2-D"):
        nn.linear(x, w[0], b, backend=backend)
    with pytest.raises(ValueError, match="grad must have shape"):
        nn.linear_backward(x, w, dy[:, :3], backend=backend)
    with pytest.raises(ValueError, match="grad must have shape"):
        nn.linear_backward(x, w, dy[:1], backend=backend)
    with pytest.raises(TypeError, match="must be numbers"):
        nn.linear(x, w.astype(np.complex64), b, backend=backend)
    with pytest.raises(TypeError, match="unsupported dtype"):
        nn.linear(x, w.astype(np.float16), b, backend=backend)
    with pytest.raises(TypeError):
        nn.linear(None, w, b, backend=backend)
    with pytest.raises(ValueError, match="valid names"):
        nn.linear(x, w, b, backend="bogus")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", ["c", "rust"])
def test_native_kernels_check_shapes(backend, dtype):
    """Called directly (past the Python checks), C and Rust still refuse mismatched buffers
    with ValueError, writing nothing."""
    mod = backend_module(backend)
    x, w, b, dy = random_problem((2, 3, 4), dtype)
    dx, dw, db = (np.full(a.shape, 9, dtype) for a in (x, w, b))
    bad = [
        (x[:1], w, dy, dx, dw, db),  # batch of x != batch of dy
        (x, w[:2], dy, dx, dw, db),  # w rows != in
        (x, w, dy, dx[:1], dw, db),
        (x, w, dy, dx, dw[:, :3], db),
        (x, w, dy, dx, dw, db[:3]),
        (x, w, dy[:, :3], dx, dw, db),
        (x, w.T.copy(), dy, dx, dw, db),  # same element count, wrong shape
    ]
    for args in bad:
        with pytest.raises(ValueError):
            mod.dense_backward(*[None if a is None else np.ascontiguousarray(a) for a in args])
    for a in (dx, dw, db):
        assert np.all(a == 9)
    y = np.full((2, 4), 9, dtype)
    for args in [(x, w, b[:3], y), (x, w[:2], b, y), (x, w, b, y[:1]), (x[:, :2], w, b, y)]:
        with pytest.raises(ValueError):
            mod.linear_forward(*[np.ascontiguousarray(a) for a in args])
    assert np.all(y == 9)


def test_portable_and_avx2_give_the_same_bits():
    """RELUKIT_FORCE_PORTABLE=1 (read once per process) selects the portable build of the
    kernels; run one problem both ways in subprocesses and compare the bits."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, sys\n"
        "from relukit.backends import c, rust\n"
        "rng = np.random.default_rng(5)\n"
        "shapes = ((9, 37), (37, 29), (9, 29))\n"
        "x, w, dy = (rng.uniform(-1, 1, s).astype(np.float32) for s in shapes)\n"
        "b = rng.uniform(-1, 1, 29).astype(np.float32)\n"
        "outs = []\n"
        "for m in (c, rust):\n"
        "    y = np.empty((9, 29), np.float32); m.linear_forward(x, w, b, y)\n"
        "    g = [np.empty_like(a) for a in (x, w, b)]; m.dense_backward(x, w, dy, *g)\n"
        "    outs += [y, *g]\n"
        "sys.stdout.write(np.concatenate([o.ravel() for o in outs]).tobytes().hex())\n"
    )
    runs = {}
    for force in ("0", "1"):
        env = {**os.environ, "RELUKIT_FORCE_PORTABLE": force}
        runs[force] = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
    assert runs["0"] and runs["0"] == runs["1"]

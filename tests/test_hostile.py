"""One test per input a hostile probe found mishandled: each runs on every backend it names
and states the right behaviour (computing what NumPy computes, or the same exception)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import relukit
from relukit import _backend, nn
from relukit.conformance import ACTIVATIONS_BY_NAME, dense_tolerance
from relukit.ops import KERNELS

BACKENDS = ("python", "numpy", "c", "rust")
NATIVE = ("c", "rust")
F32 = np.float32


def _u(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.reshape(-1).view({4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def _close(got: np.ndarray, want: np.ndarray, tol: np.ndarray) -> bool:
    return (
        got.shape == want.shape
        and got.dtype == want.dtype
        and bool(np.all(np.abs(got.astype(np.float64) - want.astype(np.float64)) <= 2 * tol))
    )


def _unaligned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` starting at an odd address."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    view = np.ndarray(a.shape, a.dtype, buffer=buf, offset=1)
    view[...] = a
    assert view.flags.c_contiguous and not view.flags.aligned
    return view


# ---- Linear with a transposed PyTorch-style weight ----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_with_a_transposed_torch_weight(backend):
    """``weight.value = W.T`` (W of shape (out, in): an F-contiguous view) just works."""
    rng = np.random.default_rng(0)
    w_torch = rng.standard_normal((32, 64)).astype(F32)
    layer = nn.Linear(64, 32, seed=0, backend=backend)
    layer.weight.value = w_torch.T
    layer.bias.value = rng.standard_normal(32).astype(F32)
    x = rng.standard_normal((5, 64)).astype(F32)
    y = layer.forward(x)
    want = x.astype(np.float64) @ w_torch.T.astype(np.float64) + layer.bias.value
    assert _close(y, want.astype(F32), dense_tolerance(x, w_torch.T, layer.bias.value, F32))
    dy = rng.standard_normal((5, 32)).astype(F32)
    dx = layer.backward(dy)
    want_dx = dy.astype(np.float64) @ w_torch.astype(np.float64)
    assert _close(dx, want_dx.astype(F32), dense_tolerance(dy, w_torch, np.zeros(64), F32))
    want_dw = x.T.astype(np.float64) @ dy.astype(np.float64)
    assert _close(
        np.asarray(layer.weight.grad).reshape(64, 32),
        want_dw.astype(F32),
        dense_tolerance(x.T, dy, np.zeros(32), F32),
    )


# ---- in place on a zero-stride view ---------------------------------------------------------

ZERO_STRIDE_OPS = {
    "leaky_relu": lambda x, **kw: relukit.leaky_relu(x, 0.2, **kw),
    "sigmoid": relukit.sigmoid,
    "elu": relukit.elu,
    "gelu": relukit.gelu,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(ZERO_STRIDE_OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_stride_view_in_place_applies_the_op_once(name, backend, dtype):
    """``x = as_strided(base, (1000,), (0,)); op(x, out=x)``: base[0] becomes op(base[0]),
    applied once (every element of x is that one cell, read before it is written)."""
    fn = ZERO_STRIDE_OPS[name]
    for v in (-2.0, -0.5, 0.75):
        base = np.array([v], dtype)
        x = np.lib.stride_tricks.as_strided(base, (1000,), (0,))
        got = fn(x, out=x, backend=backend)
        assert got is x
        once = fn(np.array([v], dtype), backend="numpy")
        entry = ACTIVATIONS_BY_NAME[name]
        params = {"leaky_relu": {"negative_slope": 0.2}}.get(name, entry.params)
        if entry.exact:
            assert _u(base)[0] == _u(once)[0], f"{name}({v}) on {backend}: {base[0]!r}"
        else:
            assert entry.verify(np.array([v], dtype), base, params), (
                f"{name}({v}) on {backend}: {base[0]!r}, applied once: {once[0]!r}"
            )


OVERLAP_OPS = {
    "relu": relukit.relu,
    "relu_grad": relukit.relu_grad,
    "leaky_relu": lambda x, **kw: relukit.leaky_relu(x, 0.5, **kw),
    "hardtanh": relukit.hardtanh,
    "sigmoid": relukit.sigmoid,
    "elu": relukit.elu,
    "gelu": relukit.gelu,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(OVERLAP_OPS))
def test_self_overlapping_two_byte_stride_in_place(name, backend):
    """In place on a view whose float32 elements start 2 bytes apart (each overlaps the
    next): the same bytes as computing into fresh memory from the values before the call,
    then storing element 0, 1, 2, ... in order (as NumPy's ufuncs do through a buffer)."""
    fn = OVERLAP_OPS[name]

    def fresh() -> tuple[np.ndarray, np.ndarray]:
        base = (np.arange(40, dtype=F32) - 20) * F32(0.37)
        return base, np.lib.stride_tricks.as_strided(base, (30,), (2,))

    want_base, view = fresh()
    values = fn(view.copy(), backend=backend)  # this backend's op of the values, out of place
    for i in range(view.shape[0]):
        view[i] = values[i]
    got_base, x = fresh()
    assert fn(x, out=x, backend=backend) is x
    assert np.array_equal(got_base.view(np.uint8), want_base.view(np.uint8))


# ---- two threads on disjoint halves of one buffer -----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_threads_on_disjoint_column_halves(backend):
    """One thread in place on ``buf[:, 50:]``, another from ``buf[:, :50]`` into its own
    array, a few hundred calls each, both halves large enough for the native backends to run
    without the GIL: no exception (no borrow conflict between the two views), the right bits."""
    rng = np.random.default_rng(1)
    buf = rng.standard_normal((2048, 100)).astype(F32)  # 800 KiB: native calls drop the GIL
    left_want = relukit.relu(buf[:, :50].copy(), backend="numpy")
    right_want = relukit.relu(buf[:, 50:].copy(), backend="numpy")
    calls = 3 if backend == "python" else 300
    errors: list[BaseException] = []
    y = np.empty((2048, 50), F32)
    start = threading.Barrier(2)

    def right() -> None:
        try:
            start.wait()
            for _ in range(calls):
                relukit.relu(buf[:, 50:], out=buf[:, 50:], backend=backend)
        except BaseException as exc:
            errors.append(exc)

    def left() -> None:
        try:
            start.wait()
            for _ in range(calls):
                relukit.relu(buf[:, :50], out=y, backend=backend)
                if not np.array_equal(_u(y), _u(left_want)):
                    raise AssertionError("wrong bits from the left half")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=right), threading.Thread(target=left)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"{backend}: {errors[0]!r} ({len(errors)} thread(s) failed)"
    assert np.array_equal(_u(buf[:, 50:]), _u(right_want))
    assert np.array_equal(_u(y), _u(left_want))


# ---- a failed output allocation -----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_failed_output_allocation_raises_memory_error(backend):
    """A (2**20, 2**20) float32 output (4 TiB) cannot be allocated: MemoryError everywhere."""
    layer = relukit.Dense(1, 2**20, backend=backend)
    with pytest.raises(MemoryError):
        layer.forward(np.ones((2**20, 1), F32))


# ---- unaligned C-contiguous inputs to the layers -------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_unaligned_input_to_dense_forward(backend):
    rng = np.random.default_rng(2)
    layer = relukit.Dense(8, 5, seed=3, backend=backend)
    layer.biases = rng.standard_normal(5)
    x = rng.standard_normal((7, 8)).astype(F32)
    want = relukit.Dense(8, 5, seed=3, backend="numpy")
    want.biases = layer.biases
    tol = dense_tolerance(x, layer.weights, layer.biases, F32)
    assert _close(layer.forward(_unaligned(x)), want.forward(x), tol)
    assert _close(layer.forward(_unaligned(x[0])), want.forward(x[0]), tol[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_unaligned_input_to_linear_forward_and_backward(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 8)).astype(F32)
    dy = rng.standard_normal((7, 5)).astype(F32)
    layers = {}
    for b in (backend, "numpy"):
        layer = nn.Linear(8, 5, seed=4, backend=b)
        layer.bias.value = np.linspace(-1, 1, 5, dtype=F32)
        layers[b] = layer
    y = layers[backend].forward(_unaligned(x))
    dx = layers[backend].backward(_unaligned(dy))
    want_y = layers["numpy"].forward(x)
    want_dx = layers["numpy"].backward(dy)
    w = layers["numpy"].weight.value
    assert _close(y, want_y, dense_tolerance(x, w, layers["numpy"].bias.value, F32))
    assert _close(dx, want_dx, dense_tolerance(dy, w.T, np.zeros(8), F32))
    assert _close(
        layers[backend].weight.grad,
        layers["numpy"].weight.grad,
        dense_tolerance(x.T, dy, np.zeros(5), F32),
    )
    assert _close(
        layers[backend].bias.grad,
        layers["numpy"].bias.grad,
        dense_tolerance(np.ones((1, 7)), dy, np.zeros(5), F32)[0],
    )


# ---- the float64 bias of a float32 Linear ----------------------------------------------------


def _outcome(fn):
    try:
        return None, fn()
    except Exception as exc:
        return type(exc), None


@pytest.mark.parametrize("n_bias", [16, 32])
def test_float64_bias_on_a_float32_linear_has_one_rule(n_bias):
    """``bias.value = np.ones(n)`` (float64) on a float32 ``Linear(8, 32)``: with 16 elements
    (the byte count of 32 float32) no backend reads the bytes as float32; with 32 every
    backend does the same thing (computes the same values, or raises the same exception)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 8)).astype(F32)
    outcomes = {}
    for backend in BACKENDS:
        layer = nn.Linear(8, 32, seed=6, backend=backend)

        def assign_and_forward(layer=layer):
            layer.bias.value = np.ones(n_bias)
            return layer.forward(x)

        outcomes[backend] = _outcome(assign_and_forward)
    w = nn.Linear(8, 32, seed=6).weight.value
    kinds = {b: o[0] for b, o in outcomes.items()}
    assert len(set(kinds.values())) == 1, f"different outcomes: {kinds}"
    if kinds["numpy"] is None:
        want = (x.astype(np.float64) @ w.astype(np.float64) + 1.0).astype(F32)
        tol = dense_tolerance(x, w, np.ones(32), F32)
        for backend, (_, y) in outcomes.items():
            assert _close(y, want, tol), f"{backend} computes something else"


# ---- the C dense cache after an in-place change -------------------------------------------


def _dense_after(change, backend: str):
    """(exception type or None, the forward after the change, the layer, the input)."""
    rng = np.random.default_rng(7)
    layer = relukit.Dense(8, 32, seed=8, backend=backend)
    layer.biases = rng.standard_normal(32)
    x = rng.standard_normal((4, 8)).astype(F32)
    layer.forward(x)
    change(layer)
    exc, y = _outcome(lambda: layer.forward(x))
    return exc, y, layer, x


CHANGES = {
    "weights.shape = (32, 8)": lambda d: setattr(d.weights, "shape", (32, 8)),
    "weights.shape = (256,)": lambda d: setattr(d.weights, "shape", (256,)),
    "biases.shape = (2, 16)": lambda d: setattr(d.biases, "shape", (2, 16)),
    "biases.shape = (1, 32)": lambda d: setattr(d.biases, "shape", (1, 32)),
    "biases.dtype = int32": lambda d: setattr(d.biases, "dtype", np.int32),
    "weights.dtype = int32": lambda d: setattr(d.weights, "dtype", np.int32),
    "weights[...] = 2": lambda d: d.weights.__setitem__(Ellipsis, 2.0),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_dense_sees_in_place_changes_of_its_parameters(change, backend):
    """After ``d.forward(x)``, a change of the weights' or biases' shape, dtype or values in
    place: the next forward computes with what is there now, as numpy does (or raises what
    numpy raises) — never with a layout cached from before."""
    want_exc, want, layer, x = _dense_after(CHANGES[change], "numpy")
    got_exc, got, _, _ = _dense_after(CHANGES[change], backend)
    assert got_exc is want_exc, f"{backend} raised {got_exc}, numpy {want_exc}"
    if want is not None:  # numpy computed: with the arrays as they are now
        w, b = (np.asarray(a, np.float64) for a in (layer.weights, layer.biases))
        tol = dense_tolerance(x, w, b, F32)
        assert _close(got, want, tol), f"{backend} computed other values than numpy"


# ---- C in place on a non-contiguous view: at most one temporary ---------------------------


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid"])
def test_c_in_place_on_a_reversed_view_allocates_at_most_one_temporary(name):
    """The C backend's temporaries are NumPy arrays, which tracemalloc traces (the kernels'
    own allocations, and Rust's, are not traced: this test is about the C backend's glue)."""
    backend = "c"
    fn = {
        "relu": relukit.relu,
        "leaky_relu": lambda x, **kw: relukit.leaky_relu(x, 0.1, **kw),
        "sigmoid": relukit.sigmoid,
    }[name]
    base = np.random.default_rng(9).standard_normal(1 << 20).astype(F32)  # 4 MiB
    want = fn(base.copy(), backend="numpy")
    x = base[::-1]
    fn(np.ones(8, F32)[::-1], out=np.ones(8, F32)[::-1], backend=backend)  # warm up
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn(x, out=x, backend=backend)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - before
    assert extra <= 1.25 * x.nbytes, f"{backend}: {extra / x.nbytes:.2f} full-size temporaries"
    assert np.array_equal(_u(base), _u(want))


# ---- python backend: a huge in_features on an empty batch ----------------------------------


def test_python_dense_with_huge_in_features_and_an_empty_batch_is_quick():
    """``Dense(2**31 + 1, 0, backend="python")`` on a (0, 2**31 + 1) batch returns a (0, 0)
    array without building 2**31 empty lists (run under a 3 GiB address-space limit and a
    time limit)."""
    script = (
        "import resource, numpy as np, relukit;"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY));"
        "d = relukit.Dense(2**31 + 1, 0, backend='python');"
        "y = d.forward(np.empty((0, 2**31 + 1), np.float32)); print(y.shape, y.dtype)"
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["(0,", "0)", "float32"]


# ---- the thread count ---------------------------------------------------------------------


def test_set_num_threads_huge_is_clamped_and_reported_everywhere():
    """``set_num_threads(2**64)`` is clamped to the pools' cap like any count above it: what
    relukit reports is what the C and Rust pools hold, never the value asked for."""
    c = _backend.load("c")
    _backend.load("rust")
    from relukit import _native as rust_native

    try:
        relukit.set_num_threads(2**64)
        n = relukit.get_num_threads()
        assert n == 64 == c.get_num_threads() == rust_native.get_num_threads()
    finally:
        relukit.set_num_threads(None)


def test_set_num_threads_bad_value_raises_and_keeps_the_setting():
    """A bad count raises, and neither relukit nor the C and Rust pools change."""
    c = _backend.load("c")
    _backend.load("rust")
    from relukit import _native as rust_native

    before = (relukit.get_num_threads(), c.get_num_threads(), rust_native.get_num_threads())
    for bad, exc in ((0, ValueError), (-(2**64), ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(exc):
            relukit.set_num_threads(bad)
        after = (relukit.get_num_threads(), c.get_num_threads(), rust_native.get_num_threads())
        assert after == before


def test_set_num_threads_reports_what_runs():
    """Asking for 1000 threads: get_num_threads() says how many the kernels will use (at most
    the pool's cap of 64), the same number C and Rust hold."""
    c = _backend.load("c")
    _backend.load("rust")
    from relukit import _native as rust_native

    try:
        relukit.set_num_threads(1000)
        n = relukit.get_num_threads()
        assert 1 <= n <= 64
        assert n == c.get_num_threads() == rust_native.get_num_threads()
    finally:
        relukit.set_num_threads(None)


# ---- RELUKIT_EOVERLAP from every C array kernel ---------------------------------------------


def _c():
    _backend.load("c")
    from relukit._native import c_kernels

    return c_kernels.ffi, c_kernels.lib


def _params_of(ffi, fn) -> int:
    return len(ffi.typeof(fn).args)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("suffix", ["f32", "f64"])
@pytest.mark.parametrize("shift", [3, -3])
def test_c_elementwise_kernels_report_overlap(kernel, suffix, shift):
    """y overlapping x (either way, not exactly): RELUKIT_EOVERLAP, nothing written."""
    ffi, lib = _c()
    fn = getattr(lib, f"relukit_{kernel}_array_{suffix}")
    ctype = "float[]" if suffix == "f32" else "double[]"
    dtype = F32 if suffix == "f32" else np.float64
    base = np.linspace(-3, 3, 64).astype(dtype)
    before = base.copy()
    x, y = (base[8:40], base[8 + shift : 40 + shift])
    cx = ffi.from_buffer(ctype, x)
    cy = ffi.from_buffer(ctype, y, require_writable=True)
    params = [0.5] * (_params_of(ffi, fn) - 4)
    status = fn(cx, len(cx), cy, len(cy), *params)
    assert status == lib.RELUKIT_EOVERLAP
    assert np.array_equal(_u(base), _u(before)), "written before reporting the overlap"


@pytest.mark.parametrize("suffix", ["f32", "f64"])
def test_c_prelu_reports_overlap(suffix):
    ffi, lib = _c()
    ctype = "float[]" if suffix == "f32" else "double[]"
    dtype = F32 if suffix == "f32" else np.float64
    for name in ("prelu", "prelu_grad"):
        fn = getattr(lib, f"relukit_{name}_array_{suffix}")
        base = np.linspace(-3, 3, 64).astype(dtype)
        before = base.copy()
        w = np.array([0.1, 0.2], dtype)
        cx = ffi.from_buffer(ctype, base[0:32])
        cy = ffi.from_buffer(ctype, base[4:36], require_writable=True)
        cw = ffi.from_buffer(ctype, w)
        assert fn(cx, 32, cy, 32, cw, 2, 4, 2, 4) == lib.RELUKIT_EOVERLAP, name
        assert np.array_equal(_u(base), _u(before))


@pytest.mark.parametrize("suffix", ["f32", "f64"])
@pytest.mark.parametrize(
    "overlap", ["dx over x", "dw over w", "db over dy", "dx over dw", "dw over db", "dx over dy"]
)
def test_c_dense_backward_reports_overlap(suffix, overlap):
    """An output of dense_backward overlapping an input or another output: RELUKIT_EOVERLAP,
    nothing written."""
    ffi, lib = _c()
    ctype = "float[]" if suffix == "f32" else "double[]"
    dtype = F32 if suffix == "f32" else np.float64
    fn = getattr(lib, f"relukit_dense_backward_{suffix}")
    batch, n_in, n_out = 4, 6, 5
    # one arena holding every array, so that any two can be made to overlap
    arena = np.linspace(-2, 2, 400).astype(dtype)
    spans = {"x": batch * n_in, "w": n_in * n_out, "dy": batch * n_out}
    spans.update({"dx": batch * n_in, "dw": n_in * n_out, "db": n_out})
    starts, at = {}, 0
    for name, n in spans.items():
        starts[name] = at
        at += n + 8
    out_name, in_name = overlap.split(" over ")
    starts[out_name] = starts[in_name] + 2  # overlaps by all but two elements
    before = arena.copy()

    def buf(name: str, writable: bool):
        a = arena[starts[name] : starts[name] + spans[name]]
        return ffi.from_buffer(ctype, a, require_writable=writable)

    status = fn(
        buf("x", False), spans["x"], buf("w", False), spans["w"], buf("dy", False), spans["dy"],
        buf("dx", True), spans["dx"], buf("dw", True), spans["dw"], buf("db", True), spans["db"],
        batch, n_in, n_out,
    )  # fmt: skip
    assert status == lib.RELUKIT_EOVERLAP
    assert np.array_equal(_u(arena), _u(before)), "written before reporting the overlap"


@pytest.mark.parametrize("suffix", ["f32", "f64"])
@pytest.mark.parametrize("name", ["dense_forward", "linear_forward"])
def test_c_forward_kernels_report_overlap(suffix, name):
    ffi, lib = _c()
    ctype = "float[]" if suffix == "f32" else "double[]"
    dtype = F32 if suffix == "f32" else np.float64
    fn = getattr(lib, f"relukit_{name}_{suffix}")
    arena = np.linspace(-2, 2, 200).astype(dtype)
    before = arena.copy()
    x, w, b = arena[0:12], arena[20:35], arena[40:45]  # (4, 3) @ (3, 5) + (5,)
    y = arena[2:22]  # overlaps x
    args = [ffi.from_buffer(ctype, a) for a in (x, w, b)]
    cy = ffi.from_buffer(ctype, y, require_writable=True)
    status = fn(args[0], 12, args[1], 15, args[2], 5, cy, 20, 4, 3, 5)
    assert status == lib.RELUKIT_EOVERLAP
    assert np.array_equal(_u(arena), _u(before))


@pytest.mark.parametrize("backend", ["c", "rust"])
def test_dense_fast_path_declines_weights_reshaped_to_fit_another_input(backend):
    """The fast path, which runs before the layer's own checks, is given the layer's shape:
    weights reshaped in place to (32, 8) on a Dense(16, 16) with 16 biases are never used for
    a 32-feature input (the layer raises, as on the numpy backend)."""
    d = relukit.Dense(16, 16, seed=3, backend=backend)
    d.biases = np.zeros(16, np.float32)
    x = np.ones(16, np.float32)
    d.forward(x)
    mod = _backend.load(backend)
    assert (
        mod.dense_fast(np.ones(32, np.float32), d.weights.reshape(32, 8)[:, :8], d.biases, (16, 16))
        is NotImplemented
    )
    d.weights.shape = (32, 8)
    with pytest.raises(ValueError):
        d.forward(np.ones(32, np.float32))

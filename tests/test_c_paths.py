"""The C backend's own paths: the fast paths, their fall-backs, the thread pool, the dense cache.

The fast paths (``relu_fast``, ``relu_grad_fast``, ``dense_fast`` in relukit/backends/c.py) must
give the conformance references' bits for everything they take, and return NotImplemented
(never raise) for everything else, so that the facade's validated path raises its usual errors.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import relukit
from conftest import DTYPES, backend_module, bits
from relukit import _validate
from relukit.conformance import edge_values, random_values, ref_relu, ref_relu_grad, same_bits
from relukit.ops import KERNELS

C = backend_module("c")
OPS = [
    ("relu", relukit.relu, C.relu_fast, ref_relu),
    ("relu_grad", relukit.relu_grad, C.relu_grad_fast, ref_relu_grad),
]
OP_IDS = [op[0] for op in OPS]
#: Arrays moving at least this many bytes (read + written) are split over threads: the
#: threshold the C runtime derived from this machine's L2 (csrc/runtime/machine.c).
SPLIT_BYTES = C.runtime_info()["split_bytes"]
#: Lengths around the vector widths, the copy route's limit and the split threshold.
LENGTHS = (
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    15,
    16,
    17,
    31,
    32,
    33,
    64,
    65,
    1000,
    1023,
    1024,
    1025,
    2047,
    2048,
    2049,
    4095,
    4096,
    4097,
)


@pytest.fixture(autouse=True)
def _threads_back():
    yield
    relukit.set_num_threads(None)


def values(dtype: np.dtype, n: int, seed: int = 0) -> np.ndarray:
    """Edge values first, then random bit patterns: n values of dtype."""
    rng = np.random.default_rng(seed + n)
    v = np.concatenate([edge_values(dtype), random_values(dtype, n, rng)])[:n]
    return np.ascontiguousarray(v)


def split_lengths(dtype: np.dtype) -> list[int]:
    n = min(SPLIT_BYTES, 64 << 20) // (2 * np.dtype(dtype).itemsize)
    lanes = 32 // np.dtype(dtype).itemsize
    return [m for m in (n - lanes - 1, n - 1, n, n + 1, n + lanes, n + 4 * lanes + 3) if m >= 0]


# --- the fast paths give the references' bits ---------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
@pytest.mark.parametrize("n", LENGTHS)
def test_fast_path_matches_reference(name, facade, fast, ref, dtype, n):
    x = values(dtype, n)
    want = ref(x)
    got = fast(x, None)  # out of place: the copy route or the two-buffer route, by size
    assert same_bits(got, want) and got is not x
    assert same_bits(x, values(dtype, n)), "input modified"
    out = np.full_like(x, 7)
    assert fast(x, out) is out and same_bits(out, want)
    inplace = x.copy()
    assert fast(inplace, inplace) is inplace and same_bits(inplace, want)
    assert same_bits(facade(x, backend="c"), want)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
@pytest.mark.parametrize("offset", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("n", [5, 33, 1000, 3001])
def test_fast_path_unaligned(name, facade, fast, ref, dtype, offset, n):
    """Starts off any vector boundary, for x and out independently."""
    x_buf, y_buf = np.zeros(n + 8, dtype), np.zeros(n + 8, dtype)
    x = x_buf[offset : offset + n]
    x[...] = values(dtype, n)
    out = y_buf[(offset * 3) % 8 : (offset * 3) % 8 + n]
    assert fast(x, out) is out
    assert same_bits(out, ref(x))
    assert same_bits(fast(x, None), ref(x))
    assert fast(x, x) is x and same_bits(x, ref(values(dtype, n)))


@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 3, 5), (0, 3), (40, 60)])
def test_fast_path_shapes(name, facade, fast, ref, shape):
    x = values(np.float32, int(np.prod(shape))).reshape(shape)
    got = fast(x, None)
    assert got.shape == shape and same_bits(got, ref(x))
    out = np.empty(shape, np.float32)
    assert fast(x, out) is out and same_bits(out, ref(x))


@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
def test_fast_path_declines_strided_input(name, facade, fast, ref):
    """A non-contiguous input is outside the acceptance spec: declined, and the facade's
    validated path gives the reference's bits."""
    base = values(np.float64, 40)
    x = base[::3]
    assert fast(x, None) is NotImplemented
    got = facade(x, backend="c")
    assert same_bits(got, ref(x))


def test_python_float_fast_path():
    for x in edge_values(np.float64).tolist():
        for fast, ref in ((C.relu_fast, ref_relu), (C.relu_grad_fast, ref_relu_grad)):
            got = fast(x, None)
            assert type(got) is float
            want = ref(np.array([x]))[0]
            assert np.array([got]).view(np.uint64)[0] == np.array([want]).view(np.uint64)[0]


# --- everything else: NotImplemented from the fast path, the validated path's errors --------


class Sub(np.ndarray):
    pass


def _matrix(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(a)


def _fallback_cases() -> list[tuple[str, object, object]]:
    x = values(np.float32, 64)
    f_order = np.asfortranarray(values(np.float32, 64 * 64).reshape(64, 64))
    buf = values(np.float32, 200)
    readonly = np.zeros(64, np.float32)
    readonly.flags.writeable = False
    ro_x = x.copy()
    ro_x.flags.writeable = False
    return [
        ("list", [1.0, -2.0, 3.0], None),
        ("tuple", (1.0, -2.0), None),
        ("int", 3, None),
        ("bool", True, None),
        ("numpy scalar", np.float32(-2.0), None),
        ("python float with out", 2.0, np.zeros(1)),
        ("subclass", x.view(Sub), None),
        ("subclass out", x, np.zeros(64, np.float32).view(Sub)),
        ("matrix", _matrix(x.reshape(8, 8)), None),
        ("large strided", values(np.float32, 20000)[::2], None),
        ("large fortran order", f_order, None),
        ("strided out", x, np.zeros(128, np.float32)[::2]),
        ("strided in, out given", values(np.float32, 128)[::2], np.zeros(64, np.float32)),
        ("fortran out", f_order, np.zeros((64, 64), np.float32, order="F")),
        ("overlap out after x", buf[:100], buf[1:101]),
        ("overlap out before x", buf[1:101], buf[:100]),
        ("read-only out", x, readonly),
        ("read-only in place", ro_x, ro_x),
        ("out of another dtype", x, np.zeros(64, np.float64)),
        ("out of another shape", x, np.zeros((8, 8), np.float32)),
        ("out of another length", x, np.zeros(63, np.float32)),
        ("out is a list", x, [0.0] * 64),
        ("float16", np.zeros(8, np.float16), None),
        ("int array", np.arange(8), None),
        ("bool array", np.zeros(8, bool), None),
        ("big-endian", np.zeros(8, ">f4"), None),
        ("complex", np.zeros(8, complex), None),
        ("object", np.array([1.0, None]), None),
        ("None", None, None),
        ("string", "1.0", None),
        ("masked", np.ma.masked_array([1.0, -1.0], mask=[0, 1]), None),
    ]


def _outcome(func, x, out, backend):
    """("ok", result bits) or ("raise", exception type, message)."""
    try:
        res = func(x, out=out, backend=backend)
    except Exception as exc:  # the outcome is what we compare
        return ("raise", type(exc), str(exc))
    arr = np.asarray(res)
    return ("ok", arr.dtype, arr.shape, bits(arr).tobytes())


@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
@pytest.mark.parametrize(("case", "x", "out"), _fallback_cases(), ids=lambda v: str(v)[:30])
def test_fallback_is_not_implemented_and_validated_path_decides(
    name, facade, fast, ref, case, x, out
):
    """The fast path declines (never raises) and the facade gives what the python backend gives:
    the same exception type and message from _validate, or the same result bits."""
    before = None if out is None or not isinstance(out, np.ndarray) else out.copy()
    assert fast(x, out) is NotImplemented, case
    if before is not None:
        assert np.array_equal(bits(out), bits(before)), f"{case}: out written before declining"
    c_out = out.copy() if isinstance(out, np.ndarray) and out is not x else out
    py_out = out.copy() if isinstance(out, np.ndarray) and out is not x else out
    if out is x and isinstance(x, np.ndarray):
        c_x, py_x = x.copy(), x.copy()
        c_x.flags.writeable = py_x.flags.writeable = x.flags.writeable
        c_out, py_out = c_x, py_x
    else:
        c_x = py_x = x
    if "overlap" in case:  # out is a view of x's buffer: rebuild both per backend
        c_buf, py_buf = x.base.copy(), x.base.copy()
        lo_x = (x.__array_interface__["data"][0] - x.base.__array_interface__["data"][0]) // 4
        lo_o = (out.__array_interface__["data"][0] - x.base.__array_interface__["data"][0]) // 4
        c_x, c_out = c_buf[lo_x : lo_x + 100], c_buf[lo_o : lo_o + 100]
        py_x, py_out = py_buf[lo_x : lo_x + 100], py_buf[lo_o : lo_o + 100]
    got = _outcome(facade, c_x, c_out, "c")
    want = _outcome(facade, py_x, py_out, "python")
    assert got == want, case
    if "overlap" in case:  # the answer is as if x had been read before any write
        assert same_bits(c_out, ref(x.copy()))


def test_fallback_messages_come_from_validate():
    x = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="read-only") as info:
        out = np.zeros(4, np.float32)
        out.flags.writeable = False
        relukit.relu(x, out=out, backend="c")
    with pytest.raises(ValueError) as direct:
        _validate.array_and_out(x, out)
    assert str(info.value) == str(direct.value)


# --- threads ----------------------------------------------------------------------------------


def test_set_num_threads_reaches_c():
    for n in (1, 3, 2):
        relukit.set_num_threads(n)
        assert C.get_num_threads() == n
    relukit.set_num_threads(None)
    assert C.get_num_threads() == relukit.get_num_threads()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
def test_one_and_two_threads_give_the_same_bits(name, facade, fast, ref, dtype):
    for n in split_lengths(dtype):
        x = values(dtype, n, seed=1)
        want = ref(x)
        results = []
        for threads in (1, 2, 3):
            relukit.set_num_threads(threads)
            out = np.empty_like(x)
            results += [facade(x, backend="c"), facade(x, out=out, backend="c")]
            inplace = x.copy()
            results.append(facade(inplace, out=inplace, backend="c"))
        for r in results:
            assert same_bits(r, want), (n, name)


def test_huge_array_streams_and_splits():
    """Past the non-temporal threshold (16 MiB read + written) and split over threads."""
    x = values(np.float32, 5_000_003, seed=2)
    relukit.set_num_threads(2)
    assert same_bits(relukit.relu(x, backend="c"), ref_relu(x))
    assert same_bits(relukit.relu_grad(x[1:], backend="c"), ref_relu_grad(x[1:]))


def test_concurrent_python_threads():
    """Several Python threads in C at once (cffi releases the GIL): each gets its own answer."""
    relukit.set_num_threads(2)
    arrays = [values(np.float32, 300_000 + 7 * i, seed=i) for i in range(6)]
    layer = relukit.Dense(784, 256, seed=3)
    xs = values(np.float32, 784 * 4, seed=9).clip(-10, 10).reshape(4, 784)
    xs = np.nan_to_num(xs, posinf=1.0, neginf=-1.0)
    dense_want = layer.forward(xs, backend="numpy")

    def work(i: int) -> bool:
        ok = True
        for rep in range(5):
            x = arrays[(i + rep) % len(arrays)]
            ok &= same_bits(relukit.relu(x, backend="c"), ref_relu(x))
            ok &= same_bits(relukit.relu_grad(x, backend="c"), ref_relu_grad(x))
            got = layer.forward(xs, backend="c")
            ok &= bool(np.allclose(got, dense_want, rtol=1e-4, atol=1e-4))
        return ok

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(8)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_fork_after_the_pool_ran():
    """A child forked after the pool ran (multiprocessing's default on Linux) starts its own
    workers; it neither hangs nor gets wrong answers."""
    relukit.set_num_threads(2)
    x = values(np.float32, 1_000_000, seed=4)
    want = ref_relu(x)
    assert same_bits(relukit.relu(x, backend="c"), want)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        signal.alarm(60)
        ok = same_bits(relukit.relu(x, backend="c"), want)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


# --- dense ------------------------------------------------------------------------------------


def _dense_ok(layer: relukit.Dense, x: np.ndarray, got: np.ndarray) -> bool:
    from relukit.conformance import dense_reference, dense_tolerance

    w, b = layer.weights, layer.biases
    x = np.asarray(x, layer.dtype)
    x2 = x if x.ndim == 2 else x.reshape(1, layer.in_features)
    ref = dense_reference(x2, w, b).reshape(got.shape)
    tol = dense_tolerance(x2, w, b, layer.dtype).reshape(got.shape)
    return got.dtype == layer.dtype and bool(np.all(np.abs(got - ref) <= tol))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    ("n_in", "n_out", "batch"),
    [
        (3, 2, None),
        (3, 2, 1),
        (3, 2, 5),
        (784, 256, None),
        (784, 256, 3),
        (17, 129, 9),
        (0, 4, 2),
        (4, 0, 2),
        (5, 3, 0),
    ],
)
def test_dense_fast_path(dtype, n_in, n_out, batch):
    layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=1)
    layer.biases = np.linspace(-0.5, 0.5, n_out)
    shape = (n_in,) if batch is None else (batch, n_in)
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    got = C.dense_fast(x, layer.weights, layer.biases)
    assert got is not NotImplemented and got.shape == (*shape[:-1], n_out)
    assert _dense_ok(layer, x, got)
    slow = np.empty((1 if batch is None else batch, n_out), dtype)
    C.dense_forward(x.reshape(slow.shape[0], n_in), layer.weights, layer.biases, slow)
    assert same_bits(got.reshape(slow.shape), slow), "fast and validated C paths differ"
    assert same_bits(layer.forward(x, backend="c"), got)


@pytest.mark.parametrize(
    ("case", "x"),
    [
        ("list", [1.0, 2.0, 3.0]),
        ("float64 input to a float32 layer", np.ones(3)),
        ("int input", np.arange(3)),
        ("wrong length", np.ones(4, np.float32)),
        ("wrong width", np.ones((2, 4), np.float32)),
        ("3-d", np.ones((1, 2, 3), np.float32)),
        ("0-d", np.float32(1.0)),
        ("strided", np.ones(6, np.float32)[::2]),
        ("fortran batch", np.asfortranarray(np.ones((4, 3), np.float32))),
        ("subclass", np.ones(3, np.float32).view(Sub)),
        ("None", None),
    ],
)
def test_dense_fast_path_declines(case, x):
    layer = relukit.Dense(3, 2, seed=0)
    assert C.dense_fast(x, layer.weights, layer.biases) is NotImplemented, case
    try:
        want = ("ok", layer.forward(x, backend="numpy").tolist())
    except Exception as exc:
        want = ("raise", type(exc), str(exc))
    try:
        got = ("ok", layer.forward(x, backend="c").tolist())
    except Exception as exc:
        got = ("raise", type(exc), str(exc))
    if want[0] == "ok":
        assert got[0] == "ok" and np.allclose(got[1], want[1], rtol=1e-6, atol=1e-6), case
    else:
        assert got == want, case


def test_dense_cache_follows_the_layers_arrays():
    layer = relukit.Dense(3, 2, seed=0)
    x = np.array([1.0, 2.0, -1.0], np.float32)
    layer.forward(x, backend="c")
    assert id(layer.weights) in C._dense_cache
    layer.weights[...] = 0.0  # in place: the same buffer, seen by C
    assert layer.forward(x, backend="c").tolist() == [0.0, 0.0]
    layer.weights = np.ones((3, 2))  # replaced: a new array, a new entry
    layer.biases = np.array([0.5, -5.0])
    assert layer.forward(x, backend="c").tolist() == [2.5, 0.0]
    layer.biases = np.zeros(2)  # only the biases replaced
    assert layer.forward(x, backend="c").tolist() == [2.0, 2.0]
    key = id(layer.weights)
    assert key in C._dense_cache
    del layer
    gc.collect()
    assert key not in C._dense_cache, "the entry outlived the layer's weights"


def test_dense_cache_blocks_resizing_the_cached_weights():
    """The weak reference the cache holds makes NumPy refuse to move the cached buffer."""
    layer = relukit.Dense(3, 2, seed=0)
    layer.forward(np.ones(3, np.float32), backend="c")
    with pytest.raises(ValueError):
        layer.weights.resize((4, 2), refcheck=False)
    assert layer.weights.shape == (3, 2)
    assert layer.forward(np.ones(3, np.float32), backend="c").shape == (2,)


def test_dense_many_layers_and_threads():
    relukit.set_num_threads(2)
    layers = [relukit.Dense(64, 300, seed=s) for s in range(4)]
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    outs = {}

    def run(i: int) -> None:
        layer = layers[i % 4]
        outs[i] = (layer, layer.forward(x, backend="c"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for layer, got in outs.values():
        assert _dense_ok(layer, x, got)


# --- layouts changed under the C backend: never the wrong bytes -------------------------------


def _dense_pair(backend_x=np.float32):
    d = relukit.Dense(16, 32, seed=3, backend="c")
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(backend_x)
    return d, x


def test_dense_weights_reshaped_in_place_after_forward():
    """The cached pointers must not serve a layout that no longer matches: numpy raises."""
    d, x = _dense_pair()
    d.forward(x)
    d.weights.shape = (32, 16)
    with pytest.raises(ValueError):
        relukit.Dense.forward(d, x, backend="numpy")
    with pytest.raises(ValueError):
        d.forward(x)


def test_dense_weights_strides_changed_in_place_after_forward():
    d, x = _dense_pair()
    d.forward(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        d.weights.strides = (4, 64)  # a transposed view of the same bytes, in place
    want = relukit.Dense.forward(d, x, backend="numpy")
    assert np.allclose(d.forward(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("change", ["shape", "dtype"])
def test_dense_biases_changed_in_place_after_forward(change):
    d, x = _dense_pair()
    d.forward(x)
    if change == "shape":
        d.biases.shape = (2, 16)
    else:
        d.biases.dtype = np.float64  # 32 float32 bytes read as 16 float64
    with pytest.raises(ValueError):
        relukit.Dense.forward(d, x, backend="numpy")
    with pytest.raises(ValueError):
        d.forward(x)


def test_dense_cache_rebuilt_for_a_new_layout_that_fits():
    """Reshaped in place to a layout that still fits: computed from the arrays as they are."""
    d = relukit.Dense(8, 8, seed=1, backend="c")
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    d.forward(x)
    d.weights[...] = d.weights.T.copy()  # new values in the same buffer: seen by C
    fresh = relukit.Dense(8, 8, backend="c")
    fresh.weights, fresh.biases = d.weights, d.biases  # copies: no cache entry yet
    assert same_bits(d.forward(x), fresh.forward(x))


def test_linear_bias_of_another_dtype_is_never_reinterpreted():
    """A float64 bias with the byte count of the float32 one: refused, never read as float32."""
    lin = relukit.nn.Linear(64, 32, seed=0, backend="c")
    x = np.ones((2, 64), np.float32)
    with pytest.raises(ValueError):
        C.linear_forward(x, lin.weight.value, np.ones(16), np.empty((2, 32), np.float32))
    with pytest.raises(TypeError):
        C.linear_forward(x, lin.weight.value, np.ones(32), np.empty((2, 32), np.float32))


@pytest.mark.parametrize("kernel", ["dense_forward", "linear_forward"])
def test_layer_kernels_check_every_buffer(kernel):
    f = getattr(C, kernel)
    x, w = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    b, out = np.ones(5, np.float32), np.empty((3, 5), np.float32)
    with pytest.raises(TypeError):
        f(x, w, b.astype(np.float64), out)
    with pytest.raises(TypeError):
        f(x, w.astype(np.float64), b, out)
    with pytest.raises(TypeError):
        f(x, w, b, out.astype(np.float64))
    with pytest.raises(TypeError):
        f(x.astype(np.int32), w, b, out)
    with pytest.raises(ValueError):
        f(x, w, np.ones(4, np.float32), out)
    with pytest.raises(ValueError):
        f(x, w, b, np.empty((3, 4), np.float32))
    with pytest.raises(ValueError):
        f(x, np.ones((5, 5), np.float32), b, out)
    with pytest.raises(TypeError):
        f(x.astype(">f4"), w, b, out)  # non-native byte order: not C's float


def test_dense_backward_checks_every_buffer():
    x, w, dy = np.ones((3, 4)), np.ones((4, 5)), np.ones((3, 5))
    dx, dw, db = np.empty((3, 4)), np.empty((4, 5)), np.empty(5)
    C.dense_backward(x, w, dy, dx, dw, db)
    with pytest.raises(TypeError):
        C.dense_backward(x, w, dy.astype(np.float32), dx, dw, db)
    with pytest.raises(TypeError):
        C.dense_backward(x, w, dy, dx, dw, db.astype(np.float32))
    with pytest.raises(ValueError):
        C.dense_backward(x, w, dy, dx, np.empty((5, 4)), db)
    with pytest.raises(ValueError):
        C.dense_backward(x, w, np.ones((3, 4)), dx, dw, db)


def test_layer_kernels_take_any_layout():
    """F-ordered, transposed and non-contiguous operands compute what C-contiguous ones do."""
    rng = np.random.default_rng(2)
    wt = rng.standard_normal((32, 64)).astype(np.float32)  # a (out, in) weight, as PyTorch's
    x = rng.standard_normal((8, 64)).astype(np.float32)
    b = rng.standard_normal(64)[::2].astype(np.float32)[:32]
    want = np.empty((8, 32), np.float32)
    C.linear_forward(x, np.ascontiguousarray(wt.T), np.ascontiguousarray(b), want)
    got = np.empty((8, 32), np.float32)
    C.linear_forward(np.asfortranarray(x), wt.T, b, got)
    assert same_bits(got, want)
    out_f = np.empty((32, 8), np.float32).T  # an F-ordered output
    C.linear_forward(x, wt.T, b, out_f)
    assert same_bits(out_f, want)
    dy = rng.standard_normal((8, 32)).astype(np.float32)
    ref = [np.empty((8, 64), np.float32), np.empty((64, 32), np.float32), np.empty(32, np.float32)]
    C.dense_backward(x, np.ascontiguousarray(wt.T), dy, *ref)
    got3 = [
        np.empty((64, 8), np.float32).T,
        np.empty((32, 64), np.float32).T,
        np.empty(32, np.float32),
    ]
    C.dense_backward(x[:, ::1], wt.T, np.asfortranarray(dy), *got3)
    for g, r in zip(got3, ref, strict=True):
        assert same_bits(g, r)


# --- in place on a non-contiguous view: one full-size temporary -------------------------------


@pytest.mark.parametrize("op", ["relu", "leaky_relu", "sigmoid"])
def test_in_place_on_non_contiguous_view_allocates_one_temporary(op):
    import tracemalloc

    n = 1 << 20  # 4 MiB of float32
    base = np.random.default_rng(5).standard_normal(n).astype(np.float32)
    want = getattr(relukit, op)(base[::-1].copy(), backend="numpy")
    x = base[::-1]
    tracemalloc.start()
    try:
        getattr(relukit, op)(x, out=x, backend="c")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert same_bits(x, want)
    assert peak < 1.5 * x.nbytes, f"peak {peak} bytes for a {x.nbytes}-byte array"


# --- the fast path against the acceptance spec ------------------------------------------------


def _unaligned(dtype, n):
    raw = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)
    a = raw[1:].view(dtype)
    a[...] = values(dtype, n)
    return a


@pytest.mark.parametrize(("name", "facade", "fast", "ref"), OPS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_path_declines_what_the_spec_does_not_allow(name, facade, fast, ref, dtype):
    """Outside the spec the fast path returns NotImplemented (never raises); the facade then
    gives the reference's bits or the validated path's error."""
    n = 37
    x = values(dtype, n)
    declined = [
        _unaligned(dtype, n),  # unaligned
        x.astype(np.dtype(dtype).newbyteorder()),  # non-native byte order
        x[::2],  # not contiguous
        x.view(type("Sub", (np.ndarray,), {})),  # a subclass
        np.linspace(-2.0, 2.0, n).astype(np.float16),  # another dtype
    ]
    for a in declined:
        assert fast(a, None) is NotImplemented
    assert fast(x, _unaligned(dtype, n)) is NotImplemented  # unaligned out
    assert fast(x, np.empty(n, dtype)[::-1]) is NotImplemented  # out not contiguous
    for a in declined:
        try:
            want = facade(a, backend="numpy")
        except Exception as exc:  # the validated path's error: the same type from C
            with pytest.raises(type(exc)):
                facade(a, backend="c")
        else:
            assert same_bits(facade(a, backend="c"), want)
    # taken: the result's bits are the validated path's, and out is out
    out = np.empty(n, dtype)
    assert fast(x, out) is out and same_bits(out, ref(x))
    view = x[:]  # another view object starting at x's data: in place
    y = x.copy()
    assert fast(y, y[:]) is not NotImplemented and same_bits(y, ref(x))
    del view


def test_dense_fast_declines_unaligned_input():
    d = relukit.Dense(4, 3, seed=0, backend="c")
    x = _unaligned(np.float32, 8).reshape(2, 4)
    assert C.dense_fast(x, d.weights, d.biases) is NotImplemented
    assert same_bits(d.forward(x), relukit.Dense.forward(d, np.ascontiguousarray(x), backend="c"))


# --- registration and runtime report ----------------------------------------------------------


def test_every_kernel_is_registered_with_all_its_parameters():
    from relukit.ops import KERNELS

    for name, params in KERNELS.items():
        args = [0.25 * (i + 1) for i in range(len(params))]
        scalar = getattr(C, f"{name}_float")
        x = np.array([-1.5, 0.0, 0.5, 3.0])
        out = np.empty_like(x)
        getattr(C, f"{name}_array")(x, out, *args)
        assert same_bits(out, np.array([scalar(float(v), *args) for v in x])), name
        with pytest.raises(TypeError):
            getattr(C, f"{name}_array")(x, out, *args, 1.0)


def test_runtime_info_reports_the_machine():
    info = C.runtime_info()
    assert info["simd"] in ("avx2", "portable")
    assert info["l2_bytes"] > 0 and info["cpus"] >= 1
    assert info["max_threads"] == C.MAX_THREADS == 64
    assert info["split_bytes"] == SPLIT_BYTES
    C.set_num_threads(2**64)
    assert C.get_num_threads() == C.MAX_THREADS
    C.set_num_threads(0)
    assert C.get_num_threads() == 1


def test_runtime_thresholds_from_the_environment():
    """RELUKIT_NT_BYTES, RELUKIT_SPLIT_BYTES and RELUKIT_DENSE_SPLIT_MACS replace the derived
    thresholds (read once per process: checked in a fresh interpreter)."""
    import json
    import subprocess
    import sys

    env = dict(os.environ, RELUKIT_NT_BYTES="4096", RELUKIT_SPLIT_BYTES="12345")
    env["RELUKIT_DENSE_SPLIT_MACS"] = "777"
    code = "import json; from relukit.backends import c; print(json.dumps(c.runtime_info()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    assert (info["nt_bytes"], info["nt_bytes_per_thread"]) == (4096, 0)
    assert (info["split_bytes"], info["dense_split_macs"]) == (12345, 777)


# --- the GEMM: affine forward with a fused activation, its path and blocks -------------------

AFFINE_SHAPES = [(1, 784, 256), (3, 5, 7), (13, 37, 130), (32, 64, 33), (0, 4, 3), (2, 0, 5)]


def _affine_params(name: str) -> tuple[float, ...]:
    """Parameters every kernel takes: increasing, so hardtanh's bounds are ordered."""
    return tuple(0.25 * (i + 1) for i in range(len(KERNELS[name])))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [None, *KERNELS])
def test_affine_forward_is_the_op_after_linear(dtype, name):
    """The epilogue applies the op's array kernel to the finished rows: the same bits as the
    op applied to linear_forward's result, at every shape (few-row and blocked paths)."""
    rng = np.random.default_rng(11)
    for batch, n_in, n_out in AFFINE_SHAPES:
        x = rng.standard_normal((batch, n_in)).astype(dtype)
        w = rng.standard_normal((n_in, n_out)).astype(dtype)
        b = rng.standard_normal(n_out).astype(dtype)
        lin = np.empty((batch, n_out), dtype)
        C.linear_forward(x, w, b, lin)
        params = () if name is None else _affine_params(name)
        want = lin.copy()
        if name is not None:
            getattr(C, f"{name}_array")(lin, want, *params)
        got = np.empty((batch, n_out), dtype)
        C.affine_forward(x, w, b, got, name, params)
        assert same_bits(got, want), (name, batch, n_in, n_out)
        if name == "relu":
            dense = np.empty((batch, n_out), dtype)
            C.dense_forward(x, w, b, dense)
            assert same_bits(dense, want)


def test_affine_forward_refuses_unknown_ops_and_wrong_parameters():
    x, w = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    b, out = np.ones(4, np.float32), np.full((2, 4), 7, np.float32)
    for name, params in [("no_such_op", ()), ("leaky_relu", ()), ("relu", (1.0,)), (None, (1,))]:
        with pytest.raises(ValueError):
            C.affine_forward(x, w, b, out, name, params)
    assert np.all(out == 7)
    # the C entry point itself says EINVAL for the same calls, touching nothing
    ffi, lib = C.ffi, C.lib
    cx, cw = ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", w)
    cb, cy = ffi.from_buffer("float[]", b), ffi.from_buffer("float[]", out)
    p = ffi.new("double[]", [0.5, 1.0])
    for name, n in [(b"no_such_op", 0), (b"hardtanh", 1), (b"gelu", 1)]:
        rc = lib.relukit_affine_forward_f32(cx, 6, cw, 12, cb, 4, cy, 8, 2, 3, 4, name, p, n)
        assert rc == lib.RELUKIT_EINVAL, name
    assert np.all(out == 7)


def test_runtime_info_reports_the_gemm_path_and_blocks():
    info = C.runtime_info()
    assert info["gemm_simd"] in ("portable", "avx2", "avx512")
    assert info["l1d_bytes"] > 0
    if info["simd"] == "portable":
        assert info["gemm_simd"] == "portable"
    for dtype in ("float32", "float64"):
        g = info[f"gemm_{dtype}"]
        assert set(g) == {"mr", "nr", "kc", "mc", "nc"}
        assert g["kc"] % 8 == 0 and g["mc"] % g["mr"] == 0 and g["nc"] % g["nr"] == 0, g
        assert min(g.values()) >= 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_same_bits_on_every_thread_count(dtype):
    """Split over rows or columns (never over k): 1, 2 and 3 threads give the same bits, for
    the forward and both transposed products of the backward pass."""
    rng = np.random.default_rng(12)
    before = C.get_num_threads()
    try:
        for batch, n_in, n_out in [(1, 784, 256), (33, 129, 65), (256, 100, 300), (300, 64, 10)]:
            x = rng.standard_normal((batch, n_in)).astype(dtype)
            w = rng.standard_normal((n_in, n_out)).astype(dtype)
            b = rng.standard_normal(n_out).astype(dtype)
            dy = rng.standard_normal((batch, n_out)).astype(dtype)
            results = []
            for threads in (1, 2, 3):
                C.set_num_threads(threads)
                y = np.empty((batch, n_out), dtype)
                C.dense_forward(x, w, b, y)
                grads = [np.empty((batch, n_in), dtype), np.empty((n_in, n_out), dtype)]
                grads.append(np.empty(n_out, dtype))
                C.dense_backward(x, w, dy, *grads)
                results.append([y, *grads])
            for other in results[1:]:
                for got, want in zip(other, results[0], strict=True):
                    assert same_bits(got, want), (batch, n_in, n_out)
    finally:
        C.set_num_threads(before)

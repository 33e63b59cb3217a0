"""The Rust backend's one-call fast paths and its thread split.

- Every case a fast path takes gives the conformance reference bit for bit (edge values,
  lengths around the vector widths, unaligned starts, 2-D C/Fortran, 0-d, in place, out=,
  out= a view of x) and every case it declines returns ``NotImplemented`` without raising,
  after which the facade behaves exactly like the validated path of another backend (the
  same result, or the same exception and message from ``relukit._validate``).
- ``relukit.set_num_threads`` reaches the Rust kernels; 1 and 2 threads give identical bits
  around the split threshold (elementwise and dense) and the split really happens.
- The elementwise kernels are taken by name (every kernel of ``relukit.ops.KERNELS``, no
  other), and the validated bindings are safe on their own: any layout, overlap, alignment
  and thread use computes what NumPy computes (each element once, from the input as it was),
  matrix arguments in any order are read in the right order, and a failed allocation is a
  MemoryError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import relukit
from conftest import DTYPES
from relukit import _native
from relukit.backends import numpy as backend_numpy
from relukit.backends import rust
from relukit.conformance import (
    LENGTHS,
    dense_reference,
    dense_tolerance,
    edge_values,
    random_values,
    ref_relu,
    ref_relu_grad,
    same_bits,
)
from relukit.ops import KERNELS

FAST = {"relu": (_native.relu_fast, ref_relu), "relu_grad": (_native.relu_grad_fast, ref_relu_grad)}
FACADE = {"relu": relukit.relu, "relu_grad": relukit.relu_grad}
THRESHOLDS = _native.thresholds()


@pytest.fixture(autouse=True)
def _threads_default():
    yield
    relukit.set_num_threads(None)


def values(dtype: np.dtype, n: int, seed: int = 0) -> np.ndarray:
    """n values: every edge value first, then random bit patterns and normal numbers."""
    rand = random_values(dtype, n, np.random.default_rng(seed))
    return np.concatenate([edge_values(dtype), rand])[:n]


def placed(base: np.ndarray, offset: int) -> np.ndarray:
    """``base`` copied to a view starting ``offset`` elements into a larger buffer."""
    buf = np.zeros(base.size + offset + 3, base.dtype)
    view = buf[offset : offset + base.size].reshape(base.shape)
    view[...] = base
    return view


def test_fast_paths_are_the_native_functions():
    """The facade makes one native call: no Python wrapper in between."""
    assert rust.relu_fast is _native.relu_fast
    assert rust.relu_grad_fast is _native.relu_grad_fast
    assert rust.dense_fast is _native.dense_fast
    assert rust.set_num_threads is _native.set_num_threads


# --- cases the fast paths take ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", FAST)
def test_taken_out_of_place_matches_reference(op, dtype):
    fast, ref = FAST[op]
    for n in (*LENGTHS, 4095, 4096, 4097, 65_539):
        for offset in (0, 1, 3):
            x = placed(values(dtype, n, seed=n), offset)
            before = x.copy()
            want = ref(x)
            got = fast(x, None)
            assert same_bits(got, want), (op, n, offset)
            assert got is not x and not np.shares_memory(got, x)
            assert same_bits(x, before), "the input must not change"
            y = placed(np.full(n, 9, dtype), (offset + 1) % 4)
            assert fast(x, y) is y
            assert same_bits(y, want), (op, n, offset, "out=")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", FAST)
def test_taken_in_place_and_same_memory_views(op, dtype):
    fast, ref = FAST[op]
    for n in (0, 1, 7, 8, 9, 33, 1000, 4097):
        for offset in (0, 1):
            x = placed(values(dtype, n, seed=n + 1), offset)
            want = ref(x)
            z = x.copy()
            assert fast(z, z) is z
            assert same_bits(z, want), (op, n, "in place")
            view = x.view()  # another object over the same elements: in place too
            assert fast(x, view) is view
            assert same_bits(x, want), (op, n, "out= a view of x")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", FAST)
def test_taken_shapes_and_orders(op, dtype):
    fast, ref = FAST[op]
    base = values(dtype, 24, seed=5)
    cases = {
        "2d-C": base.reshape(4, 6).copy(),
        "2d-F": np.asfortranarray(base.reshape(4, 6)),
        "3d-F": np.asfortranarray(base.reshape(2, 3, 4)),
        "0d": base[:1].reshape(()).copy(),
        "empty-2d": np.empty((0, 5), dtype),
        "column": base.reshape(24, 1).copy(),
    }
    for name, x in cases.items():
        got = fast(x, None)
        assert same_bits(got, ref(x)), name
        assert got.flags.c_contiguous == x.flags.c_contiguous, name
        assert got.flags.f_contiguous == x.flags.f_contiguous, name
        out = np.empty_like(x)
        assert fast(x, out) is out and same_bits(out, ref(x)), name


@pytest.mark.parametrize("op", FAST)
def test_taken_python_numbers(op):
    fast, _ = FAST[op]
    facade = FACADE[op]
    for x in (-2.5, 0.0, -0.0, 3.25, float("inf"), float("-inf"), 5e-324, -5e-324):
        got = fast(x, None)
        want = facade(x, backend="python")
        assert type(got) is float and np.float64(got).tobytes() == np.float64(want).tobytes(), x
    nan = fast(float("nan"), None)
    assert type(nan) is float and nan != nan
    for x in (0, 1, -1, 7, 2**63 - 1, -(2**63)):
        got = fast(x, None)
        assert type(got) is int and got == facade(x, backend="python"), x


def test_taken_rejects_nothing_silently_for_nan_payloads():
    """NaN payloads and signs survive relu and relu_grad exactly through the fast path."""
    for dtype in DTYPES:
        x = edge_values(dtype)
        nan = np.isnan(x)
        for op in FAST:
            got = FAST[op][0](x, None)
            assert same_bits(got[nan], x[nan]), (op, dtype)


# --- cases the fast paths decline -------------------------------------------------------------


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class Sub(np.ndarray):
    """An ndarray subclass: the fast path leaves it to the validated path."""


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # compared across backends
        return "raise", (type(exc), str(exc))


def _same_outcome(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "raise":
        return a[1] == b[1]
    x, y = a[1], b[1]
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (
            isinstance(x, np.ndarray)
            and isinstance(y, np.ndarray)
            and x.dtype == y.dtype
            and x.shape == y.shape
            and np.array_equal(
                np.ascontiguousarray(x).view(np.uint8), np.ascontiguousarray(y).view(np.uint8)
            )
        )
    return type(x) is type(y) and (x == y or (x != x and y != y))


def _zero_stride_in_place() -> tuple[Any, Any]:
    x = as_strided(np.array([-0.75], np.float32), (64,), (0,))
    return x, x


def _transposed_out() -> tuple[Any, Any]:
    x = values(np.dtype(np.float32), 64, seed=10).reshape(8, 8)
    return x, x.T


def _declined_cases() -> dict[str, Callable[[], tuple[Any, Any]]]:
    """name -> a function making fresh (x, out) arguments (fresh: some get written)."""
    f32 = np.float32
    base = values(np.dtype(f32), 64, seed=9)

    def overlap() -> tuple[Any, Any]:
        buf = np.concatenate([base, base])
        return buf[:64], buf[1:65]

    def unaligned() -> tuple[Any, Any]:
        raw = np.zeros(64 * 4 + 1, np.uint8)
        x = raw[1:].view(f32)
        x[...] = base
        return x, None

    return {
        "list": lambda: ([-1.0, 2.0, float("nan")], None),
        "tuple": lambda: ((-1, 2, 3), None),
        "nested list": lambda: ([[1.0, -2.0], [3.0, -4.0]], None),
        "ragged list": lambda: ([[1.0], [2.0, 3.0]], None),
        "subclass": lambda: (base.view(Sub), None),
        "masked": lambda: (np.ma.masked_array(base), None),
        "matrix": lambda: (np.asmatrix(base.reshape(8, 8)), None),
        "strided": lambda: (base[::2], None),
        "reversed": lambda: (base[::-1], None),
        "C x, F out": lambda: (base.reshape(8, 8).copy(), np.asfortranarray(np.empty((8, 8), f32))),
        "partial overlap": overlap,
        "unaligned": unaligned,
        "read-only out": lambda: (base.copy(), _read_only(np.empty(64, f32))),
        "out of another dtype": lambda: (base.copy(), np.empty(64, np.float64)),
        "out of another shape": lambda: (base.copy(), np.empty(63, f32)),
        "out 2-D vs 1-D": lambda: (base.copy(), np.empty((8, 8), f32)),
        "out a list": lambda: (base.copy(), [0.0] * 64),
        "out a subclass": lambda: (base.copy(), np.empty(64, f32).view(Sub)),
        "out strided": lambda: (base.copy(), np.empty(128, f32)[::2]),
        "zero-stride x": lambda: (as_strided(base.copy(), (64,), (0,)), None),
        "zero-stride out": lambda: (base.copy(), as_strided(np.zeros(1, f32), (64,), (0,))),
        "zero-stride x is out": _zero_stride_in_place,
        "out x.T (same start, other order)": _transposed_out,
        "int array": lambda: (np.arange(-3, 3), None),
        "float16": lambda: (np.linspace(-2, 2, 64, dtype=np.float16), None),
        "complex": lambda: (base.astype(np.complex64), None),
        "big-endian": lambda: (base.astype(">f4"), None),
        "bool array": lambda: (base > 0, None),
        "object array": lambda: (np.array([1.0, None], dtype=object), None),
        "None": lambda: (None, None),
        "str": lambda: ("1.0", None),
        "bool": lambda: (True, None),
        "numpy float32 scalar": lambda: (f32(-1.5), None),
        "numpy float64 scalar": lambda: (np.float64(2.5), None),
        "float with out": lambda: (1.5, np.empty(1, f32)),
        "int with out": lambda: (3, np.empty((), np.float64)),
        "int beyond int64": lambda: (2**63, None),
        "int below int64": lambda: (-(2**63) - 1, None),
        "float subclass": lambda: (type("F", (float,), {})(-1.0), None),
        "int subclass": lambda: (type("I", (int,), {})(-1), None),
    }


DECLINED = _declined_cases()


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("case", DECLINED)
@pytest.mark.parametrize("op", FAST)
def test_declined_returns_notimplemented_then_facade_matches_validated_path(op, case):
    fast, _ = FAST[op]
    x, out = DECLINED[case]()
    assert fast(x, out) is NotImplemented, case
    facade = FACADE[op]
    x1, out1 = DECLINED[case]()
    x2, out2 = DECLINED[case]()
    kw1 = {} if out1 is None else {"out": out1}
    kw2 = {} if out2 is None else {"out": out2}
    got = _outcome(lambda: facade(x1, backend="rust", **kw1))
    want = _outcome(lambda: facade(x2, backend="numpy", **kw2))
    assert _same_outcome(got, want), (case, got, want)


def test_declined_relu_array_entry_point_too():
    """relu_array converts array-likes first, then offers them to the fast path."""
    got = relukit.relu_array([-1, 2, 3], backend="rust")
    assert got.dtype == np.float64 and got.tolist() == [0.0, 2.0, 3.0]
    x = np.arange(-4.0, 4.0)[::2]
    assert same_bits(relukit.relu_array(x, backend="rust"), ref_relu(x))


# --- dense ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dense_fast_taken(dtype):
    rng = np.random.default_rng(3)
    for n_in, n_out, shapes in (
        (3, 2, ((3,), (1, 3), (5, 3), (0, 3))),
        (784, 256, ((784,), (1, 784), (4, 784))),
        (40, 70, ((40,), (7, 40))),
        (0, 3, ((0,), (2, 0))),
        (3, 0, ((3,), (2, 3))),
    ):
        layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=1, backend="rust")
        layer.biases = rng.standard_normal(n_out)
        w, b = layer.weights, layer.biases
        for shape in shapes:
            x = rng.standard_normal(shape).astype(dtype)
            got = _native.dense_fast(x, w, b)
            assert got is not NotImplemented, (n_in, n_out, shape)
            assert got.dtype == dtype and got.shape == (*shape[:-1], n_out)
            x2 = x.reshape(1, -1) if x.ndim == 1 else x
            out = np.empty((x2.shape[0], n_out), dtype)
            rust.dense_forward(x2, w, b, out)
            assert same_bits(got.reshape(out.shape), out), "fast and validated paths differ"
            err = np.abs(got.reshape(out.shape) - dense_reference(x2, w, b))
            assert np.all(err <= dense_tolerance(x2, w, b, dtype))
            assert same_bits(layer(x), got)


def test_dense_fast_declined():
    layer = relukit.Dense(4, 3, seed=2, backend="rust")  # float32
    w, b = layer.weights, layer.biases
    x = np.ones(4, np.float32)
    cases = {
        "float64 input": (x.astype(np.float64), w, b),
        "int input": (np.ones(4, np.int64), w, b),
        "list": ([1.0, 2.0, 3.0, 4.0], w, b),
        "strided": (np.ones(8, np.float32)[::2], w, b),
        "F-ordered batch": (np.asfortranarray(np.ones((3, 4), np.float32)), w, b),
        "3-D": (np.ones((1, 1, 4), np.float32), w, b),
        "wrong features": (np.ones(5, np.float32), w, b),
        "subclass": (x.view(Sub), w, b),
        "w transposed": (x, w.T, b),
        "b too short": (x, w, b[:2]),
        "w of another dtype": (x, w.astype(np.float64), b),
    }
    for name, args in cases.items():
        assert _native.dense_fast(*args) is NotImplemented, name
    for name in ("float64 input", "int input", "list", "strided", "F-ordered batch", "subclass"):
        x_in = cases[name][0]
        want = relukit.Dense(4, 3, seed=2, backend="numpy")(x_in)
        np.testing.assert_allclose(layer(x_in), want, rtol=1e-6, atol=1e-6)
    for name in ("3-D", "wrong features"):
        x_in = cases[name][0]
        got = _outcome(lambda x_in=x_in: layer(x_in))
        want = _outcome(lambda x_in=x_in: relukit.Dense(4, 3, backend="numpy")(x_in))
        assert got[0] == want[0] == "raise" and got[1] == want[1], name


# --- threads ----------------------------------------------------------------------------------


def test_set_num_threads_reaches_rust():
    relukit.set_num_threads(1)
    assert _native.get_num_threads() == 1
    relukit.set_num_threads(2)
    assert _native.get_num_threads() == 2
    relukit.set_num_threads(3)
    assert _native.get_num_threads() == 3
    relukit.set_num_threads(None)
    assert _native.get_num_threads() == relukit.get_num_threads()


def test_environment_thread_count_reaches_rust():
    env = dict(os.environ, RELUKIT_NUM_THREADS="1")
    # The setting reaches a backend when the backend loads (here: "auto" resolves to rust).
    code = (
        "import relukit; from relukit import _native; relukit.get_backend(); "
        "print(_native.get_num_threads())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def _split_sizes(dtype: np.dtype) -> list[int]:
    at = THRESHOLDS["split_min_bytes"] // (2 * np.dtype(dtype).itemsize)
    return [at - 1, at, at + 1, at + 37]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_one_and_two_threads_same_bits_around_split_threshold(dtype):
    at = THRESHOLDS["split_min_bytes"] // (2 * np.dtype(dtype).itemsize)
    for n in _split_sizes(dtype):
        x = placed(values(dtype, n, seed=n), 1)
        for op, (_fast, ref) in FAST.items():
            results = {}
            for threads in (1, 2):
                relukit.set_num_threads(threads)
                jobs = _native.split_calls()
                out_of_place = FACADE[op](x, backend="rust")
                split = _native.split_calls() != jobs
                assert split == (threads == 2 and n >= at), (op, n, threads)
                y = placed(np.zeros(n, dtype), 2)
                FACADE[op](x, out=y, backend="rust")
                z = x.copy()
                FACADE[op](z, out=z, backend="rust")
                results[threads] = (out_of_place, y, z)
            want = ref(x)
            for threads, arrays in results.items():
                for a in arrays:
                    assert same_bits(a, want), (op, n, threads)


def test_split_validated_path_too():
    """Non-contiguous arrays take the validated path; contiguous ones it reaches still split."""
    dtype = np.dtype(np.float32)
    n = _split_sizes(dtype)[-1]
    x = values(dtype, n, seed=7)
    relukit.set_num_threads(2)
    y = np.empty_like(x)
    jobs = _native.split_calls()
    rust.relu_array(x, y)  # the validated-path function, called directly
    assert _native.split_calls() != jobs
    assert same_bits(y, ref_relu(x))
    strided = np.repeat(x, 2)[::2]
    assert same_bits(relukit.relu(strided, backend="rust"), ref_relu(strided))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dense_one_and_two_threads_same_bits(dtype):
    rng = np.random.default_rng(4)
    for n_in, n_out, batch in ((784, 256, 1), (784, 256, 9), (300, 90, 64), (256, 3, 40)):
        layer = relukit.Dense(n_in, n_out, dtype=dtype, seed=3, backend="rust")
        layer.biases = rng.standard_normal(n_out)
        x = rng.standard_normal((batch, n_in)).astype(dtype)
        got = {}
        for threads in (1, 2):
            relukit.set_num_threads(threads)
            got[threads] = layer(x)
        assert same_bits(got[1], got[2]), (n_in, n_out, batch)
        err = np.abs(got[1] - dense_reference(x, layer.weights, layer.biases))
        assert np.all(err <= dense_tolerance(x, layer.weights, layer.biases, dtype))


def test_dense_784_256_batch_1_splits():
    relukit.set_num_threads(2)
    layer = relukit.Dense(784, 256, seed=0, backend="rust")
    x = np.ones(784, np.float32)
    jobs = _native.split_calls()
    layer(x)
    assert _native.split_calls() != jobs
    relukit.set_num_threads(1)
    jobs = _native.split_calls()
    layer(x)
    assert _native.split_calls() == jobs


def test_concurrent_callers_get_correct_results():
    """Python threads calling at once (the GIL is released): one gets the pool, the others
    run on their own thread; every result is right."""
    relukit.set_num_threads(2)
    n = _split_sizes(np.dtype(np.float32))[-1] * 2
    inputs = [values(np.dtype(np.float32), n, seed=s) for s in range(4)]
    errors: list[str] = []

    def work(i: int) -> None:
        for _ in range(5):
            got = relukit.relu(inputs[i], backend="rust")
            if not same_bits(got, ref_relu(inputs[i])):
                errors.append(f"thread {i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_split_calls_work_in_a_forked_child():
    """The pool starts afresh after fork (the parent's workers do not exist in the child)."""
    code = """
import os, sys
import numpy as np
import relukit
relukit.set_num_threads(2)
x = np.linspace(-1, 1, 1 << 20, dtype=np.float32)
want = np.maximum(x, 0)
assert np.array_equal(relukit.relu(x, backend="rust"), want)  # workers started here
pid = os.fork()
if pid == 0:
    ok = np.array_equal(relukit.relu(x, backend="rust"), want)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# --- elementwise kernels by name --------------------------------------------------------------

#: A finite value for every kernel parameter of relukit.ops.KERNELS.
PARAMS = {
    "negative_slope": 0.1,
    "min_val": -0.5,
    "max_val": 0.75,
    "threshold": 0.25,
    "value": -3.0,
    "alpha": 1.25,
    "beta": 1.5,
}


def _params(kernel: str) -> tuple[float, ...]:
    return tuple(PARAMS[p] for p in KERNELS[kernel])


def test_every_kernel_of_the_op_table_is_registered_by_name():
    """The crate's names are exactly relukit.ops.KERNELS', and each backend function is the
    native kernel object of its name (no Python wrapper, no integer code)."""
    assert sorted(_native.kernel_names()) == sorted(KERNELS)
    for name, params in KERNELS.items():
        for form in ("float", "array"):
            f = getattr(rust, f"{name}_{form}")
            kernel = f.__self__
            assert isinstance(kernel, _native.ElementwiseKernel), (name, form)
            assert kernel.name == name and kernel.n_params == len(params)


def test_unknown_kernel_name_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match='"no_such_op"'):
        _native.ElementwiseKernel("no_such_op", 0)
    with pytest.raises(ValueError, match='"Relu"'):
        _native.ElementwiseKernel("Relu", 0)


def test_kernel_parameter_count_is_checked():
    with pytest.raises(TypeError, match="leaky_relu_array takes 1 parameter"):
        rust.leaky_relu_array(np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="relu_float takes 0 parameter"):
        rust.relu_float(1.0, 2.0)
    assert rust.leaky_relu_float(-2.0, 0.5) == -1.0
    assert rust.threshold_grad_float(1.0, 0.5, 7.0) == 1.0  # takes value, ignores it


def test_kernel_scalars_match_their_float64_arrays():
    x = edge_values(np.dtype(np.float64))
    for name in KERNELS:
        want = np.empty_like(x)
        getattr(rust, f"{name}_array")(x, want, *_params(name))
        got = np.array([getattr(rust, f"{name}_float")(float(v), *_params(name)) for v in x])
        assert same_bits(got, want), name


# --- the validated bindings on every layout and overlap -----------------------------------------


def _layouts(dtype: np.dtype) -> dict[str, Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """name -> a function making fresh (x, out, memory): ``memory`` holds every byte x and out
    may touch, compared whole afterwards."""
    isz = dtype.itemsize

    def fresh(n: int, seed: int = 0) -> np.ndarray:
        return (
            values(dtype, n, seed=seed)
            if n > 40
            else random_values(dtype, n, np.random.default_rng(seed))
        )

    def zero_stride_in_place():
        base = fresh(1)
        x = as_strided(base, (1000,), (0,))
        return x, x, base

    def zero_stride_out():
        base = np.zeros(2, dtype)
        return fresh(50), as_strided(base, (50,), (0,)), base

    def zero_stride_out_2d():
        base = np.zeros(8, dtype)
        return fresh(12).reshape(3, 4), as_strided(base, (3, 4), (0, isz)), base

    def zero_stride_axis_in_place():
        base = fresh(5)
        x = as_strided(base, (4, 5), (0, isz))
        return x, x, base

    def half_element_stride_in_place():
        raw = fresh(8)
        x = as_strided(raw, (7,), (isz // 2,))
        return x, x, raw

    def half_element_stride_out():
        raw = fresh(8, 1)
        return fresh(7), as_strided(raw, (7,), (isz // 2,)), raw

    def interleaved_rows_in_place():
        raw = fresh(40)
        x = as_strided(raw, (4, 5), (3 * isz, isz))
        return x, x, raw

    def reversed_out():
        raw = fresh(20)
        return raw, raw[::-1], raw

    def partial_overlap_forward():
        raw = fresh(30)
        return raw[:20], raw[5:25], raw

    def partial_overlap_backward():
        raw = fresh(30)
        return raw[5:25], raw[:20], raw

    def transposed_out():
        buf = fresh(16).reshape(4, 4)
        return buf, buf.T, buf

    def unaligned_x():
        raw = np.zeros(20 * isz + 1, np.uint8)
        x = raw[1:].view(dtype)
        x[...] = fresh(20)
        return x, np.zeros(20, dtype), raw

    def unaligned_in_place():
        raw = np.zeros(20 * isz + 1, np.uint8)
        x = raw[1:].view(dtype)
        x[...] = fresh(20)
        return x, x, raw

    def negative_strides_in_place():
        raw = fresh(24).reshape(4, 6)
        x = raw[::-1, ::2]
        return x, x, raw

    def column_half_in_place():
        buf = fresh(40).reshape(4, 10)
        return buf[:, 5:], buf[:, 5:], buf

    return {
        name.replace("_", " "): f for name, f in locals().items() if callable(f) and name != "fresh"
    }


def _state(memory: np.ndarray, out: np.ndarray) -> bytes:
    return np.ascontiguousarray(out).tobytes() + memory.tobytes()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", _layouts(np.dtype(np.float32)))
def test_validated_binding_computes_each_element_once(layout, dtype):
    """Every kernel on every overlap and layout: as if each element were computed once from
    the input as it was (the kernel on a contiguous copy, assigned as np.copyto would), and
    the numpy backend's bits wherever the two backends agree on those values contiguously.
    Before: an op applied once per aliasing index (1000 times on a zero-stride view)."""
    make = _layouts(dtype)[layout]
    for name in KERNELS:
        p = _params(name)
        x, out, memory = make()
        rust_x = np.ascontiguousarray(x).copy()
        getattr(rust, f"{name}_array")(x, out, *p)
        got = _state(memory, out)

        x, out, memory = make()
        want_values = np.empty(x.shape, dtype)
        getattr(rust, f"{name}_array")(np.ascontiguousarray(x).copy(), want_values, *p)
        np.copyto(out, want_values)
        assert got == _state(memory, out), (name, "not once per element")

        numpy_kernel = getattr(backend_numpy, f"{name}_array")
        contiguous = np.empty_like(rust_x)
        numpy_kernel(rust_x, contiguous, *p)
        if same_bits(contiguous, want_values):
            x, out, memory = make()
            numpy_kernel(x, out, *p)
            assert got == _state(memory, out), (name, "differs from numpy")


@pytest.mark.parametrize("op", ["leaky_relu", "sigmoid", "elu", "gelu"])
def test_facade_in_place_on_a_zero_stride_view_applies_once(op):
    """The probe's case: relukit.<op>(x, out=x) on as_strided(base, (1000,), (0,))."""
    results = {}
    for backend in ("numpy", "rust"):
        base = np.array([-0.7], np.float32)
        x = as_strided(base, (1000,), (0,))
        getattr(relukit, op)(x, out=x, backend=backend)
        results[backend] = base.copy()
    assert same_bits(results["rust"], results["numpy"]), results


def test_two_threads_on_disjoint_column_halves_of_one_buffer():
    """One thread in place on the right half, one reading the left half, both releasing the
    GIL: no 'already borrowed' errors (the bindings keep no borrow flags), right results."""
    cols = 50
    rows = 4 * THRESHOLDS["detach_min_bytes"] // (2 * cols * 4) + 1
    buf = values(np.dtype(np.float32), rows * 2 * cols, seed=11).reshape(rows, 2 * cols)
    before = buf.copy()
    y = np.empty((rows, cols), np.float32)
    errors: list[str] = []
    start = threading.Barrier(2)

    def in_place_right() -> None:
        start.wait()
        for _ in range(40):
            relukit.relu(buf[:, cols:], out=buf[:, cols:], backend="rust")
            relukit.hardtanh(buf[:, cols:], out=buf[:, cols:], backend="rust")

    def read_left() -> None:
        start.wait()
        for _ in range(40):
            try:
                relukit.relu(buf[:, :cols], out=y, backend="rust")
            except Exception as exc:  # the failure being tested for
                errors.append(repr(exc))

    threads = [threading.Thread(target=in_place_right), threading.Thread(target=read_left)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert same_bits(y, ref_relu(before[:, :cols]))
    want_right = relukit.hardtanh(ref_relu(before[:, cols:]), backend="numpy")
    assert same_bits(buf[:, cols:], want_right)
    assert same_bits(buf[:, :cols], before[:, :cols])


def test_failed_output_allocation_is_a_memory_error():
    """An output no machine can hold (2**48 bytes, beyond the address space): MemoryError as
    numpy and C, not a panic."""
    n = 2**23
    x = np.ones((n, 1), np.float32)
    w = np.ones((1, n), np.float32)
    b = np.zeros(n, np.float32)
    with pytest.raises(MemoryError):
        _native.dense_fast(x, w, b)
    layer = relukit.Dense(1, n, init="zeros", backend="rust")
    with pytest.raises(MemoryError):
        layer.forward(x)
    with pytest.raises(MemoryError):
        layer.forward(x, backend="numpy")


# --- matrix arguments in any layout -------------------------------------------------------------


def _variants(a: np.ndarray) -> dict[str, np.ndarray]:
    """``a``'s values in other layouts: Fortran order, strided, reversed, unaligned."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(a.dtype).reshape(a.shape)
    unaligned[...] = a
    wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype) if a.ndim else None
    out = {"F": np.asfortranarray(a), "unaligned": unaligned}
    if wide is not None:
        wide[..., ::2] = a
        out["strided"] = wide[..., ::2]
        out["reversed"] = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if a.ndim == 2:
        out["transposed view"] = np.ascontiguousarray(a.T).T
    for v in out.values():
        assert np.array_equal(v, a)
    return out


def _problem(dtype: np.dtype, batch: int = 5, n_in: int = 7, n_out: int = 6):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    w = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    dy = rng.standard_normal((batch, n_out)).astype(dtype)
    return x, w, b, dy


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fn", ["dense_forward", "linear_forward"])
def test_forward_bindings_read_any_layout_in_the_right_order(fn, dtype):
    f = getattr(_native, fn)
    x, w, b, _ = _problem(dtype)
    want = np.full((x.shape[0], w.shape[1]), 9, dtype)
    f(x, w, b, want)
    args = {"x": x, "w": w, "b": b}
    for arg in args:
        for variant, a in _variants(args[arg]).items():
            out = np.full_like(want, 9)
            f(*{**args, arg: a}.values(), out)
            assert same_bits(out, want), (fn, arg, variant)
    for variant, out in _variants(np.full_like(want, 9)).items():
        f(x, w, b, out)
        assert same_bits(out, want), (fn, "out", variant)
    buf = np.zeros(want.size + w.size, dtype)  # out overlapping w: w is read first
    w_in_buf = buf[: w.size].reshape(w.shape)
    w_in_buf[...] = w
    f(x, w_in_buf, b, buf[w.size // 2 : w.size // 2 + want.size].reshape(want.shape))
    assert same_bits(buf[w.size // 2 : w.size // 2 + want.size].reshape(want.shape), want)


_PARAMS = {"negative_slope": 0.1, "min_val": -0.5, "max_val": 0.75, "threshold": 0.25}
_PARAMS |= {"value": -2.0, "alpha": 1.5, "beta": 1.5}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", [None, *KERNELS])
def test_affine_forward_fuses_the_op_with_the_same_bits(name, dtype):
    # x @ w + b, then the op's own array kernel: the fused epilogue gives the same bits
    # (batch 40 is above the split threshold: 40 * 70 * 90 multiply-adds)
    x, w, b, _ = _problem(dtype, n_in=70, n_out=90)
    for batch in (1, 3, 13, 40):
        xb = np.resize(x, (batch, x.shape[1])).astype(dtype)
        want = np.full((batch, w.shape[1]), 9, dtype)
        _native.linear_forward(xb, w, b, want)
        params = () if name is None else tuple(_PARAMS[p] for p in KERNELS[name])
        if name is not None:
            getattr(rust, name + "_array")(want.copy(), want, *params)
        for threads in (1, 2, 3):
            relukit.set_num_threads(threads)
            got = np.full_like(want, 7)
            rust.affine_forward(xb, w, b, got, name, params)
            assert same_bits(got, want), (name, batch, threads)
    relu_out = np.empty_like(want)
    _native.dense_forward(xb, w, b, relu_out)
    got = np.empty_like(want)
    rust.affine_forward(xb, w, b, got, "relu", ())
    assert same_bits(got, relu_out)


def test_affine_forward_rejects_unknown_activations():
    x, w, b, _ = _problem(np.float32)
    out = np.zeros((x.shape[0], w.shape[1]), np.float32)
    with pytest.raises(ValueError, match="swish"):
        rust.affine_forward(x, w, b, out, "swish", ())
    assert not out.any()
    with pytest.raises(TypeError, match="at most 2"):
        rust.affine_forward(x, w, b, out, "elu", (1.0, 2.0, 3.0))
    with pytest.raises(ValueError):
        rust.affine_forward(x, w[:-1], b, out, None, ())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dense_matches_float64_within_the_bound_around_the_blocks(dtype):
    # shapes straddling the micro-tiles (12 x 32 / 12 x 16, wide 3 rows) and the depth block
    rng = np.random.default_rng(10)
    for batch, inp, n_out in [(1, 300, 129), (3, 257, 33), (13, 1, 65), (25, 520, 17), (37, 0, 5)]:
        x = rng.standard_normal((batch, inp)).astype(dtype)
        w = rng.standard_normal((inp, n_out)).astype(dtype)
        b = rng.standard_normal(n_out).astype(dtype)
        out = np.empty((batch, n_out), dtype)
        for threads in (1, 2):
            relukit.set_num_threads(threads)
            _native.dense_forward(x, w, b, out)
            err = np.abs(out - dense_reference(x, w, b))
            assert np.all(err <= dense_tolerance(x, w, b, dtype)), (batch, inp, n_out)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dense_backward_binding_reads_any_layout_in_the_right_order(dtype):
    x, w, _, dy = _problem(dtype)
    want = [np.full(s, 9, dtype) for s in (x.shape, w.shape, (w.shape[1],))]
    _native.dense_backward(x, w, dy, *want)
    args = {"x": x, "w": w, "dy": dy}
    for arg in args:
        for variant, a in _variants(args[arg]).items():
            got = [np.full_like(g, 9) for g in want]
            _native.dense_backward(*{**args, arg: a}.values(), *got)
            for g, wnt in zip(got, want, strict=True):
                assert same_bits(g, wnt), (arg, variant)
    for i, name in enumerate(("dx", "dw", "db")):
        for variant, o in _variants(np.full_like(want[i], 9)).items():
            got = [np.full_like(g, 9) for g in want]
            got[i] = o
            _native.dense_backward(x, w, dy, *got)
            assert same_bits(got[i], want[i]), (name, variant)
    w2 = w.copy()  # dw written over w itself: dx still comes from the old w
    dx, db = np.empty_like(x), np.empty(w.shape[1], dtype)
    _native.dense_backward(x, w2, dy, dx, w2, db)
    assert same_bits(dx, want[0]) and same_bits(w2, want[1]) and same_bits(db, want[2])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_prelu_binding_reads_any_weight_layout(dtype):
    x = values(dtype, 60, seed=13).reshape(3, 4, 5)
    weight = np.array([0.25, -1.5, 3.0, 0.0], dtype)
    for fn in (_native.prelu_array, _native.prelu_grad_array):
        want = np.empty_like(x)
        fn(x, want, weight)
        for variant, wv in _variants(weight).items():
            out = np.empty_like(x)
            fn(x, out, wv)
            assert same_bits(out, want), (fn.__name__, variant)
        z = x.copy()
        fn(z, z, weight)
        assert same_bits(z, want), (fn.__name__, "in place")


def test_linear_with_a_transposed_torch_weight_is_right():
    """The probe's case: weight.value = W.T for a PyTorch-style (out, in) W, an F-contiguous
    (in, out) view. Forward and backward give the C-ordered weight's bits (before: forward off
    by ~31, dx by ~20)."""
    rng = np.random.default_rng(14)
    big_w = rng.standard_normal((32, 64)).astype(np.float32)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    g = rng.standard_normal((8, 32)).astype(np.float32)
    layers = {}
    for name, value in (("view", big_w.T), ("copy", np.ascontiguousarray(big_w.T))):
        layer = relukit.nn.Linear(64, 32, backend="rust")
        layer.weight.value = value
        layers[name] = (layer, layer(x), layer.backward(g))
    (_, y_view, dx_view), (ref_layer, y_copy, dx_copy) = layers["view"], layers["copy"]
    assert same_bits(y_view, y_copy)
    assert same_bits(dx_view, dx_copy)
    assert same_bits(layers["view"][0].weight.grad, ref_layer.weight.grad)
    np.testing.assert_allclose(y_view, x @ big_w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx_view, g @ big_w, rtol=1e-4, atol=1e-4)


def _unaligned(a: np.ndarray) -> np.ndarray:
    raw = np.zeros(a.nbytes + 1, np.uint8)
    v = raw[1:].view(a.dtype).reshape(a.shape)
    v[...] = a
    return v


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_unaligned_inputs_to_dense_and_linear_compute(dtype):
    """An unaligned C-contiguous input (before: TypeError '... misaligned') gives the aligned
    input's bits, forward and backward."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((6, 9)).astype(dtype)
    g = rng.standard_normal((6, 4)).astype(dtype)
    xu, gu = _unaligned(x), _unaligned(g)
    assert not xu.flags.aligned and xu.flags.c_contiguous
    dense = relukit.Dense(9, 4, dtype=dtype, seed=1, backend="rust")
    assert same_bits(dense.forward(xu), dense.forward(x))
    assert same_bits(dense.forward(xu[0]), dense.forward(x[0]))
    np.testing.assert_allclose(
        dense.forward(xu),
        relukit.Dense(9, 4, dtype=dtype, seed=1, backend="numpy")(x),
        rtol=1e-5,
        atol=1e-5,
    )
    results = []
    for xi, gi in ((x, g), (xu, gu)):
        layer = relukit.nn.Linear(9, 4, seed=2, dtype=dtype, backend="rust")
        y = layer(xi)
        dx = layer.backward(gi)
        results.append((y, dx, layer.weight.grad.copy(), layer.bias.grad.copy()))
    for a, b in zip(*results, strict=True):
        assert same_bits(a, b)

"""The Rust backend's one-call fast paths and its thread split.

- Every case a fast path takes gives the conformance reference bit for bit (edge values,
  lengths around the vector widths, unaligned starts, 2-D C/Fortran, 0-d, in place, out=,
  out= a view of x) and every case it declines returns ``NotImplemented`` without raising,
  after which the facade behaves exactly like the validated path of another backend (the
  same result, or the same exception and message from ``relukit._validate``).
- ``relukit.set_num_threads`` reaches the Rust kernels; 1 and 2 threads give identical bits
  around the split threshold (elementwise and dense) and the split really happens.
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

import relukit
from conftest import DTYPES
from relukit import _native
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

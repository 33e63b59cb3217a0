"""Arrays that are not NumPy's, by the rule the README documents (the same in every backend):
DLPack producers (a CPU torch tensor) are read zero-copy; a tensor that requires grad, lives on
another device or is bfloat16 raises a TypeError naming the fix; ndarray subclasses, np.matrix
and memoryviews are read as their base ndarray, and a base ndarray comes back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import relukit
from conftest import BACKENDS
from relukit import _interop

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

X = np.array([-2.0, -0.0, 0.0, 1.5, np.inf, -np.inf, np.nan, 3.0], dtype=np.float32)
#: Ops through each facade path: relu's fast path, a parametrised kernel, a custom runner.
CALLS = {
    "relu": lambda x, **kw: relukit.relu(x, **kw),
    "relu_grad": lambda x, **kw: relukit.relu_grad(x, **kw),
    "leaky_relu": lambda x, **kw: relukit.leaky_relu(x, 0.1, **kw),
    "hardtanh": lambda x, **kw: relukit.hardtanh(x, **kw),
    "prelu": lambda x, **kw: relukit.prelu(x, 0.25, **kw),
}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


class DLPackOnly:
    """Exposes an ndarray through DLPack only (no __array__), as a CPU torch tensor does."""

    def __init__(self, a: np.ndarray, **attrs: Any) -> None:
        self._a = a
        self.dtype = a.dtype
        self.__dict__.update(attrs)

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._a.__dlpack_device__()


class FakeTensor(DLPackOnly):
    """A stand-in for a torch tensor: its own dtype name, device and requires_grad."""

    def __init__(
        self, a: np.ndarray, dtype: str, device: tuple[int, int] = (1, 0), grad: bool = False
    ) -> None:
        super().__init__(a)
        self.dtype = dtype  # type: ignore[assignment]
        self.requires_grad = grad
        self._device = device

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device

    def __dlpack__(self, **kwargs: Any) -> Any:
        if self.requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        if "bfloat16" in str(self.dtype):
            raise BufferError("bfloat16 is not supported")
        return super().__dlpack__(**kwargs)


# ---- DLPack ------------------------------------------------------------------------------------


def test_dlpack_input_is_read_without_a_copy():
    a = X.copy()
    view = _interop.from_dlpack(DLPackOnly(a))
    assert view.dtype == a.dtype
    assert np.shares_memory(view, a)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("op", CALLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dlpack_input_gives_the_ndarray_result(name, op, dtype):
    a = X.astype(dtype)
    got = CALLS[op](DLPackOnly(a), backend=name)
    assert type(got) is np.ndarray and got.dtype == a.dtype
    assert np.array_equal(bits(got), bits(CALLS[op](a, backend="numpy")))


@pytest.mark.parametrize("name", BACKENDS)
def test_dlpack_input_in_place_through_its_own_memory(name):
    a = X.copy()
    expected = relukit.relu(a, backend="numpy")
    got = relukit.relu(DLPackOnly(a), out=a, backend=name)
    assert got is a
    assert np.array_equal(bits(a), bits(expected))


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    ("tensor", "words"),
    [
        (FakeTensor(X, "torch.float32", grad=True), ("requires grad", "x.detach()")),
        (FakeTensor(X, "torch.bfloat16"), ("bfloat16", "x.float()")),
        (FakeTensor(X, "torch.float32", device=(2, 0)), ("cuda", "x.cpu()")),
    ],
    ids=["requires_grad", "bfloat16", "cuda"],
)
def test_unsupported_tensors_are_a_type_error_naming_the_fix(name, tensor, words):
    for op, call in CALLS.items():
        with pytest.raises(TypeError) as info:
            call(tensor, backend=name)
        for word in words:
            assert word in str(info.value), (op, str(info.value))


@pytest.mark.parametrize("name", BACKENDS)
def test_a_dlpack_dtype_outside_the_contract_is_the_usual_type_error(name):
    with pytest.raises(TypeError, match="unsupported dtype float16"):
        relukit.relu(DLPackOnly(X.astype(np.float16)), backend=name)


# ---- ndarray subclasses, np.matrix, memoryview -------------------------------------------------


class Tagged(np.ndarray):
    """A trivial ndarray subclass."""


def _inputs() -> dict[str, Any]:
    a2 = X.reshape(2, 4)
    return {
        "subclass": X.view(Tagged),
        "matrix": np.asmatrix(a2),
        "memmap-like view": a2.view(Tagged)[:, ::2],
        "memoryview float32": memoryview(X),
        "memoryview float64": memoryview(X.astype(np.float64)),
    }


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("kind", list(_inputs()))
@pytest.mark.parametrize("op", CALLS)
def test_subclasses_and_buffers_come_back_as_a_base_ndarray(name, kind, op):
    x = _inputs()[kind]
    base = np.asarray(x)
    got = CALLS[op](x, backend=name)
    assert type(got) is np.ndarray
    assert got.shape == base.shape and got.dtype == base.dtype
    assert np.array_equal(bits(got), bits(CALLS[op](np.array(base), backend="numpy")))


@pytest.mark.parametrize("name", BACKENDS)
def test_integer_memoryview_is_converted_like_a_list(name):
    got = relukit.relu(memoryview(np.array([-3, 0, 4], dtype=np.int64)), backend=name)
    assert type(got) is np.ndarray and got.dtype == np.float64
    assert got.tolist() == [0.0, 0.0, 4.0]


@pytest.mark.parametrize("name", BACKENDS)
def test_out_of_a_subclass_is_filled_and_returned(name):
    out = np.empty_like(X).view(Tagged)
    got = relukit.relu(X, out=out, backend=name)
    assert got is out
    assert np.array_equal(bits(out), bits(relukit.relu(X, backend="numpy")))


@pytest.mark.parametrize("name", BACKENDS)
def test_pandas_series_comes_back_as_an_ndarray(name):
    pd = pytest.importorskip("pandas", reason="pandas is optional (not a relukit dependency)")
    s = pd.Series(X.astype(np.float64), index=list("abcdefgh"))
    got = relukit.relu(s, backend=name)
    assert type(got) is np.ndarray and got.dtype == np.float64
    assert np.array_equal(bits(got), bits(relukit.relu(s.to_numpy(), backend="numpy")))

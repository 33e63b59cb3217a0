"""``out`` with internal overlap (two of its elements share a byte: zero-stride and
self-overlapping views), in place or not: every backend gives what NumPy's ufuncs give --
the op computed into a temporary, then copied into ``out`` -- and reads x before any write."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import relukit
from conftest import BACKENDS, DTYPES, bits
from relukit import ops
from relukit._validate import has_internal_overlap

#: (name, kwargs) of one call per conformance row, every op with int kernels too.
CALLS = [(op.name, {}) for op in ops.OPS if op.fast] + [
    (op.name, check.param_sets[0]) for op, check in ops.CHECKS
]
IDS = [f"{name}-{'-'.join(map(str, kw.values()))}" for name, kw in CALLS]


def _call(name: str, x: np.ndarray, out: np.ndarray, backend: str, kw: dict) -> np.ndarray:
    if name.startswith("prelu"):
        kw = {"weight": 0.25}
    return ops.FUNCTIONS[name](x, out=out, backend=backend, **kw)


def _numpy_semantics(name: str, x: np.ndarray, out: np.ndarray, backend: str, kw: dict) -> None:
    """What a NumPy ufunc does: the op of x (read first) into a temporary, copied into out
    (the op on the same backend: the smooth ops round differently per backend)."""
    tmp = _call(name, x.copy(), None, backend, kw)
    np.copyto(out, tmp)


def _zero_stride(dtype: np.dtype, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    base = np.array([-2.5, 7.0], dtype)
    return base, as_strided(base, (n,), (0,))


def _self_overlapping(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 8 elements, each row starting 3 elements after the previous one."""
    base = np.linspace(-4, 4, 64).astype(dtype)
    s = dtype.itemsize
    return base, as_strided(base, (10, 8), (3 * s, s))


def _half_stride(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Elements every itemsize/2 bytes: each overlaps the next by half (unaligned too)."""
    raw = np.linspace(-3, 3, 80).astype(dtype)
    step = dtype.itemsize // 2
    return raw, as_strided(raw, (20,), (step,))


VIEWS = {"zero-stride": _zero_stride, "rows-overlap": _self_overlapping, "half": _half_stride}


def test_the_overlap_test():
    a = np.zeros(100, np.float32)
    assert not has_internal_overlap(a) and not has_internal_overlap(a[::3])
    assert not has_internal_overlap(a.reshape(10, 10).T) and not has_internal_overlap(a[::-1])
    assert not has_internal_overlap(as_strided(a, (1,), (0,)))
    for make in VIEWS.values():
        assert has_internal_overlap(make(np.dtype(np.float32))[1])
    assert has_internal_overlap(as_strided(a, (5, 4), (0, 4)))  # a broadcast row
    assert not has_internal_overlap(as_strided(a, (4, 5), (20, 4)))


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize(("name", "kw"), CALLS, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_in_place_on_an_overlapping_view(backend, name, kw, view):
    for dtype in DTYPES:
        base, x = VIEWS[view](dtype)
        want_base = base.copy()
        want_view = as_strided(want_base, x.shape, x.strides)
        _numpy_semantics(name, want_view, want_view, backend, kw)
        got = _call(name, x, x, backend, kw)
        assert got is x
        assert np.array_equal(bits(base), bits(want_base)), (backend, name, dtype, view)


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize(("name", "kw"), CALLS, ids=IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_into_an_overlapping_out(backend, name, kw, view):
    for dtype in DTYPES:
        base, out = VIEWS[view](dtype)
        x = np.linspace(-6, 6, out.size).astype(dtype).reshape(out.shape)
        x.flat[0] = np.nan
        want_base = base.copy()
        _numpy_semantics(name, x, as_strided(want_base, out.shape, out.strides), backend, kw)
        before = x.copy()
        got = _call(name, x, out, backend, kw)
        assert got is out
        assert np.array_equal(bits(base), bits(want_base)), (backend, name, dtype, view)
        assert np.array_equal(bits(x), bits(before))


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_stride_leaky_relu_applies_once(backend):
    """The probe's case: in place on a zero-stride view of one element."""
    base, x = _zero_stride(np.dtype(np.float32))
    relukit.leaky_relu(x, 0.5, out=x, backend=backend)
    assert base[0] == -1.25  # once, not 1000 times
    base, x = _zero_stride(np.dtype(np.float64))
    relukit.sigmoid(x, out=x, backend=backend)
    assert abs(base[0] - 1 / (1 + np.exp(2.5))) < 1e-15  # sigmoid(-2.5), not sigmoid applied 1000x

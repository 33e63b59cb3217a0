"""Every backend against the numeric contract, bit for bit (relukit.conformance's references)."""

from __future__ import annotations

import struct

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import relukit
from conftest import BACKENDS, DTYPES, UINT, bits
from relukit import conformance
from relukit.conformance import OPS, edge_values, layouts, random_values, same_bits

OP_IDS = [op.name for op in OPS]
LENGTHS = (0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000)
INTS = (0, 1, -1, 2, -2, 5, -5, 2**62, -(2**62), 2**63 - 1, -(2**63))


def test_all_backends_built():
    """The suite fails, never skips, when a backend is missing: it says which and why."""
    from relukit._backend import _failed

    assert relukit.available_backends() == list(BACKENDS), _failed


def check_all_forms(op, x: np.ndarray, backend: str, what: str) -> None:
    """Out-of-place (input untouched), out= (same object back), in place (out=x)."""
    expect = op.ref(x)
    before = x.copy()
    got = op.func(x, backend=backend)
    assert isinstance(got, np.ndarray), what
    assert got is not x, what
    assert same_bits(got, expect), f"{what}: out-of-place {got!r} != {expect!r}"
    assert same_bits(x, before), f"{what}: out-of-place changed the input"

    out = np.full_like(x, 7)
    got = op.func(x, out=out, backend=backend)
    assert got is out, f"{what}: out= must return out itself"
    assert same_bits(out, expect), f"{what}: out= {out!r} != {expect!r}"
    assert same_bits(x, before), f"{what}: out= changed the input"

    inplace = x.copy()
    got = op.func(inplace, out=inplace, backend=backend)
    assert got is inplace, f"{what}: in place must return x itself"
    assert same_bits(inplace, expect), f"{what}: in place {inplace!r} != {expect!r}"


# --- the references themselves (so a broken reference cannot pass everything) -------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_reference_relu_matches_the_table(dtype):
    x = np.array([3.5, -2.0, 0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    got = conformance.ref_relu(x)
    want = np.array([3.5, 0.0, 0.0, 0.0, np.inf, 0.0, np.nan], dtype)
    assert same_bits(got, want)
    assert same_bits(got, np.maximum(x, 0))  # the design's "equals np.maximum(x, 0)"
    assert not same_bits(got, np.maximum(0, x))  # argument order matters: -0.0 kept


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_reference_relu_grad_matches_the_table(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([3.5, -2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, tiny], dtype)
    got = conformance.ref_relu_grad(x)
    want = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, np.nan, 1.0], dtype)
    assert same_bits(got, want)


def test_same_bits_tells_apart_what_equality_does_not():
    a = np.array([0.0, np.nan])
    assert same_bits(a, a.copy())
    assert not same_bits(np.array([-0.0, np.nan]), a)  # -0.0 == 0.0, but not bit for bit
    assert not same_bits(a.astype(np.float32), a)  # dtype
    assert not same_bits(a.reshape(2, 1), a)  # shape
    assert not same_bits(a.tolist(), a)  # not an array


# --- edge vectors and lengths in every layout ------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_values_every_layout(backend, op, dtype):
    edges = edge_values(dtype)
    names = []
    for layout, x in layouts(edges):
        names.append(layout)
        check_all_forms(op, x, backend, f"{backend} {op.name} {dtype} {layout}")
    assert {
        "contiguous",
        "offset1",
        "offset3",
        "step2",
        "reversed",
        "2d-C",
        "2d-F",
        "2d-transposed",
        "2d-reversed-cols",
    } <= set(names)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_lengths_every_layout(backend, op, dtype, n):
    rng = np.random.default_rng(n)
    pool = np.concatenate([edge_values(dtype), random_values(dtype, 64, rng)])
    vec = rng.permutation(np.resize(pool, n))
    for layout, x in layouts(vec):
        check_all_forms(op, x, backend, f"{backend} {op.name} {dtype} n={n} {layout}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_d_array(backend, op, dtype):
    for v in edge_values(dtype):
        x = np.array(v, dtype)
        assert x.ndim == 0
        check_all_forms(op, x, backend, f"{backend} {op.name} 0-d {v!r}")
        assert op.func(x, backend=backend).shape == ()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_random_bit_patterns_3d(backend, op, dtype):
    rng = np.random.default_rng(7)
    base = random_values(dtype, 4 * 5 * 6, rng).reshape(4, 5, 6)
    views = {
        "C": base,
        "F": np.asfortranarray(base),
        "transposed": base.transpose(2, 0, 1),
        "sliced": base[::2, ::-1, 1::2],
        "negative": base[::-1, ::-1, ::-1],
        "broadcast": np.broadcast_to(base[:1], (3, 5, 6)),
    }
    for name, x in views.items():
        expect = op.ref(x)
        got = op.func(x, backend=backend)
        assert same_bits(got, expect), f"{backend} {op.name} {name}"
        out = np.full(x.shape, 5, dtype)
        assert op.func(x, out=out, backend=backend) is out
        assert same_bits(out, expect), f"{backend} {op.name} {name} out="


# --- hypothesis: arbitrary floats, arbitrary views, every backend agreeing --------------------


def float_arrays(dtype: np.dtype) -> st.SearchStrategy[np.ndarray]:
    shapes = st.one_of(  # at most 300 elements: the pure Python backend is slow
        hnp.array_shapes(min_dims=1, max_dims=1, min_side=0, max_side=300),
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=17),
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=0, max_side=6),
    )
    floats = st.floats(
        width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True, allow_subnormal=True
    )
    by_value = hnp.arrays(dtype, shapes, elements=floats)
    by_bits = hnp.arrays(np.dtype(f"u{dtype.itemsize}"), shapes).map(lambda a: a.view(dtype))
    return st.one_of(by_value, by_bits)


@st.composite
def sliced(draw: st.DrawFn) -> tuple[np.ndarray, tuple[slice, ...], bool]:
    """A float array, an index of random slices (steps +-1, +-2) and whether to transpose."""
    dtype = draw(st.sampled_from(DTYPES))
    a = draw(float_arrays(dtype))
    index = []
    for size in a.shape:
        step = draw(st.sampled_from((1, -1, 2, -2)))
        start = draw(st.none() | st.integers(0, size))
        stop = draw(st.none() | st.integers(0, size))
        index.append(slice(start, stop, step))
    return a, tuple(index), draw(st.booleans())


def view_of(a: np.ndarray, index: tuple[slice, ...], transpose: bool) -> np.ndarray:
    v = a[index]
    return v.T if transpose else v


@given(case=sliced(), out_reversed=st.booleans())
def test_hypothesis_views_all_backends_agree(case, out_reversed):
    x = view_of(*case)
    assert x.size <= 300
    for op in OPS:
        expect = op.ref(x)
        before = x.copy()
        results = {}
        for backend in BACKENDS:
            got = op.func(x, backend=backend)
            assert same_bits(got, expect), f"{backend} {op.name}"
            results[backend] = got
            out = np.full(x.shape, 3, x.dtype)
            if out_reversed and x.ndim:
                out = out[::-1]
            assert op.func(x, out=out, backend=backend) is out
            assert same_bits(out, expect), f"{backend} {op.name} out="
        assert same_bits(x, before)
        first = results[BACKENDS[0]]
        for backend, got in results.items():
            assert same_bits(got, first), f"{backend} disagrees with {BACKENDS[0]}"


@given(case=sliced())
def test_hypothesis_in_place_on_a_view(case):
    """out=x where x is a strided view: the view gets the result, the rest of the buffer stays."""
    a, index, transpose = case
    mask = np.zeros(a.shape, bool)
    mask[index] = True
    for op in OPS:
        expect = op.ref(view_of(a, index, transpose))
        for backend in BACKENDS:
            buf = a.copy()
            v = view_of(buf, index, transpose)
            assert op.func(v, out=v, backend=backend) is v
            assert same_bits(v, expect), f"{backend} {op.name}"
            assert same_bits(buf[~mask], a[~mask]), f"{backend} {op.name} wrote outside the view"


# --- a large array: the vectorised and GIL-releasing paths -------------------------------------


LARGE = 2**22 + 3


@pytest.fixture(scope="module")
def large_vectors():
    rng = np.random.default_rng(2024)
    cache = {}
    for dtype in DTYPES:
        x = random_values(dtype, LARGE, rng)
        cache[dtype] = (x, {op.name: op.ref(x) for op in OPS})
    return cache


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", ["numpy", "c", "rust"])
def test_large_array(backend, op, dtype, large_vectors):
    x, refs = large_vectors[dtype]
    expect = refs[op.name]
    got = op.func(x, backend=backend)
    assert same_bits(got, expect)
    out = np.empty_like(x)
    assert op.func(x, out=out, backend=backend) is out
    assert same_bits(out, expect)
    inplace = x.copy()
    op.func(inplace, out=inplace, backend=backend)
    assert same_bits(inplace, expect)
    tail = x[3:]  # unaligned start, odd length
    assert same_bits(op.func(tail, backend=backend), expect[3:])


# --- signalling NaNs keep their exact bits ----------------------------------------------------

SNAN64 = (0x7FF0000000000001, 0x7FF4000000000000, 0xFFF0000000000001, 0x7FF7FFFFFFFFFFFF)
SNAN32 = (0x7F800001, 0x7FA00000, 0xFF800001, 0x7FBFFFFF)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("dtype", "patterns"), [(np.float32, SNAN32), (np.float64, SNAN64)], ids=["float32", "float64"]
)
def test_signalling_nan_arrays_keep_bits(backend, op, dtype, patterns):
    raw = np.array(patterns, dtype=UINT[np.dtype(dtype).itemsize])
    x = raw.view(dtype)
    got = op.func(x, backend=backend)
    assert bits(got).tolist() == raw.tolist()
    out = np.zeros_like(x)
    op.func(x, out=out, backend=backend)
    assert bits(out).tolist() == raw.tolist()
    inplace = x.copy()
    op.func(inplace, out=inplace, backend=backend)
    assert bits(inplace).tolist() == raw.tolist()
    for v in x:  # NumPy scalars
        r = op.func(v, backend=backend)
        assert type(r) is np.dtype(dtype).type
        assert bits(np.array([r])).tolist() == bits(np.array([v])).tolist()


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pattern", SNAN64, ids=hex)
def test_signalling_nan_python_float_keeps_bits(backend, op, pattern):
    v = struct.unpack("<d", struct.pack("<Q", pattern))[0]
    got = op.func(v, backend=backend)
    assert type(got) is float
    assert struct.unpack("<Q", struct.pack("<d", got))[0] == pattern


# --- scalars: the type comes back, with the right bits ----------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_scalars(backend, op, dtype):
    for v in edge_values(dtype):
        assert type(v) is dtype.type
        got = op.func(v, backend=backend)
        assert type(got) is dtype.type, f"{backend} {op.name} {v!r} -> {type(got)}"
        assert same_bits(np.array([got]), op.ref(np.array([v]))), f"{backend} {op.name} {v!r}"


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_python_floats(backend, op):
    for v in edge_values(np.float64).tolist():
        assert type(v) is float
        got = op.func(v, backend=backend)
        assert type(got) is float, f"{backend} {op.name} {v!r} -> {type(got)}"
        assert same_bits(np.array([got]), op.ref(np.array([v]))), f"{backend} {op.name} {v!r}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_float_examples(backend):
    assert repr(relukit.relu(-2.5, backend=backend)) == "0.0"
    assert repr(relukit.relu(-0.0, backend=backend)) == "0.0"
    assert repr(relukit.relu(2.5, backend=backend)) == "2.5"
    assert repr(relukit.relu_grad(-0.0, backend=backend)) == "0.0"
    assert repr(relukit.relu_grad(1e-320, backend=backend)) == "1.0"


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_python_ints(backend, op):
    for i in INTS:
        got = op.func(i, backend=backend)
        assert type(got) is int, f"{backend} {op.name} {i} -> {type(got)}"
        assert got == op.ref_int(i), f"{backend} {op.name} {i} -> {got}"
    assert relukit.relu(-(2**63), backend=backend) == 0
    assert relukit.relu(2**63 - 1, backend=backend) == 2**63 - 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_int_subclass_gives_int(backend):
    class MyInt(int):
        pass

    got = relukit.relu(MyInt(-4), backend=backend)
    assert type(got) is int and got == 0
    got = relukit.relu(MyInt(4), backend=backend)
    assert type(got) is int and got == 4

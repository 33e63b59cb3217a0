"""Bad arguments: every backend raises the same exception type with a message naming the problem.
Awkward but valid arguments (strides, overlap, 0-d, empty, lists) give the right answer."""

from __future__ import annotations

import numpy as np
import pytest

import relukit
from conftest import BACKENDS, DTYPES, bits
from relukit.conformance import OPS, random_values, ref_relu, same_bits

FUNCS = (relukit.relu, relukit.relu_grad, relukit.relu_array)
FUNC_IDS = [f.__name__ for f in FUNCS]
REFS = {"relu": ref_relu, "relu_grad": OPS[1].ref, "relu_array": ref_relu}


def _masked() -> np.ndarray:
    return np.ma.array([1.0, -2.0], mask=[False, True])


# (id, factory, exception, message regex)
BAD_INPUTS = [
    ("None", lambda: None, TypeError, "NoneType"),
    ("str", lambda: "abc", TypeError, "str"),
    ("bytes", lambda: b"x", TypeError, "bytes"),
    ("bytearray", lambda: bytearray(b"xy"), TypeError, "bytearray"),
    ("dict", lambda: {1: 2}, TypeError, "dict"),
    ("set", lambda: {1.0, 2.0}, TypeError, "set"),
    ("object-array", lambda: np.array([1, None], dtype=object), TypeError, "dtype object"),
    ("object-list", lambda: [1, None], TypeError, "not numbers"),
    ("ragged", lambda: [[1, 2], [3]], ValueError, "rectangular"),
    ("ragged-arrays", lambda: [np.zeros(2), np.zeros(3)], ValueError, "rectangular"),
    ("float16", lambda: np.zeros(3, np.float16), TypeError, "dtype float16"),
    ("longdouble", lambda: np.zeros(3, np.longdouble), TypeError, "dtype"),
    ("int32-array", lambda: np.arange(3, dtype=np.int32), TypeError, "dtype int32"),
    ("int64-array", lambda: np.arange(3, dtype=np.int64), TypeError, "dtype int64"),
    ("complex-array", lambda: np.zeros(3, complex), TypeError, "dtype complex128"),
    ("complex", lambda: 1 + 2j, TypeError, "complex"),
    ("bool-array", lambda: np.zeros(3, bool), TypeError, "dtype bool"),
    ("bool-list", lambda: [True, False], TypeError, "dtype bool"),
    ("big-endian-f4", lambda: np.zeros(3, ">f4"), TypeError, "byte order"),
    ("big-endian-f8", lambda: np.zeros(3, ">f8"), TypeError, "byte order"),
    ("masked", _masked, TypeError, "masked"),
    ("np-bool", lambda: np.bool_(True), TypeError, "bool"),
    ("np-int64-scalar", lambda: np.int64(3), TypeError, "dtype int64"),
    ("np-float16-scalar", lambda: np.float16(1), TypeError, "dtype float16"),
]
BAD_SCALARS = [  # relu / relu_grad only: relu_array turns numbers into arrays
    ("bool-True", lambda: True, TypeError, "bool"),
    ("bool-False", lambda: False, TypeError, "bool"),
    ("int-2**63", lambda: 2**63, OverflowError, "int64"),
    ("int--2**63-1", lambda: -(2**63) - 1, OverflowError, "int64"),
    ("int-10**30", lambda: 10**30, OverflowError, "int64"),
    ("int--10**30", lambda: -(10**30), OverflowError, "int64"),
]


def _raises_everywhere(func, make, exc, match) -> None:
    kinds = set()
    for backend in BACKENDS:
        with pytest.raises(exc, match=match) as info:
            func(make(), backend=backend)
        kinds.add(type(info.value))
    assert kinds == {exc}, f"different exception types per backend: {kinds}"


@pytest.mark.parametrize(
    ("name", "make", "exc", "match"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
def test_bad_input_same_exception_everywhere(func, name, make, exc, match):
    _raises_everywhere(func, make, exc, match)


@pytest.mark.parametrize(
    ("name", "make", "exc", "match"), BAD_SCALARS, ids=[c[0] for c in BAD_SCALARS]
)
@pytest.mark.parametrize("func", FUNCS[:2], ids=FUNC_IDS[:2])
def test_bad_scalar_same_exception_everywhere(func, name, make, exc, match):
    _raises_everywhere(func, make, exc, match)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30], ids=["2**63", "-2**63-1", "1e30"])
def test_relu_array_int_outside_int64_is_overflow_error(value):
    """relu(int) raises OverflowError outside int64; relu_array must not silently accept some
    such ints (2**63 becomes a float) and reject others as 'dtype object'."""
    for backend in BACKENDS:
        with pytest.raises(OverflowError, match="int64"):
            relukit.relu_array(value, backend=backend)
        with pytest.raises(OverflowError, match="int64"):
            relukit.relu_array([1, value], backend=backend)


# --- out= -------------------------------------------------------------------------------------


def _readonly(shape, dtype) -> np.ndarray:
    a = np.zeros(shape, dtype)
    a.flags.writeable = False
    return a


BAD_OUTS = [
    ("shape-longer", lambda x: np.zeros(x.size + 1, x.dtype), ValueError, "shape"),
    ("shape-2d", lambda x: np.zeros((1, x.size), x.dtype), ValueError, "shape"),
    ("shape-0d", lambda x: np.zeros((), x.dtype), ValueError, "shape"),
    (
        "dtype-other-float",
        lambda x: np.zeros(x.shape, np.float32 if x.dtype == np.float64 else np.float64),
        TypeError,
        "dtype",
    ),
    ("dtype-int", lambda x: np.zeros(x.shape, np.int64), TypeError, "dtype"),
    (
        "dtype-big-endian",
        lambda x: np.zeros(x.shape, x.dtype.newbyteorder(">")),
        TypeError,
        "dtype",
    ),
    ("read-only", lambda x: _readonly(x.shape, x.dtype), ValueError, "read-only"),
    (
        "read-only-broadcast",
        lambda x: np.broadcast_to(np.zeros(1, x.dtype), x.shape),
        ValueError,
        "read-only",
    ),
    ("list", lambda x: [0.0] * x.size, TypeError, "out must be a NumPy array"),
    ("memoryview", lambda x: memoryview(np.zeros(x.shape, x.dtype)), TypeError, "out must be"),
    ("scalar", lambda x: 0.0, TypeError, "out must be"),
]


@pytest.mark.parametrize(
    ("name", "make_out", "exc", "match"), BAD_OUTS, ids=[c[0] for c in BAD_OUTS]
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
def test_bad_out(func, dtype, name, make_out, exc, match):
    x = np.array([-1.0, 2.0, -3.0], dtype)
    before = x.copy()
    for backend in BACKENDS:
        out = make_out(x)
        snapshot = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
        with pytest.raises(exc, match=match):
            func(x, out=out, backend=backend)
        if snapshot is not None:
            assert np.array_equal(out, snapshot), "a rejected out was written"
    assert same_bits(x, before)


@pytest.mark.parametrize("scalar", [1.5, -2.0, 3, np.float32(-1.0), np.float64(2.0)], ids=repr)
@pytest.mark.parametrize("func", FUNCS[:2], ids=FUNC_IDS[:2])
def test_out_with_scalar_input_is_type_error(func, scalar):
    for backend in BACKENDS:
        with pytest.raises(TypeError, match="out="):
            func(scalar, out=np.zeros((), np.float64), backend=backend)


# --- awkward but valid layouts ----------------------------------------------------------------


def _layouts(base: np.ndarray):
    """(name, view) pairs holding the values of ``base`` (shape (4, 6))."""
    yield "C", base.copy()
    yield "F", np.asfortranarray(base)
    wide = np.zeros((4, 12), base.dtype)
    wide[:, ::2] = base
    yield "step2", wide[:, ::2]
    rev = base[::-1, ::-1].copy()
    yield "negative", rev[::-1, ::-1]
    t = base.T.copy()
    yield "transposed", t.T
    tall = np.zeros((8, 6), base.dtype)
    tall[::2] = base
    yield "rows-step2", tall[::2]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_noncontiguous_inputs_and_outs(backend, func, dtype):
    base = random_values(dtype, 24, np.random.default_rng(3)).reshape(4, 6)
    expect = REFS[func.__name__](base)
    for xname, x in _layouts(base):
        for oname, out in _layouts(np.full((4, 6), 9, dtype)):
            before = x.copy()
            got = func(x, out=out, backend=backend)
            assert got is out
            assert same_bits(out, expect), f"{backend} x={xname} out={oname}"
            assert same_bits(x, before), f"{backend} x={xname} out={oname}: input changed"
        got = func(x, backend=backend)
        assert same_bits(got, expect), f"{backend} x={xname}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_broadcast_input(backend, func, dtype):
    x = np.broadcast_to(np.array([-1.5, 2.5, -0.0], dtype), (4, 3))
    assert x.strides[0] == 0
    got = func(x, backend=backend)
    assert same_bits(got, REFS[func.__name__](np.ascontiguousarray(x)))


def _overlaps(buf: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, x, out) triples where out overlaps x without being the same object."""
    even = 2 * (buf.size // 2)
    sq = buf[:16].reshape(4, 4)
    return [
        ("x=buf[1:] out=buf[:-1]", buf[1:], buf[:-1]),
        ("x=buf[:-1] out=buf[1:]", buf[:-1], buf[1:]),
        ("x=buf[2:] out=buf[:-2]", buf[2:], buf[:-2]),
        ("x=buf out=buf[::-1]", buf, buf[::-1]),
        ("x=buf[::2] out=buf[1::2]", buf[:even:2], buf[1:even:2]),
        ("x=sq out=sq.T", sq, sq.T),
        ("x=buf[:] out=buf[::1]", buf[:], buf[::1]),
    ]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_overlapping_out_same_as_from_a_copy(backend, func, dtype):
    base = random_values(dtype, 41, np.random.default_rng(11))
    for i in range(len(_overlaps(base))):
        name, x, out = _overlaps(base.copy())[i]
        expect = REFS[func.__name__](x.copy())
        got = func(x, out=out, backend=backend)
        assert got is out, name
        assert same_bits(out, expect), f"{backend} {name}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_d_arrays(backend, func, dtype):
    x = np.array(-3.0, dtype)
    got = func(x, backend=backend)
    assert type(got) is np.ndarray and got.shape == () and got.dtype == dtype
    assert same_bits(got, np.array(0.0, dtype))
    x = np.array(2.0, dtype)
    out = np.zeros((), dtype)
    assert func(x, out=out, backend=backend) is out
    assert same_bits(out, REFS[func.__name__](x))


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4), (2, 0, 3)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_arrays(backend, func, dtype, shape):
    x = np.zeros(shape, dtype)
    got = func(x, backend=backend)
    assert type(got) is np.ndarray and got.shape == shape and got.dtype == dtype
    out = np.zeros(shape, dtype)
    assert func(x, out=out, backend=backend) is out
    assert func(x, out=x, backend=backend) is x
    assert func([], backend=backend).shape == (0,)


# --- array-likes ------------------------------------------------------------------------------


@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_array_likes(backend, func):
    ref = REFS[func.__name__]
    floats = [-1.5, 0.0, -0.0, 2.5, float("nan")]
    got = func(floats, backend=backend)
    assert type(got) is np.ndarray and got.dtype == np.float64
    assert same_bits(got, ref(np.array(floats)))

    got = func((-1.5, 2.5), backend=backend)
    assert type(got) is np.ndarray and got.dtype == np.float64
    assert same_bits(got, ref(np.array([-1.5, 2.5])))

    ints = [-3, 0, 4, 2**53]
    got = func(ints, backend=backend)
    assert type(got) is np.ndarray and got.dtype == np.float64
    assert same_bits(got, ref(np.array(ints, np.float64)))

    nested = [[1, -2], [-3, 4]]
    got = func(nested, backend=backend)
    assert got.shape == (2, 2) and got.dtype == np.float64
    assert same_bits(got, ref(np.array(nested, np.float64)))

    f32 = [np.float32(-1), np.float32(2)]  # NumPy float32 scalars keep their dtype
    got = func(f32, backend=backend)
    assert got.dtype == np.float32
    assert same_bits(got, ref(np.array(f32, np.float32)))

    mv = memoryview(np.array([-1.0, 3.0], np.float32))
    got = func(mv, backend=backend)
    assert same_bits(got, ref(np.array([-1.0, 3.0], np.float32)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_array_of_a_number_is_a_0d_array(backend):
    got = relukit.relu_array(5.0, backend=backend)
    assert type(got) is np.ndarray and got.shape == () and got.dtype == np.float64
    assert same_bits(got, np.array(5.0))
    got = relukit.relu_array(-5.0, backend=backend)
    assert same_bits(got, np.array(0.0))
    got = relukit.relu_array(-7, backend=backend)
    assert type(got) is np.ndarray and got.dtype == np.float64 and got.shape == ()
    assert same_bits(got, np.array(0.0))
    got = relukit.relu_array(np.float32(-2.0), backend=backend)
    assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == ()
    assert bits(got).tolist() == [0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_array_out_with_list_input(backend):
    out = np.zeros(3)
    got = relukit.relu_array([-1, 2, -3], out=out, backend=backend)
    assert got is out
    assert same_bits(out, np.array([0.0, 2.0, 0.0]))
    with pytest.raises(TypeError, match="dtype"):
        relukit.relu_array([-1, 2, -3], out=np.zeros(3, np.float32), backend=backend)


def test_unknown_keyword_is_type_error():
    with pytest.raises(TypeError):
        relukit.relu(1.0, bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        relukit.relu(np.zeros(3), np.zeros(3))  # out is keyword-only


# --- the native layers never crash on bad lengths ---------------------------------------------


@pytest.fixture(scope="module")
def cffi_mod():
    from relukit._native import c_kernels

    return c_kernels


@pytest.mark.parametrize(
    ("fname", "ctype"),
    [
        ("relukit_relu_array_f32", "float[]"),
        ("relukit_relu_array_f64", "double[]"),
        ("relukit_relu_grad_array_f32", "float[]"),
        ("relukit_relu_grad_array_f64", "double[]"),
    ],
)
def test_c_array_kernels_reject_mismatched_lengths(cffi_mod, fname, ctype):
    ffi, lib = cffi_mod.ffi, cffi_mod.lib
    f = getattr(lib, fname)
    x = ffi.new(ctype, [-1.0, 2.0, -3.0, 4.0])
    for x_len, y_len in ((4, 3), (3, 4), (4, 0), (0, 4), (4, 5)):
        y = ffi.new(ctype, [9.0] * 5)
        assert f(x, x_len, y, y_len) == lib.RELUKIT_ESIZE
        assert list(y) == [9.0] * 5, "y was written despite ESIZE"
    y = ffi.new(ctype, [9.0] * 4)
    assert f(ffi.NULL, 4, y, 4) == lib.RELUKIT_ESIZE  # NULL with a nonzero length
    assert f(x, 4, ffi.NULL, 4) == lib.RELUKIT_ESIZE
    assert list(y) == [9.0] * 4
    assert f(ffi.NULL, 0, ffi.NULL, 0) == lib.RELUKIT_OK
    assert f(x, 4, y, 4) == lib.RELUKIT_OK
    assert list(y) == ([0.0, 2.0, 0.0, 4.0] if "grad" not in fname else [0.0, 1.0, 0.0, 1.0])
    assert lib.RELUKIT_OK == 0 and lib.RELUKIT_ESIZE != lib.RELUKIT_OK


@pytest.mark.parametrize(
    ("fname", "ctype"),
    [("relukit_dense_forward_f32", "float[]"), ("relukit_dense_forward_f64", "double[]")],
)
def test_c_dense_rejects_bad_lengths_and_overflow(cffi_mod, fname, ctype):
    ffi, lib = cffi_mod.ffi, cffi_mod.lib
    f = getattr(lib, fname)
    batch, n_in, n_out = 2, 3, 2
    x = ffi.new(ctype, [1.0, 2.0, -1.0, 0.5, 0.5, 0.5])
    w = ffi.new(ctype, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    b = ffi.new(ctype, [0.5, -0.5])
    NULL = ffi.NULL

    def call(xl=6, wl=6, bl=2, yl=4, bt=batch, i=n_in, o=n_out, bufs=None):
        y = ffi.new(ctype, [9.0] * 8)
        xs, ws, bs, ys = bufs or (x, w, b, y)
        status = f(xs, xl, ws, wl, bs, bl, ys, yl, bt, i, o)
        return status, list(y)

    status, y = call()
    assert status == lib.RELUKIT_OK
    assert y[:4] == [0.5, 0.5, 1.5, 0.5] and y[4:] == [9.0] * 4
    for bad in (
        {"xl": 5},
        {"xl": 7},
        {"wl": 5},
        {"bl": 3},
        {"yl": 3},
        {"yl": 5},
        {"bt": 3},
        {"i": 2},
        {"o": 3},
    ):
        status, y = call(**bad)
        assert status == lib.RELUKIT_ESIZE, bad
        assert y == [9.0] * 8, f"{bad}: y written despite ESIZE"
    # products that overflow size_t, including ones that wrap around to a matching length
    for bt, i, o, lens in (
        (2**63, 4, 1, (0, 4, 1, 2**63)),
        (2**63, 2, 0, (0, 0, 0, 0)),
        (2**62, 4, 0, (0, 0, 0, 0)),
        (1, 2**63, 2, (2**63, 0, 2, 2)),
        (2**63, 0, 2, (0, 0, 2, 0)),
        (2**64 - 1, 2**64 - 1, 0, (1, 0, 0, 0)),
    ):
        status = f(NULL, lens[0], NULL, lens[1], NULL, lens[2], NULL, lens[3], bt, i, o)
        assert status == lib.RELUKIT_ESIZE, (bt, i, o, lens)
    # NULL with a nonzero length
    status, _ = call(bufs=(NULL, w, b, ffi.new(ctype, 8)))
    assert status == lib.RELUKIT_ESIZE
    # zero sizes are fine, NULL allowed
    assert f(NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0, 0, 0) == lib.RELUKIT_OK
    y = ffi.new(ctype, [9.0, 9.0])
    assert f(NULL, 0, NULL, 0, b, 2, y, 2, 1, 0, 2) == lib.RELUKIT_OK  # in == 0: relu(b)
    assert list(y) == [0.5, 0.0]


@pytest.mark.parametrize("suffix", ["f32", "f64"])
def test_rust_dense_rejects_inconsistent_shapes(suffix):
    from relukit import _native

    f = _native.dense_forward
    dt = np.float32 if suffix == "f32" else np.float64

    def z(*shape):
        return np.zeros(shape, dt)

    cases = [
        ("w rows != in", z(1, 3), z(4, 2), z(2), z(1, 2)),
        ("b length", z(1, 3), z(3, 2), z(3), z(1, 2)),
        ("out columns", z(1, 3), z(3, 2), z(2), z(1, 3)),
        ("out rows", z(1, 3), z(3, 2), z(2), z(2, 2)),
        ("w cols vs out", z(2, 3), z(3, 4), z(2), z(2, 2)),
    ]
    for name, x, w, b, out in cases:
        snapshot = out.copy()
        with pytest.raises(ValueError, match=r"elements|shape"):
            f(x, w, b, out)
        assert np.array_equal(out, snapshot), name
    strided = np.arange(12, dtype=dt).reshape(2, 6)[:, ::2]  # not contiguous: read, not misread
    out = z(2, 2)
    f(strided, np.ones((3, 2), dt), z(2), out)
    assert out.tolist() == [[6.0, 6.0], [24.0, 24.0]]
    with pytest.raises(TypeError):  # wrong dtype
        f(z(1, 3).astype(np.float16), z(3, 2), z(2), z(1, 2))
    with pytest.raises(ValueError, match="2-D"):  # wrong ndim
        f(z(3), z(3, 2), z(2), z(1, 2))
    x, w, b, out = np.ones((1, 3), dt), np.ones((3, 2), dt), np.array([0.5, -4.0], dt), z(1, 2)
    f(x, w, b, out)
    assert out.tolist() == [[3.5, 0.0]]


@pytest.mark.parametrize("suffix", ["f32", "f64"])
@pytest.mark.parametrize("op", ["relu", "relu_grad"])
def test_rust_elementwise_rejects_bad_arrays(op, suffix):
    from relukit import _native

    f = _native.ElementwiseKernel(op, 0).array
    dt = np.float32 if suffix == "f32" else np.float64
    x = np.array([-1.0, 2.0, -3.0], dt)
    for shape in ((4,), (2,), (3, 1), (1, 3), ()):
        out = np.full(shape, 9, dt)
        with pytest.raises(ValueError, match="shape"):
            f(x, out)
        assert np.all(out == 9)
    ro = np.zeros(3, dt)
    ro.flags.writeable = False
    with pytest.raises(Exception, match="writeable"):
        f(x, ro)
    with pytest.raises(Exception, match="writeable"):
        f(ro, ro)
    a, b = x.copy(), x.copy()  # in place and partial overlap: as NumPy's ufuncs
    f(a, a)
    getattr(relukit, op)(b, out=b, backend="numpy")
    assert same_bits(a, b)
    a, b = x.copy(), x.copy()
    f(a[:2], a[1:])
    getattr(relukit, op)(b[:2], out=b[1:], backend="numpy")
    assert same_bits(a, b)
    with pytest.raises(TypeError):
        f(x.astype(np.float16), np.zeros(3, dt))
    out = np.zeros(3, dt)
    f(x, out)
    assert out.tolist() == ([0.0, 2.0, 0.0] if op == "relu" else [0.0, 1.0, 0.0])

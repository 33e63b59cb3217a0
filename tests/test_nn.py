"""relukit.nn.ReLU: the torch.nn.ReLU-style module."""

from __future__ import annotations

import numpy as np
import pytest

import relukit
from conftest import BACKENDS, DTYPES, backend_module
from relukit.conformance import edge_values, ref_relu, same_bits


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_call_and_forward(backend, dtype):
    m = relukit.nn.ReLU(backend=backend)
    assert callable(m) and m.inplace is False and m.backend == backend
    x = edge_values(dtype)
    before = x.copy()
    got = m(x)
    assert got is not x
    assert same_bits(got, ref_relu(x))
    assert same_bits(m.forward(x), got)
    assert same_bits(x, before)  # not in place
    x2 = x.reshape(2, -1)[:, ::-1]
    assert same_bits(m(x2), ref_relu(x2))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_inplace_overwrites_and_returns_its_input(backend, dtype):
    m = relukit.nn.ReLU(inplace=True, backend=backend)
    assert m.inplace is True
    x = edge_values(dtype)
    expect = ref_relu(x)
    got = m(x)
    assert got is x
    assert same_bits(x, expect)
    buf = np.array([-1.0, 5.0, -2.0, 3.0, -4.0], dtype)
    view = buf[::2]
    assert m(view) is view
    assert buf.tolist() == [0.0, 5.0, 0.0, 3.0, 0.0]  # only the view's elements changed


@pytest.mark.parametrize("backend", BACKENDS)
def test_inplace_needs_a_writeable_array(backend):
    m = relukit.nn.ReLU(inplace=True, backend=backend)
    lst = [-1.0, 2.0]
    with pytest.raises(TypeError, match="inplace"):
        m(lst)
    assert lst == [-1.0, 2.0]
    for scalar in (-1.0, 3, np.float32(-1.0)):
        with pytest.raises(TypeError):
            m(scalar)
    ro = np.array([-1.0, 2.0])
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        m(ro)
    with pytest.raises(TypeError, match="dtype"):
        m(np.array([-1, 2]))  # an int array cannot hold the result in place


@pytest.mark.parametrize("backend", BACKENDS)
def test_scalars(backend):
    m = relukit.nn.ReLU(backend=backend)
    assert repr(m(-2.5)) == "0.0" and type(m(-2.5)) is float
    assert m(2.5) == 2.5
    assert m(-3) == 0 and type(m(-3)) is int
    assert m(7) == 7 and type(m(7)) is int
    got = m(np.float32(-1.5))
    assert type(got) is np.float32 and got == 0
    got = m(np.float64(4.0))
    assert type(got) is np.float64 and got == 4.0
    got = m([-1, 2])
    assert type(got) is np.ndarray and got.tolist() == [0.0, 2.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_is_respected(backend, monkeypatch):
    calls = []
    for name in BACKENDS:
        module = backend_module(name)
        for attr in ("relu_array", "relu_float"):
            original = getattr(module, attr)

            def spy(*args, _name=name, _original=original):
                calls.append(_name)
                return _original(*args)

            monkeypatch.setattr(module, attr, spy)
        if module.relu_fast is not None:  # a fast path that takes the call counts too

            def fast_spy(*args, _name=name, _original=module.relu_fast):
                before = len(calls)
                result = _original(*args)
                # taken, and not already counted by a spied function it called (C's float path)
                if result is not NotImplemented and len(calls) == before:
                    calls.append(_name)
                return result

            monkeypatch.setattr(module, "relu_fast", fast_spy)
    other = "python" if backend != "python" else "numpy"
    relukit.set_backend(other)
    with relukit.use_backend(other):
        relukit.nn.ReLU(backend=backend)(np.array([-1.0, 1.0]))
        relukit.nn.ReLU(inplace=True, backend=backend)(np.array([-1.0, 1.0]))
        relukit.nn.ReLU(backend=backend)(-1.0)
        assert calls == [backend] * 3
        calls.clear()
        relukit.nn.ReLU()(np.array([-1.0]))  # no backend: the current choice
        assert calls == [other]


def test_bad_backend():
    with pytest.raises(ValueError, match="valid names"):
        relukit.nn.ReLU(backend="bogus")


def test_repr():
    assert repr(relukit.nn.ReLU()) == "ReLU(inplace=False)"
    assert repr(relukit.nn.ReLU(inplace=True)) == "ReLU(inplace=True)"

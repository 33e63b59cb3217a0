"""relukit on dask arrays: a lazy result of the same chunks and dtype, computed block by block
on the backend chosen at call time, on a LocalCluster of worker processes (loopback only),
equal to the NumPy backend's bits."""

from __future__ import annotations

import dask.array as da
import distributed
import numpy as np
import pytest

import relukit
from conftest import BACKENDS

#: Ops whose bits are the same in every backend (the piecewise-linear ones).
EXACT = {
    "relu": {},
    "relu_grad": {},
    "leaky_relu": {"negative_slope": 0.1},
    "hardtanh_grad": {},
    "threshold": {"threshold": 0.5, "value": -2.0},
}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def data(dtype: type, shape: tuple[int, ...] = (300, 7)) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype) * 4
    x.flat[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-42]
    return x


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_same_chunks_and_dtype(dtype):
    x = da.from_array(data(dtype), chunks=(64, 3))
    for op, params in EXACT.items():
        r = getattr(relukit, op)(x, **params)
        assert isinstance(r, da.Array), op
        assert r.chunks == x.chunks and r.dtype == x.dtype, op


def test_the_backend_chosen_at_call_time_travels_with_the_graph(monkeypatch):
    from relukit.backends import python as python_backend

    ran = []
    real = python_backend.relu_array

    def spy(x, out):
        ran.append(x.shape)
        real(x, out)

    monkeypatch.setattr(python_backend, "relu_array", spy)
    a = data(np.float32)
    x = da.from_array(a, chunks=(100, 7))
    with relukit.use_backend("python"):
        r = relukit.relu(x)
    assert r.name.startswith("relukit-relu-python-") and not ran  # lazy: nothing ran yet
    relukit.set_backend("numpy")  # the setting when it is computed does not matter
    try:
        got = r.compute(scheduler="sync")
    finally:
        relukit.set_backend(None)
    assert ran == [(100, 7)] * 3  # block by block, on the python backend
    assert np.array_equal(bits(got), bits(relukit.relu(a, backend="numpy")))


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cluster_results_equal_the_numpy_backend_bits(client, name, dtype):
    a = data(dtype)
    x = da.from_array(a, chunks=(64, 3))
    for op, params in EXACT.items():
        lazy = getattr(relukit, op)(x, **params, backend=name)
        got = client.compute(lazy).result()
        expected = getattr(relukit, op)(a, **params, backend="numpy")
        assert got.dtype == a.dtype, op
        assert np.array_equal(bits(got), bits(expected)), (name, op)


@pytest.mark.parametrize("name", ["c", "rust"])
def test_cluster_smooth_ops_equal_the_same_backend_on_one_array(client, name):
    a = data(np.float32)
    x = da.from_array(a, chunks=(50, 7))
    for op in ("gelu", "sigmoid", "tanh_grad", "elu"):
        got = client.compute(getattr(relukit, op)(x, backend=name)).result()
        assert np.array_equal(bits(got), bits(getattr(relukit, op)(a, backend=name))), op


def test_cluster_workers_are_other_processes(client):
    import os

    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_prelu_per_channel_on_dask(client):
    a = data(np.float64)
    w = np.linspace(-1.0, 1.0, a.shape[1])
    x = da.from_array(a, chunks=(64, -1))
    got = client.compute(relukit.prelu(x, w, backend="c")).result()
    assert np.array_equal(bits(got), bits(relukit.prelu(a, w, backend="numpy")))
    with pytest.raises(TypeError, match=r"rechunk"):
        relukit.prelu(da.from_array(a, chunks=(64, 3)), w)


def test_bad_dask_input_fails_at_call_time():
    with pytest.raises(TypeError, match="unsupported dtype int64"):
        relukit.relu(da.from_array(np.arange(10), chunks=5))
    x = da.from_array(data(np.float32), chunks=100)
    with pytest.raises(TypeError, match="out= is not supported"):
        relukit.relu(x, out=np.empty(x.shape, x.dtype))

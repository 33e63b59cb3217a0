"""Arrays that are not NumPy's: DLPack producers (PyTorch, JAX, CuPy ...) and dask arrays.

Decided once, for every backend (the facade converts before any backend runs):

- An object with ``__dlpack__`` (a CPU torch tensor, ...) is read zero-copy through
  ``np.from_dlpack``; the result is a NumPy array (``torch.from_numpy(r)`` wraps it back
  without a copy). A tensor that requires grad, one on another device, or of a type NumPy
  cannot hold (bfloat16) raises ``TypeError`` naming the fix. Nothing here imports torch.
- A dask array gives a lazy dask array of the same chunks and dtype, each block computed by
  the backend chosen at call time: the backend's name is an argument of every task, so a
  worker in another process uses the same backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: DLPack's device type of main memory (kDLCPU); kDLCUDAHost (3) is pinned host memory.
_DLPACK_CPU = (1, 3)
_DEVICES = {2: "cuda", 4: "opencl", 7: "vulkan", 8: "metal", 10: "rocm", 14: "oneapi"}


def is_dask(x: Any) -> bool:
    """Whether ``x`` is a dask array (by its type's module: dask is not imported here)."""
    return type(x).__module__.startswith("dask.array") and hasattr(x, "map_blocks")


def _describe(x: Any) -> str:
    dtype = getattr(x, "dtype", None)
    name = f"{type(x).__module__.split('.')[0]}.{type(x).__name__}"
    return f"{name} of dtype {dtype}" if dtype is not None else name


def from_dlpack(x: Any, what: str = "input") -> np.ndarray:
    """``x`` as an ndarray without a copy, through DLPack, or a TypeError that says what to do."""
    if getattr(x, "requires_grad", False) is True:
        raise TypeError(
            f"relukit: the {what} ({_describe(x)}) requires grad; relukit computes no "
            "gradients for it: pass x.detach() (or use the op under torch.no_grad() on "
            "x.detach())"
        )
    device = getattr(x, "__dlpack_device__", None)
    if device is not None:
        kind = device()[0]
        if int(kind) not in _DLPACK_CPU:
            where = _DEVICES.get(int(kind), f"DLPack device type {int(kind)}")
            raise TypeError(
                f"relukit: the {what} ({_describe(x)}) is on {where}; relukit runs on the "
                "CPU: pass x.cpu() (or copy it to host memory)"
            )
    if "bfloat16" in str(getattr(x, "dtype", "")):
        raise TypeError(
            f"relukit: the {what} is bfloat16, which NumPy cannot hold; pass x.float() "
            "(float32) and convert the result back"
        )
    try:
        return np.from_dlpack(x)
    except (BufferError, TypeError, RuntimeError, ValueError) as exc:
        raise TypeError(
            f"relukit: cannot read the {what} ({_describe(x)}) through DLPack ({exc}); "
            "pass a float32 or float64 CPU array"
        ) from None


def _block(
    block: np.ndarray,
    backend: str,
    kernel: str,
    params: tuple[float, ...],
    names: tuple[str, ...],
) -> np.ndarray:
    """One dask block through one kernel on the named backend (runs on the workers)."""
    from relukit._api import _run

    result: np.ndarray = _run(block, None, backend, kernel, params, names)
    return result


def dask_elementwise(
    x: Any,
    out: Any,
    backend: str,
    kernel: str,
    params: tuple[float, ...],
    names: tuple[str, ...],
) -> Any:
    """The lazy dask array of ``kernel`` over the blocks of ``x`` (dtype checked now)."""
    from relukit._validate import check_dtype

    if out is not None:
        raise TypeError(
            "relukit: out= is not supported for a dask array; the result is a new lazy array "
            "(store it with dask.array.store or .to_zarr)"
        )
    dtype = check_dtype(np.empty(0, dtype=x.dtype), "dask array").dtype
    return x.map_blocks(
        _block,
        backend,
        kernel,
        params,
        names,
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype=dtype),
        token=f"relukit-{kernel}-{backend}",  # the key prefix; dask appends a hash
    )


def _prelu_block(block: np.ndarray, weight: np.ndarray, backend: str, grad: bool) -> np.ndarray:
    """One dask block of prelu / prelu_grad with every channel in it (runs on the workers)."""
    import relukit

    fn = relukit.prelu_grad if grad else relukit.prelu
    result: np.ndarray = fn(block, weight, backend=backend)
    return result


def dask_prelu(x: Any, weight: np.ndarray, out: Any, backend: str, grad: bool) -> Any:
    """prelu / prelu_grad of a dask array with per-channel weights (channels on axis 1, which
    must be one chunk so that every block holds every channel)."""
    from relukit._validate import check_dtype

    if out is not None:
        raise TypeError("relukit: out= is not supported for a dask array")
    if len(x.chunks[1]) != 1:
        raise TypeError(
            "relukit: prelu with per-channel weights needs axis 1 of the dask array in one "
            "chunk: pass x.rechunk({1: -1})"
        )
    dtype = check_dtype(np.empty(0, dtype=x.dtype), "dask array").dtype
    return x.map_blocks(
        _prelu_block,
        weight,
        backend,
        grad,
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype=dtype),
        token=f"relukit-prelu{'_grad' if grad else ''}-{backend}",
    )

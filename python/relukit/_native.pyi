"""Types of relukit's native extension (rust/relukit-py): the Rust kernels through pyo3, and
the C kernels' cffi module as the attribute ``c_kernels``. Private: use the ``relukit`` facade."""

from types import ModuleType
from typing import Any, Final, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ElementwiseKernel",
    "affine_forward",
    "c_kernels",
    "dense_backward",
    "dense_fast",
    "dense_forward",
    "get_num_threads",
    "kernel_names",
    "linear_forward",
    "prelu_array",
    "prelu_grad_array",
    "relu_fast",
    "relu_grad_fast",
    "relu_grad_int",
    "relu_int",
    "set_num_threads",
    "split_calls",
    "thresholds",
]

_Array = npt.NDArray[np.float32] | npt.NDArray[np.float64]

class _CKernels(ModuleType):
    """The cffi module of the C kernels (csrc/include/relukit.h)."""

    ffi: Final[Any]  # cffi.FFI: the C declarations
    lib: Final[Any]  # the C functions and constants, relukit_*

c_kernels: Final[_CKernels]

@final
class ElementwiseKernel:
    """One elementwise kernel, resolved by name once: ``ElementwiseKernel("leaky_relu", 1)``."""

    @property
    def name(self) -> str: ...
    @property
    def n_params(self) -> int: ...
    def __new__(cls, name: str, n_params: int) -> ElementwiseKernel: ...
    def scalar(self, x: float, *params: float) -> float: ...
    def array(self, x: _Array, out: _Array, *params: float) -> None: ...

def kernel_names() -> list[str]: ...
def relu_int(x: int) -> int: ...
def relu_grad_int(x: int) -> int: ...
def prelu_array(x: _Array, out: _Array, weight: _Array) -> None: ...
def prelu_grad_array(x: _Array, out: _Array, weight: _Array) -> None: ...
def dense_forward(x: _Array, w: _Array, b: _Array, out: _Array) -> None: ...
def relu_fast(x: object, out: object) -> Any: ...
def relu_grad_fast(x: object, out: object) -> Any: ...
def dense_fast(x: object, w: object, b: object, shape: tuple[int, int] | None = None) -> Any: ...
def linear_forward(x: _Array, w: _Array, b: _Array, out: _Array) -> None: ...
def affine_forward(
    x: _Array,
    w: _Array,
    b: _Array,
    out: _Array,
    activation: str | None,
    params: tuple[float, ...],
) -> None: ...
def dense_backward(
    x: _Array,
    w: _Array,
    dy: _Array,
    dx: _Array | None,
    dw: _Array | None,
    db: _Array | None,
) -> None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def thresholds() -> dict[str, Any]: ...
def split_calls() -> int: ...

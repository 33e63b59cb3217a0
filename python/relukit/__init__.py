"""relukit: ReLU kernels in pure Python, NumPy, C (cffi) and Rust (pyo3) behind one facade.

>>> import relukit
>>> relukit.relu(-2.5), relukit.relu(3)
(0.0, 3)
"""

from relukit import nn
from relukit._api import relu, relu_array, relu_grad
from relukit._backend import (
    BackendUnavailableError,
    available_backends,
    get_backend,
    set_backend,
    use_backend,
)
from relukit._family import (
    elu,
    elu_grad,
    gelu,
    gelu_grad,
    hardtanh,
    hardtanh_grad,
    leaky_relu,
    leaky_relu_grad,
    prelu,
    prelu_grad,
    prelu_weight_grad,
    relu6,
    relu6_grad,
    sigmoid,
    sigmoid_grad,
    tanh,
    tanh_grad,
    threshold,
    threshold_grad,
)
from relukit._threads import get_num_threads, set_num_threads
from relukit.dense import Dense, SimpleNeuralLayer
from relukit.nn import dead_fraction

try:
    from importlib.metadata import version as _version

    __version__ = _version("relukit")
except Exception:  # not installed (running from a source tree)
    __version__ = "0+unknown"

__all__ = [
    "BackendUnavailableError",
    "Dense",
    "SimpleNeuralLayer",
    "__version__",
    "available_backends",
    "dead_fraction",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "get_backend",
    "get_num_threads",
    "hardtanh",
    "hardtanh_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "nn",
    "prelu",
    "prelu_grad",
    "prelu_weight_grad",
    "relu",
    "relu6",
    "relu6_grad",
    "relu_array",
    "relu_grad",
    "set_backend",
    "set_num_threads",
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "threshold",
    "threshold_grad",
    "use_backend",
]

"""relukit: ReLU kernels in pure Python, NumPy, C (cffi) and Rust (pyo3) behind one facade.

>>> import relukit
>>> relukit.relu(-2.5), relukit.relu(3)
(0.0, 3)
"""

from typing import TYPE_CHECKING

from relukit._api import prelu_weight_grad, relu_array
from relukit._backend import (
    BackendUnavailableError,
    available_backends,
    get_backend,
    set_backend,
    use_backend,
)
from relukit._config import show_config
from relukit._threads import get_num_threads, set_num_threads
from relukit.ops import FUNCTIONS as _FUNCTIONS

globals().update(_FUNCTIONS)  # relukit.relu, relukit.leaky_relu, ...: one per row of ops.OPS
if TYPE_CHECKING:  # their overloads, for type checkers (generated from ops.OPS: make stubs)
    from relukit._functions import *  # noqa: F403

from relukit import nn  # noqa: E402  (its modules call the functions above)
from relukit.dense import Dense, SimpleNeuralLayer  # noqa: E402
from relukit.nn import dead_fraction  # noqa: E402

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
    "get_backend",
    "get_num_threads",
    "nn",
    "prelu_weight_grad",
    "relu_array",
    "set_backend",
    "set_num_threads",
    "show_config",
    "use_backend",
]
__all__ += list(_FUNCTIONS)  # relu, leaky_relu, ...: one per row of ops.OPS

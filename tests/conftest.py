"""Shared names and fixtures of the relukit test suite.

Every backend is named explicitly: a backend that should be built but is not makes the tests
that use it error (BackendUnavailableError), never skip.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import relukit

#: Every backend relukit must ship, slowest first (the order of available_backends()).
BACKENDS = ("python", "numpy", "c", "rust")
#: The dtypes every backend must support.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Unsigned integer type of the same width as each float dtype (for bit views).
UINT = {4: np.uint32, 8: np.uint64}

settings.register_profile(
    "default",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("RELUKIT_HYPOTHESIS_PROFILE", "default"))


def backend_module(name: str) -> ModuleType:
    """The module of backend ``name`` (``relukit.backends.<name>``)."""
    return importlib.import_module(f"relukit.backends.{name}")


def bits(a: np.ndarray) -> np.ndarray:
    """The unsigned-integer view of a float array (contiguous copy if needed)."""
    a = np.ascontiguousarray(a)
    return a.view(UINT[a.dtype.itemsize])


@pytest.fixture(autouse=True)
def _reset_backend():
    """No test leaks a global backend choice into the next one."""
    relukit.set_backend(None)
    yield
    relukit.set_backend(None)

"""Module-style wrappers (as ``torch.nn.ReLU``, seed 003)."""

from __future__ import annotations

from typing import Any

import numpy as np

from relukit._api import relu
from relukit._backend import resolve


class ReLU:
    """Callable ReLU module; ``inplace=True`` overwrites its (writeable ndarray) input."""

    def __init__(self, inplace: bool = False, *, backend: str | None = None) -> None:
        if backend is not None:
            resolve(backend)
        self.inplace = bool(inplace)
        self.backend = backend

    def forward(self, x: Any) -> Any:
        if self.inplace:
            if not isinstance(x, np.ndarray):
                raise TypeError("relukit: ReLU(inplace=True) needs a writeable NumPy array input")
            return relu(x, out=x, backend=self.backend)
        return relu(x, backend=self.backend)

    __call__ = forward

    def __repr__(self) -> str:
        return f"ReLU(inplace={self.inplace})"

"""NumPy backend: ufuncs, written to the numeric contract.

``np.maximum(x, 0)`` is exactly the contract for relu (NaN kept, -0.0 -> +0.0); the argument
order matters, ``np.maximum(0, x)`` keeps -0.0.
"""

from __future__ import annotations

import numpy as np

NAME = "numpy"


def relu_float(x: float) -> float:
    return float(np.maximum(x, 0.0))


def relu_int(x: int) -> int:
    return int(np.maximum(np.int64(x), 0))


def relu_grad_float(x: float) -> float:
    return x if x != x else float(x > 0.0)


def relu_grad_int(x: int) -> int:
    return int(x > 0)


def relu_array(x: np.ndarray, out: np.ndarray) -> None:
    np.maximum(x, 0, out=out)


def relu_grad_array(x: np.ndarray, out: np.ndarray) -> None:
    nan = np.isnan(x)
    positive = np.greater(x, 0)
    np.copyto(out, x, where=nan)  # NaN propagates with its bits (a no-op in place)
    np.copyto(out, positive, where=~nan)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.matmul(x, w, out=out)
    out += b
    np.maximum(out, 0, out=out)


relu_fast = relu_grad_fast = dense_fast = None  # the facade's validated path only


# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.matmul(x, w, out=out)
    out += b


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    if dx is not None:
        np.matmul(dy, w.T, out=dx)
    if dw is not None:
        np.matmul(x.T, dy, out=dw)
    if db is not None:
        np.sum(dy, axis=0, out=db)

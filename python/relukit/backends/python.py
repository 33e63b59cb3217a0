"""Pure Python backend: the guide's Python written to the numeric contract.

The guide's ``max(0, x)`` returns the int 0 for negative floats and drops NaN; here every
element goes through plain Python floats, and a NaN's exact bits are copied through (a
float32 signalling NaN would otherwise come back quieted by the float32 -> float conversion).
NumPy only supplies the buffers; the arithmetic is Python's.
"""

from __future__ import annotations

import numpy as np

from relukit.backends._layout import flat_pair

NAME = "python"
_BITS = {"f": "I", "d": "Q"}  # float code -> unsigned int code of the same width


def relu_float(x: float) -> float:
    return x if x > 0.0 or x != x else 0.0


def relu_int(x: int) -> int:
    return x if x > 0 else 0


def relu_grad_float(x: float) -> float:
    if x != x:
        return x
    return 1.0 if x > 0.0 else 0.0


def relu_grad_int(x: int) -> int:
    return 1 if x > 0 else 0


def _views(a: np.ndarray) -> tuple[memoryview, memoryview]:
    raw = memoryview(a).cast("B")
    return raw.cast(a.dtype.char), raw.cast(_BITS[a.dtype.char])


def _elementwise(x: np.ndarray, out: np.ndarray, positive: bool) -> None:
    """out = relu(x) (positive=False: x for x > 0) or relu_grad(x) (positive=True: 1.0)."""
    xf, yf, finish = flat_pair(x, out)
    xs, xbits = _views(xf)
    ys, ybits = _views(yf)
    for i, v in enumerate(xs):
        if v != v:
            ybits[i] = xbits[i]  # NaN: keep its exact bits
        elif v > 0.0:
            ys[i] = 1.0 if positive else v
        else:
            ys[i] = 0.0
    if finish is not None:
        finish()


def relu_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(x, out, positive=False)


def relu_grad_array(x: np.ndarray, out: np.ndarray) -> None:
    _elementwise(x, out, positive=True)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """The guide's layer loop: for each output, sum x[k] * w[k][j] over k, add b[j], relu."""
    weights = w.tolist()
    biases = b.tolist()
    rows = []
    for inputs in x.tolist():
        row = [0.0] * len(biases)
        for j, bias in enumerate(biases):
            acc = 0.0
            for k, value in enumerate(inputs):
                acc += value * weights[k][j]
            row[j] = relu_float(acc + bias)
        rows.append(row)
    with np.errstate(over="ignore"):  # a float32 layer's sums may overflow to inf, as in C
        out[...] = np.array(rows, dtype=np.float64).reshape(out.shape)


relu_fast = relu_grad_fast = dense_fast = None  # the facade's validated path only


# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------
# Plain Python loops over Python floats (float64 sums, one rounding to the array's dtype at
# the end): for small tests and as a readable reference, not for speed.


def _store(out: np.ndarray, rows: list) -> None:
    with np.errstate(over="ignore"):  # float32 results may overflow to inf, as in C
        out[...] = np.array(rows, dtype=np.float64).reshape(out.shape)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """y[r][j] = b[j] + sum over k of x[r][k] * w[k][j]."""
    weights = w.tolist()
    biases = b.tolist()
    rows = []
    for inputs in x.tolist():
        row = []
        for j, bias in enumerate(biases):
            acc = bias
            for k, value in enumerate(inputs):
                acc += value * weights[k][j]
            row.append(acc)
        rows.append(row)
    _store(out, rows)


def dense_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
) -> None:
    """dx = dy @ w.T, dw = x.T @ dy, db = column sums of dy, one element at a time."""
    xs, ws, dys = x.tolist(), w.tolist(), dy.tolist()
    n_in, n_out = w.shape
    if dx is not None:
        rows = []
        for g in dys:
            rows.append([sum(g[j] * ws[k][j] for j in range(n_out)) for k in range(n_in)])
        _store(dx, rows)
    if dw is not None:
        rows = []
        for k in range(n_in):
            row = []
            for j in range(n_out):
                acc = 0.0
                for r, g in enumerate(dys):
                    acc += xs[r][k] * g[j]
                row.append(acc)
            rows.append(row)
        _store(dw, rows)
    if db is not None:
        _store(db, [sum((g[j] for g in dys), 0.0) for j in range(n_out)])

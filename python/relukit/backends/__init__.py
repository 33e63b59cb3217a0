"""relukit's backends, one module each, all with the same functions.

Every backend module defines ``NAME`` and, for each op (``relu``, ``relu_grad``):

- ``<op>_float(x: float) -> float`` and ``<op>_int(x: int) -> int`` for Python numbers
  (ints already checked to lie in int64),
- ``<op>_array(x, out) -> None`` writing into ``out``, under the guarantees of
  :func:`relukit._validate.array_and_out` (same shape and dtype, float32/float64, ``out`` is
  ``x`` or does not overlap it; any memory layout),

and ``dense_forward(x, w, b, out) -> None`` for C-contiguous arrays of one dtype:
x (batch, in), w (in, out), b (out,), out (batch, out), computing ``relu(x @ w + b)``.
"""

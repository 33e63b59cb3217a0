"""relukit's backends, one module each, all with the same functions.

Every backend module defines ``NAME`` and, for each op (``relu``, ``relu_grad``):

- ``<op>_float(x: float) -> float`` and ``<op>_int(x: int) -> int`` for Python numbers
  (ints already checked to lie in int64),
- ``<op>_array(x, out) -> None`` writing into ``out``, under the guarantees of
  :func:`relukit._validate.array_and_out` (same shape and dtype, float32/float64, ``out`` is
  ``x`` or does not overlap it; any memory layout),

and ``dense_forward(x, w, b, out) -> None`` for C-contiguous arrays of one dtype:
x (batch, in), w (in, out), b (out,), out (batch, out), computing ``relu(x @ w + b)``.

Optional fast paths, ``None`` where a backend has none (the facade checks for that):

- ``relu_fast(x, out)`` / ``relu_grad_fast(x, out)``: the whole facade call in one step for
  the inputs the backend can take cheaply (say, an exact ``ndarray`` of float32/float64 with
  ``out`` None or a matching, writeable, non-overlapping array, or ``x`` itself). For
  anything else it returns ``NotImplemented`` *without raising*, and the facade takes the
  validated path, so every error message still comes from :mod:`relukit._validate`.
- ``dense_fast(x, w, b)``: ``relu(x @ w + b)`` as a new array for an exact ``ndarray`` ``x``
  of ``w``'s dtype, shape (in,) or (batch, in), C-contiguous; ``NotImplemented`` otherwise.

and ``set_num_threads(n: int) -> None`` where a backend splits work over threads (the value
comes from :func:`relukit.set_num_threads`; called at import and on every change).
"""

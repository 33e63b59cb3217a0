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
- ``dense_fast(x, w, b, shape=None)``: ``relu(x @ w + b)`` as a new array for an exact
  ``ndarray`` ``x`` of ``w``'s dtype, shape (in,) or (batch, in), C-contiguous, with ``w`` of
  ``shape`` when given (a layer passes its own ``(in, out)``, so the fast path, which checks
  every array itself, also declines a parameter reshaped in place); ``NotImplemented``
  otherwise.

For ``relukit.nn`` (each backend module's last section), on C-contiguous arrays of one dtype
(float32/float64) whose shapes the caller (:mod:`relukit.nn`) has checked; the C and Rust
kernels check the lengths again and raise ValueError on a mismatch:

- ``linear_forward(x, w, b, out) -> None``: ``out = x @ w + b`` (the affine map of
  ``nn.Linear``, no activation), x (batch, in), w (in, out), b (out,), out (batch, out).
- ``dense_backward(x, w, dy, dx, dw, db) -> None``: the gradients of ``x @ w + b`` given
  ``dy`` (batch, out): ``dx = dy @ w.T`` (batch, in), ``dw = x.T @ dy`` (in, out),
  ``db = dy.sum(0)`` (out,), each written over (not added to) its array; any of ``dx``,
  ``dw``, ``db`` may be ``None`` (not computed). Outputs do not overlap the inputs. For a
  ``Dense`` layer (with its ReLU) pass ``dy * relu_grad(y)``. Sums round differently per
  backend (NumPy calls BLAS; C and Rust add in the order of ``csrc/relukit.h`` and agree bit
  for bit; python sums in float64): every result is within the dot-product bound of the
  README's dense section, with K the length of the sum (out for dx, batch for dw and db).

and ``set_num_threads(n: int) -> None`` where a backend splits work over threads (the value
comes from :func:`relukit.set_num_threads`; called at import and on every change).
"""

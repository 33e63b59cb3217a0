"""What a backend's fast path may take: the one acceptance spec, as code.

A fast path (``relu_fast(x, out)``, ``relu_grad_fast(x, out)``, ``dense_fast(x, w, b)``; see
:mod:`relukit.backends`) runs the whole facade call in one step. It may *decline* any call by
returning ``NotImplemented`` without raising and without writing anything; the facade then
takes the validated path (:mod:`relukit._validate`), which gives every error message. It may
*take* a call only when the predicate below says so, and then its result must be bit for bit
the validated path's result (and be ``out`` itself when ``out`` was given).

Elementwise (:func:`fast_path_may_take`):

- ``x`` an exact :class:`numpy.ndarray` (no subclass) of native-byte-order float32 or float64,
  aligned, C- or F-contiguous (any ndim, 0-d and empty included); and
- ``out`` either ``None`` (the result is allocated like ``np.empty_like(x)``) or an exact,
  aligned, writeable ndarray of x's dtype and shape, contiguous in the same order as x, that
  either starts at x's data pointer (``out is x``: in place) or shares no byte with x.
- Or ``x`` a Python ``float`` (for relu and relu_grad also a Python ``int`` within int64) with
  ``out`` None: the scalar kernel.

Dense (:func:`dense_fast_may_take`): ``x`` an exact ndarray of w's dtype, shape ``(in,)`` or
``(batch, in)``, C-contiguous and aligned; ``w`` and ``b`` exact C-contiguous ndarrays of that
dtype (native float32 or float64) with ``w`` of shape ``(in, out)`` and ``b`` of ``(out,)``;
when the caller passes ``shape`` (a layer passes its own), ``w.shape == shape`` too.

These predicates are the reference the test suite holds every fast path to; a fast path may
check less expensively (say, by asking for a plain buffer), as long as it never takes more.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _float_dtype(dt: np.dtype) -> bool:
    """Native-byte-order float32 or float64 (``==`` also rejects the byte-swapped forms)."""
    return any(dt == f and dt.isnative for f in _FLOATS)


def _contiguous_array(a: Any) -> bool:
    """An exact, aligned, C- or F-contiguous ndarray of native float32/float64."""
    return (
        type(a) is np.ndarray
        and _float_dtype(a.dtype)
        and a.flags.aligned
        and (a.flags.c_contiguous or a.flags.f_contiguous)
    )


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _disjoint(x: np.ndarray, out: np.ndarray) -> bool:
    """No byte in common (both contiguous: each spans ``nbytes`` from its data pointer)."""
    if x.nbytes == 0 or out.nbytes == 0:
        return True
    px, po = _address(x), _address(out)
    return px + x.nbytes <= po or po + out.nbytes <= px


def fast_path_may_take(x: Any, out: Any, *, ints: bool = True) -> bool:
    """Whether an elementwise fast path may take ``op(x, out=out)`` instead of declining.

    ``ints`` says whether Python ints go to the scalar kernel (true for relu and relu_grad,
    the ops with an int kernel).
    """
    if out is None:
        if type(x) is float:
            return True
        if type(x) is int:
            return ints and _INT64_MIN <= x <= _INT64_MAX
    if not _contiguous_array(x):
        return False
    if out is None:
        return True
    if not _contiguous_array(out) or out.dtype != x.dtype or out.shape != x.shape:
        return False
    if not out.flags.writeable:
        return False
    same_order = (x.flags.c_contiguous and out.flags.c_contiguous) or (
        x.flags.f_contiguous and out.flags.f_contiguous
    )
    if not same_order:
        return False
    return out is x or _address(out) == _address(x) or _disjoint(x, out)


def dense_fast_may_take(x: Any, w: Any, b: Any, shape: tuple[int, int] | None = None) -> bool:
    """Whether ``dense_fast(x, w, b, shape)`` may compute ``relu(x @ w + b)`` instead of
    declining."""
    if type(w) is not np.ndarray or type(b) is not np.ndarray or type(x) is not np.ndarray:
        return False
    if shape is not None and w.shape != shape:
        return False
    dt = w.dtype
    if not _float_dtype(dt) or b.dtype != dt or x.dtype != dt:
        return False
    if not (w.flags.c_contiguous and b.flags.c_contiguous):
        return False
    if w.ndim != 2 or b.shape != (w.shape[1],):
        return False
    n_in = w.shape[0]
    if x.shape != (n_in,) and not (x.ndim == 2 and x.shape[1] == n_in):
        return False
    return x.flags.c_contiguous and x.flags.aligned

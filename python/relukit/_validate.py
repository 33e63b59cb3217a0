"""Argument checks shared by every backend: the facade normalises once, backends compute.

After :func:`array_and_out` a backend may assume: ``x`` and ``out`` are ndarrays of the same
shape and dtype (native float32 or float64), ``out`` is writeable, no two elements of ``out``
share a byte, and ``out`` is either ``x`` itself (in place) or shares no memory with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_dtype(a: np.ndarray, what: str = "input") -> np.ndarray:
    """Return ``a`` if its dtype is native float32/float64, else raise TypeError."""
    dt = a.dtype
    if dt in (F32, F64):
        return a
    if dt.kind == "f" and dt.newbyteorder("=") in (F32, F64):
        raise TypeError(
            f"relukit: {what} has non-native byte order {dt.str!r}; use .astype({dt.name!r})"
        )
    raise TypeError(f"relukit: unsupported dtype {dt} for {what}; use float32 or float64 arrays")


def check_int(x: int) -> int:
    """Python ints are supported within int64, the same range in every backend."""
    if INT64_MIN <= x <= INT64_MAX:
        return x
    raise OverflowError(f"relukit: int {x} is outside the int64 range every backend supports")


def to_array(x: Any, what: str = "input") -> np.ndarray:
    """``np.asarray(x)`` with relukit's errors: TypeError for None, text, mappings and masked
    arrays, ValueError (not NumPy's message alone) for ragged nested lists."""
    if x is None or isinstance(x, (str, bytes, bytearray, dict, set)):
        raise TypeError(
            f"relukit: {what} must be a number or an array of numbers, got {type(x).__name__}"
        )
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError("relukit: masked arrays are not supported; pass x.filled(...) instead")
    if hasattr(x, "__dlpack__") and not isinstance(x, (np.ndarray, np.generic)):
        from relukit._interop import from_dlpack  # torch and other DLPack producers

        return from_dlpack(x, what)
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise ValueError(
            f"relukit: cannot make a rectangular array from the {what}: {exc}"
        ) from None


def as_float_array(x: Any) -> np.ndarray:
    """Convert an array-like (list, tuple, buffer, ndarray subclass) to a float ndarray.

    Integer data becomes float64; float32/float64 keep their dtype; anything else is a TypeError.
    """
    if isinstance(x, int) and not isinstance(x, bool):
        check_int(x)
    a = to_array(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return check_dtype(a)
    if a.dtype.kind in "fuO" and _has_big_int(x):  # NumPy would make them float or object
        raise OverflowError("relukit: the input holds ints outside the int64 range")
    if a.dtype.kind in "iu":
        return a.astype(F64)
    if a.dtype.kind == "O":
        raise TypeError("relukit: the input holds objects that are not numbers (e.g. None)")
    return check_dtype(a)


def _has_big_int(x: Any) -> bool:
    """Whether a (nested) list or tuple holds a Python int outside int64."""
    if not isinstance(x, (list, tuple)):
        return False
    items = np.asarray(x, dtype=object).flat
    return any(type(v) is int and not INT64_MIN <= v <= INT64_MAX for v in items)


def has_internal_overlap(a: np.ndarray) -> bool:
    """Whether two elements of ``a`` may share a byte (a zero-stride or self-overlapping view).

    Conservative: with the dimensions sorted by |stride|, each |stride| must be at least the
    byte extent of the smaller ones; a view that fails that test may still not overlap (it is
    then treated as overlapping, which costs a copy, never a wrong answer).
    """
    if a.flags.c_contiguous or a.flags.f_contiguous or a.size <= 1:
        return False
    extent = a.itemsize
    for stride, n in sorted((abs(s), n) for s, n in zip(a.strides, a.shape, strict=True) if n > 1):
        if stride < extent:
            return True
        extent += stride * (n - 1)
    return False


def array_and_out(x: np.ndarray, out: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``out`` against ``x`` (or allocate it) and resolve memory overlap.

    Returns ``(x, work)``: the kernel reads ``x`` and writes ``work``. ``work`` is ``out``
    itself, or (``out`` None) a new array, or -- when ``out`` has internal overlap (two of its
    elements share a byte: a zero-stride view) -- a new temporary that the caller copies into
    ``out`` afterwards (:func:`finish`), as NumPy's ufuncs do; x is then read from a copy if it
    shares memory with ``out``.
    """
    if out is None:
        return x, np.empty_like(x)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"relukit: out must be a NumPy array, got {type(out).__name__}")
    if out.dtype != x.dtype:
        raise TypeError(f"relukit: out has dtype {out.dtype}, the input has {x.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"relukit: out has shape {out.shape}, the input has {x.shape}")
    if not out.flags.writeable:
        raise ValueError("relukit: out is read-only")
    if has_internal_overlap(out):
        if np.may_share_memory(x, out):
            x = x.copy()
        return x, np.empty(x.shape, x.dtype)
    if out is x:
        return x, out
    if (x.flags.owndata and out.flags.owndata) or not np.may_share_memory(x, out):
        return x, out  # two arrays that own their data never overlap: skip the bounds test
    if (
        x.__array_interface__["data"][0] == out.__array_interface__["data"][0]
        and x.strides == out.strides
    ):
        return out, out  # the same elements under another view: in place
    return x.copy(), out  # partial overlap: read from a copy, as NumPy ufuncs do


def finish(out: np.ndarray | None, work: np.ndarray) -> np.ndarray:
    """The result of a call given ``out`` and the ``work`` array :func:`array_and_out` gave:
    ``work`` copied into ``out`` where it was a temporary."""
    if out is None or work is out:
        return work
    np.copyto(out, work)
    return out

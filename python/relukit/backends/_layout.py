"""Flat views for backends whose kernels take one contiguous buffer (python, c)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def flat_pair(
    x: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Callable[[], None] | None]:
    """1-D contiguous arrays ``(xf, yf)`` pairing x and out element by element.

    Views when x and out share a contiguous layout (no copy); otherwise x is copied into
    out's layout, and if out itself is not contiguous the kernel transforms a contiguous copy
    of x in place and the returned ``finish`` callback copies it into out: one full-size
    temporary, also when out is x.
    """
    if x.flags.c_contiguous and out.flags.c_contiguous:
        if x.ndim == 1:
            return x, out, None
        return x.reshape(-1), out.reshape(-1), None
    if x.flags.f_contiguous and out.flags.f_contiguous:
        return x.reshape(-1, order="F"), out.reshape(-1, order="F"), None
    if out.flags.c_contiguous:
        return np.ascontiguousarray(x).reshape(-1), out.reshape(-1), None
    if out.flags.f_contiguous:
        return np.asfortranarray(x).reshape(-1, order="F"), out.reshape(-1, order="F"), None
    xc = np.array(x, order="C", copy=True)  # private: the kernel overwrites it
    flat = xc.reshape(-1)
    return flat, flat, lambda: np.copyto(out, xc)

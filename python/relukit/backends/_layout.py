"""Flat views for backends whose kernels take one contiguous buffer (python, c)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def flat_pair(
    x: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Callable[[], None] | None]:
    """1-D contiguous arrays ``(xf, yf)`` pairing x and out element by element.

    Views when x and out share a contiguous layout (no copy); otherwise x is copied into
    out's layout, and if out itself is not contiguous the result goes to a temporary that the
    returned ``finish`` callback copies into out.
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
    xc = np.ascontiguousarray(x)  # a copy: x is not contiguous either, since out is not
    tmp = np.empty_like(xc)
    return xc.reshape(-1), tmp.reshape(-1), lambda: np.copyto(out, tmp)

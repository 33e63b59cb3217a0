"""How many threads the C and Rust kernels may split one large call over.

``RELUKIT_NUM_THREADS`` is read once, at import; :func:`set_num_threads` changes the value at
run time (process-wide: the kernels' thread pools are shared) and ``None`` restores the
default, the environment's value or else the CPUs this process may run on. Small calls always
run on the calling thread; each backend documents its split threshold.
"""

from __future__ import annotations

import os
from collections.abc import Callable

ENV_VAR = "RELUKIT_NUM_THREADS"

_listeners: list[Callable[[int], None]] = []


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check(n: object, source: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"relukit: {source} must be an int >= 1, got {n!r}")
    if n < 1:
        raise ValueError(f"relukit: {source} must be >= 1, got {n}")
    return n


def _from_env() -> int | None:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"relukit: {ENV_VAR}={raw!r} is not an integer >= 1") from None
    return _check(value, ENV_VAR)


_env: int | None = _from_env()
_current: int = _env or cpu_count()


def get_num_threads() -> int:
    """The number of threads a large C or Rust kernel call may use."""
    return _current


def set_num_threads(n: int | None) -> None:
    """Let large C and Rust calls use ``n`` threads (1 = never split); ``None`` = default."""
    global _current
    _current = (_env or cpu_count()) if n is None else _check(n, "set_num_threads(n)")
    for apply in _listeners:
        apply(_current)


def register(apply: Callable[[int], None]) -> None:
    """Called by the backend registry for each backend with a ``set_num_threads``."""
    _listeners.append(apply)
    apply(_current)

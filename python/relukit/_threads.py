"""How many threads the C and Rust kernels may split one large call over.

``RELUKIT_NUM_THREADS`` is read once, at import; :func:`set_num_threads` changes the value at
run time (process-wide: the kernels' thread pools are shared) and ``None`` restores the
default, the environment's value or else the CPUs this process may run on. Small calls always
run on the calling thread; each backend documents its split threshold.

The C and Rust thread pools run at most :data:`MAX_THREADS` threads (a backend module may say
a lower cap of its own as ``MAX_THREADS``): a larger request is clamped to the cap, and
:func:`get_num_threads` reports the count that runs. A request is checked completely before
anything is stored or passed on, so a rejected one leaves the setting as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable

ENV_VAR = "RELUKIT_NUM_THREADS"
#: The most threads the kernels' pools run (csrc's relukit_max_threads, Rust's
#: pool::MAX_THREADS).
MAX_THREADS = 64

_listeners: list[Callable[[int], None]] = []
_cap: int = MAX_THREADS


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
_requested: int = _env or cpu_count()
_current: int = min(_requested, _cap)


def get_num_threads() -> int:
    """The number of threads a large C or Rust kernel call may use (what runs: at most
    :data:`MAX_THREADS`)."""
    return _current


def set_num_threads(n: int | None) -> None:
    """Let large C and Rust calls use ``n`` threads (1 = never split; more than the pools'
    cap, :data:`MAX_THREADS`, runs the cap); ``None`` = the default (``RELUKIT_NUM_THREADS``,
    else the CPUs this process may run on). TypeError / ValueError leave the setting as is."""
    global _current, _requested
    requested = (_env or cpu_count()) if n is None else _check(n, "set_num_threads(n)")
    current = min(requested, _cap)
    for apply in _listeners:
        apply(current)
    _requested, _current = requested, current


def register(apply: Callable[[int], None], cap: int | None = None) -> None:
    """Called by the backend registry for each backend with a ``set_num_threads`` (``cap``:
    the backend's own ``MAX_THREADS``, if it has one, lowers the cap for all)."""
    global _cap, _current
    if cap is not None and cap >= 1:
        _cap = min(_cap, int(cap))
        _current = min(_requested, _cap)
    _listeners.append(apply)
    for listener in _listeners:
        listener(_current)

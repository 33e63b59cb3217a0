"""Backend registry and selection (the import policy).

Precedence: per-call ``backend=`` > ``use_backend`` > ``set_backend`` > ``RELUKIT_BACKEND`` >
``"auto"``. ``"auto"`` takes the first backend of :data:`AUTO_ORDER` that imports. Naming a
backend that is not built raises :class:`BackendUnavailableError` (an ``ImportError``); an
unknown name raises ``ValueError`` listing the valid ones.
"""

from __future__ import annotations

import contextvars
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from relukit import _threads

#: Every backend relukit knows, slowest first.
BACKENDS: tuple[str, ...] = ("python", "numpy", "c", "rust")
#: What "auto" tries, in order: the lowest call overhead first.
AUTO_ORDER: tuple[str, ...] = ("rust", "c", "numpy", "python")
ENV_VAR = "RELUKIT_BACKEND"


class BackendUnavailableError(ImportError):
    """A backend was named explicitly but cannot be loaded (not built, or failed to import)."""


_loaded: dict[str, ModuleType] = {}
_failed: dict[str, str] = {}
_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "relukit_backend", default=None
)
_global: str | None = None
#: Read once, at import (as python-zstandard does); set_backend() overrides it at run time.
_env: str | None = os.environ.get(ENV_VAR) or None


def _check_name(name: object, source: str = "backend") -> str:
    if not isinstance(name, str) or (name != "auto" and name not in BACKENDS):
        valid = ", ".join(repr(n) for n in ("auto", *BACKENDS))
        raise ValueError(f"{source}={name!r} is not a relukit backend; valid names: {valid}")
    return name


def _import(name: str) -> ModuleType | None:
    """Import backend ``name`` once; remember why it failed."""
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        return None
    try:
        module = importlib.import_module(f"relukit.backends.{name}")
    except ImportError as exc:  # not built, or a dependency is missing
        _failed[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = module
    apply_threads = getattr(module, "set_num_threads", None)
    if apply_threads is not None:
        _threads.register(apply_threads, getattr(module, "MAX_THREADS", None))
    return module


def load(name: str, source: str = "backend") -> ModuleType:
    """The backend module for ``name`` ("auto" resolved), or raise."""
    module = _loaded.get(name)
    if module is not None:
        return module
    _check_name(name, source)
    if name == "auto":
        for candidate in AUTO_ORDER:
            module = _import(candidate)
            if module is not None:
                _loaded["auto"] = module
                return module
        raise BackendUnavailableError("no relukit backend could be loaded: " + repr(_failed))
    module = _import(name)
    if module is None:
        raise BackendUnavailableError(
            f"relukit backend {name!r} is not available ({_failed[name]}); "
            f"available: {available_backends()}"
        )
    return module


def resolve(backend: str | None = None) -> ModuleType:
    """The backend a call runs on, by the precedence rules."""
    if backend is None:
        backend = _context.get() or _global
        if backend is None:
            if _env is not None:
                return load(_env, ENV_VAR)
            backend = "auto"
    module = _loaded.get(backend)  # the common case: one dict look-up
    return module if module is not None else load(backend)


def available_backends() -> list[str]:
    """Names of the backends that load on this installation, slowest first."""
    return [name for name in BACKENDS if _import(name) is not None]


def get_backend() -> str:
    """Name of the backend a call without ``backend=`` would run on now ("auto" resolved)."""
    return resolve().NAME


def set_backend(name: str | None) -> None:
    """Set the process-wide backend ("auto" included, overriding ``RELUKIT_BACKEND``);
    ``None`` goes back to the default (``RELUKIT_BACKEND``, else "auto")."""
    global _global
    if name is not None:
        load(name)  # fail now, not at the next call
    _global = name


@contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Run the block on backend ``name`` (per thread and per asyncio task: contextvars)."""
    module = load(name)
    token = _context.set(name)
    try:
        yield module.NAME
    finally:
        _context.reset(token)

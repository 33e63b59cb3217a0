"""``relukit.show_config()``: what this installation built and what runs now.

Like ``numpy.show_config()``: the version, the backends that load (and why one does not), the
SIMD path each native backend chose, the caches and cores they detected, the thresholds and
thread count in force, and the compilers that built the extension.
"""

from __future__ import annotations

import os
import platform
import struct
import sys
from pathlib import Path
from typing import Any, Literal, overload

from relukit import _backend, _threads

_KiB = 1024


def _elf_comments(path: str) -> list[str]:
    """The strings of an ELF file's ``.comment`` section (each compiler and linker that made
    it writes one there, e.g. ``GCC: (Debian 14.2.0-19) 14.2.0``); [] if there is none."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # 64-bit little-endian only
        return []
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    if not headers or shstrndx >= shnum:
        return []
    names_at = headers[shstrndx][4]
    for name, _type, _flags, _addr, offset, size in headers:
        end = data.index(b"\0", names_at + name)
        if data[names_at + name : end] == b".comment":
            raw = data[offset : offset + size]
            return sorted({s.decode(errors="replace") for s in raw.split(b"\0") if s})
    return []


def _compilers() -> dict[str, Any]:
    """The compilers that built the native extension (from its ``.comment`` section) and the
    C compiler this Python was configured with (what a source build picks by default)."""
    import sysconfig

    found: dict[str, Any] = {"python_cc": sysconfig.get_config_var("CC")}
    try:
        from relukit import _native
    except ImportError:
        return found
    comments = _elf_comments(getattr(_native, "__file__", "") or "")
    found["extension"] = comments or None
    rustc = [c for c in comments if c.startswith("rustc")]
    cc = [c for c in comments if not c.startswith(("rustc", "Linker"))]
    found["rustc"] = rustc[0] if rustc else None
    found["c"] = cc or None
    return found


def _backends() -> dict[str, Any]:
    available = _backend.available_backends()
    return {
        name: "built" if name in available else f"missing: {_backend._failed.get(name)}"
        for name in _backend.BACKENDS
    }


def _c_runtime() -> dict[str, Any] | None:
    try:
        module = _backend.load("c")
    except ImportError:
        return None
    info: dict[str, Any] = module.runtime_info()
    info["threads"] = module.get_num_threads()
    return info


def _rust_runtime() -> dict[str, Any] | None:
    try:
        _backend.load("rust")
        from relukit import _native
    except ImportError:
        return None
    info: dict[str, Any] = dict(_native.thresholds())
    return info


def config() -> dict[str, Any]:
    """What :func:`show_config` prints, as a dict (JSON-serialisable)."""
    import numpy as np

    from relukit import __version__

    return {
        "relukit": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "backends": _backends(),
        "default_backend": _backend.get_backend(),
        "threads": _threads.get_num_threads(),
        "c": _c_runtime(),
        "rust": _rust_runtime(),
        "compilers": _compilers(),
    }


def _size(n: int) -> str:
    for unit, scale in (("MiB", _KiB * _KiB), ("KiB", _KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def format_config(cfg: dict[str, Any]) -> str:
    """The text :func:`show_config` prints."""
    lines = [
        f"relukit {cfg['relukit']} (Python {cfg['python']}, NumPy {cfg['numpy']}, "
        f"{cfg['platform']})",
        "backends:",
    ]
    lines += [f"  {name:<7} {state}" for name, state in cfg["backends"].items()]
    lines.append(f"default backend: {cfg['default_backend']}; threads: {cfg['threads']}")
    c = cfg["c"]
    forced_env = os.environ.get("RELUKIT_FORCE_PORTABLE")
    if c is not None:
        c_forced = (
            f" (RELUKIT_FORCE_PORTABLE={forced_env})"
            if c["simd"] == "portable" and forced_env
            else ""
        )
        lines += [
            "c:",
            f"  simd: {c['simd']}{c_forced}; CPU has FMA: {'yes' if c['fma'] else 'no'}",
            f"  caches ({c['cache_source']}): L2 {_size(c['l2_bytes'])}, "
            f"L3 {_size(c['l3_bytes'])} shared by {c['l3_cpus']} CPUs "
            f"(share {_size(c['l3_share_bytes'])}); CPUs {c['cpus']}",
            f"  threads: {c['threads']} (max {c['max_threads']})",
            f"  non-temporal stores above {_size(c['nt_bytes'])} "
            f"(+ {_size(c['nt_bytes_per_thread'])} per thread); "
            f"split elementwise at {_size(c['split_bytes'])}, "
            f"dense at {c['dense_split_macs']} multiply-adds",
        ]
    r = cfg["rust"]
    if r is not None:
        forced = " (forced by RELUKIT_FORCE_PORTABLE)" if r.get("portable_forced") else ""
        lines += [
            "rust:",
            f"  simd: {r['simd']}{forced}",
            f"  caches ({r['cache_source']}): L2 {_size(r['l2_bytes'])}, "
            f"L3 {_size(r['l3_bytes'])}; cores {r['cores']}",
            f"  threads: {r['threads']} (max {r['max_threads']})",
            f"  non-temporal stores above {_size(r['nt_min_bytes'])}; "
            f"split elementwise at {_size(r['split_min_bytes'])}, "
            f"dense at {r['dense_split_min_macs']} multiply-adds",
        ]
    comp = cfg["compilers"]
    lines += [
        "compilers:",
        f"  rust: {comp.get('rustc') or 'unknown'}",
        f"  c (extension): {', '.join(comp.get('c') or []) or 'unknown'}",
        f"  c (this Python's sysconfig CC): {comp.get('python_cc') or 'unknown'}",
    ]
    return "\n".join(lines)


def version_line(cfg: dict[str, Any] | None = None) -> str:
    """One line: the version, the backends built and the SIMD path of each native backend."""
    cfg = cfg or config()
    built = [name for name, state in cfg["backends"].items() if state == "built"]
    simd = [f"{name} {cfg[name]['simd']}" for name in ("c", "rust") if cfg[name] is not None]
    return (
        f"relukit {cfg['relukit']} (backends: {', '.join(built)}; "
        f"simd: {', '.join(simd) or 'none'}; Python {cfg['python']}, NumPy {cfg['numpy']})"
    )


@overload
def show_config(as_dict: Literal[False] = False) -> None: ...
@overload
def show_config(as_dict: Literal[True]) -> dict[str, Any]: ...


def show_config(as_dict: bool = False) -> dict[str, Any] | None:
    """Print what this relukit build contains and what runs now (version, backends and why one
    is missing, SIMD paths, caches and cores, thresholds, threads, compilers).

    With ``as_dict=True`` nothing is printed and the same information is returned as a dict.
    """
    cfg = config()
    if as_dict:
        return cfg
    print(format_config(cfg))
    return None

"""What the benchmark ran on: CPU, caches, cores, and the versions of everything involved.

Caches come from ``/sys/devices/system/cpu/cpu0/cache/index*/`` (Linux); where that is
missing, from ``lscpu``; failing both, the L3 size is taken as :data:`DEFAULT_L3` and the
report says so. The compilers the native extension was built with are read from the
``.comment`` strings the toolchains leave in the shared library (``rustc version ...``,
``GCC: ...``); the compilers on ``PATH`` now are recorded too.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
PROC_CPUINFO = Path("/proc/cpuinfo")
#: L3 assumed when it cannot be detected (this project's machine class has 32 MiB).
DEFAULT_L3 = 32 << 20
#: The CPU flags that decide which kernel paths run (all flags are recorded as well).
KEY_FLAGS = ("sse2", "sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw")

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass(frozen=True)
class Cache:
    """One cache level as the OS describes it for CPU 0."""

    level: int
    type: str  # Data, Instruction, Unified
    size_bytes: int
    shared_cpu_list: str = ""


def parse_size(text: str) -> int:
    """``"32768K"``, ``"512 KiB"``, ``"32 MiB"`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a cache size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def caches_from_sysfs(root: Path = SYSFS_CACHE) -> list[Cache]:
    """The caches of CPU 0 from sysfs (empty if it is not there)."""
    out = []
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        shared = index / "shared_cpu_list"
        out.append(Cache(level, kind, size, shared.read_text().strip() if shared.exists() else ""))
    return out


def caches_from_lscpu(text: str | None = None) -> list[Cache]:
    """The caches from ``lscpu`` output ("L3 cache: 32 MiB (1 instance)"); totals per line
    are divided by the instance count so sizes are per cache, as in sysfs."""
    if text is None:
        exe = shutil.which("lscpu")
        if exe is None:
            return []
        try:
            text = subprocess.run([exe], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
    out = []
    for m in re.finditer(
        r"^L(\d)([di]?) cache:\s*([\d.]+\s*[KMG]?i?B?)(?:\s*\((\d+) instances?\))?",
        text,
        re.MULTILINE | re.IGNORECASE,
    ):
        level, kind = int(m.group(1)), {"d": "Data", "i": "Instruction"}.get(m.group(2), "Unified")
        size = parse_size(m.group(3)) // int(m.group(4) or 1)
        out.append(Cache(level, kind, size))
    return out


def detect_caches() -> tuple[list[Cache], str]:
    """(caches, where they came from: "sysfs", "lscpu" or "none")."""
    caches = caches_from_sysfs()
    if caches:
        return caches, "sysfs"
    caches = caches_from_lscpu()
    return (caches, "lscpu") if caches else ([], "none")


def cache_size(caches: list[Cache], level: int) -> int | None:
    """Size in bytes of the data/unified cache of ``level``, if known."""
    sizes = [c.size_bytes for c in caches if c.level == level and c.type != "Instruction"]
    return max(sizes) if sizes else None


def l3_bytes() -> tuple[int, str]:
    """(L3 size in bytes, a note on where the figure came from)."""
    caches, source = detect_caches()
    size = cache_size(caches, 3)
    if size is not None:
        return size, f"from {source}"
    return DEFAULT_L3, f"not detected; assumed {DEFAULT_L3 >> 20} MiB"


def cpuinfo(path: Path = PROC_CPUINFO) -> dict[str, Any]:
    """CPU model, flags and core counts from /proc/cpuinfo (empty values elsewhere)."""
    model, flags, cores = platform.processor() or platform.machine(), [], None
    physical: set[tuple[str, str]] = set()
    try:
        text = path.read_text()
    except OSError:
        text = ""
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "model name" in fields:
            model = fields["model name"]
        if "flags" in fields and not flags:
            flags = fields["flags"].split()
        if "core id" in fields:
            physical.add((fields.get("physical id", "0"), fields["core id"]))
    if physical:
        cores = len(physical)
    return {"model": model, "flags": flags, "physical_cores": cores}


def _first_line(cmd: list[str]) -> str | None:
    exe = shutil.which(cmd[0])
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (res.stdout or res.stderr).strip().splitlines()
    return lines[0] if lines else None


def build_compilers(library: str | None) -> list[str]:
    """Toolchain strings left in a shared library's ``.comment`` section (rustc, GCC, clang)."""
    if not library:
        return []
    try:
        data = Path(library).read_bytes()
    except OSError:
        return []
    found = re.findall(rb"(?:rustc version|GCC: \(|clang version)[\x20-\x7e]{1,200}", data)
    return list(dict.fromkeys(s.decode("ascii") for s in found))


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def blas_info() -> list[dict[str, Any]]:
    """NumPy's BLAS as threadpoolctl sees it (library, version, threads), if installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "num_threads", "threading_layer", "architecture")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def machine_info() -> dict[str, Any]:
    """Everything the JSON report records about the machine and the software."""
    import numpy as np

    from relukit import _native

    caches, source = detect_caches()
    l3, l3_note = l3_bytes()
    cpu = cpuinfo()
    flags = cpu["flags"]
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    clock = time.get_clock_info("perf_counter")
    return {
        "cpu": {
            "model": cpu["model"],
            "machine": platform.machine(),
            "logical_cpus": os.cpu_count(),
            "usable_cpus": affinity,
            "physical_cores": cpu["physical_cores"],
            "key_flags": {f: f in flags for f in KEY_FLAGS},
            "flags": flags,
        },
        "caches": [asdict(c) for c in caches],
        "cache_source": source,
        "l3_bytes": l3,
        "l3_note": l3_note,
        "os": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "env": {
            k: os.environ.get(k)
            for k in (
                "RELUKIT_FORCE_PORTABLE",
                "RELUKIT_NUM_THREADS",
                "RELUKIT_BACKEND",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
            )
        },
        "clock": {
            "implementation": clock.implementation,
            "resolution_s": clock.resolution,
        },
        "versions": {
            "python": sys.version.split()[0],
            "python_implementation": platform.python_implementation(),
            "numpy": np.__version__,
            "relukit": _version("relukit"),
            "cffi": _version("cffi"),
            "rich": _version("rich"),
            "matplotlib": _version("matplotlib"),
            "blas": blas_info(),
        },
        "compilers": {
            "native_extension_built_with": build_compilers(getattr(_native, "__file__", None)),
            "cc": _first_line(["cc", "--version"]),
            "gcc": _first_line(["gcc", "--version"]),
            "rustc": _first_line(["rustc", "-V"]),
        },
    }

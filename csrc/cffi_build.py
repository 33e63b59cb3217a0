"""Generate the cffi (API mode) C source that binds csrc/include/relukit.h.

Run by rust/relukit-py/build.rs with ``$PYO3_PYTHON`` (as pyca/cryptography does): it writes
``$OUT_DIR/_relukit_cffi.c``; build.rs compiles that file and the kernels with the ``cc`` crate
into the pyo3 extension, whose module init adds the cffi module as ``relukit._native.c_kernels``.
The cdef is cut out of the public header itself (between its cffi-cdef markers), so a
kernel declared there is bound with no edit here.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import cffi

CSRC = Path(__file__).resolve().parent
MODULE_NAME = "relukit._native.c_kernels"


def header_cdef(header: Path = CSRC / "include" / "relukit.h") -> str:
    """Return the declarations between the cffi-cdef markers of the header."""
    text = header.read_text()
    match = re.search(r"cffi-cdef-begin[^\n]*\n(.*?)/\* cffi-cdef-end", text, re.S)
    if match is None:
        raise SystemExit(f"{header}: cffi-cdef markers not found")
    return match.group(1)


def make_ffi() -> cffi.FFI:
    ffi = cffi.FFI()
    ffi.cdef(header_cdef())
    ffi.set_source(MODULE_NAME, '#include "relukit.h"')
    return ffi


def main() -> None:
    out_dir = Path(os.environ.get("OUT_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "."))
    out_dir.mkdir(parents=True, exist_ok=True)
    make_ffi().emit_c_code(str(out_dir / "_relukit_cffi.c"))


if __name__ == "__main__":
    main()

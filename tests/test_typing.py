"""Static types: the README's examples pass ``mypy --strict`` and pyright (strict) with zero
errors, and the generated overloads give each op the type the contract promises."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import relukit
from relukit import ops

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
STUB = Path(relukit.__file__).with_name("_functions.pyi")

#: Names the README's later examples use without defining them (x of shape (batch, 64), labels).
PRELUDE = {
    "from relukit import nn": (
        "x = np.random.rand(8, 64).astype(np.float32)\ny = np.arange(8) % 10\n"
    )
}

#: Each call and the type a checker must infer for it (checked with assert_type).
EXPECTED = {
    "relukit.relu(-2.5)": "float",
    "relukit.relu(7)": "int",
    "relukit.relu_grad(7)": "int",
    "relukit.elu(7)": "float",
    "relukit.leaky_relu(2.0, 0.1)": "float",
    "relukit.relu(f32)": "np.float32",
    "relukit.sigmoid(f64)": "np.float64",
    "relukit.gelu(f64, approximate='tanh')": "np.float64",
    "relukit.relu(a32)": "npt.NDArray[np.float32]",
    "relukit.hardtanh_grad(a64)": "npt.NDArray[np.float64]",
    "relukit.tanh(a32, out=a32)": "npt.NDArray[np.float32]",
    "relukit.relu([1.0, -2.0])": "npt.NDArray[Any]",
    "relukit.show_config(as_dict=True)": "dict[str, Any]",
    "relukit.show_config()": "None",
}


def readme_script() -> str:
    """Every ```python block of the README, in order, as one script."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "no python example in the README"
    parts = []
    for block in blocks:
        block = textwrap.dedent(block)
        for marker, prelude in PRELUDE.items():
            if block.startswith(marker):
                block = block.replace(marker + "\n", marker + "\n" + prelude, 1)
        parts.append(block)
    return "\n".join(parts)


def types_script() -> str:
    lines = [
        "from typing import Any",
        "import numpy as np",
        "import numpy.typing as npt",
        "from typing_extensions import assert_type",
        "import relukit",
        "f32 = np.float32(1.5)",
        "f64 = np.float64(-1.5)",
        "a32: npt.NDArray[np.float32] = np.zeros(4, dtype=np.float32)",
        "a64: npt.NDArray[np.float64] = np.zeros(4)",
    ]
    lines += [f"assert_type({call}, {expected})" for call, expected in EXPECTED.items()]
    return "\n".join(lines) + "\n"


def test_stub_is_generated_from_the_op_table():
    assert STUB.read_text() == ops.stub_source(), "stale stub: run `make stubs`"


def test_every_generated_function_has_overloads():
    text = STUB.read_text()
    for name in ops.FUNCTIONS:
        assert text.count(f"@overload\ndef {name}(") == 6, name


def _write(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "readme_examples.py").write_text(readme_script())
    (tmp_path / "contract_types.py").write_text(types_script())
    return tmp_path / "readme_examples.py", tmp_path / "contract_types.py"


def _run(tmp_path: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )


def test_mypy_strict_on_the_readme_examples(tmp_path):
    examples, reveal = _write(tmp_path)
    proc = _run(
        tmp_path,
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        str(examples),
        str(reveal),
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found in 2 source files" in proc.stdout


def test_pyright_strict_on_the_readme_examples(tmp_path):
    examples, types = _write(tmp_path)
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    exe = Path(sys.executable).with_name("basedpyright")
    proc = _run(tmp_path, str(exe), "--pythonpath", sys.executable, str(examples), str(types))
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b0 errors, 0 warnings, 0 notes\b", proc.stdout), proc.stdout


def test_native_stub_matches_the_extension():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "relukit._native"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

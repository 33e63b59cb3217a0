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

#: What an example of the README takes from the ones before it (each is checked as a module).
PRELUDE = (  # (present already if, needed if, the line)
    ("import numpy as np", r"\bnp\.|\bx\b", "import numpy as np"),
    ("import relukit", r"\brelukit\.", "import relukit"),
    ("x = ", r"\bx\b", "x = np.array([-1.0, 0.0, 2.0, np.nan], dtype=np.float32)"),
)
#: Examples of libraries without type hints of their own (dask): not relukit's to type.
UNTYPED = ("import dask",)
#: The nn example's batch: x of shape (batch, 64), integer labels y.
NN_DATA = "x = np.random.rand(8, 64).astype(np.float32)\ny = np.arange(8) % 10\n"


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


def readme_examples() -> list[str]:
    """Every ```python block of the README as a module, with what it takes from earlier ones."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 5, "the README's python examples were not found"
    modules = []
    for block in map(textwrap.dedent, blocks):
        if any(marker in block for marker in UNTYPED):
            continue
        head = [
            line for have, need, line in PRELUDE if have not in block and re.search(need, block)
        ]
        if "from relukit import nn" in block:
            block = block.replace("from relukit import nn\n", "from relukit import nn\n" + NN_DATA)
        modules.append("\n".join(head) + "\n" + block)
    return modules


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


def _write(tmp_path: Path) -> list[str]:
    paths = []
    for i, text in enumerate([*readme_examples(), types_script()]):
        path = tmp_path / f"readme_example_{i}.py"
        path.write_text(text)
        paths.append(str(path))
    return paths


def _run(tmp_path: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )


def test_mypy_strict_on_the_readme_examples(tmp_path):
    paths = _write(tmp_path)
    mypy = (sys.executable, "-m", "mypy", "--strict", "--no-incremental")
    proc = _run(tmp_path, *mypy, *paths)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Success: no issues found in {len(paths)} source files" in proc.stdout


def test_pyright_strict_on_the_readme_examples(tmp_path):
    paths = _write(tmp_path)
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    exe = Path(sys.executable).with_name("basedpyright")
    proc = _run(tmp_path, str(exe), "--pythonpath", sys.executable, *paths)
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

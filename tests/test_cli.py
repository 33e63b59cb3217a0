"""The ``relukit`` command as a user meets it: every subcommand described, defaults shown, bad
values and missing optional packages answered with one line and exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SUBCOMMANDS = ("check", "bench", "experiment", "plot", "config")

#: Run the command with some modules made unimportable (as if the extra were not installed).
BLOCK = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None\n"
    "from relukit.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def relukit(*args: str, block: str = "") -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", BLOCK, block] if block else [sys.executable, "-m", "relukit"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )


def test_top_level_help_describes_every_subcommand():
    proc = relukit("--help")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    for name in SUBCOMMANDS:
        described = [line for line in lines if line.strip().startswith(name)]
        assert described, f"{name} is not listed in relukit --help"
    assert "--version" in proc.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_help_shows_defaults(name):
    proc = relukit(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: relukit {name}")
    if name != "config":  # config has only a flag
        assert "default" in proc.stdout


def test_option_defaults_are_printed():
    out = relukit("experiment", "--help").stdout
    assert "(default: 0.05)" in out  # --lr
    assert "(default: 32)" in out  # --batch-size
    assert "(default: float32)" in out  # --dtype
    assert "(default: 0)" in relukit("check", "--help").stdout  # --seed


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("experiment", "--backend", "cuda"), ("relukit experiment: error:", "'cuda'", "rust")),
        (("experiment", "--activations", "foo"), ("'foo'", "relu")),
        (("experiment", "--hidden", "a,b"), ("--hidden",)),
        (("experiment", "--epochs", "0"), ("--epochs",)),
        (("experiment", "--lr", "fast"), ("--lr",)),
        (("plot", "--backend", "cuda"), ("relukit plot: error:", "'cuda'")),
        (("plot", "--ops", "foo"), ("'foo'", "relu")),
        (("check", "--backend", "cuda"), ("relukit check: error:", "'cuda'")),
        (("bench", "--backends", "cuda"), ("relukit bench: error:", "'cuda'")),
        (("bench", "--sizes", "lots"), ("not a size",)),
        (("bench", "--compare", "/nonexistent/old.json"), ("--compare",)),
        (("frobnicate",), ("relukit: error:", "'frobnicate'")),
        ((), ("relukit: error:",)),
    ],
)
def test_bad_values_are_one_line_errors(args, words):
    assert_one_line_error(relukit(*args), *words)


@pytest.mark.parametrize(
    ("block", "args", "pip"),
    [
        ("matplotlib", ("plot", "--out", "{png}"), 'pip install "relukit[plot]"'),
        ("sklearn", ("experiment", "--quick"), 'pip install "relukit[experiment]"'),
        ("rich", ("bench", "--quick"), 'pip install "relukit[bench]"'),
        ("matplotlib", ("bench", "--quick", "--plot", "{png}"), "relukit[plot]"),
    ],
)
def test_a_missing_extra_names_the_pip_command(tmp_path, block, args, pip):
    proc = relukit(*args, block=block)
    assert_one_line_error(proc, "is not installed", pip)
    assert not (tmp_path / "{png}").exists()


def test_version():
    proc = relukit("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("relukit ")

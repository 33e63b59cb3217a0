"""relukit.show_config(), ``relukit config`` and ``relukit --version``: what the build has and
what runs now, taken from the backends themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

import relukit
from relukit import _backend


def test_show_config_prints_and_returns_none(capsys):
    assert relukit.show_config() is None
    out = capsys.readouterr().out
    assert out.startswith(f"relukit {relukit.__version__} ")
    for name in _backend.BACKENDS:
        assert f"  {name:<7} " in out
    assert f"threads: {relukit.get_num_threads()}" in out


def test_as_dict_is_the_same_information_as_json():
    cfg = relukit.show_config(as_dict=True)
    assert isinstance(cfg, dict)
    json.dumps(cfg)  # serialisable
    assert cfg["relukit"] == relukit.__version__
    assert cfg["numpy"] == np.__version__
    assert cfg["default_backend"] == relukit.get_backend()
    assert cfg["threads"] == relukit.get_num_threads()
    assert set(cfg["backends"]) == set(_backend.BACKENDS)


def test_c_section_is_what_the_c_runtime_reports():
    from relukit.backends import c

    cfg = relukit.show_config(as_dict=True)
    info = c.runtime_info()
    for key in ("simd", "l2_bytes", "l3_bytes", "cpus", "nt_bytes", "split_bytes"):
        assert cfg["c"][key] == info[key]
    assert cfg["c"]["simd"] in ("avx2", "portable")
    assert cfg["c"]["threads"] == c.get_num_threads()


def test_rust_section_is_what_the_rust_runtime_reports():
    from relukit import _native

    cfg = relukit.show_config(as_dict=True)
    assert cfg["rust"] == dict(_native.thresholds())
    # the compilers that built the extension are read from its ELF .comment section
    assert cfg["compilers"]["rustc"].startswith("rustc version ")


def test_thread_count_in_force_is_reported():
    before = relukit.get_num_threads()
    try:
        relukit.set_num_threads(1)
        cfg = relukit.show_config(as_dict=True)
        assert cfg["threads"] == 1
        for name in ("c", "rust"):
            if cfg[name] is not None:
                assert cfg[name]["threads"] == 1
    finally:
        relukit.set_num_threads(before)


def test_a_missing_backend_says_why(monkeypatch):
    monkeypatch.setitem(_backend._failed, "c", "ImportError: no module named c_kernels")
    monkeypatch.delitem(_backend._loaded, "c", raising=False)
    cfg = relukit.show_config(as_dict=True)
    assert cfg["backends"]["c"] == "missing: ImportError: no module named c_kernels"
    assert cfg["c"] is None
    from relukit._config import format_config

    assert "c       missing: ImportError: no module named c_kernels" in format_config(cfg)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "relukit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_version_flag_is_one_line():
    proc = _run("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"relukit {relukit.__version__} (backends: ")
    for name in relukit.available_backends():
        assert name in lines[0]


def test_config_command_json_matches_show_config():
    proc = _run("config", "--json")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["backends"] == relukit.show_config(as_dict=True)["backends"]


def test_forced_portable_path_is_shown_for_both_native_backends():
    proc = _run("config", "--json", env={"RELUKIT_FORCE_PORTABLE": "1"})
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["c"]["simd"] == "portable"
    assert cfg["rust"]["simd"] == "portable"
    assert cfg["rust"]["portable_forced"] is True
    text = _run("config", env={"RELUKIT_FORCE_PORTABLE": "1"}).stdout
    assert "simd: portable (RELUKIT_FORCE_PORTABLE=1)" in text


def test_c_and_rust_detect_the_same_simd_path():
    # they read the same CPU (a wheel linked by another toolchain must not lose C's AVX2)
    cfg = relukit.show_config(as_dict=True)
    assert cfg["c"]["simd"] == cfg["rust"]["simd"]

"""relukit.set_num_threads / RELUKIT_NUM_THREADS: the setting and how it reaches backends."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import relukit
from relukit import _backend, _threads


@pytest.fixture(autouse=True)
def _restore():
    yield
    relukit.set_num_threads(None)


def test_default_is_the_cpus_this_process_may_use():
    relukit.set_num_threads(None)
    assert relukit.get_num_threads() == (_threads._env or len(os.sched_getaffinity(0)))


def test_set_and_reset():
    relukit.set_num_threads(1)
    assert relukit.get_num_threads() == 1
    relukit.set_num_threads(3)
    assert relukit.get_num_threads() == 3
    relukit.set_num_threads(None)
    assert relukit.get_num_threads() == _threads.cpu_count()


@pytest.mark.parametrize("bad", [0, -1])
def test_rejects_counts_below_one(bad):
    with pytest.raises(ValueError, match=">= 1"):
        relukit.set_num_threads(bad)
    assert relukit.get_num_threads() >= 1


@pytest.mark.parametrize("bad", [1.0, "2", True])
def test_rejects_non_ints(bad):
    with pytest.raises(TypeError, match="int"):
        relukit.set_num_threads(bad)


def test_every_threaded_backend_hears_each_change(monkeypatch):
    heard: list[int] = []
    monkeypatch.setattr(_threads, "_listeners", [])
    _threads.register(heard.append)  # as the registry does for a backend at import
    assert heard == [relukit.get_num_threads()]
    relukit.set_num_threads(2)
    relukit.set_num_threads(None)
    assert heard[1:] == [2, _threads.cpu_count()]


def test_loaded_native_backends_registered():
    threaded = [m for m in _backend._loaded.values() if hasattr(m, "set_num_threads")]
    assert all(m.set_num_threads in _threads._listeners for m in threaded)


def _run(env_value: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELUKIT_NUM_THREADS=env_value)
    code = "import relukit; print(relukit.get_num_threads())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_environment_variable_sets_the_default():
    proc = _run("1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


@pytest.mark.parametrize("value", ["zero", "0", "-2"])
def test_environment_variable_bad_value_is_a_clear_error(value):
    proc = _run(value)
    assert proc.returncode != 0
    assert "RELUKIT_NUM_THREADS" in proc.stderr and "ValueError" in proc.stderr


@pytest.mark.parametrize("huge", [2**64, 2**31, 10**30])
def test_a_rejected_or_huge_count_never_reports_what_does_not_run(huge):
    """A count beyond the pools' cap runs the cap, and says so; nothing raises half-way."""
    relukit.set_num_threads(2)
    relukit.set_num_threads(huge)
    assert relukit.get_num_threads() == _threads.MAX_THREADS


def test_counts_above_the_cap_are_clamped():
    relukit.set_num_threads(1000)
    assert relukit.get_num_threads() == _threads.MAX_THREADS == 64
    relukit.set_num_threads(64)
    assert relukit.get_num_threads() == 64
    relukit.set_num_threads(7)
    assert relukit.get_num_threads() == 7


@pytest.mark.parametrize("bad", [0, -(2**64), 2.5, "3"])
def test_a_rejected_count_leaves_the_setting(bad):
    relukit.set_num_threads(3)
    with pytest.raises((TypeError, ValueError)):
        relukit.set_num_threads(bad)
    assert relukit.get_num_threads() == 3


def test_a_backend_cap_lowers_the_cap(monkeypatch):
    heard: list[int] = []
    monkeypatch.setattr(_threads, "_listeners", [])
    monkeypatch.setattr(_threads, "_cap", _threads.MAX_THREADS)
    relukit.set_num_threads(40)
    _threads.register(heard.append, 16)
    assert relukit.get_num_threads() == 16 and heard == [16]
    relukit.set_num_threads(3)
    assert heard == [16, 3]


def test_the_environment_is_clamped_too():
    env = {**os.environ, "RELUKIT_NUM_THREADS": "1000"}
    code = "import relukit; print(relukit.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "64", out.stderr

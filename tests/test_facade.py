"""Backend selection: what is built, precedence, errors, thread/task isolation, the CLI check."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

import relukit
from conftest import BACKENDS, backend_module
from relukit import _backend, cli
from relukit.conformance import same_bits

X = np.array([-1.0, 2.0, -0.0, np.nan])
REF = np.array([0.0, 2.0, 0.0, np.nan])
VALID_NAMES = ("'python'", "'numpy'", "'c'", "'rust'")


class Spy:
    """Records which backend's relu_array / dense_forward ran (and in which thread)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, attr: str = "relu_array") -> None:
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        for name in BACKENDS:
            module = backend_module(name)
            monkeypatch.setattr(module, attr, self._wrap(name, getattr(module, attr)))
            for fast in ("relu_fast", "relu_grad_fast", "dense_fast"):  # so the spy sees each call
                monkeypatch.setattr(module, fast, None)

    def _wrap(self, name: str, original: Callable) -> Callable:
        def spy(*args):
            with self._lock:
                self.calls.append((name, threading.get_ident()))
            return original(*args)

        return spy

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def take(self) -> list[str]:
        names = self.names()
        self.calls.clear()
        return names


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != _backend.ENV_VAR}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- what is built ----------------------------------------------------------------------------


def test_all_four_backends_are_available():
    assert relukit.available_backends() == ["python", "numpy", "c", "rust"], _backend._failed


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_module_has_the_interface(name):
    module = _backend.load(name)
    assert name == module.NAME
    for attr in (
        "relu_float",
        "relu_int",
        "relu_array",
        "relu_grad_float",
        "relu_grad_int",
        "relu_grad_array",
        "dense_forward",
    ):
        assert callable(getattr(module, attr)), f"{name}.{attr}"


def test_auto_is_rust():
    assert relukit.get_backend() == "rust"
    with relukit.use_backend("auto") as name:
        assert name == "rust"
        assert relukit.get_backend() == "rust"


@pytest.mark.parametrize("name", BACKENDS)
def test_per_call_backend_runs_on_that_backend(name, monkeypatch):
    spy = Spy(monkeypatch)
    got = relukit.relu(X, backend=name)
    assert same_bits(got, REF)
    assert spy.names() == [name]


# --- precedence -------------------------------------------------------------------------------


def test_precedence_chain(monkeypatch):
    spy = Spy(monkeypatch)

    def runs_on() -> str:
        assert same_bits(relukit.relu(X), REF)
        names = spy.take()
        assert len(names) == 1
        return names[0]

    assert relukit.get_backend() == "rust" and runs_on() == "rust"  # auto
    monkeypatch.setattr(_backend, "_env", "python")  # as if RELUKIT_BACKEND=python at import
    assert relukit.get_backend() == "python" and runs_on() == "python"
    relukit.set_backend("numpy")  # set_backend > environment
    assert relukit.get_backend() == "numpy" and runs_on() == "numpy"
    with relukit.use_backend("c") as name:  # use_backend > set_backend
        assert name == "c"
        assert relukit.get_backend() == "c" and runs_on() == "c"
        relukit.relu(X, backend="rust")  # per call > use_backend
        assert spy.take() == ["rust"]
        assert relukit.get_backend() == "c"  # a per-call choice does not stick
    assert relukit.get_backend() == "numpy" and runs_on() == "numpy"
    relukit.set_backend(None)
    assert relukit.get_backend() == "python" and runs_on() == "python"
    monkeypatch.setattr(_backend, "_env", None)
    assert relukit.get_backend() == "rust" and runs_on() == "rust"


def test_per_call_backend_beats_everything(monkeypatch):
    spy = Spy(monkeypatch)
    monkeypatch.setattr(_backend, "_env", "c")
    relukit.set_backend("numpy")
    with relukit.use_backend("rust"):
        for name in BACKENDS:
            relukit.relu(X, backend=name)
            relukit.relu_array(X, backend=name)
            assert spy.take() == [name, name]
    relukit.relu_grad(X)  # relu_grad goes through relu_grad_array, not relu_array
    assert spy.take() == []


def test_set_backend_none_and_auto_reset():
    relukit.set_backend("c")
    assert relukit.get_backend() == "c"
    relukit.set_backend(None)
    assert relukit.get_backend() == "rust"
    relukit.set_backend("python")
    assert relukit.get_backend() == "python"
    relukit.set_backend("auto")
    assert relukit.get_backend() == "rust"


def test_set_backend_unknown_name_keeps_the_previous_choice():
    relukit.set_backend("numpy")
    with pytest.raises(ValueError, match="bogus"):
        relukit.set_backend("bogus")
    assert relukit.get_backend() == "numpy"


def test_environment_variable_default_in_subprocess():
    code = (
        "import json, numpy as np, relukit\n"
        "r = {'env': relukit.get_backend()}\n"
        "relukit.set_backend('numpy'); r['set'] = relukit.get_backend()\n"
        "relukit.set_backend(None); r['reset'] = relukit.get_backend()\n"
        "with relukit.use_backend('python'): r['use'] = relukit.get_backend()\n"
        "relukit.set_backend('auto'); r['auto'] = relukit.get_backend()\n"
        "relukit.set_backend(None)\n"
        "r['relu'] = relukit.relu(-2.5)\n"
        "print(json.dumps(r))\n"
    )
    for name in BACKENDS:
        proc = run_python(code, RELUKIT_BACKEND=name)
        assert proc.returncode == 0, proc.stderr
        r = json.loads(proc.stdout)
        assert r == {
            "env": name,
            "set": "numpy",
            "reset": name,
            "use": "python",
            "auto": "rust",  # an explicit "auto" overrides the environment
            "relu": 0.0,
        }
    proc = run_python(code, RELUKIT_BACKEND="")  # empty: as if unset
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["env"] == "rust"


def test_environment_variable_read_at_import_only(monkeypatch):
    monkeypatch.setenv(_backend.ENV_VAR, "python")
    assert relukit.get_backend() == "rust"  # this process imported relukit without it


def test_environment_variable_bogus_in_subprocess():
    code = (
        "import relukit\n"  # the import itself must work
        "try:\n"
        "    relukit.relu(1.0)\n"
        "except ValueError as exc:\n"
        "    print('ValueError:', exc)\n"
        "else:\n"
        "    print('no error')\n"
        "relukit.set_backend('c')\n"  # an explicit choice still works
        "print('after set_backend:', relukit.get_backend(), relukit.relu(-1.0))\n"
    )
    proc = run_python(code, RELUKIT_BACKEND="bogus")
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.startswith("ValueError:"), first
    assert "RELUKIT_BACKEND" in first and "bogus" in first
    for name in VALID_NAMES:
        assert name in first
    assert second == "after set_backend: c 0.0"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["bogus", "Rust", "", "numpy ", "auto-rust", 3])
def test_unknown_name_is_value_error_listing_valid_names(bad):
    calls = [
        lambda: relukit.relu(X, backend=bad),
        lambda: relukit.relu_array(X, backend=bad),
        lambda: relukit.relu_grad(1.0, backend=bad),
        lambda: relukit.set_backend(bad),
        lambda: relukit.use_backend(bad).__enter__(),
        lambda: relukit.Dense(2, 2, backend=bad),
        lambda: relukit.Dense(2, 2).forward(np.zeros(2), backend=bad),
        lambda: relukit.nn.ReLU(backend=bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="valid names") as info:
            call()
        for name in VALID_NAMES:
            assert name in str(info.value)
        assert not isinstance(info.value, ImportError)
    assert relukit.get_backend() == "rust"


@pytest.fixture
def rust_broken(monkeypatch):
    """Simulate a build where the rust backend failed to import."""
    relukit.get_backend()  # make sure "auto" is cached, so monkeypatch restores it
    assert "auto" in _backend._loaded and "rust" in _backend._loaded
    monkeypatch.delitem(_backend._loaded, "rust")
    monkeypatch.delitem(_backend._loaded, "auto")
    monkeypatch.setitem(_backend._failed, "rust", "ImportError: simulated missing extension")
    yield
    relukit.set_backend(None)


def test_unavailable_backend_is_import_error_saying_why(rust_broken):
    assert issubclass(relukit.BackendUnavailableError, ImportError)
    calls = [
        lambda: relukit.relu(X, backend="rust"),
        lambda: relukit.relu(1.0, backend="rust"),
        lambda: relukit.relu_grad(X, backend="rust"),
        lambda: relukit.set_backend("rust"),
        lambda: relukit.use_backend("rust").__enter__(),
        lambda: relukit.Dense(2, 2, backend="rust"),
        lambda: relukit.nn.ReLU(backend="rust"),
    ]
    for call in calls:
        with pytest.raises(relukit.BackendUnavailableError, match="simulated missing") as e:
            call()
        assert isinstance(e.value, ImportError)
        assert "'rust'" in str(e.value)


def test_auto_falls_back_silently(rust_broken):
    assert relukit.available_backends() == ["python", "numpy", "c"]
    assert relukit.get_backend() == "c"
    assert same_bits(relukit.relu(X), REF)
    assert relukit.relu(-3) == 0
    with relukit.use_backend("auto") as name:
        assert name == "c"


def test_restored_after_simulated_failure():
    """The fixture above put everything back (guards the simulation itself)."""
    assert relukit.available_backends() == list(BACKENDS)
    assert relukit.get_backend() == "rust"
    assert "rust" not in _backend._failed


def test_environment_naming_a_broken_backend_raises(rust_broken, monkeypatch):
    monkeypatch.setattr(_backend, "_env", "rust")
    with pytest.raises(relukit.BackendUnavailableError, match="simulated"):
        relukit.relu(X)
    relukit.set_backend("numpy")
    assert same_bits(relukit.relu(X), REF)


def test_cli_strict_fails_on_a_missing_backend(rust_broken, capsys):
    assert cli.main(["check", "--strict", "--backend", "rust", "--backend", "numpy"]) == 1
    out = capsys.readouterr().out
    assert "not available" in out and "simulated" in out
    assert cli.main(["check", "--backend", "rust", "--backend", "numpy"]) == 0  # not strict
    assert cli.main(["check", "--backend", "rust"]) == 1  # nothing left to check


# --- use_backend: nesting, threads, asyncio ---------------------------------------------------


def test_use_backend_nests_and_restores():
    relukit.set_backend("numpy")
    with relukit.use_backend("c") as outer:
        assert outer == "c" and relukit.get_backend() == "c"
        with relukit.use_backend("python") as inner:
            assert inner == "python" and relukit.get_backend() == "python"
            with relukit.use_backend("auto"):
                assert relukit.get_backend() == "rust"
            assert relukit.get_backend() == "python"
        assert relukit.get_backend() == "c"
    assert relukit.get_backend() == "numpy"


def test_use_backend_restores_on_exception():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), relukit.use_backend("python"):
        assert relukit.get_backend() == "python"
        raise Boom
    assert relukit.get_backend() == "rust"


def test_use_backend_unknown_name_fails_before_entering():
    with pytest.raises(ValueError), relukit.use_backend("nope"):
        pytest.fail("the block must not run")  # pragma: no cover
    assert relukit.get_backend() == "rust"


def test_use_backend_is_thread_safe(monkeypatch):
    spy = Spy(monkeypatch)
    n = 8
    names = [BACKENDS[i % len(BACKENDS)] for i in range(n)]
    barrier = threading.Barrier(n, timeout=30)
    errors: list[str] = []
    seen: dict[int, tuple[str, int]] = {}

    def worker(i: int, name: str) -> None:
        try:
            assert relukit.get_backend() == "rust"
            with relukit.use_backend(name):
                barrier.wait()  # every thread is inside its own block now
                for _ in range(20):
                    assert relukit.get_backend() == name, (name, relukit.get_backend())
                    assert same_bits(relukit.relu(X), REF)
                barrier.wait()
            assert relukit.get_backend() == "rust"
            seen[i] = (name, threading.get_ident())
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(f"thread {i} ({name}): {exc!r}")
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i, nm)) for i, nm in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(seen) == n
    for name, ident in seen.values():
        ran = [b for b, tid in spy.calls if tid == ident]
        assert ran == [name] * 20, (name, set(ran))
    assert relukit.get_backend() == "rust"


def test_set_backend_is_seen_by_other_threads():
    relukit.set_backend("python")
    result = []
    t = threading.Thread(target=lambda: result.append(relukit.get_backend()))
    t.start()
    t.join()
    assert result == ["python"]


def test_use_backend_isolated_between_asyncio_tasks(monkeypatch):
    spy = Spy(monkeypatch)

    async def task(name: str, go: asyncio.Event, step: asyncio.Event) -> list[str]:
        seen = []
        with relukit.use_backend(name):
            step.set()
            await go.wait()  # all tasks are inside their blocks, interleaved
            for _ in range(5):
                seen.append(relukit.get_backend())
                relukit.relu(X)
                await asyncio.sleep(0)
        seen.append(relukit.get_backend())
        return seen

    async def main() -> tuple[list[list[str]], str]:
        go = asyncio.Event()
        steps = [asyncio.Event() for _ in BACKENDS]
        tasks = [asyncio.create_task(task(n, go, s)) for n, s in zip(BACKENDS, steps, strict=True)]
        for s in steps:
            await s.wait()
        outer = relukit.get_backend()  # the main task is unaffected
        go.set()
        return list(await asyncio.gather(*tasks)), outer

    results, outer = asyncio.run(main())
    assert outer == "rust"
    for name, seen in zip(BACKENDS, results, strict=True):
        assert seen == [name] * 5 + ["rust"]
    for name in BACKENDS:
        assert spy.names().count(name) == 5


# --- the conformance check CLI ----------------------------------------------------------------


def test_python_m_relukit_check_strict():
    proc = subprocess.run(
        [sys.executable, "-m", "relukit", "check", "--strict"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if k != _backend.ENV_VAR},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in BACKENDS:
        assert any(
            line.split()[:1] == [name] and "FAIL" not in line for line in proc.stdout.splitlines()
        ), (name, proc.stdout)
    assert "MISMATCH" not in proc.stdout


def test_cli_check_passes_for_numpy(capsys):
    assert cli.main(["check", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "FAIL" not in out


def test_cli_check_catches_np_maximum_0_x(monkeypatch, capsys):
    """np.maximum(0, x) keeps -0.0: the check must notice, so it can fail."""
    np_backend = backend_module("numpy")
    monkeypatch.setattr(np_backend, "relu_array", lambda x, out: np.maximum(0, x, out=out))
    assert cli.main(["check", "--backend", "numpy"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "MISMATCH" in out and "numpy relu" in out


def test_cli_check_catches_a_nan_dropping_grad(monkeypatch, capsys):
    c_backend = backend_module("c")
    monkeypatch.setattr(c_backend, "relu_grad_float", lambda x: float(x > 0))
    assert cli.main(["check", "--backend", "c"]) == 1
    assert "c relu_grad" in capsys.readouterr().out


def test_cli_check_catches_a_bad_dense(monkeypatch, capsys):
    rust_backend = backend_module("rust")
    original = rust_backend.dense_forward

    def off_by_a_bit(x, w, b, out):
        original(x, w, b, out)
        out += 1e-3

    monkeypatch.setattr(rust_backend, "dense_forward", off_by_a_bit)
    assert cli.main(["check", "--backend", "rust"]) == 1
    assert "rust dense" in capsys.readouterr().out


def test_cli_rejects_unknown_backend(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["check", "--backend", "bogus"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_version_and_exports():
    assert isinstance(relukit.__version__, str) and relukit.__version__
    for name in relukit.__all__:
        assert hasattr(relukit, name), name

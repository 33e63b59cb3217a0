"""``relukit bench``: the quick sweep end to end (JSON against the schema, a real PNG), the
checks that turn a wrong backend into FAIL, --compare, --targets, and the parts underneath
(sizes, cache detection, timing calibration, the python budget, the target verdicts)."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

import relukit
from relukit.bench import cases as C
from relukit.bench import machine as M
from relukit.bench import targets as T
from relukit.bench.schema import SCHEMA
from relukit.bench.sweep import FAIL, OK, SKIPPED, CaseResult, Config, ImplResult, PythonBudget
from relukit.bench.timing import Runner, Timing, calibrate, clock_tick_ns, measure
from relukit.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One real ``python -m relukit bench --quick`` run: (completed process, JSON, PNG path)."""
    d = tmp_path_factory.mktemp("bench")
    out_json, out_png = d / "quick.json", d / "quick.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "relukit",
            "bench",
            "--quick",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, json.loads(out_json.read_text()) if out_json.exists() else None, out_png


def test_quick_run_succeeds_and_prints_the_tables(quick):
    proc, _, _ = quick
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for op in C.DEFAULT_OPS:
        assert f"{op}: " in proc.stdout
    assert "reference: np.maximum(x, 0, out=y); roofline: np.copyto(y, x)" in proc.stdout
    assert "every output matched its reference" in proc.stdout
    assert "FAIL [" not in proc.stdout


def test_quick_json_matches_the_schema_and_the_method(quick):
    _, doc, _ = quick
    validate(doc)
    cfg = doc["config"]
    assert cfg["quick"] is True
    assert set(cfg["backends"]) == set(relukit.available_backends())
    assert doc["failures"] == 0
    assert doc["machine"]["l3_bytes"] > 0
    assert doc["machine"]["versions"]["numpy"] == np.__version__
    assert any("rustc" in s for s in doc["machine"]["compilers"]["native_extension_built_with"])
    ops = {c["op"] for c in doc["cases"]}
    assert ops == set(C.DEFAULT_OPS)
    assert {c["threads"] for c in doc["cases"]} == set(cfg["threads"])
    min_run = doc["method"]["min_run_ns"]
    assert min_run >= 20 * doc["method"]["clock_tick_ns"]
    for case in doc["cases"]:
        by = {r["impl"]: r for r in case["results"]}
        assert by["ref"]["status"] == OK and by["ref"]["speedup"] == pytest.approx(1.0)
        if case["kind"] != "scalar":
            assert by["roofline"]["pct_roofline"] == pytest.approx(100.0)
        for r in case["results"]:
            if r["status"] != OK:
                assert r["status"] == SKIPPED and r["impl"] == "python", r
                continue
            assert len(r["runs_ns"]) == cfg["repeats"]
            assert min(r["runs_ns"]) >= 20 * doc["method"]["clock_tick_ns"]
            assert r["best_s"] <= r["median_s"]
            assert r["best_s"] == pytest.approx(min(r["runs_ns"]) / r["loops"] / 1e9)
            if case["kind"] == "elementwise":
                assert r["gbps"] == pytest.approx(case["bytes"] / r["best_s"] / 1e9)


def test_quick_plot_is_a_png(quick):
    _, _, png = quick
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width > 800 and height > 400
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (height, width)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["bench", "--no-progress", "--repeats", "2", "--min-time", "2e-5", *args])
    return code, capsys.readouterr().out


SMALL = ("--ops", "relu", "--sizes", "4K", "--dtypes", "float32", "--threads", "1")


def _copy_relu(x, out):  # forgets to rectify
    np.copyto(out, x)


def _textbook_relu(x, out):  # x > 0 ? x : 0 turns NaN into 0
    np.copyto(out, np.where(x > 0, x, 0).astype(x.dtype))


def _short_relu(x, out):  # leaves the last element unwritten
    np.maximum(x[:-1], 0, out=out[:-1])


@pytest.mark.parametrize("broken", [_copy_relu, _textbook_relu, _short_relu])
def test_a_wrong_backend_is_a_fail_not_a_speed(monkeypatch, capsys, tmp_path, broken):
    monkeypatch.setattr("relukit.backends.numpy.relu_array", broken)
    out_json = tmp_path / "r.json"
    code, out = run_cli(capsys, *SMALL, "--backends", "numpy,c", "--json", str(out_json))
    assert code == 1
    assert "FAIL [1]" in out
    assert "[1] relu float32 4K t=1 · numpy: FAIL:" in out
    doc = json.loads(out_json.read_text())
    validate(doc)
    results = {r["impl"]: r for r in doc["cases"][0]["results"]}
    assert results["numpy"]["status"] == FAIL and results["numpy"]["best_s"] is None
    assert results["c"]["status"] == OK and results["c"]["best_s"] > 0
    assert doc["failures"] == 1


def test_a_backend_that_goes_wrong_while_timed_is_caught(monkeypatch, capsys):
    """Right on the first call, wrong afterwards: the check after timing sees it."""
    from relukit.backends import numpy as nb

    calls = {"n": 0}
    real = nb.relu_array

    def drifting(x, out):
        calls["n"] += 1
        real(x, out)
        if calls["n"] > 1:
            out[0] = -1.0

    monkeypatch.setattr(nb, "relu_array", drifting)
    code, out = run_cli(capsys, *SMALL, "--backends", "numpy")
    assert code == 1
    assert "numpy: FAIL: after timing: 1 of 4096 elements differ" in out


def test_a_backend_that_raises_is_an_error(monkeypatch, capsys):
    def boom(x, out):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr("relukit.backends.numpy.relu_array", boom)
    code, out = run_cli(capsys, *SMALL, "--backends", "numpy,rust")
    assert code == 1
    assert "numpy: error: RuntimeError: kernel exploded" in out


def test_compare_with_an_earlier_run(quick, capsys, tmp_path):
    _, doc, _ = quick
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    code, out = run_cli(capsys, *SMALL, "--backends", "c,rust", "--compare", str(old))
    assert code == 0
    assert "compared with an earlier run" in out
    assert "relu float32 4K t=1" in out and "time ratio" in out


def test_compare_against_itself_gives_ratio_one(quick):
    from relukit.bench.report import compare_table

    _, doc, _ = quick
    table, warnings = compare_table(doc, doc)
    assert warnings == []
    ratios = list(table.columns[4].cells)
    assert ratios and all(str(r) == "1.00x" for r in ratios)


def test_targets_mode_reports_every_row(capsys, tmp_path, monkeypatch):
    # shrink the DRAM size so the test stays quick; the logic is the same
    monkeypatch.setattr(T, "dram_elements", lambda l3, dtype="float32": 1 << 16)
    out_json = tmp_path / "t.json"
    code, out = run_cli(capsys, "--targets", "--json", str(out_json))
    assert code == 0
    assert "kernel speed targets" in out and "targets met" in out
    doc = json.loads(out_json.read_text())
    validate(doc)
    rows = {(e["row"], e["versus"], e["backend"]): e for e in doc["targets"]}
    assert {e["backend"] for e in doc["targets"]} == {"c", "rust"}
    for e in doc["targets"]:
        assert e["verdict"] in ("met", "short", "info"), e
        assert e["measured"] is not None and e["measured"] > 0
    facade = [e for k, e in rows.items() if k[0].startswith("full facade call")]
    assert {e["backend"]: e["goal"] for e in facade} == {"c": 1.0, "rust": 0.5}
    grad = [e for e in doc["targets"] if e["row"].startswith("relu_grad")]
    assert {e["versus"] for e in grad} == {"numpy-relu", "roofline"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "0"], "not a size"),
        (["--sizes", "lots"], "not a size"),
        (["--backends", "fortran"], "not one of"),
        (["--dtypes", "float16"], "not one of"),
        (["--threads", "0"], "must be an integer >= 1"),
        (["--dense-shapes", "3x2"], "BATCHxINxOUT"),
        (["--min-time", "-1"], "must be > 0"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_plot_needs_something_to_plot(capsys, tmp_path):
    assert main(["bench", "--ops", "relu_float", "--plot", str(tmp_path / "p.png")]) == 2
    assert "--plot needs" in capsys.readouterr().err


def test_compare_needs_a_bench_json(capsys, tmp_path):
    missing = tmp_path / "missing.json"
    assert main(["bench", *SMALL, "--compare", str(missing)]) == 2
    assert "--compare" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text("{}")
    assert main(["bench", *SMALL, "--compare", str(other)]) == 2
    assert "not a relukit bench --json file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the parts


@pytest.mark.parametrize(
    ("text", "n"), [("16", 16), ("4K", 4096), ("4ki", 4096), ("64K", 65536), ("16M", 1 << 24)]
)
def test_parse_count(text, n):
    assert C.parse_count(text) == n


def test_default_sizes_reach_four_times_the_l3():
    for dtype, item in (("float32", 4), ("float64", 8)):
        sizes = C.default_sizes(dtype, 32 << 20)
        assert sizes[0] == 16
        assert sizes[-1] * item >= 4 * (32 << 20)
        assert sizes[-2] * item < 4 * (32 << 20)
        assert all(b == 4 * a for a, b in itertools.pairwise(sizes[:-1]))  # powers of 4
    assert C.default_sizes("float32", 32 << 20)[-1] == 32 << 20


def test_buffers_are_placed_half_a_page_apart():
    d = C.Workspace().elementwise("float32", 4096)
    assert d.x.ctypes.data % 4096 == C.X_OFFSET
    assert d.y.ctypes.data % 4096 == C.Y_OFFSET
    assert d.x.flags.writeable and d.y.size == d.x.size == 4096


def test_timed_input_holds_the_edge_values():
    x = C.Workspace().elementwise("float64", 4096).x
    assert np.isnan(x).sum() == 8 and np.isinf(x).sum() == 2
    assert (x.view(np.uint64) == np.array(-0.0).view(np.uint64)).any()
    assert ((x != 0) & (np.abs(x) < np.finfo(np.float64).tiny)).any()  # subnormals


def test_cache_detection_from_sysfs(tmp_path):
    for i, (level, kind, size) in enumerate(
        [
            (1, "Data", "32K"),
            (1, "Instruction", "32K"),
            (2, "Unified", "512K"),
            (3, "Unified", "32768K"),
        ]
    ):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    caches = M.caches_from_sysfs(tmp_path)
    assert M.cache_size(caches, 3) == 32 << 20
    assert M.cache_size(caches, 2) == 512 << 10
    assert M.cache_size(caches, 1) == 32 << 10  # the data cache, not the instruction one
    assert M.caches_from_sysfs(tmp_path / "absent") == []


def test_cache_detection_from_lscpu_text():
    text = (
        "L1d cache:                               64 KiB (2 instances)\n"
        "L1i cache:                               64 KiB (2 instances)\n"
        "L2 cache:                                1 MiB (2 instances)\n"
        "L3 cache:                                32 MiB (1 instance)\n"
    )
    caches = M.caches_from_lscpu(text)
    assert M.cache_size(caches, 1) == 32 << 10
    assert M.cache_size(caches, 2) == 512 << 10
    assert M.cache_size(caches, 3) == 32 << 20


def test_l3_falls_back_to_a_default_with_a_note(monkeypatch):
    monkeypatch.setattr(M, "detect_caches", lambda: ([], "none"))
    size, note = M.l3_bytes()
    assert size == M.DEFAULT_L3 and "assumed" in note


def test_machine_info_names_the_cpu_and_versions():
    info = M.machine_info()
    assert info["cpu"]["model"]
    assert info["cpu"]["usable_cpus"] >= 1
    assert info["versions"]["python"] == sys.version.split()[0]
    assert info["l3_bytes"] > 0


class FakeRunner(Runner):
    """A statement that takes exactly 1 µs per execution."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def run(self, loops: int) -> int:
        self.calls.append(loops)
        return 1000 * loops


def test_calibration_makes_runs_long_enough():
    runner = FakeRunner()
    loops = calibrate(runner, 200_000)
    assert 200 <= loops <= 260  # long enough, with a margin of about a quarter
    assert runner.calls[0] == 1 and len(runner.calls) <= 4
    assert clock_tick_ns() >= 1


def test_measure_interleaves_checks_after_the_last_run_and_drops_errors():
    seen: list[str] = []
    errors: dict[str, str] = {}
    runners = {
        "a": Runner("len(s)", {"s": "abc"}),
        "bad": Runner("1 / 0", {}),
        "b": Runner("len(s)", {"s": "abcd"}),
    }
    timings = measure(
        runners,
        repeats=3,
        min_run_ns=10_000,
        after_last=seen.append,
        on_error=lambda n, e: errors.setdefault(n, type(e).__name__),
    )
    assert set(timings) == {"a", "b"}
    assert sorted(seen) == ["a", "b"]
    assert errors == {"bad": "ZeroDivisionError"}
    # three timed runs each (how long a run lasts depends on the machine's load: the calibration
    # itself is tested with a fake clock above)
    assert all(len(t.runs_ns) == 3 and all(r > 0 for r in t.runs_ns) for t in timings.values())


def test_python_budget_skips_what_would_not_fit():
    budget = PythonBudget(budget_s=1.0, repeats=5, min_run_s=1e-4)
    small = C.Case("relu", "float32", 16)
    huge = C.Case("relu", "float32", 1 << 26)
    assert budget.before(small) is None
    budget.learn(C.Case("relu", "float32", 1 << 16), 5e-3)  # 76 ns per element
    skip = budget.before(huge)
    assert skip is not None and skip.status == SKIPPED and "--python-budget" in skip.message
    assert budget.after_check(C.Case("relu", "float32", 1 << 20), 0.2) is not None
    assert budget.after_check(C.Case("relu", "float32", 1 << 12), 3e-4) is None


def _result(case: C.Case, times: dict[str, float], fail: str = "") -> CaseResult:
    res = CaseResult(case, case.threads, None)
    for name, t in times.items():
        status = FAIL if name == fail else OK
        timing = Timing(1, [int(t * 1e9)]) if status == OK else None
        res.impls[name] = ImplResult(name, "backend", name, status, "", timing)
    return res


def test_target_verdicts_take_the_worst_size():
    cases = (C.Case("relu", "float32", 1024), C.Case("relu", "float32", 4096))
    row = T.Target("row", cases, "ref", "np", T.FASTER, {"c": 3.0, "rust": 3.0})
    results = [
        _result(cases[0], {"ref": 4.0, "c": 1.0, "rust": 2.0}),  # c 4x, rust 2x
        _result(cases[1], {"ref": 4.0, "c": 1.25, "rust": 1.0}),  # c 3.2x, rust 4x
    ]
    entries = {e["backend"]: e for e in T.evaluate([row], results)}
    assert entries["c"]["verdict"] == "met" and entries["c"]["measured"] == pytest.approx(3.2)
    assert entries["c"]["worst_case"] == cases[1].id
    assert entries["rust"]["verdict"] == "short" and entries["rust"]["measured"] == 2.0
    timed = T.Target("facade", cases[:1], "ref", "np", T.TIME, {"c": 0.3, "rust": 0.6})
    entries = {e["backend"]: e for e in T.evaluate([timed], results[:1])}
    assert entries["c"]["measured"] == 0.25 and entries["c"]["verdict"] == "met"
    assert entries["rust"]["measured"] == 0.5 and entries["rust"]["verdict"] == "met"
    failed = [_result(cases[0], {"ref": 4.0, "c": 1.0, "rust": 1.0}, fail="c")]
    entries = {e["backend"]: e for e in T.evaluate([row], failed)}
    assert entries["c"]["verdict"] == "FAIL"


def test_targets_measure_dram_at_four_times_the_l3_at_least():
    assert T.dram_elements(32 << 20) * 4 == 128 << 20
    assert T.dram_elements(64 << 20) * 4 == 256 << 20
    rows = T.targets(32 << 20)
    cases = T.needed_cases(rows)
    assert len(cases) == len(set(cases))
    assert {c.op for c in cases} == {
        "relu",
        "relu_inplace",
        "relu_grad",
        "relu_alloc",
        "relu_float",
        "dense",
    }


def test_config_sweep_order_and_threads():
    cfg = Config(
        ops=["relu", "dense", "relu_float"],
        dtypes=["float32"],
        sizes={"float32": [16, 64]},
        dense_shapes=[(1, 3, 2)],
        backends=["c"],
        threads=[1, 2],
    )
    ids = [c.id for c in cfg.cases()]
    assert ids == [
        "relu_float float64 1 float t=1",
        "relu float32 16 t=1",
        "relu float32 16 t=2",
        "relu float32 64 t=1",
        "relu float32 64 t=2",
        "dense float32 3->2 batch 1 t=1",
        "dense float32 3->2 batch 1 t=2",
    ]


def test_every_impl_is_checked_on_a_sentinel_out():
    """An implementation that writes nothing is caught by the precheck."""
    ws = C.Workspace()
    for impl in C.build(C.Case("relu", "float32", 64), ["c"], ws):
        assert impl.precheck() is None, impl.name
    lazy = C.build(C.Case("relu", "float32", 64), ["c"], ws)[0]
    lazy.expr = "y"  # returns out without writing it
    lazy.returns_output = False
    assert "differ bit for bit" in (lazy.precheck() or "")


# ----------------------------------------------------------------------- other activations

ACTIVATIONS_SMALL = ("--sizes", "4K", "--dtypes", "float32", "--threads", "1")


def test_activations_alias_expands_to_every_activation_op():
    from relukit.bench.cli import expand_ops

    assert expand_ops(["relu", "activations", "sigmoid"]) == ["relu", *C.ACTIVATION_OPS]
    assert "activations" not in C.DEFAULT_OPS and not set(C.ACTIVATION_OPS) & set(C.DEFAULT_OPS)
    assert {"gelu_grad", "gelu_tanh", "tanh_grad", "prelu"} <= set(C.ACTIVATION_OPS)


def test_schema_names_every_op():
    from relukit.bench.schema import _CASE

    assert _CASE["properties"]["op"]["enum"] == list(C.OPS)


def test_quick_activations_run_passes_and_validates(capsys, tmp_path):
    out_json = tmp_path / "activations.json"
    code, out = run_cli(
        capsys,
        *("--quick", "--ops", "activations", "--dtypes", "float32", "--threads", "1"),
        *("--backends", "numpy,c,rust", "--json", str(out_json)),
    )
    assert code == 0, out
    assert "FAIL [" not in out and "every output matched its reference" in out
    doc = json.loads(out_json.read_text())
    validate(doc)
    ops = {c["op"] for c in doc["cases"]}
    assert ops == set(C.ACTIVATION_OPS)
    for case in doc["cases"]:
        impls = {r["impl"]: r for r in case["results"]}
        assert {"numpy", "c", "rust", "ref", "roofline"} <= set(impls)
        assert all(r["status"] == OK for r in impls.values())


def test_activation_subset_with_the_python_backend(capsys):
    code, out = run_cli(capsys, "--ops", "sigmoid,gelu_grad,leaky_relu", *ACTIVATIONS_SMALL)
    assert code == 0, out
    assert "sigmoid" in out and "gelu_grad" in out and "leaky_relu" in out
    assert "FAIL [" not in out


def _wrong_sigmoid(x, out, *params):  # tanh instead of the logistic
    np.tanh(x, out=out)


def _off_by_ulps_sigmoid(x, out, *params):  # right shape and nearly right: 64 ulps off
    from relukit.backends import numpy as nb

    nb._via_f64(x, out, nb._sigmoid)
    with np.errstate(all="ignore"):
        bumped = out * np.float32(1 + 64 * 2.0**-23)
    np.copyto(out, np.where(np.isfinite(out) & (out > 0.1), bumped, out))


@pytest.mark.parametrize("broken", [_wrong_sigmoid, _off_by_ulps_sigmoid])
def test_a_wrong_activation_backend_is_a_fail(monkeypatch, capsys, tmp_path, broken):
    monkeypatch.setattr("relukit.backends.numpy.sigmoid_array", broken)
    out_json = tmp_path / "r.json"
    code, out = run_cli(
        capsys,
        "--ops",
        "sigmoid",
        "--backends",
        "numpy,c",
        *ACTIVATIONS_SMALL,
        "--json",
        str(out_json),
    )
    assert code == 1
    assert "[1] sigmoid float32 4K t=1 · numpy: FAIL:" in out
    doc = json.loads(out_json.read_text())
    validate(doc)
    results = {r["impl"]: r for r in doc["cases"][0]["results"]}
    assert results["numpy"]["status"] == FAIL and results["numpy"]["best_s"] is None
    assert results["c"]["status"] == OK and results["ref"]["status"] == OK
    assert doc["failures"] == 1

"""The report: terminal tables (rich), the JSON document, and ``--compare``.

One table per op. A row is one case (dtype, size, thread count); a column per backend, then
the NumPy reference and the roofline. A backend's cell reads::

    9.89 µs (10.8)        best time per call (median in brackets; ! = median > 1.5x best)
    53.0 GB/s 85% 3.28x   throughput, % of the roofline, speedup against the reference

The fastest backend of a row is bold; FAIL marks an output that did not match the reference
(the reason is listed under the table), and no speed is shown for it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from relukit.bench import cases as C
from relukit.bench.sweep import ERROR, FAIL, OK, SKIPPED, CaseResult, Run

SCHEMA_ID = "relukit-bench/1"
#: A time is flagged noisy when its median exceeds its best by this factor.
NOISY = 1.5


# ----------------------------------------------------------------------------- formatting


def _unit(seconds: float) -> tuple[str, float]:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return unit, scale
    return "ns", 1e-9


def fmt_time(seconds: float) -> str:
    unit, scale = _unit(seconds)
    return f"{seconds / scale:.3g} {unit}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x" if 0.1 <= x < 100 else f"{x:.2g}x"


def fmt_bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def _ratio_style(x: float) -> str:
    return "green" if x >= 1.0 else "red"


def _time_line(res: CaseResult, name: str) -> Text:
    best, median = res.best(name), res.median(name)
    assert best is not None and median is not None
    _, scale = _unit(best)
    text = Text(fmt_time(best))
    text.append(f" ({median / scale:.3g})", style="dim")  # the median, in the same unit
    if median > NOISY * best:
        text.append("!", style="yellow")
    return text


def _rate(res: CaseResult, name: str) -> str:
    if res.case.kind == "dense":
        g = res.gflops(name)
        return f"{g:.3g} GFLOP/s" if g else ""
    g = res.gbps(name)
    return f"{g:.3g} GB/s" if g else ""


def cell(res: CaseResult, name: str, notes: list[str]) -> Text:
    """The two-line cell of implementation ``name`` in one row."""
    r = res.impls.get(name)
    if r is None:
        return Text("")
    if r.status == SKIPPED:
        return Text("skipped", style="dim")
    if r.status in (FAIL, ERROR):
        notes.append(f"{res.case.id} · {name}: {r.status}: {r.message}")
        return Text(f"{r.status} [{len(notes)}]", style="bold red")
    text = _time_line(res, name)
    text.append("\n" + _rate(res, name))
    if r.role != C.ROOFLINE:
        pct = res.pct_roofline(name)
        if pct is not None:
            text.append(f" {pct:.0f}%")
    if r.role == C.BACKEND:
        x = res.speedup(name)
        if x is not None:
            text.append(f" {fmt_ratio(x)}", style=_ratio_style(x))
    return text


def _fastest(res: CaseResult, backends: list[str]) -> str | None:
    timed = {b: res.best(b) for b in backends if res.best(b) is not None}
    return min(timed, key=lambda b: timed[b]) if timed else None  # type: ignore[arg-type,return-value]


# ----------------------------------------------------------------------------- tables


def _row_label(res: CaseResult, show_dtype: bool, show_threads: bool) -> list[str]:
    case = res.case
    cells = [case.dtype] if show_dtype else []
    cells.append(case.size_label)
    cells.append(fmt_bytes(case.nbytes) if case.kind == "elementwise" else "")
    if show_threads:
        cells.append(str(res.threads))
    return cells


def op_table(op: str, results: list[CaseResult], backends: list[str], notes: list[str]) -> Table:
    """The table of one op."""
    spec = C.OPS[op]
    dtypes = {r.case.dtype for r in results}
    threads = {r.threads for r in results}
    show_dtype, show_threads = len(dtypes) > 1, len(threads) > 1
    title = Text(f"{op}: ", style="bold")
    title.append(f"{spec.call}, {spec.about}")
    caption = f"reference: {spec.reference}" + (
        f"; roofline: {spec.roofline}" if spec.roofline else ""
    )
    table = Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
    )
    if show_dtype:
        table.add_column("dtype")
    table.add_column("shape" if spec.kind == "dense" else "n", justify="right")
    table.add_column("moved" if spec.kind == "elementwise" else "", justify="right")
    if show_threads:
        table.add_column("thr", justify="right")
    names = [b for b in backends if any(b in r.impls for r in results)]
    extra = [n for n in ("ref", "numpy-relu", "roofline") if any(n in r.impls for r in results)]
    headers = {"ref": "reference", "numpy-relu": "np relu", "roofline": "roofline"}
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for name in extra:
        table.add_column(headers[name], justify="right", no_wrap=True, style="dim")
    previous = None
    for res in results:
        group = (res.case.dtype, res.case.n, res.case.shape)
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        best = _fastest(res, names)
        cells: list[Any] = list(_row_label(res, show_dtype, show_threads))
        for name in names + extra:
            text = cell(res, name, notes)
            if name == best:
                text.stylize("bold")
            cells.append(text)
        table.add_row(*cells)
    return table


def scalar_table(results: list[CaseResult], backends: list[str], notes: list[str]) -> Table:
    """relu on one Python float: time per call and overhead against pure Python."""
    spec = C.OPS["relu_float"]
    table = Table(
        title=Text("relu_float: ", style="bold").append(f"{spec.call}, {spec.about}"),
        caption=f"reference: {spec.reference}",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
    )
    table.add_column("")
    for name in ("ref", *backends):
        table.add_column("pure Python" if name == "ref" else name, justify="right")
    for res in results:
        cells: list[Any] = ["best (median)"]
        ratios: list[Any] = ["time / pure Python"]
        for name in ("ref", *backends):
            r = res.impls.get(name)
            if r is None or r.status != OK:
                cells.append(cell(res, name, notes) if r is not None else "")
                ratios.append("")
                continue
            cells.append(_time_line(res, name))
            x = res.ratio(name, "ref")
            ratios.append(fmt_ratio(x) if x is not None else "")
        table.add_row(*cells)
        table.add_row(*ratios)
    return table


LEGEND = (
    "Cells: best time per call (median of the repeats in brackets; ! = median more than "
    f"{NOISY}x the best: a noisy machine); throughput at the best time (GB/s = bytes read + "
    "bytes written per call; GFLOP/s for dense); % of the roofline measured in the same row; "
    "speedup against the reference expression (above 1: faster than NumPy). Bold: fastest "
    "backend of the row. Every output was checked against the reference before and after "
    "timing; FAIL means it did not match, and no speed is shown for it."
)


def tables(run: Run) -> tuple[list[Any], list[str]]:
    """The renderables of a run (one table per op, then the legend) and the failure notes."""
    notes: list[str] = []
    out: list[Any] = []
    backends = list(run.config.backends)
    for op in C.OPS:
        results = [r for r in run.results if r.case.op == op]
        if not results:
            continue
        if op == "relu_float":
            out.append(scalar_table(results, backends, notes))
        else:
            out.append(op_table(op, results, backends, notes))
    out.append(Text(LEGEND, style="dim"))
    return out, notes


def machine_line(machine: dict[str, Any]) -> str:
    cpu = machine["cpu"]
    flags = ", ".join(f for f, on in cpu["key_flags"].items() if on and f.startswith("avx"))
    l2 = next((c["size_bytes"] for c in machine["caches"] if c["level"] == 2), None)
    parts = [
        f"{cpu['model']}",
        f"{cpu['usable_cpus']} CPUs",
        f"L2 {fmt_bytes(l2)}" if l2 else "",
        f"L3 {fmt_bytes(machine['l3_bytes'])} ({machine['l3_note']})",
        flags or "no AVX",
        f"Python {machine['versions']['python']}",
        f"NumPy {machine['versions']['numpy']}",
    ]
    return " · ".join(p for p in parts if p)


def print_report(run: Run, machine: dict[str, Any], console: Console) -> None:
    """The whole terminal report."""
    console.print(Text("relukit bench", style="bold") + Text(" — " + machine_line(machine)))
    renderables, notes = tables(run)
    for item in renderables:
        console.print(item)
        console.print()
    for i, note in enumerate(notes, 1):
        console.print(Text(f"[{i}] {note}", style="red"))
    n_fail = len(run.failures)
    took = run.finished - run.started
    summary = (
        f"{len(run.results)} cases, {sum(len(r.impls) for r in run.results)} measurements, "
        f"{took:.3g} s; clock tick {run.clock_tick_ns} ns, each timed run >= "
        f"{fmt_time(run.min_run_ns / 1e9)}, best and median of {run.config.repeats} runs"
    )
    console.print(summary)
    if n_fail:
        console.print(Text(f"FAIL: {n_fail} result(s) did not match", style="bold red"))
    else:
        console.print("every output matched its reference")


# ----------------------------------------------------------------------------- JSON


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def case_json(res: CaseResult) -> dict[str, Any]:
    case = res.case
    impls = []
    for name, r in res.impls.items():
        t = r.timing if r.status == OK else None
        impls.append(
            {
                "impl": name,
                "role": r.role,
                "expr": r.expr,
                "status": r.status,
                "message": r.message,
                "loops": t.loops if t else None,
                "runs_ns": list(t.runs_ns) if t else [],
                "best_s": res.best(name),
                "median_s": res.median(name),
                "gbps": _finite(res.gbps(name)),
                "gflops": _finite(res.gflops(name)),
                "pct_roofline": _finite(res.pct_roofline(name)),
                "speedup": _finite(res.speedup(name)),
                "speedup_median": _finite(res.ratio("ref", name, "median")),
            }
        )
    return {
        "id": case.id,
        "op": case.op,
        "kind": case.kind,
        "dtype": case.dtype,
        "n": case.n,
        "shape": list(case.shape) if case.shape else None,
        "threads_requested": case.threads,
        "threads": res.threads,
        "blas_threads": res.blas_threads,
        "bytes": case.nbytes,
        "flops": case.flops,
        "results": impls,
    }


def to_json(
    run: Run,
    machine: dict[str, Any],
    targets: list[dict[str, Any]] | None = None,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON document of a run (validated by :data:`relukit.bench.schema.SCHEMA`)."""
    cfg = asdict(run.config)
    cfg["dense_shapes"] = [list(s) for s in run.config.dense_shapes]
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "created_utc": _dt.datetime.fromtimestamp(run.started, _dt.timezone.utc).isoformat(),
        "duration_s": run.finished - run.started,
        "command": list(sys.argv if argv is None else argv),
        "machine": machine,
        "method": {
            "clock": "time.perf_counter_ns",
            "clock_tick_ns": run.clock_tick_ns,
            "min_run_ns": run.min_run_ns,
            "repeats": run.config.repeats,
            "warmup_calls": 1,
            "interleaved": True,
            "statistics": "best (min) and median per-call time over the timed runs",
        },
        "config": cfg,
        "ops": {name: asdict(op) for name, op in C.OPS.items()},
        "cases": [case_json(r) for r in run.results],
        "failures": len(run.failures),
    }
    if targets is not None:
        doc["targets"] = targets
    return doc


def write_json(doc: dict[str, Any], path: str | Path) -> None:
    """Indented JSON, with flat lists (timed runs, CPU flags) kept on one line each."""
    text = json.dumps(doc, indent=1)
    text = re.sub(
        r"\[\n\s+([^\[\]{}]*?)\n\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text
    )
    Path(path).write_text(text + "\n")


# ----------------------------------------------------------------------------- compare


def _index(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (case["id"], r["impl"]): r
        for case in doc.get("cases", [])
        for r in case["results"]
        if r.get("status") == OK and r.get("best_s")
    }


def compare_table(new: dict[str, Any], old: dict[str, Any]) -> tuple[Table, list[str]]:
    """Per case and backend: old and new best time, old/new (above 1: faster now), and the
    speedup against NumPy then and now (a ratio measured side by side in each run, so it
    is the figure to trust when the two runs had different background load)."""
    warnings = []
    old_cpu, new_cpu = old["machine"]["cpu"]["model"], new["machine"]["cpu"]["model"]
    if old_cpu != new_cpu:
        warnings.append(f"different CPUs: {old_cpu!r} then, {new_cpu!r} now")
    for key in ("numpy", "python", "relukit"):
        a, b = old["machine"]["versions"].get(key), new["machine"]["versions"].get(key)
        if a != b:
            warnings.append(f"{key} {a} then, {b} now")
    before = _index(old)
    table = Table(
        title=Text("compared with an earlier run", style="bold"),
        caption="time ratio = old best / new best (above 1: faster now); x ref = speedup "
        "against the reference in each run",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
    )
    for col in ("case", "impl", "old best", "new best", "time ratio", "x ref then", "x ref now"):
        table.add_column(col, justify="left" if col in ("case", "impl") else "right")
    matched = 0
    for case in new.get("cases", []):
        for r in case["results"]:
            if r.get("role") != C.BACKEND or r.get("status") != OK or not r.get("best_s"):
                continue
            o = before.get((case["id"], r["impl"]))
            if o is None:
                continue
            matched += 1
            ratio = o["best_s"] / r["best_s"]
            then, now = o.get("speedup"), r.get("speedup")
            table.add_row(
                case["id"],
                r["impl"],
                fmt_time(o["best_s"]),
                fmt_time(r["best_s"]),
                Text(fmt_ratio(ratio), style=_ratio_style(ratio)),
                fmt_ratio(then) if then else "",
                fmt_ratio(now) if now else "",
            )
    if not matched:
        warnings.append("no case of this run is in the old one (different sizes or ops?)")
    return table, warnings

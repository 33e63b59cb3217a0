"""``relukit bench --targets``: the C and Rust kernels' speed targets, one measured row each.

Each :class:`Target` names the cases it needs, what the backend is compared with (the NumPy
reference, the relu reference as a bandwidth baseline, or the roofline) and a goal per
backend. A row over a range of sizes reports its *worst* case: a target met over a range is
met at every size of it. Ratios are always of two implementations timed side by side in the
same case (best times); ``met``/``short`` compare them with the goal, ``FAIL`` means an output
did not match the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from relukit.bench import cases as C
from relukit.bench.report import fmt_ratio
from relukit.bench.sweep import FAIL, CaseResult

FASTER = "faster"  # time(versus) / time(backend) >= goal
TIME = "time"  # time(backend) / time(versus) <= goal
INFO = "info"  # reported, no goal
BACKENDS = ("c", "rust")


@dataclass(frozen=True)
class Target:
    """One row of the speed-target table for one op."""

    row: str
    cases: tuple[C.Case, ...]
    versus: str  # implementation name: "ref", "numpy-relu" or "roofline"
    versus_label: str
    mode: str
    goals: dict[str, float] = field(default_factory=dict)  # backend -> goal (mode FASTER/TIME)


def _mib(n: int, dtype: str = "float32") -> str:
    return f"{n * C.np.dtype(dtype).itemsize / C.MI:g} MiB"


def dram_elements(l3_bytes: int, dtype: str = "float32") -> int:
    """The smallest power of two whose array (x alone) is >= 128 MiB and >= 4x the L3."""
    need = max(128 * C.MI, 4 * l3_bytes) / C.np.dtype(dtype).itemsize
    return 1 << math.ceil(math.log2(need))


def targets(l3_bytes: int, two: int = 2) -> list[Target]:
    """The speed-target rows for this machine (``two`` = the thread count of the two-thread
    rows); L2 = 16K-256K elements, L3 = 1-16 MiB arrays, DRAM >= max(128 MiB, 4x L3)."""
    l2_sizes = (16 * C.KI, 64 * C.KI, 256 * C.KI)
    l3_sizes = (256 * C.KI, C.MI, 4 * C.MI)  # 1, 4, 16 MiB of float32
    dram = dram_elements(l3_bytes)
    rows: list[Target] = []
    for op in ("relu", "relu_inplace", "relu_grad"):
        # relu_grad: the same bandwidth goal, against NumPy's relu on the same buffers
        versus, label, extra = "ref", C.OPS[op].reference, ()
        if op == "relu_grad":
            versus, label, extra = (
                "numpy-relu",
                "np.maximum(x, 0, out=y), as bandwidth",
                ("numpy-relu",),
            )

        def cs(sizes: tuple[int, ...], t: int, op: str = op, extra: tuple = extra) -> tuple:
            return tuple(C.Case(op, "float32", n, threads=t, extra=extra) for n in sizes)

        name = {"relu": "relu", "relu_inplace": "relu in place", "relu_grad": "relu_grad"}[op]
        rows += [
            Target(
                f"{name} 16K-256K (L2), 1 thread",
                cs(l2_sizes, 1),
                versus,
                label,
                FASTER,
                {"c": 3.5, "rust": 3.5},
            ),
            Target(
                f"{name} 16K-256K (L2), 1 thread",
                cs(l2_sizes, 1),
                "roofline",
                "np.copyto(y, x)",
                FASTER,
                {"c": 0.9, "rust": 0.9},
            ),
            Target(
                f"{name} 1-16 MiB (L3), 1 thread",
                cs(l3_sizes, 1),
                versus,
                label,
                FASTER,
                {"c": 2.5, "rust": 2.5},
            ),
            Target(
                f"{name} 1-16 MiB (L3), {two} threads",
                cs(l3_sizes, two),
                versus,
                label,
                FASTER,
                {"c": 3.5, "rust": 3.5},
            ),
        ]
        for t in sorted({1, two}):
            rows += [
                Target(
                    f"{name} {_mib(dram)} (DRAM), {t} thread{'s' * (t > 1)}",
                    cs((dram,), t),
                    versus,
                    label,
                    FASTER,
                    {"c": 2.2, "rust": 2.2},
                ),
                Target(
                    f"{name} {_mib(dram)} (DRAM), {t} thread{'s' * (t > 1)}",
                    cs((dram,), t),
                    "roofline",
                    "np.copyto(y, x)",
                    FASTER,
                    {"c": 1.0, "rust": 1.0},
                ),
            ]
    f64 = tuple(C.Case("relu", "float64", n, threads=1) for n in (4 * C.KI, 16 * C.KI, 64 * C.KI))
    rows.append(
        Target(
            "relu float64 4K-64K (in cache), 1 thread",
            f64,
            "ref",
            "np.maximum(x, 0, out=y)",
            FASTER,
            {"c": 1.3, "rust": 1.3},
        )
    )
    rows.append(
        Target(
            "full facade call relu(x), 16 elements (time ratio)",
            (C.Case("relu_alloc", "float32", 16, threads=1),),
            "ref",
            "np.maximum(x, 0)",
            TIME,
            {"c": 1.0, "rust": 0.5},
        )
    )
    rows.append(
        Target(
            "relu(v) on one Python float (time ratio)",
            (C.Case("relu_float", "float64", 1, threads=1),),
            "ref",
            "pure Python (v if v > 0.0 or v != v else 0.0)",
            INFO,
        )
    )
    rows.append(
        Target(
            "dense forward 3->2, batch 1 (SimpleNeuralLayer, float64)",
            (C.Case("dense", "float64", shape=(1, 3, 2), threads=1),),
            "ref",
            "np.maximum(x @ W + b, 0)",
            FASTER,
            {"c": 5.0, "rust": 5.0},
        )
    )
    for t in sorted({1, two}):  # W (784 KiB) outgrows one core's L2: a second core halves it
        rows.append(
            Target(
                f"dense forward 784->256, batch 1 (float32), {t} thread{'s' if t > 1 else ''}",
                (C.Case("dense", "float32", shape=(1, 784, 256), threads=t),),
                "ref",
                "np.maximum(x @ W + b, 0)",
                FASTER,
                {"c": 1.5, "rust": 1.5},
            )
        )
    return rows


def needed_cases(rows: list[Target]) -> list[C.Case]:
    """Every case the rows need, once, in a sweep-friendly order (by dtype and size)."""
    seen = dict.fromkeys(c for t in rows for c in t.cases)
    return sorted(seen, key=lambda c: (c.kind != "scalar", c.kind, c.dtype, c.n, c.op, c.threads))


def _value(res: CaseResult, target: Target, backend: str) -> float | None:
    if target.mode == FASTER:
        return res.ratio(target.versus, backend)
    return res.ratio(backend, target.versus)  # time ratio: backend / versus


def evaluate(rows: list[Target], results: list[CaseResult]) -> list[dict[str, Any]]:
    """One entry per (row, backend): the worst measured ratio over the row's cases, the
    goal, and the verdict (met, short, info, FAIL, or n/a when not measured)."""
    by_case = {r.case: r for r in results}
    out = []
    for target in rows:
        for backend in BACKENDS:
            values: dict[str, float | None] = {}
            failed = []
            threads = set()
            for case in target.cases:
                res = by_case.get(case)
                if res is None:
                    values[case.id] = None
                    continue
                threads.add(res.threads)
                impl = res.impls.get(backend)
                if impl is not None and impl.status == FAIL:
                    failed.append(case.id)
                values[case.id] = _value(res, target, backend)
            known = {k: v for k, v in values.items() if v is not None}
            goal = target.goals.get(backend)
            worst_case, measured = None, None
            if known:
                pick = max if target.mode == TIME else min
                worst_case = pick(known, key=lambda k: known[k])
                measured = known[worst_case]
            if failed:
                verdict = "FAIL"
            elif measured is None:
                verdict = "n/a"
            elif target.mode == INFO or goal is None:
                verdict = "info"
            elif target.mode == FASTER:
                verdict = "met" if measured >= goal else "short"
            else:
                verdict = "met" if measured <= goal else "short"
            out.append(
                {
                    "row": target.row,
                    "backend": backend,
                    "versus": target.versus,
                    "versus_label": target.versus_label,
                    "mode": target.mode,
                    "goal": goal,
                    "measured": measured,
                    "worst_case": worst_case,
                    "values": values,
                    "threads": sorted(threads),
                    "verdict": verdict,
                }
            )
    return out


_VERDICT_STYLE = {"met": "green", "short": "yellow", "FAIL": "bold red", "info": "", "n/a": "dim"}


def _goal(entry: dict[str, Any]) -> str:
    if entry["goal"] is None:
        return ""
    sign = ">=" if entry["mode"] == FASTER else "<="
    return f"{sign} {entry['goal']:g}x"


def _what(entry: dict[str, Any]) -> str:
    if entry["mode"] in (TIME, INFO):
        return f"time / {entry['versus_label']}"
    return f"vs {entry['versus_label']}"


def _per_size(entry: dict[str, Any]) -> str:
    values = entry["values"]
    if len(values) < 2:
        return ""
    parts = []
    for case_id, value in values.items():
        size = case_id.split()[2]  # "relu float32 16K t=1" -> "16K"
        parts.append(f"{size} {value:.2f}" if value is not None else f"{size} -")
    return " · ".join(parts)


def summary(entries: list[dict[str, Any]]) -> str:
    counts = {v: sum(e["verdict"] == v for e in entries) for v in ("met", "short", "FAIL")}
    goals = sum(e["goal"] is not None for e in entries)
    return f"{counts['met']} of {goals} targets met, {counts['short']} short" + (
        f", {counts['FAIL']} FAIL (wrong output)" if counts["FAIL"] else ""
    )


def table(entries: list[dict[str, Any]]) -> Table:
    """The targets as a rich table."""
    t = Table(
        title=Text(
            "kernel speed targets: C and Rust, each timed side by side with its baseline",
            style="bold",
        ),
        caption="measured = the worst of the row's sizes (best times; per size on the right); "
        "ratios >= goal are met for speedups, <= goal for time ratios (lower = faster)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
    )
    for col in ("row", "compared with", "backend", "measured", "goal", "", "per size"):
        t.add_column(col, justify="right" if col in ("measured", "goal") else "left")
    previous = None
    for e in entries:
        key = (e["row"], e["versus"])
        if previous is not None and key[0] != previous[0]:
            t.add_section()
        first = key != previous
        previous = key
        t.add_row(
            e["row"] if first else "",
            _what(e) if first else "",
            e["backend"],
            fmt_ratio(e["measured"]) if e["measured"] is not None else "",
            _goal(e),
            Text(e["verdict"], style=_VERDICT_STYLE.get(e["verdict"], "")),
            _per_size(e),
        )
    return t

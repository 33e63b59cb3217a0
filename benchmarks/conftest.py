"""pytest-benchmark plumbing for relukit's cross-backend suite.

- ``case`` fixture: labels a benchmark (group, implementation, sort order, bytes moved,
  elements, flops) in ``benchmark.extra_info`` so GB/s and GFLOP/s can be derived from the
  saved JSON, and remembers the label on the test item so a failed case still shows up.
- ``pytest_benchmark_group_stats``: groups in the suite's order (op, dtype, size) instead of
  alphabetical order, so ``n=16`` comes before ``n=1M``.
- ``pytest_terminal_summary``: after pytest-benchmark's tables, one compact table per kind
  (elementwise, dense): a row per group, a column per backend with its time, throughput and
  speedup against the plain-NumPy reference measured in the same group, plus ``copyto``'s
  GB/s (the memory roofline) for the elementwise ops. Uses rich when it is installed.
"""

from __future__ import annotations

import io
import math
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

try:
    from rich import box
    from rich.console import Console
    from rich.table import Table
except ImportError:  # rich is optional: plain text then
    Console = None

#: Statistic the summary reports (a pytest-benchmark ``Stats`` attribute); ``--relukit-stat``.
STATS = ("median", "min", "mean")
SETTINGS = {"stat": STATS[0]}
#: A time is flagged noisy when its median exceeds its best round by this factor.
NOISY = 1.5
BACKENDS = ("python", "numpy", "c", "rust")
#: Reference column per kind: the plain NumPy expression the facade is compared with.
REFERENCE = {"elementwise": "numpy-ref", "dense": "numpy-expr"}
ROOFLINE = "copyto"
USER_PROPERTY = "relukit_bench_case"


# ----------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--relukit-stat",
        choices=STATS,
        default=STATS[0],
        help="statistic of the relukit summary table (default: median; min = best round)",
    )


def pytest_configure(config: pytest.Config) -> None:
    SETTINGS["stat"] = config.getoption("relukit_stat")


# ----------------------------------------------------------------------------- labelling


@pytest.fixture
def case(request: pytest.FixtureRequest, benchmark: Any) -> Callable[..., None]:
    """Label this test's benchmark; call it before timing (and before verifying)."""

    def label(
        *,
        group: str,
        impl: str,
        order: tuple[float, ...],
        elements: int,
        nbytes: int,
        flops: int = 0,
        kind: str = "elementwise",
    ) -> None:
        info = {
            "kind": kind,
            "impl": impl,
            "order": list(order),
            "elements": elements,
            "bytes": nbytes,  # bytes read + bytes written by one call
        }
        if flops:
            info["flops"] = flops
        benchmark.group = group  # read when the stats are created, i.e. at the timed call
        benchmark.extra_info.update(info)
        request.node.user_properties.append((USER_PROPERTY, {"group": group, **info}))

    return label


# ----------------------------------------------------------------------------- group order


def _order(bench: Any) -> list[float]:
    extra = bench["extra_info"] if isinstance(bench, dict) else bench.extra_info
    return list(extra.get("order") or [math.inf])


def pytest_benchmark_group_stats(config: pytest.Config, benchmarks: list, group_by: str) -> Any:
    """Groups in the suite's order; other ``--benchmark-group-by`` values use the default."""
    if group_by != "group":
        return None
    groups: dict[str, list] = {}
    for bench in benchmarks:
        groups.setdefault(bench["group"], []).append(bench)
    for benches in groups.values():
        benches.sort(key=lambda b: b["name"])
    return sorted(groups.items(), key=lambda item: (_order(item[1][0]), item[0] or ""))


# ----------------------------------------------------------------------------- failures


_FAILED: dict[tuple[str, str], dict] = {}  # (group, impl) -> label, for cases that failed


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.failed:
        return
    for name, value in report.user_properties:
        if name == USER_PROPERTY:
            _FAILED[(value["group"], value["impl"])] = value


# ----------------------------------------------------------------------------- summary


@dataclass
class Row:
    group: str
    kind: str
    order: list[float]
    cells: dict[str, Any] = field(default_factory=dict)  # impl -> Metadata, or None if failed


def _collect(config: pytest.Config) -> list[Row]:
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return []
    rows: dict[str, Row] = {}
    for bench in session.benchmarks:
        info = bench.extra_info
        if not bench or "impl" not in info:
            continue
        row = rows.setdefault(bench.group, Row(bench.group, info["kind"], _order(bench)))
        row.cells[info["impl"]] = bench
    for (group, impl), info in _FAILED.items():
        row = rows.setdefault(group, Row(group, info["kind"], list(info["order"])))
        row.cells[impl] = None
    return sorted(rows.values(), key=lambda r: (r.order, r.group))


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _ratio(x: float) -> str:
    return f"{x:.2f}x" if 0.1 <= x < 100 else f"{x:.2g}x"


def _seconds(bench: Any) -> float:
    return float(getattr(bench.stats, SETTINGS["stat"]))


def _noisy(bench: Any) -> bool:
    """Rounds disturbed (other processes, BLAS threads waiting for a busy core)."""
    return float(bench.stats.median) > NOISY * float(bench.stats.min)


def _gbps(bench: Any) -> float | None:
    nbytes = bench.extra_info.get("bytes", 0)
    return nbytes / _seconds(bench) / 1e9 if nbytes else None


def _gflops(bench: Any) -> float | None:
    flops = bench.extra_info.get("flops", 0)
    return flops / _seconds(bench) / 1e9 if flops else None


def _cell(row: Row, impl: str) -> tuple[str, str]:
    """Two lines: time and speedup vs the reference; throughput (and % of the roofline)."""
    if impl not in row.cells:
        return ("", "")
    bench = row.cells[impl]
    if bench is None:
        return ("FAILED", "")
    line1 = _time(_seconds(bench)) + ("!" if _noisy(bench) else "")
    ref = row.cells.get(REFERENCE[row.kind])
    if impl in BACKENDS and ref is not None:
        line1 += f"  {_ratio(_seconds(ref) / _seconds(bench))}"
    if row.kind == "dense":
        g = _gflops(bench)
        return (line1, f"{g:.3g} GFLOP/s" if g else "")
    g = _gbps(bench)
    if g is None:
        return (line1, "")
    line2 = f"{g:.3g} GB/s"
    roof = row.cells.get(ROOFLINE)
    if impl != ROOFLINE and roof is not None and _gbps(roof):
        line2 += f" {100 * g / _gbps(roof):.0f}%"
    return (line1, line2)


def _best(row: Row) -> str | None:
    timed = {k: v for k, v in row.cells.items() if k in BACKENDS and v is not None}
    return min(timed, key=lambda k: _seconds(timed[k])) if timed else None


def _tables(rows: list[Row]) -> list[tuple[str, list[str], list[Row]]]:
    out = []
    elementwise = [r for r in rows if r.kind == "elementwise"]
    dense = [r for r in rows if r.kind == "dense"]
    if elementwise:
        ref = REFERENCE["elementwise"]
        out.append(("elementwise", [*BACKENDS, ref, f"{ROOFLINE} (roofline)"], elementwise))
    if dense:
        out.append(("dense forward", [*BACKENDS, REFERENCE["dense"]], dense))
    return out


def _impl_of(column: str) -> str:
    return column.split(" ")[0]


def _legend() -> str:
    return LEGEND.format(stat=SETTINGS["stat"], noisy=NOISY)


LEGEND = (
    "{stat} time per call; Nx = the reference's time / this time (>1: faster than "
    f"{REFERENCE['elementwise']} = np.maximum(x, 0, out=y) [relu_grad: np.greater(x, 0, out=y)], "
    f"dense: {REFERENCE['dense']} = np.maximum(x @ W + b, 0)); GB/s = (bytes read + written) / "
    f"time; N% = share of {ROOFLINE}'s GB/s (np.copyto on the same buffers) in the same group; "
    "! = noisy, median > {noisy}x the best round (rerun on a quiet machine, or see "
    "--relukit-stat=min); bold = fastest backend."
)


def _render_rich(rows: list[Row], color: bool, width: int) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        soft_wrap=False,
    )
    for title, columns, table_rows in _tables(rows):
        table = Table(title=f"relukit {title}", box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("group", no_wrap=True)
        for column in columns:
            table.add_column(column, justify="right", no_wrap=True)
        for i, row in enumerate(table_rows):
            best = _best(row)
            cells = []
            for column in columns:
                impl = _impl_of(column)
                text = "\n".join(_cell(row, impl)).rstrip("\n")
                if text.startswith("FAILED"):
                    text = f"[bold red]{text}[/]"
                elif impl == best:
                    text = f"[bold]{text}[/]" if color else f"*{text}"
                cells.append(text)
            table.add_row(row.group, *cells, end_section=i < len(table_rows) - 1)
        console.print(table)
    legend = _legend() if color else _legend().replace("bold =", "* =")
    console.print(legend, width=min(width, 110), markup=False)
    return buf.getvalue()


def _render_plain(rows: list[Row]) -> str:
    lines = []
    for title, columns, table_rows in _tables(rows):
        grid = [["group", *columns]]
        for row in table_rows:
            best = _best(row)
            first, second = [row.group], [""]
            for column in columns:
                impl = _impl_of(column)
                a, b = _cell(row, impl)
                first.append(("*" if impl == best else "") + a)
                second.append(b)
            grid += [first, second]
        widths = [max(len(r[i]) for r in grid) for i in range(len(grid[0]))]
        lines.append(f"relukit {title}")
        for n, r in enumerate(grid):
            right = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
            cells = [r[0].ljust(widths[0]), *right]
            lines.append("  ".join(cells).rstrip())
            if n == 0 or n % 2 == 0:
                lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
        lines.append("")
    lines += textwrap.wrap(_legend().replace("bold =", "* ="), 110)
    return "\n".join(lines) + "\n"


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = _collect(config)
    if not rows:
        return
    tr = terminalreporter
    tr.ensure_newline()
    tr.section(f"relukit summary ({SETTINGS['stat']})", sep="=")
    width = max(shutil.get_terminal_size((200, 24)).columns, 200)
    if Console is None:
        text = _render_plain(rows)
    else:
        text = _render_rich(rows, color=tr.hasmarkup, width=width)
    tr.write(text)

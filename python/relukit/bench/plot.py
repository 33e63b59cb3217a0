"""``--plot PATH.png``: throughput against size, one panel per op (and dtype), log axes.

Elementwise panels plot GB/s (bytes read + written per call) against the bytes one call
moves, with the roofline (``np.copyto`` on the same buffers, black dashed) and the L1d, L2
and L3 sizes marked; dense panels plot GFLOP/s against multiply-adds per call, with the
matrix product alone (BLAS) as the roofline. Solid lines are one thread; the C and Rust
backends at more threads are dashed. Matplotlib runs with the Agg backend (no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relukit.bench import cases as C
from relukit.bench.report import fmt_bytes
from relukit.bench.sweep import Run

COLORS = {"python": "#8c564b", "numpy": "#1f77b4", "c": "#2ca02c", "rust": "#d62728"}
THREADED = ("c", "rust")


def _series(
    results: list[Any], name: str, threads: int, x_of: Any, y_of: Any
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for res in results:
        if res.threads != threads:
            continue
        y = y_of(res, name)
        if y:
            xs.append(x_of(res))
            ys.append(y)
    return xs, ys


def plot(run: Run, path: str | Path, machine: dict[str, Any]) -> None:
    """Write the figure of ``run`` to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, str]] = []
    for dtype in run.config.dtypes:
        for op in C.OPS:
            if C.OPS[op].kind == "scalar":
                continue
            if any(r.case.op == op and r.case.dtype == dtype for r in run.results):
                panels.append((op, dtype))
    if not panels:
        raise ValueError("nothing to plot: no elementwise or dense case was run")
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.7 * nrows), squeeze=False)
    threads = sorted({r.threads for r in run.results})
    base = threads[0]
    caches = [
        (c["level"], c["size_bytes"]) for c in machine["caches"] if c["type"] != "Instruction"
    ]
    handles: dict[str, Any] = {}
    for ax, (op, dtype) in zip(axes.flat, panels, strict=False):
        results = [r for r in run.results if r.case.op == op and r.case.dtype == dtype]
        dense = C.OPS[op].kind == "dense"
        if dense:
            x_of = lambda r: r.case.work  # noqa: E731
            y_of = lambda r, n: r.gflops(n)  # noqa: E731
            ax.set_xlabel("multiply-adds per call")
            ax.set_ylabel("GFLOP/s")
        else:
            x_of = lambda r: r.case.nbytes  # noqa: E731
            y_of = lambda r, n: r.gbps(n)  # noqa: E731
            ax.set_xlabel("bytes moved per call (x read + y written)")
            ax.set_ylabel("GB/s")
            lo = min(r.case.nbytes for r in results)
            hi = max(r.case.nbytes for r in results)
            for level, size in caches:
                # x + y fit in this cache while the bytes moved per call are <= its size
                if lo <= size <= hi:
                    ax.axvline(size, color="0.75", lw=0.8, zorder=0)
                    ax.text(
                        size,
                        0.99,
                        f" L{level}",
                        transform=ax.get_xaxis_transform(),
                        va="top",
                        ha="left",
                        fontsize=7,
                        color="0.4",
                    )
        xs, ys = _series(results, "roofline", base, x_of, y_of)
        if xs:
            (h,) = ax.plot(xs, ys, "k--", lw=1.6)
            handles.setdefault("roofline (np.copyto(y, x); dense: x @ W)", h)
        xs, ys = _series(results, "ref", base, x_of, y_of)
        if xs:
            (h,) = ax.plot(xs, ys, color="0.45", lw=1.4, ls=":", marker=".")
            handles.setdefault("NumPy reference (in each title)", h)
        for backend in run.config.backends:
            for t in threads:
                if t != base and backend not in THREADED:
                    continue
                xs, ys = _series(results, backend, t, x_of, y_of)
                if not xs:
                    continue
                style = "-" if t == base else "--"
                label = backend if t == base else f"{backend}, {t} threads"
                (h,) = ax.plot(
                    xs, ys, style, color=COLORS.get(backend), marker="o", ms=3, label=label
                )
                handles.setdefault(label, h)
        failed = [r for r in results if r.failures]
        for res in failed:
            names = ", ".join(f.name for f in res.failures)
            ax.annotate(
                f"FAIL: {names}",
                (x_of(res), 0.02),
                xycoords=("data", "axes fraction"),
                color="red",
                fontsize=7,
                rotation=90,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(f"{op} {dtype}\nvs {C.OPS[op].reference}", fontsize=9)
        if not dense:
            ticks = [t for t in ax.get_xticks() if t >= 1]
            ax.set_xticks(ticks)
            ax.set_xticklabels([fmt_bytes(int(t)).replace(" ", "") for t in ticks], fontsize=7)
            ax.set_xlim(
                min(r.case.nbytes for r in results) / 1.5, max(r.case.nbytes for r in results) * 1.5
            )
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    cpu = machine["cpu"]
    fig.suptitle(
        f"relukit bench · {cpu['model']} · {cpu['usable_cpus']} CPUs · "
        f"L3 {fmt_bytes(machine['l3_bytes'])} · best of {run.config.repeats}",
        fontsize=10,
    )
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        ncol=min(len(handles), 6),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)

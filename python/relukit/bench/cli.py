"""``relukit bench``: the command line of the benchmark (registered by :mod:`relukit.cli`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import relukit
from relukit._threads import cpu_count
from relukit.bench import cases as C
from relukit.bench.sweep import Config

#: --quick: a few sizes on each side of the caches, fewer and shorter runs (well under 1 min).
QUICK_SIZES = (16, 4 * C.KI, 256 * C.KI)
QUICK_DENSE = ((1, 3, 2), (1, 784, 256))


def _csv(kind: Any) -> Any:
    def parse(text: str) -> list:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        try:
            return [kind(t) for t in items]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _choice(valid: tuple[str, ...]) -> Any:
    def check(name: str) -> str:
        if name not in valid:
            raise ValueError(f"{name!r} is not one of {', '.join(valid)}")
        return name

    return check


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be an integer >= 1")
    return value


def _shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{text!r} is not BATCHxINxOUT (e.g. 1x784x256)")
    batch, n_in, n_out = (int(p) for p in parts)
    return batch, n_in, n_out


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def register(sub: Any, formatter_class: Any = argparse.HelpFormatter) -> None:
    """Add the ``bench`` subcommand to the ``relukit`` command's subparsers."""
    p = sub.add_parser(
        "bench",
        formatter_class=formatter_class,
        help="time every backend against plain NumPy and a memory-copy roofline",
        description="Time relu, relu in place, relu_grad and the dense layer (and, with "
        "--ops activations, every other activation and derivative) on every backend against "
        "NumPy and the memory roofline (np.copyto on the same buffers), checking every "
        "output. Lists are comma-separated. The method and every column are explained in "
        "docs/benchmark.md of the source distribution.",
    )
    p.add_argument("--quick", action="store_true", help="a small sweep, well under a minute")
    p.add_argument(
        "--targets",
        action="store_true",
        help="measure C and Rust against the kernels' speed goals (met or short)",
    )
    p.add_argument(
        "--ops",
        type=_csv(_choice((*C.OPS, "activations"))),
        metavar="LIST",
        help=f"ops (default {','.join(C.DEFAULT_OPS)}; also: relu_alloc, and the other "
        f"activations, not in the default sweep: {','.join(C.ACTIVATION_OPS)}, or "
        "'activations' for all of them)",
    )
    p.add_argument(
        "--dtypes",
        type=_csv(_choice(C.DTYPES)),
        metavar="LIST",
        help="float32,float64 (default both)",
    )
    p.add_argument(
        "--sizes",
        type=_csv(C.parse_count),
        metavar="LIST",
        help="elements, e.g. 16,4K,1M (default: powers of 4 from 16 up to an "
        "array of >= 4x the L3)",
    )
    p.add_argument(
        "--max-size", type=C.parse_count, metavar="N", help="cap the default sizes at N elements"
    )
    p.add_argument(
        "--dense-shapes",
        type=_csv(_shape),
        metavar="LIST",
        help="BATCHxINxOUT,... (default 1x3x2,1x784x256,32x784x256,256x784x256; "
        "batch 1 is a 1-D input)",
    )
    p.add_argument(
        "--backends",
        type=_csv(_choice(C.BACKENDS)),
        metavar="LIST",
        help="default: every available backend",
    )
    p.add_argument(
        "--threads",
        type=_csv(_positive_int),
        metavar="LIST",
        help="relukit.set_num_threads values (default: 1 and all CPUs)",
    )
    p.add_argument(
        "--repeats",
        type=_positive_int,
        help="timed runs per implementation (default 11; --quick 5)",
    )
    p.add_argument(
        "--min-time",
        type=_positive_float,
        metavar="SECONDS",
        help="shortest timed run (default 2e-4, and >= 20 clock ticks)",
    )
    p.add_argument(
        "--python-budget",
        type=_positive_float,
        metavar="SECONDS",
        help="time the pure Python backend may spend on one case (default 1; --quick 0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the input data")
    p.add_argument("--json", metavar="PATH", help="write every measurement and the machine")
    p.add_argument("--plot", metavar="PATH.png", help="throughput against size, log axes")
    p.add_argument("--compare", metavar="OLD.json", help="ratios against an earlier --json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=main)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``relukit bench`` arguments, parsed on their own (for tools that reuse the config)."""
    parser = argparse.ArgumentParser(prog="relukit")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["bench", *argv])


def _need(module: str, what: str) -> None:
    from relukit.cli import require

    require(f"bench {what}" if what != "relukit bench" else "bench", module)


def _usage(message: str) -> Exception:
    """A one-line error for the ``relukit`` command (exit status 2)."""
    from relukit.cli import UsageError

    return UsageError(message.removeprefix("relukit bench: "))


def expand_ops(ops: list[str]) -> list[str]:
    """``activations`` -> every activation op but relu's; duplicates dropped, order kept."""
    out: list[str] = []
    for op in ops:
        for name in C.ACTIVATION_OPS if op == "activations" else (op,):
            if name not in out:
                out.append(name)
    return out


def config_from(args: argparse.Namespace, l3: int) -> Config:
    """The sweep configuration from the command line (``--quick`` changes the defaults)."""

    available = relukit.available_backends()
    backends = args.backends or available
    missing = [b for b in backends if b not in available]
    if missing:
        from relukit._backend import _failed

        why = "; ".join(f"{b}: {_failed.get(b, 'not available')}" for b in missing)
        raise _usage(f"relukit bench: backend not available: {why}")
    dtypes = args.dtypes or list(C.DTYPES)
    if args.sizes:
        sizes = {d: sorted(set(args.sizes)) for d in dtypes}
    elif args.quick:
        sizes = {d: list(QUICK_SIZES) for d in dtypes}
    else:
        sizes = {d: C.default_sizes(d, l3) for d in dtypes}
    if args.max_size:
        sizes = {
            d: [n for n in s if n <= args.max_size] or [args.max_size] for d, s in sizes.items()
        }
    threads = args.threads or sorted({1, cpu_count()})
    return Config(
        ops=expand_ops(args.ops or list(C.DEFAULT_OPS)),
        dtypes=dtypes,
        sizes=sizes,
        dense_shapes=args.dense_shapes or list(QUICK_DENSE if args.quick else C.DENSE_SHAPES),
        backends=[b for b in C.BACKENDS if b in backends],
        threads=threads,
        repeats=args.repeats or (5 if args.quick else 11),
        min_time_s=args.min_time or (100e-6 if args.quick else 200e-6),
        python_budget_s=args.python_budget or (0.2 if args.quick else 1.0),
        seed=args.seed,
        quick=args.quick,
    )


def _console(stream: Any) -> Any:
    from rich.console import Console

    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=width, highlight=False)


def main(args: argparse.Namespace) -> int:
    """Run ``relukit bench``; 1 when an output did not match its reference."""
    _need("rich", "relukit bench")
    if args.plot:
        _need("matplotlib", "--plot")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from relukit.bench import report
    from relukit.bench import targets as T
    from relukit.bench.machine import l3_bytes, machine_info
    from relukit.bench.sweep import sweep

    old = None
    if args.compare:  # read it first: a bad path should not cost a whole sweep
        try:
            old = json.loads(Path(args.compare).read_text())
        except (OSError, ValueError) as exc:
            raise _usage(f"relukit bench: --compare {args.compare}: {exc}") from None
        if not isinstance(old, dict) or old.get("schema") != report.SCHEMA_ID:
            raise _usage(
                f"relukit bench: --compare {args.compare}: not a relukit bench --json file"
            )
    l3, _ = l3_bytes()
    config = config_from(args, l3)
    rows = None
    todo = None
    if args.targets:
        threads = max(config.threads)
        rows = T.targets(l3, two=max(threads, 2))
        todo = T.needed_cases(rows)
        config.ops = sorted({c.op for c in todo})
        config.dtypes = sorted({c.dtype for c in todo})
        config.threads = sorted({c.threads for c in todo})
        config.backends = [b for b in config.backends if b != "python"]
    if args.plot and all(C.OPS[op].kind == "scalar" for op in config.ops):
        raise _usage("relukit bench: --plot needs an elementwise or dense op in --ops")
    out = _console(sys.stdout)
    machine = machine_info()
    err = _console(sys.stderr)
    show = not args.no_progress and sys.stderr.isatty()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show,
    )
    with progress:
        task = progress.add_task("relukit bench", total=None)

        def step(case: C.Case, i: int, total: int) -> None:
            progress.update(task, total=total, completed=i, description=f"{case.id:<34}")

        run = sweep(config, progress=step, cases=todo)
        progress.update(task, completed=len(run.results))
    entries = None
    if rows is not None:
        entries = T.evaluate(rows, run.results)
        out.print(report.Text("relukit bench --targets — " + report.machine_line(machine)))
        out.print(T.table(entries))
        out.print(T.summary(entries))
        for c, r in run.failures:
            out.print(report.Text(f"FAIL {c.case.id} · {r.name}: {r.message}", style="red"))
    else:
        report.print_report(run, machine, out)
    doc = report.to_json(run, machine, entries)
    if args.json:
        report.write_json(doc, args.json)
        out.print(f"wrote {args.json}")
    if args.plot:
        from relukit.bench.plot import plot

        plot(run, args.plot, machine)
        out.print(f"wrote {args.plot}")
    if old is not None:
        table, warnings = report.compare_table(doc, old)
        out.print(table)
        for w in warnings:
            out.print(report.Text(f"note: {w}", style="yellow"))
    return 1 if run.failures else 0

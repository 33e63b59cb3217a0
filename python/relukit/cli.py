"""Command line: ``relukit check`` and ``relukit bench`` (also ``python -m relukit ...``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from relukit._backend import BACKENDS, _failed, available_backends
from relukit.bench.cli import register as register_bench


def _check(args: argparse.Namespace) -> int:
    from relukit.conformance import check_backend

    names = args.backend or list(BACKENDS)
    available = available_backends()
    rows: list[tuple[str, dict]] = []
    status = 0
    for name in names:
        if name not in available:
            print(f"{name:>7}: not available ({_failed.get(name, 'unknown backend')})")
            status |= int(args.strict)
            continue
        rows.append((name, check_backend(name, seed=args.seed)))
    if not rows:
        print("no backend to check")
        return 1
    ops = list(rows[0][1])
    # one row per op, one column per backend (the activations make ~20 ops)
    cells = {
        (op, name): f"{'ok' if r[op].ok else 'FAIL'} {r[op].passed}/{r[op].total}"
        for name, r in rows
        for op in ops
    }
    width = max(len(c) for c in cells.values()) + 2
    op_width = max(len(op) for op in ops)
    print(f"{'op':<{op_width}}  " + "".join(f"{name:<{width}}" for name, _ in rows))
    for op in ops:
        print(f"{op:<{op_width}}  " + "".join(f"{cells[op, name]:<{width}}" for name, _ in rows))
    failures = [
        f"{name} {op}: first mismatch: {results[op].first_failure}"
        for name, results in rows
        for op in ops
        if not results[op].ok
    ]
    for line in failures:
        print(line)
    if failures:
        status = 1
    print("all backends agree with the numeric contract" if status == 0 else "MISMATCH")
    return status


def _add_lazy(sub: Any, name: str, help_text: str, module: str | None = None) -> None:
    """Subcommand ``name`` from ``relukit.<module>`` (its add_arguments and main), imported
    only when the subcommand line is built: no matplotlib import for ``relukit check``."""
    mod = importlib.import_module(f"relukit.{module or name}")
    parser = sub.add_parser(name, help=help_text, description=mod.__doc__.split("\n\n")[0])
    mod.add_arguments(parser)
    parser.set_defaults(run=mod.main)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relukit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run the conformance vectors through every backend")
    check.add_argument(
        "--backend", action="append", choices=BACKENDS, help="check only this backend (repeatable)"
    )
    check.add_argument("--strict", action="store_true", help="fail when a backend is not available")
    check.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    check.set_defaults(run=_check)
    _add_lazy(sub, "experiment", "train an MLP on digits with each activation and backend")
    _add_lazy(sub, "plot", "draw each activation and its derivative to a PNG", module="plotting")
    register_bench(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

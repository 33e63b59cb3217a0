"""Command line: ``relukit check`` and ``relukit bench`` (also ``python -m relukit ...``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    width = max(len(op) for op in ops) + 14
    print(f"{'backend':>7}  " + "  ".join(f"{op:<{width}}" for op in ops))
    failures = []
    for name, results in rows:
        cells = []
        for op in ops:
            r = results[op]
            cells.append(f"{'ok' if r.ok else 'FAIL'} {r.passed}/{r.total}")
            if not r.ok:
                failures.append(f"{name} {op}: first mismatch: {r.first_failure}")
        print(f"{name:>7}  " + "  ".join(f"{c:<{width}}" for c in cells))
    for line in failures:
        print(line)
    if failures:
        status = 1
    print("all backends agree with the numeric contract" if status == 0 else "MISMATCH")
    return status


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
    register_bench(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

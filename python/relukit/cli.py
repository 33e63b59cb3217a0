"""The ``relukit`` command (also ``python -m relukit``).

Errors in what was typed (an unknown backend or activation, a bad number) and a missing
optional package are answered with one line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from relukit._backend import BACKENDS, BackendUnavailableError, _failed, available_backends
from relukit.bench.cli import register as register_bench

#: The optional packages a subcommand needs: import name -> (pip name, the extra that has it).
EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("matplotlib", "plot"),
    "sklearn": ("scikit-learn", "experiment"),
    "rich": ("rich", "bench"),
    "threadpoolctl": ("threadpoolctl", "bench"),
    "dask": ("dask[array]", "dask"),
    "distributed": ("distributed", "dask"),
}

DESCRIPTION = """\
relukit: ReLU and the other activations in four implementations (pure Python, NumPy, C and
Rust) that give the same results. This command checks them, times them, trains a small
network with them and draws them."""

EPILOG = """\
examples:
  relukit check --strict          every backend against the numeric contract
  relukit bench --quick           a short speed comparison (a few seconds)
  relukit experiment --quick      train a small network on the digits data set
  relukit plot --out act.png      draw every activation and its derivative
  relukit config                  what this installation built and what runs now

'relukit COMMAND --help' lists each command's options and their defaults."""


class UsageError(Exception):
    """A value the user typed is not valid: printed as one line, exit status 2."""


class MissingExtraError(Exception):
    """An optional package a command needs is not installed."""

    def __init__(self, command: str, module: str) -> None:
        pip_name, extra = EXTRAS.get(module, (module, ""))
        hint = f'pip install "relukit[{extra}]"' if extra else f"pip install {pip_name}"
        super().__init__(f"relukit {command} needs {pip_name}, which is not installed: {hint}")


def require(command: str, *modules: str) -> None:
    """Import each optional module now, so a missing one is reported before any work starts."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(command, module) from None


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written; every option's default shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``relukit CMD: error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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


def _config(args: argparse.Namespace) -> int:
    from relukit._config import config, format_config

    cfg = config()
    print(json.dumps(cfg, indent=2) if args.json else format_config(cfg))
    return 0


class _Version(argparse.Action):
    """``--version``: the version, the backends built and their SIMD paths (one line)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from relukit._config import version_line

        print(version_line())
        parser.exit(0)


def _add_lazy(sub: Any, name: str, help_text: str, module: str | None = None) -> None:
    """Subcommand ``name`` from ``relukit.<module>`` (its add_arguments and main); its optional
    packages (matplotlib, scikit-learn) are imported only when it runs."""
    mod = importlib.import_module(f"relukit.{module or name}")
    parser = sub.add_parser(
        name,
        help=help_text,
        description=mod.__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    mod.add_arguments(parser)
    parser.set_defaults(run=mod.main)


def build_parser() -> argparse.ArgumentParser:
    """The ``relukit`` argument parser with every subcommand."""
    parser = Parser(
        prog="relukit", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action=_Version, help="print the version, backends and SIMD")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    check = sub.add_parser(
        "check",
        help="check that every backend gives the results the documentation promises",
        description="Run the conformance table (edge values, random bit patterns, every "
        "layout, in place and out of place, dense layers) through every backend and print an "
        "op x backend table. Exit status 1 on any mismatch.",
        formatter_class=HelpFormatter,
    )
    check.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="check only this backend (repeatable; default: all)",
    )
    check.add_argument(
        "--strict", action="store_true", help="also fail when a backend is not built"
    )
    check.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    check.set_defaults(run=_check)
    register_bench(sub, formatter_class=HelpFormatter)
    _add_lazy(
        sub,
        "experiment",
        "train a small network on the digits data set with each activation and backend",
    )
    _add_lazy(
        sub, "plot", "draw each activation and its derivative to a PNG file", module="plotting"
    )
    config = sub.add_parser(
        "config",
        help="show what this installation built and what runs now",
        description="The version, the backends built (and why one is missing), the SIMD "
        "path, caches, cores, thresholds and threads of the C and Rust backends, and the "
        "compilers: what relukit.show_config() prints.",
        formatter_class=HelpFormatter,
    )
    config.add_argument("--json", action="store_true", help="print it as JSON")
    config.set_defaults(run=_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"relukit {args.command}"
    try:
        return int(args.run(args))
    except (UsageError, BackendUnavailableError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
    except MissingExtraError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
    except ModuleNotFoundError as exc:
        if exc.name not in EXTRAS:
            raise
        print(f"{prog}: error: {MissingExtraError(args.command, exc.name)}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

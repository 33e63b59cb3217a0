"""``relukit plot``: each activation and its derivative, one panel per op.

The classic ReLU picture plots ``relu`` at the integers -3..4 (``plt.plot(z, Y, "o-")``), with
its derivative 1 for x > 0 and 0 for x < 0. Here every activation gets that panel: the
function as a line with the integer points marked, and its derivative (the
facade's ``<op>_grad``, which takes 0 at relu's kink, as PyTorch) dashed, all computed through
relukit on the chosen backend. Rendered with matplotlib's Agg backend to a PNG.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import relukit
from relukit import ops


@dataclass(frozen=True)
class OpSpec:
    """How to draw one op: its facade name, parameters after x, and the x range."""

    name: str
    params: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    lo: float = -4.0
    hi: float = 4.0

    @property
    def label(self) -> str:
        args = [repr(p.tolist() if isinstance(p, np.ndarray) else p) for p in self.params]
        args += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(['x', *args])})"


#: Parameters and ranges that make a shape visible (leaky_relu's default slope 0.01 would look
#: like relu); any other op is drawn with its conformance row's default parameters on [-4, 4].
_VISIBLE: dict[str, OpSpec] = {
    "leaky_relu": OpSpec("leaky_relu", (0.1,)),
    "prelu": OpSpec("prelu", (np.array([0.25]),)),
    "elu": OpSpec("elu", (1.0,)),
    "gelu": OpSpec("gelu"),
    "relu6": OpSpec("relu6", lo=-3.0, hi=8.0),
    "hardtanh": OpSpec("hardtanh", (-1.0, 1.0)),
    "threshold": OpSpec("threshold", (1.0, -0.5)),
    "sigmoid": OpSpec("sigmoid", lo=-6.0, hi=6.0),
}


def _specs() -> dict[str, OpSpec]:
    """One panel per conformance row of every op with a derivative (relukit.ops.OPS)."""
    specs = {}
    for op in ops.OPS:
        if op.grad is None:
            continue
        for check in op.checks:
            default = OpSpec(op.name, kwargs=dict(check.param_sets[0]))
            specs[check.name] = _VISIBLE.get(check.name, default)
    return specs


#: Every op `relukit plot` knows, in the default order (the op table's).
OPS: dict[str, OpSpec] = _specs()


def available_ops() -> list[str]:
    """The ops of :data:`OPS` this build of relukit provides (with their ``_grad``)."""
    return [
        k for k, s in OPS.items() if hasattr(relukit, s.name) and hasattr(relukit, s.name + "_grad")
    ]


def _eval(spec: OpSpec, x: Any, grad: bool, backend: str | None) -> Any:
    fn = getattr(relukit, spec.name + ("_grad" if grad else ""))
    return fn(x, *spec.params, **spec.kwargs, backend=backend)


def plot_activations(
    path: Path | str,
    ops: Sequence[str] | None = None,
    *,
    backend: str | None = None,
    points: int = 801,
) -> Path:
    """Write the panel grid for ``ops`` (default: every available op) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(ops) if ops else available_ops()
    if not names:
        raise ValueError("relukit plot: no ops to plot")
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise ValueError(f"relukit plot: unknown ops {unknown}; valid: {', '.join(OPS)}")
    missing = [n for n in names if n not in available_ops()]
    if missing:
        raise ValueError(f"relukit plot: this relukit build has no {', '.join(missing)}")
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        spec = OPS[name]
        x = np.linspace(spec.lo, spec.hi, points)
        # the integer points (np.arange(-3, 5, 1)), within the panel's range
        z = np.arange(math.ceil(spec.lo), math.floor(spec.hi) + 1, dtype=np.float64)
        ax.plot(x, _eval(spec, x, False, backend), color="C0", lw=2, label="f(x)")
        ax.plot(z, _eval(spec, z, False, backend), "o", color="C0", ms=4)
        ax.plot(x, _eval(spec, x, True, backend), "--", color="C3", lw=1.5, label="f'(x)")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(spec.label, fontsize=9)
        ax.set_xlabel("X")
        ax.set_ylabel("F(x)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    used = backend if backend is not None else relukit.get_backend()
    fig.suptitle(f"relukit activations and their derivatives (backend: {used})")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("activations.png"), help="PNG file to write"
    )
    parser.add_argument(
        "--ops", nargs="+", help=f"ops to draw (default: all available of {', '.join(OPS)})"
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="backend to compute on: auto, python, numpy, c or rust (default: auto)",
    )


def main(args: argparse.Namespace) -> int:
    from relukit._backend import BACKENDS
    from relukit.cli import UsageError, require

    ops = [n for v in args.ops or () for n in v.split(",") if n]
    if args.backend is not None and args.backend not in ("auto", *BACKENDS):
        raise UsageError(
            f"--backend {args.backend!r} is not a relukit backend; valid: auto, "
            + ", ".join(BACKENDS)
        )
    unknown = [n for n in ops if n not in OPS]
    if unknown:
        raise UsageError(
            f"--ops: unknown {', '.join(map(repr, unknown))}; valid: " + ", ".join(OPS)
        )
    require("plot", "matplotlib")
    try:
        path = plot_activations(args.out, ops or None, backend=args.backend)
    except ValueError as exc:
        raise UsageError(str(exc).removeprefix("relukit plot: ")) from None
    print(f"wrote {path}")
    return 0

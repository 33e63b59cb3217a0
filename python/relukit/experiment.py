"""The activation experiment: an MLP on scikit-learn's digits with each activation.

``relukit experiment`` trains the same network (same seed, same data order) once per
activation and backend, then writes into ``--out``:

- ``results.json``: every run's per-epoch train loss, test loss and accuracy, dead fraction
  and epoch times, the configuration, and the agreement of each backend's loss curve with
  the reference backend's (NumPy when it is among those run);
- ``results.md``: the summary table (also printed, with rich when it is installed);
- ``loss_curves.png``, ``dead_fraction.png``, ``epoch_time.png``.

The digits (1797 8x8 images, ten classes) ship inside the scikit-learn wheel: nothing is
downloaded. Pixels are scaled to [0, 1]; the split is a fixed stratified 75/25 split
(``random_state=seed``). Needs ``pip install relukit[experiment]`` (scikit-learn,
matplotlib; rich optional).

Dead fraction: after each epoch the whole training set goes through the model, and a hidden
unit counts as dead when its activation's derivative is 0 on every training sample: no
gradient reaches its incoming weights any more. For ReLU this is exactly "the output is 0 for
every sample" (the classic dying-ReLU count, :func:`relukit.dead_fraction`); ReLU6 and
hardtanh units can also die by saturating; leaky ReLU, PReLU, ELU, GELU, sigmoid and tanh
units practically never do.

Loss-curve agreement: the backends differ only in how their matrix products round (NumPy
calls BLAS; C and Rust add in one documented order and agree bit for bit with each other).
The first step's differences are a few ulps; training carries them along, and SGD amplifies
them where it is unstable (epochs where the loss rises). :data:`LOSS_RTOL` states the
relative per-epoch tolerance per dtype: float64 1e-9 (measured at most 1.4e-14 over 30 epochs
for every activation, at learning rates 0.05 and 0.02); float32 1e-4, which holds while
training is stable (ReLU, default configuration: 2.3e-6 over 30 epochs) but not through an
unstable stretch (leaky ReLU, default configuration, epochs 9-13: up to 2.9e-2 before the
curves re-converge; the same run in float64 stays within 1.4e-14). Runs outside the
tolerance are marked in the table; ``--check`` turns them into exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relukit import nn, ops
from relukit._backend import available_backends, resolve, use_backend

#: Relative tolerance between two backends' per-epoch training losses, per dtype (see the
#: module docstring for what was measured and where float32 stops holding it).
LOSS_RTOL: dict[str, float] = {"float32": 1e-4, "float64": 1e-9}


def _factories() -> dict[str, Callable[[str], nn.Module]]:
    """Every nn activation module whose parameters all have defaults (relukit.ops.OPS), built
    with them; PReLU's learnable slope in the network's dtype."""
    made: dict[str, Callable[[str], nn.Module]] = {}
    for module, op in ops.MODULES.items():
        cls = getattr(nn, module)
        if module == "PReLU":
            made[op] = lambda dt, cls=cls: cls(dtype=dt)
        elif all(p.default is not ops.REQUIRED for p in ops.BY_NAME[op].params):
            made[op] = lambda dt, cls=cls: cls()
    return made


#: Activation name -> module factory (the network's dtype -> module; every module follows the
#: backend current at call time).
ACTIVATIONS: dict[str, Callable[[str], nn.Module]] = _factories()
DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "gelu", "relu6", "sigmoid", "tanh")
#: Backends run by default: the python backend is left out (seconds per epoch).
DEFAULT_BACKENDS = ("numpy", "c", "rust")


@dataclass(frozen=True)
class Config:
    """What one experiment trains: the network, the optimiser, the data split."""

    epochs: int = 30
    batch_size: int = 32
    hidden: tuple[int, ...] = (128, 64)
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    test_size: float = 0.25
    dtype: str = "float32"


@dataclass
class Run:
    """One activation trained on one backend: per-epoch curves and timings."""

    activation: str
    backend: str
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    dead_fraction: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    #: The epoch (1-based) in which training diverged (NaN or inf), or None.
    diverged_at: int | None = None

    @property
    def seconds_per_epoch(self) -> float:
        """Median training time of one epoch (evaluation excluded)."""
        return float(np.median(self.epoch_seconds)) if self.epoch_seconds else math.nan


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(config: Config) -> Data:
    """scikit-learn's digits, scaled to [0, 1], split 75/25 (stratified, fixed seed)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "relukit experiment needs scikit-learn: pip install 'relukit[experiment]'"
        ) from exc
    digits = load_digits()
    x = (digits.data / 16.0).astype(config.dtype)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=config.test_size, random_state=config.seed, stratify=y
    )
    return Data(*(np.ascontiguousarray(a) for a in (x_tr, y_tr, x_te, y_te)))


def build_model(activation: str, config: Config, n_in: int, n_out: int) -> nn.Sequential:
    """Linear -> activation per hidden layer, then Linear; seeds fixed per layer."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"relukit: unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}"
        )
    layers: list[nn.Module] = []
    width = n_in
    for i, h in enumerate(config.hidden):
        seed = config.seed * 1000 + i
        layers += [
            nn.Linear(width, h, seed=seed, dtype=config.dtype),
            ACTIVATIONS[activation](config.dtype),
        ]
        width = h
    last_seed = config.seed * 1000 + len(config.hidden)
    layers.append(nn.Linear(width, n_out, seed=last_seed, dtype=config.dtype))
    return nn.Sequential(*layers)


def hidden_dead_fraction(model: nn.Sequential, x: np.ndarray) -> float:
    """Fraction of hidden units whose activation derivative is 0 for every row of ``x``."""
    dead = 0.0
    total = 0
    for module in model:
        if isinstance(module, nn._Activation):
            d = module.derivative(x)
            dead += nn.dead_fraction(d) * d.shape[1]  # dead units of this layer
            total += d.shape[1]
        x = module.forward(x)
    return dead / total if total else 0.0


def _evaluate(model: nn.Sequential, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    logits = model.forward(x)
    loss, _ = nn.softmax_cross_entropy(logits, y)
    return loss, float(np.mean(np.argmax(logits, axis=1) == y))


class Trainer:
    """One model of one activation on one backend, trained an epoch at a time."""

    def __init__(self, activation: str, backend: str, config: Config, data: Data) -> None:
        self.run = Run(activation, backend)
        self.config = config
        self.data = data
        n_classes = int(data.y_train.max()) + 1
        with use_backend(backend):
            self.model = build_model(activation, config, data.x_train.shape[1], n_classes)
        self.opt = nn.SGD(self.model.parameters(), config.lr, config.momentum, config.weight_decay)
        self.rng = np.random.default_rng(config.seed)  # the same shuffling in every run

    def _finite(self) -> bool:
        return all(np.isfinite(p.value).all() for p in self.model.parameters())

    def epoch(self) -> None:
        """One pass over the training set (timed), then the test set and the dead units.

        A run whose loss or parameters stop being finite has diverged (too large a learning
        rate): that epoch and every later one record NaN."""
        model, opt, data, run = self.model, self.opt, self.data, self.run
        n = len(data.x_train)
        order = self.rng.permutation(n)
        total = 0.0
        if run.diverged_at is not None:
            self._record_nan()
            return
        with use_backend(run.backend), np.errstate(over="ignore", invalid="ignore"):
            start = time.perf_counter()
            try:
                for lo in range(0, n, self.config.batch_size):
                    idx = order[lo : lo + self.config.batch_size]
                    logits = model.forward(data.x_train[idx])
                    loss, dlogits = nn.softmax_cross_entropy(logits, data.y_train[idx])
                    if not math.isfinite(loss):
                        raise FloatingPointError
                    opt.zero_grad()
                    model.backward(dlogits, input_grad=False)
                    opt.step()
                    total += loss * len(idx)
            except (FloatingPointError, ValueError) as exc:
                # a non-finite loss is divergence; a ValueError only with non-finite
                # parameters (prelu refuses a NaN slope), else it is a real error
                if isinstance(exc, ValueError) and self._finite():
                    raise
                run.diverged_at = len(run.train_loss) + 1
                self._record_nan()
                return
            run.epoch_seconds.append(time.perf_counter() - start)
            run.train_loss.append(total / n)
            test_loss, accuracy = _evaluate(model, data.x_test, data.y_test)
            run.test_loss.append(test_loss)
            run.test_accuracy.append(accuracy)
            run.dead_fraction.append(hidden_dead_fraction(model, data.x_train))

    def _record_nan(self) -> None:
        for curve in (self.run.train_loss, self.run.test_loss, self.run.test_accuracy):
            curve.append(math.nan)
        self.run.dead_fraction.append(math.nan)


def train(activation: str, backend: str, config: Config, data: Data | None = None) -> Run:
    """Train one model on ``backend`` (every module follows it) and record its curves."""
    trainer = Trainer(activation, backend, config, data if data is not None else load_data(config))
    for _ in range(config.epochs):
        trainer.epoch()
    return trainer.run


def curve_difference(run: Run, reference: Run) -> float:
    """Largest relative difference between two runs' per-epoch training losses."""
    a, b = np.asarray(run.train_loss), np.asarray(reference.train_loss)
    if a.shape != b.shape:
        raise ValueError("relukit: the runs have different numbers of epochs")
    both_nan = np.isnan(a) & np.isnan(b)  # both diverged at the same epoch: they agree
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(both_nan, 0.0, np.abs(a - b) / np.abs(b))
    d = np.where(np.isnan(d), np.inf, d)  # one diverged, the other not
    return float(np.max(d)) if d.size else 0.0


@dataclass
class Results:
    config: Config
    runs: list[Run]
    reference: str

    def run(self, activation: str, backend: str) -> Run:
        return next(r for r in self.runs if r.activation == activation and r.backend == backend)

    def differences(self) -> dict[tuple[str, str], float]:
        """(activation, backend) -> max relative loss difference from the reference."""
        return {
            (r.activation, r.backend): curve_difference(r, self.run(r.activation, self.reference))
            for r in self.runs
        }

    @property
    def rtol(self) -> float:
        """The loss-curve tolerance for this experiment's dtype."""
        return LOSS_RTOL[np.dtype(self.config.dtype).name]

    def agree(self) -> bool:
        return all(d <= self.rtol for d in self.differences().values())


def run_experiment(
    activations: Sequence[str],
    backends: Sequence[str],
    config: Config,
    progress: Callable[[str], None] | None = None,
) -> Results:
    """Every activation on every backend, from one data split."""
    for be in backends:
        resolve(be)  # fail early on an unknown or unbuilt backend
    for act in activations:
        if act not in ACTIVATIONS:
            raise ValueError(
                f"relukit: unknown activation {act!r}; valid: {', '.join(ACTIVATIONS)}"
            )
    data = load_data(config)
    runs = []
    for act in activations:
        # the backends take turns, epoch by epoch, so that a busy machine slows them alike
        trainers = [Trainer(act, be, config, data) for be in backends]
        for _ in range(config.epochs):
            for t in trainers:
                t.epoch()
        for t in trainers:
            runs.append(t.run)
            if progress is not None:
                progress(
                    f"{act:>10} on {t.run.backend:<6} test accuracy "
                    f"{t.run.test_accuracy[-1]:.4f}, {t.run.seconds_per_epoch * 1e3:.1f} ms/epoch"
                )
    reference = "numpy" if "numpy" in backends else backends[0]
    return Results(config, runs, reference)


# ---- outputs ---------------------------------------------------------------------------------

COLUMNS = (
    "activation",
    "backend",
    "test acc",
    "final loss",
    "dead units",
    "ms/epoch",
    "loss diff vs ref",
)


def table_rows(results: Results) -> list[tuple[str, ...]]:
    diffs = results.differences()
    rows = []
    for r in results.runs:
        d = diffs[(r.activation, r.backend)]
        if r.backend == results.reference:
            agree = "reference"
        else:
            agree = f"{d:.1e}" + (" (!)" if d > results.rtol else "")
        if r.diverged_at is not None:
            rows.append(
                (
                    r.activation,
                    r.backend,
                    f"diverged in epoch {r.diverged_at}",
                    "-",
                    "-",
                    f"{r.seconds_per_epoch * 1e3:.1f}",
                    agree,
                )
            )
            continue
        rows.append(
            (
                r.activation,
                r.backend,
                f"{100 * r.test_accuracy[-1]:.2f} %",
                f"{r.train_loss[-1]:.4f}",
                f"{100 * r.dead_fraction[-1]:.1f} %",
                f"{r.seconds_per_epoch * 1e3:.1f}",
                agree,
            )
        )
    return rows


def markdown_table(results: Results) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines) + "\n"


def print_table(results: Results) -> None:
    """The summary table on the terminal (rich if installed, plain text otherwise)."""
    title = (
        f"digits MLP 64-{'-'.join(map(str, results.config.hidden))}-10, "
        f"{results.config.epochs} epochs, {results.config.dtype}, "
        f"loss tolerance {results.rtol:g} vs {results.reference}"
    )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        print(markdown_table(results), end="")
        return
    table = Table(title=title)
    for c in COLUMNS:
        table.add_column(c, justify="left" if c in ("activation", "backend") else "right")
    for row in table_rows(results):
        table.add_row(*row)
    Console().print(table)


def plot(results: Results, out_dir: Path) -> list[Path]:
    """loss_curves.png, dead_fraction.png, epoch_time.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acts = list(dict.fromkeys(r.activation for r in results.runs))
    backends = list(dict.fromkeys(r.backend for r in results.runs))
    ref = results.reference
    epochs = np.arange(1, results.config.epochs + 1)
    paths = []

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for act in acts:
        r = results.run(act, ref)
        (line,) = ax_loss.plot(epochs, r.train_loss, label=act)
        for be in backends:
            if be != ref:
                other = results.run(act, be)
                ax_loss.plot(
                    epochs, other.train_loss, ls="none", marker=".", ms=3, color=line.get_color()
                )
        ax_acc.plot(epochs, np.asarray(r.test_accuracy) * 100, label=act, color=line.get_color())
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (cross-entropy)")
    ax_loss.set_title(
        f"training loss: lines {ref}, dots {', '.join(b for b in backends if b != ref) or '-'}"
    )
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_title("test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "loss_curves.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for act in acts:
        ax.plot(
            epochs, np.asarray(results.run(act, ref).dead_fraction) * 100, label=act, marker="."
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("dead hidden units (%)")
    ax.set_title("units with zero derivative on every training sample")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "dead_fraction.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(acts) * len(backends) / 2), 4.5))
    width = 0.8 / len(backends)
    pos = np.arange(len(acts))
    for i, be in enumerate(backends):
        ms = [results.run(act, be).seconds_per_epoch * 1e3 for act in acts]
        ax.bar(pos + i * width, ms, width, label=be)
    ax.set_xticks(pos + width * (len(backends) - 1) / 2, acts, rotation=30)
    ax.set_ylabel("ms per epoch (median)")
    ax.set_title("training time per epoch")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "epoch_time.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _json_safe(value: Any) -> Any:
    """NaN and inf (diverged runs) as null: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_outputs(results: Results, out_dir: Path) -> list[Path]:
    """results.json, results.md and the plots; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    diffs = results.differences()
    doc: dict[str, Any] = {
        "config": asdict(results.config),
        "reference_backend": results.reference,
        "loss_rtol": results.rtol,
        "curves_agree": results.agree(),
        "runs": [
            {
                **asdict(r),
                "seconds_per_epoch": r.seconds_per_epoch,
                "max_rel_loss_difference": diffs[(r.activation, r.backend)],
            }
            for r in results.runs
        ],
    }
    paths = [out_dir / "results.json", out_dir / "results.md"]
    paths[0].write_text(json.dumps(_json_safe(doc), indent=1, allow_nan=False) + "\n")
    paths[1].write_text(markdown_table(results))
    return paths + plot(results, out_dir)


# ---- command line ----------------------------------------------------------------------------


def _names(values: Sequence[str] | None) -> list[str]:
    return [n for v in values or () for n in v.split(",") if n]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 30; 2 --quick)")
    parser.add_argument(
        "--backend",
        action="append",
        help="backend to train on (repeatable or comma-separated; default: "
        f"{', '.join(DEFAULT_BACKENDS)}, those available)",
    )
    parser.add_argument(
        "--activations",
        nargs="+",
        help=f"activations (default: {', '.join(DEFAULT_ACTIVATIONS)}; also: "
        f"{', '.join(a for a in ACTIVATIONS if a not in DEFAULT_ACTIVATIONS)})",
    )
    parser.add_argument("--out", type=Path, default=Path("experiment-out"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="2 epochs: a smoke test")
    parser.add_argument("--lr", type=float, default=Config.lr, help="SGD learning rate")
    parser.add_argument("--momentum", type=float, default=Config.momentum, help="SGD momentum")
    parser.add_argument(
        "--batch-size", type=int, default=Config.batch_size, help="samples per SGD step"
    )
    parser.add_argument(
        "--hidden", default=",".join(map(str, Config.hidden)), help="hidden widths, e.g. 128,64"
    )
    parser.add_argument(
        "--seed", type=int, default=Config.seed, help="seed of the weights and the data split"
    )
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default=Config.dtype, help="network dtype"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 if a backend's loss curve leaves the tolerance",
    )


def main(args: argparse.Namespace) -> int:
    """``relukit experiment``; with ``--check``, status 1 if a loss curve leaves the tolerance."""
    from relukit._backend import BACKENDS
    from relukit.cli import UsageError, require

    epochs = args.epochs if args.epochs is not None else (2 if args.quick else Config.epochs)
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    except ValueError:
        raise UsageError(f"--hidden {args.hidden!r} is not a list of ints, e.g. 128,64") from None
    if epochs < 1 or args.batch_size < 1 or any(h < 1 for h in hidden):
        raise UsageError("--epochs, --batch-size and --hidden must be >= 1")
    for name in _names(args.backend):
        if name not in BACKENDS:
            raise UsageError(
                f"--backend {name!r} is not a relukit backend; valid: " + ", ".join(BACKENDS)
            )
    for name in _names(args.activations):
        if name not in ACTIVATIONS:
            raise UsageError(
                f"--activations {name!r} is not an activation; valid: " + ", ".join(ACTIVATIONS)
            )
    require("experiment", "sklearn", "matplotlib")
    config = Config(
        epochs=epochs,
        batch_size=args.batch_size,
        hidden=hidden,
        lr=args.lr,
        momentum=args.momentum,
        seed=args.seed,
        dtype=args.dtype,
    )
    backends = _names(args.backend) or [b for b in DEFAULT_BACKENDS if b in available_backends()]
    activations = _names(args.activations) or list(DEFAULT_ACTIVATIONS)
    results = run_experiment(activations, backends, config, progress=print)
    print_table(results)
    for path in write_outputs(results, args.out):
        print(f"wrote {path}")
    if not results.agree():
        worst = max(results.differences().items(), key=lambda kv: kv[1])
        print(
            f"note: {worst[0][1]}'s {worst[0][0]} loss curve differs from "
            f"{results.reference}'s by up to {worst[1]:.2e} > {results.rtol:g} (marked (!)): "
            "float rounding differences amplified where training is unstable; "
            "--dtype float64 keeps them far below the tolerance"
        )
        return 1 if args.check else 0
    return 0

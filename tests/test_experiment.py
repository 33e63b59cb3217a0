"""The digits experiment (relukit experiment) and the activation plot (relukit plot)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relukit import cli, experiment, plotting
from relukit.experiment import LOSS_RTOL, Config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Activations whose kernels agree bit for bit across backends (the transcendental ones, ELU,
#: GELU, sigmoid and tanh, agree within an ulp bound: docs/activations.md).
PIECEWISE_LINEAR = ("relu", "leaky_relu", "prelu", "relu6", "hardtanh")


@pytest.fixture(scope="module")
def data():
    return experiment.load_data(Config())


@pytest.fixture(scope="module")
def relu_runs(data):
    """ReLU, the default configuration (30 epochs), on numpy, c and rust."""
    return {be: experiment.train("relu", be, Config(), data) for be in ("numpy", "c", "rust")}


def test_digits_split(data):
    assert data.x_train.shape == (1347, 64) and data.x_test.shape == (450, 64)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert sorted(set(data.y_test.tolist())) == list(range(10))
    again = experiment.load_data(Config())
    assert np.array_equal(again.x_test, data.x_test)  # fixed split


def test_relu_mlp_reaches_95_percent(relu_runs):
    for be, run in relu_runs.items():
        assert run.test_accuracy[-1] >= 0.95, be
        assert run.train_loss[-1] < 0.1 * run.train_loss[0], be
        assert len(run.epoch_seconds) == Config().epochs


def test_c_and_rust_loss_curves_match_numpy(relu_runs):
    ref = relu_runs["numpy"]
    for be in ("c", "rust"):
        diff = experiment.curve_difference(relu_runs[be], ref)
        assert diff <= LOSS_RTOL["float32"], f"{be}: {diff:.2e}"
    # C and Rust add in the same order: identical curves
    assert relu_runs["c"].train_loss == relu_runs["rust"].train_loss


@pytest.mark.parametrize("activation", experiment.DEFAULT_ACTIVATIONS)
def test_every_activation_trains_alike_on_every_backend(activation):
    """float64, where rounding differences stay far below the tolerance even through the
    unstable stretches that amplify float32's (see the experiment module's docstring)."""
    config = Config(epochs=4, dtype="float64")
    data = experiment.load_data(config)
    runs = {be: experiment.train(activation, be, config, data) for be in ("numpy", "c", "rust")}
    for be in ("c", "rust"):
        assert experiment.curve_difference(runs[be], runs["numpy"]) <= LOSS_RTOL["float64"], be
    if activation in PIECEWISE_LINEAR:  # bit-exact ops and the same sums: the same bits
        assert runs["c"].train_loss == runs["rust"].train_loss
    assert runs["numpy"].train_loss[-1] < 0.5 * runs["numpy"].train_loss[0]
    assert runs["numpy"].test_accuracy[-1] >= 0.8
    assert all(0.0 <= f <= 1.0 for f in runs["numpy"].dead_fraction)


def test_python_backend_trains_like_numpy(data):
    """The pure-Python kernels on a slice of the data (they are slow)."""
    small = experiment.Data(
        data.x_train[:96], data.y_train[:96], data.x_test[:50], data.y_test[:50]
    )
    config = Config(epochs=2, hidden=(16,))
    py = experiment.train("relu", "python", config, small)
    ref = experiment.train("relu", "numpy", config, small)
    assert experiment.curve_difference(py, ref) <= LOSS_RTOL["float32"]


def test_dead_fraction_counts_dead_relu_units(data):
    model = experiment.build_model("relu", Config(hidden=(8,)), 64, 10)
    first = model[0]
    first.bias.value[:4] = -1e3  # these four units can never fire
    assert experiment.hidden_dead_fraction(model, data.x_train) == 0.5
    leaky = experiment.build_model("leaky_relu", Config(hidden=(8,)), 64, 10)
    leaky[0].bias.value[:4] = -1e3
    assert experiment.hidden_dead_fraction(leaky, data.x_train) == 0.0  # gradient still flows


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown activation"):
        experiment.run_experiment(["swish"], ["numpy"], Config(epochs=1))
    with pytest.raises(ValueError, match="valid names"):
        experiment.run_experiment(["relu"], ["bogus"], Config(epochs=1))


def test_command_quick_writes_the_files(tmp_path, capsys):
    out = tmp_path / "exp"
    status = cli.main(
        [
            "experiment",
            "--quick",
            "--activations",
            "relu,elu",
            "--backend",
            "numpy,c",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "ms/epoch" in printed and "wrote" in printed
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["epochs"] == 2 and doc["curves_agree"] is True
    assert doc["loss_rtol"] == LOSS_RTOL["float32"] and doc["reference_backend"] == "numpy"
    assert {(r["activation"], r["backend"]) for r in doc["runs"]} == {
        ("relu", "numpy"),
        ("relu", "c"),
        ("elu", "numpy"),
        ("elu", "c"),
    }
    for r in doc["runs"]:
        assert len(r["train_loss"]) == 2 and r["seconds_per_epoch"] > 0
    table = (out / "results.md").read_text()
    assert table.startswith("| activation | backend |") and table.count("\n") == 6
    for name in ("loss_curves.png", "dead_fraction.png", "epoch_time.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name


def test_check_flag_fails_outside_the_tolerance(tmp_path, monkeypatch, capsys):
    args = ["experiment", "--quick", "--activations", "relu", "--backend", "numpy,c"]
    args += ["--out", str(tmp_path), "--epochs", "1"]
    monkeypatch.setitem(LOSS_RTOL, "float32", 0.0)  # any difference at all is too much
    assert cli.main(args) == 0  # reported, not fatal
    assert "(!)" in capsys.readouterr().out
    assert cli.main([*args, "--check"]) == 1
    assert json.loads((tmp_path / "results.json").read_text())["curves_agree"] is False


def test_command_rejects_bad_arguments(tmp_path):
    assert cli.main(["experiment", "--hidden", "a,b", "--out", str(tmp_path)]) == 2
    assert cli.main(["experiment", "--epochs", "0", "--out", str(tmp_path)]) == 2


def _png_size(path):
    import matplotlib.image

    return matplotlib.image.imread(path).shape


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "act.png"
    assert cli.main(["plot", "--out", str(path)]) == 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    h, w, _ = _png_size(path)
    # every activation with a derivative (11 today) on a 4-column grid
    assert plotting.available_ops() == list(plotting.OPS) and len(plotting.OPS) >= 11
    assert (w, h) == (4 * 360, -(-len(plotting.OPS) // 4) * 300)


def test_plot_some_ops_on_a_backend(tmp_path):
    path = plotting.plot_activations(tmp_path / "sub" / "two.png", ["relu", "tanh"], backend="c")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    h, w, _ = _png_size(path)
    assert (w, h) == (2 * 360, 300)
    assert cli.main(["plot", "--ops", "relu", "bogus", "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("activation", ["leaky_relu", "prelu"])
def test_divergence_is_recorded_not_raised(activation, data, tmp_path):
    small = experiment.Data(data.x_train[:256], data.y_train[:256], data.x_test, data.y_test)
    config = Config(epochs=3, lr=1e6, hidden=(16,))
    run = experiment.train(activation, "numpy", config, small)
    assert run.diverged_at == 1
    assert all(np.isnan(v) for v in run.train_loss + run.test_accuracy + run.dead_fraction)
    results = experiment.Results(
        config, [run, experiment.train(activation, "c", config, small)], "numpy"
    )
    assert results.differences()[(activation, "c")] == 0.0  # both diverged in the same epoch
    assert "diverged in epoch 1" in experiment.markdown_table(results)
    experiment.write_outputs(results, tmp_path)
    doc = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN -> null
    assert doc["runs"][0]["train_loss"] == [None, None, None]

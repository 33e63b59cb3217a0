"""float32 sigmoid, tanh, elu, gelu (tanh form) and their derivatives in the C and Rust kernels.

Both compute them with one algorithm (their own exp/expm1 in float64 lanes: AVX2+FMA, or the
same operations in scalar code; docs/activations.md), so the two backends give the same bits,
and the forced-portable path (RELUKIT_FORCE_PORTABLE=1, read once per process: checked in a
subprocess) gives the same bits as the vector path.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from relukit.conformance import ACTIVATIONS

SMOOTH = (
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "elu",
    "elu_grad",
    "gelu_tanh",
    "gelu_tanh_grad",
)
CASES = [(e, p) for e in ACTIVATIONS if e.name in SMOOTH for p in e.param_sets]
IDS = [f"{e.name}-{'-'.join(map(str, p.values()))}" for e, p in CASES]


def sample() -> np.ndarray:
    """Every 4099th float32 bit pattern, then 2^16 + 5 values where the ops bend (an odd length:
    the vector loops' tails), then the edges."""
    bits = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32)
    rng = np.random.default_rng(11)
    bent = (rng.standard_normal(2**16 + 5) * rng.choice([0.01, 1, 5, 30], 2**16 + 5)).astype(
        np.float32
    )
    edges = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, -40.0, 40.0, -21.3, -104.0, 88.7, 1e-45, -1e-45],
        np.float32,
    )
    return np.concatenate([bits, bent, edges])


def results(x: np.ndarray) -> dict[str, np.ndarray]:
    """Every case on the C and Rust backends, as bit patterns."""
    out = {}
    for (entry, params), name in zip(CASES, IDS, strict=True):
        for backend in ("c", "rust"):
            out[f"{name}/{backend}"] = entry.call(x, params, backend=backend).view(np.uint32)
    return out


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return sample()


@pytest.fixture(scope="module")
def here(x: np.ndarray) -> dict[str, np.ndarray]:
    return results(x)


@pytest.mark.parametrize(("entry", "params"), CASES, ids=IDS)
def test_c_and_rust_give_the_same_bits_within_the_bound(entry, params, x, here):
    name = IDS[CASES.index((entry, params))]
    c, rust = here[f"{name}/c"], here[f"{name}/rust"]
    diff = np.flatnonzero(c != rust)
    assert diff.size == 0, f"{name}: C and Rust differ at x = {x[diff[:5]]!r}"
    assert entry.verify(x, c.view(np.float32), params)


def test_forced_portable_path_gives_the_same_bits(x, here, tmp_path):
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[2]);"
        "import test_activations_simd as t;"
        "r = t.results(np.load(sys.argv[1] + '/x.npy'));"
        "np.savez(sys.argv[1] + '/portable.npz', **{k.replace('/', '@'): v for k, v in r.items()})"
    )
    env = dict(os.environ, RELUKIT_FORCE_PORTABLE="1")
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), os.path.dirname(__file__)],
        env=env,
        check=True,
    )
    portable = np.load(tmp_path / "portable.npz")
    for key, bits in here.items():
        other = portable[key.replace("/", "@")]
        diff = np.flatnonzero(bits != other)
        assert diff.size == 0, f"{key}: portable path differs at x = {x[diff[:5]]!r}"

"""Measure the C backend against NumPy, row by row (issue 3's table); not part of the tests.

Every contender of a row is timed in the same process, interleaved round by round (a short
timed loop each per round, the best round kept), so that a busy shared machine hurts them
alike; ratios are computed from those best times. The CPU time other processes took while a
row ran is printed next to it (from /proc/stat), since two-thread figures depend on it.

    .venv/bin/python csrc/tests/measure_c_backend.py [--rounds N] [--rows name,name,...]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

import relukit
from relukit.backends import c as cb

ROUND_SECONDS = 0.004
QUIET_WAIT = 0.0  # --quiet-wait: seconds to wait for an idle machine before each row


def _busy_other() -> tuple[float, float, float]:
    """(busy seconds of all CPUs, wall-clock CPU seconds, this process's CPU seconds), from
    /proc/stat (zeros where unavailable)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / hz, sum(fields) / hz, time.process_time()


def wait_quiet(max_wait: float, idle_share: float = 0.9) -> None:
    """Wait (up to max_wait seconds) for a second in which the machine is mostly idle."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        b0 = _busy_other()
        time.sleep(1.0)
        b1 = _busy_other()
        total = b1[1] - b0[1]
        if total > 0 and (b1[0] - b0[0]) / total <= 1 - idle_share:
            return


def best_times(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best seconds per call of each contender over interleaved rounds."""
    loops = {}
    for name, f in contenders.items():
        f()
        n, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            t = time.perf_counter() - t0
            if t >= ROUND_SECONDS:
                break
            n *= 2
        loops[name] = n
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, f in contenders.items():
            f()  # warm: wakes the pool's worker after the other contenders ran
            n = loops[name]
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return best


def placed_pair(n: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """x and y of n elements, 64-byte aligned, y 2 KiB past x modulo 4 KiB.

    Two big arrays from np.empty both start at the same offset in a page (fresh mmaps), and a
    loop that loads x[i] while storing y[i] then trips the CPU's 4 KiB-aliasing check: NumPy's
    copyto and maximum lose up to 10x at some sizes (measured here). A fixed 2 KiB offset
    keeps every contender off that path, so the ratios compare the loops, not the placement.
    """
    size = np.dtype(dtype).itemsize
    nbytes = n * size
    buf = np.empty(2 * nbytes + 3 * 4096, np.uint8)
    base = (-buf.ctypes.data) % 4096
    x = buf[base : base + nbytes].view(dtype)
    y_at = base + (nbytes + 4095) // 4096 * 4096 + 2048
    y = buf[y_at : y_at + nbytes].view(dtype)
    return x, y


def with_threads(n: int, f: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        if relukit.get_num_threads() != n:
            relukit.set_num_threads(n)
        return f()

    return run


def elementwise_row(
    label: str, n: int, dtype: type, rounds: int, op: str = "relu", inplace: bool = False
) -> None:
    x, y = placed_pair(n, dtype)
    x[...] = np.random.default_rng(0).standard_normal(n)
    out = x if inplace else y
    ctype = cb.ffi.typeof("float[]" if dtype == np.float32 else "double[]")
    kern = cb._RELU if op == "relu" else cb._RELU_GRAD
    kernel = kern["f" if dtype == np.float32 else "d"]
    cx, cy = cb.ffi.from_buffer(ctype, x), cb.ffi.from_buffer(ctype, out)
    facade = relukit.relu_array if op == "relu" else relukit.relu_grad
    contenders = {
        "numpy": (lambda: np.maximum(x, 0, out=out)),
        "copyto": (lambda: np.copyto(y, x)),
        "c 1t": with_threads(1, lambda: facade(x, out=out, backend="c")),
        "c 2t": with_threads(2, lambda: facade(x, out=out, backend="c")),
        "kernel 1t": with_threads(1, lambda: kernel(cx, n, cy, n)),
        "kernel 2t": with_threads(2, lambda: kernel(cx, n, cy, n)),
    }
    wait_quiet(QUIET_WAIT)
    b0 = _busy_other()
    best = best_times(contenders, rounds)
    b1 = _busy_other()
    nbytes = 2 * n * np.dtype(dtype).itemsize
    cpy = best["copyto"]
    cells = []
    for name in ("c 1t", "c 2t", "kernel 1t", "kernel 2t"):
        cells.append(
            f"{name} {best['numpy'] / best[name]:4.2f}x np {cpy / best[name]:4.2f}x cpy "
            f"{nbytes / best[name] * 1e-9:5.1f} GB/s"
        )
    print(
        f"{label:34s} numpy {nbytes / best['numpy'] * 1e-9:5.1f} GB/s, copyto "
        f"{nbytes / cpy * 1e-9:5.1f} GB/s | " + " | ".join(cells) + _load(b0, b1)
    )


def _load(b0: tuple[float, float, float], b1: tuple[float, float, float]) -> str:
    """The CPU share other processes took while a row ran."""
    busy, total, mine = b1[0] - b0[0], b1[1] - b0[1], b1[2] - b0[2]
    if total <= 0:
        return ""
    return f"  [other processes: {max(busy - mine, 0.0) / total * 100:3.0f}% of all CPUs]"


def small_rows(rounds: int) -> None:
    x = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    best = best_times(
        {
            "np.maximum(x, 0)": lambda: np.maximum(x, 0),
            "relukit.relu_array(x) c": lambda: relukit.relu_array(x, backend="c"),
            "relukit.relu(x) c": lambda: relukit.relu(x, backend="c"),
            "relukit.relu(x) rust": lambda: relukit.relu(x, backend="rust"),
            "relukit.relu(x) numpy": lambda: relukit.relu(x, backend="numpy"),
        },
        rounds,
    )
    ref = best["np.maximum(x, 0)"]
    print("16 float32 elements, full facade call:")
    for name, t in best.items():
        print(f"  {name:28s} {t * 1e9:7.0f} ns  ({t / ref:4.2f}x NumPy's time)")
    best = best_times(
        {
            "relukit.relu(-1.5) c": lambda: relukit.relu(-1.5, backend="c"),
            "relukit.relu(-1.5) python": lambda: relukit.relu(-1.5, backend="python"),
            "relukit.relu(-1.5) rust": lambda: relukit.relu(-1.5, backend="rust"),
            "relukit.relu(-1.5) numpy": lambda: relukit.relu(-1.5, backend="numpy"),
            "cffi call alone": lambda: cb.lib.relukit_relu_f64(-1.5),
        },
        rounds,
    )
    ref = best["relukit.relu(-1.5) python"]
    print("one Python float:")
    for name, t in best.items():
        print(f"  {name:28s} {t * 1e9:7.0f} ns  ({t / ref:4.2f}x the python backend's time)")


def dense_row(n_in: int, n_out: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    layer = relukit.Dense(n_in, n_out, seed=0)
    layer.biases = rng.standard_normal(n_out)
    w, b = layer.weights, layer.biases
    x = rng.standard_normal(n_in).astype(np.float32)
    contenders = {
        "numpy maximum(x @ W + b, 0)": lambda: np.maximum(x @ w + b, 0),
        "Dense.forward c 1t": with_threads(1, lambda: layer.forward(x, backend="c")),
        "Dense.forward c 2t": with_threads(2, lambda: layer.forward(x, backend="c")),
        "Dense.forward rust": lambda: layer.forward(x, backend="rust"),
    }
    wait_quiet(QUIET_WAIT)
    b0 = _busy_other()
    best = best_times(contenders, rounds)
    b1 = _busy_other()
    ref = best["numpy maximum(x @ W + b, 0)"]
    print(f"Dense({n_in}, {n_out}) forward, batch 1, float32:{_load(b0, b1)}")
    for name, t in best.items():
        print(f"  {name:30s} {t * 1e6:8.2f} us  ({ref / t:4.2f}x faster than NumPy)")


ROWS = ("l2", "l3", "dram", "f64", "inplace", "grad", "small", "dense")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--quiet-wait", type=float, default=0.0)
    args = parser.parse_args()
    global QUIET_WAIT
    QUIET_WAIT = args.quiet_wait
    rows = args.rows.split(",")
    r = args.rounds
    relukit.relu(np.zeros(4, np.float32), backend="c")  # load the backend
    if "l2" in rows:
        for n in (16 << 10, 64 << 10, 256 << 10):
            elementwise_row(f"relu f32 {n >> 10}K (x {n * 4 >> 10} KiB)", n, np.float32, r)
    if "l3" in rows:
        for mib in (1, 4, 16):
            n = mib << 18
            elementwise_row(f"relu f32 x {mib} MiB", n, np.float32, r)
    if "dram" in rows:
        elementwise_row("relu f32 x 128 MiB (DRAM)", 32 << 20, np.float32, max(3, r // 3))
    if "f64" in rows:
        for n in (16 << 10, 64 << 10):
            elementwise_row(f"relu f64 {n >> 10}K (x {n * 8 >> 10} KiB)", n, np.float64, r)
    if "inplace" in rows:
        for n in (64 << 10, 1 << 20, 32 << 20):
            elementwise_row(
                f"relu f32 in place x {n * 4 >> 10} KiB",
                n,
                np.float32,
                r if n < (8 << 20) else max(3, r // 3),
                inplace=True,
            )
    if "grad" in rows:
        for n in (64 << 10, 1 << 20, 32 << 20):
            elementwise_row(
                f"relu_grad f32 x {n * 4 >> 10} KiB",
                n,
                np.float32,
                r if n < (8 << 20) else max(3, r // 3),
                op="grad",
            )
    if "small" in rows:
        small_rows(r)
    if "dense" in rows:
        dense_row(3, 2, r)
        dense_row(784, 256, r)


if __name__ == "__main__":
    main()

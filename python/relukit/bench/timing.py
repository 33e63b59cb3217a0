"""Timing: calibrated, interleaved runs of compiled statements.

Each implementation of a case is one Python *statement* (``relu(x, out=y, backend=b)``,
``np.maximum(x, 0, out=y)``...) compiled once by :class:`timeit.Timer`, so a timed run is a
bare ``for`` loop around the call: no wrapper function whose cost would inflate the times of
the cheapest calls. The clock is :func:`time.perf_counter_ns`; the garbage collector is off
inside a run (timeit does that).

Method (``shared/DESIGN.md``):

1. warm-up: one untimed call per implementation (first-touch page faults, lazy imports);
2. calibration: the number of calls per timed run grows until one run lasts at least
   ``max(min_run_ns, 20 clock ticks)``;
3. ``repeats`` rounds; each round times one run of every implementation, in an order rotated
   from round to round, so a burst of noise from another process hits them alike;
4. per implementation, the best (minimum) and the median of the per-call times of its runs.

A ``setup`` statement runs before every timed run and is not timed (the in-place cases
restore their input there).
"""

from __future__ import annotations

import math
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Lower bound of one timed run, in clock ticks (shared/DESIGN.md).
MIN_TICKS = 20
#: Calibration grows a run by at most this factor per step.
MAX_GROWTH = 100


def clock_tick_ns(samples: int = 1000) -> int:
    """The clock's effective tick: the smallest positive step between two readings.

    This includes the cost of reading it, so it is what one timed run can resolve; the
    resolution ``time.get_clock_info`` claims (1 ns on Linux) is smaller than that.
    """
    clock = time.perf_counter_ns
    best = math.inf
    for _ in range(samples):
        t0 = clock()
        t1 = clock()
        while t1 == t0:
            t1 = clock()
        best = min(best, t1 - t0)
    return int(best)


@dataclass
class Timing:
    """The timed runs of one implementation: ``loops`` calls per run, ``runs_ns`` per run."""

    loops: int
    runs_ns: list[int] = field(default_factory=list)

    @property
    def best_s(self) -> float:
        """Best (smallest) time per call, in seconds."""
        return min(self.runs_ns) / self.loops / 1e9

    @property
    def median_s(self) -> float:
        """Median time per call, in seconds."""
        return statistics.median(self.runs_ns) / self.loops / 1e9


class Runner:
    """One statement compiled once; :meth:`run` times ``loops`` executions of it."""

    def __init__(self, stmt: str, env: dict[str, Any], setup: str = "pass") -> None:
        self.stmt = stmt
        self._timer = timeit.Timer(stmt, setup, timer=time.perf_counter_ns, globals=env)

    def run(self, loops: int) -> int:
        """Nanoseconds for ``loops`` executions (setup before, untimed)."""
        return int(self._timer.timeit(loops))


def calibrate(runner: Runner, min_run_ns: int) -> int:
    """Calls per timed run so that one run lasts at least ``min_run_ns``."""
    loops = 1
    elapsed = runner.run(loops)
    while elapsed < min_run_ns:
        guess = math.ceil(loops * 1.25 * min_run_ns / max(elapsed, 1))
        loops = max(loops + 1, min(guess, loops * MAX_GROWTH))
        elapsed = runner.run(loops)
    return loops


def measure(
    runners: dict[str, Runner],
    *,
    repeats: int,
    min_run_ns: int,
    after_last: Callable[[str], None] | None = None,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> dict[str, Timing]:
    """Time every runner ``repeats`` times, interleaved; see the module docstring.

    ``after_last(name)`` is called right after the last timed run of ``name`` (the case
    checks the output of that run there). A runner that raises is reported through
    ``on_error`` (re-raised without it) and dropped from the remaining rounds.
    """
    live = dict(runners)
    loops: dict[str, int] = {}

    def guarded(name: str, fn: Callable[[], Any]) -> bool:
        try:
            fn()
        except Exception as exc:
            if on_error is None:
                raise
            on_error(name, exc)
            live.pop(name, None)
            return False
        return True

    for name, runner in list(live.items()):
        if guarded(name, lambda r=runner: r.run(1)):  # warm-up
            guarded(name, lambda n=name, r=runner: loops.__setitem__(n, calibrate(r, min_run_ns)))
    timings = {name: Timing(loops[name]) for name in live}
    names = list(live)
    for i in range(repeats):
        k = i % len(names) if names else 0
        for name in names[k:] + names[:k]:
            if name not in live:
                continue
            ok = guarded(name, lambda n=name: timings[n].runs_ns.append(live[n].run(loops[n])))
            if ok and i == repeats - 1 and after_last is not None:
                after_last(name)
    return {name: t for name, t in timings.items() if name in live and t.runs_ns}

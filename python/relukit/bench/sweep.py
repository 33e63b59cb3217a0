"""The sweep: build every case, check it, time it (interleaved), and keep the results.

One case at a time: set the thread count (``relukit.set_num_threads``; NumPy's BLAS is held to
the same count with threadpoolctl when it is installed), build the implementations, check
each on a fresh call (a wrong one is marked FAIL and not timed), time the rest interleaved
(:func:`relukit.bench.timing.measure`) and check each again on the output of its last timed
run. The pure Python backend runs only where its predicted time for the case fits the
budget (``python_budget_s``), predicted from its speed in the previous case of the same op.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import relukit
from relukit.bench import cases as C
from relukit.bench.timing import MIN_TICKS, Runner, Timing, clock_tick_ns, measure

OK, FAIL, ERROR, SKIPPED = "ok", "FAIL", "error", "skipped"
#: Rough cost of a case in calls: prechecks, warm-up, calibration, postchecks (plus repeats).
_OVERHEAD_CALLS = 6
#: Assumed pure-Python cost per unit of work (element, multiply-add) until one is measured.
_PYTHON_GUESS_S = 250e-9
#: Calls shorter than this say more about call overhead than cost per element: not learnt.
_LEARN_MIN_S = 1e-3


@dataclass
class Config:
    """What to sweep and how to time it."""

    ops: list[str]
    dtypes: list[str]
    sizes: dict[str, list[int]]  # per dtype, elements
    dense_shapes: list[tuple[int, int, int]]
    backends: list[str]
    threads: list[int]
    repeats: int = 11
    min_time_s: float = 200e-6
    python_budget_s: float = 1.0
    seed: int = 0
    quick: bool = False

    def cases(self) -> list[C.Case]:
        """Every case, in sweep order (scalar, elementwise by dtype and size, dense)."""
        out: list[C.Case] = []
        ops = [op for op in C.OPS if op in self.ops]  # registry order
        if "relu_float" in ops:
            out.append(C.Case("relu_float", "float64", 1, threads=self.threads[0]))
        elementwise = [op for op in ops if C.OPS[op].kind == "elementwise"]
        for dtype in self.dtypes:
            for n in self.sizes[dtype]:
                for op in elementwise:
                    out += [C.Case(op, dtype, n, threads=t) for t in self.threads]
        if "dense" in ops:
            for dtype in self.dtypes:
                for shape in self.dense_shapes:
                    out += [C.Case("dense", dtype, shape=shape, threads=t) for t in self.threads]
        return out


@dataclass
class ImplResult:
    """One implementation in one case: what it ran, whether it was right, its timing."""

    name: str
    role: str
    expr: str
    status: str
    message: str = ""
    timing: Timing | None = None


@dataclass
class CaseResult:
    """All implementations of one case, timed side by side, with derived figures."""

    case: C.Case
    threads: int  # relukit.get_num_threads() while the case ran
    blas_threads: int | None
    impls: dict[str, ImplResult] = field(default_factory=dict)

    def best(self, name: str) -> float | None:
        r = self.impls.get(name)
        return r.timing.best_s if r is not None and r.status == OK and r.timing else None

    def median(self, name: str) -> float | None:
        r = self.impls.get(name)
        return r.timing.median_s if r is not None and r.status == OK and r.timing else None

    def gbps(self, name: str) -> float | None:
        t = self.best(name)
        return self.case.nbytes / t / 1e9 if t and self.case.nbytes else None

    def gflops(self, name: str) -> float | None:
        t = self.best(name)
        return self.case.flops / t / 1e9 if t and self.case.flops else None

    def ratio(self, base: str, name: str, stat: str = "best") -> float | None:
        """time(base) / time(name): how many times faster ``name`` is than ``base``."""
        get = self.best if stat == "best" else self.median
        a, b = get(base), get(name)
        return a / b if a and b else None

    def speedup(self, name: str) -> float | None:
        """Against the reference expression (NumPy; pure Python for one float)."""
        return self.ratio("ref", name)

    def pct_roofline(self, name: str) -> float | None:
        """Throughput as a percentage of the roofline's in the same case."""
        r = self.ratio("roofline", name)
        return 100 * r if r is not None else None

    @property
    def failures(self) -> list[ImplResult]:
        return [r for r in self.impls.values() if r.status in (FAIL, ERROR)]


@dataclass
class Run:
    """A whole sweep: its configuration, the clock, and one result per case."""

    config: Config
    clock_tick_ns: int
    min_run_ns: int
    started: float
    finished: float = 0.0
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failures(self) -> list[tuple[CaseResult, ImplResult]]:
        return [(c, r) for c in self.results for r in c.failures]


@contextlib.contextmanager
def thread_limits(n: int) -> Iterator[int | None]:
    """relukit (and NumPy's BLAS, via threadpoolctl if installed) limited to ``n`` threads."""
    before = relukit.get_num_threads()
    relukit.set_num_threads(n)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield None
        else:
            with threadpool_limits(limits=n, user_api="blas"):
                yield n
    finally:
        relukit.set_num_threads(before)


class PythonBudget:
    """Decides whether the pure Python backend is timed in a case.

    Its seconds per unit of work (element, multiply-add) are learnt from its calls of at least
    1 ms in earlier cases of the same op. A case predicted to take more than twice the budget
    is not run at all; otherwise its checking call is made, and the case is timed only if
    ``repeats`` + a few calls as long as that one fit the budget.
    """

    def __init__(self, budget_s: float, repeats: int, min_run_s: float) -> None:
        self.budget_s = budget_s
        self.repeats = repeats
        self.min_run_s = min_run_s
        self.rate: dict[str, float] = {}  # op -> seconds per unit of work

    def case_time(self, seconds_per_call: float) -> float:
        """Predicted time of a whole case from the time of one call."""
        return (self.repeats + _OVERHEAD_CALLS) * max(seconds_per_call, self.min_run_s)

    def predict_call(self, case: C.Case) -> float:
        return self.rate.get(case.op, _PYTHON_GUESS_S) * case.work

    def learn(self, case: C.Case, seconds_per_call: float) -> None:
        if seconds_per_call >= _LEARN_MIN_S:
            self.rate[case.op] = seconds_per_call / case.work

    def _skip(self, predicted: float, how: str) -> ImplResult:
        return ImplResult(
            "python",
            C.BACKEND,
            "",
            SKIPPED,
            f"{how} {predicted:.2g} s > --python-budget {self.budget_s:g} s",
        )

    def before(self, case: C.Case) -> ImplResult | None:
        """A skip result when the case is predicted to take more than twice the budget."""
        predicted = self.case_time(self.predict_call(case))
        return self._skip(predicted, "predicted") if predicted > 2 * self.budget_s else None

    def after_check(self, case: C.Case, call_s: float) -> ImplResult | None:
        """Learn from the (checked) call; a skip result if timing the case would not fit."""
        self.learn(case, call_s)
        predicted = self.case_time(call_s)
        if predicted > self.budget_s:
            return self._skip(predicted, "checked ok, not timed: predicted")
        return None


def run_case(
    case: C.Case,
    config: Config,
    workspace: C.Workspace,
    min_run_ns: int,
    budget: PythonBudget,
) -> CaseResult:
    """Check and time one case."""
    backends = list(config.backends)
    skipped: list[ImplResult] = []
    if "python" in backends:
        skip = budget.before(case)
        if skip is not None:
            backends.remove("python")
            skipped.append(skip)
    with thread_limits(case.threads) as blas_threads:
        result = CaseResult(case, relukit.get_num_threads(), blas_threads)
        impls = C.build(case, backends, workspace)
        runners: dict[str, Runner] = {}
        by_name = {impl.name: impl for impl in impls}
        for impl in impls:
            res = result.impls[impl.name] = ImplResult(impl.name, impl.role, impl.expr, OK)
            try:
                problem = impl.precheck()
                if problem is not None:
                    res.status, res.message = FAIL, problem
                elif impl.name == "python" and (skip := budget.after_check(case, impl.call_s)):
                    result.impls[impl.name] = skip
                else:
                    runners[impl.name] = Runner(impl.stmt, impl.env, impl.setup)
            except Exception as exc:
                res.status, res.message = ERROR, f"{type(exc).__name__}: {exc}"

        def after_last(name: str) -> None:
            res = result.impls[name]
            try:
                problem = by_name[name].postcheck()
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                res.status, res.message = FAIL, f"after timing: {problem}"

        def on_error(name: str, exc: BaseException) -> None:
            res = result.impls[name]
            res.status, res.message = ERROR, f"{type(exc).__name__}: {exc}"

        timings = measure(
            runners,
            repeats=config.repeats,
            min_run_ns=min_run_ns,
            after_last=after_last,
            on_error=on_error,
        )
        for name, timing in timings.items():
            result.impls[name].timing = timing
    for res in skipped:
        result.impls[res.name] = res
    python_time = result.best("python")
    if python_time is not None:
        budget.learn(case, python_time)
    return result


def sweep(
    config: Config,
    progress: Callable[[C.Case, int, int], None] | None = None,
    cases: list[C.Case] | None = None,
) -> Run:
    """Run every case of ``config`` (or the given ``cases``) and return the results."""
    tick = clock_tick_ns()
    min_run_ns = max(MIN_TICKS * tick, int(config.min_time_s * 1e9))
    run = Run(config, tick, min_run_ns, time.time())
    todo = config.cases() if cases is None else cases
    workspace = C.Workspace(config.seed)
    budget = PythonBudget(config.python_budget_s, config.repeats, min_run_ns / 1e9)
    last_data: Any = None
    for i, case in enumerate(todo):
        data_key = (case.dtype, case.n, case.shape)
        if data_key != last_data:
            workspace.release()
            last_data = data_key
        if progress is not None:
            progress(case, i, len(todo))
        run.results.append(run_case(case, config, workspace, min_run_ns, budget))
    workspace.release()
    run.finished = time.time()
    return run

"""pytest-benchmark front-end over ``relukit bench``'s case registry.

``relukit bench`` (``make bench``) is the benchmark: it times every implementation of a case
interleaved, checks what it times and reports GB/s, the roofline and speedups. This file
runs the same cases (those of ``relukit bench --quick``), with the same data and the same
checks, through pytest-benchmark, for people who want its statistics, histograms and
``--benchmark-compare``:

    pytest benchmarks --benchmark-only --benchmark-group-by=group
    pytest benchmarks --benchmark-disable      # every check once, no timing
"""

from __future__ import annotations

from typing import Any

import pytest

from relukit.bench import cases as C
from relukit.bench.cli import config_from, parse_args
from relukit.bench.machine import l3_bytes
from relukit.bench.sweep import thread_limits

CONFIG = config_from(parse_args(["--quick", "--threads", "1"]), l3_bytes()[0])
WORKSPACE = C.Workspace(CONFIG.seed)


def _params() -> list[Any]:
    params = []
    for case in CONFIG.cases():
        for impl in C.build(case, CONFIG.backends, WORKSPACE):
            if impl.name == "python" and case.work > 1 << 12:
                continue  # pytest-benchmark has no time budget: keep pure Python small
            params.append(pytest.param(case, impl.name, id=f"{case.id}-{impl.name}"))
    WORKSPACE.release()
    return params


@pytest.mark.parametrize(("case", "name"), _params())
def test_case(benchmark: Any, case: C.Case, name: str) -> None:
    """Check one implementation of a case, time it, and check the output of the last call."""
    impl = next(i for i in C.build(case, CONFIG.backends, WORKSPACE) if i.name == name)
    benchmark.group = case.id
    benchmark.extra_info.update(expr=impl.expr, bytes=case.nbytes, flops=case.flops)
    with thread_limits(case.threads):
        assert impl.precheck() is None, impl.precheck()
        call = eval(f"lambda: {impl.stmt}", impl.env)
        if impl.setup == "pass":
            benchmark(call)
        else:  # in place: the input is restored before every round, untimed
            benchmark.pedantic(call, setup=lambda: exec(impl.setup, impl.env), rounds=200)
        assert impl.postcheck() is None, impl.postcheck()

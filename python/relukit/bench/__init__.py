"""``relukit bench``: the cross-backend benchmark, with a roofline, that checks what it times.

Modules: :mod:`~relukit.bench.cases` (the case registry: ops, data, timed statements, checks),
:mod:`~relukit.bench.timing` (calibrated, interleaved timing), :mod:`~relukit.bench.sweep`
(runs the cases), :mod:`~relukit.bench.machine` (CPU, caches, versions),
:mod:`~relukit.bench.report` (tables, JSON, ``--compare``), :mod:`~relukit.bench.plot`,
:mod:`~relukit.bench.targets` (the kernels' speed targets), :mod:`~relukit.bench.schema`
(JSON Schema of ``--json``) and :mod:`~relukit.bench.cli`. How to read the report:
``docs/benchmark.md``.
"""

"""JSON Schema (draft 2020-12) of ``relukit bench --json`` output (``"schema": "relukit-bench/1"``).

The test suite validates real output against it with the ``jsonschema`` package; tools that
read the file can do the same.
"""

from __future__ import annotations

from typing import Any

from relukit.ops import CHECKS

#: The ops of ``relukit bench`` that are not rows of the op table's conformance checks
#: (the registry ``relukit.bench.cases.OPS``, kept in step by a test).
_CORE_OPS = ["relu", "relu_inplace", "relu_alloc", "relu_grad", "dense", "relu_float"]
#: The other activations (``--ops activations``): the op table's conformance rows.
_ACTIVATION_OPS = [check.name for _, check in CHECKS]

_NUM = {"type": "number"}
_OPT_NUM = {"type": ["number", "null"]}
_OPT_INT = {"type": ["integer", "null"]}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}

_RESULT = {
    "type": "object",
    "required": [
        "impl",
        "role",
        "expr",
        "status",
        "message",
        "loops",
        "runs_ns",
        "best_s",
        "median_s",
        "gbps",
        "gflops",
        "pct_roofline",
        "speedup",
        "speedup_median",
    ],
    "additionalProperties": False,
    "properties": {
        "impl": _STR,
        "role": {"enum": ["backend", "reference", "roofline", "baseline"]},
        "expr": _STR,
        "status": {"enum": ["ok", "FAIL", "error", "skipped"]},
        "message": _STR,
        "loops": {"type": ["integer", "null"], "minimum": 1},
        "runs_ns": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "best_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "median_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "gbps": _OPT_NUM,
        "gflops": _OPT_NUM,
        "pct_roofline": _OPT_NUM,
        "speedup": _OPT_NUM,
        "speedup_median": _OPT_NUM,
    },
    # a timed result has its runs; anything else has none
    "if": {"properties": {"status": {"const": "ok"}}},
    "then": {
        "properties": {
            "runs_ns": {"minItems": 1},
            "best_s": {"type": "number"},
            "median_s": {"type": "number"},
            "loops": {"type": "integer"},
        }
    },
    "else": {"properties": {"runs_ns": {"maxItems": 0}, "best_s": {"type": "null"}}},
}

_CASE = {
    "type": "object",
    "required": [
        "id",
        "op",
        "kind",
        "dtype",
        "n",
        "shape",
        "threads_requested",
        "threads",
        "blas_threads",
        "bytes",
        "flops",
        "results",
    ],
    "additionalProperties": False,
    "properties": {
        "id": _STR,
        "op": {"enum": [*_CORE_OPS, *_ACTIVATION_OPS]},
        "kind": {"enum": ["elementwise", "dense", "scalar"]},
        "dtype": {"enum": ["float32", "float64"]},
        "n": {"type": "integer", "minimum": 0},
        "shape": {
            "type": ["array", "null"],
            "items": {"type": "integer", "minimum": 1},
            "minItems": 3,
            "maxItems": 3,
        },
        "threads_requested": {"type": "integer", "minimum": 1},
        "threads": {"type": "integer", "minimum": 1},
        "blas_threads": _OPT_INT,
        "bytes": {"type": "integer", "minimum": 0},
        "flops": {"type": "integer", "minimum": 0},
        "results": {"type": "array", "minItems": 1, "items": _RESULT},
    },
}

_CACHE = {
    "type": "object",
    "required": ["level", "type", "size_bytes"],
    "properties": {
        "level": {"type": "integer", "minimum": 1},
        "type": _STR,
        "size_bytes": {"type": "integer", "minimum": 1},
        "shared_cpu_list": _STR,
    },
}

_MACHINE = {
    "type": "object",
    "required": [
        "cpu",
        "caches",
        "cache_source",
        "l3_bytes",
        "l3_note",
        "os",
        "clock",
        "versions",
        "compilers",
    ],
    "properties": {
        "cpu": {
            "type": "object",
            "required": ["model", "logical_cpus", "usable_cpus", "key_flags", "flags"],
            "properties": {
                "model": _STR,
                "logical_cpus": _OPT_INT,
                "usable_cpus": _OPT_INT,
                "physical_cores": _OPT_INT,
                "key_flags": {"type": "object", "additionalProperties": {"type": "boolean"}},
                "flags": {"type": "array", "items": _STR},
            },
        },
        "caches": {"type": "array", "items": _CACHE},
        "cache_source": {"enum": ["sysfs", "lscpu", "none"]},
        "l3_bytes": {"type": "integer", "minimum": 1},
        "l3_note": _STR,
        "os": _STR,
        "load_average": {"type": ["array", "null"], "items": _NUM},
        "clock": {
            "type": "object",
            "required": ["implementation", "resolution_s"],
            "properties": {"implementation": _STR, "resolution_s": _NUM},
        },
        "versions": {
            "type": "object",
            "required": ["python", "numpy", "relukit"],
            "properties": {
                "python": _STR,
                "numpy": _STR,
                "relukit": _OPT_STR,
                "blas": {"type": "array"},
            },
        },
        "compilers": {
            "type": "object",
            "required": ["native_extension_built_with", "cc", "rustc"],
            "properties": {
                "native_extension_built_with": {"type": "array", "items": _STR},
                "cc": _OPT_STR,
                "gcc": _OPT_STR,
                "rustc": _OPT_STR,
            },
        },
    },
}

_TARGET = {
    "type": "object",
    "required": [
        "row",
        "backend",
        "versus",
        "versus_label",
        "mode",
        "goal",
        "measured",
        "worst_case",
        "values",
        "threads",
        "verdict",
    ],
    "additionalProperties": False,
    "properties": {
        "row": _STR,
        "backend": {"enum": ["c", "rust"]},
        "versus": _STR,
        "versus_label": _STR,
        "mode": {"enum": ["faster", "time", "info"]},
        "goal": _OPT_NUM,
        "measured": _OPT_NUM,
        "worst_case": _OPT_STR,
        "values": {"type": "object", "additionalProperties": _OPT_NUM},
        "threads": {"type": "array", "items": {"type": "integer"}},
        "verdict": {"enum": ["met", "short", "info", "FAIL", "n/a"]},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "relukit bench report",
    "type": "object",
    "required": [
        "schema",
        "created_utc",
        "duration_s",
        "command",
        "machine",
        "method",
        "config",
        "ops",
        "cases",
        "failures",
    ],
    "properties": {
        "schema": {"const": "relukit-bench/1"},
        "created_utc": {"type": "string", "format": "date-time"},
        "duration_s": {"type": "number", "minimum": 0},
        "command": {"type": "array", "items": _STR},
        "machine": _MACHINE,
        "method": {
            "type": "object",
            "required": ["clock", "clock_tick_ns", "min_run_ns", "repeats", "warmup_calls"],
            "properties": {
                "clock_tick_ns": {"type": "integer", "minimum": 1},
                "min_run_ns": {"type": "integer", "minimum": 1},
                "repeats": {"type": "integer", "minimum": 1},
                "warmup_calls": {"type": "integer", "minimum": 0},
            },
        },
        "config": {
            "type": "object",
            "required": ["ops", "dtypes", "sizes", "backends", "threads", "repeats"],
        },
        "ops": {"type": "object"},
        "cases": {"type": "array", "items": _CASE},
        "failures": {"type": "integer", "minimum": 0},
        "targets": {"type": "array", "items": _TARGET},
    },
}

"""Benchmarks: speed and memory measured against a baseline in the same run (never in unit tests).

``bench_inference.py`` (offline paths, parity, server, ceilings: docs/PERFORMANCE.md),
``bench_training.py`` (fp32 against bf16 steps) and ``bench_spark.py`` (Spark against the
local CLI) are the entry points; the other modules are their parts.
"""

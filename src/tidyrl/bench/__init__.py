"""Benchmark harness: suites declared in code, runs recorded as JSON, reports regenerated."""

RESULTS_DIR = "benchmarks/results"
"""Where `bench run` writes its records by default and `bench report` reads them, relative to
the repository root (the working directory)."""
REPORT_PATH = "benchmarks/RESULTS.md"
"""The report `bench report` writes by default, with its plots in ``plots/`` beside it."""

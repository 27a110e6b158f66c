"""Benchmark harness behind `tidyrl bench`: runs the suites declared in the repository's
``benchmarks/suites/`` (found by `tidyrl.bench.folder`), records each run as JSON, and regenerates
the report from the records."""

RESULTS_DIR = "benchmarks/results"
"""The records' folder, relative to the repository root: where `bench run` writes and `bench
report` reads with the default benchmarks folder (the CLI's defaults are BENCHMARKS/results)."""
REPORT_PATH = "benchmarks/RESULTS.md"
"""The report `bench report` writes with the default benchmarks folder, its plots in ``plots/``
beside it."""

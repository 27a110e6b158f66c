"""Benchmark harness: suites declared in code, runs recorded as JSON, reports regenerated."""

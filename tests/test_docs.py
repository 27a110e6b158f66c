"""The README's algorithm table and the docs stay current with the registry."""

from __future__ import annotations

import re
from pathlib import Path

from tidyrl import registry

ROOT = Path(__file__).resolve().parents[1]


def readme_table_ids() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Algorithms", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M)


def test_readme_table_lists_exactly_the_registered_algorithms():
    assert sorted(readme_table_ids()) == sorted(registry.names())


def test_every_algorithm_has_a_docs_page_that_names_it():
    pages = "\n".join(p.read_text() for p in (ROOT / "docs" / "algorithms").glob("*.md"))
    missing = [name for name in registry.names() if f"`{name}`" not in pages and name not in pages]
    assert not missing, f"no docs page mentions {missing}"


def test_results_md_is_regenerated_from_the_stored_records(tmp_path):
    """RESULTS.md is `tidyrl bench report` output, never typed by hand: regenerating it from the
    JSON records gives the committed file exactly."""
    from tidyrl.bench.folder import all_suites
    from tidyrl.bench.report import write_report

    suites = all_suites(ROOT / "benchmarks")
    fresh = write_report(ROOT / "benchmarks" / "results", tmp_path / "RESULTS.md", suites)
    fresh_text = fresh.read_text()
    committed = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert committed == fresh_text, "benchmarks/RESULTS.md is stale: run `make bench-report`"


def test_every_algorithm_has_a_benchmark_suite():
    from tidyrl.bench.folder import all_suites

    suites = all_suites(ROOT / "benchmarks").values()
    covered = {task.algo for suite in suites for task in suite.tasks}
    missing = [name for name in registry.names() if name not in covered]
    assert not missing, f"no benchmark suite runs {missing}"

"""The README's algorithm table and the docs stay current with the registry; the docs site's
navigation lists every page and its API reference names real modules."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

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


def mkdocs_nav_pages() -> set[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text.split("\nnav:", 1)[1]
    return set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, flags=re.M))


GENERATED_PAGES = {"results.md"}
"""Pages the site's hook (docs/hooks/links.py) adds: benchmarks/RESULTS.md."""


def test_docs_site_nav_lists_every_page():
    docs = ROOT / "docs"
    pages = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")}
    nav = mkdocs_nav_pages()
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert nav - pages - GENERATED_PAGES == set(), "nav entries without a page"


API_PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs" / "api").rglob("*.md"))


@pytest.mark.parametrize("page", API_PAGES)
def test_api_reference_blocks_name_real_modules(page):
    for identifier in re.findall(r"^::: *([\w.]+)", (ROOT / page).read_text(), flags=re.M):
        assert importlib.util.find_spec(identifier) is not None, identifier

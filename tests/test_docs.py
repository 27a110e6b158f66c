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


def test_every_algorithm_has_a_recorded_result():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    missing = [name for name in registry.names() if name not in results]
    assert not missing, f"benchmarks/RESULTS.md has no result for {missing}"

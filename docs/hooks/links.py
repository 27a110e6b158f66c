"""MkDocs hook: the site keeps the links that docs/ uses on GitHub.

Pages under docs/ link to files outside it with relative paths that work in the repository
(`../../src/tidyrl/algos/value/dqn.py`, `../benchmarks/RESULTS.md`). A site built from docs/ alone
cannot serve those paths, and `mkdocs build --strict` rejects them. This hook, listed under
`hooks:` in mkdocs.yml (plain MkDocs, no plugin), maps them while building:

- `benchmarks/RESULTS.md` (the generated results report) becomes the site page `results.md`,
  and its plots `benchmarks/plots/*.png` become `plots/*.png`, so the report's own relative
  image links hold; its link back into docs/ is mapped like any other.
- `src/tidyrl/.../module.py` becomes a link to that module's entry in the API reference
  (the page under docs/api/ with a `::: tidyrl.module` block, anchored at the module).

Any other path outside docs/ is left as it is, so the strict build fails on it and names it.
The markdown files are never changed on disk.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (this file is docs/hooks/links.py)."""

INCLUDED = {"benchmarks/RESULTS.md": "results.md"}
"""Repository files outside docs/ that the site carries, and their place in the site."""
INCLUDED_DIRS = {"benchmarks/plots/": "plots/"}

LINK = re.compile(r"(\]\()([^)\s]+)(\))")
"""An inline markdown link or image target: `[text](target)` / `![alt](target)`."""
API_BLOCK = re.compile(r"^::: *([\w.]+)", re.M)

_site_to_repo: dict[str, str] = {}
_api_pages: dict[str, str] = {}


def on_files(files: Files, config: Any) -> Files:
    """Add the results report and its plots to the site; index the API reference's blocks."""
    _site_to_repo.clear()
    for repo_path, site_path in INCLUDED.items():
        files.append(File.generated(config, site_path, abs_src_path=str(ROOT / repo_path)))
        _site_to_repo[site_path] = repo_path
    for repo_dir, site_dir in INCLUDED_DIRS.items():
        for path in sorted((ROOT / repo_dir).glob("*.png")):
            files.append(
                File.generated(config, site_dir + path.name, abs_src_path=str(path.resolve()))
            )
    _api_pages.clear()
    for path in sorted((Path(config["docs_dir"]) / "api").rglob("*.md")):
        page = path.relative_to(config["docs_dir"]).as_posix()
        for identifier in API_BLOCK.findall(path.read_text()):
            _api_pages.setdefault(identifier, page)
    return files


def _site_target(repo_path: str) -> str | None:
    """Where the repository file `repo_path` lives in the site (a docs-relative path with an
    optional anchor), or None when the site does not carry it."""
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/") :]
    if repo_path in INCLUDED:
        return INCLUDED[repo_path]
    for repo_dir, site_dir in INCLUDED_DIRS.items():
        if repo_path.startswith(repo_dir):
            return site_dir + repo_path[len(repo_dir) :]
    if repo_path.startswith("src/") and repo_path.endswith(".py"):
        module = repo_path[len("src/") : -len(".py")].replace("/", ".")
        module = module.removesuffix(".__init__")
        if module in _api_pages:
            return f"{_api_pages[module]}#{module}"
    return None


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite the page's links that leave docs/ to their place in the site."""
    site_path = page.file.src_uri
    repo_page = _site_to_repo.get(site_path, "docs/" + site_path)
    repo_dir = posixpath.dirname(repo_page)

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^[#/]", target):  # URL, anchor, absolute path
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_target = posixpath.normpath(posixpath.join(repo_dir, path))
        if repo_page.startswith("docs/") and repo_target.startswith("docs/"):
            return match.group(0)  # a link inside docs/: MkDocs resolves it as it is
        site_target = _site_target(repo_target)
        if site_target is None:
            return match.group(0)  # not in the site: the strict build reports it
        site_file, _, site_anchor = site_target.partition("#")
        relative = posixpath.relpath(site_file, posixpath.dirname(site_path) or ".")
        fragment = anchor or site_anchor
        return match.group(1) + relative + (f"#{fragment}" if fragment else "") + match.group(3)

    return LINK.sub(rewrite, markdown)

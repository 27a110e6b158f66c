"""The README's examples run as written: the command-line block, pasted top to bottom into bash
from the repository root, gives only commands that parse, name real algorithms, presets, config
keys and environments, and read only run directories (or demonstrations) that an earlier
command made; the quick start it shows is what `make quickstart` runs.

Nothing is trained: bash runs the block with `tidyrl` replaced by a function that records its
arguments."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from tidyrl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def bash_block(markdown: str, after: str) -> str:
    """The first ```bash block after the line that starts with `after`."""
    section = markdown.split(after, 1)[1]
    match = re.search(r"^```bash\n(.*?)^```", section, flags=re.M | re.S)
    assert match, f"no bash block after {after!r}"
    return match.group(1)


def recorded_calls(block: str, tmp_path: Path) -> list[list[str]]:
    """Run `block` in bash with `tidyrl` recording its arguments (loops and variables expand as
    they would for a user); return one argument list per call."""
    log = tmp_path / "calls"
    stub = f"""
tidyrl() {{ printf '%s\\037' "$@" >> '{log}'; printf '\\036' >> '{log}'; }}
"""
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run([bash, "-euo", "pipefail", "-c", stub + block], cwd=tmp_path, check=True)
    records = log.read_text().split("\x1e")[:-1]
    return [record.split("\x1f")[:-1] for record in records]


def norm(path: str) -> PurePosixPath:
    return PurePosixPath(*PurePosixPath(path).parts)


def check_train(args: argparse.Namespace) -> None:
    """The algorithm, preset, --set keys and environment exist (the config is resolved, no agent
    is built)."""
    import gymnasium as gym

    from tidyrl.api import resolve_config
    from tidyrl.config import parse_assignments

    resolve_config(args.algo, args.preset, parse_assignments(args.set or []))
    gym.spec(args.env)


def test_readme_command_line_block_runs_in_order(tmp_path):
    from tidyrl.export import infer_format

    calls = recorded_calls(bash_block(README, "## Command line"), tmp_path)
    assert len(calls) >= 10, calls
    made: set[PurePosixPath] = set()
    parser = build_parser()
    for argv in calls:
        args = parser.parse_args(argv)  # exits (fails the test) on a bad command line
        reads: list[str] = []
        if args.command == "train":
            check_train(args)
            demos = dict(item.split("=", 1) for item in args.set or []).get("demos")
            if demos:
                reads.append(demos)
            if args.run_dir:
                made.add(norm(args.run_dir))
        elif args.command == "demos":
            reads.append(args.run_dir if args.demos_command == "collect" else args.path)
            if args.demos_command == "collect":
                made.add(norm(args.out))
        elif args.command == "eval":
            reads.append(args.path)
            if args.video:
                assert Path(args.video).suffix in {".gif", ".mp4"}, argv
        elif args.command in ("resume", "export"):
            reads.append(args.run_dir)
            if args.command == "export" and args.out:
                infer_format(args.out, args.format)
        elif args.command == "plot":
            reads.extend(args.run_dirs)
        elif args.command == "bench" and args.bench_command == "run":
            from tidyrl.bench.folder import get_suite

            get_suite(args.suite, ROOT / "benchmarks")
            if args.out:
                made.add(norm(args.out))
        elif args.command == "bench" and args.bench_command == "report" and args.results:
            reads.append(args.results)
        missing = [r for r in reads if norm(r) not in made]
        assert not missing, f"`tidyrl {' '.join(argv)}` reads {missing}, made by no command above"


def test_readme_quick_start_is_what_make_quickstart_runs():
    shown = [
        line.strip() for line in bash_block(README, "### Quick start").splitlines() if line.strip()
    ]
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    recipe = makefile.split("\nquickstart:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    run = [" ".join(line.replace("$(BIN)/", "").split()) for line in recipe]
    assert shown == run


def test_readme_images_exist_and_stay_small():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        file = ROOT / path
        assert file.is_file(), path
        assert file.stat().st_size < 400_000, f"{path} is {file.stat().st_size:,} bytes"

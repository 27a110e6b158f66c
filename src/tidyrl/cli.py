"""The command line: tidyrl train | eval | resume | export | list | plot | bench | demos | sweep.

Every algorithm has the same surface (DESIGN.md section 6). A user's mistake (unknown algorithm,
env or config key, invalid value, unsupported space, bad checkpoint) prints one line starting with
``tidyrl: error:`` and exits with status 2; no traceback. A run that fails while training (its
environment raises, a loss turns NaN, the disk fills) prints one line too and exits with status 1
(2 where the environment is at fault), its last good checkpoint kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from tidyrl.errors import USER_MISTAKE, TidyError

EXIT_USER_ERROR = USER_MISTAKE


def _default_run_dir(algo: str, env: str, seed: int) -> str:
    safe_env = re.sub(r"[^A-Za-z0-9_.-]+", "-", env)
    return f"runs/{algo}_{safe_env}_s{seed}_{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_train(args: argparse.Namespace) -> int:
    from tidyrl import registry
    from tidyrl.api import NO_PRESET, TransferNote, choose_preset, make, resolve_config
    from tidyrl.config import parse_assignments

    cls, _ = registry.lookup(args.algo)
    steps = args.steps if args.steps is not None else cls.default_steps
    if steps < 1:  # checked before anything is written to the run directory
        raise TidyError(f"--steps must be at least 1, got {steps}")
    overrides: dict[str, Any] = parse_assignments(args.set or [])
    if args.n_envs is not None:
        if "n_envs" not in {f for f in cls.Config.__dataclass_fields__}:
            raise TidyError(f"{args.algo} runs a single environment; --n-envs is not supported")
        overrides["n_envs"] = args.n_envs
    if args.env_kwargs:
        if "env_kwargs" in overrides:
            raise TidyError("give the environment's kwargs once: --env-kwargs or --set env_kwargs")
        overrides["env_kwargs"] = env_kwargs(args.env_kwargs)
    run_dir = Path(args.run_dir or _default_run_dir(args.algo, args.env, args.seed))
    overrides.setdefault("progress", not args.quiet)
    if args.init_from is not None:
        overrides["init_from"] = args.init_from
    if args.freeze is not None:
        overrides["freeze"] = args.freeze
    overrides.update(_worker_settings(args))
    # checked before anything in the run directory is deleted
    checked = {**overrides, "seed": args.seed, "run_dir": str(run_dir)}
    resolve_config(args.algo, args.preset, checked, args.env)
    if args.init_from is not None:
        from tidyrl.checkpoint import locate
        from tidyrl.transfer import check_source

        source = locate(args.init_from)
        if run_dir.resolve() in (source.resolve(), source.parent.resolve()):
            raise TidyError(f"--init-from '{args.init_from}' is --run-dir itself; choose another")
        check_source(args.algo, args.init_from)  # another algorithm's run: refused up front
    chosen = choose_preset(args.algo, args.preset, args.env)
    _claim_run_dir(run_dir, args.overwrite)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TransferNote)
        agent = make(
            args.algo, args.env, seed=args.seed, preset=args.preset, run_dir=run_dir, **overrides
        )
    if args.preset is None and chosen is not None and not args.quiet:
        # once the agent is built, so that a user's mistake stays a one-line error
        values = " ".join(f"{k}={v}" for k, v in registry.presets(args.algo)[chosen].items())
        print(
            f"{args.algo} on {args.env}: preset '{chosen}' ({values}); "
            f"--preset {NO_PRESET} keeps the defaults",
            file=sys.stderr,
        )
    for warning in caught:
        if issubclass(warning.category, TransferNote):
            print(f"tidyrl: note: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    start = time.perf_counter()
    try:
        agent.learn(steps)
    except TidyError as exc:
        # a mistake found before the first step (a replay larger than the machine's memory):
        # the directory was claimed free, so the corrected command may use it again
        untouched = agent.counters["steps"] == 0 and not (run_dir / "checkpoint").exists()
        if exc.exit_status == USER_MISTAKE and untouched:
            _remove_run_files(run_dir)
        raise
    _summary(agent, run_dir, time.perf_counter() - start, args.quiet)
    return 0


def _worker_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run settings of --workers and --ray-address (docs/distributed.md)."""
    out: dict[str, Any] = {}
    if args.workers is not None:
        out["workers"] = args.workers
        if args.workers == 0:  # back in this process: the run's cluster is not joined
            out["ray_address"] = None
    if args.ray_address is not None:
        if not out.get("workers", getattr(args, "run_workers", 0)):
            raise TidyError("--ray-address needs --workers N (the Ray actors that collect)")
        out["ray_address"] = args.ray_address
    return out


def env_kwargs(items: list[str]) -> dict[str, Any]:
    """`--env-kwargs N=3 continuous_actions=true`: each value read as JSON where it parses
    (numbers, true/false, null, lists), as a string otherwise."""
    from tidyrl.config import parse_assignments

    out: dict[str, Any] = {}
    for key, text in parse_assignments(items).items():
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


RUN_FILES = ("checkpoint", ".checkpoint.old", "metrics.csv", "config.json", "tb")
"""What a run writes into its directory: `train` never mixes a new run into these."""


def _remove_run_files(run_dir: Path) -> None:
    """Delete what a run wrote into `run_dir` (`RUN_FILES`)."""
    import shutil

    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _claim_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse a directory holding any file of an earlier run (with or without a complete
    checkpoint), or, with --overwrite, delete those files."""
    found = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not found:
        return
    if overwrite:
        _remove_run_files(run_dir)
        return
    if "checkpoint" in found or ".checkpoint.old" in found:
        raise TidyError(
            f"run directory '{run_dir}' already holds a run; continue it with "
            f"'tidyrl resume {run_dir}', replace it with --overwrite or choose another --run-dir"
        )
    raise TidyError(
        f"run directory '{run_dir}' holds files of an earlier run ({', '.join(found)}) but no "
        "checkpoint to resume; replace them with --overwrite or choose another --run-dir"
    )


def _summary(agent: Any, run_dir: Path, seconds: float, quiet: bool) -> None:
    from tidyrl.logging import read_metrics

    rows = read_metrics(run_dir)
    last = next((r for r in reversed(rows) if "eval_return" in r), None)
    text = (
        f"trained {agent.algo} on {agent.env_cfg.id} for {agent.counters['steps']} steps "
        f"in {seconds:.1f}s -> {run_dir}"
    )
    if last is not None:
        text += f"; eval return {last['eval_return']:.3f} ± {last.get('eval_return_std', 0):.3f}"
    if not quiet:
        print(text)


def cmd_eval(args: argparse.Namespace) -> int:
    from tidyrl.api import load

    agent = load(args.path)
    stats = agent.evaluate(
        episodes=args.episodes, seed=args.seed, deterministic=not args.stochastic, video=args.video
    )
    if args.json:
        print(json.dumps(stats))
    else:
        team = "team " if "agent_returns" in stats else ""
        print(
            f"{agent.algo} on {agent.env_cfg.id}: {team}return {stats['mean_return']:.3f} ± "
            f"{stats['std_return']:.3f}, length {stats['mean_length']:.1f}"
            + (f", success {stats['success_rate']:.2f}" if "success_rate" in stats else "")
            + f" over {stats['episodes']} episodes"
            + (f"; video: {args.video}" if args.video else "")
        )
        for agent_id, value in stats.get("agent_returns", {}).items():
            print(f"  {agent_id}: return {value:.3f}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from tidyrl.api import load

    run_dir = Path(args.run_dir)
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise TidyError(f"'{run_dir}' is not a run directory: it has no config.json")
    workers = json.loads(config_file.read_text()).get("run", {}).get("workers", 0)
    args.run_workers = workers  # --ray-address alone moves a distributed run to a cluster
    overrides = _worker_settings(args)
    agent = load(run_dir, resume=True, run_dir=str(run_dir), progress=not args.quiet, **overrides)
    target = args.steps if args.steps is not None else agent.counters["target"]
    remaining = target - agent.counters["steps"]
    if remaining <= 0:
        if not args.quiet:
            print(f"{run_dir} already reached {agent.counters['steps']} of {target} steps")
        return 0
    start = time.perf_counter()
    agent.learn(remaining)
    _summary(agent, run_dir, time.perf_counter() - start, args.quiet)
    return 0


def describe_config(algo: str) -> list[dict[str, Any]]:
    """Fields of an algorithm's config: name, type, default, doc (the CLI help)."""
    import dataclasses

    from tidyrl import registry
    from tidyrl.config import field_docs

    cls, fixed = registry.lookup(algo)
    docs = field_docs(cls.Config)
    out = []
    for f in dataclasses.fields(cls.Config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append(
            {
                "name": f.name,
                "type": str(f.type),
                "default": fixed.get(f.name, default),
                "fixed": f.name in fixed,
                "doc": docs.get(f.name, ""),
            }
        )
    return out


FLAG_SETTINGS = {
    "seed": "--seed",
    "run_dir": "--run-dir",
    "progress": "--quiet",
    "init_from": "--init-from",
    "freeze": "--freeze",
    "workers": "--workers",
    "ray_address": "--ray-address",
}
"""Run settings that `train` sets through their own flags."""


def describe_run_settings(algo: str | None = None) -> list[dict[str, Any]]:
    """The run-level settings every algorithm takes with --set (device, threads, evaluation
    and checkpoint cadence, ...) and the environment's: name, default, doc."""
    import dataclasses

    from tidyrl.config import EnvConfig, RunConfig, field_docs

    docs = field_docs(RunConfig)
    out = []
    for f in dataclasses.fields(RunConfig):
        if f.name in FLAG_SETTINGS:
            continue
        setting = {"name": f.name, "default": f.default, "doc": docs.get(f.name, "")}
        if f.name == "torch_threads" and algo is not None:
            from tidyrl import registry

            cls, _ = registry.lookup(algo)
            threads = cls.default_torch_threads or "torch's own"
            setting["note"] = f"{algo}: {threads}"
        out.append(setting)
    env_docs = field_docs(EnvConfig)
    for name, key in (("max_episode_steps", "max_episode_steps"), ("env_kwargs", "kwargs")):
        default = None if key == "max_episode_steps" else {}
        out.append({"name": name, "default": default, "doc": env_docs.get(key, "")})
    return out


def _settings_text(settings: list[dict[str, Any]], indent: str = "  ") -> str:
    import textwrap

    return "\n".join(
        f"{indent}{s['name']} = {s['default']!r}"
        + (f" ({s['note']})" if "note" in s else "")
        + "\n"
        + textwrap.fill(s["doc"], 92, initial_indent=indent * 3, subsequent_indent=indent * 3)
        for s in settings
    )


def cmd_list(args: argparse.Namespace) -> int:
    from tidyrl import registry

    if args.algo:
        fields = describe_config(args.algo)
        presets = registry.presets(args.algo)
        cls, _ = registry.lookup(args.algo)
        run = describe_run_settings(args.algo)
        if args.json:
            info = {
                "id": args.algo,
                "default_steps": cls.default_steps,
                "fields": fields,
                "run": run,
                "presets": presets,
                "env_presets": dict(cls.ENV_PRESETS),
            }
            print(json.dumps(info, default=str))
            return 0
        print(f"{args.algo}: {registry.entry(args.algo).summary}")
        print(f"default --steps: {cls.default_steps:,}\n\nconfig (--set KEY=VALUE):")
        for f in fields:
            note = " (fixed by this id)" if f["fixed"] else ""
            print(f"  {f['name']} = {f['default']!r}{note}\n      {f['doc']}")
        for name, values in presets.items():
            print(f"preset {name}: " + " ".join(f"{k}={v}" for k, v in values.items()))
        for env_id, name in cls.ENV_PRESETS.items():
            print(f"on {env_id} without --preset: preset {name}")
        print("\nrun settings, for every algorithm (--set KEY=VALUE):")
        print(_settings_text(run))
        return 0
    rows = []
    for name in registry.names():
        entry = registry.entry(name)
        cls, _ = registry.lookup(name)
        rows.append(
            {
                "id": name,
                "family": entry.family,
                "summary": entry.summary,
                "action_spaces": [s.__name__ for s in cls.action_spaces],
                "observation_spaces": [s.__name__ for s in cls.observation_spaces],
                "presets": sorted(getattr(cls, "PRESETS", {})),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        spaces = "/".join(r["action_spaces"])
        presets = f"  [presets: {', '.join(r['presets'])}]" if r["presets"] else ""
        print(f"{r['id']:<{width}}  {r['family']:<9} {spaces:<13} {r['summary']}{presets}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tidyrl.api import load
    from tidyrl.export import export, infer_format

    fmt = infer_format(args.out, args.format) if args.out else (args.format or "onnx")
    out = args.out or str(Path(args.run_dir) / ("policy.onnx" if fmt == "onnx" else "policy.pt"))
    agent = load(args.run_dir)
    path = export(agent, out, fmt)
    print(path)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from tidyrl.plotting import plot_runs

    out = args.out or str(Path(args.run_dirs[0]) / "learning_curve.png")
    path = plot_runs(args.run_dirs, out, metric=args.metric)
    print(path)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Everything is checked before Ray starts (and only a sweep imports Ray)."""
    import os

    from tidyrl.config import parse_assignments
    from tidyrl.distributed.sweep import SweepSpec, check, markdown, parse_param, run_sweep

    overrides: dict[str, Any] = parse_assignments(args.set or [])
    for name in ("seed", "run_dir", "progress"):
        if name in overrides:
            raise TidyError(f"--set {name}: a sweep sets it for each run; see 'tidyrl sweep -h'")
    spec = check(
        SweepSpec(
            algo=args.algo,
            env=args.env,
            params=tuple(parse_param(text) for text in args.param),
            trials=args.trials,
            seeds=args.seeds,
            steps=args.steps if args.steps is not None else 0,
            metric=args.metric,
            mode=args.mode,
            seed=args.seed,
            search=args.search,
            preset=args.preset,
            overrides=overrides,
            grace=args.grace or 0,
            eta=args.reduction_factor,
        )
    )
    if args.ray_address is None:
        cpus = args.cpus if args.cpus is not None else os.cpu_count() or 1
        if cpus < spec.seeds:
            raise TidyError(
                f"each trial runs its {spec.seeds} seeds side by side, one CPU each, but --cpus "
                f"is {cpus}; raise --cpus or lower --seeds"
            )
    elif args.cpus is not None:
        raise TidyError("--cpus sizes a local Ray cluster; with --ray-address the cluster's own")
    safe_env = re.sub(r"[^A-Za-z0-9_.-]+", "-", args.env)
    out = Path(args.out or f"sweeps/{args.algo}_{safe_env}_{spec.digest()}")
    rows = run_sweep(spec, out, args.ray_address, args.cpus, args.quiet)
    print(markdown(rows))
    print(f"table: {out / 'results.csv'}; curves: {out / 'results.png'}")
    finished = sum(row["status"] != "unfinished" for row in rows)
    if finished < spec.trials:
        print(
            f"tidyrl: sweep interrupted with {finished} of {spec.trials} trials finished; the "
            "same command resumes it",
            file=sys.stderr,
        )
        return 130
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    return int(args.bench_func(args) or 0)


def cmd_bench_list(args: argparse.Namespace) -> int:
    from tidyrl.bench.folder import all_suites

    for suite in all_suites(args.benchmarks).values():
        seeds = ",".join(map(str, suite.seeds))
        print(f"{suite.name} [{suite.family}] seeds {seeds}: {suite.description}")
        for task in suite.tasks:
            extra = f" threshold {task.threshold:g}" if task.threshold is not None else ""
            peer = f" vs {task.peer.library} {task.peer.algo}" if task.peer else ""
            print(f"  {task.name} | {task.env} | {task.steps:,} steps{extra}{peer}")
    return 0


def cmd_bench_run(args: argparse.Namespace) -> int:
    from tidyrl.bench.folder import benchmarks_dir, get_suite, peers
    from tidyrl.bench.runner import run_suite

    folder = benchmarks_dir(args.benchmarks)
    suite = get_suite(args.suite, folder)
    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise TidyError(
                f"--seeds takes integers separated by commas, got {args.seeds!r}"
            ) from None
    chosen = [t for t in suite.tasks if t.matches(args.task or "")]
    if not chosen:
        raise TidyError(
            f"no task of suite {suite.name!r} matches --task {args.task!r} (text from the start "
            "of a word); its tasks: " + ", ".join(f"'{t.name} {t.env}'" for t in suite.tasks)
        )
    if not args.no_peers and any(t.peer for t in chosen):
        peer_unavailable = peers(folder).peer_unavailable
        problems = {peer_unavailable(t.peer.library) for t in chosen if t.peer} - {None}
        if problems:
            raise TidyError(
                f"suite {suite.name!r} compares against peers that cannot run here: "
                + "; ".join(sorted(str(p) for p in problems))
                + ". Run with --no-peers to skip them"
            )
    if args.jobs is not None and args.jobs < 1:
        raise TidyError(f"--jobs must be at least 1, got {args.jobs}")
    records = run_suite(
        suite,
        seeds=seeds,
        task_filter=args.task or "",
        peers=not args.no_peers,
        peers_only=args.peers_only,
        jobs=args.jobs,
        threads=args.threads,
        out=args.out or folder / "results",
        benchmarks=folder,
    )
    if not records:
        raise TidyError(f"no task of suite {suite.name!r} matches --task {args.task!r}")
    failed = [r for r in records if "error" in r]
    if failed:
        print(f"{len(failed)} run(s) failed; see their JSON records", file=sys.stderr)
        return 1
    if args.check:
        from tidyrl.bench.report import check_solved

        problems = check_solved(suite, records)
        for line in problems:
            print(f"REGRESSION: {line}", file=sys.stderr)
        if problems:
            return 1
        print(f"{suite.name}: every task reached its threshold on enough seeds")
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    from tidyrl.bench.folder import all_suites, benchmarks_dir
    from tidyrl.bench.report import write_report

    folder = benchmarks_dir(args.benchmarks)
    results = Path(args.results) if args.results else folder / "results"
    out = Path(args.out) if args.out else folder / "RESULTS.md"
    path = write_report(results, out, all_suites(folder))
    print(path)
    return 0


def _benchmarks_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--benchmarks",
        metavar="BENCHMARKS",
        help="folder with suites/ and peers.py (default: $TIDYRL_BENCHMARKS, else ./benchmarks)",
    )


def cmd_demos(args: argparse.Namespace) -> int:
    return int(args.demos_func(args) or 0)


def cmd_demos_collect(args: argparse.Namespace) -> int:
    from tidyrl.data.demos import agent_policy, collect, load_expert

    if args.episodes < 1:
        raise TidyError(f"--episodes must be at least 1, got {args.episodes}")
    out = Path(args.out)
    if out.exists():
        raise TidyError(f"'{out}' already exists; choose another --out")
    expert = load_expert(args.run_dir)
    deterministic = not args.stochastic
    demos = collect(
        agent_policy(expert, deterministic),
        expert.env_cfg,
        args.episodes,
        seed=args.seed,
        source={
            "expert": str(args.run_dir),
            "algo": expert.algo,
            "expert_steps": expert.counters["steps"],
            "deterministic": deterministic,
        },
    )
    expert.close()
    demos.save(out, format=args.format)
    returns = demos.episode_returns()
    print(
        f"wrote {demos.n_episodes} episodes ({len(demos)} steps, return {returns.mean():.3f} "
        f"± {returns.std():.3f}) of {expert.algo} on {expert.env_cfg.id} to {out}"
    )
    return 0


def cmd_demos_info(args: argparse.Namespace) -> int:
    from tidyrl.data.demos import describe_space, load_demos

    demos = load_demos(args.path)
    info = demos.description()
    if args.json:
        print(json.dumps(info))
        return 0
    returns = demos.episode_returns()
    print(
        f"{args.path}: {demos.n_episodes} episodes, {len(demos)} steps on {demos.env['id']} "
        f"(observations {describe_space(demos.observation_space)}, actions "
        f"{describe_space(demos.action_space)}); return {returns.mean():.3f} ± "
        f"{returns.std():.3f}; {int(demos.terminated.sum())} terminated, "
        f"{int(demos.truncated.sum())} truncated; source {json.dumps(demos.source)}"
    )
    return 0


def _train_epilog(algo: str | None) -> str:
    """`train --help`'s closing text: the run settings every algorithm takes, and, when the
    command line names an algorithm before --help, its default step count."""
    text = "run settings, for every algorithm (--set KEY=VALUE):\n"
    text += _settings_text(describe_run_settings(algo))
    if algo is not None:
        from tidyrl import registry

        cls, _ = registry.lookup(algo)
        text += f"\n\n{algo}: default --steps {cls.default_steps:,}; its config: tidyrl list {algo}"
    else:
        text += "\n\nan algorithm's default --steps and config: tidyrl list ALGO"
    return text


def _help_algo(argv: list[str]) -> str | None:
    """The algorithm of `tidyrl train ALGO ... --help`, to show its defaults in the help."""
    from tidyrl import registry

    asks_help = "-h" in argv or "--help" in argv
    if asks_help and len(argv) > 1 and argv[0] == "train" and argv[1] in registry.names():
        return argv[1]
    return None


def _algo_and_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algo", help="algorithm id (see 'tidyrl list')")
    parser.add_argument("env", help="Gymnasium id, or module:EnvId to import module first")


def _assignments(
    parser: argparse.ArgumentParser, flag: str, metavar: str, text: str, required: bool = False
) -> None:
    """An option taking one or more KEY=VALUE words, repeatable (`--set a=1 b=2 --set c=3`)."""
    parser.add_argument(
        flag, nargs="+", metavar=metavar, action="extend", required=required, help=text
    )


def build_parser(help_algo: str | None = None) -> argparse.ArgumentParser:
    from tidyrl import __version__

    parser = argparse.ArgumentParser(
        prog="tidyrl", description="Train, evaluate and plot reinforcement learning agents."
    )
    parser.add_argument("--version", action="version", version=f"tidyrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train",
        help="train an agent and write a run directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_train_epilog(help_algo),
    )
    _algo_and_env(p)
    p.add_argument(
        "--steps",
        type=int,
        help="environment steps (default: the algorithm's own; 'tidyrl list ALGO' shows it)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, help="parallel environments (algorithms that vectorize)")
    p.add_argument(
        "--preset",
        help="named config of the algorithm (see 'tidyrl list ALGO'); without one, an env the "
        "algorithm keeps settings for gets them (printed at start); 'none' keeps the defaults",
    )
    _assignments(p, "--set", "KEY=VALUE", "override config fields, e.g. --set alpha=0.5 gamma=1")
    _assignments(
        p,
        "--env-kwargs",
        "KEY=VALUE",
        "keyword arguments of the environment, e.g. --env-kwargs N=3 continuous_actions=true "
        "(values read as JSON where they parse)",
    )
    p.add_argument("--run-dir", help="output directory (default: runs/ALGO_ENV_sSEED_TIME)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the files of an earlier run in --run-dir first (else such a directory is "
        "refused)",
    )
    p.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="fine-tune: start from the networks (and observation statistics) of this run or "
        "saved agent of the same algorithm; steps, optimizer state and replay start fresh. Its "
        "spaces must match the env's (a Box may differ in its bounds only)",
    )
    p.add_argument(
        "--freeze",
        choices=["encoder"],
        help="train only the output layer of each network, the rest frozen (docs/transfer.md)",
    )
    _worker_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a saved agent or run directory")
    p.add_argument("path")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int)
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of greedy")
    p.add_argument("--video", help="record the episodes to FILE.mp4 or FILE.gif")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("resume", help="continue an interrupted run from its checkpoint")
    p.add_argument("run_dir")
    p.add_argument("--steps", type=int, help="total step target (default: the run's own)")
    _worker_arguments(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser(
        "export",
        help="write a run's deterministic policy as a standalone ONNX or TorchScript file",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory or saved agent")
    p.add_argument(
        "--format", choices=["onnx", "torchscript"], help="default: from --out's suffix, or onnx"
    )
    p.add_argument("--out", help="file to write (default: RUN_DIR/policy.onnx or policy.pt)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("list", help="list algorithms, or the config fields of one")
    p.add_argument("algo", nargs="?", help="show this algorithm's config fields and presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("plot", help="plot learning curves of one or more runs to PNG")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="PNG file (default: RUN_DIR/learning_curve.png)")
    p.add_argument("--metric", help="metric column (default: eval_return, else episode_return)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "sweep",
        help="search hyper-parameters on Ray Tune (ASHA early stopping, Optuna's TPE)",
        description="Sample configs of ALGO from --param distributions, train each for --seeds "
        "seeds on Ray Tune, stop weak trials early with ASHA and rank them (docs/sweeps.md). The "
        "same command with the same --out resumes an interrupted sweep.",
    )
    _algo_and_env(p)
    _assignments(
        p,
        "--param",
        "NAME=DIST",
        "a config field and its distribution (quote it for the shell): "
        "uniform(LOW,HIGH), loguniform(LOW,HIGH), randint(LOW,HIGH) and lograndint(LOW,HIGH) "
        "(both ends included), choice(A,B,...); e.g. 'lr=loguniform(1e-5,1e-3)' "
        "'n_steps=choice(64,128,256)'",
        required=True,
    )
    p.add_argument("--trials", type=int, required=True, help="configurations to try")
    p.add_argument("--seeds", type=int, default=1, help="runs per configuration (default: 1)")
    p.add_argument("--steps", type=int, help="steps per run (default: the algorithm's own)")
    p.add_argument(
        "--metric",
        default="eval_return",
        help="metrics.csv column to rank by, the mean over seeds (default: eval_return)",
    )
    p.add_argument("--mode", choices=["max", "min"], default="max")
    p.add_argument("--seed", type=int, default=0, help="seeds the search; run k uses seed SEED+k")
    p.add_argument(
        "--search",
        choices=["optuna", "random"],
        default="optuna",
        help="optuna: random draws for a third of the trials, then TPE (default); random: all",
    )
    p.add_argument("--grace", type=int, help="steps before ASHA's first rung (default: STEPS/9)")
    p.add_argument(
        "--reduction-factor", type=int, default=3, help="ASHA keeps 1/N at each rung (default 3)"
    )
    p.add_argument("--preset", help="named config of the algorithm, for every run")
    _assignments(p, "--set", "KEY=VALUE", "fixed values for every run (e.g. eval_episodes=5)")
    p.add_argument("--out", help="sweep directory (default: sweeps/ALGO_ENV_HASH of the command)")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--cpus", type=int, help="CPUs of the local Ray cluster (default: all)")
    p.add_argument("--quiet", action="store_true", help="no line per finished trial")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("bench", help="run benchmark suites and write benchmarks/RESULTS.md")
    p.set_defaults(func=cmd_bench)
    bench = p.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    b = bench.add_parser("list", help="list the suites and their tasks")
    _benchmarks_option(b)
    b.set_defaults(bench_func=cmd_bench_list)
    b = bench.add_parser("run", help="run a suite (seeds in parallel processes), one JSON per run")
    b.add_argument("suite", help="suite name (see 'tidyrl bench list')")
    b.add_argument("--seeds", help="comma-separated seeds (default: the suite's)")
    b.add_argument("--task", help="only tasks whose name or env contains this text")
    who = b.add_mutually_exclusive_group()
    who.add_argument("--no-peers", action="store_true", help="skip the peer runs")
    who.add_argument("--peers-only", action="store_true", help="run only the peer runs")
    b.add_argument("--jobs", type=int, help="runs at a time (default: one per CPU core)")
    b.add_argument("--threads", type=int, help="torch threads per run (default: cores / jobs)")
    b.add_argument("--out", help="record directory (default: BENCHMARKS/results)")
    b.add_argument(
        "--check", action="store_true", help="exit 1 if a task is solved by too few seeds"
    )
    _benchmarks_option(b)
    b.set_defaults(bench_func=cmd_bench_run)
    b = bench.add_parser("report", help="write RESULTS.md and plots from the stored records")
    b.add_argument("--results", help="record directory (default: BENCHMARKS/results)")
    b.add_argument("--out", help="Markdown file to write (default: BENCHMARKS/RESULTS.md)")
    _benchmarks_option(b)
    b.set_defaults(bench_func=cmd_bench_report)

    p = sub.add_parser("demos", help="collect and inspect demonstrations for imitation learning")
    p.set_defaults(func=cmd_demos)
    demos = p.add_subparsers(dest="demos_command", required=True, metavar="ACTION")
    d = demos.add_parser("collect", help="roll out a trained agent and write its episodes")
    d.add_argument("run_dir", metavar="RUN_DIR", help="run directory or saved agent (the expert)")
    d.add_argument("--episodes", type=int, required=True, help="whole episodes to record")
    d.add_argument("--out", required=True, help="file to write (a directory for --format minari)")
    d.add_argument("--seed", type=int, default=0, help="seed of the environment")
    d.add_argument("--stochastic", action="store_true", help="sample actions instead of the mode")
    d.add_argument(
        "--format",
        choices=("safetensors", "minari"),
        default="safetensors",
        help="safetensors + JSON (default), or a Minari dataset directory",
    )
    d.set_defaults(demos_func=cmd_demos_collect)
    d = demos.add_parser("info", help="describe a demonstrations file")
    d.add_argument("path")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(demos_func=cmd_demos_info)
    return parser


def _worker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="collect on N Ray actors, each with a share of the env copies and a policy copy "
        "(ppo, a2c, trpo, actor-critic: synchronous rollouts; dqn, rainbow, d4pg: Ape-X actors; "
        "a3c: asynchronous gradients; docs/distributed.md). Without it Ray is not used",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join the Ray cluster at ADDR (HOST:PORT, or 'auto' for one 'ray start --head' "
        "runs here) instead of starting Ray on this machine",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_help_algo(argv)).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TidyError as exc:
        # one line, always: a space's repr (a wide Box) or a library message may hold newlines
        print(f"tidyrl: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_status  # 2 for a user's mistake, 1 for a run that failed (RunError)
    except KeyboardInterrupt:
        print(
            "tidyrl: interrupted (the last checkpoint is kept; continue with tidyrl resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`tidyrl bench report`: benchmarks/RESULTS.md and its plots, regenerated from the JSON records.

Nothing in RESULTS.md is typed by hand: every number comes from a record under
`benchmarks/results/`, and rerunning the report on the same records gives the same file.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tidyrl.bench.folder import all_suites
from tidyrl.bench.record import load_records, slug
from tidyrl.bench.stats import (
    bootstrap_mean_ci,
    interquartile_mean,
    normalized_score,
    stratified_bootstrap_ci,
)
from tidyrl.bench.suite import Suite
from tidyrl.bench.transfer import transfer_metrics

FAMILIES = {
    "tabular": "Tabular methods (issue 2)",
    "value": "Value-based deep RL (issue 3)",
    "policy_gradient": "Policy gradient (issue 4)",
    "actor_critic": "Continuous control, off-policy (issue 5)",
    "multiagent": "Multi-agent (issue 21)",
    "transfer": "Transfer: fine-tuned vs from scratch (issue 23)",
    "quick": "Quick CI suite",
    "spaces": "Spaces and action masking (issue 28)",
    "sweeps": "Hyper-parameter sweeps (issue 26)",
    "exploration": "Exploration bonuses and Go-Explore (issue 22)",
    "imitation": "Imitation and inverse RL (issue 23)",
    "model-based": "Model-based I: imagination DDPG, World Models, I2A (issue 24)",
    "dreamer": "Model-based II: Dreamer (issue 25)",
}

Record = dict[str, Any]


def task_key(record: Record) -> tuple[str, str, str]:
    return record["suite"], record["task"]["name"], record["task"]["env"]


def check_solved(suite: Suite, records: Iterable[Record]) -> list[str]:
    """Tasks of `suite` whose tidyrl runs reached the threshold on fewer than `min_solved` seeds
    (default: a majority of the seeds run)."""
    problems = []
    by_task: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r["library"] == "tidyrl" and "error" not in r:
            by_task[f"{r['task']['name']}|{r['task']['env']}"].append(r)
    for task in suite.tasks:
        runs = by_task.get(f"{task.name}|{task.env}", [])
        if task.threshold is None or not runs:
            continue
        need = task.min_solved if task.min_solved is not None else len(runs) // 2 + 1
        solved = sum(any(p["mean_return"] >= task.threshold for p in r["curve"]) for r in runs)
        if solved < need:
            finals = ", ".join(f"{r['final_eval']['mean_return']:.1f}" for r in runs)
            problems.append(
                f"{task.name} on {task.env}: {solved}/{len(runs)} seeds reached "
                f"{task.threshold:g} within {task.steps:,} steps (need {need}; finals {finals})"
            )
    return problems


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _finals(runs: list[Record]) -> str:
    return " / ".join(
        f"{r['final_eval']['mean_return']:.{_digits(r)}f} ± {r['final_eval']['std_return']:.1f}"
        for r in sorted(runs, key=lambda r: r["seed"])
    )


def _digits(record: Record) -> int:
    threshold = record["task"].get("threshold")
    return 3 if threshold is not None and abs(threshold) <= 1.0 else 1


def _ttt(runs: list[Record]) -> str:
    reached = [r["time_to_threshold"] for r in runs if r.get("time_to_threshold")]
    if runs[0]["task"].get("threshold") is None:
        return "—"
    if not reached:
        return "never"
    steps = _median([t["steps"] for t in reached])
    wall = _median([t["wall_s"] for t in reached])
    return f"{steps:,.0f} / {wall:.1f} s"


def _who(record: Record) -> str:
    return "tidyrl" if record["library"] == "tidyrl" else record.get("peer_name") or "peer"


def suite_section(
    suite: str, records: list[Record], plots: Path, md_dir: Path, declared_suite: Suite | None
) -> list[str]:
    lines = [f"### Suite `{suite}`", ""]
    commands = sorted({r["command"] for r in records if r.get("command")})
    seeds = sorted({r["seed"] for r in records})
    commits = sorted({r["provenance"]["commit"] for r in records})
    dates = sorted(r["provenance"]["date"][:10] for r in records)
    lines.append(
        f"Command: {', '.join(f'`{c}`' for c in commands) or f'`tidyrl bench run {suite}`'}; "
        f"seeds {', '.join(map(str, seeds))}; commit {', '.join(commits)}; "
        f"run {dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''}."
    )
    lines += [
        "",
        "| task | env | budget | library | final eval per seed (mean ± std) | solved | "
        "to threshold (steps / s) | wall s | env steps/s | updates/s | RSS MB | reference |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # a reference is a quotation, not a measurement: the suite's current text wins over the one
    # a record was written with (records of tasks no longer declared keep their own)
    declared = {(t.name, t.env): t.reference for t in getattr(declared_suite, "tasks", ())}
    groups: dict[tuple[str, str], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        groups[(r["task"]["name"], r["task"]["env"])][_who(r)].append(r)
    for (name, env), by_lib in groups.items():
        for who, runs in sorted(by_lib.items(), key=lambda kv: kv[0] != "tidyrl"):
            ok = [r for r in runs if "error" not in r]
            failed = len(runs) - len(ok)
            if not ok:
                lines.append(
                    f"| {name} | {env} | — | {who} | all {failed} runs failed | | | | | | | |"
                )
                continue
            task = ok[0]["task"]
            threshold = task.get("threshold")
            solved = (
                f"{sum(bool(r['solved']) for r in ok)}/{len(ok)} ≥ {threshold:g}"
                if threshold is not None
                else "—"
            )
            fail_note = f" ({failed} failed)" if failed else ""
            lines.append(
                f"| {name} | {env} | {task['steps']:,} | {who} | {_finals(ok)}{fail_note} | "
                f"{solved} | {_ttt(ok)} | {_fmt(_median([r['train_wall_s'] for r in ok]))} | "
                f"{_fmt(_median([r['env_steps_per_s'] for r in ok]), 0)} | "
                f"{_fmt(_median([r['update_steps_per_s'] for r in ok]), 0)} | "
                f"{_fmt(max(r['peak_rss_mb'] for r in ok), 0)} | "
                f"{declared.get((name, env), task.get('reference')) or ''} |"
            )
    lines += (
        _side_by_side(groups)
        + _metrics_table(groups)
        + _ceiling_table(groups)
        + _expert_table(groups)
        + _transfer_table(groups)
    )
    plot = plot_suite(suite, groups, plots)
    if plot is not None:
        lines += ["", f"![{suite} learning curves]({plot.relative_to(md_dir).as_posix()})"]
    return lines + [""]


def _expert_table(groups: dict[tuple[str, str], dict[str, list[Record]]]) -> list[str]:
    """Expert-normalised final scores (R - R_random) / (R_expert - R_random) of the tidyrl runs
    whose records measured an expert's return (imitation tasks), both returns from each record."""
    rows = []
    for (name, env), by_lib in groups.items():
        runs = [
            r
            for r in by_lib.get("tidyrl", [])
            if "error" not in r and r["ceilings"].get("expert_return") is not None
        ]
        if not runs:
            continue
        scores, experts, randoms = [], [], []
        for r in sorted(runs, key=lambda r: r["seed"]):
            ceiling = r["ceilings"]
            experts.append(ceiling["expert_return"])
            randoms.append(ceiling["random_return"])
            scores.append(
                normalized_score(r["final_eval"]["mean_return"], randoms[-1], experts[-1])
            )
        rows.append(
            f"| {name} | {env} | {_fmt(_median(experts))} | {_fmt(_median(randoms))} | "
            f"{', '.join(f'{x:.2f}' for x in scores)} | {statistics.fmean(scores):.2f} |"
        )
    if not rows:
        return []
    return [
        "",
        "Expert-normalised final score (R − R_random) / (R_expert − R_random), per seed; the "
        "expert's greedy return and the random return are measured in each run's record "
        "(median over seeds shown):",
        "",
        "| task | env | expert return | random return | score per seed | mean score |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def _transfer_table(groups: dict[tuple[str, str], dict[str, list[Record]]]) -> list[str]:
    """Taylor & Stone's metrics (`tidyrl.bench.transfer`) of each fine-tuned task against its
    from-scratch baseline, seed by seed: both eval curves start at step 0, and the threshold is
    the baseline's final return of that seed (the steps each needs to reach what learning from
    scratch ends with)."""
    by_name: dict[str, list[Record]] = defaultdict(list)
    for (name, _), by_lib in groups.items():
        by_name[name] += [r for r in by_lib.get("tidyrl", []) if "error" not in r]
    rows = []
    for (name, env), by_lib in groups.items():
        tuned = sorted(
            (r for r in by_lib.get("tidyrl", []) if "error" not in r), key=lambda r: r["seed"]
        )
        baseline = tuned[0]["task"].get("baseline") if tuned else None
        scratch = {r["seed"]: r for r in by_name.get(baseline or "", [])}
        pairs = [(r, scratch[r["seed"]]) for r in tuned if r["seed"] in scratch]
        if not baseline or not pairs:
            continue
        metrics = [
            transfer_metrics(_points(ft["curve"]), _points(base["curve"])) for ft, base in pairs
        ]
        ratios = [_step_ratio(m) for m in metrics]
        met = sum(r is not None and r <= TARGET_STEP_RATIO for r in ratios)
        source = pairs[0][0].get("transfer", {})
        rows.append(
            f"| {name} | {env} | {source.get('source_task', '—')} "
            f"({_fmt(source.get('source_steps'), 0)} steps) | {baseline} | "
            f"{', '.join(str(ft['seed']) for ft, _ in pairs)} | "
            f"{_per_seed(m['jumpstart'] for m in metrics)} | "
            f"{_per_seed(m['asymptotic_gain'] for m in metrics)} | "
            f"{_per_seed(m['threshold'] for m in metrics)} | "
            f"{_per_seed((m['steps_to_threshold_transfer'] for m in metrics), 0)} | "
            f"{_per_seed((m['steps_to_threshold_scratch'] for m in metrics), 0)} | "
            f"{' / '.join('never' if r is None else f'{100 * r:.0f}%' for r in ratios)} "
            f"({met}/{len(ratios)} ≤ {100 * TARGET_STEP_RATIO:.0f}%) | "
            f"{_per_seed((m['area_ratio'] for m in metrics), 2)} |"
        )
    if not rows:
        return []
    return [
        "",
        "Transfer (Taylor & Stone 2009): each fine-tuned task against the same task learnt from "
        "scratch, seed by seed (values per seed, separated by /). *Jump-start* is the greedy "
        "eval return at step 0 minus the scratch learner's, *asymptotic gain* the same at the "
        "end; the *threshold* is the scratch run's final return, and the steps each learner "
        "needs to first reach it give the *step ratio* fine-tuned / scratch (the source task's "
        "own steps not counted); *area ratio* is (A_fine-tuned − A_scratch) / A_scratch of the "
        "areas under the eval curves above the lowest return of either.",
        "",
        "| task | env | source (its steps) | baseline | seeds | jump-start | asymptotic gain | "
        "threshold | steps to threshold, fine-tuned | steps, scratch | step ratio | "
        "area ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]


TARGET_STEP_RATIO = 0.5
"""Issue 23's target: a fine-tuned learner reaches the from-scratch final return in at most half
the steps the scratch learner needs."""


def _points(curve: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(float(p["step"]), float(p["mean_return"])) for p in curve]


def _step_ratio(metrics: Mapping[str, float | None]) -> float | None:
    """Steps to threshold, fine-tuned / scratch (0 when both are there at step 0)."""
    tuned, scratch = metrics["steps_to_threshold_transfer"], metrics["steps_to_threshold_scratch"]
    if tuned is None or scratch is None:
        return None
    return tuned / scratch if scratch > 0 else float(tuned > 0)


def _per_seed(values: Iterable[float | None], digits: int = 1) -> str:
    return " / ".join("never" if v is None else _fmt(v, digits) for v in values)


def _side_by_side(groups: dict[tuple[str, str], dict[str, list[Record]]]) -> list[str]:
    rows = []
    for (name, env), by_lib in groups.items():
        ours = [r for r in by_lib.get("tidyrl", []) if "error" not in r]
        for who, runs in by_lib.items():
            theirs = [r for r in runs if "error" not in r]
            if who == "tidyrl" or not ours or not theirs:
                continue
            w_ours = _median([r["train_wall_s"] for r in ours])
            w_theirs = _median([r["train_wall_s"] for r in theirs])
            s_ours = _median([r["env_steps_per_s"] for r in ours])
            s_theirs = _median([r["env_steps_per_s"] for r in theirs])
            r_ours = _median([r["final_eval"]["mean_return"] for r in ours])
            r_theirs = _median([r["final_eval"]["mean_return"] for r in theirs])
            t_ours = [r["time_to_threshold"]["wall_s"] for r in ours if r["time_to_threshold"]]
            t_theirs = [r["time_to_threshold"]["wall_s"] for r in theirs if r["time_to_threshold"]]
            ttt = (
                f"{_median(t_ours):.1f} / {_median(t_theirs):.1f} s = "
                f"{_median(t_ours) / _median(t_theirs):.2f}×"
                if t_ours and t_theirs
                else f"{len(t_ours)}/{len(ours)} vs {len(t_theirs)}/{len(theirs)} seeds reached"
            )
            rows.append(
                f"| {name} | {env} | {who} | {w_ours:.1f} / {w_theirs:.1f} = "
                f"**{w_ours / w_theirs:.2f}×** | {s_ours / s_theirs:.2f}× | "
                f"{r_ours:.1f} / {r_theirs:.1f} | {ttt} | {len(ours)} + {len(theirs)} |"
            )
    if not rows:
        return []
    return [
        "",
        "Side by side, same run (medians over seeds; ratios are tidyrl / peer, so a wall-time "
        "ratio below 1 means tidyrl is faster):",
        "",
        "| task | env | peer | train wall s (ratio) | env steps/s ratio | final return "
        "tidyrl / peer | time to threshold | runs |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def _metrics_table(groups: dict[tuple[str, str], dict[str, list[Record]]]) -> list[str]:
    """The tasks' own measurements (`Task.metrics`): mean ± std over seeds, one row per task."""
    rows = [
        (name, env, [r for r in by_lib.get("tidyrl", []) if "metrics" in r])
        for (name, env), by_lib in groups.items()
    ]
    rows = [row for row in rows if row[2]]
    if not rows:
        return []
    keys = list(dict.fromkeys(k for _, _, runs in rows for r in runs for k in r["metrics"]))
    lines = [
        "",
        "Task measurements of the trained agents (mean ± std over seeds):",
        "",
        "| task | env | seeds | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for name, env, runs in rows:
        cells = []
        for key in keys:
            values = [r["metrics"][key] for r in runs if key in r["metrics"]]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "—")
        lines.append(f"| {name} | {env} | {len(runs)} | " + " | ".join(cells) + " |")
    return lines


def _ceiling_table(groups: dict[tuple[str, str], dict[str, list[Record]]]) -> list[str]:
    rows = []
    for (name, env), by_lib in groups.items():
        # runs that stopped before their budget (planners at convergence) count iterations,
        # not env steps, so env-stepping ceilings do not apply to them
        ours = [
            r
            for r in by_lib.get("tidyrl", [])
            if "error" not in r and r.get("ceilings") and r["steps"] >= r["task"]["steps"]
        ]
        if not ours:
            continue
        raw = _median([r["ceilings"]["raw_env_steps_per_s"] for r in ours])
        speed = _median([r["env_steps_per_s"] for r in ours])
        probes = [r["ceilings"]["update_probe_per_s"] for r in ours]
        probe = _median([p for p in probes if p]) if any(probes) else None
        updates = _median([r["update_steps_per_s"] for r in ours])
        explained = _median(
            [
                (
                    r["steps"] / r["ceilings"]["raw_env_steps_per_s"]
                    + (
                        r["updates"] / r["ceilings"]["update_probe_per_s"]
                        if r["ceilings"]["update_probe_per_s"]
                        else 0.0
                    )
                )
                / r["train_wall_s"]
                for r in ours
            ]
        )
        update_text = (
            f"{_fmt(probe, 0)} | {_fmt(updates, 0)} ({100 * updates / probe:.0f}%)"
            if probe
            else "— | —"
        )
        rows.append(
            f"| {name} | {env} | {_fmt(raw, 0)} | {_fmt(speed, 0)} ({100 * speed / raw:.1f}%) | "
            f"{update_text} | {100 * explained:.0f}% |"
        )
    if not rows:
        return []
    return [
        "",
        "Ceilings (tidyrl runs): raw env stepping with random actions in the same vectorization, "
        "and one bare gradient update on a fixed batch (`Agent.update_probe`). The last column is "
        "the share of the training wall time that env stepping and bare updates alone would "
        "take; the rest is tidyrl's own overhead (acting, storage, sampling, logging).",
        "",
        "| task | env | raw env steps/s | tidyrl env steps/s (% of raw) | bare updates/s | "
        "training updates/s (% of bare) | wall explained by ceilings |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


def plot_suite(
    suite: str, groups: dict[tuple[str, str], dict[str, list[Record]]], plots: Path
) -> Path | None:
    """Learning curves per task: mean eval return across seeds, 95% bootstrap band."""
    curved = {
        k: v
        for k, v in groups.items()
        if any(len(r.get("curve", [])) > 1 for rs in v.values() for r in rs)
    }
    if not curved:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(curved)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, ((name, env), by_lib) in zip(axes.flat, curved.items()):
        threshold = None
        for who, runs in sorted(by_lib.items(), key=lambda kv: kv[0] != "tidyrl"):
            curves = [r["curve"] for r in runs if "error" not in r and r.get("curve")]
            if not curves:
                continue
            threshold = runs[0]["task"].get("threshold")
            length = min(len(c) for c in curves)
            steps = np.array([p["step"] for p in curves[0][:length]])
            values = np.array([[p["mean_return"] for p in c[:length]] for c in curves])
            bands = np.array([bootstrap_mean_ci(values[:, i])[1:] for i in range(length)])
            (line,) = ax.plot(steps, values.mean(axis=0), label=f"{who} ({len(curves)} seeds)")
            ax.fill_between(steps, bands[:, 0], bands[:, 1], alpha=0.2, color=line.get_color())
        if threshold is not None:
            ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(f"{name}\n{env}", fontsize=8)
        ax.set_xlabel("environment steps", fontsize=8)
        ax.set_ylabel("eval return", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    plots.mkdir(parents=True, exist_ok=True)
    path = plots / f"{slug(suite)}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def iqm_section(records: list[Record], plots: Path, md_dir: Path) -> list[str]:
    """IQM of normalized final scores per (family, library), stratified over tasks."""
    scores: dict[tuple[str, str], dict[tuple[str, str, str], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in records:
        if "error" in r or r["task"].get("threshold") is None:
            continue
        ceiling = r.get("ceilings") or {}
        random = ceiling.get("random_return")
        if random is None:  # a peer run: use the tidyrl run's measurement of the same task
            random = _random_for(records, task_key(r))
        if random is None or random == r["task"]["threshold"]:
            continue
        score = normalized_score(r["final_eval"]["mean_return"], random, r["task"]["threshold"])
        scores[(r["family"], _who(r))][task_key(r)].append(score)
    if not scores:
        return []
    rows, labels, points = [], [], []
    for (family, who), by_task in sorted(scores.items()):
        point, low, high = stratified_bootstrap_ci(list(by_task.values()), interquartile_mean)
        n_runs = sum(len(v) for v in by_task.values())
        rows.append(
            f"| {FAMILIES.get(family, family)} | {who} | {len(by_task)} | {n_runs} | "
            f"{point:.2f} [{low:.2f}, {high:.2f}] |"
        )
        labels.append(f"{family} · {who}")
        points.append((point, low, high))
    lines = [
        "## Across tasks: interquartile mean of normalized scores",
        "",
        "Per run, the final greedy eval return is normalized as (return − random) / (threshold − "
        "random), where `random` is the mean episode return of uniformly random actions measured "
        "in the same record, so 0 is the random policy and 1 is the task's threshold. The IQM "
        "pools every run of a family and drops the lowest and highest quarter; the interval is a "
        "95% stratified bootstrap over seeds within tasks (Agarwal et al. 2021, the rliable "
        "method).",
        "",
        "| family | library | tasks | runs | IQM [95% CI] |",
        "|---|---|---|---|---|",
        *rows,
    ]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(labels) + 1.0))
    y = np.arange(len(labels))
    p = np.array(points)
    ax.errorbar(p[:, 0], y, xerr=[p[:, 0] - p[:, 1], p[:, 2] - p[:, 0]], fmt="o", capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("IQM normalized score (1 = threshold)")
    fig.tight_layout()
    plots.mkdir(parents=True, exist_ok=True)
    path = plots / "iqm.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return lines + ["", f"![IQM across tasks]({path.relative_to(md_dir).as_posix()})", ""]


WHOLE_PROCESS_FORMAT = "tidyrl-whole-process/1"
"""Records of `benchmarks/whole_process.py`: one timed process per library, task and seed."""


def whole_process_section(results: Path) -> list[str]:
    """The whole-process side by side (`benchmarks/whole_process.py`): per task, each library's
    process wall time per seed, the ratio of the medians and the greedy returns."""
    runs: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for data in load_records(results, WHOLE_PROCESS_FORMAT):
        runs[data["task"]][data["library"]].append(data)
    rows = []
    for task, by_lib in sorted(runs.items()):
        ours = sorted(by_lib.get("tidyrl", []), key=lambda r: r["seed"])
        theirs = sorted(by_lib.get("sb3", []), key=lambda r: r["seed"])
        if not ours or not theirs:
            continue
        first = ours[0]
        w_ours = _median([r["wall_s"] for r in ours])
        w_theirs = _median([r["wall_s"] for r in theirs])

        def per_seed(records: list[Record], key: str, digits: int = 1) -> str:
            return " / ".join(f"{r[key]:.{digits}f}" for r in records)

        commits = ", ".join(sorted({r["provenance"]["commit"] for r in ours}))
        rows.append(
            f"| {task} | {first['env']} | {first['steps']:,} | {per_seed(ours, 'wall_s')} | "
            f"{per_seed(theirs, 'wall_s')} | **{w_ours / w_theirs:.2f}×** | "
            f"{per_seed(ours, 'eval_mean')} | {per_seed(theirs, 'eval_mean')} | "
            f"`{first['command']}` | {commits} |"
        )
    if not rows:
        return []
    return [
        "## Whole process against Stable-Baselines3",
        "",
        "Wall time as a user sees it (`benchmarks/whole_process.py`): the whole `tidyrl train` "
        "process (imports, training, logging, checkpoints, its final 10-episode evaluation) "
        "against a whole SB3 process (imports, `learn`, a 10-episode greedy evaluation), "
        "identical hyper-parameters, alternating tidyrl / SB3 per seed. Returns are greedy "
        "evaluations on env seeds 10000-10009 for both. The ratio is median / median, so below "
        "1 means tidyrl is faster. The train-loop-only ratios are in the suites' side-by-side "
        "tables below (`ppo-vs-sb3`, `dqn-vs-sb3`, `sac-vs-sb3`).",
        "",
        "| task | env | steps | tidyrl s per seed | SB3 s per seed | ratio | return tidyrl | "
        "return SB3 | tidyrl command | commit |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


DISTRIBUTED_FORMAT = "tidyrl-distributed/1"
"""Records of `benchmarks/distributed_scaling.py`: Ray start-up, throughput by workers, curves."""


def distributed_section(results: Path) -> list[str]:
    """Scale-out on Ray (`benchmarks/distributed_scaling.py`, docs/distributed.md): Ray's
    start-up, env steps/s by number of workers, and the curves of PPO and Ape-X DQN on workers
    and in-process."""
    parts = {r["part"]: r for r in load_records(results, DISTRIBUTED_FORMAT)}
    if not parts:
        return []
    lines = [
        "## Scale-out on Ray",
        "",
        "`benchmarks/distributed_scaling.py`; what the numbers mean for more machines is worked "
        "out in [docs/distributed.md](../docs/distributed.md).",
        "",
    ]
    if "startup" in parts:
        runs = parts["startup"]["runs"]
        lines += [
            f"Start-up, median of {len(runs)} fresh processes: import tidyrl "
            f"{_median([r['import'] for r in runs]):.1f} s, `ray.init` of a local Ray "
            f"{_median([r['ray_init'] for r in runs]):.1f} s, a run's 4 workers ready "
            f"{_median([r['four_workers_ready'] for r in runs]):.1f} s.",
            "",
        ]
    if "throughput" in parts:
        record = parts["throughput"]
        lines += [
            f"{record['algo'].upper()} on {record['env']}, {record['settings']}: {record['note']}.",
            "",
            "| workers | env steps | collection steps/s | training steps/s |",
            "|---|---|---|---|",
            *(
                f"| {'in-process' if r['workers'] == 0 else r['workers']} | {r['steps']:,} | "
                f"{r['collect_steps_per_second']:.0f} | {r['train_steps_per_second']:.0f} |"
                for r in record["rows"]
            ),
            "",
        ]
    # PPO; Ape-X DQN uniform, then with actor priorities; A3C; Ape-X Rainbow
    for name in ("curve", "apex-curve", "apex-per-curve", "a3c-curve", "apex-rainbow-curve"):
        if name not in parts:
            continue
        record = parts[name]
        lines += [
            f"{record['algo'].upper()} on {record['env']}, greedy eval return by env step: "
            f"{record['note']}.",
            "",
            "| seed | workers | eval return at steps | seconds |",
            "|---|---|---|---|",
            *(
                f"| {r['seed']} | {_workers(r)} | "
                + ", ".join(f"{step:,}: {ret:.0f}" for step, ret in r["eval_return"])
                + f" | {r['seconds']:.0f} |"
                for r in record["runs"]
            ),
            "",
        ]
    return lines


def _workers(run: Mapping[str, Any]) -> str:
    """'in-process' or the worker count, and the replay kind where a record compares them."""
    where = "in-process" if run["workers"] == 0 else str(run["workers"])
    if "prioritized" in run:
        where += ", prioritised" if run["prioritized"] else ", uniform"
    return where


VISUAL_MODEL_FORMAT = "tidyrl-visual-model/1"
SIDE_BY_SIDE_FORMAT = "tidyrl-peer-side-by-side/1"


def side_by_side_section(results: Path) -> list[str]:
    """Speed against another library's implementation of the same algorithm, trained in one
    process with the same settings (`benchmarks/maddpg_torchrl.py`): one row per record."""
    records = load_records(results, SIDE_BY_SIDE_FORMAT)
    if not records:
        return []
    lines = [
        "## Side by side with another implementation",
        "",
        "Each row trains tidyrl and the peer one after the other in one process, same settings, "
        "same env steps and updates, one torch thread (the records hold the settings, the "
        "command, the load average and the peer's versions).",
        "",
        "| env | seed | peer | variant | steps | updates | tidyrl wall s | peer wall s "
        "| env steps/s ratio | bare updates/s ratio | final eval tidyrl / peer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        (peer,) = (name for name in r["runs"] if name != "tidyrl")
        ours, theirs, ratio = r["runs"]["tidyrl"], r["runs"][peer], r["ratio_tidyrl_over_" + peer]
        variant = Path(r["_path"]).stem.partition("-")[2] or "default"
        lines.append(
            f"| {r['task']['env']} | {r['seed']} | {peer} {r['provenance']['versions'][peer]} | "
            f"{variant} | {ours['steps']:,} | {ours['updates']:,} | {ours['train_wall_s']:.1f} | "
            f"{theirs['train_wall_s']:.1f} | {ratio['env_steps_per_s']:.2f} | "
            f"{ratio['bare_updates_per_s']:.2f} | {ours['final_eval']['mean']:.1f} / "
            f"{theirs['final_eval']['mean']:.1f} |"
        )
    return [*lines, ""]


def visual_model_section(results: Path) -> list[str]:
    """Seed 000's visual environment model on MinAtar frames
    (`benchmarks/visual_model_minatar.py`): held-out one-step losses against copying the last
    frame, pixel and changed-pixel accuracy, and the reward head's accuracy."""
    lines: list[str] = []
    for record in load_records(results, VISUAL_MODEL_FORMAT):
        runs = record["runs"]
        lines += [
            "## Environment model on MinAtar frames (issue 22)",
            "",
            f"Command: `{record['command']}`; {record['env']}, uniformly random play, "
            f"{record['transitions']:,} transitions per seed (the last sixth held out), "
            f"{record['updates']:,} Adam updates of {record['batch_size']}; held-out numbers.",
            "",
            "| seed | frame loss | copy-last-frame loss | ratio | pixel acc. | copy pixel acc. "
            "| changed-pixel acc. | reward acc. | on scoring steps | on other steps "
            "| scoring share | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            *(
                f"| {r['seed']} | {r['model_loss']:.5f} | {r['copy_loss']:.5f} | "
                f"{r['model_loss'] / r['copy_loss']:.3f} | {r['pixel_accuracy']:.4f} | "
                f"{r['copy_pixel_accuracy']:.4f} | {r['changed_pixel_accuracy']:.3f} | "
                f"{r['reward_accuracy']:.4f} | {r['reward_accuracy_scoring']:.3f} | "
                f"{r['reward_accuracy_non_scoring']:.4f} | {r['scoring_share']:.3f} | "
                f"{r['seconds']:.0f} |"
                for r in runs
            ),
            "",
        ]
    return lines


def _random_for(records: list[Record], key: tuple[str, str, str]) -> float | None:
    for r in records:
        if task_key(r) == key and r.get("ceilings", {}).get("random_return") is not None:
            return float(r["ceilings"]["random_return"])
    return None


def machines(records: list[Record]) -> list[str]:
    seen = sorted({(r["provenance"]["cpu"], r["provenance"]["cores"]) for r in records})
    versions = sorted(
        {
            ", ".join(f"{k} {v}" for k, v in r["provenance"]["versions"].items() if v)
            for r in records
            if r["library"] == "tidyrl"
        }
    )
    return [f"- {cpu}, {cores} cores" for cpu, cores in seen] + [f"- {v}" for v in versions]


def write_report(results: Path, out: Path, suites: Mapping[str, Suite] | None = None) -> Path:
    """Regenerate `out` (RESULTS.md) and `out.parent/plots/*.png` from the records; the
    references quoted come from `suites` as declared now (default: the benchmarks folder's)."""
    from tidyrl import registry

    if suites is None:
        suites = all_suites()

    records = load_records(results)
    md_dir = out.parent
    plots = md_dir / "plots"
    lines = [
        "# Recorded results",
        "",
        "Generated by `tidyrl bench report` from the JSON records under `benchmarks/results/` "
        "(one per run, each with its git commit, package versions, CPU model and core count). "
        "Do not edit by hand: rerun a suite with `tidyrl bench run SUITE` and regenerate. How to "
        "run and read these: [docs/benchmarks.md](../docs/benchmarks.md).",
        "",
        "Columns: *final eval* is the greedy evaluation at the end of training, mean ± std over "
        "the task's eval episodes, one entry per seed; *solved* counts seeds whose periodic eval "
        "reached the threshold within the budget; *to threshold* is the median env steps and "
        "training seconds to the first such eval; *wall s* is the training loop only "
        "(evaluation and checkpoint time excluded, for peers too), median over seeds; *RSS* is "
        "the largest peak resident memory of a run's process.",
        "",
        "Measured on:",
        *machines(records),
        "",
    ]
    lines += iqm_section(records, plots, md_dir)
    lines += whole_process_section(results)
    lines += distributed_section(results)
    lines += visual_model_section(results)
    lines += side_by_side_section(results)
    by_family: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        by_family[r["family"]][r["suite"]].append(r)
    order = [f for f in FAMILIES if f in by_family] + sorted(set(by_family) - set(FAMILIES))
    for family in order:
        lines += [f"## {FAMILIES.get(family, family)}", ""]
        for suite in sorted(by_family[family]):
            records_of = by_family[family][suite]
            lines += suite_section(suite, records_of, plots, md_dir, suites.get(suite))
    benchmarked = {r["task"]["algo"] for r in records if r["library"] == "tidyrl"}
    missing = [name for name in registry.names() if name not in benchmarked]
    if missing:
        lines += [
            "## Not yet benchmarked",
            "",
            "Registered algorithms with no recorded run: " + ", ".join(f"`{m}`" for m in missing),
            "",
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines).rstrip() + "\n")
    return out

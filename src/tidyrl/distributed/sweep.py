"""Hyper-parameter sweeps on Ray Tune: ``tidyrl sweep ALGO ENV --param NAME=DIST ...``.

A sweep draws configurations of one algorithm (fields of its config dataclass) from the
distributions named on the command line, trains each for ``--seeds`` seeds and ranks them by a
metric, by default the mean over seeds of the final evaluation return.

- **Search**: Optuna's TPE sampler (Bergstra et al., 2011, "Algorithms for Hyper-Parameter
  Optimization") through Ray Tune's `OptunaSearch`, seeded: random draws for the first third of
  the trials (at least 3), then draws from TPE's model of the results so far. ``--search random``
  draws every trial at random (Tune's `BasicVariantGenerator`, seeded).
- **Early stopping**: ASHA (Li et al., 2020, "A System for Massively Parallel Hyperparameter
  Tuning"), Tune's `ASHAScheduler` on environment steps: at the rungs ``grace * eta**k`` steps a
  trial goes on only while its seed-mean metric lies in the top ``1/eta`` of the trials that
  reached the same rung.
- **Trials are ordinary runs**: a trial trains its seeds side by side, each in a Ray actor with
  one CPU (the trial's placement group holds them), each writing an ordinary run directory
  (config.json, metrics.csv, checkpoint/) under ``OUT/trials/TRIAL/seedN``. Every evaluation
  row reaches the trial through `Agent.observe_rows`; when every seed has logged its k-th, the
  trial reports their mean to Tune, which is what ASHA compares.
- **Resumable**: Tune keeps the experiment (searcher and scheduler included) in ``OUT/tune``;
  the same command with the same ``--out`` restores it: finished trials stay as they were,
  interrupted ones continue from their runs' checkpoints exactly as ``tidyrl resume`` would.
- **Reproducible per seed**: the searcher is seeded with ``--seed``, so the same command proposes
  the same configurations (in the order trials start; with several trials at once TPE's later
  proposals also depend on the order in which results arrive), and run k of every trial uses
  seed ``--seed + k``.

Ray is imported inside the functions that run on it: the parser and the checks below run without
it, and importing this module never imports Ray.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import re
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidyrl.errors import ConfigError, RunError, TidyError, unknown

DISTRIBUTIONS = {
    "uniform": "uniform(LOW,HIGH): a float drawn uniformly from [LOW, HIGH)",
    "loguniform": "loguniform(LOW,HIGH): a float whose log is uniform, 0 < LOW < HIGH",
    "randint": "randint(LOW,HIGH): an integer from LOW to HIGH, both included",
    "lograndint": "lograndint(LOW,HIGH): an integer whose log is uniform, 1 <= LOW < HIGH",
    "choice": "choice(A,B,...): one of the values listed (numbers, true/false, words, [lists])",
}
"""The distributions `--param NAME=DIST` takes, with their syntax."""
NUMERIC = ("uniform", "loguniform", "randint", "lograndint")
INTEGER = ("randint", "lograndint")
SEARCHES = ("optuna", "random")
MODES = ("max", "min")
SPEC_FILE = "sweep.json"
TABLE_FILE = "results.csv"
ERROR_FILE = "error.txt"
"""In a failed trial's directory: the error of the run that failed (a traceback where the
error was not a tidyrl one)."""
PLOT_FILE = "results.png"


@dataclass(frozen=True)
class Param:
    """One swept config field: ``lr=loguniform(1e-5,1e-3)`` is Param("lr", "loguniform",
    (1e-5, 1e-3))."""

    name: str
    dist: str
    args: tuple[Any, ...]

    @property
    def text(self) -> str:
        """The command-line form, e.g. ``lr=loguniform(1e-05,0.001)``."""
        return f"{self.name}={self.dist}({','.join(json.dumps(a) for a in self.args)})"

    def probes(self) -> list[Any]:
        """Values a config check tries: both ends of a range, every value of a choice."""
        return list(self.args)

    def tune_domain(self) -> Any:
        """The Ray Tune search-space object for this distribution."""
        from ray import tune

        low, high = (self.args + (None, None))[:2]
        if self.dist == "uniform":
            return tune.uniform(low, high)
        if self.dist == "loguniform":
            return tune.loguniform(low, high)
        if self.dist == "randint":  # Tune's upper bound is exclusive, ours inclusive
            return tune.randint(low, high + 1)
        if self.dist == "lograndint":
            return tune.lograndint(low, high + 1)
        return tune.choice(list(self.args))


_PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", re.S)
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)$", re.S)


def _split_args(text: str) -> list[str]:
    """Split ``a, [1,2], "x,y"`` on the commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    parts.append(current.strip())
    return parts


def _value(text: str) -> Any:
    """A choice's value: JSON where it parses (numbers, true/false, null, lists, "quoted"), the
    bare word otherwise (``tanh``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip("'")


def parse_param(text: str) -> Param:
    """Parse ``NAME=DIST`` strictly; a `ConfigError` names what is wrong and the valid forms."""
    forms = "DIST is one of: " + "; ".join(DISTRIBUTIONS.values())
    match = _PARAM.match(text)
    if match is None:
        what = f"--param expects NAME=DIST, e.g. lr=loguniform(1e-5,1e-3), got {text!r}"
        raise ConfigError(f"{what}. {forms}")
    name, dist_text = match.groups()
    call = _CALL.match(dist_text)
    if call is None:
        what = f"{dist_text!r} is not a distribution (fixed values go in --set)"
        raise ConfigError(f"--param {text!r}: {what}; {forms}")
    dist, inner = call.groups()
    if dist not in DISTRIBUTIONS:
        raise ConfigError(f"--param {text!r}: " + unknown("distribution", dist, DISTRIBUTIONS))
    raw = _split_args(inner)
    if raw == [""]:
        raw = []
    if any(item == "" for item in raw):
        raise ConfigError(f"--param {text!r}: an empty value between commas")
    if dist == "choice":
        if len(raw) < 2:
            raise ConfigError(
                f"--param {text!r}: choice needs at least two values (a single value is a fixed "
                "setting: --set NAME=VALUE)"
            )
        values = tuple(_value(item) for item in raw)
        if len({json.dumps(v) for v in values}) < len(values):
            raise ConfigError(f"--param {text!r}: choice lists a value twice")
        return Param(name, dist, values)
    if len(raw) != 2:
        raise ConfigError(
            f"--param {text!r}: {dist} takes two numbers, got {len(raw)}: {DISTRIBUTIONS[dist]}"
        )
    numbers: list[float | int] = []
    for item in raw:
        try:
            number = float(item)
        except ValueError:
            raise ConfigError(
                f"--param {text!r}: {item!r} is not a number; {DISTRIBUTIONS[dist]}"
            ) from None
        if not math.isfinite(number):
            raise ConfigError(f"--param {text!r}: {item!r} is not a finite number")
        if dist in INTEGER:
            if not number.is_integer():
                raise ConfigError(
                    f"--param {text!r}: {dist} takes integers, got {item!r}; {DISTRIBUTIONS[dist]}"
                )
            numbers.append(int(number))
        else:
            numbers.append(number)
    low, high = numbers
    if not low < high:
        raise ConfigError(f"--param {text!r}: LOW must be below HIGH; {DISTRIBUTIONS[dist]}")
    if dist == "loguniform" and low <= 0:
        raise ConfigError(f"--param {text!r}: LOW must be above 0; {DISTRIBUTIONS[dist]}")
    if dist == "lograndint" and low < 1:
        raise ConfigError(f"--param {text!r}: LOW must be at least 1; {DISTRIBUTIONS[dist]}")
    return Param(name, dist, (low, high))


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep; ``OUT/sweep.json`` holds it, so that a rerun with the
    same --out is known to be the same sweep (and resumes it)."""

    algo: str
    env: str
    params: tuple[Param, ...]
    trials: int
    seeds: int = 1
    steps: int = 0
    """Environment steps of every run (0: the algorithm's default)."""
    metric: str = "eval_return"
    mode: str = "max"
    seed: int = 0
    search: str = "optuna"
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    """Fixed values (--set) given to every run, beside the swept ones."""
    grace: int = 0
    """Steps before ASHA's first rung (0: steps / eta**2, at least one evaluation's worth)."""
    eta: int = 3
    """ASHA's reduction factor: 1/eta of the trials at a rung go on to the next."""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["params"] = [p.text for p in self.params]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSpec:
        values = dict(data)
        values["params"] = tuple(parse_param(p) for p in data["params"])
        return cls(**values)

    def digest(self) -> str:
        """Eight hex digits naming this sweep (its default --out)."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def eval_every(self) -> int:
        """Evaluations ASHA compares: every tenth of the run unless --set eval_every says."""
        return int(self.overrides.get("eval_every", max(1, self.steps // 10)))

    @property
    def first_rung(self) -> int:
        return self.grace or max(self.eval_every, self.steps // self.eta**2)

    def run_overrides(self, config: dict[str, Any], seed: int) -> dict[str, Any]:
        """The `tidyrl.make` keywords of one run: fixed values, then the trial's own."""
        values: dict[str, Any] = {"eval_every": self.eval_every, "torch_threads": 1}
        values.update(self.overrides)
        values.update({p.name: config[p.name] for p in self.params})
        values["progress"] = False
        return values


def check(spec: SweepSpec) -> SweepSpec:
    """Validate a sweep before Ray starts: counts in range, every swept name a field of the
    algorithm's config, each distribution's ends (every value of a choice) accepted by the
    config's own checks. Returns the spec with its default step count filled in."""
    from tidyrl import registry
    from tidyrl.api import resolve_config
    from tidyrl.config import RunConfig

    cls, fixed = registry.lookup(spec.algo)
    for name, value, low in (("--trials", spec.trials, 1), ("--seeds", spec.seeds, 1)):
        if value < low:
            raise TidyError(f"{name} must be at least {low}, got {value}")
    if spec.steps < 0 or (spec.steps == 0 and cls.default_steps < 1):
        raise TidyError(f"--steps must be at least 1, got {spec.steps}")
    if spec.steps == 0:
        spec = dataclasses.replace(spec, steps=cls.default_steps)
    if spec.mode not in MODES:
        raise TidyError(unknown("--mode", spec.mode, MODES))
    if spec.search not in SEARCHES:
        raise TidyError(unknown("--search", spec.search, SEARCHES))
    if spec.eta < 2:
        raise TidyError(f"--reduction-factor must be at least 2, got {spec.eta}")
    if not 0 <= spec.grace <= spec.steps:
        raise TidyError(f"--grace must lie between 1 and --steps ({spec.steps}), got {spec.grace}")
    if not spec.params:
        raise TidyError("give at least one --param NAME=DIST to sweep")
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    seen: set[str] = set()
    for param in spec.params:
        if param.name in seen:
            raise ConfigError(f"--param {param.name} is given twice")
        seen.add(param.name)
        if param.name in spec.overrides:
            raise ConfigError(f"{param.name} is both swept (--param) and fixed (--set); choose one")
        if param.name in fixed:
            raise ConfigError(
                f"{spec.algo} fixes {param.name}={fixed[param.name]!r}; not sweepable"
            )
        if param.name not in fields:
            what = " (a run setting, not the algorithm's)" if param.name in run_fields else ""
            sweepable = [n for n in fields if n not in fixed]
            raise ConfigError(
                f"--param {param.text}{what}: "
                + unknown(f"config field of {spec.algo}", param.name, sweepable)
            )
        hint = str(fields[param.name].type)
        if param.dist in NUMERIC and hint not in ("int", "float"):
            raise ConfigError(
                f"--param {param.text}: {param.name} is {hint}, not a number; use choice(...)"
            )
        if hint == "int" and param.dist in ("uniform", "loguniform"):
            raise ConfigError(
                f"--param {param.text}: {param.name} is an integer; use randint, lograndint or "
                "choice"
            )
        for value in param.probes():
            values = {**spec.overrides, param.name: value, "seed": spec.seed}
            try:
                resolve_config(spec.algo, spec.preset, values, spec.env)
            except ConfigError as exc:
                raise ConfigError(
                    f"--param {param.text}: at {param.name}={value!r}: {exc}"
                ) from exc
    resolve_config(spec.algo, spec.preset, {**spec.overrides, "seed": spec.seed}, spec.env)
    return spec


def claim(out: Path, spec: SweepSpec) -> bool:
    """Write ``OUT/sweep.json``, or check that the one there is this sweep's. True when `out`
    already held it (the sweep resumes)."""
    path = out / SPEC_FILE
    if path.is_file():
        try:
            earlier = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise TidyError(f"'{path}' is not a sweep description; choose another --out") from None
        now = json.loads(json.dumps(spec.to_json()))
        if earlier != now:
            differ = sorted(k for k in {*earlier, *now} if earlier.get(k) != now.get(k))
            raise TidyError(
                f"'{out}' holds another sweep (it differs in {', '.join(differ)}); rerun its own "
                "command to resume it, or choose another --out"
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise TidyError(f"'{out}' is not empty and holds no {SPEC_FILE}; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    except OSError as exc:
        raise TidyError(f"cannot write '{path}': {exc.strerror}; choose another --out") from exc
    return False


# -- the runs of one trial -----------------------------------------------------------------------
class SeedRun:
    """One seed of one trial, run in its own Ray actor: an ordinary run directory trained in a
    background thread, whose rows holding the metric the trial collects with `poll`. A run
    directory that already holds a checkpoint (an interrupted sweep) is resumed exactly."""

    def __init__(
        self, spec: dict[str, Any], config: dict[str, Any], seed: int, run_dir: str
    ) -> None:
        self.spec = SweepSpec.from_json(spec)
        self.rows: list[tuple[int, float]] = []
        self.done = False
        self.error: str | None = None
        self.columns: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._train, args=(config, seed, Path(run_dir)), daemon=True
        )
        self._thread.start()

    def _train(self, config: dict[str, Any], seed: int, run_dir: Path) -> None:
        from tidyrl.api import load, make
        from tidyrl.logging import read_metrics

        spec, agent = self.spec, None
        try:
            if (run_dir / "checkpoint").is_dir() or (run_dir / ".checkpoint.old").is_dir():
                agent = load(run_dir, resume=True, run_dir=str(run_dir), progress=False)
                done = agent.counters["steps"]
                for row in read_metrics(run_dir):
                    if row.get("step", math.inf) <= done:
                        self._observe(row)
            else:
                overrides = spec.run_overrides(config, seed)
                agent = make(
                    spec.algo, spec.env, seed=seed, preset=spec.preset, run_dir=run_dir, **overrides
                )
            agent.observe_rows(self._observe)
            remaining = spec.steps - agent.counters["steps"]
            if remaining > 0:
                agent.learn(remaining)
            if not self.rows:
                self.error = (
                    f"the runs never logged metric '{spec.metric}'; they log: "
                    + ", ".join(sorted(self.columns))
                )
        except _Stopped:
            pass
        except TidyError as exc:
            self.error = f"seed {seed}: {exc}"
        except Exception:
            self.error = f"seed {seed}: {traceback.format_exc()}"
        finally:
            if agent is not None:
                agent.close()
            self.done = True

    def _observe(self, row: dict[str, Any]) -> None:
        if self._stop.is_set():
            raise _Stopped
        self.columns.update(row)
        if self.spec.metric in row:
            self.rows.append((int(row["step"]), float(row[self.spec.metric])))

    def poll(self, since: int) -> tuple[list[tuple[int, float]], bool, str | None]:
        """(rows after the first `since`, finished, error message or None)."""
        done = self.done  # read first: rows appended before `done` was set are all returned
        return self.rows[since:], done, self.error

    def stop(self) -> None:
        """End the run at its next row, its last periodic checkpoint kept: an interruption
        between two checkpoints, as a test makes one. (A trial that ends early kills its runs'
        actors instead, which ends them at once.)"""
        self._stop.set()


class _Stopped(Exception):
    """Raised from a row observer to end a run its trial no longer needs."""


def seed_means(
    polls: Any, metric: str, n_seeds: int, interval: float = 0.5
) -> Iterator[dict[str, float]]:
    """Merge the seeds' metric rows: each time every seed has logged its k-th, yield their mean
    (the value ASHA compares), spread and step. `polls(since)` returns each seed's
    ``(new rows, finished, error)``; a seed's error ends the trial with it."""
    seen: list[list[tuple[int, float]]] = [[] for _ in range(n_seeds)]
    reported = 0
    while True:
        results = polls([len(s) for s in seen])
        for rows, (new, _, _) in zip(seen, results):
            rows.extend(new)
        errors = [error for _, _, error in results if error]
        if errors:
            raise RunError(errors[0])
        while all(len(rows) > reported for rows in seen):
            points = [rows[reported] for rows in seen]
            values = [value for _, value in points]
            mean = sum(values) / len(values)
            yield {
                "step": max(step for step, _ in points),
                metric: mean,
                f"{metric}_std": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)),
                f"{metric}_min": min(values),
            }
            reported += 1
        if all(finished for _, finished, _ in results):
            return
        time.sleep(interval)


def run_trial(config: dict[str, Any], spec: dict[str, Any], out: str) -> None:
    """Tune's function trainable: start the trial's seeds as Ray actors and report the
    seed-mean of the metric at every evaluation."""
    import ray
    from ray import tune

    sweep = SweepSpec.from_json(spec)
    trial_dir = Path(out) / "trials" / tune.get_context().get_trial_id()
    actor: Any = ray.remote(num_cpus=1)(SeedRun)
    seeds = [sweep.seed + k for k in range(sweep.seeds)]
    actors = [actor.remote(spec, config, s, str(trial_dir / f"seed{s}")) for s in seeds]

    def polls(since: list[int]) -> list[Any]:
        return list(ray.get([a.poll.remote(n) for a, n in zip(actors, since)]))

    try:
        for result in seed_means(polls, sweep.metric, len(actors)):
            tune.report(result)
    except RunError as exc:  # a run failed: its message where the sweep's progress line finds it
        trial_dir.mkdir(parents=True, exist_ok=True)
        (trial_dir / ERROR_FILE).write_text(f"{exc}\n")
        raise
    finally:  # a trial ASHA stopped ends here too: its runs stop at their last checkpoint
        for a in actors:
            ray.kill(a)


# -- the sweep -----------------------------------------------------------------------------------
def startup_trials(trials: int) -> int:
    """Random draws before TPE models the results: a third of the budget, at least 3."""
    return max(3, trials // 3)


def searcher(spec: SweepSpec) -> Any:
    """The seeded search algorithm of `spec` (metric and mode come from Tune's config)."""
    if spec.search == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=spec.seed)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    sampler = optuna.samplers.TPESampler(
        seed=spec.seed, n_startup_trials=startup_trials(spec.trials)
    )
    return OptunaSearch(sampler=sampler)


def search_space(spec: SweepSpec) -> dict[str, Any]:
    return {p.name: p.tune_domain() for p in spec.params}


def run_sweep(
    spec: SweepSpec,
    out: Path,
    ray_address: str | None = None,
    cpus: int | None = None,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Run (or resume) the sweep into `out`; return its results table, best first."""
    import logging
    import os

    # Tune's console output off (verbose=0 silences only its older engine): `_progress` prints
    # one line per trial, and a failed trial's one-line error instead of Tune's traceback
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    for name in ("ray.tune.execution.tune_controller", "ray.tune.tune"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from tidyrl.distributed.cluster import connect

    out = out.resolve()
    resumed = claim(out, spec)
    connect(ray_address, num_cpus=cpus)  # a Ray of the sweep's own unless an address is given
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, spec=spec.to_json(), out=str(out)),
        # an empty head bundle: the trial's own process only waits on its seeds' actors
        tune.PlacementGroupFactory([{"CPU": 0.0}] + [{"CPU": 1.0}] * spec.seeds),
    )
    experiment = out / "tune"
    if resumed and tune.Tuner.can_restore(experiment):
        tuner = tune.Tuner.restore(str(experiment), trainable, resume_unfinished=True)
    else:
        scheduler = ASHAScheduler(
            time_attr="step",
            max_t=spec.steps,
            grace_period=spec.first_rung,
            reduction_factor=spec.eta,
        )
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(spec),
            tune_config=tune.TuneConfig(
                metric=spec.metric,
                mode=spec.mode,
                num_samples=spec.trials,
                search_alg=searcher(spec),
                scheduler=scheduler,
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(out),
                verbose=0,
                callbacks=[_progress(spec, out, quiet)],
            ),
        )
    grid = tuner.fit()
    # Tune's Trial objects: the ResultGrid's results do not say how a trial ended
    trials = grid._experiment_analysis.trials
    results = []
    for t in trials:
        reached = int((t.last_result or {}).get("step", 0))
        curve = curve_mean(out / "trials" / t.trial_id, spec.metric, reached)
        results.append((t.trial_id, t.config, t.last_result or {}, t.status, curve))
    rows = results_table(spec, results)
    write_table(rows, out / TABLE_FILE)
    plot_sweep(spec, out, rows, out / PLOT_FILE)
    return rows


def _progress(spec: SweepSpec, out: Path, quiet: bool) -> Any:
    """A Tune callback printing one line per finished trial (Tune's own output is off)."""
    from ray.tune import Callback

    class Progress(Callback):
        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **_: Any
        ) -> None:
            self._line(trial, "")

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **_: Any) -> None:
            path = out / "trials" / trial.trial_id / ERROR_FILE
            error = path.read_text() if path.is_file() else trial.get_error()
            self._line(trial, f"failed: {error_line(error)}")

        def _line(self, trial: Any, status: str) -> None:
            if quiet:
                return
            result = trial.last_result or {}
            values = " ".join(f"{p.name}={_fmt(trial.config.get(p.name))}" for p in spec.params)
            if spec.metric in result:
                done = result["step"] >= spec.steps
                status = status or ("complete" if done else "stopped by ASHA")
                score = f"{spec.metric} {_fmt(result[spec.metric])} at step {result['step']:,}"
            else:
                score = "no result"
            print(f"trial {trial.trial_id} {values}: {score} ({status})", flush=True)

    return Progress()


def error_line(error: Any) -> str:
    """The last line of a trial's error (Ray wraps it in its traceback): for a tidyrl error,
    its one-line message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = lines[-1] if lines else type(error).__name__
    return re.sub(r"^tidyrl\.errors\.\w+: ", "", last)


def results_table(
    spec: SweepSpec,
    results: Sequence[tuple[str, dict[str, Any], dict[str, Any], str, float | None]],
) -> list[dict[str, Any]]:
    """One row per trial (its swept values, the seed-mean metric it last reported, its spread,
    its `curve_mean`, the step it reached, how it ended, its directory): complete trials first,
    ranked by the metric, then those ASHA stopped (ranked by the metric at the step they
    reached: an earlier, noisier measurement), then unfinished (an interrupted sweep) and failed
    ones; equal metrics (a return cap) are ranked by the curve mean. `results` holds each
    trial's (id, config, last result, Tune's status, curve mean)."""
    order = ("complete", "stopped by ASHA", "unfinished", "failed")
    sign = 1 if spec.mode == "max" else -1
    keyed = []
    for trial, config, metrics, tune_status, curve in results:
        step = int(metrics.get("step", 0))
        value = metrics.get(spec.metric)
        if tune_status == "ERROR":
            status = "failed"
        elif tune_status != "TERMINATED" or value is None:
            status = "unfinished"
        else:
            status = "complete" if step >= spec.steps else "stopped by ASHA"
        row: dict[str, Any] = {"trial": trial}
        row.update({p.name: config.get(p.name) for p in spec.params})
        row[spec.metric] = value
        row[f"{spec.metric}_std"] = metrics.get(f"{spec.metric}_std")
        row["curve_mean"] = curve
        row["step"] = step
        row["status"] = status
        row["dir"] = f"trials/{trial}"
        score = -sign * value if value is not None else 0.0
        area = -sign * curve if curve is not None else 0.0
        keyed.append(((order.index(status), score, area, trial), row))
    keyed.sort(key=lambda item: item[0])
    return [{"rank": rank, **row} for rank, (_, row) in enumerate(keyed, 1)]


def curve_mean(trial_dir: Path, metric: str, until: int) -> float | None:
    """The mean, over a trial's evaluations up to step `until` (what it reported), of the
    seed-mean metric: the area under its learning curve over the steps it evaluated, which
    tells trials that end equal (at a return cap) by how early they got there."""
    from tidyrl.logging import read_metrics

    curves = [
        [row[metric] for row in read_metrics(run_dir) if metric in row and row["step"] <= until]
        for run_dir in sorted(trial_dir.glob("seed*"))
        if (run_dir / "metrics.csv").is_file()
    ]
    n = min((len(c) for c in curves), default=0)
    if n == 0:
        return None
    return sum(sum(c[:n]) for c in curves) / (n * len(curves))


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["rank"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results table as Markdown (what `tidyrl sweep` prints)."""
    if not rows:
        return "(no trials)"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def plot_sweep(spec: SweepSpec, out: Path, rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Learning curves of the best trials (up to 8; each the mean of its seeds), labelled by
    their swept values."""
    from tidyrl.plotting import plot_runs

    run_dirs = [
        d
        for row in rows[:8]
        if row["status"] != "failed"
        for d in sorted((out / row["dir"]).glob("seed*"))
        if (d / "metrics.csv").is_file()
    ]
    if not run_dirs:
        return None

    def label(config: dict[str, Any]) -> str:
        values = config.get("config", {})
        return " ".join(f"{p.name}={_fmt(values.get(p.name))}" for p in spec.params)

    title = f"{spec.algo} on {spec.env}: sweep of {', '.join(p.name for p in spec.params)}"
    return plot_runs(list(run_dirs), path, metric=spec.metric, title=title, label=label)

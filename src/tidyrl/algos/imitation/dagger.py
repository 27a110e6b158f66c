"""DAgger: dataset aggregation, imitation learning that asks the expert about the learner's states.

Ross, Gordon & Bagnell (2011), "A reduction of imitation learning and structured prediction to
no-regret online learning", Algorithm 3.1; lecture seed 003 ("Distributional Shift ... Okay
let's collect more data"). Behaviour cloning trains only on states the expert visits, so the
learner's mistakes take it where it was never taught. DAgger collects states where the *learner*
goes and has the expert label them:

    D <- {}                                                     (the aggregated dataset)
    for i = 0, 1, 2, ...:
        pi_i = beta_i pi* + (1 - beta_i) pi_hat_i               (per step: expert with prob beta_i)
        run pi_i for `steps_per_iteration` steps; label every visited s with a* = pi*(s)
        D <- D u {(s, pi*(s))}
        pi_hat_{i+1} <- train on D with the behaviour-cloning loss

    beta_i = p^i                     beta_schedule = "exponential" (the paper's choice)
    beta_i = max(0, 1 - i / K)       beta_schedule = "linear"

beta_0 = 1, so the first iteration is the expert's own data (behaviour cloning); p = 0 gives the
paper's "beta_i = I(i = 1)" variant. The learner's policy loss is the behaviour-cloning loss of
`tidyrl.core.losses.behaviour_cloning_loss` (log-likelihood or MSE), one gradient step of it
being `tidyrl.algos.imitation.common.cloning_update`, as in `bc`. The learner acts
with its mode inside the mixture, the classifier the paper rolls out. pi_hat_{i+1} continues from
pi_hat_i (warm start) with `updates_per_iteration` gradient steps on minibatches of D.

One `learn` step is one environment step, and every environment step costs one expert label, so
`steps` in metrics.csv counts expert labels: DAgger and BC compare at equal labels when DAgger's
steps equal the number of demonstrated steps BC trains on.

The expert is a trained tidyrl agent (``expert=RUN_DIR``, acting with its mode) or, from Python,
any callable mapping a batch of observations to a batch of env actions (`use_expert`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.imitation.common import build_cloner, cloning_update
from tidyrl.algos.policy_gradient.common import OBSERVATION_SPACES, act
from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.core.losses import BC_LOSSES
from tidyrl.data.demos import DemoBatch, Policy, agent_policy, load_expert
from tidyrl.data.storage import RingStorage
from tidyrl.envs.make import space_to_dict
from tidyrl.envs.spaces import columns, rows
from tidyrl.errors import ConfigError, EnvError

BETA_SCHEDULES = ("exponential", "linear")


@dataclass(frozen=True)
class DAggerConfig:
    expert: str = ""
    """Run directory or saved agent that labels states (or call `use_expert(fn)` from Python)."""
    steps_per_iteration: int = 500
    """Environment steps (expert labels) collected with the mixture policy per iteration."""
    updates_per_iteration: int = 1000
    """Gradient steps on the aggregated dataset after each iteration."""
    beta_schedule: str = "exponential"
    """exponential (beta_i = beta_p^i) or linear (beta_i = max(0, 1 - i / beta_iterations))."""
    beta_p: float = 0.5
    """p of the exponential schedule (0: expert only in the first iteration)."""
    beta_iterations: int = 5
    """Iterations over which the linear schedule decays beta from 1 to 0."""
    loss: str = "log-likelihood"
    """log-likelihood (categorical or Gaussian NLL), or mse (Box actions: squared error of the
    Gaussian mean)."""
    batch_size: int = 64
    """Labelled pairs per gradient step."""
    lr: float = 1e-3
    """Adam learning rate."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the policy network."""
    activation: str = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""
    dataset_capacity: int = 100_000
    """Labelled pairs the aggregated dataset holds; beyond it the oldest are overwritten."""

    def __post_init__(self) -> None:
        check_range(self, "steps_per_iteration", 1)
        check_range(self, "updates_per_iteration", 0)
        check_choice(self, "beta_schedule", BETA_SCHEDULES)
        check_range(self, "beta_p", 0.0, 1.0)
        check_range(self, "beta_iterations", 1)
        check_choice(self, "loss", BC_LOSSES)
        check_range(self, "batch_size", 1)
        check_range(self, "lr", 0.0, low_open=True)
        check_hidden(self)
        check_range(self, "dataset_capacity", 1)


def mixture_beta(iteration: int, schedule: str, p: float, iterations: int) -> float:
    """beta_i, the probability that step i's mixture policy acts as the expert."""
    if schedule == "exponential":
        return float(p**iteration)
    return max(0.0, 1.0 - iteration / iterations)


class DAgger(Agent):
    Config = DAggerConfig
    algo_id = "dagger"
    observation_spaces = OBSERVATION_SPACES
    default_torch_threads = 1
    default_steps = 5_000
    """Environment steps, i.e. expert labels."""

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy, self.optimizer = build_cloner(self)
        if isinstance(self.action_space, gym.spaces.Box):
            action_spec: tuple[tuple[int, ...], Any] = (self.action_space.shape, np.float32)
        else:
            action_spec = ((), np.int64)
        self.dataset = RingStorage(
            cfg.dataset_capacity, {**self._obs_columns(), "actions": action_spec}
        )
        self._dataset_names = {
            column: "dataset_" + column.replace(".", "_") for column in self.dataset.columns
        }
        """Each dataset column's registered attribute: dataset_obs (dataset_obs_KEY per key of
        a Dict observation) and dataset_actions."""
        for column, name in self._dataset_names.items():
            setattr(self, name, self.dataset.columns[column])
        self.counters["iterations"] = 0
        self._expert: Policy | None = None
        self.register_state("policy", "optimizer", *self._dataset_names.values())

    def _obs_columns(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """The dataset's observation columns: "obs", or "obs.KEY" per key of a Dict in its own
        dtype; uint8 frames stay uint8 (a quarter of float32's memory; the CNN scales them)."""
        space = self.observation_space
        if self.io.structured:
            return {f"obs.{key}": spec for key, spec in columns(space).items()}
        dtype = np.uint8 if space.dtype == np.uint8 else np.float32
        return {"obs": (tuple(space.shape or ()), dtype)}

    def use_expert(self, expert: Policy | str | Path) -> None:
        """Label states with `expert`: a run directory / saved agent, or a callable mapping a
        batch of observations to a batch of env actions."""
        if callable(expert):
            self._expert = expert
            return
        agent = load_expert(expert)
        for role, mine, theirs in (
            ("observation", self.observation_space, agent.observation_space),
            ("action", self.action_space, agent.action_space),
        ):
            if space_to_dict(mine) != space_to_dict(theirs):
                raise EnvError(
                    f"dagger: the expert '{expert}' was trained with {role} space {theirs}, "
                    f"but environment '{self.env_cfg.id}' has {mine}"
                )
        self._expert = agent_policy(agent, deterministic=True)

    @property
    def expert(self) -> Policy:
        if self._expert is None:
            if not self.config.expert:
                raise ConfigError(
                    "dagger needs an expert: --set expert=RUN_DIR (a trained tidyrl agent), "
                    "or agent.use_expert(fn) from Python"
                )
            self.use_expert(self.config.expert)
        assert self._expert is not None
        return self._expert

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return act(self.policy, self.io, obs, deterministic)

    def update(self, batch: DemoBatch) -> dict[str, torch.Tensor]:
        """One gradient step of `behaviour_cloning_loss` on a minibatch of D."""
        return cloning_update(self.policy, self.io, self.optimizer, batch, self.config.loss)

    def sample(self, batch_size: int, rng: np.random.Generator) -> DemoBatch:
        """A uniform minibatch of the aggregated dataset D."""
        picked = self.dataset.get(self.dataset.sample_uniform(batch_size, rng))
        obs = (
            {key: torch.from_numpy(picked[f"obs.{key}"]) for key in columns(self.observation_space)}
            if self.io.structured
            else torch.from_numpy(picked["obs"])
        )
        return DemoBatch(obs, torch.from_numpy(picked["actions"]))

    def learn(self, total_steps: int) -> DAgger:
        cfg, expert = self.config, self.expert
        metrics: dict[str, Any] = {}
        with self.training(total_steps):
            while not self.finished:
                beta = mixture_beta(
                    self.counters["iterations"], cfg.beta_schedule, cfg.beta_p, cfg.beta_iterations
                )
                for _ in range(cfg.steps_per_iteration):
                    obs = self.env.obs
                    labels = np.asarray(expert(obs))
                    mine = self.act(obs, deterministic=True)
                    from_expert = self.rng.random(rows(obs)) < beta
                    chosen = from_expert.reshape(-1, *([1] * (labels.ndim - 1)))
                    self.dataset.add(**self._obs_rows(obs), actions=labels)
                    self.tick(self.env.step(np.where(chosen, labels, mine)), metrics)
                    if self.finished:
                        break
                for _ in range(cfg.updates_per_iteration):
                    metrics = self.update(self.sample(cfg.batch_size, self.rng))
                    self.counters["updates"] += 1
                self.counters["iterations"] += 1
                metrics = {**metrics, "beta": beta, "dataset_size": len(self.dataset)}
                self.tick(None, metrics, n_steps=0)  # no step: the next row reports this phase
        return self

    def _obs_rows(self, obs: Any) -> dict[str, np.ndarray]:
        """A batch of observations as the dataset's observation columns."""
        if self.io.structured:
            return {f"obs.{key}": value for key, value in obs.items()}
        return {"obs": obs}

    def extra_state(self) -> dict[str, Any]:
        return {"dataset_cursor": self.dataset.cursor, "dataset_size": self.dataset.size}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        # the registered arrays were replaced by the checkpoint's: the storage reads those
        for column, name in self._dataset_names.items():
            self.dataset.columns[column] = getattr(self, name)
        self.dataset.cursor = int(state.get("dataset_cursor", 0))
        self.dataset.size = int(state.get("dataset_size", 0))

    def update_probe(self) -> Callable[[], object] | None:
        if len(self.dataset) == 0:
            return None
        batch = self.sample(self.config.batch_size, np.random.default_rng(0))
        return lambda: self.update(batch)

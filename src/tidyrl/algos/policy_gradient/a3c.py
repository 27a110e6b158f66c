"""Asynchronous advantage actor-critic (A3C).

Mnih et al. (2016), "Asynchronous methods for deep reinforcement learning", algorithm S3; lecture
seed 003 ("A3C" pseudo-code). `n_workers` processes each own an environment and a local copy of
the network. Repeatedly, a worker

    1. copies the shared parameters theta, theta_v (and the shared statistics of the
       observations and discounted returns, `Stats`) into its local copy,
    2. acts for up to t_max steps (or to the episode's end),
    3. computes R_i = r_i + gamma R_{i+1}, starting from R = 0 after a terminal state, V(s_t)
       after a cut (the segment's end, or a time limit: V of the final observation),
    4. accumulates d theta = sum_i grad log pi(a_i|s_i) (R_i - V(s_i)) + c_e grad H and
       d theta_v = sum_i grad (R_i - V(s_i))^2,
    5. applies them to the *shared* parameters with a shared optimizer, without locks (Hogwild),
       and merges the running statistics of the observations and returns it saw into the
       shared ones.

(Episodes do not end a segment early here: a segment always has t_max steps and the returns stop
at episode ends inside it, which is the same estimator with fewer, larger updates.) The shared
optimizer is Adam whose moment estimates live in shared memory, the paper's "shared statistics"
variant. A segment normalizes every observation (`normalize_obs`) and scales every reward by the
std of the running discounted return (`normalize_reward`, its worker's own return accumulator)
with the statistics it copied in step 1, so its loss sees one fixed scale; the merge in step 5
is unlocked too (two workers merging at once can lose one segment's counts, never make a
variance negative). Process management is `tidyrl.loops.async_workers`; this file is the
worker's story.

Runs are not bit-reproducible: the interleaving of asynchronous updates depends on the OS
scheduler, as in the paper. Everything else behaves as for every agent: the main process counts
steps, logs, evaluates and checkpoints the shared network; a loaded agent acts identically.

With Ray workers (`--workers N`, docs/distributed.md) the N workers are Ray actors, each with its
own `Segment` (env and local network): a worker sends the gradient of its segment instead of
applying it, and the main process -- the global network -- applies each gradient as it arrives
(`apply_gradients`, step 5) and sends the new parameters back to that worker alone
(`tidyrl.distributed.a3c`). The worker's story is the same `Segment.gradients`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tidyrl import runtime
from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    ACTION_SPACES,
    PolicyIO,
    act,
    action_shape,
    build_policy,
)
from tidyrl.config import check_range
from tidyrl.core.distributions import Distribution
from tidyrl.core.normalize import RewardScaler, RunningMeanStd
from tidyrl.core.schedules import remaining_fraction
from tidyrl.data.rollout import Rollout, RolloutBatch
from tidyrl.envs.make import Ended, Step, VecEnv
from tidyrl.loops.async_workers import AsyncWorkerPool, WorkerChannel
from tidyrl.loops.on_policy import collect_rollout
from tidyrl.nets.mlp import Activation
from tidyrl.nets.policy import ActorCritic


@dataclass(frozen=True)
class A3CConfig:
    n_workers: int = 2
    """Asynchronous worker processes (each with its own env)."""
    t_max: int = 20
    """Steps per worker segment before it pushes a gradient."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE lambda (1.0: the paper's n-step returns)."""
    lr: float = 1e-3
    """Learning rate of the shared Adam."""
    normalize_obs: bool | None = None
    """Running observation normalization, its statistics shared by the workers (None: on for
    vector observations, off for an image, which the CNNs scale)."""
    normalize_reward: bool = True
    """Scale rewards by the std of a running discounted return (each worker's own return
    accumulator; the statistics shared by the workers, like the observations'). On: without
    it Acrobot's -1 per step left two seeds of three at -500 (docs/algorithms/a3c.md)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run, as in the paper."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient (the paper's beta: 0.01 on Atari, the `paper` preset)."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip applied to each worker's gradient (0: off)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actor and of the critic."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""

    def __post_init__(self) -> None:
        check_range(self, "n_workers", 1, 64)
        check_range(self, "t_max", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "ent_coef", 0.0)
        check_range(self, "vf_coef", 0.0)
        check_range(self, "max_grad_norm", 0.0)


def a3c_loss(
    dist: Distribution, values: torch.Tensor, batch: RolloutBatch, cfg: A3CConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """-E[log pi (R - V)] - c_e E[H] + c_v E[(R - V)^2] over one segment."""
    policy_loss = -(dist.log_prob(batch.actions) * batch.advantages).mean()
    v_loss = ((values - batch.returns) ** 2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
    metrics = {"policy_loss": policy_loss.item(), "value_loss": v_loss.item()}
    return loss, {**metrics, "entropy": entropy.item()}


class _Tally:
    """The worker's stand-in for the agent's bookkeeping: counts steps and finished episodes."""

    def __init__(self, env: VecEnv, seed: int) -> None:
        self.env = env
        self.rng = np.random.default_rng(seed)
        """The worker's own generator for acting."""
        self.steps = 0
        self.ended = Ended()

    def collecting(self, metrics: Any = None) -> contextlib.AbstractContextManager[None]:
        """Workers write no checkpoints, so none is held back."""
        return contextlib.nullcontext()

    def tick(self, step: Step | None = None, metrics: Any = None, n_steps: int | None = None):
        self.steps += self.env.n_envs
        if step is not None:
            self.ended.add(step)


class Segment:
    """A worker's own state: its environment, its local copy of the network, the rollout it
    fills and its tally; `gradients` is steps 2-4 of the module docstring."""

    def __init__(self, env_cfg: Any, policy: ActorCritic, cfg: A3CConfig, seed: int) -> None:
        torch.manual_seed(seed)
        self.cfg = cfg
        self.env = VecEnv(env_cfg, n_envs=1, seed=seed)
        self.local = copy.deepcopy(policy)
        space = self.env.single_observation_space
        self.io = PolicyIO(space, self.env.single_action_space, cfg.normalize_obs, images=True)
        shape = action_shape(self.env.single_action_space)
        self.rollout = Rollout(cfg.t_max, 1, self.io.obs_shape, shape, self.local.discrete)
        self.tally = _Tally(self.env, seed)
        self.seen = RunningMeanStd((self.io.obs_dim,), epsilon=0.0)
        """Statistics of the observations since the last `drain`, for the shared ones."""
        self.stats = Stats(self.io.obs_norm, RunningMeanStd(()))
        """The local copy of the shared statistics."""
        self.scaler = RewardScaler(1, cfg.gamma, self.stats.reward_norm)
        self.scaler.seen = RunningMeanStd((), epsilon=0.0)
        """Statistics of the discounted returns since the last `drain`, for the shared ones."""

    def sync(self, weights: Mapping[str, torch.Tensor], stats: Mapping[str, Any]) -> None:
        """Step 1: the shared parameters and statistics (a `Stats` state dict) into the local
        copy."""
        self.local.load_state_dict(weights)
        self.stats.load_state_dict(stats)

    def observe(self, raw: Any, update: bool = False) -> torch.Tensor:
        """Network input for raw observations, normalized with the copied statistics; new ones
        (`update`) are also counted in `seen`."""
        if update and self.io.normalize_obs:
            self.seen.update(raw)
        result: torch.Tensor = self.io.obs(raw)
        return result

    def gradients(self) -> dict[str, float]:
        """Act t_max steps with the local network, then leave in its `.grad` the (clipped)
        gradient of `a3c_loss` on the segment; return the loss's metrics."""
        cfg, local, rollout = self.cfg, self.local, self.rollout
        reward_fn = self.scaler if cfg.normalize_reward else None
        collect_rollout(self.tally, local, rollout, self.io, self.observe, reward_fn)
        advantages, returns = rollout.advantages(cfg.gamma, cfg.gae_lambda)
        batch = rollout.flatten(advantages, returns)
        dist, values = local(batch.obs)
        loss, metrics = a3c_loss(dist, values, batch, cfg)
        local.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(local.parameters(), cfg.max_grad_norm)
        return metrics

    def drain(self) -> tuple[int, Ended, Stats]:
        """The steps, the finished episodes and the statistics of the observations and returns
        seen since the last call."""
        tally, seen, seen_returns = self.tally, self.seen, self.scaler.seen
        assert seen_returns is not None
        out = tally.steps, tally.ended, Stats(seen, seen_returns)
        tally.steps, tally.ended = 0, Ended()
        self.seen = RunningMeanStd(seen.mean.shape, epsilon=0.0)
        self.scaler.seen = RunningMeanStd((), epsilon=0.0)
        return out


class Stats(nn.Module):
    """The running statistics the workers share: the observations' and the discounted
    returns' (`normalize_obs`, `normalize_reward`); one module, so it is shared, copied to a
    worker (`state_dict`) and merged (`absorb`) as one."""

    def __init__(self, obs_norm: RunningMeanStd, reward_norm: RunningMeanStd) -> None:
        super().__init__()
        self.obs_norm = obs_norm
        self.reward_norm = reward_norm

    def absorb(self, other: Stats) -> None:
        """Step 5's merge of a segment's statistics into these (unlocked)."""
        self.obs_norm.absorb(other.obs_norm)
        self.reward_norm.absorb(other.reward_norm)


def worker_seed(seed: int, worker: int) -> int:
    """Worker `worker`'s seed for a `learn` call whose workers start from `seed`."""
    return seed + 10_007 * (worker + 1)


def apply_gradients(
    optimizer: torch.optim.Optimizer, cfg: A3CConfig, done: int, target: int
) -> None:
    """Step 5: the shared optimizer's step on the gradients in place, its learning rate
    annealed over the whole run (`done` of `target` steps)."""
    if cfg.anneal_lr:
        optimizer.param_groups[0]["lr"] = cfg.lr * remaining_fraction(done, target)
    optimizer.step()


def a3c_worker(
    worker: int, spec: dict[str, Any], shared: Mapping[str, Any], channel: WorkerChannel
) -> None:
    """One actor-learner (runs in its own process): steps 1-5 of the module docstring."""
    runtime.configure(1)  # one thread per worker process: the workers share the cores
    cfg: A3CConfig = spec["config"]
    shared_policy: ActorCritic = shared["policy"]
    shared_stats: Stats = shared["stats"]
    segment = Segment(spec["env"], shared_policy, cfg, worker_seed(spec["seed"], worker))
    optimizer = torch.optim.Adam(shared_policy.parameters(), lr=cfg.lr)
    global_steps: torch.Tensor = shared["global_steps"]  # the paper's shared counter T
    for param, state in zip(shared_policy.parameters(), shared["optimizer_state"]):
        optimizer.state[param] = state
    while not channel.stopped:
        segment.sync(shared_policy.state_dict(), shared_stats.state_dict())
        metrics = segment.gradients()
        for shared_param, local_param in zip(
            shared_policy.parameters(), segment.local.parameters()
        ):
            shared_param.grad = local_param.grad
        done = spec["start"] + int(global_steps.item())
        apply_gradients(optimizer, cfg, done, spec["target"])  # Hogwild: no lock around it
        steps, ended, seen = segment.drain()
        shared_stats.absorb(seen)
        global_steps.add_(steps)  # unlocked as well: only the schedule reads it
        channel.report(steps, ended, metrics)
    segment.env.close()


class A3C(Agent):
    Config = A3CConfig
    algo_id = "a3c"
    action_spaces = ACTION_SPACES
    default_torch_threads = 1
    default_steps = 300_000
    ENV_PRESETS = {"LunarLander-v3": "lunarlander"}
    PRESETS = {
        "cartpole": {},
        # LunarLander: at lr 1e-3 every seed's returns rose to 100-195 by about 70k steps, then
        # fell, with reward scaling too (docs/algorithms/a3c.md)
        "lunarlander": {"lr": 3e-4, "normalize_reward": False},
        # the paper's Atari entropy bonus, on raw observations and rewards
        "paper": {"ent_coef": 0.01, "normalize_obs": False, "normalize_reward": False},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy = build_policy(self, cfg, images=True)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.obs_norm = self.io.obs_norm
        self.reward_norm = RunningMeanStd(())
        self.stats = Stats(self.obs_norm, self.reward_norm)
        self.register_state("policy", "optimizer", "obs_norm", "reward_norm")

    def act(self, obs, deterministic=False):
        return act(self.policy, self.io, obs, deterministic)

    def _shared_optimizer_state(self) -> list[dict[str, torch.Tensor]]:
        """Adam's moments and step counts in shared memory (created when still empty; moved
        there after a checkpoint load replaced them)."""
        states = []
        for param in self.policy.parameters():
            state = self.optimizer.state[param]
            if not state:
                state["step"] = torch.zeros(())
                state["exp_avg"] = torch.zeros_like(param)
                state["exp_avg_sq"] = torch.zeros_like(param)
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    value.share_memory_()
            states.append(state)
        return states

    def learn(self, total_steps: int) -> A3C:
        if self.run.workers:  # the workers are Ray actors (tidyrl.distributed.a3c)
            from tidyrl.distributed.a3c import learn_on_workers

            with self.training(total_steps):
                learn_on_workers(self, self._spec())
            return self
        self.policy.share_memory()
        self.stats.share_memory()
        shared = {
            "policy": self.policy,
            "stats": self.stats,
            "optimizer_state": self._shared_optimizer_state(),
            "global_steps": torch.zeros((), dtype=torch.int64).share_memory_(),
        }
        with self.training(total_steps):
            spec = self._spec()
            with AsyncWorkerPool(a3c_worker, self.config.n_workers, spec, shared) as pool:
                while not self.finished:
                    for report in pool.reports(timeout=1.0):
                        self.count(report)
                for report in pool.stop():  # updates already applied: count their steps too
                    self.count(report)
        return self

    def _spec(self) -> dict[str, Any]:
        """What every worker of a `learn` call needs besides the network."""
        return {
            "config": self.config,
            "env": self.env_cfg,
            # each learn() call gets fresh worker seeds, so it does not replay the last one
            "seed": self.run.seed + self.counters["steps"],
            # the schedule spans the whole run (counters["target"]), so a resume continues it
            "start": self.counters["steps"],
            "target": max(self.counters["target"], 1),
        }

    def count(self, report: Any) -> None:
        """Count a worker's report: one update, its steps and finished episodes."""
        self.counters["updates"] += 1
        self.tick(report.ended, report.metrics, n_steps=report.steps)

    def update_probe(self) -> Callable[[], object] | None:
        g = torch.Generator().manual_seed(0)
        obs = torch.randn(self.config.t_max, *self.io.obs_shape, generator=g)
        with torch.no_grad():
            dist, values = self.policy(obs)
            actions = dist.sample()
        zeros = torch.zeros(self.config.t_max)
        batch = RolloutBatch(obs, actions, dist.log_prob(actions), values, zeros + 1.0, values + 1)

        def probe() -> None:
            dist, values = self.policy(batch.obs)
            loss, _ = a3c_loss(dist, values, batch, self.config)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

        return probe

"""Ape-X-style asynchronous actors (Horgan et al. 2018, "Distributed Prioritized Experience
Replay") for DQN, Rainbow and D4PG, behind the off-policy learners' one seam.

The three collect each step with ``collect_step(agent, obs, act)`` (`tidyrl.loops.off_policy`):
act, step the env, add the transitions to the replay. With ``workers=N`` the agent's env is an
`ApexEnv` and that call is handed to `ApexEnv.collect_step`:

1. act: worker k (`ApexWorker`, a Ray actor) steps its share of the env copies for `BATCH`
   steps with a copy of the learner's networks (an `Actor`, below). DQN and Rainbow act
   ε-greedily, each copy i of the run with Ape-X's fixed ε_i = 0.4^(1 + 7 i / (n_envs - 1))
   (`tidyrl.core.exploration.apex_epsilons`; the copies are Ape-X's actors, a worker process
   holds one or more); D4PG acts with mu(s) plus the Gaussian (or OU) noise of its config,
   drawn from the worker's own generator;
2. rows and priorities: each copy has an n-step accumulator of its own
   (`tidyrl.data.accumulators.NStepAccumulator`, n = the learner's `n_step`; 1 for DQN), so the
   rows the replay stores are built where they were collected. With a prioritised replay the
   worker then computes every row's first priority with its copy of the networks, by the loss
   function of the algorithm's file: |delta_i| of `dqn.td_errors`, L_i of
   `rainbow.row_losses`, the critic loss of `d4pg.critic_row_losses` (Ape-X, sec. 3: "actors
   ... compute priorities locally", so that new rows need not enter at the maximal priority).
   It sends the batch back and is at once asked for the next one, so the workers keep stepping
   while the learner trains;
3. stream: the learner takes whichever batch arrives first (`ray.wait`) into a queue; each
   `collect_step` takes ``n_envs`` queued copy-steps as one vector step: their rows go into the
   replay with their priorities (`Replay.add_rows`), and the learner counts the step, so its
   schedules (updates per env step, target copies, the PER beta, logging, checkpoints) are
   those of the in-process run. After each update the learner sets the sampled rows' new
   priorities as it does in-process;
4. pull: a worker that sends a batch gets, with its next request, the learner's current
   networks (put into the object store once per learner update phase): the actors' policy is
   at most one batch behind the learner's, Ape-X's periodic parameter pull.

What differs from the in-process run, by design: per-copy ε replaces DQN's ε schedule (the
learner's `epsilon` metric is then the schedule's value, which no actor uses) and is added to
Rainbow's noisy layers; the actors act from the first step (no uniform warm-up before
`learning_starts`, which only delays the updates); the priorities of new rows are the actors'
instead of the maximum so far. A run is reproducible per seed up to the order in which batches
arrive: each worker's rows and priorities depend only on the seed, its copies and the networks
it was sent, but which batch reaches the learner first, and so which network a worker acts
with, depends on timing.

Faults, as for `tidyrl.distributed.collect`: a worker whose process dies is restarted by Ray and
asked for a batch again (its copies begin new episodes; the learner keeps its state and
replay); an env that raises inside a worker is an `EnvError` naming the worker, with the
traceback in ``RUN_DIR/worker_error.txt``, after which the agent saves its checkpoint; every
wait has the deadline `RunConfig.worker_timeout`. A checkpoint holds the replay (rows and
priorities) and every copy's env state after its worker's latest batch; the rows of batches not
yet handed to the learner and the steps pending in the workers' n-step accumulators are not in
it (a resumed run's workers go on from their copies' states with empty accumulators).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import ray
import torch
from torch import nn

from tidyrl.config import EnvConfig, RunConfig
from tidyrl.core.exploration import apex_epsilons, epsilon_greedy
from tidyrl.core.masking import masked_argmax
from tidyrl.core.noise import ExplorationNoise
from tidyrl.core.squashed import scale_action
from tidyrl.data.accumulators import NStepAccumulator
from tidyrl.data.batch import Transition
from tidyrl.data.replay import uses_frame_store
from tidyrl.distributed.collect import RayVecEnv, RolloutWorker, Stream
from tidyrl.envs.make import Step
from tidyrl.envs.spaces import Obs, stack, take
from tidyrl.errors import ConfigError
from tidyrl.nets.inference import fast_policy

BATCH = 50
"""Env steps of each copy per batch a worker sends, which is also how often it pulls the
learner's networks (Ape-X's actors send their experience in batches and pull parameters
periodically; the size here is this module's choice)."""


# -- the actors' side of each learner: networks, acting, first priorities -----------------------


@dataclass
class Actor:
    """What a worker receives from the learner: copies of its networks, how to act with them
    and how to score the rows it built (a subclass per learner)."""

    n_step: int
    gamma: float
    prioritized: bool
    step: int
    """The learner's env steps when the networks were sent (the clock of noise schedules)."""

    def act(
        self, obs: Obs, masks: np.ndarray | None, epsilons: np.ndarray, worker: ApexWorker
    ) -> tuple[np.ndarray, np.ndarray]:
        """(the actions the replay stores, the actions the env is stepped with)."""
        raise NotImplementedError

    def priorities(self, batch: Transition) -> torch.Tensor:
        """The first priority of each row, by the algorithm's own loss function."""
        raise NotImplementedError


@dataclass
class QActor(Actor):
    """DQN's or Rainbow's actor: ε-greedy on Q(s, .) (the expected return of Rainbow's atoms)."""

    q: nn.Module
    q_target: nn.Module
    greedy: Callable[[nn.Module, Obs, np.ndarray | None], np.ndarray]
    """argmax_a Q(s, a) over the valid actions, from the network (the learner's own rule)."""
    score: Callable[[nn.Module, nn.Module, Transition], torch.Tensor]
    """The algorithm's per-row priority |delta_i| or L_i, from the two networks."""

    def act(
        self, obs: Obs, masks: np.ndarray | None, epsilons: np.ndarray, worker: ApexWorker
    ) -> tuple[np.ndarray, np.ndarray]:
        n_actions = int(worker.env.single_action_space.n)  # type: ignore[attr-defined]
        greedy = partial(self.greedy, self.q, obs, masks)
        actions = epsilon_greedy(greedy, len(epsilons), epsilons, n_actions, worker.rng, masks)
        return actions, actions

    def priorities(self, batch: Transition) -> torch.Tensor:
        return self.score(self.q, self.q_target, batch)


@dataclass
class D4PGActor(Actor):
    """D4PG's actor: mu(s) plus its exploration noise, in the unit box (scaled for the env)."""

    actor: nn.Module
    actor_target: nn.Module
    critic: nn.Module
    critic_target: nn.Module
    support: torch.Tensor
    low: np.ndarray
    high: np.ndarray
    noise: tuple[str, float, float, int, float]
    """D4PG's noise settings: kind, variance at the start and end, decay steps, OU theta."""
    score: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    """`d4pg.critic_row_losses`."""

    def act(
        self, obs: Obs, masks: np.ndarray | None, epsilons: np.ndarray, worker: ApexWorker
    ) -> tuple[np.ndarray, np.ndarray]:
        if worker.noise is None:  # the worker's own noise process (per copy for OU)
            kind, start, end, decay, theta = self.noise
            dim = int(np.prod(worker.env.single_action_space.shape or ()))
            shape = (worker.env.n_envs, dim)
            worker.noise = ExplorationNoise(kind, shape, worker.rng, start, end, decay, theta)
        mu = fast_policy(self.actor)(obs).cpu().numpy()
        unit = np.clip(mu + worker.noise.sample(self.step), -1.0, 1.0).astype(np.float32)
        return unit, scale_action(unit, self.low, self.high)

    def priorities(self, batch: Transition) -> torch.Tensor:
        networks = (self.critic, self.actor_target, self.critic_target)
        return self.score(*networks, batch, self.support)[1]


def _cpu(module: nn.Module, device: torch.device) -> nn.Module:
    """The module as the actors get it: on CPU (they act on CPU)."""
    return module if device.type == "cpu" else copy.deepcopy(module).cpu()


def _q_greedy(
    support: torch.Tensor | None, expected: Any, q: nn.Module, obs: Obs, masks: Any
) -> np.ndarray:
    out = fast_policy(q)(obs)
    return masked_argmax(out if expected is None else expected(out, support), masks)


def _dqn_score(double: bool, q: nn.Module, q_target: nn.Module, batch: Transition) -> Any:
    from tidyrl.algos.value.dqn import td_errors

    q_taken, target = td_errors(q, q_target, batch, double)
    return (target - q_taken).abs()


def _rainbow_score(
    support: Any, double: bool, q: nn.Module, q_target: nn.Module, batch: Transition
) -> Any:
    from tidyrl.algos.value.rainbow import row_losses

    return row_losses(q, q_target, batch, support, double)


def make_actor(agent: Any) -> Actor:
    """The `Actor` of the learner's current networks."""
    cfg, dev = agent.config, agent.device
    n_step, gamma = int(agent.replay.accumulator.n), float(agent.replay.accumulator.gamma)
    prioritized = bool(getattr(cfg, "prioritized", False))
    step = int(agent.counters["steps"])
    if agent.algo_id in ("dqn", "rainbow"):
        q, q_target = _cpu(agent.q, dev), _cpu(agent.q_target, dev)
        if agent.algo_id == "dqn":
            greedy = partial(_q_greedy, None, None)
            score = partial(_dqn_score, cfg.double)
        else:
            from tidyrl.algos.value.rainbow import expected_q

            support = None if agent.support is None else agent.support.cpu()
            greedy = partial(_q_greedy, support, expected_q)
            score = partial(_rainbow_score, support, cfg.double)
        return QActor(n_step, gamma, prioritized, step, q, q_target, greedy, score)
    from tidyrl.algos.actor_critic.d4pg import critic_row_losses

    noise = (cfg.noise, cfg.noise_variance_start, cfg.noise_variance_end)
    return D4PGActor(
        n_step,
        gamma,
        prioritized,
        step,
        actor=_cpu(agent.actor, dev),
        actor_target=_cpu(agent.actor_target, dev),
        critic=_cpu(agent.critic, dev),
        critic_target=_cpu(agent.critic_target, dev),
        support=agent.support.cpu(),
        low=agent.low,
        high=agent.high,
        noise=(*noise, cfg.noise_decay_steps, cfg.ou_theta),
        score=critic_row_losses,
    )


# -- the worker ----------------------------------------------------------------------------------


@dataclass
class _CopyStep:
    """One env copy's step as a worker sends it, the episode it ended (if one did) and how
    many n-step rows it completed."""

    obs: Obs
    action: Any
    reward: Any
    next_obs: Obs
    terminated: bool
    truncated: bool
    next_mask: np.ndarray | None
    episode: tuple[float, int, bool | None] | None
    """The return, length and success (None: not reported) of the episode this step ended."""
    n_rows: int


def _successes(step: Step) -> list[bool | None]:
    """The success of each episode that ended in `step`, in the order of its returns: a `Step`
    lists successes only for episodes whose env reports one, so they pair with the returns
    only when every one does (copies of one env all do or all do not)."""
    successes = step.episode_successes
    if len(successes) == len(step.episode_returns):
        return list(successes)
    return [None] * len(step.episode_returns)


@dataclass
class _Batch:
    """A worker's batch: its copy-steps in step order and the rows they completed (in the
    same order), with their first priorities under a prioritised replay."""

    steps: list[_CopyStep]
    rows: dict[str, Any] | None
    priorities: np.ndarray | None


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Row dicts (the accumulator's layout; observations may be dicts) as one."""
    out: dict[str, Any] = {}
    for name, first in parts[0].items():
        if isinstance(first, dict):
            out[name] = {k: np.concatenate([p[name][k] for p in parts]) for k in first}
        else:
            out[name] = np.concatenate([p[name] for p in parts])
    return out


def _slice(rows: dict[str, Any], start: int, stop: int) -> dict[str, Any]:
    return {name: take(value, slice(start, stop)) for name, value in rows.items()}


def as_transition(rows: dict[str, Any]) -> Transition:
    """Rows of the accumulator's layout as a minibatch of tensors, as the replay stores them
    (float observations as float32)."""

    def tensor(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: tensor(v) for k, v in value.items()}
        array = np.asarray(value)
        return torch.from_numpy(array.astype(np.float32) if array.dtype.kind == "f" else array)

    masks = rows.get("next_masks")
    return Transition(
        obs=tensor(rows["obs"]),
        actions=torch.from_numpy(np.asarray(rows["actions"])),
        rewards=tensor(rows["rewards"]),
        next_obs=tensor(rows["next_obs"]),
        terminated=tensor(rows["terminated"]),
        truncated=tensor(rows["truncated"]),
        discounts=tensor(rows["discounts"]),
        weights=torch.ones(len(rows["rewards"])),
        next_masks=None if masks is None else tensor(masks),
    )


class ApexWorker(RolloutWorker):
    """A Ray actor stepping its copies with the learner's networks (an `Actor`)."""

    def __init__(self, env_cfg: EnvConfig, n_envs: int, seed: int, first: int) -> None:
        super().__init__(env_cfg, n_envs, seed, first)
        self.rng = np.random.default_rng([seed, first])
        self.noise: ExplorationNoise | None = None
        """D4PG's noise process of these copies (made on the first batch)."""
        self.accumulators: list[NStepAccumulator] = []
        """One n-step accumulator per copy (made on the first batch)."""

    def transitions(self, actor: Actor, epsilons: np.ndarray, n_steps: int) -> _Batch:
        """`n_steps` steps of every copy with `actor` (one ε per copy where it acts
        ε-greedily), the n-step rows they completed and, under a prioritised replay, the rows'
        first priorities."""
        self.boundary = self.env.state()
        if not self.accumulators:
            n = self.env.n_envs
            self.accumulators = [NStepAccumulator(actor.n_step, actor.gamma) for _ in range(n)]
        steps: list[_CopyStep] = []
        parts: list[dict[str, Any]] = []
        for _ in range(n_steps):
            obs, masks = self.env.obs, self.env.masks
            stored, actions = actor.act(obs, masks, epsilons, self)
            step = self.env.step(actions)
            if self.noise is not None:
                self.noise.reset(step.dones)
            ended = iter(zip(step.episode_returns, step.episode_lengths, _successes(step)))
            for j, accumulator in enumerate(self.accumulators):
                one = slice(j, j + 1)
                mask = None if step.next_masks is None else step.next_masks[one]
                rows = accumulator.push(
                    take(obs, one),
                    stored[one],
                    step.rewards[one],
                    take(step.next_obs, one),
                    step.terminated[one],
                    step.truncated[one],
                    mask,
                )
                if rows is not None:
                    parts.append(rows)
                steps.append(
                    _CopyStep(
                        take(obs, j),
                        stored[j],
                        step.rewards[j],
                        take(step.next_obs, j),
                        bool(step.terminated[j]),
                        bool(step.truncated[j]),
                        None if step.next_masks is None else step.next_masks[j],
                        next(ended) if step.dones[j] else None,
                        0 if rows is None else len(rows["rewards"]),
                    )
                )
        self.boundary = None
        rows_all = _concat(parts) if parts else None
        priorities = None
        if actor.prioritized and rows_all is not None:
            with torch.no_grad():
                priorities = actor.priorities(as_transition(rows_all)).numpy()
        return _Batch(steps, rows_all, priorities)


# -- the learner's side --------------------------------------------------------------------------


class ApexEnv(RayVecEnv):
    """The agent's env when DQN, Rainbow or D4PG collects on Ape-X actors: `RayVecEnv`'s
    workers, spaces and checkpoint state, and `collect_step` streaming rows (the module
    docstring)."""

    worker_class = ApexWorker

    def __init__(self, cfg: EnvConfig, n_envs: int, run: RunConfig) -> None:
        super().__init__(cfg, n_envs, run)
        eps = apex_epsilons(n_envs)
        self.epsilons = [eps[first : first + n] for first, n in zip(self.firsts, self.sizes)]
        """Ape-X's ε of each worker's copies (DQN and Rainbow)."""
        self.queue: deque[tuple[_CopyStep, dict[str, Any] | None, np.ndarray | None]] = deque()
        """Copy-steps received, each with the rows it completed and their priorities."""
        self.stream = Stream(len(self.workers), "transitions", self.timeout, self)
        self._actor: tuple[int, Any] | None = None

    def collect_step(self, agent: Any) -> tuple[Obs, np.ndarray, Step]:
        """`n_envs` streamed copy-steps as one vector step, their rows stored in the learner's
        replay: (observations, actions, step)."""
        if uses_frame_store(agent.observation_space, frame_stack=True):  # the shape of one
            raise ConfigError(
                f"workers={len(self.workers)}: pixel observations (uint8 images from 36x36, "
                "such as stacked Atari frames) are not served on Ape-X workers yet; use workers=0"
            )
        if not self.stream.pending:
            for k in range(len(self.workers)):
                self._request(k, agent)
        while len(self.queue) < self.n_envs:
            k, batch = self.stream.receive()
            if batch is not None:
                self._enqueue(batch)
            self._request(k, agent)
        taken = [self.queue.popleft() for _ in range(self.n_envs)]
        parts = [rows for _, rows, _ in taken if rows is not None]
        if parts:
            prios = [p for _, rows, p in taken if rows is not None and p is not None]
            priorities = np.concatenate(prios) if len(prios) == len(parts) else None
            agent.replay.add_rows(_concat(parts), priorities)
        steps = [s for s, _, _ in taken]
        ended = [s.episode for s in steps if s.episode is not None]
        masks = [s.next_mask for s in steps if s.next_mask is not None]
        next_obs = stack([s.next_obs for s in steps])
        step = Step(
            obs=next_obs,
            next_obs=next_obs,
            rewards=np.asarray([s.reward for s in steps]),
            terminated=np.asarray([s.terminated for s in steps]),
            truncated=np.asarray([s.truncated for s in steps]),
            episode_returns=[e[0] for e in ended],
            episode_lengths=[e[1] for e in ended],
            next_masks=np.stack(masks) if masks else None,
            episode_successes=[e[2] for e in ended if e[2] is not None],
        )
        return stack([s.obs for s in steps]), np.asarray([s.action for s in steps]), step

    def _enqueue(self, batch: _Batch) -> None:
        """Queue a batch's copy-steps, each with its share of the rows and priorities."""
        start = 0
        for s in batch.steps:
            rows = prios = None
            if s.n_rows and batch.rows is not None:
                rows = _slice(batch.rows, start, start + s.n_rows)
                if batch.priorities is not None:
                    prios = batch.priorities[start : start + s.n_rows]
            start += s.n_rows
            self.queue.append((s, rows, prios))

    def _request(self, k: int, agent: Any) -> None:
        """Ask worker k for a batch, acting with the learner's current networks."""
        version = int(agent.counters["updates"])
        if self._actor is None or self._actor[0] != version:
            self._actor = (version, ray.put(make_actor(agent)))
        ref = self.workers[k].transitions.remote(self._actor[1], self.epsilons[k], BATCH)
        self.stream.send(k, ref)

    def close(self) -> None:
        self.stream.pending.clear()
        super().close()

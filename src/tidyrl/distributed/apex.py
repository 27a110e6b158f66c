"""Ape-X-style asynchronous actors for DQN (Horgan et al. 2018, "Distributed Prioritized
Experience Replay"), behind the off-policy learners' one seam.

DQN collects each step with ``collect_step(agent, obs, act)`` (`tidyrl.loops.off_policy`): act,
step the env, add the transition to the replay. With ``workers=N`` the agent's env is an
`ApexEnv` and that call is handed to `ApexEnv.collect_step`:

1. act: worker k (`ApexWorker`, a Ray actor) steps its share of the env copies for `BATCH`
   steps with a copy of the learner's Q network and ε-greedy actions, each copy i of the run
   with Ape-X's fixed ε_i = 0.4^(1 + 7 i / (n_envs - 1)) (`tidyrl.core.exploration.apex_epsilons`;
   the copies are Ape-X's actors, a worker process holds one or more). It sends the batch of
   transitions back and is at once asked for the next one, so the workers keep stepping while
   the learner trains;
2. stream: the learner takes whichever batch arrives first (`ray.wait`) into a queue; each
   `collect_step` hands DQN ``n_envs`` queued transitions as one `Step`, which DQN adds to its
   replay and counts as one vector step, so its schedules (updates per env step, target copies,
   logging, checkpoints) are those of the in-process run;
3. pull: a worker that sends a batch gets, with its next request, the learner's current Q
   network (put into the object store once per learner update phase): the actors' policy is
   at most one batch behind the learner's, Ape-X's periodic parameter pull.

Per-actor ε replaces DQN's ε schedule in this mode (the learner's `epsilon` metric is then the
schedule's value, which no actor uses). DQN's replay is uniform, so the actors compute no
priorities; Ape-X's prioritised replay (actor-side initial priorities) needs a learner with a
prioritised replay and n-step rows built on the actor (Rainbow), not served yet
(docs/distributed.md). A run is reproducible per seed up to the order in which batches arrive:
each worker's transitions depend only on the seed, its copies and the networks it was sent,
but which batch reaches the learner first, and so which network a worker acts with, depends on
timing.

Faults, as for `tidyrl.distributed.collect`: a worker whose process dies is restarted by Ray and
asked for a batch again (its copies begin new episodes; the learner keeps its state and
replay); an env that raises inside a worker is an `EnvError` naming the worker, with the
traceback in ``RUN_DIR/worker_error.txt``, after which the agent saves its checkpoint; every
wait has the deadline `RunConfig.worker_timeout`. A checkpoint holds the replay and every
copy's env state after its worker's latest batch; the transitions of batches not yet handed to
DQN are not in it (a resumed run's workers go on from their copies' states).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import ray
from torch import nn

from tidyrl.config import EnvConfig, RunConfig
from tidyrl.core.exploration import apex_epsilons, epsilon_greedy
from tidyrl.core.masking import masked_argmax
from tidyrl.distributed.collect import MAX_RESTARTS, STARTUP_TIMEOUT, RayVecEnv, RolloutWorker
from tidyrl.envs.make import Step
from tidyrl.envs.spaces import Obs, stack, take
from tidyrl.errors import ConfigError, EnvError
from tidyrl.nets.inference import fast_policy

BATCH = 50
"""Env steps of each copy per batch a worker sends, which is also how often it pulls the
learner's network (Ape-X's actors send their experience in batches and pull parameters
periodically; the size here is this module's choice)."""


@dataclass
class _Row:
    """One transition as a worker sends it, and the episode it ended (if one did)."""

    obs: Obs
    action: Any
    reward: Any
    next_obs: Obs
    terminated: bool
    truncated: bool
    next_mask: np.ndarray | None
    episode: tuple[float, int] | None


def _greedy(forward: Any, obs: Obs, masks: np.ndarray | None) -> np.ndarray:
    """argmax_a Q(s, a) per row, over the valid actions of `masks`."""
    return masked_argmax(forward(obs), masks)


class ApexWorker(RolloutWorker):
    """A Ray actor stepping its copies with a Q network copy and a fixed ε per copy."""

    def __init__(self, env_cfg: EnvConfig, n_envs: int, seed: int, first: int) -> None:
        super().__init__(env_cfg, n_envs, seed, first)
        self.rng = np.random.default_rng([seed, first])

    def transitions(self, q: nn.Module, epsilons: np.ndarray, n_steps: int) -> list[_Row]:
        """`n_steps` steps of every copy, ε-greedy on `q` (one ε per copy), in step order."""
        self.boundary = self.env.state()
        forward = fast_policy(q)
        n_actions = int(self.env.single_action_space.n)  # type: ignore[attr-defined]
        out: list[_Row] = []
        for _ in range(n_steps):
            obs, masks = self.env.obs, self.env.masks
            actions = epsilon_greedy(
                partial(_greedy, forward, obs, masks),
                len(epsilons),
                epsilons,
                n_actions,
                self.rng,
                masks,
            )
            step = self.env.step(actions)
            ended = iter(zip(step.episode_returns, step.episode_lengths))
            for j in range(len(actions)):
                out.append(
                    _Row(
                        take(obs, j),
                        actions[j],
                        step.rewards[j],
                        take(step.next_obs, j),
                        bool(step.terminated[j]),
                        bool(step.truncated[j]),
                        None if step.next_masks is None else step.next_masks[j],
                        next(ended) if step.dones[j] else None,
                    )
                )
        self.boundary = None
        return out


class ApexEnv(RayVecEnv):
    """The agent's env when DQN collects on Ape-X actors: `RayVecEnv`'s workers, spaces and
    checkpoint state, and `collect_step` streaming transitions (the module docstring)."""

    worker_class = ApexWorker

    def __init__(self, cfg: EnvConfig, n_envs: int, run: RunConfig) -> None:
        super().__init__(cfg, n_envs, run)
        eps = apex_epsilons(n_envs)
        self.epsilons = [eps[first : first + n] for first, n in zip(self.firsts, self.sizes)]
        """Ape-X's ε of each worker's copies."""
        self.queue: deque[_Row] = deque()
        self.pending: dict[Any, int] = {}
        """In-flight batch requests: object ref -> worker."""
        self.tries = [0] * len(self.workers)
        """Deaths of each worker's process since its last batch arrived."""
        self.lost = [False] * len(self.workers)
        """Worker k's process died and its batch is asked for again."""
        self._weights: tuple[int, Any] | None = None

    def collect_step(self, agent: Any) -> tuple[Obs, np.ndarray, Step]:
        """`n_envs` streamed transitions as one vector step: (observations, actions, step)."""
        if agent.replay.frames is not None or agent.replay.accumulator.n > 1:
            raise ConfigError(
                f"workers={len(self.workers)}: Ape-X actors send single transitions; stacked "
                "pixel frames and n-step replay are not served on workers yet (workers=0)"
            )
        if not self.pending:
            for k in range(len(self.workers)):
                self._request(k, agent)
        while len(self.queue) < self.n_envs:
            self._receive(agent)
        rows = [self.queue.popleft() for _ in range(self.n_envs)]
        next_obs = stack([r.next_obs for r in rows])
        masks = [r.next_mask for r in rows if r.next_mask is not None]
        step = Step(
            obs=next_obs,
            next_obs=next_obs,
            rewards=np.asarray([r.reward for r in rows]),
            terminated=np.asarray([r.terminated for r in rows]),
            truncated=np.asarray([r.truncated for r in rows]),
            episode_returns=[r.episode[0] for r in rows if r.episode is not None],
            episode_lengths=[r.episode[1] for r in rows if r.episode is not None],
            next_masks=np.stack(masks) if masks else None,
        )
        return stack([r.obs for r in rows]), np.asarray([r.action for r in rows]), step

    def _request(self, k: int, agent: Any) -> None:
        """Ask worker k for a batch, acting with the learner's current Q network."""
        version = int(agent.counters["updates"])
        if self._weights is None or self._weights[0] != version:
            q = agent.q if agent.device.type == "cpu" else copy.deepcopy(agent.q).cpu()
            self._weights = (version, ray.put(q))  # the actors act on CPU
        ref = self.workers[k].transitions.remote(self._weights[1], self.epsilons[k], BATCH)
        self.pending[ref] = k

    def _receive(self, agent: Any) -> None:
        """Wait for the first batch to arrive and queue it; ask its worker for the next one."""
        timeout = max(self.timeout, STARTUP_TIMEOUT) if any(self.lost) else self.timeout
        ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        if not ready:
            late = ", ".join(str(k) for k in sorted(self.pending.values()))
            raise EnvError(
                f"worker {late} sent no transitions within {timeout:g} s (worker_timeout) - a "
                "hung environment or a lost node; raise worker_timeout for slow envs"
            )
        k = self.pending.pop(ready[0])
        try:
            self.queue.extend(ray.get(ready[0], timeout=timeout))
            self.tries[k], self.lost[k] = 0, False
        except ray.exceptions.RayTaskError as exc:
            self._failed = True  # the checkpoint keeps each worker's last good envs
            raise self._failure(k, "transitions", exc) from exc
        except ray.exceptions.RayActorError as exc:
            restarting = isinstance(exc, ray.exceptions.ActorUnavailableError)
            if not restarting:  # the process died (Ray restarts it)
                self.tries[k] += 1
                if self.tries[k] > MAX_RESTARTS:
                    raise EnvError(
                        f"worker {k} died {self.tries[k]} times while sending transitions: "
                        f"{' '.join(str(exc).split())[:200]}"
                    ) from exc
            if not self.lost[k]:
                self.lost[k] = True
                self.restarts += 1
                warnings.warn(
                    f"worker {k}'s process died; Ray restarts it and it is asked for "
                    "transitions again (its env copies begin new episodes)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            if restarting:
                time.sleep(0.2)  # ask again shortly
        self._request(k, agent)

    def close(self) -> None:
        self.pending.clear()
        super().close()

"""Behaviour cloning: supervised learning of a policy from demonstrated (state, action) pairs.

Pomerleau (1989), "ALVINN"; Bain & Sammut (1995), "A framework for behavioural cloning"; lecture
seed 003 ("Supervised Learning of Behaviors": it works, but suffers from distributional shift).
Given demonstrations D = {(s_i, a_i)} of an expert, one minibatch of N pairs minimizes

    L_NLL(theta) = -1/N sum_i log pi_theta(a_i | s_i)           loss = "log-likelihood"
    L_MSE(theta) =  1/N sum_i ||mu_theta(s_i) - a_i||^2          loss = "mse" (Box actions)

with pi_theta a categorical policy (Discrete actions) or a diagonal Gaussian with a learned,
state-independent log std (Box actions, in the policy's [-1, 1] action space where the bounds
are finite; demonstrated actions are mapped there by `ActionAdapter.from_env`). L_MSE is the
Gaussian NLL at unit variance, up to a factor 2 and a constant. Both losses are
`tidyrl.core.losses.behaviour_cloning_loss`, and `update` is one gradient step of it
(`tidyrl.algos.imitation.common.cloning_update`, DAgger's learner's step too).

No environment step is taken while learning: `learn(n)` runs n gradient steps (one minibatch
each), and `steps` in metrics.csv counts them. Evaluation plays the cloned policy in the env
like any agent (its mode by default). The learner only ever sees states the expert visited;
its own mistakes lead it to states the expert never showed it, where errors compound, O(T^2 eps)
over T steps (Ross & Bagnell 2010). DAgger (`dagger`) is the remedy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.imitation.common import build_cloner, cloning_update, read_demos, require_demos
from tidyrl.algos.policy_gradient.common import OBSERVATION_SPACES, act
from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.core.losses import BC_LOSSES
from tidyrl.data.demos import DemoBatch, Demos


@dataclass(frozen=True)
class BCConfig:
    demos: str = ""
    """Demonstrations: a file (or Minari dataset directory) written by `tidyrl demos collect`."""
    demo_episodes: int = 0
    """Use only the first N episodes of the demonstrations (0: all of them)."""
    loss: str = "log-likelihood"
    """log-likelihood (categorical or Gaussian NLL), or mse (Box actions: squared error of the
    Gaussian mean)."""
    batch_size: int = 64
    """Demonstrated pairs per gradient step."""
    lr: float = 1e-3
    """Adam learning rate."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the policy network."""
    activation: str = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""

    def __post_init__(self) -> None:
        require_demos(self)
        check_range(self, "demo_episodes", 0)
        check_choice(self, "loss", BC_LOSSES)
        check_range(self, "batch_size", 1)
        check_range(self, "lr", 0.0, low_open=True)
        check_hidden(self)


class BC(Agent):
    Config = BCConfig
    algo_id = "bc"
    observation_spaces = OBSERVATION_SPACES
    default_torch_threads = 1
    default_steps = 10_000
    """Gradient steps (BC takes no environment steps)."""

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        self.io, self.policy, self.optimizer = build_cloner(self)
        self._demos: Demos | None = None
        self.register_state("policy", "optimizer")

    @property
    def demos(self) -> Demos:
        """The demonstrations, read on first use (a saved agent acts without its demos file)
        and checked against this env's spaces."""
        if self._demos is None:
            self._demos = read_demos(self)
        return self._demos

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return act(self.policy, self.io, obs, deterministic)

    def update(self, batch: DemoBatch) -> dict[str, torch.Tensor]:
        """One gradient step of L_NLL or L_MSE (`behaviour_cloning_loss`) on one minibatch."""
        return cloning_update(self.policy, self.io, self.optimizer, batch, self.config.loss)

    def learn(self, total_steps: int) -> BC:
        demos = self.demos
        with self.training(total_steps):
            while not self.finished:
                metrics = self.update(demos.sample(self.config.batch_size, self.rng))
                self.counters["updates"] += 1
                self.tick(None, metrics, n_steps=1)
        return self

    def update_probe(self) -> Callable[[], object]:
        batch = self.demos.sample(self.config.batch_size, np.random.default_rng(0))
        return lambda: self.update(batch)

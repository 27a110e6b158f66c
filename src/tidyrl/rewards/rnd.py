"""Random network distillation (Burda et al. 2018, "Exploration by random network distillation").

A target network f, randomly initialised and never trained, embeds each observation; a predictor
f^ is trained to reproduce the embedding, and the agent is paid where it still cannot:

    L_rnd   = mean_j (f^(x)_j - f(x)_j)^2                         over the trained rows
    C(s')   = mean_j (f^(x)_j - f(x)_j)^2 / sigma_R,   x = clip((s' - mu) / sigma, -5, 5)

Details, each from the paper (section 2.4 and appendix A.3-A.4) or its released code:

- Observation normalization: x whitens the observation with a running mean mu and std sigma
  (updated in `observe` from every new observation once) and clips it to [-5, 5]; a random
  network's output scale otherwise depends on the raw units, and with pixels the embedding would
  barely vary between frames.
- Reward normalization: C is divided by sigma_R, a running standard deviation of the
  *intrinsic return* R_t = gamma_int R_{t-1} + C_raw,t, accumulated per env along time over the
  fresh experience in `observe` (rows time-major [T, n_envs]) and never reset at episode ends
  (the intrinsic return is non-episodic in the paper), so the bonus keeps a steady scale while
  the raw error shrinks.
- Single frame: with (C, H, W) frame stacks, target and predictor see only the newest frame (the
  paper's networks take one 84x84 frame, not the policy's stack of four).
- The predictor is deeper than the target (two more hidden layers, the paper's table 6), both
  orthogonally initialised with gain sqrt(2) as in the released code; `update_proportion` of each
  batch trains the predictor (the paper uses 0.25 with 128 envs to keep the predictor's batch
  from growing with the env count).
- Training schedule: in an on-policy learner the rollout is scored first, by the predictor that
  was current while it was collected, and the predictor then takes one Adam step per minibatch
  of the learner's, in each of its epochs (the paper optimizes L_rnd beside PPO's loss: 4
  epochs x 4 minibatches per rollout). Scoring after that training would pay the rollout's
  states as already familiar, and one step per rollout leaves the predictor nearly untrained.

`noveld_alpha` > 0 pays the *difference* of novelty instead (NovelD, Zhang et al. 2021, eq. 3):

    C(s, s') = max(e(s') - alpha e(s), 0) / sigma_R,   e = the raw error mean_j (f^ - f)^2

so a step into territory less explored than where it came from pays, and pacing inside a
novel region does not; NovelD pairs it with `episodic_gate=first_visit` and alpha 0.5.
`episodic_gate` (on-policy learners) multiplies C by a function of the visits to s' within
the current episode, as NovelD and NGU combine RND with an episodic count
(`tidyrl.rewards.count.EpisodicGate`); the running statistics stay those of the ungated error.

In an on-policy learner the bonus has the paper's semantics; in an off-policy learner each
sampled replay batch is scored with the current predictor and statistics (`observe` still sees
the collected stream in order, so sigma_R is the same statistic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.nets.mlp import mlp
from tidyrl.nets.optim import Adam
from tidyrl.rewards.base import ExperienceLike, RewardPlugin, frame_channels
from tidyrl.rewards.count import EPISODIC_GATES, episodic_gate


@dataclass(frozen=True)
class RNDConfig:
    intrinsic_coef: float = 1.0
    """beta: the learner learns from r + beta * C (the paper weighs extrinsic 2, intrinsic 1)."""
    rnd_lr: float = 1e-4
    """Adam learning rate of the predictor."""
    rnd_hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the target MLP on vector observations (the predictor adds two more)."""
    rnd_embedding: int = 512
    """Width of the embedding f(x)."""
    gamma_int: float = 0.99
    """Discount of the intrinsic return whose running std normalizes the bonus."""
    obs_clip: float = 5.0
    """Clip of the whitened observations, [-obs_clip, obs_clip]."""
    update_proportion: float = 1.0
    """Fraction of each batch's rows that train the predictor (the paper: 0.25 at 128 envs)."""
    noveld_alpha: float = 0.0
    """alpha of NovelD's max(e(s') - alpha e(s), 0) (0: the plain error e(s'))."""
    categorical_keys: tuple[str, ...] = ()
    """Keys of a Dict observation that hold integer indices rather than magnitudes (MiniGrid's
    ``image`` of object, colour and state indices): one-hot per element before whitening
    (`tidyrl.rewards.base.DictView`), so that each value is a column of its own, not a point on
    a scale that the whitening and the networks would read as a magnitude."""
    episodic_gate: str = "none"
    """none, first_visit (pay C only at a state's first visit in the episode: NovelD),
    inverse_sqrt (C / sqrt(n_episode)) or ngu (1 / sqrt(n_episode) times C's modulation, NGU's
    eq. 1); on-policy learners only (`tidyrl.rewards.count.EpisodicGate`)."""

    def __post_init__(self) -> None:
        check_range(self, "intrinsic_coef", 0.0)
        check_range(self, "rnd_lr", 0.0, low_open=True)
        check_hidden(self, "rnd_hidden")
        check_range(self, "rnd_embedding", 1)
        check_range(self, "gamma_int", 0.0, 1.0)
        check_range(self, "obs_clip", 0.0, low_open=True)
        check_range(self, "update_proportion", 0.0, 1.0, low_open=True)
        check_range(self, "noveld_alpha", 0.0)
        check_choice(self, "episodic_gate", EPISODIC_GATES)


def rnd_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean_j (f^(x)_j - f(x)_j)^2 per row [B]: the raw bonus and the predictor's loss terms."""
    return (prediction - target).square().mean(dim=1)


def noveld_error(next_error: torch.Tensor, error: torch.Tensor, alpha: float) -> torch.Tensor:
    """max(e(s') - alpha e(s), 0) per row [B]: NovelD's difference of novelty."""
    return (next_error - alpha * error).clamp(min=0.0)


def intrinsic_returns(rewards: torch.Tensor, returns: torch.Tensor, gamma: float) -> torch.Tensor:
    """R_t = gamma R_{t-1} + r_t per env along time for rewards [T, N], starting from `returns`
    [N] (updated in place to R_T); returns all R_t [T, N]. No resets: the return is
    non-episodic."""
    out = torch.empty_like(rewards)
    for t in range(len(rewards)):
        returns.mul_(gamma).add_(rewards[t])
        out[t] = returns
    return out


def orthogonal(module: nn.Module) -> nn.Module:
    """Orthogonal weights with gain sqrt(2) and zero biases on every Linear and Conv2d."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            nn.init.orthogonal_(layer.weight, 2**0.5)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def rnd_network(shape: tuple[int, ...], hidden: tuple[int, ...], out: int, extra: int) -> nn.Module:
    """The target (extra = 0) or predictor (extra = 2 more hidden layers) network: for a frame
    (C, H, W) the paper's three leaky-ReLU convolutions (32 8x8 s4, 64 4x4 s2, 64 3x3 s1) and
    linear layers of width `out`; for vectors an MLP over `hidden`."""
    if len(shape) != 3:
        return orthogonal(mlp(int(np.prod(shape)), (*hidden, *hidden[-1:] * extra), out))
    c, h, w = shape
    convs = nn.Sequential(
        nn.Conv2d(c, 32, 8, stride=4),
        nn.LeakyReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.LeakyReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.LeakyReLU(),
        nn.Flatten(),
    )
    with torch.no_grad():
        width = int(convs(torch.zeros(1, c, h, w)).shape[1])
    head = mlp(width, (out,) * extra, out) if extra else nn.Linear(width, out)
    return orthogonal(nn.Sequential(convs, head))


class RND(RewardPlugin):
    """A fixed random target f, a trained predictor f^, and the normalized error as the bonus."""

    Config = RNDConfig
    name = "rnd"
    replaces_env_reward = False
    trains_on_minibatches = True

    config: RNDConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # config, spaces, env id, generator, n_envs
        cfg, shape = self.config, tuple(self.observation_space.shape or (1,))
        self.frame = frame_channels(self.observation_space, self.env_id)
        if self.frame:
            shape = (self.frame, *shape[1:])  # the newest frame only
        self.target = rnd_network(shape, cfg.rnd_hidden, cfg.rnd_embedding, 0)
        self.target.requires_grad_(False)
        self.predictor = rnd_network(shape, cfg.rnd_hidden, cfg.rnd_embedding, 2)
        self.optimizer = Adam(self.predictor.parameters(), lr=cfg.rnd_lr)
        self.obs_norm = RunningMeanStd(shape)
        self.return_norm = RunningMeanStd(())
        self.returns = torch.zeros(self.n_envs, dtype=torch.float64)
        """The per-env intrinsic return R_t (a tensor: checkpoints keep it)."""
        self.gate = episodic_gate(self)

    def state_objects(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "predictor": self.predictor,
            "optimizer": self.optimizer,
            "obs_norm": self.obs_norm,
            "return_norm": self.return_norm,
            "returns": self.returns,
            **(self.gate.state_objects() if self.gate else {}),
        }

    def frames(self, obs: torch.Tensor) -> torch.Tensor:
        """The observation the networks see: the newest frame of a stack, else the whole."""
        x = self.obs_batch(obs)
        return x[:, -self.frame :] if self.frame else x.reshape(len(x), -1)

    def inputs(self, obs: torch.Tensor) -> torch.Tensor:
        """x = clip((s - mu) / sigma, -obs_clip, obs_clip)."""
        return self.obs_norm.normalize(self.frames(obs), self.config.obs_clip)

    def raw_bonus(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.inputs(obs)
        return rnd_error(self.predictor(x), self.target(x))

    @torch.no_grad()
    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        """Merge the new observations into (mu, sigma), then their raw bonuses, accumulated
        into each env's intrinsic return, into sigma_R."""
        self.obs_norm.update(self.frames(batch.next_obs))
        raw = self.raw_bonus(batch.next_obs).double().reshape(-1, n_envs)
        self.return_norm.update(intrinsic_returns(raw, self.returns, self.config.gamma_int))
        if self.gate:
            self.gate.observe(batch, n_envs)

    @torch.no_grad()
    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        sigma = torch.sqrt(self.return_norm.var + 1e-8).float()
        error = self.raw_bonus(batch.next_obs)
        if self.config.noveld_alpha > 0:
            error = noveld_error(error, self.raw_bonus(batch.obs), self.config.noveld_alpha)
        bonus = error / sigma
        return self.gate(batch, bonus) if self.gate else bonus

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """One Adam step on L_rnd over a random `update_proportion` of the batch's rows."""
        x = self.inputs(batch.next_obs)
        keep = max(1, round(self.config.update_proportion * len(x)))
        rows = torch.as_tensor(self.rng.permutation(len(x))[:keep])
        loss = rnd_error(self.predictor(x[rows]), self.target(x[rows])).mean()
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return {"rnd_loss": loss.detach()}

"""Dreamer (DreamerV3): learning behaviours by latent imagination in a learned world model.

Hafner et al. 2020, "Dream to Control: Learning Behaviors by Latent Imagination" (lecture seed
004 ends with it), in the form of Hafner et al. 2023, "Mastering Diverse Domains through World
Models" (DreamerV3, arXiv:2301.04104; equation numbers below are that paper's).

World model (an RSSM; s_t = (h_t, z_t), z_t = G categoricals of C classes, one-hot):

    h_t = f(h_{t-1}, z_{t-1}, a_{t-1})       sequence model (GRU)       reset where is_first
    z_t ~ q(z_t | h_t, x_t)                  encoder / posterior        (unimix 1%)
    z^_t ~ p(z^_t | h_t)                     dynamics predictor / prior (unimix 1%)
    x^_t, r^_t, c^_t                         decoder, reward and continue heads on s_t

    L_model = E_t[ L_pred + 0.5 L_dyn + 0.1 L_rep ]                                        (eq. 5)
    L_pred  = ||decoder(s_t) - symlog(x_t)||^2 + twohot_loss(r^_t, r_t) + BCE(c^_t, 1 - term_t)
    L_dyn, L_rep = `tidyrl.core.latents.kl_balance` (free bits: 1 nat)

(pixels are regressed as x / 255 - 0.5 rather than symlogged.) Actor and critic learn on
trajectories imagined from every posterior state of the batch, H = 15 steps ahead with the
prior, under the actor's own actions:

    R_t  = r_t + gamma c_t ((1 - lambda) v(s_{t+1}) + lambda R_{t+1})   (core.returns)
    S    = EMA_0.99(Per(R, 95) - Per(R, 5))                             (core.normalize)
    L_actor  = -E_t[ w_t ( sg((R_t - v(s_t)) / max(1, S)) log pi(a_t|s_t) + eta H(pi(.|s_t)) ) ]
    L_critic =  E_t[ w_t ( twohot_loss(v_t, sg(R_t)) + twohot_loss(v_t, sg(v'(s_t))) ) ]

with w_t = prod_{i<=t} c_i the probability that the imagined episode is still running, v the
critic's two-hot prediction (`core.symlog`), returns computed with the current critic and the
critic regularised toward v', an EMA (rate 0.02) of its own parameters (Sec. 3, "Critic
learning"). The actor's gradient is REINFORCE for discrete and continuous actions alike (the
journal version of DreamerV3, Hafner et al. 2025, Nature 640), so imagination runs without a
graph through the world model: only the actor and critic heads are differentiated.

Hyper-parameters (the paper's appendix table): batch 16 x 64 steps, replay 1e6, horizon 15,
gamma 0.997, lambda 0.95, eta 3e-4, world-model Adam lr 1e-4 (eps 1e-8, clip 1000), actor and
critic lr 3e-5 (eps 1e-5, clip 100), LayerNorm + SiLU everywhere; the reward and critic output
layers start at zero. `train_ratio` is replayed steps per environment step (512 for DMC). Sizes
are presets (`xs`, `s`, `m`: GRU units, hidden units, MLP layers, CNN depth; `xs` with 16 x 16
latents instead of 32 x 32, for CPUs). Data flow through `tidyrl.data.sequence_replay`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tidyrl.agent import Agent
from tidyrl.config import check_range
from tidyrl.core.latents import kl_balance, straight_through_sample, unimix_logits
from tidyrl.core.normalize import ReturnScale
from tidyrl.core.returns import lambda_returns
from tidyrl.core.squashed import scale_action, unscale_action
from tidyrl.core.symlog import symlog, twohot_bins, twohot_decode, twohot_loss
from tidyrl.core.targets import polyak_update
from tidyrl.data.sequence_replay import SequenceBatch, SequenceReplay
from tidyrl.errors import EnvError
from tidyrl.nets.optim import Adam


@dataclass(frozen=True)
class DreamerConfig:
    n_envs: int = 1
    """Parallel environment copies."""
    buffer_size: int = 1_000_000
    """Replay capacity in observation rows."""
    batch_size: int = 16
    """Sequences per update."""
    seq_len: int = 64
    """Steps per sequence."""
    train_ratio: float = 512.0
    """Replayed steps per environment step: one update every batch_size * seq_len / train_ratio
    environment steps."""
    learning_starts: int = 5000
    """Steps of uniformly random actions before the first update."""
    deter: int = 512
    """GRU units of the sequence model (h_t)."""
    hidden: int = 512
    """Hidden units of every MLP."""
    layers: int = 2
    """Hidden layers of every MLP."""
    groups: int = 32
    """Categorical variables in z_t."""
    classes: int = 32
    """Classes of each categorical variable."""
    cnn_depth: int = 32
    """Channels of the first conv layer (pixels; doubled at each of the 4 layers)."""
    unimix: float = 0.01
    """Uniform mixture of every categorical (latents and discrete actions)."""
    free_nats: float = 1.0
    """Free bits: KL below this many nats per state is not penalised."""
    beta_dyn: float = 0.5
    """Weight of the dynamics KL term."""
    beta_rep: float = 0.1
    """Weight of the representation KL term."""
    horizon: int = 15
    """Imagination horizon H."""
    gamma: float = 0.997
    """Discount factor."""
    lam: float = 0.95
    """lambda of the lambda-returns."""
    entropy: float = 3e-4
    """Actor entropy bonus eta."""
    return_decay: float = 0.99
    """EMA decay of the return scale S."""
    slow_critic_rate: float = 0.02
    """Polyak rate of the slow critic v'."""
    slow_critic_reg: float = 1.0
    """Weight of the critic's regulariser toward v'."""
    model_lr: float = 1e-4
    """Adam learning rate of the world model."""
    actor_lr: float = 3e-5
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-5
    """Adam learning rate of the critic."""
    model_grad_clip: float = 1000.0
    """Global gradient-norm clip of the world model."""
    ac_grad_clip: float = 100.0
    """Global gradient-norm clip of actor and critic."""

    def __post_init__(self) -> None:
        for name in ("n_envs", "batch_size", "seq_len", "deter", "hidden", "groups", "horizon"):
            check_range(self, name, 1)
        check_range(self, "buffer_size", 2)
        check_range(self, "classes", 2)
        check_range(self, "layers", 0)
        check_range(self, "cnn_depth", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "train_ratio", 0.0, low_open=True)
        check_range(self, "unimix", 0.0, 1.0)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "lam", 0.0, 1.0)
        check_range(self, "return_decay", 0.0, 1.0)
        check_range(self, "slow_critic_rate", 0.0, 1.0, low_open=True)
        for name in ("model_lr", "actor_lr", "critic_lr"):
            check_range(self, name, 0.0, low_open=True)

    @property
    def stoch(self) -> int:
        """Width of the flattened z_t."""
        return self.groups * self.classes

    @property
    def updates_per_step(self) -> float:
        """Updates per environment step (train_ratio / replayed steps per update)."""
        return self.train_ratio / (self.batch_size * self.seq_len)


def dense(
    in_dim: int, width: int, layers: int, out_dim: int, zero_out: bool = False
) -> nn.Sequential:
    """`layers` x (Linear -> LayerNorm -> SiLU), then a Linear output (zero-initialised for the
    reward and critic heads, so their first predictions are 0)."""
    blocks: list[nn.Module] = []
    for _ in range(layers):
        blocks += [nn.Linear(in_dim, width, bias=False), nn.LayerNorm(width), nn.SiLU()]
        in_dim = width
    out = nn.Linear(in_dim, out_dim)
    if zero_out:
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
    return nn.Sequential(*blocks, out)


def conv_stack(depth: int, transpose: bool) -> list[nn.Module]:
    """Four stride-2 4x4 convolutions, channels depth x (1, 2, 4, 8) (reversed to 3 when
    transposed), GroupNorm(1) + SiLU between them: 64x64 <-> 4x4."""
    chans = [3, depth, 2 * depth, 4 * depth, 8 * depth]
    if transpose:
        chans = chans[::-1]
    layers: list[nn.Module] = []
    for i in range(4):
        conv = nn.ConvTranspose2d if transpose else nn.Conv2d
        layers.append(conv(chans[i], chans[i + 1], 4, 2, 1))
        if not (transpose and i == 3):
            layers += [nn.GroupNorm(1, chans[i + 1]), nn.SiLU()]
    return layers


class WorldModel(nn.Module):
    """Encoder, RSSM (sequence model, posterior, prior), decoder, reward and continue heads."""

    def __init__(self, obs_shape: tuple[int, ...], act_dim: int, cfg: DreamerConfig) -> None:
        super().__init__()
        self.cfg, self.act_dim = cfg, act_dim
        self.pixels = len(obs_shape) == 3
        feat = cfg.deter + cfg.stoch
        if self.pixels:
            if obs_shape[0] != 3 or obs_shape[1:] != (64, 64):
                raise EnvError(f"dreamer reads 3x64x64 pixels, got {obs_shape}")
            flat = 8 * cfg.cnn_depth * 4 * 4
            self.encoder: nn.Module = nn.Sequential(*conv_stack(cfg.cnn_depth, False), nn.Flatten())
            self.decoder: nn.Module = nn.Sequential(
                nn.Linear(feat, flat),
                nn.Unflatten(1, (8 * cfg.cnn_depth, 4, 4)),
                *conv_stack(cfg.cnn_depth, True),
            )
            embed = flat
        else:
            obs_dim = int(np.prod(obs_shape))
            self.encoder = dense(obs_dim, cfg.hidden, cfg.layers, cfg.hidden)
            self.decoder = dense(feat, cfg.hidden, cfg.layers, obs_dim)
            embed = cfg.hidden
        self.img_in = dense(cfg.stoch + act_dim, cfg.hidden, 0, cfg.hidden)
        self.gru = nn.GRUCell(cfg.hidden, cfg.deter)
        self.prior = dense(cfg.deter, cfg.hidden, 1, cfg.stoch)
        self.posterior = dense(cfg.deter + embed, cfg.hidden, 1, cfg.stoch)
        self.reward = dense(feat, cfg.hidden, cfg.layers, 255, zero_out=True)
        self.cont = dense(feat, cfg.hidden, cfg.layers, 1)

    def initial(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, z) = zeros: the state before an episode's first observation."""
        cfg = self.cfg
        return torch.zeros(n, cfg.deter, device=device), torch.zeros(n, cfg.stoch, device=device)

    def log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Unimixed log-probabilities [..., G, C] of flat logits [..., G * C]."""
        shape = (*logits.shape[:-1], self.cfg.groups, self.cfg.classes)
        return unimix_logits(logits.reshape(shape), self.cfg.unimix)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        """e_t = encoder(x_t) for a batch of observations [N, ...]."""
        if self.pixels:
            return self.encoder(obs.float() / 255.0 - 0.5)
        return self.encoder(symlog(obs.float()))

    def target(self, obs: torch.Tensor) -> torch.Tensor:
        """What the decoder regresses: symlog(x) (vectors) or x / 255 - 0.5 (pixels)."""
        return obs.float() / 255.0 - 0.5 if self.pixels else symlog(obs.float())

    def step(self, h: torch.Tensor, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """h_t = f(h_{t-1}, z_{t-1}, a_{t-1})."""
        return self.gru(self.img_in(torch.cat([z, action], -1)), h)

    def sample(self, log_probs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """z as one flat one-hot vector per row: a straight-through sample (or the mode)."""
        if deterministic:
            z = F.one_hot(log_probs.argmax(-1), self.cfg.classes).to(log_probs.dtype)
        else:
            z = straight_through_sample(log_probs)
        return z.flatten(-2)

    def observe_step(
        self,
        h: torch.Tensor,
        z: torch.Tensor,
        action: torch.Tensor,
        embed: torch.Tensor,
        is_first: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One filtering step: reset where `is_first`, advance h, sample z from the posterior.
        Returns (h_t, z_t, posterior logits)."""
        keep = (1.0 - is_first).unsqueeze(-1)
        h = self.step(h * keep, z * keep, action * keep)
        post_logits = self.posterior(torch.cat([h, embed], -1))
        return h, self.sample(self.log_probs(post_logits), deterministic), post_logits

    def observe(
        self, batch: SequenceBatch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posterior states of a batch of sequences, time-major: h, z [T, B, .], and the
        posterior and prior logits [T, B, G * C]."""
        b, t = batch.rewards.shape
        embed = self.embed(batch.obs.flatten(0, 1)).reshape(b, t, -1).transpose(0, 1)
        actions, firsts = batch.actions.transpose(0, 1), batch.is_first.transpose(0, 1)
        h, z = self.initial(b, embed.device)
        hs, zs, posts = [], [], []
        for i in range(t):
            h, z, post = self.observe_step(h, z, actions[i], embed[i], firsts[i])
            hs.append(h)
            zs.append(z)
            posts.append(post)
        h_all = torch.stack(hs)
        # the prior reads h_t only: one batched call after the loop
        return h_all, torch.stack(zs), torch.stack(posts), self.prior(h_all)


def world_model_loss(
    model: WorldModel, batch: SequenceBatch, bins: torch.Tensor, cfg: DreamerConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """L_model of the module docstring, averaged over batch and time; also the posterior
    features [T, B, F] (the starts of imagination) and the loss terms for logging."""
    h, z, post_logits, prior_logits = model.observe(batch)
    feat = torch.cat([h, z], -1)
    obs = batch.obs.transpose(0, 1)
    recon = model.decoder(feat.flatten(0, 1)).reshape(*feat.shape[:2], *obs.shape[2:])
    recon_loss = (recon - model.target(obs)).pow(2).flatten(2).sum(-1)
    reward_loss = twohot_loss(model.reward(feat), batch.rewards.transpose(0, 1), bins)
    cont_target = 1.0 - batch.is_terminal.transpose(0, 1)
    cont_loss = F.binary_cross_entropy_with_logits(
        model.cont(feat)[..., 0], cont_target, reduction="none"
    )
    dyn, rep, kl = kl_balance(
        model.log_probs(post_logits), model.log_probs(prior_logits), cfg.free_nats
    )
    loss = (recon_loss + reward_loss + cont_loss + cfg.beta_dyn * dyn + cfg.beta_rep * rep).mean()
    terms = {
        "recon_loss": recon_loss.mean().detach(),
        "reward_loss": reward_loss.mean().detach(),
        "cont_loss": cont_loss.mean().detach(),
        "kl": kl.mean(),
    }
    return loss, terms, feat


class Actor(nn.Module):
    """pi(a | s): unimixed categorical logits (Discrete) or a Gaussian with mean tanh(m) and
    std in [0.1, 1] (Box, actions in the unit box), on the features s = (h, z)."""

    def __init__(self, feat: int, act_dim: int, discrete: bool, cfg: DreamerConfig) -> None:
        super().__init__()
        self.discrete, self.act_dim, self.unimix = discrete, act_dim, cfg.unimix
        self.net = dense(feat, cfg.hidden, cfg.layers, act_dim if discrete else 2 * act_dim)

    def dist(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(unimixed log-probabilities, raw logits) [.., A] for Discrete; (mean, std) for Box."""
        out = self.net(feat)
        if self.discrete:
            return unimix_logits(out, self.unimix), out
        mean, std = out.chunk(2, -1)
        return torch.tanh(mean), 0.9 * torch.sigmoid(std + 2.0) + 0.1

    def sample(self, feat: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """An action: a one-hot vector (Discrete) or a vector clipped to [-1, 1] (Box)."""
        a, b = self.dist(feat)
        if self.discrete:
            index = a.argmax(-1) if deterministic else torch.multinomial(a.exp(), 1)[:, 0]
            return F.one_hot(index, self.act_dim).to(feat.dtype)
        action = a if deterministic else a + b * torch.randn_like(a)
        return action.clamp(-1.0, 1.0)

    def log_prob_entropy(
        self, feat: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a | s) and H(pi(. | s))."""
        a, b = self.dist(feat)
        if self.discrete:
            return (a * action).sum(-1), -(a.exp() * a).sum(-1)
        normal = torch.distributions.Normal(a, b)
        return normal.log_prob(action).sum(-1), normal.entropy().sum(-1)


def actor_loss(
    logp: torch.Tensor,
    entropy: torch.Tensor,
    returns: torch.Tensor,
    values: torch.Tensor,
    scale: torch.Tensor,
    weights: torch.Tensor,
    eta: float,
) -> torch.Tensor:
    """-E[w_t (sg((R_t - v_t) / max(1, S)) log pi(a_t|s_t) + eta H_t)]."""
    advantages = ((returns - values) / scale).detach()
    return -(weights * (advantages * logp + eta * entropy)).mean()


def critic_loss(
    logits: torch.Tensor,
    returns: torch.Tensor,
    slow_values: torch.Tensor,
    weights: torch.Tensor,
    bins: torch.Tensor,
    reg: float,
) -> torch.Tensor:
    """E[w_t (twohot_loss(v_t, R_t) + reg * twohot_loss(v_t, v'_t))]."""
    loss = twohot_loss(logits, returns, bins) + reg * twohot_loss(logits, slow_values, bins)
    return (weights * loss).mean()


class _Memory:
    """The training envs' latent state (h, z) and previous action between steps, a run state."""

    def __init__(self, h: torch.Tensor, z: torch.Tensor, act_dim: int) -> None:
        self.h, self.z = h, z
        self.action = torch.zeros(len(h), act_dim)
        self.is_first = torch.ones(len(h))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k).cpu().numpy() for k in ("h", "z", "action", "is_first")}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for k in ("h", "z", "action", "is_first"):
            value = torch.as_tensor(np.array(arrays[k], dtype=np.float32))
            setattr(self, k, value.to(getattr(self, k).device))


class Dreamer(Agent):
    """DreamerV3 for Box (vector or 3x64x64 pixel) observations, Discrete or Box actions."""

    Config = DreamerConfig
    algo_id = "dreamer"
    observation_spaces = (gym.spaces.Box,)
    action_spaces = (gym.spaces.Discrete, gym.spaces.Box)
    default_steps = 100_000
    default_torch_threads = 1
    recurrent = True
    """Acting needs the latent state of earlier steps (export refuses it)."""
    PRESETS = {
        # Hafner et al. 2023, model-size table (latents 16 x 16 at xs: a CPU-sized model)
        "xs": {
            "deter": 256,
            "hidden": 256,
            "layers": 1,
            "cnn_depth": 24,
            "groups": 16,
            "classes": 16,
        },
        "s": {"deter": 512, "hidden": 512, "layers": 2, "cnn_depth": 32},
        "m": {"deter": 1024, "hidden": 640, "layers": 3, "cnn_depth": 48},
        # xs, a shorter prefill and faster learning rates: CartPole-v1 and DMC proprio on a CPU
        "cpu": {
            "deter": 128,
            "hidden": 128,
            "layers": 1,
            "cnn_depth": 16,
            "groups": 16,
            "classes": 16,
            "seq_len": 32,
            "learning_starts": 1000,
            "train_ratio": 64.0,
            "model_lr": 3e-4,
            "actor_lr": 1e-4,
            "critic_lr": 1e-4,
        },
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        space = self.observation_space
        obs_shape = tuple(space.shape or ())
        if not (len(obs_shape) == 1 or (len(obs_shape) == 3 and space.dtype == np.uint8)):
            raise EnvError(f"dreamer reads vector or 3x64x64 uint8 observations, got {space}")
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        if self.discrete:
            self.act_dim = int(self.action_space.n)
        else:
            self.act_dim = int(np.prod(self.action_space.shape))
            self.low, self.high = self.action_space.low, self.action_space.high
        feat = cfg.deter + cfg.stoch
        self.world_model = WorldModel(obs_shape, self.act_dim, cfg).to(self.device)
        self.actor = Actor(feat, self.act_dim, self.discrete, cfg).to(self.device)
        self.critic = dense(feat, cfg.hidden, cfg.layers, 255, zero_out=True).to(self.device)
        self.slow_critic = dense(feat, cfg.hidden, cfg.layers, 255).to(self.device)
        self.slow_critic.load_state_dict(self.critic.state_dict())
        self.slow_critic.requires_grad_(False)
        self.return_scale = ReturnScale(cfg.return_decay).to(self.device)
        self.bins = twohot_bins(device=self.device)
        self.model_opt = Adam(
            self.world_model.parameters(), cfg.model_lr, eps=1e-8, max_grad_norm=cfg.model_grad_clip
        )
        self.actor_opt = Adam(
            self.actor.parameters(), cfg.actor_lr, eps=1e-5, max_grad_norm=cfg.ac_grad_clip
        )
        self.critic_opt = Adam(
            self.critic.parameters(), cfg.critic_lr, eps=1e-5, max_grad_norm=cfg.ac_grad_clip
        )
        self.replay = SequenceReplay(cfg.buffer_size, space, self.act_dim, cfg.n_envs, self.device)
        self.memory = _Memory(*self.world_model.initial(cfg.n_envs, self.device), self.act_dim)
        self.updates_due = 0.0
        """Fractional updates owed to the train ratio (carried between steps)."""
        self._act_state: tuple[torch.Tensor, ...] | None = None
        self.register_state(
            "world_model",
            "actor",
            "critic",
            "slow_critic",
            "return_scale",
            "model_opt",
            "actor_opt",
            "critic_opt",
        )
        self.register_run_state("replay", "memory")

    # -- acting -------------------------------------------------------------------------------
    def reset_memory(self) -> None:
        """Forget the acting state: the next `act`/`predict` starts new episodes."""
        self._act_state = None

    @torch.no_grad()
    def _policy_step(
        self, obs: Any, state: tuple[torch.Tensor, ...], deterministic: bool
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Filter one observation per row into the latent state, then act on it. `state` is
        (h, z, previous action, is_first). Returns the action codes and the new state."""
        h, z, prev, first = state
        wm = self.world_model
        x = torch.as_tensor(np.asarray(obs), device=self.device)
        h, z, _ = wm.observe_step(h, z, prev, wm.embed(x), first, deterministic)
        action = self.actor.sample(torch.cat([h, z], -1), deterministic)
        return action, (h, z, action, torch.zeros_like(first))

    def _to_env(self, codes: np.ndarray) -> np.ndarray:
        if self.discrete:
            return codes.argmax(-1)
        return scale_action(codes, self.low, self.high)

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations, each row continuing the latent state of the
        previous call's row (a fresh state after `reset_memory` or a change of batch size)."""
        n = len(obs)
        state = self._act_state
        if state is None or state[0].shape[0] != n:
            h, z = self.world_model.initial(n, self.device)
            state = (
                h,
                z,
                torch.zeros(n, self.act_dim, device=self.device),
                torch.ones(n, device=self.device),
            )
        codes, self._act_state = self._policy_step(obs, state, deterministic)
        return self._to_env(codes.cpu().numpy())

    # -- learning -----------------------------------------------------------------------------
    def imagine(self, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Roll the prior H steps from posterior features `start` [N, F] under the actor's
        actions, without a graph: features [H + 1, N, F] and actions [H, N, A]."""
        cfg, wm = self.config, self.world_model
        h, z = start.split([cfg.deter, cfg.stoch], -1)
        feats, actions = [start], []
        with torch.no_grad():
            for _ in range(cfg.horizon):
                action = self.actor.sample(feats[-1])
                h = wm.step(h, z, action)
                z = wm.sample(wm.log_probs(wm.prior(h)))
                feats.append(torch.cat([h, z], -1))
                actions.append(action)
        return torch.stack(feats), torch.stack(actions)

    def update(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """One step on L_model, then one on L_actor and L_critic over imagined trajectories
        starting from every posterior state of the batch; the slow critic tracks."""
        cfg, wm = self.config, self.world_model
        model_loss, terms, post = world_model_loss(wm, batch, self.bins, cfg)
        self.model_opt.zero_grad(set_to_none=True)
        model_loss.backward()
        self.model_opt.step()

        start = post.detach().flatten(0, 1)
        feats, actions = self.imagine(start)
        critic_logits = self.critic(feats)  # the values of the returns, and the critic's loss
        with torch.no_grad():
            rewards = twohot_decode(wm.reward(feats[1:]), self.bins)
            continues = torch.sigmoid(wm.cont(feats[1:])[..., 0])
            values = twohot_decode(critic_logits.detach(), self.bins)
            slow_values = twohot_decode(self.slow_critic(feats[:-1]), self.bins)
            returns = lambda_returns(rewards, values, continues, cfg.gamma, cfg.lam)
            first_cont = 1.0 - batch.is_terminal.transpose(0, 1).flatten()
            weights = torch.cumprod(torch.cat([first_cont[None], continues[:-1]]), 0)
            scale = self.return_scale.update(returns)
        logp, entropy = self.actor.log_prob_entropy(feats[:-1], actions)
        loss_pi = actor_loss(logp, entropy, returns, values[:-1], scale, weights, cfg.entropy)
        loss_v = critic_loss(
            critic_logits[:-1], returns, slow_values, weights, self.bins, cfg.slow_critic_reg
        )
        self.actor_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        (loss_pi + loss_v).backward()
        self.actor_opt.step()
        self.critic_opt.step()
        polyak_update(self.critic, self.slow_critic, cfg.slow_critic_rate)
        return {
            "model_loss": model_loss.detach(),
            **terms,
            "actor_loss": loss_pi.detach(),
            "critic_loss": loss_v.detach(),
            "entropy": entropy.mean().detach(),
            "imagined_return": returns.mean(),
            "return_scale": scale,
        }

    def _collect_step(self) -> Any:
        """One vector step: the policy's action (uniformly random ones during the prefill, the
        latent state following the episodes all the same); store it."""
        memory = self.memory
        state_in = (memory.h, memory.z, memory.action, memory.is_first)
        codes_t, (h, z, _, _) = self._policy_step(self.env.obs, state_in, False)
        if self.counters["steps"] < self.config.learning_starts:
            env_actions = self.env.sample_actions()
            if self.discrete:
                codes = np.eye(self.act_dim, dtype=np.float32)[env_actions]
            else:
                codes = unscale_action(env_actions, self.low, self.high).astype(np.float32)
            codes_t = torch.as_tensor(codes, device=self.device)
        else:
            codes = codes_t.cpu().numpy()
            env_actions = self._to_env(codes)
        step = self.env.step(env_actions)
        self.replay.add(codes, step)
        memory.h, memory.z, memory.action = h, z, codes_t
        memory.is_first = torch.as_tensor(step.dones, dtype=torch.float32, device=self.device)
        return step

    def learn(self, total_steps: int) -> Dreamer:
        cfg = self.config
        with self.training(total_steps):
            if not self.replay.started:
                self.replay.start(np.asarray(self.env.obs))
                every = 1.0 / cfg.updates_per_step
                self._message(
                    f"dreamer: {cfg.learning_starts} random prefill steps, then one update "
                    f"every {every:g} env steps (train_ratio {cfg.train_ratio:g})"
                )
            while not self.finished:
                step = self._collect_step()
                self.tick(step, self._train_due())
        return self

    def _train_due(self) -> dict[str, torch.Tensor] | None:
        """The updates the train ratio owes after this step (none during the prefill); the
        metrics of the last one."""
        cfg, counters = self.config, self.counters
        if counters["steps"] < cfg.learning_starts or not self.replay.can_sample(cfg.seq_len):
            return None
        metrics = None
        self.updates_due += cfg.updates_per_step * self.env.n_envs
        while self.updates_due >= 1.0:
            self.updates_due -= 1.0
            metrics = self.update(self.replay.sample(cfg.batch_size, cfg.seq_len, self.rng))
            counters["updates"] += 1
            if counters["updates"] in (1, 10, 100):  # a run never looks frozen
                self._message(f"dreamer: update {counters['updates']} at step {counters['steps']}")
        return metrics

    def _message(self, text: str) -> None:
        if self._logger is not None:
            self._logger.message(text)

    def update_probe(self) -> Any:
        """One update on a fixed batch of the replay (None while it holds no whole sequence)."""
        cfg = self.config
        if not self.replay.can_sample(cfg.seq_len):
            return None
        batch = self.replay.sample(cfg.batch_size, cfg.seq_len, np.random.default_rng(0))
        return lambda: self.update(batch)

    def extra_state(self) -> dict[str, Any]:
        return {"updates_due": self.updates_due}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.updates_due = float(state.get("updates_due", 0.0))

"""World Models: V (a VAE), M (an MDN-RNN) and C (a linear controller evolved by CMA-ES).

Ha & Schmidhuber (2018), "World Models" (arXiv:1803.10122; NeurIPS version "Recurrent World
Models Facilitate Policy Evolution"); lecture seed 004 ("World models: model environment using
neural networks", a state encoder, a transition model p(z_t | z_{t-1}, a_{t-1}) and a reward
model, "training by dreaming"). One run goes through four phases, each resumable:

    1. collect   `rollouts` episodes of uniformly random actions in the real environment
    2. V         fit the VAE on every collected frame: L_V = recon + max(kl, kl_tolerance)
                 (`tidyrl.models.vae.vae_loss`); z = mu + exp(logvar / 2) eps
    3. M         fit the MDN-RNN on the episodes' codes: L_M = nll(z_{t+1}) + (r_t - r^_t)^2
                 + BCE(d^_t, terminated_t) (`tidyrl.models.mdn_rnn.mdn_rnn_loss`), each z drawn
                 afresh from q(z | x) for every minibatch, as the paper does
    4. C         a_t = C([z_t, h_t]) = W_c [z_t, h_t] + b_c (argmax for Discrete actions, tanh
                 rescaled to the bounds for Box); h_{t+1} = LSTM(z_t, phi(a_t), h_t). The flat
                 vector theta = (W_c, b_c) is evolved by CMA-ES (the `cma` package, ask/tell):
                 each generation asks `popsize` candidates, scores each by its mean return over
                 `candidate_rollouts` episodes, and tells cma the negated scores.

Candidates are scored in parallel worker processes (`tidyrl.loops.process_pool`), each holding V
and M read-only. By default a candidate plays real episodes. With `dream=true` it plays inside M
instead (the paper's Doom experiment): from the code of a real first frame, each step samples
z_{t+1} and done from M at temperature tau (`tidyrl.models.mdn_rnn.sample_mdn`) and earns M's
predicted reward r^_t, until a sampled done or `dream_max_steps`; after every generation the CMA
mean is played for `real_check_episodes` real episodes (the return is logged as `real_return`).

Iterative training (`iterations` > 1, the paper's procedure for tasks random play does not cover:
"rollout to actual environment N times ... train M ... train C inside of M ... go back if the task
has not been completed"): after a round's generations, `iteration_rollouts` more real episodes
are collected with C acting (a random action with probability `collect_epsilon`), M is refitted
on all episodes from its weights, and CMA-ES restarts from the last mean. Random play on CartPole
never moves the cart far from the centre, so a controller evolved in that dream lets the cart
drift off where M has seen nothing; C's own episodes show M that part of the track.

The acting policy is the CMA-ES mean. Vector observations: V is the identity on observations
standardised by the collected data's mean and standard deviation (a 4-number CartPole state is
already a compact code; `vector_vae=true` fits an MLP VAE instead); z_dim then applies to the
VAE only. Pixel observations (H, W, 3 or C, H, W) are resized to 64x64 and V is the paper's
convolutional VAE.

Budget: `learn(n)` counts real environment steps, as every agent does: random rollouts first,
then the controller's real episodes (real mode) or its real checks (dream mode). A run stops when
the budget is spent or after `generations` generations (0: no limit). Each finished phase, V's
and M's epochs and CMA-ES's generations are checkpointed: the collected episodes go to
`RUN_DIR/rollouts.safetensors`, the CMA-ES state is the JSON list of every generation's scores,
which rebuilds it exactly (ask/tell from the same seeded normal draws).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file
from torch import nn

from tidyrl import runtime
from tidyrl.agent import Agent
from tidyrl.config import check_range
from tidyrl.data.storage import human_bytes
from tidyrl.envs.make import Ended, Step, make_env
from tidyrl.errors import CheckpointError, ConfigError
from tidyrl.loops.process_pool import ProcessPool
from tidyrl.models.env_model import action_dim, action_features
from tidyrl.models.mdn_rnn import MDNRNN, episode_windows, mdn_rnn_loss, sample_mdn
from tidyrl.models.vae import MLPVAE, VAE, ConvVAE, vae_loss
from tidyrl.nets.policy import ActionAdapter

DATA_FILE = "rollouts.safetensors"
FRAME = ConvVAE.frame_size


@dataclass(frozen=True)
class WorldModelsConfig:
    rollouts: int = 200
    """Random-policy episodes collected before V and M are fitted (the paper: 10,000)."""
    rollout_max_steps: int = 0
    """Cut each training episode (random rollouts, candidates' real episodes) after this many
    steps (0: the environment's own limit); evaluation plays whole episodes."""
    collect_repeat: int = 1
    """Hold each random action for this many steps while collecting."""
    z_dim: int = 32
    """Size of V's code z (the paper: 32 on CarRacing)."""
    vector_vae: bool = False
    """Fit an MLP VAE on vector observations (default: V is the identity on them)."""
    vae_epochs: int = 1
    """Passes of V over the collected frames (the paper: 1)."""
    vae_lr: float = 1e-3
    """Adam learning rate of V."""
    vae_batch: int = 100
    """Frames per V update."""
    kl_tolerance: float = 0.0
    """Free nats: V's KL term is max(kl, kl_tolerance) (0: the plain ELBO)."""
    rnn_hidden: int = 256
    """LSTM units of M (the paper: 256 on CarRacing)."""
    n_mixtures: int = 5
    """Gaussians per code dimension in M's mixture (the paper: 5)."""
    mdn_epochs: int = 20
    """Passes of M over the collected episodes."""
    mdn_lr: float = 1e-3
    """Adam learning rate of M."""
    mdn_batch: int = 32
    """Sequences per M update."""
    seq_len: int = 100
    """Length of M's training sequences (windows of an episode, each from a zero state)."""
    dream: bool = False
    """Train C inside M's dream instead of the real environment."""
    temperature: float = 1.0
    """Temperature tau of the dream (the paper's Doom: 1.15)."""
    dream_max_steps: int = 1000
    """Longest dream episode."""
    real_check_episodes: int = 4
    """Dream only: real episodes played by the CMA-ES mean after each generation."""
    popsize: int = 16
    """CMA-ES population (the paper: 64)."""
    sigma0: float = 0.1
    """CMA-ES initial step size around theta_0."""
    initial_action: tuple[float, ...] = ()
    """Box actions: C's action at theta_0 (W_c = 0, b_c = atanh of this action in tanh's scale,
    kept within 0.99 of the bounds), where CMA-ES starts. Empty: b_c = 0, the middle of every
    bound. On CarRacing the middle is gas 0.5 with brake 0.5, which holds the car still; the
    paper's controller clips the brake at 0, so its theta = 0 drives at gas 0.5 with no brake
    (preset `carracing-small`: 0, 0.5, 0)."""
    candidate_rollouts: int = 16
    """Episodes per candidate; its fitness is their mean return (the paper: 16)."""
    generations: int = 0
    """Stop after this many CMA-ES generations (0: when the step budget is spent)."""
    n_workers: int = 2
    """Worker processes scoring candidates (0: in this process)."""
    iterations: int = 1
    """Rounds of the paper's iterative training procedure: after a round's `generations`, collect
    `iteration_rollouts` more real episodes with C acting, refit M on every episode (`mdn_epochs`
    more epochs from its weights) and evolve C again from the last CMA-ES mean. V stays as the
    first round fitted it. 1: the single pass."""
    iteration_rollouts: int = 0
    """Episodes collected with C in each round after the first (0: `rollouts`)."""
    collect_epsilon: float = 0.1
    """Rounds after the first: the chance that a collected step takes a uniformly random action
    instead of C's."""

    def __post_init__(self) -> None:
        check_range(self, "rollouts", 1)
        check_range(self, "rollout_max_steps", 0)
        check_range(self, "collect_repeat", 1)
        check_range(self, "z_dim", 1)
        check_range(self, "vae_epochs", 0)
        check_range(self, "vae_lr", 0.0, low_open=True)
        check_range(self, "vae_batch", 1)
        check_range(self, "kl_tolerance", 0.0)
        check_range(self, "rnn_hidden", 1)
        check_range(self, "n_mixtures", 1)
        check_range(self, "mdn_epochs", 0)
        check_range(self, "mdn_lr", 0.0, low_open=True)
        check_range(self, "mdn_batch", 1)
        check_range(self, "seq_len", 1)
        check_range(self, "temperature", 0.0, low_open=True)
        check_range(self, "dream_max_steps", 1)
        check_range(self, "real_check_episodes", 1)
        check_range(self, "popsize", 2)
        check_range(self, "sigma0", 0.0, low_open=True)
        check_range(self, "candidate_rollouts", 1)
        check_range(self, "generations", 0)
        check_range(self, "n_workers", 0, 64)
        check_range(self, "iterations", 1)
        check_range(self, "iteration_rollouts", 0)
        check_range(self, "collect_epsilon", 0.0, 1.0)
        if self.iterations > 1 and self.generations == 0:
            raise ConfigError(
                f"iterations={self.iterations} needs generations > 0 (the CMA-ES generations of "
                "each round); valid: generations >= 1, or iterations=1"
            )


def is_pixels(space: gym.Space[Any]) -> bool:
    return len(space.shape or ()) == 3


def frames(obs: np.ndarray, space: gym.Space[Any]) -> torch.Tensor:
    """Observations [B, ...] as V's input: pixels to [B, C, 64, 64] in [0, 1] (channels-last
    images are transposed), vectors to float [B, D]."""
    x = torch.as_tensor(np.asarray(obs)).float()
    if not is_pixels(space):
        return x.reshape(len(x), -1)
    shape = tuple(space.shape or ())
    if shape[-1] in (1, 3) and shape[0] not in (1, 3):  # (H, W, C)
        x = x.permute(0, 3, 1, 2)
    if x.shape[-2:] != (FRAME, FRAME):
        x = F.interpolate(x, size=(FRAME, FRAME), mode="bilinear", antialias=True)
    return x / 255.0


def controller_bias(act_space: gym.Space[Any], cfg: WorldModelsConfig) -> np.ndarray:
    """b_c such that C([z, h]) = tanh(b_c) at W_c = 0 is `initial_action` once rescaled to the
    bounds: p = 2 (a - low) / (high - low) - 1 clipped to [-0.99, 0.99], b_c = atanh(p)."""
    a_dim = action_dim(act_space)
    if not cfg.initial_action:
        return np.zeros(a_dim)
    action = np.asarray(cfg.initial_action, dtype=np.float64)
    box = isinstance(act_space, gym.spaces.Box)
    if not box or not np.all(np.isfinite(act_space.low) & np.isfinite(act_space.high)):
        raise ConfigError(
            f"initial_action sets a bounded Box action, not {act_space}; leave it empty"
        )
    low, high = act_space.low.reshape(-1), act_space.high.reshape(-1)
    if action.shape != low.shape or np.any(action < low) or np.any(action > high):
        raise ConfigError(
            f"initial_action={list(cfg.initial_action)} must hold {len(low)} value(s) within "
            f"low={low.tolist()} and high={high.tolist()}"
        )
    p = np.clip(2.0 * (action - low) / (high - low) - 1.0, -0.99, 0.99)
    bias: np.ndarray = np.arctanh(p)
    return bias


class WorldModel(nn.Module):
    """V, M and C together: `encode` (V), `controller` (C) and `step` (one action and M's next
    memory). The agent and every worker process build it the same way from the same arrays."""

    def __init__(
        self, cfg: WorldModelsConfig, obs_space: gym.Space[Any], act_space: gym.Space[Any]
    ) -> None:
        super().__init__()
        self.obs_space, self.act_space = obs_space, act_space
        self.pixels = is_pixels(obs_space)
        self.vae: VAE | None = None
        if self.pixels:
            self.vae = ConvVAE(frames(obs_space.sample()[None], obs_space).shape[1], cfg.z_dim)
        obs_dim = int(np.prod(obs_space.shape or (1,)))
        if not self.pixels and cfg.vector_vae:
            self.vae = MLPVAE(obs_dim, cfg.z_dim)
        self.z_dim = self.vae.z_dim if self.vae is not None else obs_dim
        self.register_buffer("obs_mean", torch.zeros(obs_dim if not self.pixels else 1))
        self.register_buffer("obs_std", torch.ones(obs_dim if not self.pixels else 1))
        self.a_dim = action_dim(act_space)
        self.mdn = MDNRNN(self.z_dim, self.a_dim, cfg.rnn_hidden, cfg.n_mixtures)
        self.controller = nn.Linear(self.z_dim + cfg.rnn_hidden, self.a_dim)
        self.adapter = ActionAdapter(act_space)
        self.theta0 = np.concatenate(
            [np.zeros(self.controller.weight.numel()), controller_bias(act_space, cfg)]
        )
        """Where CMA-ES starts: W_c = 0 and the bias of `initial_action`."""
        nn.utils.vector_to_parameters(
            torch.as_tensor(self.theta0).float(), self.controller.parameters()
        )

    def v_input(self, obs: np.ndarray) -> torch.Tensor:
        """V's input for raw observations: frames in [0, 1], or standardised vectors."""
        x = frames(obs, self.obs_space)
        return x if self.pixels else (x - self.obs_mean) / self.obs_std

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) of q(z | x) for V inputs x; (x, None) for the identity V."""
        if self.vae is None:
            return x, None
        return self.vae.encode(x)

    def policy(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """C's action for codes z [B, z_dim] and memories h [B, hidden]: an index (Discrete) or
        tanh(W_c [z, h] + b_c) in [-1, 1] (Box), the policy's scale."""
        out = self.controller(torch.cat([z, h], dim=1))
        return out.argmax(dim=1) if self.adapter.discrete else torch.tanh(out)

    def features(self, policy_actions: torch.Tensor) -> torch.Tensor:
        """phi(a) for M: one-hot indices, or the [-1, 1] actions themselves."""
        if self.adapter.discrete:
            return F.one_hot(policy_actions, self.a_dim).float()
        return policy_actions

    def step(
        self, obs: np.ndarray, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[np.ndarray, tuple[torch.Tensor, torch.Tensor]]:
        """(env actions, M's next (h, c)): z = mu(x), a = C([z, h]), h' = LSTM([z, phi(a)], h)."""
        z, _ = self.encode(self.v_input(obs))
        a = self.policy(z, state[0][0])
        _, state = self.mdn.lstm(torch.cat([z, self.features(a)], dim=1)[:, None], state)
        return self.adapter.to_env(a), state


class Rollouts:
    """The collected episodes laid end to end: an episode of T steps holds T + 1 frames (its
    last observation included) and T actions, rewards and terminated flags. While collecting it
    is the run's `RunState` (checkpoints keep the episode in progress); once complete it lives in
    its own safetensors file."""

    KEYS = ("frames", "actions", "rewards", "terminated", "lengths")

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.lengths: list[int] = []
        self.complete = False

    @property
    def episodes(self) -> int:
        return len(self.lengths)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "frames": np.stack(self.frames),
            "actions": np.stack(self.actions),
            "rewards": np.asarray(self.rewards, dtype=np.float32),
            "terminated": np.asarray(self.terminated, dtype=np.float32),
            "lengths": np.asarray(self.lengths, dtype=np.int64),
        }

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {} if self.complete or not self.actions else self.arrays()

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        if arrays:
            self.frames = list(arrays["frames"])
            self.actions = list(arrays["actions"])
            self.rewards = [float(r) for r in arrays["rewards"]]
            self.terminated = [bool(t) for t in arrays["terminated"]]
            self.lengths = [int(n) for n in arrays["lengths"]]

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        save_file(self.arrays(), str(tmp))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        try:
            self.load_state_arrays(load_file(str(path)))
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"cannot read the collected episodes '{path}': {exc}") from exc
        self.complete = True


_WORKER: dict[str, Any] = {}
"""What every evaluation in a worker process reads: the world model, the env and the config."""


def setup_worker(payload: dict[str, Any]) -> None:
    """Build V, M and C from arrays once per worker (read-only), and the real env."""
    cfg = payload["config"]
    model = WorldModel(cfg, payload["obs_space"], payload["act_space"])
    model.load_state_dict({k: torch.as_tensor(v) for k, v in payload["state"].items()})
    _WORKER.update(model=model.eval(), config=cfg, env_cfg=payload["env"], env=None)
    _WORKER["start_z"] = torch.as_tensor(payload["start_z"])


def _real_env() -> gym.Env:
    if _WORKER["env"] is None:
        _WORKER["env"] = make_env(_WORKER["env_cfg"])
    return _WORKER["env"]


def play_real(model: WorldModel, env: gym.Env, seed: int, max_steps: int = 0) -> tuple[float, int]:
    """(return, length) of one real episode played by `model` from `reset(seed=seed)`, cut
    after `max_steps` steps (0: never)."""
    obs, _ = env.reset(seed=seed)
    state = model.mdn.initial_state(1)
    total, length, done = 0.0, 0, False
    while not done and (max_steps == 0 or length < max_steps):
        actions, state = model.step(np.asarray(obs)[None], state)
        obs, reward, terminated, truncated, _ = env.step(actions[0])
        total += float(reward)
        length += 1
        done = terminated or truncated
    return total, length


def play_dream(
    model: WorldModel, start_z: torch.Tensor, cfg: WorldModelsConfig, seed: int
) -> torch.Tensor:
    """Returns of `len(start_z)` dream episodes played side by side inside M at temperature tau:
    each earns M's r^_t until a sampled done (or `dream_max_steps`)."""
    gen = torch.Generator().manual_seed(seed)
    z = start_z
    state = model.mdn.initial_state(len(z))
    alive = torch.ones(len(z), dtype=torch.bool)
    total = torch.zeros(len(z))
    for _ in range(cfg.dream_max_steps):
        a = model.policy(z, state[0][0])
        out, state = model.mdn.step(z, model.features(a), state)
        total += torch.where(alive, out.reward, torch.zeros_like(out.reward))
        z, done = sample_mdn(out, cfg.temperature, gen)
        alive &= ~done
        if not bool(alive.any()):
            break
    return total


@torch.no_grad()
def score_candidate(item: tuple[np.ndarray, int]) -> tuple[float, int, list[float], list[int]]:
    """(fitness, real steps, episode returns, episode lengths) of controller parameters theta:
    the mean return of `candidate_rollouts` real or dream episodes seeded from `seed`."""
    theta, seed = item
    model: WorldModel = _WORKER["model"]
    cfg: WorldModelsConfig = _WORKER["config"]
    nn.utils.vector_to_parameters(torch.as_tensor(theta).float(), model.controller.parameters())
    if cfg.dream:
        rng = np.random.default_rng(seed)
        starts = _WORKER["start_z"][
            rng.integers(len(_WORKER["start_z"]), size=cfg.candidate_rollouts)
        ]
        return float(play_dream(model, starts, cfg, seed).mean()), 0, [], []
    env = _real_env()
    cap = cfg.rollout_max_steps
    played = [play_real(model, env, seed + j, cap) for j in range(cfg.candidate_rollouts)]
    returns, lengths = [r for r, _ in played], [n for _, n in played]
    return float(np.mean(returns)), int(sum(lengths)), returns, lengths


def evolution_strategy(
    x0: np.ndarray, cfg: WorldModelsConfig, seed: int, history: list[list[float]]
) -> Any:
    """`cma.CMAEvolutionStrategy` from x0 whose normal draws come from its own seeded stream,
    replayed through the scores of `history` (one list per generation): the same state as the
    run that told them."""
    try:
        import cma
    except ImportError as exc:
        raise ConfigError(
            "world-models needs the cma package: pip install 'tidyrl[modelbased]'"
        ) from exc
    stream = np.random.default_rng(seed)
    options = {
        "popsize": cfg.popsize,
        "seed": np.nan,  # cma leaves numpy's global generator alone; `randn` draws for it
        "randn": lambda lam, n: stream.standard_normal((lam, n)),
        "verbose": -9,
    }
    es = cma.CMAEvolutionStrategy(x0, cfg.sigma0, options)
    for scores in history:
        es.tell(es.ask(), [-s for s in scores])
    return es


class WorldModels(Agent):
    Config = WorldModelsConfig
    algo_id = "world-models"
    action_spaces = (gym.spaces.Discrete, gym.spaces.Box)
    observation_spaces = (gym.spaces.Box,)
    default_torch_threads = 1
    default_steps = 200_000
    recurrent = True
    """Acting needs M's memory h of earlier steps (export refuses it; see `act`)."""
    ENV_PRESETS = {"CarRacing-v3": "carracing-small"}
    PRESETS = {
        "paper": {"rollouts": 10_000, "popsize": 64},
        "cartpole-dream": {
            "rollouts": 200,
            "rnn_hidden": 128,
            "mdn_epochs": 300,
            "seq_len": 32,
            "dream": True,
            "temperature": 1.15,
            "dream_max_steps": 500,
            "real_check_episodes": 1,
            "popsize": 16,
            "candidate_rollouts": 16,
            "sigma0": 0.5,
            "iterations": 3,
            "generations": 5,
            "iteration_rollouts": 25,
        },
        "cartpole-real": {
            "rollouts": 200,
            "rnn_hidden": 128,
            "mdn_epochs": 300,
            "seq_len": 32,
            "popsize": 16,
            "candidate_rollouts": 4,
            "sigma0": 0.5,
        },
        "carracing-small": {
            "rollouts": 40,
            "rollout_max_steps": 250,
            "collect_repeat": 4,
            "initial_action": (0.0, 0.5, 0.0),
            "vae_epochs": 3,
            "kl_tolerance": 16.0,
            "mdn_epochs": 20,
            "seq_len": 50,
            "popsize": 16,
            "candidate_rollouts": 1,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.world = WorldModel(cfg, self.observation_space, self.action_space)
        self.start_z = np.zeros((0, self.world.z_dim), dtype=np.float32)
        """The code of each collected episode's first frame: where dreams start."""
        self.mdn_optimizer = torch.optim.Adam(self.world.mdn.parameters(), lr=cfg.mdn_lr)
        self.register_state("world", "start_z", "mdn_optimizer")
        if self.world.vae is not None:
            self.vae_optimizer = torch.optim.Adam(self.world.vae.parameters(), lr=cfg.vae_lr)
            self.register_state("vae_optimizer")
        self.data = Rollouts()
        self.register_run_state("data")
        self.phase: dict[str, Any] = {
            "collected": False,
            "vision": False,
            "vae_epochs": 0,
            "memory": False,
            "mdn_epochs": 0,
            "scores": [],
            "iteration": 0,
            "theta0": [],
            "past_generations": 0,
        }
        """Progress of each phase: V and M done, their epochs, every generation's scores (of the
        current round), the round, where its CMA-ES started (empty: `WorldModel.theta0`) and the
        generations of earlier rounds."""
        self.seconds: dict[str, float] = {"collect": 0.0, "vae": 0.0, "mdn": 0.0, "controller": 0.0}
        """Wall-clock seconds spent in each phase so far."""
        self._memory: tuple[torch.Tensor, torch.Tensor] | None = None
        self._collect_memory: tuple[torch.Tensor, torch.Tensor] | None = None
        """M's memory of the episode C is collecting (rounds after the first); None: rebuilt from
        the stored steps of the episode in progress, so a resumed run carries on exactly."""

    # -- acting -------------------------------------------------------------------------------
    def reset_memory(self) -> None:
        """Forget M's memory: the next `act`/`predict` starts new episodes."""
        self._memory = None

    def act(self, obs, deterministic=False):
        """a = C([z, h]) for a batch, each row continuing the memory h of the previous call's
        row (zero memory after `reset_memory` or when the batch size changes)."""
        obs = np.asarray(obs)
        if self._memory is None or self._memory[0].shape[1] != len(obs):
            self._memory = self.world.mdn.initial_state(len(obs))
        with torch.no_grad():
            actions, self._memory = self.world.step(obs, self._memory)
        return actions

    # -- the four phases ----------------------------------------------------------------------
    def learn(self, total_steps: int) -> WorldModels:
        self.check_dataset_memory(runtime.memory_limit())
        with self.training(total_steps):
            while True:
                self._collect()
                if not self.phase["collected"]:
                    return self  # the budget ended inside the collection: a resume continues it
                self._fit_vision()
                self._fit_memory()
                self._evolve_controller()
                if self.finished or self.phase["collected"]:
                    break  # budget spent, or the last round done; else a new round collects
        return self

    def check_dataset_memory(self, limit: int | None) -> None:
        """Refuse (ConfigError) a run whose collected frames would outgrow `limit`, the memory
        the machine has: every round's episodes at their longest (`rollout_max_steps`, else the
        env's time limit), T + 1 stored frames each. The paper's 10,000 CarRacing rollouts of
        1,000 steps are 123 GB of 64x64 frames."""
        cfg = self.config
        cap = cfg.rollout_max_steps or getattr(self.env, "episode_cap", None)
        if limit is None or not cap:
            return
        episodes = cfg.rollouts + (cfg.iterations - 1) * (cfg.iteration_rollouts or cfg.rollouts)
        frame = self._stored(self.env.obs).nbytes
        need = episodes * (cap + 1) * frame
        if need > limit:
            fit = limit // ((cap + 1) * frame) - (episodes - cfg.rollouts)
            raise ConfigError(
                f"rollouts={cfg.rollouts:,} ({episodes:,} episodes in all) of up to {cap:,} "
                f"steps keep {human_bytes(need)} of frames ({frame:,} bytes each) in memory, more "
                f"than this machine's {human_bytes(limit)}; valid: rollouts below {max(fit, 0):,}, "
                "or a smaller rollout_max_steps"
            )

    def _data_file(self) -> Path | None:
        return Path(self.run.run_dir) / DATA_FILE if self.run.run_dir is not None else None

    def _collect(self) -> None:
        """Phase 1: random episodes (C's episodes in later rounds); frames stored as V sees them
        (uint8 64x64 or vectors)."""
        cfg, data, t0 = self.config, self.data, time.perf_counter()
        if self.phase["collected"]:
            return
        round_ = self.phase["iteration"]
        target = cfg.rollouts + round_ * (cfg.iteration_rollouts or cfg.rollouts)
        if len(data.frames) == sum(data.lengths) + data.episodes:
            data.frames.append(self._stored(self.env.obs))  # first frame of a new episode
        action = self.env.sample_actions() if round_ == 0 else None
        while data.episodes < target and not self.finished:
            steps_in = len(data.actions) - sum(data.lengths)
            if round_ > 0:
                action = self._controller_action(steps_in)
            elif steps_in % cfg.collect_repeat == 0:
                action = self.env.sample_actions()
            step = self.env.step(action)
            data.actions.append(np.asarray(action[0], dtype=np.float32))
            data.rewards.append(float(step.rewards[0]))
            data.terminated.append(bool(step.terminated[0]))
            data.frames.append(self._stored(step.next_obs))
            cut = cfg.rollout_max_steps and steps_in + 1 >= cfg.rollout_max_steps
            if cut and not step.dones[0]:  # end the episode here: a time limit of our own
                self.env.reset()
                step = Step(
                    step.obs, step.next_obs, step.rewards, step.terminated, np.ones(1, bool),
                    [float(np.sum(data.rewards[-steps_in - 1 :]))], [steps_in + 1],
                )  # fmt: skip
            if step.dones[0] or cut:
                data.lengths.append(steps_in + 1)
                self._collect_memory = None
                if data.episodes < target:
                    data.frames.append(self._stored(self.env.obs))
            self.seconds["collect"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            self.tick(step, self._metrics())
        if data.episodes >= target:
            data.complete = self.phase["collected"] = True
            file = self._data_file()
            if file is not None:
                data.save(file)
            self.checkpoint()

    def _stored(self, obs: np.ndarray) -> np.ndarray:
        """One observation as the dataset keeps it: a uint8 (C, 64, 64) frame or the vector."""
        x = frames(obs[:1], self.observation_space)[0]
        if self.world.pixels:
            return (x * 255.0).round().to(torch.uint8).numpy()
        return x.numpy().astype(np.float32)

    def _fit_vision(self) -> None:
        """Phase 2: V on every frame (standardisation statistics for the identity V)."""
        cfg, world, t0 = self.config, self.world, time.perf_counter()
        if self.phase["vision"]:
            return
        if not world.pixels and self.phase["vae_epochs"] == 0:
            x_all = self._v_inputs(standardise=False)
            world.obs_mean.copy_(x_all.mean(dim=0))
            world.obs_std.copy_(x_all.std(dim=0).clamp(min=1e-6))
        x_all = self._v_inputs(standardise=True)
        while world.vae is not None and self.phase["vae_epochs"] < cfg.vae_epochs:
            order = self.rng.permutation(len(x_all))
            for i in range(0, len(order), cfg.vae_batch):
                metrics = self.update_vision(x_all[order[i : i + cfg.vae_batch]])
            self.phase["vae_epochs"] += 1
            self.seconds["vae"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            self.tick(None, {**metrics, **self._metrics()}, n_steps=0)
            if self.phase["vae_epochs"] % max(1, cfg.vae_epochs // 10) == 0:
                self.checkpoint()
        self.phase["vision"] = True
        self.checkpoint()

    def _controller_action(self, steps_in: int) -> np.ndarray:
        """C's action for the last stored frame (a random one with probability
        `collect_epsilon`); M's memory then takes the action taken, as when M was fitted."""
        world, data = self.world, self.data
        if self._collect_memory is None:  # a new episode, or a resumed one: replay its steps
            self._collect_memory = world.mdn.initial_state(1)
            for j in range(steps_in, 0, -1):
                self._remember(data.frames[-j - 1], data.actions[-j])
        with torch.no_grad():
            z = world.encode(self._as_v_input(np.stack(data.frames[-1:])))[0]
            action = world.adapter.to_env(world.policy(z, self._collect_memory[0][0]))
        if self.rng.random() < self.config.collect_epsilon:
            action = self.env.sample_actions()
        self._remember(data.frames[-1], np.asarray(action[0], dtype=np.float32))
        return action

    @torch.no_grad()
    def _remember(self, frame: np.ndarray, action: np.ndarray) -> None:
        """M's memory after a stored frame and the env action taken there."""
        assert self._collect_memory is not None
        z = self.world.encode(self._as_v_input(frame[None]))[0]
        feats = action_features(torch.as_tensor(action[None]), self.action_space)
        inputs = torch.cat([z, feats], dim=1)[:, None]
        _, self._collect_memory = self.world.mdn.lstm(inputs, self._collect_memory)

    def _as_v_input(self, stored: np.ndarray) -> torch.Tensor:
        """Stored frames [B, ...] as V's input: pixels in [0, 1], standardised vectors."""
        x = torch.as_tensor(stored).float()
        return x / 255.0 if self.world.pixels else (x - self.world.obs_mean) / self.world.obs_std

    def _episodes(self) -> Rollouts:
        """The collected episodes, read from their file where a resumed run left them there."""
        data, file = self.data, self._data_file()
        if not data.frames:
            if file is None or not file.is_file():
                raise CheckpointError(
                    f"the collected episodes are missing ('{file}'): V and M cannot be fitted"
                )
            data.load(file)
        return data

    def _v_inputs(self, standardise: bool) -> torch.Tensor:
        stored = np.stack(self._episodes().frames)
        return (
            self._as_v_input(stored)
            if standardise or self.world.pixels
            else torch.as_tensor(stored).float()
        )

    def update_vision(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One Adam step on L_V for frames x."""
        assert self.world.vae is not None
        recon, mu, logvar = self.world.vae(x)
        loss, recon_err, kl = vae_loss(recon, x, mu, logvar, self.config.kl_tolerance)
        self.vae_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.vae_optimizer.step()
        return {"vae_loss": loss.detach(), "vae_recon": recon_err.detach(), "vae_kl": kl.detach()}

    def _codes(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) of every stored frame under V (batched, no gradients)."""
        x_all = self._v_inputs(standardise=True)
        with torch.no_grad():
            parts = [self.world.encode(x_all[i : i + 1000]) for i in range(0, len(x_all), 1000)]
        mu = torch.cat([p[0] for p in parts])
        logvar = None if parts[0][1] is None else torch.cat([p[1] for p in parts])  # type: ignore[misc]
        return mu, logvar

    def _fit_memory(self) -> None:
        """Phase 3: M on windows of the episodes; also the dream's start codes."""
        cfg, data, t0 = self.config, self.data, time.perf_counter()
        if self.phase["memory"]:
            return
        mu, logvar = self._codes()
        lengths = np.asarray(data.lengths)
        first = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])  # each episode's first frame
        self.start_z = mu[first].numpy().astype(np.float32)
        step_frame = torch.as_tensor(
            np.arange(int(lengths.sum())) + np.repeat(np.arange(len(lengths)), lengths)
        )
        feats = action_features(torch.as_tensor(np.stack(data.actions)), self.action_space)
        rewards = torch.as_tensor(np.asarray(data.rewards, dtype=np.float32))
        terminated = torch.as_tensor(np.asarray(data.terminated, dtype=np.float32))
        index, mask = episode_windows(lengths, cfg.seq_len)
        index_t, mask_t = torch.as_tensor(index), torch.as_tensor(mask)
        while self.phase["mdn_epochs"] < cfg.mdn_epochs:
            order = self.rng.permutation(len(index))
            for i in range(0, len(order), cfg.mdn_batch):
                rows = order[i : i + cfg.mdn_batch]
                steps = index_t[rows]
                z = mu if logvar is None else mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                metrics = self.update_memory(
                    z[step_frame[steps]],
                    feats[steps],
                    z[step_frame[steps] + 1],
                    rewards[steps],
                    terminated[steps],
                    mask_t[rows],
                )
            self.phase["mdn_epochs"] += 1
            self.seconds["mdn"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            self.tick(None, {**metrics, **self._metrics()}, n_steps=0)
            if self.phase["mdn_epochs"] % max(1, cfg.mdn_epochs // 10) == 0:
                self.checkpoint()
        self.phase["memory"] = True
        self.checkpoint()

    def update_memory(self, z, feats, next_z, rewards, terminated, mask) -> dict[str, torch.Tensor]:
        """One Adam step on L_M for sequences [B, T, ...]."""
        out, _ = self.world.mdn(z, feats)
        loss, parts = mdn_rnn_loss(out, next_z, rewards, terminated, mask)
        self.mdn_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.mdn_optimizer.step()
        return {"mdn_loss": loss.detach(), **{k: v.detach() for k, v in parts.items()}}

    def _evolve_controller(self) -> None:
        """Phase 4: CMA-ES generations until the budget or `generations` is reached; then the
        next round, or the end of the run."""
        cfg, world, phase = self.config, self.world, self.phase
        scores: list[list[float]] = phase["scores"]
        theta0 = world.theta0
        if phase["theta0"]:
            theta0 = np.asarray(phase["theta0"], dtype=np.float64)
        es = evolution_strategy(theta0, cfg, self.run.seed + phase["iteration"], scores)
        if not self.finished and not self._round_done():
            self._generations(es)
        if self._round_done():
            if phase["iteration"] + 1 < cfg.iterations:
                self._next_round(es.mean)
            else:
                self.stop()

    def _round_done(self) -> bool:
        """Whether the current round has evolved its `generations`."""
        generations = self.config.generations
        return bool(generations) and len(self.phase["scores"]) >= generations

    def _generations(self, es: Any) -> None:
        """CMA-ES generations, candidates scored in worker processes, until the budget is spent
        or the round has its generations."""
        cfg, world, phase = self.config, self.world, self.phase
        scores: list[list[float]] = phase["scores"]
        payload = {
            "config": cfg,
            "env": self.env_cfg,
            "obs_space": self.observation_space,
            "act_space": self.action_space,
            "state": {k: v.numpy() for k, v in world.state_dict().items()},
            "start_z": self.start_z,
        }
        with ProcessPool(setup_worker, payload, score_candidate, cfg.n_workers) as pool:
            while not self.finished and not self._round_done():
                t0 = time.perf_counter()
                generation = phase["past_generations"] + len(scores)
                seed = self.run.seed + 7_919 * (generation + 1)
                candidates = es.ask()
                results = pool.map([(np.asarray(c), seed) for c in candidates])
                fitness = [r[0] for r in results]
                es.tell(candidates, [-f for f in fitness])
                scores.append(fitness)
                self._set_controller(es.mean)
                metrics = {
                    "generation": float(phase["past_generations"] + len(scores)),
                    "best_fitness": max(fitness),
                    "mean_fitness": float(np.mean(fitness)),
                    "sigma": float(es.sigma),
                }
                steps = sum(r[1] for r in results)
                returns = [x for r in results for x in r[2]]
                lengths = [x for r in results for x in r[3]]
                if cfg.dream:  # the dream's policy, checked in the real environment
                    env = make_env(self.env_cfg)
                    with torch.no_grad():
                        played = [
                            play_real(world, env, seed + j, cfg.rollout_max_steps)
                            for j in range(cfg.real_check_episodes)
                        ]
                    env.close()
                    returns, lengths = [r for r, _ in played], [n for _, n in played]
                    steps = sum(lengths)
                    metrics["real_return"] = float(np.mean(returns))
                self.seconds["controller"] += time.perf_counter() - t0
                self._count(steps, returns, lengths, {**metrics, **self._metrics()})

    def _next_round(self, theta: np.ndarray) -> None:
        """Start the next round of iterative training: collect again, refit M, restart CMA-ES
        from `theta`."""
        data, phase = self._episodes(), self.phase
        data.complete = False  # the episodes travel in the checkpoint while the round collects
        phase["past_generations"] += len(phase["scores"])
        phase.update(
            iteration=phase["iteration"] + 1,
            theta0=[float(x) for x in theta],
            scores=[],
            collected=False,
            memory=False,
            mdn_epochs=0,
        )
        self._collect_memory = None
        self.checkpoint()

    def _set_controller(self, theta: np.ndarray) -> None:
        vector = torch.as_tensor(np.asarray(theta)).float()
        nn.utils.vector_to_parameters(vector, self.world.controller.parameters())

    def _count(self, steps: int, returns: list[float], lengths: list[int], metrics) -> None:
        """Tick the base's counters with one generation's real steps and episodes."""
        self.counters["updates"] += 1
        self.tick(Ended(returns, lengths), metrics, n_steps=steps)

    def _metrics(self) -> dict[str, float]:
        return {f"seconds_{k}": round(v, 3) for k, v in self.seconds.items()}

    # -- bookkeeping --------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"phase": self.phase, "seconds": self.seconds}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state:
            self.phase = {**self.phase, **state["phase"]}
            self.seconds = dict(state["seconds"])
            self.data.complete = bool(self.phase["collected"])

    def update_probe(self):
        return None

"""Export a trained agent's deterministic policy as a standalone file (ONNX or TorchScript).

The file maps a batch of raw observations, shape (B, *observation_shape), to the actions that
``agent.predict(obs, deterministic=True)`` returns, with nothing of tidyrl needed to run it:

    observations -> [observation normalization, where the agent has it (PPO's `obs_norm`)]
                 -> the agent's own network, deterministic (noisy layers at their mean, batch
                    norm in eval mode)
                 -> argmax for Discrete actions; for Box actions the Gaussian mean or tanh of
                    the actor, rescaled to the environment's bounds [low, high]

Each family contributes one function that builds that module from the agent's own (copied)
networks and kernel functions: the greedy action of a Q-network (`categorical_q` for the
distributional heads), the mode of a stochastic policy's distribution, a deterministic actor, or
the squashed Gaussian's deterministic action (`squashed_gaussian_action`). The only code written
here is the Box rescaling, in torch, of `ActionAdapter.to_env` and `scale_action` (NumPy on the
acting path); tests compare every export with `predict` on 1,000 observations.

ONNX goes through torch's TorchScript-based exporter (it needs the `onnx` package, the `export`
extra, and no network access); the TorchScript file is a traced module for `torch.jit.load`.
The input is named ``obs`` and the output ``actions``; the batch dimension is dynamic.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.core.normalize import RunningMeanStd
from tidyrl.core.squashed import action_bounds, squashed_gaussian_action
from tidyrl.errors import TidyError
from tidyrl.nets.cnn import image_layout
from tidyrl.nets.heads import categorical_q
from tidyrl.nets.noisy import set_noise
from tidyrl.nets.policy import ActorCritic, integer_actions

FORMATS = ("onnx", "torchscript")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript"}


class ObsInput(nn.Module):
    """Raw observations as the network reads them: uint8 pixels stay uint8 (the encoders scale
    them), everything else float32 (`tidyrl.data.batch.obs_tensor`), flattened for MLPs."""

    def __init__(self, flatten: bool, keep_uint8: bool) -> None:
        super().__init__()
        self.flatten, self.keep_uint8 = flatten, keep_uint8

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs if self.keep_uint8 else obs.to(torch.float32)
        return x.reshape(x.shape[0], -1) if self.flatten else x


def obs_input(space: gym.Space[Any], image: bool) -> ObsInput:
    """`ObsInput` for a network that reads `space` through a CNN (`image`: kept in its shape,
    uint8 pixels as they are) or through an MLP (flattened, float32)."""
    return ObsInput(flatten=not image, keep_uint8=image and space.dtype == np.uint8)


class GreedyQ(nn.Module):
    """argmax_a Q(s, a) of a (possibly distributional) Q-network: Q itself, the expectation
    over a categorical `support` (C51, Rainbow), or the mean of the `quantiles` (QR-DQN)."""

    support: torch.Tensor | None

    def __init__(
        self, net: nn.Module, support: torch.Tensor | None, quantiles: bool = False
    ) -> None:
        super().__init__()
        self.net = net
        self.quantiles = quantiles
        self.register_buffer("support", None if support is None else support.detach().clone())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(obs)
        if self.quantiles:
            q = out.mean(dim=-1)
        elif self.support is not None:
            q = categorical_q(out, self.support)
        else:
            q = out
        return q.argmax(dim=1)


class PolicyMode(nn.Module):
    """The mode of pi(.|s) of an actor-critic (argmax logits, or the Gaussian mean), after the
    agent's running observation normalization where it has one."""

    def __init__(self, policy: ActorCritic, obs_norm: RunningMeanStd | None) -> None:
        super().__init__()
        self.policy, self.obs_norm = policy, obs_norm

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.obs_norm is not None:
            obs = self.obs_norm.normalize(obs)
        return self.policy.distribution(obs).mode()


class SquashedMean(nn.Module):
    """tanh(mu(s)) of a tanh-Gaussian actor whose output is (mu, log sigma): SAC's mode. With
    `clip_mean` (gSDE) the actor outputs mu alone, clipped to +-clip_mean before the tanh."""

    def __init__(self, actor: nn.Module, act_dim: int, clip_mean: float | None = None) -> None:
        super().__init__()
        self.actor, self.act_dim, self.clip_mean = actor, act_dim, clip_mean

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.clip_mean is not None:
            return torch.tanh(self.actor(obs).clamp(-self.clip_mean, self.clip_mean))
        mean, log_std = self.actor(obs).split(self.act_dim, dim=-1)
        return squashed_gaussian_action(mean, log_std, deterministic=True)


class ToEnvActions(nn.Module):
    """Network actions -> env actions: Discrete indices + start as int64 (MultiDiscrete: + the
    per-sub-action start, MultiBinary: as they are, both cast to the space's dtype); a Box's
    unit-box actions rescaled to [low, high] (`unit`: `scale_action`'s center + half-width form;
    else `ActionAdapter.to_env`'s low + (a + 1) / 2 (high - low), or a plain clip to unbounded
    limits), clipped and cast to the space's dtype."""

    low: torch.Tensor
    high: torch.Tensor
    start: torch.Tensor

    def __init__(self, space: gym.Space[Any], start: Any = 0, unit: bool = False) -> None:
        super().__init__()
        self.discrete = integer_actions(space)
        self.unit, self.bounded = unit, True
        self.shape: tuple[int, ...] = tuple(space.shape or ())
        self.dtype = torch.from_numpy(np.zeros(0, dtype=space.dtype or np.int64)).dtype
        low = high = np.zeros(1)
        if isinstance(space, gym.spaces.Box):
            low = space.low.astype(np.float64).reshape(-1)
            high = space.high.astype(np.float64).reshape(-1)
            self.bounded = bool(np.isfinite(low).all() and np.isfinite(high).all())
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))
        self.register_buffer("start", torch.as_tensor(np.asarray(start, dtype=np.int64)))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            a = a.to(torch.int64) + self.start
            return a.reshape(a.shape[0], *self.shape).to(self.dtype)
        if self.unit or self.bounded:
            u = a.clamp(-1.0, 1.0)
            if self.unit:
                center, half = (self.high + self.low) / 2, (self.high - self.low) / 2
                a = center + half * u
            else:
                a = self.low + (u + 1.0) * 0.5 * (self.high - self.low)
        a = torch.minimum(torch.maximum(a, self.low), self.high)
        return a.reshape(a.shape[0], *self.shape).to(self.dtype)


def q_policy(agent: Any) -> nn.Module:
    """DQN, C51, QR-DQN, Rainbow (noisy layers at their mean), soft Q (greedy): argmax of Q."""
    net = copy.deepcopy(agent.z if hasattr(agent, "z") else agent.q)
    set_noise(net, False)
    space = agent.observation_space
    pixels = len(space.shape or ()) == 3
    return nn.Sequential(
        ObsInput(flatten=False, keep_uint8=pixels and space.dtype == np.uint8),
        GreedyQ(net, getattr(agent, "support", None), quantiles=hasattr(agent, "taus")),
    )


def stochastic_policy(agent: Any) -> nn.Module:
    """REINFORCE, actor-critic, A2C, A3C, TRPO, PPO, BC, DAgger: the mode of the policy (`act`'s
    deterministic rule) on the normalized observation, then `PolicyIO.to_env`."""
    io_ = agent.io
    obs_norm = copy.deepcopy(io_.obs_norm) if io_.normalize_obs else None
    adapter = io_.adapter
    start = adapter.start if adapter.discrete else 0
    return nn.Sequential(
        obs_input(agent.observation_space, io_.image),
        PolicyMode(copy.deepcopy(agent.policy), obs_norm),
        ToEnvActions(agent.action_space, start=start),
    )


class LogitsArgmax(nn.Module):
    """argmax over a network's per-action scores; with `value_column` its output is
    [logits | V] (I2A's) and the last column is not an action."""

    def __init__(self, net: nn.Module, value_column: bool = False) -> None:
        super().__init__()
        self.net, self.value_column = net, value_column

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(obs)
        return (out[:, :-1] if self.value_column else out).argmax(dim=-1)


def imagination_policy(agent: Any) -> nn.Module:
    """I2A: the mode of pi(.|s) of its imagination-augmented network (imagination included)."""
    return nn.Sequential(
        ObsInput(flatten=True, keep_uint8=False),
        LogitsArgmax(copy.deepcopy(agent.acting), value_column=True),
        ToEnvActions(agent.action_space, start=agent.io.adapter.start),
    )


def deterministic_actor(agent: Any) -> nn.Module:
    """DDPG (and DDPG with imagination), TD3, D4PG, SDDPG: mu(s) in the unit box, rescaled to
    the bounds."""
    return nn.Sequential(
        obs_input(agent.observation_space, image_layout(agent.observation_space) is not None),
        copy.deepcopy(agent.actor),
        ToEnvActions(agent.action_space, unit=True),
    )


def squashed_gaussian_policy(agent: Any) -> nn.Module:
    """SAC and TQC: tanh of the Gaussian's mean, rescaled to the bounds."""
    from tidyrl.algos.actor_critic.common import SDE_CLIP_MEAN

    clip_mean = SDE_CLIP_MEAN if getattr(agent.config, "use_sde", False) else None
    return nn.Sequential(
        obs_input(agent.observation_space, image_layout(agent.observation_space) is not None),
        SquashedMean(copy.deepcopy(agent.actor), agent.act_dim, clip_mean),
        ToEnvActions(agent.action_space, unit=True),
    )


def linear_policy(agent: Any) -> nn.Module:
    """ARS: u = M (x - mu) / sigma; the argmax of u (Discrete) or u in the unit box rescaled
    to the bounds (Box)."""
    policy = copy.deepcopy(agent.policy)
    return nn.Sequential(
        obs_input(agent.observation_space, False),
        LogitsArgmax(policy) if agent.discrete else policy,
        ToEnvActions(agent.action_space, unit=True),
    )


EXPORTERS: dict[str, Callable[[Any], nn.Module]] = {
    "dqn": q_policy,
    "c51": q_policy,
    "qr-dqn": q_policy,
    "rainbow": q_policy,
    "soft-q": q_policy,
    "reinforce": stochastic_policy,
    "actor-critic": stochastic_policy,
    "a2c": stochastic_policy,
    "a3c": stochastic_policy,
    "trpo": stochastic_policy,
    "ppo": stochastic_policy,
    "i2a": imagination_policy,
    "gail": stochastic_policy,
    "bc": stochastic_policy,
    "dagger": stochastic_policy,
    "ddpg": deterministic_actor,
    "ddpg-imagination": deterministic_actor,
    "td3": deterministic_actor,
    "d4pg": deterministic_actor,
    "sddpg": deterministic_actor,
    "sac": squashed_gaussian_policy,
    "tqc": squashed_gaussian_policy,
    "ars": linear_policy,
}
"""Algorithm id -> the function building its deterministic policy module."""


def policy_module(agent: Any) -> nn.Module:
    """The agent's deterministic policy as one module (CPU, eval mode, no gradients)."""
    build = EXPORTERS.get(agent.algo)
    if getattr(agent, "multiagent", False):
        raise TidyError(
            f"cannot export {agent.algo}: export writes one single-agent policy; a multi-agent "
            "agent's per-agent actors are in its checkpoint (tidyrl.load(RUN_DIR).predict "
            "takes and returns per-agent dicts)"
        )
    if getattr(agent, "recurrent", False):
        raise TidyError(
            f"cannot export {agent.algo}: its policy carries LSTM memory from step to step, "
            "which a one-input exported policy cannot hold; act with tidyrl.load(RUN_DIR)."
            "predict, calling reset_memory() where episodes start"
        )
    if build is None:
        raise TidyError(
            f"cannot export {agent.algo}: export covers the deep algorithms "
            f"({', '.join(sorted(EXPORTERS))}); a tabular agent's (and maxent-irl's) policy is "
            "its table (tidyrl.load(RUN_DIR), its checkpoint/state.safetensors)"
        )
    module = build(agent).to("cpu").eval()
    module.requires_grad_(False)
    return module


def example_obs(agent: Any, batch: int = 2) -> torch.Tensor:
    """A zero batch of observations in the dtype the exported file takes (uint8 pixels stay
    uint8, everything else float32)."""
    space = agent.observation_space
    dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32
    return torch.zeros((batch, *(space.shape or ())), dtype=dtype)


def metadata(agent: Any) -> dict[str, str]:
    """What the file records about its origin (ONNX metadata_props / a TorchScript extra file)."""
    from tidyrl import __version__
    from tidyrl.envs.make import space_to_dict

    return {
        "tidyrl_version": __version__,
        "algo": agent.algo,
        "env": agent.env_cfg.id,
        "steps": str(agent.counters["steps"]),
        "observation_space": json.dumps(space_to_dict(agent.observation_space)),
        "action_space": json.dumps(space_to_dict(agent.action_space)),
    }


def infer_format(out: str | Path, fmt: str | None) -> str:
    """The format named, or the one of `out`'s suffix (.onnx, .pt/.ts)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise TidyError(f"unknown export format '{fmt}'. Valid choices: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        raise TidyError(
            f"cannot tell the format of '{out}' from its suffix; pass --format "
            f"{' or '.join(FORMATS)} (or name the file .onnx, .pt or .ts)"
        )
    return SUFFIXES[suffix]


def export(agent: Any, out: str | Path, fmt: str | None = None) -> Path:
    """Write the agent's deterministic policy to `out` as ONNX or TorchScript; return the path."""
    fmt = infer_format(out, fmt)
    if isinstance(agent.observation_space, gym.spaces.Dict) and not agent.multiagent:
        raise TidyError(
            "cannot export a policy over Dict observations: export takes Box or Discrete "
            "observations (one input tensor); load the run with tidyrl.load to act with it"
        )
    if isinstance(agent.action_space, gym.spaces.Box):
        action_bounds(agent.action_space.low, agent.action_space.high)  # finite where needed
    module = policy_module(agent)
    obs = example_obs(agent)
    write = _onnx_bytes if fmt == "onnx" else _torchscript_bytes
    data = write(module, obs, agent)
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        from tidyrl.errors import write_error

        raise write_error(exc, f"'{path}'") from exc
    return path


def _onnx_bytes(module: nn.Module, obs: torch.Tensor, agent: Any) -> bytes:
    try:
        import onnx
    except ImportError:
        raise TidyError(
            "ONNX export needs the onnx package: pip install 'tidyrl[export]' "
            "(or export --format torchscript)"
        ) from None
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated, not gone
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (obs,),
            buffer,  # type: ignore[arg-type]  # (the TorchScript-based exporter takes a stream)
            dynamo=False,
            input_names=["obs"],
            output_names=["actions"],
            dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
            opset_version=17,
        )
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata(agent).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def _torchscript_bytes(module: nn.Module, obs: torch.Tensor, agent: Any) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, (obs,))  # type: ignore[no-untyped-call]
        extra = {"tidyrl.json": json.dumps(metadata(agent))}
        torch.jit.save(traced, buffer, _extra_files=extra)
    return buffer.getvalue()

"""Side by side: tidyrl's MADDPG against one built from TorchRL's parts, same task, same settings
(issue 21, item 5: speed ratio against an existing implementation).

Task: mpe2's simple_spread_v3 (cooperative navigation, N = 3, continuous actions, 25-step
episodes), one environment copy, one torch thread. Both learners get tidyrl's `maddpg` defaults
(Lowe et al. 2017 and openai/maddpg: Adam lr 1e-2 for actors and critics, gamma 0.95, batch 1024,
two 64-unit ReLU layers, tau 0.01, gradient-norm clipping 0.5, Gaussian exploration noise of
variance 0.01 in the unit action box, a 1M replay) except the two the multiagent-spread suite
shortens for its budget: learning starts after 3,000 stored steps and one update every 10 steps
(defaults: 25,600 and 100, which would leave a 20k-step run with no update at all).

The TorchRL learner is assembled from TorchRL's public building blocks: `PettingZooWrapper` (the
three agents stacked in one group), `MultiAgentMLP` (decentralised actors, centralised critics,
no parameter sharing), `TanhModule`, `AdditiveGaussianModule`, `Collector`,
`TensorDictReplayBuffer` on a `LazyTensorStorage`, `DDPGLoss` with target actor and critic,
the TD(0) estimator and `SoftUpdate`. One collector batch is `update_every` env steps, followed
by one critic step, one actor step and the soft target update, as in tidyrl's loop;
`--frames-per-batch` makes the batches longer (the same number of updates, done in bursts), the
way TorchRL's own examples collect. After training, each learner's bare update rate (one update
on a fixed batch, `tidyrl.bench.runner.probe_rate`) and random-action stepping rates are
recorded too.

Differences that remain (the docs page lists them): TorchRL's actor loss puts every agent's
current policy action into the critic (tidyrl, as the paper, takes the other agents' actions
from the replay); it has no penalty c * mean(u^2) on the raw actor outputs; it clips the
gradient norm of each group's stacked networks together (tidyrl: per agent); its losses average
over agents (tidyrl sums them).

Needs TorchRL and tensordict, which are not tidyrl dependencies. Install them beside the venv
without touching its torch, then run:

    pip install --no-deps --target /tmp/trl torchrl==0.14.1 tensordict==0.14.3 pyvers==0.2.3 \
        hoptorch==0.1.4 orjson importlib_metadata zipp
    PYTHONPATH=/tmp/trl:src OMP_NUM_THREADS=1 python benchmarks/maddpg_torchrl.py --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

import tidyrl
from tidyrl.algos.multiagent.maddpg import MADDPGConfig
from tidyrl.bench.record import provenance, write_record
from tidyrl.bench.runner import multiagent_ceilings, probe_rate

ENV_ID = "mpe2:simple_spread_v3"
ENV_KWARGS = {"N": 3, "continuous_actions": True, "max_cycles": 25}
BUDGET = {"learning_starts": 3000, "update_every": 10}
"""The multiagent-spread suite's shortened schedule; every other setting is the default."""
OUT = Path(__file__).parent / "results" / "multiagent-torchrl" / "maddpg__mpe2-simple_spread_v3"

Policy = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def settings() -> dict[str, Any]:
    """tidyrl's MADDPG defaults with the budget overrides: what both learners use."""
    cfg = MADDPGConfig(**BUDGET)  # type: ignore[arg-type]
    return {
        "hidden": list(cfg.hidden),
        "actor_lr": cfg.actor_lr,
        "critic_lr": cfg.critic_lr,
        "gamma": cfg.gamma,
        "tau": cfg.tau,
        "batch_size": cfg.batch_size,
        "buffer_size": cfg.buffer_size,
        "learning_starts": cfg.learning_starts,
        "update_every": cfg.update_every,
        "max_grad_norm": cfg.max_grad_norm,
        "noise": cfg.noise,
        "noise_variance_unit_box": cfg.noise_variance_start,
        "n_envs": cfg.n_envs,
    }


def make_spread() -> Any:
    from mpe2 import simple_spread_v3

    return simple_spread_v3.parallel_env(**ENV_KWARGS)


def evaluate(policy: Policy, seed: int, episodes: int) -> dict[str, float]:
    """Mean and std of the team return (sum over agents and steps) of a deterministic policy,
    on a fresh env, episode i seeded seed + 1,000,003 + i (tidyrl's evaluation seeds)."""
    env = make_spread()
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + 1_000_003 + i)
        total = 0.0
        while env.agents:
            obs, rewards, _, _, _ = env.step(policy(obs))
            total += float(sum(rewards.values()))
        returns.append(total)
    env.close()
    return {"episodes": episodes, "mean": float(np.mean(returns)), "std": float(np.std(returns))}


def measured(steps: int, updates: int, wall: float, final_eval: dict[str, float]) -> dict[str, Any]:
    """One learner's record: counts, training wall time (evaluation excluded) and rates."""
    return {
        "steps": steps,
        "updates": updates,
        "train_wall_s": round(wall, 3),
        "env_steps_per_s": round(steps / wall, 1),
        "updates_per_s": round(updates / wall, 2),
        "final_eval": final_eval,
    }


def run_tidyrl(seed: int, steps: int, episodes: int) -> dict[str, Any]:
    env_kwargs = {k: v for k, v in ENV_KWARGS.items() if k != "max_cycles"}
    agent = tidyrl.make("maddpg", ENV_ID, seed=seed, env_kwargs=env_kwargs, **BUDGET)
    start = time.perf_counter()
    agent.learn(steps)
    wall = time.perf_counter() - start
    done, updates = int(agent.counters["steps"]), int(agent.counters["updates"])
    result = measured(done, updates, wall, evaluate(lambda obs: agent.predict(obs), seed, episodes))
    probe = multiagent_ceilings(agent)
    result["raw_env_steps_per_s"] = probe["raw_env_steps_per_s"]
    result["bare_updates_per_s"] = probe["update_probe_per_s"]
    return result


class Cat(nn.Module):
    """[o_i, a_i] per agent: the critic's input before the centralised MultiAgentMLP joins all
    agents' inputs."""

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return torch.cat([obs, action], -1)


def run_torchrl(seed: int, steps: int, episodes: int, frames_per_batch: int) -> dict[str, Any]:
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule, TensorDictSequential
    from torchrl.collectors import Collector
    from torchrl.data import LazyTensorStorage, RandomSampler, TensorDictReplayBuffer
    from torchrl.envs import PettingZooWrapper
    from torchrl.modules import AdditiveGaussianModule, MultiAgentMLP, TanhModule
    from torchrl.objectives import DDPGLoss, SoftUpdate, ValueEstimators

    s = settings()
    torch.manual_seed(seed)
    env = PettingZooWrapper(env=make_spread(), categorical_actions=False, seed=seed)
    (group, agents), *rest = env.group_map.items()
    assert not rest, f"expected one agent group, got {env.group_map}"
    obs_key, act_key = (group, "observation"), (group, "action")
    n_agents = len(agents)
    obs_dim = env.full_observation_spec[obs_key].shape[-1]
    act_spec = env.full_action_spec[act_key]
    act_dim = act_spec.shape[-1]
    layers = {"depth": len(s["hidden"]), "num_cells": s["hidden"], "activation_class": nn.ReLU}

    actor_net = MultiAgentMLP(
        obs_dim, act_dim, n_agents, centralized=False, share_params=False, **layers
    )
    policy = TensorDictSequential(
        TensorDictModule(actor_net, in_keys=[obs_key], out_keys=[(group, "raw")]),
        TanhModule(in_keys=[(group, "raw")], out_keys=[act_key], spec=act_spec),
    )
    # N(0, 0.01) in the unit box [-1, 1] is std 0.1 * (high - low) / 2 in the env's units
    width = float((act_spec.space.high - act_spec.space.low).mean())
    sigma = float(np.sqrt(s["noise_variance_unit_box"])) * width / 2
    explore = TensorDictSequential(
        policy,
        AdditiveGaussianModule(
            spec=act_spec, sigma_init=sigma, sigma_end=sigma, action_key=act_key
        ),
    )
    critic_net = MultiAgentMLP(
        obs_dim + act_dim, 1, n_agents, centralized=True, share_params=False, **layers
    )
    critic = TensorDictSequential(
        TensorDictModule(Cat(), in_keys=[obs_key, act_key], out_keys=[(group, "obs_action")]),
        TensorDictModule(
            critic_net, in_keys=[(group, "obs_action")], out_keys=[(group, "state_action_value")]
        ),
    )
    loss = DDPGLoss(policy, critic, delay_actor=True, delay_value=True, loss_function="l2")
    loss.set_keys(
        state_action_value=(group, "state_action_value"),
        reward=(group, "reward"),
        done=(group, "done"),
        terminated=(group, "terminated"),
    )
    loss.make_value_estimator(ValueEstimators.TD0, gamma=s["gamma"])
    targets = SoftUpdate(loss, tau=s["tau"])
    actor_params = list(loss.actor_network_params.values(True, True))
    critic_params = list(loss.value_network_params.values(True, True))
    actor_opt = torch.optim.Adam(actor_params, lr=s["actor_lr"])
    critic_opt = torch.optim.Adam(critic_params, lr=s["critic_lr"])
    replay = TensorDictReplayBuffer(
        storage=LazyTensorStorage(s["buffer_size"]),
        sampler=RandomSampler(),
        batch_size=s["batch_size"],
    )
    collector = Collector(
        env,
        explore,
        frames_per_batch=frames_per_batch,
        total_frames=steps,
        init_random_frames=s["learning_starts"],
        auto_register_policy_transforms=False,
    )

    def step(opt: torch.optim.Optimizer, params: list[torch.Tensor], value: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        value.backward()
        nn.utils.clip_grad_norm_(params, s["max_grad_norm"])
        opt.step()

    def update(sample: Any) -> None:
        loss_value, _ = loss.loss_value(sample)
        step(critic_opt, critic_params, loss_value)
        loss_actor, _ = loss.loss_actor(sample)
        step(actor_opt, actor_params, loss_actor)
        targets.step()

    collected = updates = 0
    start = time.perf_counter()
    for batch in collector:
        replay.extend(batch.reshape(-1))
        before, collected = collected, collected + batch.numel()
        if collected >= s["learning_starts"]:
            # tidyrl's count: one update per update_every steps, from learning_starts on
            first = max(before, s["learning_starts"] - 1)
            for _ in range(collected // s["update_every"] - first // s["update_every"]):
                update(replay.sample())
                updates += 1
    wall = time.perf_counter() - start
    collector.shutdown()
    fixed = replay.sample()
    bare = probe_rate(SimpleNamespace(update_probe=lambda: lambda: update(fixed)))

    @torch.no_grad()
    def act(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = torch.as_tensor(np.stack([obs[a] for a in agents]), dtype=torch.float32)
        out = policy(TensorDict({obs_key: x}, batch_size=[]))[act_key].numpy()
        return {a: out[i] for i, a in enumerate(agents)}

    result = measured(collected, updates, wall, evaluate(act, seed, episodes))
    result["frames_per_batch"] = frames_per_batch
    result["bare_updates_per_s"] = bare["update_probe_per_s"]
    return result


def ceilings(steps: int = 2000) -> dict[str, float]:
    """Random-action env steps/s: mpe2's parallel env bare, and behind TorchRL's wrapper (its
    `rollout`, auto-resetting), so the side-by-side can be read against the env's own cost."""
    from torchrl.envs import PettingZooWrapper

    env = make_spread()
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
        env.step({a: env.action_space(a).sample() for a in env.agents})
    bare = steps / (time.perf_counter() - start)
    env.close()
    wrapped = PettingZooWrapper(env=make_spread(), categorical_actions=False, seed=0)
    start = time.perf_counter()
    wrapped.rollout(steps, break_when_any_done=False)
    through = steps / (time.perf_counter() - start)
    wrapped.close()
    return {
        "bare_env_steps_per_s": round(bare, 1),
        "torchrl_wrapper_steps_per_s": round(through, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--frames-per-batch",
        type=int,
        default=BUDGET["update_every"],
        help="TorchRL collector batch (default: update_every, so acting and updating "
        "interleave as in tidyrl); a larger one does its updates in bursts",
    )
    parser.add_argument(
        "--torchrl-first",
        action="store_true",
        help="train TorchRL's learner before tidyrl's (a check of order effects)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        load_before = os.getloadavg()
        learners = {
            "tidyrl": partial(run_tidyrl, seed, args.steps, args.eval_episodes),
            "torchrl": partial(
                run_torchrl, seed, args.steps, args.eval_episodes, args.frames_per_batch
            ),
        }
        order = ["torchrl", "tidyrl"] if args.torchrl_first else ["tidyrl", "torchrl"]
        runs = {name: learners[name]() for name in order}
        random_actions = ceilings()
        load_after = os.getloadavg()
        t, p = runs["tidyrl"], runs["torchrl"]
        record = {
            "format": "tidyrl-peer-side-by-side/1",
            "task": {"env": ENV_ID, "env_kwargs": ENV_KWARGS, "steps": args.steps},
            "seed": seed,
            "settings": settings(),
            "torch_threads": torch.get_num_threads(),
            "order": order,
            "runs": runs,
            "ratio_tidyrl_over_torchrl": {
                "env_steps_per_s": round(t["env_steps_per_s"] / p["env_steps_per_s"], 3),
                "updates_per_s": round(t["updates_per_s"] / p["updates_per_s"], 3),
                "train_wall_s": round(t["train_wall_s"] / p["train_wall_s"], 3),
                "bare_updates_per_s": round(t["bare_updates_per_s"] / p["bare_updates_per_s"], 3),
            },
            "ceilings": random_actions,
            "load_average_1_5_15": {"before": load_before, "after": load_after},
            "command": " ".join(
                ["PYTHONPATH=/tmp/trl:src", "OMP_NUM_THREADS=1", "python", *sys.argv]
            ),
            "provenance": provenance(("torchrl", "tensordict", "pettingzoo", "mpe2")),
        }
        tag = (
            ""
            if args.frames_per_batch == BUDGET["update_every"]
            else f"-fpb{args.frames_per_batch}"
        )
        tag += "-torchrl-first" if args.torchrl_first else ""
        write_record(args.out / f"seed{seed}{tag}.json", record)
        print(json.dumps({"seed": seed, **record["ratio_tidyrl_over_torchrl"]}), flush=True)
        for name, run in runs.items():
            print(name, {k: v for k, v in run.items() if k != "final_eval"}, run["final_eval"])


if __name__ == "__main__":
    main()

"""GPU layer (issue 28, item 7): every registered algorithm trains, evaluates, saves and loads with
`device=cuda`, its networks live on the GPU, and `device=auto` picks the GPU.

Skipped where torch sees no CUDA device (the CPU side, a one-line error for `device=cuda`, is in
tests/test_faults.py). On a GPU machine: `pytest -m gpu`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tests.helpers import ENV_FOR_FAMILY, imitation_overrides
from tests.test_registry_smoke import algorithm_class, env_for
from tidyrl import registry

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def module_devices(agent) -> set[str]:
    """The device types of every parameter and buffer of the agent's registered modules,
    reward plug-ins aside (they keep their networks on the CPU: `rewards.base.learn_and_score`)."""
    devices = set()
    for name, obj in agent.state_objects().items():
        if isinstance(obj, torch.nn.Module) and not name.startswith("reward_"):
            devices |= {t.device.type for t in (*obj.parameters(), *obj.buffers())}
    return devices


@pytest.mark.parametrize("algo", registry.names())
def test_every_algorithm_trains_saves_and_loads_on_cuda(tmp_path, algo):
    family = registry.entry(algo).family
    env_id = ENV_FOR_FAMILY[family] if family == "multi-agent" else env_for(algorithm_class(algo))
    needs = imitation_overrides(algo, env_id, tmp_path)
    agent = tidyrl.make(algo, env_id, seed=0, device="cuda", eval_episodes=2, **needs)
    agent.learn(300)
    assert agent.device.type == "cuda"
    assert module_devices(agent) <= {"cuda"}
    assert np.isfinite(tidyrl.evaluate(agent, episodes=2)["mean_return"])

    agent.save(tmp_path / "saved")
    loaded = tidyrl.load(tmp_path / "saved")
    assert loaded.device.type == "cuda"
    if family != "multi-agent":
        env = gym.make(env_id)
        env.observation_space.seed(0)
        obs = np.stack([env.observation_space.sample() for _ in range(16)])
        assert np.array_equal(loaded.predict(obs), agent.predict(obs))


def test_device_auto_picks_the_gpu_and_a_gpu_checkpoint_loads_on_the_cpu(tmp_path):
    agent = tidyrl.make("dqn", "CartPole-v1", device="auto", learning_starts=10)
    assert agent.device.type == "cuda"
    agent.learn(50)
    agent.save(tmp_path / "a")
    on_cpu = tidyrl.load(tmp_path / "a", device="cpu")
    assert module_devices(on_cpu) == {"cpu"}
    obs = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    assert (on_cpu.predict(obs) == agent.predict(obs)).all()


@pytest.mark.parametrize(
    ("algo", "env_id", "overrides"),
    [
        ("dqn", "CartPole-v1", {"reward": "count", "learning_starts": 50}),
        ("sac", "Pendulum-v1", {"reward": "rnd", "learning_starts": 50}),
        ("ppo", "CartPole-v1", {"reward": "icm", "n_steps": 64}),
    ],
)
def test_reward_plugins_score_a_learner_on_cuda(algo, env_id, overrides):
    """A learner on the GPU with a bonus plug-in: the plug-in scores CPU copies of the
    minibatches and its bonus joins the learner's target on the GPU."""
    agent = tidyrl.make(algo, env_id, seed=0, device="cuda", **overrides)
    agent.learn(300)
    assert module_devices(agent) <= {"cuda"}
    assert np.isfinite(tidyrl.evaluate(agent, episodes=2)["mean_return"])

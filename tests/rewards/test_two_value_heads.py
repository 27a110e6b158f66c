"""PPO's extrinsic and intrinsic value heads (Burda et al. 2018, section 2.3): the two GAEs on a
hand-computed 4-step rollout (the intrinsic stream ignores termination and episode ends, the
extrinsic one does not), the combined advantage, the value loss summed over heads, the config
check, and the default one-head path left bitwise unchanged."""

from __future__ import annotations

import pytest
import torch

import tidyrl
from tidyrl.algos.policy_gradient import common
from tidyrl.algos.policy_gradient.ppo import combined_advantage
from tidyrl.api import resolve_config
from tidyrl.core.returns import non_episodic_gae
from tidyrl.data.rollout import Rollout, RolloutBatch
from tidyrl.errors import ConfigError

# 4 steps of one env: terminated after step 1, truncated after step 2 (final values 4 and 9)
EXT_REWARDS, INT_REWARDS = [1.0, 2.0, 0.0, 1.0], [1.0, 0.0, 2.0, 0.0]
V_EXT, V_INT, LAST = [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 1.0], (2.0, 2.0)
GAMMA_E, GAMMA_I, LAM = 0.5, 1.0, 0.5
# extrinsic, gamma lambda = 0.25, cut at t = 1 and t = 2:
#   delta = (1 + .5*1 - 1, 2 - 1, 0 + .5*4 - 1, 1 + .5*2 - 1) = (.5, 1, 1, 1)
#   A_E = (.5 + .25*1, 1, 1, 1)
A_EXT = [0.75, 1.0, 1.0, 1.0]
# intrinsic, gamma lambda = 0.5, never cut, V(s'_t) the next row's value (final value 9 unused):
#   delta = (1 + 1 - 0, 0 + 2 - 1, 2 + 1 - 2, 0 + 2 - 1) = (2, 1, 1, 1)
#   A_I = (2 + .5*1.75, 1 + .5*1.5, 1 + .5*1, 1)
A_INT = [2.875, 1.75, 1.5, 1.0]


def hand_rollout() -> Rollout:
    rollout = Rollout(4, 1, (1,), (), True, intrinsic=True)
    rollout.rewards[:, 0] = torch.tensor(EXT_REWARDS)
    assert rollout.intrinsic_rewards is not None
    rollout.intrinsic_rewards[:, 0] = torch.tensor(INT_REWARDS)
    rollout.values[:, 0] = torch.tensor([V_EXT, V_INT]).T
    rollout.last_values[0] = torch.tensor(LAST)
    rollout.terminated[1, 0] = 1.0
    rollout.truncated[2, 0] = 1.0
    rollout.final_values[2, 0] = torch.tensor([4.0, 9.0])
    return rollout


def column(values: list[float]) -> torch.Tensor:
    return torch.tensor(values).reshape(4, 1)


def test_non_episodic_gae_by_hand():
    advantages, returns = non_episodic_gae(
        column(INT_REWARDS), column(V_INT), torch.tensor([LAST[1]]), GAMMA_I, LAM
    )
    torch.testing.assert_close(advantages, column(A_INT))
    torch.testing.assert_close(returns, column(A_INT) + column(V_INT))


def test_the_two_streams_by_hand_intrinsic_ignores_the_episode_ends():
    (adv_e, ret_e), (adv_i, ret_i) = hand_rollout().stream_advantages(GAMMA_E, GAMMA_I, LAM)
    torch.testing.assert_close(adv_e, column(A_EXT))
    torch.testing.assert_close(ret_e, column(A_EXT) + column(V_EXT))
    torch.testing.assert_close(adv_i, column(A_INT))
    torch.testing.assert_close(ret_i, column(A_INT) + column(V_INT))
    # had the intrinsic stream stopped at the termination, A_I(t=1) would be 0 - 1 = -1
    assert adv_i[1, 0] != -1.0
    combined = combined_advantage(adv_e, adv_i, 2.0, 1.0)
    torch.testing.assert_close(combined, column([4.375, 3.75, 3.5, 3.0]))


def test_ppo_combines_the_streams_with_its_coefficients():
    streams = {"gamma": GAMMA_E, "intrinsic_gamma": GAMMA_I, "gae_lambda": LAM}
    agent = tidyrl.make(
        "ppo",
        "CartPole-v1",
        reward="count",
        intrinsic_coef=0.5,
        two_value_heads=True,
        extrinsic_coef=3.0,
        n_envs=1,
        n_steps=4,
        **streams,
    )
    agent.rollout = hand_rollout()
    advantages, returns, metrics = agent.advantages()
    expected = 3.0 * column(A_EXT) + 0.5 * column(A_INT)
    torch.testing.assert_close(advantages, expected)
    assert returns.shape == (4, 1, 2)
    torch.testing.assert_close(returns[..., 1], column(A_INT) + column(V_INT))
    assert float(metrics["intrinsic_return"]) == pytest.approx(float(returns[..., 1].mean()))
    assert float(metrics["extrinsic_return"]) == pytest.approx(float(returns[..., 0].mean()))


def heads_batch(returns: list[list[float]]) -> RolloutBatch:
    empty = torch.zeros(2)
    old = torch.ones(2, 2)
    return RolloutBatch(empty, empty, empty, old, empty, torch.tensor(returns))


def test_value_loss_sums_the_heads_by_hand():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # E[(V_E - R_E)^2] + E[(V_I - R_I)^2] = (1 + 4) / 2 + (4 + 9) / 2
    loss = common.value_loss(values, heads_batch([[0.0, 0.0], [1.0, 1.0]]), 0.0)
    assert float(loss) == pytest.approx(9.0)
    # clipped at 0.5 around V_old = 1: V~ = ((1, 1.5), (1.5, 1.5)), returns ((0, 0), (5, 5));
    # max of the squared errors ((1, 4), (4, 1)) and ((1, 2.25), (12.25, 12.25)), per head
    loss = common.value_loss(values, heads_batch([[0.0, 0.0], [5.0, 5.0]]), 0.5)
    assert float(loss) == pytest.approx((1 + 12.25) / 2 + (4 + 12.25) / 2)


def test_two_heads_train_save_and_load(tmp_path):
    agent = tidyrl.make(
        "ppo", "CartPole-v1", seed=0, reward="rnd", two_value_heads=True, n_envs=2, n_steps=16
    )
    agent.learn(64)
    assert agent.policy.value(torch.zeros(3, 4)).shape == (3, 2)
    assert {"extrinsic_return", "intrinsic_return", "rnd_reward"} <= set(agent.last_metrics)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    obs = torch.randn(5, 4)
    torch.testing.assert_close(loaded.policy.value(obs), agent.policy.value(obs))


def test_two_heads_need_a_bonus_plugin():
    with pytest.raises(ConfigError, match="two_value_heads=True needs a bonus reward plug-in"):
        resolve_config("ppo", None, {"two_value_heads": True})
    with pytest.raises(ConfigError, match="curiosity, count, rnd, icm"):
        resolve_config("ppo", None, {"two_value_heads": True, "reward": "gail", "demos": "x"})


def one_head_value_loss(values, batch, clip_value):
    """PPO's value loss as it was before the heads: E[(V - R)^2] (clipping off)."""
    assert clip_value == 0.0
    return ((values - batch.returns) ** 2).mean()


def trained(**kwargs) -> dict[str, torch.Tensor]:
    agent = tidyrl.make("ppo", "CartPole-v1", seed=3, n_envs=4, n_steps=32, **kwargs)
    agent.learn(512)
    return agent.policy.state_dict()


@pytest.mark.parametrize("kwargs", [{}, {"reward": "count"}])
def test_the_one_head_path_is_bitwise_the_plain_ppo(monkeypatch, kwargs):
    """Without the flag, PPO (default, or with a bonus in one head) trains to bitwise the same
    parameters as with the one-head value loss it had before the heads existed."""
    ours = trained(**kwargs)
    monkeypatch.setattr(common, "value_loss", one_head_value_loss)
    reference = trained(**kwargs)
    assert ours.keys() == reference.keys()
    for key in ours:
        assert torch.equal(ours[key], reference[key]), key


def test_a_workers_share_of_an_intrinsic_rollout_keeps_both_heads():
    rollout = hand_rollout()
    part = rollout.resized(1)
    assert part.values.shape == (4, 1, 2) and part.last_values.shape == (1, 2)
    assert part.intrinsic_rewards is not None
    part.values.fill_(7.0)
    rollout.put(0, part)
    assert bool((rollout.values == 7.0).all())

"""What each exploration bonus costs per update, against the bare learner (issue 22, item 5).

For DQN (RL-Zoo's CartPole settings, `--preset none`) and PPO (its CartPole defaults) on
CartPole-v1, with `reward=env` (no plug-in) and each bonus plug-in (curiosity, count, rnd, icm):
train a few thousand steps so that networks, optimizers and statistics are those of a real run,
then time, in CPU time of this thread (robust to other tenants, torch single-threaded):

    DQN   one `update(batch)` on a fixed minibatch (`Agent.update_probe`). With a plug-in the
          update trains the plug-in on the minibatch and scores it (`learn_and_score`), so the
          ratio is the whole per-update cost. (`observe`, once per collected transition, is
          outside the update and not timed.)
    PPO   one rollout's learning: the plug-in's `relabel_rollout` as PPO calls it (observe,
          update and score the whole rollout; RND and ICM score it and then train on each of
          PPO's minibatches in every epoch), once per rollout, plus the bare epochs, n_epochs x
          minibatches x one minibatch `update` (`Agent.update_probe`); the ratio is (relabel +
          epochs) / epochs.

    .venv/bin/python benchmarks/plugin_cost.py [--repeats 200]

It prints a Markdown table; docs/performance.md holds the measured one.
"""

from __future__ import annotations

import argparse

import torch

import tidyrl
from tidyrl.bench.timing import median_ms
from tidyrl.loops.on_policy import relabel_rollout
from tidyrl.runtime import configure

PLUGINS = ("env", "curiosity", "count", "rnd", "icm")


def dqn_update_ms(reward: str, repeats: int) -> float:
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0, preset="none", reward=reward)
    agent.learn(3_000)
    probe = agent.update_probe()
    assert probe is not None
    return median_ms(probe, repeats)


def ppo_rollout_ms(reward: str, repeats: int) -> tuple[float, float]:
    """(bare epochs of one rollout, the plug-in's relabel of it) in ms."""
    agent = tidyrl.make("ppo", "CartPole-v1", seed=0, reward=reward)
    agent.learn(4 * agent.config.n_envs * agent.config.n_steps)
    cfg = agent.config
    minibatches = cfg.n_envs * cfg.n_steps // cfg.minibatch_size
    epochs_ms = cfg.n_epochs * minibatches * median_ms(agent.update_probe(), repeats)
    plugin = agent.reward_plugin
    if plugin is None:
        return epochs_ms, 0.0
    saved = agent.rollout.rewards.clone()

    def relabel() -> None:
        agent.rollout.rewards.copy_(saved)  # each call scores the same rollout afresh
        relabel_rollout(plugin, agent.rollout, None, cfg.n_epochs, cfg.minibatch_size)

    return epochs_ms, median_ms(relabel, max(10, repeats // 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    configure(1)
    dqn = {reward: dqn_update_ms(reward, args.repeats) for reward in PLUGINS}
    ppo = {reward: ppo_rollout_ms(reward, args.repeats) for reward in PLUGINS}
    header = ["reward", "DQN ms / update", "DQN ratio", "PPO epochs ms / rollout"]
    print("| " + " | ".join([*header, "PPO relabel ms", "PPO ratio"]) + " |")
    print("|---|---|---|---|---|---|")
    for reward in PLUGINS:
        epochs, relabel = ppo[reward]
        bare = ppo["env"][0]
        print(
            f"| {reward} | {dqn[reward]:.3f} | {dqn[reward] / dqn['env']:.2f}x | {epochs:.1f} | "
            f"{relabel:.1f} | {(epochs + relabel) / bare:.2f}x |"
        )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()

"""Value-based chapter (issue 3): the DQN family and soft Q-learning.

- `value-cartpole`: every id (and DQN with double + dueling) on CartPole-v1, 50k steps, 3 seeds,
  threshold 475 (the issue's bar: at least 2 of 3 seeds).
- `dqn-vs-sb3`: tidyrl's `dqn` and Stable-Baselines3's DQN with RL-Zoo's tuned CartPole-v1
  hyper-parameters (rl-baselines3-zoo hyperparams/dqn.yml), trained side by side, alternating.
- `value-minatar`: DQN and Rainbow on MinAtar Breakout with their MinAtar presets. The DQN task's
  peer is the authors' own `examples/dqn.py`, the code behind Young & Tian's (2019) Fig. 2. It
  is trained and evaluated at the same frames (the paper's curves exist only as images). Three
  ablation tasks give tidyrl's DQN the script's action set and epsilon schedule, those plus its
  optimizer, and its optimizer alone. Rainbow runs at Revisiting Rainbow's MinAtar settings
  (`rainbow --preset minatar`, issue 27), at the earlier preset (whose records predate them),
  with each of its six components off in turn (`RAINBOW_ABLATION`), and with one update per
  step (DQN's rate: at 200k frames their update every 4 steps gives it a quarter of DQN's
  updates), with DQN's network, lr, update rate and replay start (`DQN_MATCHED`), and with
  those at one update per 2 steps (`DQN_MATCHED_EVERY_2`: a Rainbow env step at about 2x
  DQN's cost) on Breakout and Asterix; Asterix is the second game for DQN and Rainbow.
- `value-pong`: a short Atari Pong run through the full preprocessing pipeline.
- `memory-dqn` (issue 28): recurrent DQN (`r2d2`, its defaults) beside feed-forward DQN (its
  CartPole defaults) on the cue-recall T-maze (`tidyrl/TMaze-v0`, corridor of 10; recurrent
  PPO too) and on CartPole with the velocities hidden (`tidyrl/CartPoleNoVel-v1`), 3 seeds:
  memory is what solves them.
"""

from __future__ import annotations

from tidyrl.bench.suite import Peer, Suite, Task

ZOO_CARTPOLE = {
    "lr": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_every": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "epsilon_end": 0.04,
    "hidden": (256, 256),
}
"""RL-Zoo's DQN CartPole-v1 settings in tidyrl's field names (equal to DQN's defaults)."""

ZOO_CARTPOLE_SB3 = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "policy_kwargs": {"net_arch": [256, 256]},
}


PONG_SHORT = {
    "lr": 1e-4,
    "buffer_size": 50_000,
    "learning_starts": 10_000,
    "train_freq": 1,
    "target_update_every": 1_000,
    "exploration_fraction": 1 / 3,
    "epsilon_end": 0.02,
    "env_kwargs": {"sticky_actions": 0.0},
}
"""The Nature network and preprocessing with the data-efficient schedule common in Pong tutorials
(one update per step, target copied every 1k steps, epsilon to 0.02 over the first 100k steps,
no sticky actions as in Mnih et al.). 300k steps are the start of Pong's curve, where a run shows
whether the pixel pipeline learns at all and still fits a CPU session; the Nature schedule needs
millions of steps and is for a GPU. What the recorded runs learned: docs/algorithms/dqn.md."""

PONG_GPU_STEPS = 2_500_000
"""10M frames: where the published DQN curve has left random play on 4 of 5 seeds (Dopamine's
baseline data, benchmarks/reference/dopamine-pong-dqn.json). The Nature settings' epsilon reaches
its floor at 4M frames. What a run of it costs on a CPU: docs/algorithms/dqn.md."""
PONG_PUBLISHED = (
    "Dopamine DQN (5 seeds, training episodes of the 9M-10M-frame iteration): "
    "-9.8 / 6.9 / 2.4 / -19.1 / -5.0; random play -20.7 (Mnih et al. 2015)"
)

PONG_RAINBOW_SHORT = {
    **{k: v for k, v in PONG_SHORT.items() if k != "exploration_fraction"},
    "distributional": False,
    "noisy": False,
    "dueling": False,
}
"""The same schedule as `PONG_SHORT` (on top of rainbow's atari preset: Nature network, batch
32, Adam eps 1.5e-4) through `rainbow` with three of its components: 3-step
returns, prioritized replay (omega 0.5, beta 0.4 -> 1) and Double DQN, with ε-greedy acting
(ε to 0.02 over the first sixth of the budget, 25k steps), a scalar Q and no dueling streams
(a second 512-unit stream in every pass, see docs/performance.md). Multi-step returns carry the
reward of a point back three steps per update instead of one; Hessel et al. (2018, Fig. 3)
found them and prioritized replay the components that matter most early in training."""


SCRIPT_SCHEDULE = {"exploration_fraction": 105_000 / 200_000}
"""`dqn --preset minatar` moved to two of the authors' `examples/dqn.py` settings, so the
`value-minatar` side by side can say what they are worth: ε reaches 0.1 at 105k frames (the
script: 5k random frames, then 1 -> 0.1 over 100k; here 1 -> 0.1 linearly from frame 0, ε 0.96
rather than 1 at 5k), and the task's `-v0` id has all 6 actions, as the script acts with.
A second task also swaps Adam for the script's centered RMSProp
(`optimizer="rmsprop"`), which leaves the two agents differing only in code, not settings; a
third swaps the optimizer alone."""


RAINBOW_MINATAR_EARLIER = {
    "v_min": -10.0,
    "v_max": 10.0,
    "hidden": (128,),
    "sigma0": 0.5,
    "noisy_epsilon": 0.0,
    "beta_start": 0.4,
    "beta_end": 1.0,
    "learning_starts": 5_000,
    "train_freq": 1,
    "max_grad_norm": 10.0,
}
"""What `rainbow --preset minatar` was before it took Revisiting Rainbow's settings (issue 27):
128-unit noisy streams, V in [-10, 10], an update every step after 5k, sigma_0 0.5, no ε on
top of the noise, beta 0.4 -> 1, gradient norm clipped at 10 (lr, Adam eps, batch, replay
and target period were already theirs). Kept so that the `rainbow minatar-breakout` records
stay reproducible."""

RAINBOW_ABLATION = {
    "n-step": {"n_step": 1},
    "per": {"prioritized": False},
    "c51": {"distributional": False},
    "noisy": {"noisy": False},
    "dueling": {"dueling": False},
    "double": {"double": False},
}
"""Rainbow minus one component (Hessel et al. 2018, Fig. 3; Obando-Ceron & Castro 2021, Fig. 3
on MinAtar): 1-step returns, uniform replay, a scalar Q with a Huber loss, ε-greedy (1 -> 0.04
over the first sixth of the budget) with plain layers, one Q stream, the target network
selecting a* itself."""


DQN_MATCHED = {"hidden": (128,), "lr": 2.5e-4, "train_freq": 1, "learning_starts": 5_000}
"""The four settings in which Revisiting Rainbow's MinAtar agent differs from `dqn --preset
minatar` outside the six components: a 128-unit layer after the conv (theirs: none), Adam's lr
2.5e-4 (theirs: 1e-4), an update every step (theirs: every 4) and learning from 5,000 stored
steps (theirs: 1,000). With all six components on, this run tells whether the settings or the
components keep Rainbow below DQN at 200k frames."""


DQN_MATCHED_EVERY_2 = {**DQN_MATCHED, "train_freq": 2}
"""`DQN_MATCHED` with an update every 2 steps: a Rainbow update costs several DQN updates
(docs/algorithms/rainbow.md measures it), so this is the update rate at which a Rainbow env step
comes near the issue's 2x DQN's cost, with half of DQN's updates."""


def _minatar_rainbow(game: str, label: str, reference: str, **overrides: object) -> Task:
    return Task(
        "rainbow",
        f"MinAtar/{game}-v1",
        200_000,
        preset="minatar",
        overrides=overrides,
        label=label,
        eval_every=20_000,
        reference=reference,
    )


REVISITING = "Obando-Ceron & Castro 2021 (Revisiting Rainbow), Fig. 3"

RAINBOW_MINATAR = (
    _minatar_rainbow(
        "Breakout",
        "rainbow minatar-breakout",
        "the earlier preset (RAINBOW_MINATAR_EARLIER)",
        **RAINBOW_MINATAR_EARLIER,
    ),
    _minatar_rainbow("Breakout", "rainbow minatar-breakout revisiting", REVISITING),
    _minatar_rainbow(
        "Breakout",
        "rainbow minatar-breakout every-step",
        "Revisiting Rainbow's settings with DQN's update rate (one update per step)",
        train_freq=1,
    ),
    *(
        _minatar_rainbow(
            "Breakout",
            f"rainbow minatar-breakout minus {part}",
            f"ablation: Rainbow without {part}",
            **off,
        )
        for part, off in RAINBOW_ABLATION.items()
    ),
    _minatar_rainbow(
        "Breakout",
        "rainbow minatar-breakout dqn-matched",
        "Revisiting Rainbow's settings with DQN's network, lr, update rate and replay start",
        **DQN_MATCHED,
    ),
    _minatar_rainbow("Asterix", "rainbow minatar-asterix revisiting", REVISITING),
    *(
        _minatar_rainbow(
            game,
            f"rainbow minatar-{game.lower()} dqn-matched every-2",
            "DQN_MATCHED with an update every 2 steps (DQN_MATCHED_EVERY_2)",
            **DQN_MATCHED_EVERY_2,
        )
        for game in ("Breakout", "Asterix")
    ),
)


def _cartpole(algo: str, label: str, **overrides: object) -> Task:
    return Task(
        algo,
        "CartPole-v1",
        50_000,
        threshold=475,
        preset="cartpole",
        overrides=overrides,
        label=label,
        eval_every=5_000,
    )


MEMORY_TMAZE_STEPS = 10_000
MEMORY_CARTPOLE_STEPS = 30_000


def _memory(algo: str, env: str, label: str, **overrides: object) -> Task:
    """One `memory-dqn` task: the T-maze (threshold 0.9, 10k steps, 20 evaluation episodes every
    1k) or CartPoleNoVel (475, 30k steps, 10 episodes every 3k)."""
    maze = env == "tidyrl/TMaze-v0"
    return Task(
        algo,
        env,
        MEMORY_TMAZE_STEPS if maze else MEMORY_CARTPOLE_STEPS,
        threshold=0.9 if maze else 475,
        eval_every=1_000 if maze else 3_000,
        eval_episodes=20 if maze else 10,
        overrides=overrides,
        label=label,
    )


MEMORY_DQN = (
    _memory("r2d2", "tidyrl/TMaze-v0", "r2d2 t-maze"),
    _memory("dqn", "tidyrl/TMaze-v0", "dqn feed-forward t-maze"),
    _memory("recurrent-ppo", "tidyrl/TMaze-v0", "recurrent-ppo t-maze"),
    _memory("r2d2", "tidyrl/CartPoleNoVel-v1", "r2d2 cartpole-novel"),
    _memory("r2d2", "tidyrl/CartPoleNoVel-v1", "r2d2 lr=5e-4 cartpole-novel", lr=5e-4),
    _memory("dqn", "tidyrl/CartPoleNoVel-v1", "dqn feed-forward cartpole-novel"),
)
"""Issue 28: memory tasks for the value-based family. On the T-maze the best memoryless policy
returns 0 (it guesses at the junction), the remembering one 1 (threshold 0.9: 19 of 20 right
turns); CartPole without velocities is solved at 475. R2D2 at half its learning rate is an
investigation of its evaluations' oscillation on CartPole at the default rate."""

SUITES = [
    Suite(
        "value-cartpole",
        "value",
        (
            _cartpole("dqn", "dqn"),
            _cartpole("dqn", "dqn double=true dueling=true", double=True, dueling=True),
            _cartpole("c51", "c51"),
            _cartpole("rainbow", "rainbow"),
            _cartpole("soft-q", "soft-q"),
        ),
        description="Every value-based id on CartPole-v1 within 50k steps (bar: 2 of 3 >= 475).",
    ),
    Suite(
        "dqn-vs-sb3",
        "value",
        (
            Task(
                "dqn",
                "CartPole-v1",
                50_000,
                threshold=475,
                overrides=ZOO_CARTPOLE,
                label="dqn zoo-cartpole vs SB3",
                eval_every=5_000,
                peer=Peer("DQN", ZOO_CARTPOLE_SB3),
            ),
        ),
        description="Wall time and return of tidyrl vs SB3 DQN, identical RL-Zoo settings.",
    ),
    Suite(
        "value-minatar",
        "value",
        (
            Task(
                "dqn",
                "MinAtar/Breakout-v1",
                200_000,
                preset="minatar",
                label="dqn minatar-breakout",
                eval_every=20_000,
                reference="Young & Tian 2019 (MinAtar), Fig. 2: DQN on Breakout",
                peer=Peer("dqn", library="minatar-examples"),
            ),
            Task(
                "dqn",
                "MinAtar/Breakout-v0",
                200_000,
                preset="minatar",
                overrides=SCRIPT_SCHEDULE,
                label="dqn minatar-breakout 6-actions eps-105k",
                eval_every=20_000,
                reference="ablation: the authors' action set and epsilon schedule",
            ),
            Task(
                "dqn",
                "MinAtar/Breakout-v0",
                200_000,
                preset="minatar",
                overrides={**SCRIPT_SCHEDULE, "optimizer": "rmsprop"},
                label="dqn minatar-breakout 6-actions eps-105k rmsprop",
                eval_every=20_000,
                reference="ablation: the authors' actions, epsilon schedule and optimizer",
            ),
            Task(
                "dqn",
                "MinAtar/Breakout-v1",
                200_000,
                preset="minatar",
                overrides={"optimizer": "rmsprop"},
                label="dqn minatar-breakout rmsprop",
                eval_every=20_000,
                reference="ablation: the authors' optimizer alone",
            ),
            Task(
                "dqn",
                "MinAtar/Asterix-v1",
                200_000,
                preset="minatar",
                label="dqn minatar-asterix",
                eval_every=20_000,
                reference="Young & Tian 2019 (MinAtar), Fig. 2: DQN on Asterix",
            ),
            *RAINBOW_MINATAR,
        ),
        seeds=(0, 1, 2),
        description="MinAtar Breakout with the MinAtar presets, as many steps as CPU allows.",
    ),
    Suite(
        "value-pong",
        "value",
        (
            Task(
                "dqn",
                "Atari/Pong-v5",
                300_000,
                preset="atari",
                overrides=PONG_SHORT,
                label="dqn atari-pong short",
                eval_every=25_000,
                reference="random play: -20.7 (Mnih et al. 2015, Extended Data Table 2)",
            ),
            Task(
                "rainbow",
                "Atari/Pong-v5",
                150_000,
                preset="atari",
                overrides=PONG_RAINBOW_SHORT,
                label="rainbow n-step+per+double atari-pong short",
                eval_every=25_000,
                reference="random play: -20.7 (Mnih et al. 2015, Extended Data Table 2)",
            ),
        ),
        seeds=(0,),
        description="A short Pong run: the pixel pipeline end to end (random play scores -20.7).",
    ),
    Suite(
        "value-pong-gpu",
        "value",
        (
            Task(
                "dqn",
                "Atari/Pong-v5",
                PONG_GPU_STEPS,
                threshold=-19.7,
                preset="atari",
                overrides={"device": "auto"},
                label="dqn atari-pong nature 10M frames",
                eval_every=250_000,
                reference=PONG_PUBLISHED,
            ),
        ),
        description="DQN at the Nature settings on Pong for 10M frames, 3 seeds: the long run "
        "planned for a GPU (docs/algorithms/dqn.md); threshold: one point above random play.",
    ),
    Suite(
        "memory-dqn",
        "value",
        MEMORY_DQN,
        description="R2D2 vs feed-forward DQN (and recurrent PPO) on the T-maze and "
        "CartPole without velocities, 3 seeds.",
    ),
]

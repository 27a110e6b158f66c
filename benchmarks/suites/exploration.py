"""Exploration (issue 22): reward plug-ins (`tidyrl.rewards`) against the bare learner.

- `exploration-mountaincar`: DQN with lecture seed 000's curiosity bonus (reward=curiosity, the
  vector environment model's squared prediction error on standardized states) against plain
  DQN, MountainCar-v0, 100k steps, 3 seeds, the same seeds and budget. Both use DQN's plain
  defaults (`--preset none`, RL-Zoo's CartPole settings), not the MountainCar preset DQN picks
  by itself, so that the bonus is the only difference; threshold -150 (the issue's bar: at
  least 2 of 3 seeds with curiosity, while plain DQN should stay near -200; the records show
  the plain learner crossing -150 late on 2 of 3 seeds, see docs/exploration/curiosity.md).

  beta = 1e5: MountainCar's dynamics are smooth and the model learns them within the first
  updates, so C falls to about 1e-6 per step (standardized units squared) and beta C must be
  scaled up to about 0.1 to shape the Q-values at all. With beta = 1 (this suite's first
  record) every evaluation of seed 0 stayed at -200 over 100k steps; on seed 0 at 50k steps
  beta = 1e3 and 1e4 also stayed at -200 by 30k steps, beta = 1e5 reached -154.6 at 20k and
  -114.4 at 30k (exploratory runs, not records).

- `exploration-chain`: PPO on the 20-state chain with a 0.1 distractor (`tidyrl/Chain-v0`, the
  CI test's task for DQN), plain against the SimHash count bonus (beta 0.1) with one value head
  and with the RND paper's two heads (`two_value_heads`: extrinsic and non-episodic intrinsic
  streams), 30k steps, 3 seeds, PPO's plain defaults. Leaving at once earns 0.1; walking the
  chain earns 1 (threshold 0.9).

- `exploration-doorkey`: PPO on MiniGrid-DoorKey (pip install 'tidyrl[minigrid]'; Dict
  observations {image (7, 7, 3), direction}), the spaces suite's MiniGrid PPO settings
  (`MINIGRID_PPO`: rl-starter-files' PPO, Willems) for every variant. DoorKey-5x5 plain PPO is
  the sanity check (threshold 0.9; RL-Zoo's PPO model scores 0.97 there). DoorKey-8x8 at 500k
  frames: plain PPO against + count (SimHash with the direction counted exactly), + RND and +
  ICM, one value head each, threshold 0.8 (the issue's bar). The coefficients put each bonus on
  the same scale at the start, beta * mean C of about 0.003 per step: in a 16k-step probe on
  seed 0 with beta = 0 (not a record) the mean C was 0.15-0.29 for counts, 0.02-0.03 for RND
  (normalized by its running sigma_R) and 0.01-0.04 for ICM, hence beta 0.01 for counts (Tang
  et al. 2017's Atari value and the plug-in's default), 0.1 for RND and 0.1 for ICM (the
  released ICM code's 0.01 was set for Doom's pixel features, whose errors are larger). The
  reward of reaching the goal in L steps is 1 - 0.9 L / 640 on 8x8. DoorKey-5x5 is evaluated
  greedily; every 8x8 variant by sampling its policy (`eval_deterministic=false`, as
  rl-starter-files evaluates MiniGrid agents), 10 episodes every 50k steps: a greedy MiniGrid
  policy can loop in place until the 640-step limit where the sampled one succeeds
  (docs/environments/spaces.md; in the first round, greedy, plain PPO's seed 0 had sampled
  training returns of about 0.6 by 480k and greedy evaluations of 0.0 throughout). The beta
  probe above ran while MiniGrid's image was scaled by 1/255 (before it was declared with its
  bound, 10): the count bonus (unit norm per key) and RND (whitened) do not depend on that
  scale, ICM's C may.
  The 8x8 records from the commit that added `ppo + episodic count` on are a second round, 3
  seeds, with three changes to the plug-ins and one to the protocol: the count plug-in centres
  its SimHash input on the mean of the first 4,096 states counted (`center_states`); RND and ICM
  score each rollout before they train on it, one Adam step per PPO minibatch in every epoch
  (`trains_on_minibatches`; before, one step per rollout, after scoring); `ppo + episodic
  count` counts views within the current episode only (`episodic`, RIDE's and NGU's episodic
  novelty: DoorKey draws a new layout at every reset, so lifelong counts of egocentric views
  mostly measure the layout); and sampled evaluation on 8x8 (the first round's seed-0 records,
  greedy, are in git history).
  `ppo + episodic count, beta 0.001` and `beta 0.0003` are the episodic count at a tenth and a
  thirtieth of the coefficient, after probes at lower coefficients (not records): with one value
  head and normalized advantages, beta sets the weight of the bonus against the extrinsic return
  once the goal is found. The episodic C averages about 0.5 per step over the first 10k frames, so
  at beta 0.01 a 640-step episode earns about 3 in bonus against the goal's reward of at most 1,
  and at 0.001 about 0.3. The same probes at a tenth of the other coefficients (lifelong count
  0.001, RND 0.01, ICM 0.01) stayed at 0.0.
  `ppo + icm, first-visit gate, beta 0.03` pays ICM's bonus only at a view's first visit in the
  episode (`episodic_gate=first_visit`, NovelD's episodic restriction): an ungated lifelong
  bonus can be collected again and again within one episode by pacing between rare views. Gated
  bonuses average about a tenth of the ungated ones, hence beta 0.03 (a seed-0 probe, not a
  record, reached 0.97 at this setting). `ppo + icm, beta 0.03` is the same bonus ungated, the
  control that tells the gate's effect from the coefficient's.
  `ppo + rnd, ngu gate, beta 0.0003` combines RND with the episodic count as NGU does
  (`episodic_gate=ngu`: 1 / sqrt(n_episode) times RND's novelty as a multiplier in [1, 5]), at
  the episodic count's best coefficient, after seed-0 probes (not records) of RND with the
  first-visit gate at beta 0.03, 0.1 and 0.3 stayed at 0.0 to 200k-500k frames. `beta 0.001`
  is the same at the episodic count's other coefficient, after beta 0.0003 missed seeds 0 and 2.
  `beta 0.0001` and `beta 0.0002` go the other way, after 0.001 missed the same two seeds: the
  NGU multiplier clip(1 + (C - mu_C) / sigma_C, 1, 5) is at least 1, so at equal beta the gated
  bonus pays at least what the episodic count pays (which solved seeds 0 and 2 at 0.0003), and
  a lower beta brings it back towards the episodic count's scale.
  `ppo + rnd, inverse-sqrt gate` pays RND's bonus divided by the square root of the episodic
  count (`episodic_gate=inverse_sqrt`, the product Wang et al. 2023 compare with NGU's), so the
  novelty itself, not a multiplier clipped to [1, 5], sets the bonus. Beta 0.01 assumed RND's C
  at the start (0.02-0.03 per step, above) times an episodic factor of about 0.5, near the
  episodic count's bonus at its best beta, 0.0003 (about 1.5e-4 per step). The gated C these
  runs log is 0.002-0.004 per step by 400k frames, so beta 0.05 puts the product at 1e-4-2e-4.
  `ppo + rnd, one-hot image, ...` feed RND MiniGrid's image as what it is, a grid of object,
  colour and state indices, one-hot per cell (`categorical_keys=image`) instead of scaled by its
  bound, with ICM's winning gate and coefficient (first visit, 0.03) and with the NGU gate at
  0.0003.

- `exploration-doorkey-two-heads`: the same DoorKey-8x8 variants, 500k frames, two changes
  after `exploration-doorkey`'s seed 0, where every bonus variant's extrinsic training return
  stayed at 0.0 for 500k frames while plain PPO's rose to about 0.4. (1) The bonus variants use
  the RND paper's two value heads (Burda et al. 2018, section 2.3): with one head, r + beta * C
  is discounted and cut at episode ends, so a positive per-step bonus pays the agent to keep the
  episode going and reaching the goal (which ends it) costs it the bonus it would have earned;
  the intrinsic stream of `two_value_heads` runs on across episode ends, and the extrinsic
  stream is the plain task. (2) Every variant is evaluated by sampling its policy
  (`eval_deterministic=false`, as rl-starter-files evaluates MiniGrid agents), so a greedy
  policy's loops do not hide what it learned; plain PPO is evaluated the same way.
"""

from __future__ import annotations

from pathlib import Path

from tidyrl.bench.folder import _load
from tidyrl.bench.suite import Suite, Task

MINIGRID_PPO = _load(Path(__file__).with_name("spaces.py")).MINIGRID_PPO
"""The spaces suite's MiniGrid PPO settings (loaded once, like every suite file)."""


def _mountaincar(label: str, **overrides: object) -> Task:
    return Task(
        "dqn",
        "MountainCar-v0",
        100_000,
        threshold=-150.0,
        preset="none",
        overrides=overrides,
        label=label,
        eval_every=20_000,
        eval_episodes=10,
    )


CHAIN_ENV = {"env_kwargs": {"n": 20, "distractor": 0.1}}


def _chain(label: str, **overrides: object) -> Task:
    return Task(
        "ppo",
        "tidyrl/Chain-v0",
        30_000,
        threshold=0.9,
        preset="none",
        overrides={**CHAIN_ENV, **overrides},
        label=label,
        eval_every=5_000,
        eval_episodes=2,
    )


def _doorkey(label: str, size: int = 8, **overrides: object) -> Task:
    return Task(
        "ppo",
        f"MiniGrid-DoorKey-{size}x{size}-v0",
        500_000 if size == 8 else 150_000,
        threshold=0.8 if size == 8 else 0.9,
        overrides={
            **MINIGRID_PPO,
            **({"eval_deterministic": False} if size == 8 else {}),
            **overrides,
        },
        label=label,
        eval_every=50_000 if size == 8 else 25_000,
        eval_episodes=10,
        reference="RL-Zoo PPO 0.97 (DoorKey-5x5)" if size == 5 else "",
    )


SUITES = [
    Suite(
        "exploration-mountaincar",
        "exploration",
        (
            _mountaincar("dqn + curiosity", reward="curiosity", intrinsic_coef=1e5),
            _mountaincar("dqn"),
        ),
        description="DQN + seed 000 curiosity vs plain DQN on MountainCar-v0, 100k steps",
    ),
    Suite(
        "exploration-chain",
        "exploration",
        (
            _chain("ppo"),
            _chain("ppo + count", reward="count", intrinsic_coef=0.1),
            _chain(
                "ppo + count, two value heads",
                reward="count",
                intrinsic_coef=0.1,
                two_value_heads=True,
            ),
        ),
        description="PPO, PPO + count bonus, and PPO + count with two value heads on a chain",
    ),
    Suite(
        "exploration-doorkey",
        "exploration",
        (
            _doorkey("ppo doorkey-5x5", size=5),
            _doorkey("ppo"),
            _doorkey("ppo + count", reward="count", intrinsic_coef=0.01),
            _doorkey("ppo + episodic count", reward="count", intrinsic_coef=0.01, episodic=True),
            _doorkey(
                "ppo + episodic count, beta 0.001",
                reward="count",
                intrinsic_coef=0.001,
                episodic=True,
            ),
            _doorkey(
                "ppo + episodic count, beta 0.0003",
                reward="count",
                intrinsic_coef=0.0003,
                episodic=True,
            ),
            _doorkey("ppo + rnd", reward="rnd", intrinsic_coef=0.1),
            _doorkey("ppo + icm", reward="icm", intrinsic_coef=0.1),
            _doorkey(
                "ppo + icm, first-visit gate, beta 0.03",
                reward="icm",
                intrinsic_coef=0.03,
                episodic_gate="first_visit",
            ),
            _doorkey("ppo + icm, beta 0.03", reward="icm", intrinsic_coef=0.03),
            *(
                _doorkey(
                    f"ppo + rnd, ngu gate, beta {beta}",
                    reward="rnd",
                    intrinsic_coef=beta,
                    episodic_gate="ngu",
                )
                for beta in (0.0001, 0.0002, 0.0003, 0.001)
            ),
            *(
                _doorkey(
                    f"ppo + rnd, inverse-sqrt gate, beta {beta}",
                    reward="rnd",
                    intrinsic_coef=beta,
                    episodic_gate="inverse_sqrt",
                )
                for beta in (0.01, 0.05)
            ),
            *(
                _doorkey(
                    f"ppo + rnd, one-hot image, {gate.replace('_', '-')} gate, beta {beta}",
                    reward="rnd",
                    intrinsic_coef=beta,
                    episodic_gate=gate,
                    categorical_keys=("image",),
                )
                for gate, beta in (("first_visit", 0.03), ("ngu", 0.0003))
            ),
        ),
        description="PPO vs PPO + count / RND / ICM on MiniGrid-DoorKey-8x8, 500k frames",
    ),
    Suite(
        "exploration-doorkey-two-heads",
        "exploration",
        (
            _doorkey("ppo, sampled eval", eval_deterministic=False),
            *(
                _doorkey(
                    f"ppo + {reward}, two value heads, sampled eval",
                    reward=reward,
                    intrinsic_coef=coef,
                    two_value_heads=True,
                    eval_deterministic=False,
                )
                for reward, coef in (("count", 0.01), ("rnd", 0.1), ("icm", 0.1))
            ),
        ),
        description="PPO vs PPO + count / RND / ICM with the RND paper's two value heads "
        "(non-episodic intrinsic stream) on MiniGrid-DoorKey-8x8, 500k frames, sampled "
        "evaluation",
    ),
]

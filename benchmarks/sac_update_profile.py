"""Per-update time breakdown of SAC (batch 256, 256-256 ReLU, twin critics, alpha tuning).

Runs the same SAC update in stages, each adding one change to the previous one, and prints the
median time per update of each stage, so the table says what every change bought:

    naive      two separate critic MLPs, three Adam optimizers (for-loop kernels), the
               sequential order of Stable-Baselines3 (alpha step, critic step, then the actor
               loss through the *updated* critics with a full backward that also computes
               critic weight gradients), Polyak by a Python loop over parameters
    ensemble   + both critics in one batched matmul per layer (QEnsemble)
    inputs     + each backward names its parameters: the actor loss computes no critic grads
    fused      + all losses from one set of parameters, one fused Adam over all parameters
               (one group: they share the learning rate), foreach Polyak
    lean-adam  + `tidyrl.nets.optim.Adam` (now torch's fused Adam through public APIs, so
               the same as `fused` here; older records timed a step on cached lists)
    oriented   + skinny products (3-4 inputs, 1-2 outputs) evaluated in the orientation MKL
               runs fast, and the ensemble's first layer laid out (k, B, h) so its ReLU and
               ReLU-backward see one memory layout (`tidyrl.nets.critics.linear`)
    one-pass   + the actor's path through a frozen critic (``critic(..., frozen=True)``), so
               one backward pass of the summed losses gives every gradient
    SAC fp32   + the tanh-Gaussian log-probability in eps (half the ops), the critic step and
               the actor step as two backward passes into disjoint parameters: this is
               `tidyrl.algos.actor_critic.sac.SAC.update`, timed on the agent itself
    SAC bf16   + hidden-to-hidden matmuls in bfloat16 (SAC with precision=bf16; timed only
               where the CPU multiplies bf16 natively, `tidyrl.nets.precision.native_bf16`)

(these rows time the serial update; with a core to spare, `SAC.update` runs its actor step on
a helper thread (`tidyrl.runtime.run_side_by_side`), which only a wall-clock row can show: it
is printed after them)

The stages before `oriented` run with `tidyrl.nets.critics.linear` swapped for plain
``addmm``/``baddbmm``/``matmul`` products (`plain_linear`), as the library ran before that change.

then a section-by-section breakdown of the final update and of the per-step work around it
(buffer sampling, acting on one observation, one env step).

    .venv/bin/python benchmarks/sac_update_profile.py [--threads 1] [--repeats 200]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import tidyrl
from tidyrl import runtime
from tidyrl.bench import timing
from tidyrl.core.squashed import LOG_STD_MAX, LOG_STD_MIN, squashed_gaussian_log_prob
from tidyrl.data.batch import Transition
from tidyrl.nets import critics
from tidyrl.nets.critics import QEnsemble, mlp_forward
from tidyrl.nets.mlp import mlp
from tidyrl.nets.optim import Adam
from tidyrl.nets.precision import native_bf16

OBS, ACT, HIDDEN, BATCH, TAU, GAMMA = 3, 1, (256, 256), 256, 0.005, 0.99
PRECISIONS = ("fp32", "bf16") if native_bf16() else ("fp32",)
"""Emulated bf16 is ~12x slower than fp32 (no AVX-512 BF16 / AMX): not worth a row there."""


CLOCK = time.thread_time
"""CPU time of this thread (torch runs single-threaded here): on a shared machine, wall time
mostly measures the other tenants; `--wall` switches to wall-clock time."""


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return timing.median_ms(fn, repeats, CLOCK)


def fake_batch() -> Transition:
    g = torch.Generator().manual_seed(0)
    return Transition(
        obs=torch.randn(BATCH, OBS, generator=g),
        actions=torch.rand(BATCH, ACT, generator=g) * 2 - 1,
        rewards=-torch.rand(BATCH, generator=g) * 10,
        next_obs=torch.randn(BATCH, OBS, generator=g),
        terminated=torch.zeros(BATCH, dtype=torch.bool),
        truncated=torch.zeros(BATCH, dtype=torch.bool),
    )


STAGES = ("naive", "ensemble", "inputs", "fused", "lean-adam", "oriented", "one-pass")
ORIENTED = critics.linear


def plain_linear(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """`tidyrl.nets.critics.linear` without the orientation of skinny products."""
    if dtype is not None:
        x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
    if x.dim() != w.dim():
        return torch.matmul(x, w) + b
    return torch.addmm(b, x, w) if x.dim() == 2 else torch.baddbmm(b, x, w)


class Staged:
    """SAC networks and an update whose implementation choices are switched by `stage`."""

    def __init__(self, stage: str) -> None:
        torch.manual_seed(0)
        self.stage = stage
        self.actor = mlp(OBS, HIDDEN, 2 * ACT)
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.ensemble = stage != "naive"
        if self.ensemble:
            self.critic: nn.Module = QEnsemble(OBS, ACT, HIDDEN, 2)
        else:
            self.critic = nn.ModuleList(mlp(OBS + ACT, HIDDEN, 1) for _ in range(2))
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.fused = STAGES.index(stage) >= STAGES.index("fused")
        self.later = STAGES.index(stage) >= STAGES.index("oriented")
        if self.fused:
            params = [*self.actor.parameters(), *self.critic.parameters(), self.log_alpha]
            if stage == "fused":
                self.opt = torch.optim.Adam(params, lr=3e-4, fused=True)
            else:
                self.opt = Adam(params, lr=3e-4)
        else:
            self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=3e-4, foreach=False)
            self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=3e-4, foreach=False)
            self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=3e-4, foreach=False)

    def q(self, net: nn.Module, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        if self.ensemble:
            return net(obs, act)[..., 0]  # (2, B)
        x = torch.cat([obs, act], -1)
        return torch.stack([m(x)[:, 0] for m in net])  # type: ignore[attr-defined]

    def pi(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = mlp_forward(self.actor, obs, None) if self.later else self.actor(obs)
        mean, log_std = out.chunk(2, -1)
        # the log-probability as the library computed it before it was written in eps
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        u = mean + torch.exp(log_std) * torch.randn_like(mean)
        return torch.tanh(u), squashed_gaussian_log_prob(u, mean, log_std)

    def polyak(self) -> None:
        with torch.no_grad():
            if self.fused:
                torch._foreach_lerp_(
                    list(self.critic_target.parameters()), list(self.critic.parameters()), TAU
                )
            else:
                for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                    tp.mul_(1 - TAU).add_(p, alpha=TAU)

    def target(self, b: Transition, alpha: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            a2, logp2 = self.pi(b.next_obs)
            v = self.q(self.critic_target, b.next_obs, a2).min(0).values - alpha * logp2
            return b.rewards + GAMMA * b.bootstrap_mask * v

    def update(self, b: Transition) -> None:
        critics.linear = ORIENTED if self.later else plain_linear
        if self.stage == "one-pass":
            return self.update_one_pass(b)
        if self.fused:
            return self.update_fused(b)
        actions_pi, logp_pi = self.pi(b.obs)
        alpha_loss = -(self.log_alpha * (logp_pi.detach() - ACT)).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        alpha = self.log_alpha.detach().exp()
        y = self.target(b, alpha)
        q = self.q(self.critic, b.obs, b.actions)
        critic_loss = 0.5 * (q - y).pow(2).mean(-1).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        q_pi = self.q(self.critic, b.obs, actions_pi).min(0).values
        actor_loss = (alpha * logp_pi - q_pi).mean()
        self.actor_opt.zero_grad()
        if self.stage == "inputs":
            actor_loss.backward(inputs=list(self.actor.parameters()))
        else:
            actor_loss.backward()  # also computes (then discards) critic weight gradients
        self.actor_opt.step()
        self.polyak()

    def update_fused(self, b: Transition) -> None:
        alpha = self.log_alpha.detach().exp()
        y = self.target(b, alpha)
        q = self.q(self.critic, b.obs, b.actions)
        actions_pi, logp_pi = self.pi(b.obs)
        q_pi = self.q(self.critic, b.obs, actions_pi).min(0).values
        critic_loss = 0.5 * (q - y).pow(2).mean(-1).sum()
        actor_loss = (alpha * logp_pi - q_pi).mean()
        alpha_loss = -(self.log_alpha * (logp_pi.detach() - ACT)).mean()
        self.opt.zero_grad(set_to_none=True)
        critic_loss.backward(inputs=list(self.critic.parameters()))
        (actor_loss + alpha_loss).backward(inputs=[*self.actor.parameters(), self.log_alpha])
        self.opt.step()
        self.polyak()

    def update_one_pass(self, b: Transition) -> None:
        assert isinstance(self.critic, QEnsemble)
        alpha = self.log_alpha.detach().exp()
        y = self.target(b, alpha)
        q = self.q(self.critic, b.obs, b.actions)
        actions_pi, logp_pi = self.pi(b.obs)
        q_pi = self.critic(b.obs, actions_pi, frozen=True)[..., 0].min(0).values
        critic_loss = 0.5 * (q - y).pow(2).mean(-1).sum()
        actor_loss = (alpha * logp_pi - q_pi).mean()
        alpha_loss = -(self.log_alpha * (logp_pi.detach() - ACT)).mean()
        self.opt.zero_grad()
        (critic_loss + actor_loss + alpha_loss).backward()
        self.opt.step()
        self.polyak()


def sections(agent: tidyrl.agent.Agent, batch: Transition, repeats: int) -> dict[str, float]:
    """Time the pieces of `SAC.update` one at a time (same calls, same order)."""
    from tidyrl.algos.actor_critic.sac import actor_loss, alpha_loss, critic_loss

    a = agent
    out: dict[str, float] = {}
    alpha = a.log_alpha.detach().exp()
    out["target (actor on s', target critics)"] = median_ms(lambda: a.target_q(batch), repeats)
    y = a.target_q(batch)
    out["critic forward Q(s, a)"] = median_ms(lambda: a.critic(batch.obs, batch.actions), repeats)
    out["actor forward + tanh-Gaussian sample"] = median_ms(lambda: a.pi(batch.obs), repeats)
    act_pi, _ = a.pi(batch.obs)
    out["frozen critic forward Q(s, pi(s))"] = median_ms(
        lambda: a.critic(batch.obs, act_pi.detach(), frozen=True), repeats
    )

    def loss() -> torch.Tensor:
        q = a.critic(batch.obs, batch.actions)[..., 0]
        actions_pi, logp_pi = a.pi(batch.obs)
        q_pi = a.critic(batch.obs, actions_pi, frozen=True)[..., 0].min(0).values
        return (
            critic_loss(q, y)
            + actor_loss(q_pi, logp_pi, alpha)
            + alpha_loss(a.log_alpha, logp_pi, a.target_entropy)
        )

    forward = median_ms(loss, repeats)

    def backward() -> None:
        total = loss()
        a.optimizer.zero_grad()
        total.backward()

    out["one backward pass of the summed losses"] = median_ms(backward, repeats) - forward
    out["Adam step (tidyrl.nets.optim, one group)"] = median_ms(a.optimizer.step, repeats)
    from tidyrl.core.targets import polyak_update

    out["Polyak update of target critics"] = median_ms(
        lambda: polyak_update(a.critic, a.critic_target, a.config.tau), repeats
    )
    out["whole update"] = median_ms(lambda: a.update(batch), repeats)
    rng = np.random.default_rng(0)
    out["(per step) replay sample 256 -> tensors"] = median_ms(
        lambda: a.replay.sample(BATCH, rng), repeats
    )
    obs = a.env.obs
    out["(per step) act on one observation"] = median_ms(lambda: a.act(obs), repeats)
    actions = a.env.sample_actions()
    out["(per step) one Pendulum env step (VecEnv)"] = median_ms(
        lambda: a.env.step(actions), repeats
    )
    return out


def sb3_update_ms(repeats: int) -> float | None:
    """One Stable-Baselines3 SAC gradient step (same nets and hyper-parameters), if installed."""
    try:
        from stable_baselines3 import SAC as SB3SAC
    except ImportError:
        return None
    model = SB3SAC("MlpPolicy", "Pendulum-v1", learning_starts=0, batch_size=BATCH, seed=0)
    model.learn(300)  # fills the buffer (and runs ~300 updates)
    return median_ms(lambda: model.train(gradient_steps=1, batch_size=BATCH), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--wall", action="store_true", help="time wall clock, not thread CPU")
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    runtime.configure(args.threads)
    batch = fake_batch()
    clock = "wall" if args.wall else "thread CPU"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {BATCH}, {clock}")
    print("\n| stage | ms / update | vs naive |\n|---|---|---|")
    base = None
    for stage in STAGES:
        model = Staged(stage)
        ms = median_ms(lambda m=model: m.update(batch), args.repeats)  # type: ignore[misc]
        base = base or ms
        print(f"| {stage} | {ms:.2f} | {base / ms:.2f}x |")
    critics.linear = ORIENTED
    spare_core = runtime.spare_core
    runtime.spare_core = lambda: None  # the serial update: one thread's time is all of it
    for precision in PRECISIONS:
        agent = tidyrl.make("sac", "Pendulum-v1", seed=0, precision=precision, torch_threads=0)
        ms = median_ms(lambda a=agent: a.update(batch), args.repeats)  # type: ignore[misc]
        assert base is not None
        print(f"| SAC {precision} | {ms:.2f} | {base / ms:.2f}x |")
    runtime.spare_core = spare_core
    if spare_core() is not None:  # the actor step on a helper thread: only wall time shows it
        agent = tidyrl.make("sac", "Pendulum-v1", seed=0, precision="auto", torch_threads=0)
        ms = timing.median_ms(lambda: agent.update(batch), args.repeats, time.perf_counter)
        assert base is not None
        row = f"SAC {PRECISIONS[-1]}, actor step on the spare core (wall clock)"
        print(f"| {row} | {ms:.2f} | {base / ms:.2f}x |")
    runtime.spare_core = lambda: None
    sb3 = sb3_update_ms(args.repeats)
    if sb3 is not None:
        print(f"| Stable-Baselines3 SAC.train(1 step, batch 256), incl. its sampling | {sb3:.2f} |")
    for precision in PRECISIONS:
        agent = tidyrl.make(
            "sac", "Pendulum-v1", seed=0, learning_starts=300, precision=precision, torch_threads=0
        )
        agent.learn(400)
        print(f"\nSAC.update breakdown, precision={precision} (ms, medians of separate timings)")
        for name, ms in sections(
            agent, agent.replay.sample(BATCH, np.random.default_rng(1)), args.repeats
        ).items():
            print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()

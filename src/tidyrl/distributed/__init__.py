"""Scale-out on Ray: the seams through which a run collects experience on many processes or
machines while its algorithm file stays as it is (docs/distributed.md).

Nothing here imports Ray until a run asks for workers (`RunConfig.workers > 0`, ``tidyrl train
... --workers N``), and a request this package cannot serve is refused before Ray starts.

* `collect`: synchronous rollout collection for the on-policy learners (PPO, A2C, TRPO, the
  one-step actor-critic). A `RayVecEnv` stands where the agent's `VecEnv` stands; each Ray actor
  (`RolloutWorker`) holds a share of the env copies, built by the one env owner
  (`tidyrl.envs.make.VecEnv`), and receives the policy through the object store each rollout;
  `tidyrl.loops.on_policy.collect_rollout` hands the rollout to it.
* `apex`: Ape-X-style asynchronous actors for DQN, Rainbow and D4PG. An `ApexEnv` stands where
  the agent's `VecEnv` stands; its Ray actors (`ApexWorker`) step their env copies with copies
  of the learner's networks (a fixed ε per copy for DQN and Rainbow, Gaussian noise for D4PG),
  build n-step rows with accumulators of their own, give them their first priorities with the
  algorithm's own loss function and stream them, which `tidyrl.loops.off_policy.collect_step`
  takes into the prioritised replay as they arrive (`ray.wait`).
* `a3c`: A3C's asynchronous gradients on Ray: worker actors (each an env copy and a copy of
  the network) compute the gradients of a segment with the loss of
  `tidyrl.algos.policy_gradient.a3c`; the learner (the global network) applies each as it
  arrives and sends fresh weights back to that worker alone.
* `cluster`: joining or starting Ray.
* `sweep`: hyper-parameter sweeps on Ray Tune (``tidyrl sweep``, docs/sweeps.md): ASHA early
  stopping, Optuna's TPE as the searcher, each trial seed an ordinary run directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidyrl.errors import ConfigError

if TYPE_CHECKING:
    from tidyrl.distributed.collect import RayVecEnv
    from tidyrl.envs.make import VecEnv

SYNCHRONOUS = ("ppo", "a2c", "trpo", "actor-critic")
"""The learners whose rollouts `RayVecEnv` collects (those that collect through
`tidyrl.loops.on_policy.collect_rollout`)."""
ASYNCHRONOUS = ("dqn", "rainbow", "d4pg")
"""The learners whose transitions Ape-X actors stream (`tidyrl.distributed.apex.ApexEnv`, through
`tidyrl.loops.off_policy.collect_step`)."""
GRADIENTS = ("a3c",)
"""The learners whose workers send gradients (`tidyrl.distributed.a3c`): the agent's own env
stays in-process (spaces, evaluation); each worker actor holds an env copy of its own."""
SUPPORTED = SYNCHRONOUS + ASYNCHRONOUS + GRADIENTS


def check_workers(agent: Any, n_envs: int) -> None:
    """A ConfigError, before Ray is imported, for a learner that cannot collect on workers
    (multi-agent ones included) or fewer env copies than workers."""
    run = agent.run
    algo_id = type(agent).algo_id
    if algo_id not in SUPPORTED:
        raise ConfigError(
            f"workers={run.workers}: {agent.algo} cannot collect on Ray workers yet; workers > 0 "
            f"works with {', '.join(SUPPORTED)} (workers=0 runs in this process)"
        )
    if algo_id in GRADIENTS:
        return  # one env copy per worker, made by the worker
    if algo_id in ASYNCHRONOUS and getattr(agent.config, "reward", "env") != "env":
        raise ConfigError(
            f"workers={run.workers}: {agent.algo} with reward={agent.config.reward} cannot "
            "collect on Ray workers yet (the plug-in observes each step in the learner); use "
            "reward=env or workers=0"
        )
    if algo_id in ASYNCHRONOUS and int(getattr(agent.config, "her_future_goals", 0)) > 0:
        raise ConfigError(
            f"workers={run.workers}: {agent.algo} with her_future_goals cannot collect on Ray "
            "workers (their rows arrive without the episodes hindsight follows); use "
            "her_future_goals=0 or workers=0"
        )
    if run.workers > n_envs:
        raise ConfigError(
            f"workers={run.workers} needs at least as many env copies (each worker steps one or "
            f"more), but n_envs={n_envs}; set n_envs to a multiple of {run.workers} or use fewer "
            "workers"
        )


def worker_env(agent: Any, n_envs: int) -> RayVecEnv | VecEnv:
    """The `RayVecEnv` of an agent built with ``workers > 0`` (`check_workers` first): an
    `ApexEnv` for the asynchronous learners; the in-process `VecEnv` for A3C (its workers
    start with `learn`)."""
    check_workers(agent, n_envs)
    if type(agent).algo_id in GRADIENTS:
        from tidyrl.envs.make import VecEnv

        return VecEnv(agent.env_cfg, n_envs=n_envs, seed=agent.run.seed)
    if type(agent).algo_id in ASYNCHRONOUS:
        from tidyrl.distributed.apex import ApexEnv

        return ApexEnv(agent.env_cfg, n_envs, agent.run)
    from tidyrl.distributed.collect import RayVecEnv

    return RayVecEnv(agent.env_cfg, n_envs, agent.run)

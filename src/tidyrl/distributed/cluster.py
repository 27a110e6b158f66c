"""Joining Ray: an existing cluster (an address, or RAY_ADDRESS), or one started here."""

from __future__ import annotations

import logging
import os
import time

import ray

from tidyrl.errors import ConfigError


def connect(address: str | None, num_cpus: int | None = None) -> float:
    """Make sure this process is connected to Ray; return the seconds it took (0 when it was
    connected already, e.g. by a test's `ray.cluster_utils.Cluster` or a user's `ray.init`).

    `address` None starts a Ray of this run's own on this machine, unless RAY_ADDRESS names
    a cluster to join (Ray's own variable); "auto" joins the cluster `ray start --head` runs
    on this machine; HOST:PORT joins that cluster's head. (Ray's own default for None would
    join whichever cluster was started last on the machine, another user's included.)
    `num_cpus` caps the CPUs of a Ray started here (ignored when joining a cluster)."""
    if ray.is_initialized():
        return 0.0
    # a worker's error reaches the user as tidyrl's EnvError; Ray need not print it again
    # for the other workers' calls that the failed rollout leaves unread
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    start = time.perf_counter()
    try:
        address = address or os.environ.get("RAY_ADDRESS") or None
        ray.init(
            address=address or "local",
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except (ConnectionError, ValueError) as exc:
        where = f"the Ray cluster at '{address}'" if address else "Ray"
        detail = " ".join(str(exc).split())
        raise ConfigError(
            f"cannot connect to {where}: {detail} (start one with 'ray start --head', then "
            "pass --ray-address HOST:6379, or leave --ray-address out to run Ray on this machine)"
        ) from None
    return time.perf_counter() - start

"""Physics variants of Gymnasium's classic-control tasks, the targets of transfer experiments.

Gymnasium's CartPole and Pendulum keep their physical constants as attributes set in
``__init__`` (only Pendulum's gravity `g` is a constructor argument), and CartPole derives
``polemass_length`` and ``total_mass`` from them there, so setting ``env.unwrapped.length``
afterwards would leave the dynamics half changed. These subclasses take the constants as
constructor arguments and derive the rest, so a variant is a registered id (or ``env_kwargs``):

    tidyrl/CartPole-v1          CartPole-v1 with `length` (half the pole, 0.5), `masspole` (0.1),
                                `masscart` (1.0), `force_mag` (10.0) as arguments
    tidyrl/CartPoleLongPole-v1  the pole twice as long: length = 1.0
    tidyrl/Pendulum-v1          Pendulum-v1 with mass `m` (1.0), `length` (1.0), gravity `g`
                                (10.0) as arguments
    tidyrl/PendulumHeavy-v1     1.5 times the mass: m = 1.5

Observation and action spaces are those of the originals (they depend on none of these
constants), so an agent trained on the original fine-tunes on a variant directly.
"""

from __future__ import annotations

from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv


class CartPoleVariant(CartPoleEnv):
    """CartPole-v1 with its physical constants as constructor arguments."""

    def __init__(
        self,
        length: float = 0.5,
        masspole: float = 0.1,
        masscart: float = 1.0,
        force_mag: float = 10.0,
        sutton_barto_reward: bool = False,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(sutton_barto_reward=sutton_barto_reward, render_mode=render_mode)
        for name, value in (("length", length), ("masspole", masspole), ("masscart", masscart)):
            if not value > 0:
                raise ValueError(f"CartPoleVariant: {name} must be > 0, got {value}")
        self.length, self.masspole, self.masscart = length, masspole, masscart
        self.force_mag = force_mag
        # derived in CartPoleEnv.__init__ from the defaults: recompute from these constants
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length


class PendulumVariant(PendulumEnv):
    """Pendulum-v1 with its mass and length as constructor arguments (gravity already is)."""

    def __init__(
        self,
        m: float = 1.0,
        length: float = 1.0,
        g: float = 10.0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(render_mode=render_mode, g=g)
        for name, value in (("m", m), ("length", length)):
            if not value > 0:
                raise ValueError(f"PendulumVariant: {name} must be > 0, got {value}")
        self.m, self.l = m, length


VARIANTS = {
    "tidyrl/CartPole-v1": ("CartPoleVariant", {}, 500),
    "tidyrl/CartPoleLongPole-v1": ("CartPoleVariant", {"length": 1.0}, 500),
    "tidyrl/Pendulum-v1": ("PendulumVariant", {}, 200),
    "tidyrl/PendulumHeavy-v1": ("PendulumVariant", {"m": 1.5}, 200),
}
"""id -> (class in this module, constructor kwargs, max_episode_steps as the original's)."""

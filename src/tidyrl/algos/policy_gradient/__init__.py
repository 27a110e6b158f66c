"""Policy-gradient family (lecture seeds 003, 004): REINFORCE, online actor-critic, A2C, A3C,
TRPO and PPO. One file each; shared helpers in `common.py`; maths in `tidyrl.core`."""

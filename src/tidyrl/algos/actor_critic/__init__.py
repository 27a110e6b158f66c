"""Off-policy actor-critic methods for continuous actions: DDPG, TD3, SAC, D4PG, SDDPG."""

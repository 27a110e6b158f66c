"""Imitation and inverse RL (lecture seed 003, "Supervised Learning of Behaviors", "Inverse RL"):
behaviour cloning, DAgger and maximum-entropy IRL. One file each; the behaviour-cloning loss is
`tidyrl.core.losses`, demonstrations are `tidyrl.data.demos`."""

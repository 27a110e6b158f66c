"""Value-based deep RL: DQN (double, dueling), C51, Rainbow and Soft Q-learning."""

"""Multi-agent algorithms over PettingZoo parallel environments."""

"""Model-based methods: World Models (V-M-C)."""

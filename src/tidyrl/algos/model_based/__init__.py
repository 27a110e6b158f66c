"""Model-based methods: a learned world model, behaviour learned inside it (World Models,
Dreamer)."""

"""Exploration algorithms (Go-Explore); reward plug-ins live in `tidyrl.rewards`."""

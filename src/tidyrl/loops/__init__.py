"""Shared loop mechanics: evaluation (collection helpers join as algorithm families land)."""

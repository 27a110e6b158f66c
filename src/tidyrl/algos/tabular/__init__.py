"""Tabular methods (NumPy): dynamic programming, Monte Carlo control, TD control."""

"""Algorithms, one file each, in the template of DESIGN.md section 5."""

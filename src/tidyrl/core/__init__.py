"""Pure maths shared by several algorithms, each function tested against hand-computed values."""

"""Simulated bin-picking cell (MuJoCo) and the dataset generators built on it.

Import submodules directly; ``backend`` chooses the OpenGL backend before MuJoCo is imported.
"""

"""The simulated bin-picking cell (MuJoCo) and what is run in it.

``world``: the cell itself (scene, objects, textures, camera, rendering, grippers);
``experiments``: the simulated operator, closed-loop pick trials and the dataset generators.
Import submodules directly; ``world.backend`` chooses the OpenGL backend before MuJoCo is imported.
"""

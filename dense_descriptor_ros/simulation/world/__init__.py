"""The simulated cell itself: MuJoCo scene, objects and their textures, camera, rendering and
the grippers that act in it. Import submodules directly; ``backend`` chooses the OpenGL backend
before MuJoCo is imported."""

"""The simulated bin-picking cell: a compiled scene whose objects are dropped with physics.

``drop`` scatters the objects above the bin without overlap and lets MuJoCo settle them, which
gives realistic clutter (leaning, stacked, partly occluded packs); calling it again reshuffles.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from . import scene as scene_mod
from .camera import to_mujoco
from .render import RenderedFrame, FrameRenderer, mujoco
from .scene import SceneSpec, build_mjcf


class BinCell:
    """One scene, its physics state and a renderer of ``width`` x ``height`` frames.

    ``edit_mjcf`` rewrites the scene's MJCF before it is compiled (e.g. to add a gripper).
    """

    def __init__(self, spec: SceneSpec, width: int = 320, height: int = 240,
                 edit_mjcf: Callable[[str], str] | None = None) -> None:
        xml, assets = build_mjcf(spec)
        if edit_mjcf is not None:
            xml = edit_mjcf(xml)
        self.spec = spec
        self.model = mujoco.MjModel.from_xml_string(xml, assets)
        self.data = mujoco.MjData(self.model)
        self._bodies = {inst.instance_id: self.model.body(scene_mod.object_body(inst.instance_id)).id
                        for inst in spec.instances}
        self._qpos = {i: self.model.jnt_qposadr[self.model.body_jntadr[b]] for i, b in self._bodies.items()}
        self._qvel = {i: self.model.jnt_dofadr[self.model.body_jntadr[b]] for i, b in self._bodies.items()}
        self._hands = [self.model.body_mocapid[self.model.body(scene_mod.hand_body(k)).id]
                       for k in range(scene_mod.HAND_COUNT)] if spec.hands else []
        geom_ids = np.zeros(self.model.ngeom, np.uint16)
        for instance_id, body in self._bodies.items():
            geom_ids[self.model.geom_bodyid == body] = instance_id
        for mocap in self._hands:
            body = int(np.flatnonzero(self.model.body_mocapid == mocap)[0])
            geom_ids[self.model.geom_bodyid == body] = scene_mod.DISTRACTOR_ID
        self._camera_ids = {name: self.model.camera(name).id for name in ("overhead", "robot")}
        self._renderer = FrameRenderer(self.model, width, height, geom_ids)
        mujoco.mj_forward(self.model, self.data)

    @property
    def instance_ids(self) -> list[int]:
        return list(self._bodies)

    def drop(self, rng: np.random.Generator, max_seconds: float = 3.0) -> None:
        """Re-drop every object at a random pose above the bin and simulate until it settles."""
        mujoco.mj_resetData(self.model, self.data)
        hx, hy = scene_mod.BIN_HALF_SIZE
        placed: list[tuple[np.ndarray, float]] = []
        for inst in (self.spec.instances[i] for i in rng.permutation(len(self.spec.instances))):
            r = inst.type.radius
            xy = rng.uniform([-hx + 0.6 * r, -hy + 0.6 * r], [hx - 0.6 * r, hy - 0.6 * r])
            z = scene_mod.BIN_FLOOR_Z + r + 0.01
            for centre, other_r in placed:  # stack above anything it would overlap
                if np.linalg.norm(centre[:2] - xy) < r + other_r:
                    z = max(z, centre[2] + other_r + r + 0.005)
            centre = np.array([xy[0], xy[1], z])
            placed.append((centre, r))
            x, y, zq, w = Rotation.random(random_state=rng.integers(2**31)).as_quat()
            a = self._qpos[inst.instance_id]
            self.data.qpos[a:a + 7] = [*centre, w, x, y, zq]
        self._settle(max_seconds)

    def _settle(self, max_seconds: float) -> None:
        steps_per_check = 50
        for _ in range(int(max_seconds / (self.model.opt.timestep * steps_per_check))):
            mujoco.mj_step(self.model, self.data, nstep=steps_per_check)
            if self.data.time > 0.5 and np.abs(self.data.qvel).max() < 0.05:
                break
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_object_pose(self, instance_id: int, T_world_object: np.ndarray) -> None:
        """Teleport one object (no physics step), e.g. to build a scene by hand."""
        if instance_id not in self._qpos:
            raise ValueError(f"object {instance_id} is not in this scene; it has {self.instance_ids}")
        x, y, z, w = Rotation.from_matrix(np.asarray(T_world_object)[:3, :3]).as_quat()
        a = self._qpos[instance_id]
        self.data.qpos[a:a + 7] = [*np.asarray(T_world_object)[:3, 3], w, x, y, z]
        self.data.qvel[self._qvel[instance_id]:self._qvel[instance_id] + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def place_hands(self, rng: np.random.Generator | None) -> None:
        """Put the operator's hands above the bin (reaching in from a side), or away if ``rng`` is None."""
        for k, mocap in enumerate(self._hands):
            if rng is None:
                self.data.mocap_pos[mocap] = [10.0 + k, 0.0, 0.0]
                continue
            side = rng.uniform(0, 2 * np.pi)
            reach = rng.uniform(0.0, 0.12)
            self.data.mocap_pos[mocap] = [reach * np.cos(side) + rng.normal(0, 0.04),
                                          reach * np.sin(side) + rng.normal(0, 0.04),
                                          scene_mod.BIN_FLOOR_Z + rng.uniform(0.08, 0.22)]
            yaw = side + np.pi + rng.normal(0, 0.4)  # forearm comes from outside the bin
            rot = Rotation.from_euler("zyx", [yaw, rng.uniform(-0.3, 0.5), rng.uniform(-0.8, 0.8)])
            x, y, z, w = rot.as_quat()
            self.data.mocap_quat[mocap] = [w, x, y, z]
        mujoco.mj_forward(self.model, self.data)

    def object_poses(self) -> dict[int, np.ndarray]:
        """``T_world_object`` (4, 4) of every object instance."""
        poses = {}
        for instance_id, body in self._bodies.items():
            pose = np.eye(4)
            pose[:3, :3] = self.data.xmat[body].reshape(3, 3)
            pose[:3, 3] = self.data.xpos[body]
            poses[instance_id] = pose
        return poses

    def render(self, T_world_camera: np.ndarray | None = None, fovy: float | None = None) -> RenderedFrame:
        """Render the fixed overhead camera (no pose given) or the robot camera at ``T_world_camera``."""
        if T_world_camera is None:
            camera = self._camera_ids["overhead"]
        else:
            camera = self._camera_ids["robot"]
            pos, quat = to_mujoco(np.asarray(T_world_camera, float))
            self.model.cam_pos[camera], self.model.cam_quat[camera] = pos, quat
            self.model.cam_fovy[camera] = scene_mod.ROBOT_FOVY if fovy is None else fovy
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_camlight(self.model, self.data)
        rgb, depth, seg, intrinsics, pose = self._renderer.render(self.data, camera)
        return RenderedFrame(rgb, depth, seg, intrinsics, pose, self.object_poses())

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> "BinCell":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

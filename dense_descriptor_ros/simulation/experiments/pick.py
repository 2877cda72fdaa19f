"""One simulated pick and the operator's preferred grasp region it is judged against.

A pick runs through the same :class:`GraspExecutor` as the robot, with the simulated gripper as
its motion, vacuum and finger backend: (open,) pre-grasp ``approach_distance`` back along the
tool z, (vacuum on,) in along z, (close,) lift straight up. The simulation then holds still for
``hold_seconds``; the pick succeeds when an object is still held and has risen ``min_lift``.

The preferred region is defined on the object, not the image: a point in object coordinates
(where the operator clicked, lifted to 3D) and a radius; a grasp hits it when the executed
grasp point lies within the radius of that point moved by the object's pose at grasp time
(and, for parallel grasps, the closing axis lies within ``max_axis_deg`` of the annotated one).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...execution.executor import ExecutionReport, ExecutionResult, ExecutorConfig, GraspExecutor
from ...grasping.pose import Pose
from ...grasping.workspace import WorkspaceBox
from ..world import scene as scene_mod
from ..world.grippers import WORLD_FRAME, ParallelJawSpec, SimulatedGripper

# Grasps must lie inside the bin (world frame, metres).
BIN_WORKSPACE = WorkspaceBox((-scene_mod.BIN_HALF_SIZE[0], -scene_mod.BIN_HALF_SIZE[1], scene_mod.BIN_FLOOR_Z - 0.005),
                             (scene_mod.BIN_HALF_SIZE[0], scene_mod.BIN_HALF_SIZE[1], 0.4))

# The cell's executor: the cup presses 1 cm past the measured surface (the guarded move stops on
# touch), fingertips reach 2 cm below it, and a pick lifts 12 cm straight up out of the heap.
SIM_EXECUTOR = ExecutorConfig(approach_distance=0.10, retreat_distance=0.12, retreat_up=True,
                              suction_press=0.01, finger_depth=0.02, open_margin=0.012,
                              gripper_effort=40.0, max_opening=ParallelJawSpec().max_opening,
                              min_confidence=0.0, motion_timeout=30.0, gripper_timeout=30.0,
                              task_timeout=120.0)


@dataclass(frozen=True)
class PickConfig:
    """The executor's sequence, then how long the object must stay held and how far it must rise."""

    executor: ExecutorConfig = SIM_EXECUTOR
    hold_seconds: float = 1.0
    min_lift: float = 0.08


@dataclass
class PickOutcome:
    """What a pick did: ``held`` instance id (or None), how far it rose, and why it failed."""

    success: bool
    held: int | None
    lift: float
    detail: str
    grasp_point: np.ndarray  # (3,) world: where the cup sealed, else the commanded grasp point

    def to_dict(self) -> dict:
        return {"success": self.success, "held": self.held, "lift": round(self.lift, 4),
                "detail": self.detail, "grasp_point": np.round(self.grasp_point, 4).tolist()}


def object_heights(gripper: SimulatedGripper) -> dict[int, float]:
    """Every object's height (world z, m) now: what a pick's lift is measured from."""
    return {i: float(p[2, 3]) for i, p in gripper.cell.object_poses().items()}


def judge_pick(gripper: SimulatedGripper, start_z: dict[int, float], report: ExecutionReport, pose: Pose,
               config: PickConfig = PickConfig()) -> PickOutcome:
    """What the executor's pick (ended with ``report``) did: held still ``hold_seconds`` when it
    succeeded, then what is held and how far it rose from ``start_z``; parks the gripper."""
    detail = "held"
    if report.result == ExecutionResult.SUCCEEDED:
        gripper.hold(config.hold_seconds)
    else:
        detail = f"{report.result.value}: {report.detail}"
    held = gripper.held_object()
    lift = float(gripper.cell.object_poses()[held][2, 3] - start_z[held]) if held is not None else 0.0
    if held is None and detail == "held":
        detail = "nothing held at the end"
    elif held is not None and lift < config.min_lift:
        detail = f"held object rose only {lift * 1000:.0f} mm"
    point = gripper.seal_point if gripper.seal_point is not None else pose.position
    gripper.park()
    success = held is not None and lift >= config.min_lift
    return PickOutcome(success, held, lift, detail if not success else "held", np.asarray(point, float))


def execute_pick(gripper: SimulatedGripper, pose: Pose, width: float | None = None,
                 config: PickConfig = PickConfig()) -> PickOutcome:
    """Pick at ``pose`` (world frame, on the surface, z into it); ``width`` (m) for parallel."""
    if pose.frame != WORLD_FRAME:
        raise ValueError(f"expected a grasp pose in frame {WORLD_FRAME!r}, got {pose.frame!r}")
    if gripper.kind == "parallel" and (width is None or not width > 0):
        raise ValueError(f"a parallel pick needs a positive grasp width, got {width}")
    start_z = object_heights(gripper)
    executor = GraspExecutor(gripper, vacuum=gripper, gripper=gripper, config=config.executor)
    if gripper.kind == "suction":
        executor.execute_suction(pose)
    else:
        executor.execute_parallel(pose, width)
    executor.wait()
    return judge_pick(gripper, start_z, executor.get_report(), pose, config)


@dataclass(frozen=True)
class PreferredRegion:
    """The operator's preferred grasp spot on one object instance, in object coordinates."""

    instance_id: int
    point: np.ndarray  # (3,) object frame
    radius: float = 0.025
    axis: np.ndarray | None = None  # (3,) unit closing axis in the object frame (parallel)
    max_axis_deg: float = 20.0
    extra: dict = field(default_factory=dict)

    def hit(self, grasp_point: np.ndarray, T_world_object: np.ndarray,
            closing_world: np.ndarray | None = None) -> bool:
        """Does a grasp at ``grasp_point (3,)`` (world) with ``closing_world (3,)`` hit the region
        of the object at ``T_world_object (4, 4)``?"""
        T = np.asarray(T_world_object, float)
        centre = T[:3, :3] @ np.asarray(self.point, float) + T[:3, 3]
        if np.linalg.norm(np.asarray(grasp_point, float) - centre) > self.radius:
            return False
        if self.axis is None:
            return True
        if closing_world is None:
            raise ValueError("this region has a closing axis; pass the grasp's closing axis")
        axis_world = T[:3, :3] @ np.asarray(self.axis, float)
        cosine = abs(float(axis_world @ closing_world)) / (np.linalg.norm(closing_world) * np.linalg.norm(axis_world))
        return cosine >= np.cos(np.radians(self.max_axis_deg))

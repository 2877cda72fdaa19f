"""Parameters every grasp node shares: the object to annotate and those to pick, database,
model hash and eta, colour check, camera pose, workspace, frames.

The heatmap and oriented-grasp nodes read the same keypoint database, key it by the same
checkpoint hash, score heatmaps with the same distance scale and colour check and place grasps
with the same camera pose and workspace box, so both declare these parameters here, under the
same names and with the same checks. The values of the camera pose, frames and workspace are the
cell's (``ros.graph.CELL_PARAMETERS``): one file or the simulation gives them to every node.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node

from dense_descriptor_ros.grasping.appearance import AppearanceCheck
from dense_descriptor_ros.grasping.frame_sync import DEFAULT_MAX_AGE_NS
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from dense_descriptor_ros.grasping.planner import PlannerSettings
from dense_descriptor_ros.grasping.transforms import StaticCameraPose
from dense_descriptor_ros.grasping.workspace import WorkspaceBox
from dense_descriptor_ros.model.descriptor_model import ModelCard
from dense_descriptor_ros.ros.frame_input import FrameInput
from dense_descriptor_ros.ros.typed_parameters import declare


def declare_workspace(node: Node) -> WorkspaceBox | None:
    """``workspace_min`` / ``workspace_max`` (3 values each, target frame; both empty: no box)."""
    lower = declare(node, "workspace_min", [], "workspace box lower corner x y z (m, target frame)")
    upper = declare(node, "workspace_max", [], "workspace box upper corner x y z (m, target frame)")
    if not lower and not upper:
        return None
    return WorkspaceBox(tuple(lower), tuple(upper))


@dataclass
class GraspInputs:
    """What a grasp node reads besides its topics: the database, the model's card (the hash
    that keys the database) and the planner's settings."""

    database_path: Path
    database: KeypointDatabase
    model: ModelCard
    settings: PlannerSettings
    pick_objects: list[str] | None  # None: every annotated object
    frames: FrameInput


def declare_grasp_inputs(node: Node, on_frame, gripper: str) -> GraspInputs:
    """Declare the shared parameters (the colour check's defaults: ``gripper``'s), open the
    database, subscribe the camera streams."""
    declare(node, "object", "object", "object new clicks annotate", read_only=False)
    pick_objects = [name.strip() for name in declare(
        node, "pick_objects", "", "comma-separated objects to grasp ('' = all annotated)").split(",") if name.strip()]
    database = declare(node, "database", "", "keypoint database file (created when missing)")
    model_path = declare(node, "model_path", "", "checkpoint the descriptors come from; its hash keys the database")
    eta = declare(node, "eta", 0.0, "heatmap distance scale eta; 0: the model's calibrated one (ddr calibrate)")
    defaults = AppearanceCheck.for_gripper(gripper)
    appearance = AppearanceCheck(
        radius=declare(node, "appearance_radius", defaults.radius,
                       "colour check: disk radius (px) compared around clicks and heatmap cells"),
        power=declare(node, "appearance_power", defaults.power,
                      "colour check: heatmap weight (similarity / best) ** power; 0: no ranking"),
        min_similarity=declare(node, "appearance_min_similarity", defaults.min_similarity,
                               "colour check: cells less alike than this are never grasped; 0: no gate"),
        depth_tolerance=declare(node, "appearance_depth_tolerance", defaults.depth_tolerance,
                                "colour check: a cell's disk keeps the pixels within this many metres of "
                                "its centre's depth"))
    target_frame = declare(node, "target_frame", "base_link", "frame grasps are published in")
    camera_pose = declare(node, "camera_pose", [], "static T_target_camera: 16 row-major values or "
                          "x y z qx qy qz qw; empty: grasps stay in the camera frame")
    camera_frame = declare(node, "camera_frame", "", "frame camera_pose applies to ('' = the images' frame)")
    tolerance = declare(node, "sync_tolerance_s", 0.0, "max stamp difference of one frame's streams")
    max_age = declare(node, "sync_max_age_s", DEFAULT_MAX_AGE_NS / 1e9, "colour and depth wait this long (stamp "
                      "time) for their descriptors: more than the descriptor node's latency; memory: rate x age")
    workspace = declare_workspace(node)
    if not database:
        raise ValueError("parameter database is required (a keypoint database file)")
    if not model_path or not Path(model_path).is_file():
        raise ValueError(f"parameter model_path must name the checkpoint the descriptor node runs, "
                         f"got {model_path!r}")
    card = ModelCard.read(model_path)
    pose_source = StaticCameraPose(camera_pose, target_frame, camera_frame) if camera_pose else None
    frames = FrameInput(node, on_frame, pose_source=pose_source, target_frame=target_frame,
                        tolerance_s=tolerance, max_age_s=max_age)
    settings = PlannerSettings(eta if eta > 0 else card.eta, appearance, target_frame if pose_source else "",
                               workspace)
    return GraspInputs(Path(database), KeypointDatabase(database), card, settings, pick_objects or None, frames)

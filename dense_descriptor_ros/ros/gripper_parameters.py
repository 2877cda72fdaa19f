"""The grippers' ROS parameters, declared once with defaults read from the gripper description.

Every parameter's default is the library's (``grasping.gripper``, ``SuctionConfig``,
``ParallelGripperConfig``, ``ExecutorConfig``), so a node and the simulated trials start from
the same numbers; the YAML files are held to them by a test.
"""
from __future__ import annotations

from rclpy.node import Node

from dense_descriptor_ros.execution.executor import ExecutorConfig
from dense_descriptor_ros.grasping.oriented import ParallelGripperConfig
from dense_descriptor_ros.grasping.suction import SuctionConfig
from dense_descriptor_ros.ros.grasp_inputs import declare_workspace
from dense_descriptor_ros.ros.typed_parameters import declare

# parameter name -> (ParallelGripperConfig field, description)
PARALLEL_PARAMETERS = {
    "max_opening": ("max_opening", "gripper maximum opening (m)"),
    "margin": ("margin", "added to the keypoints' distance where it sets the width (no face fitted, m)"),
    "min_confidence": ("min_confidence", "minimum per-keypoint heatmap value"),
    "fit_face": ("fit_face", "close across the flat face outlined in depth at the keypoints (boxes); false: "
                             "the keypoints alone set axis and width"),
    "face_tolerance": ("face_tolerance", "depth off a face's plane that still belongs to it (m): above the "
                                         "camera's depth noise, below steps between products"),
    "finger_depth": ("finger_depth", "fingertips this far below the surface: the gripper is checked for room "
                                     "in depth down to there (the executor's; 0: no check)"),
    "finger_thickness": ("finger_thickness", "finger size along the closing axis (m)"),
    "finger_width": ("finger_width", "finger size across the closing axis (m)"),
    "finger_length": ("finger_length", "fingertip to palm (m)"),
    "palm_length": ("palm_length", "palm size across the closing axis (m)"),
    "palm_width": ("palm_width", "palm size along the closing axis (m)"),
    "palm_height": ("palm_height", "palm size along the approach (m)"),
    "approach_distance": ("approach", "the executor's straight path in, checked too (m)"),
    "open_margin": ("open_extra", "the executor opens this much wider than the grasp (m)"),
    "safety_margin": ("safety", "the gripper is checked this much larger (m)"),
    "max_shift": ("max_shift", "how far a grasp may move along the face to find room (m)"),
    "width_tolerance": ("width_tolerance", "a face this much wider or narrower than the annotated one is "
                                           "refused (m)"),
}


def declare_suction_config(node: Node) -> SuctionConfig:
    """``min_confidence``, ``cup_radius`` (0: no flat-footprint check), ``seal_search`` (0: the
    grasp stays on the heatmap peak) and the ``flatness`` both read depth with."""
    return SuctionConfig(
        min_confidence=declare(node, "min_confidence", SuctionConfig.min_confidence, "minimum heatmap value to grasp"),
        cup_radius=declare(node, "cup_radius", SuctionConfig.cup_radius, "suction cup radius (m); > 0: grasp only "
                           "where the cup's footprint is one flat face"),
        seal_search=declare(node, "seal_search", SuctionConfig.seal_search, "how far (m) a grasp may move from "
                            "the heatmap peak into its flat face, away from the face's edges; 0: not at all"),
        flatness=declare(node, "flatness", SuctionConfig.flatness, "depth off a face's plane (m) that still "
                         "belongs to it, for cup_radius and seal_search: above the camera's depth noise"))


def declare_parallel_config(node: Node) -> ParallelGripperConfig:
    """The jaw's body, the executor's motion and the grasp search (:data:`PARALLEL_PARAMETERS`)."""
    defaults = ParallelGripperConfig()
    return ParallelGripperConfig(**{field: declare(node, name, getattr(defaults, field), description)
                                    for name, (field, description) in PARALLEL_PARAMETERS.items()})


# parameter name -> description; each is the ExecutorConfig field of the same name
EXECUTOR_PARAMETERS = {
    "approach_distance": "pre-grasp offset along tool z (m)",
    "retreat_distance": "lift after grasping along tool -z (m)",
    "retreat_up": "retreat straight up (+z) instead of along tool -z",
    "suction_press": "suction: move this far past the surface (m)",
    "finger_depth": "parallel: fingertips this far below the surface (m)",
    "min_confidence": "refuse grasps below this confidence",
    "motion_timeout": "seconds per motion",
    "gripper_timeout": "seconds per vacuum or gripper command",
    "task_timeout": "seconds per whole pick",
    "gripper_effort": "parallel gripper closing effort (N)",
    "max_opening": "parallel gripper maximum opening (m)",
    "open_margin": "parallel: open this much wider than the grasp (m)",
}


def declare_executor_config(node: Node) -> ExecutorConfig:
    """The executor's sequence, limits and workspace box (:data:`EXECUTOR_PARAMETERS`)."""
    defaults = ExecutorConfig()
    return ExecutorConfig(workspace=declare_workspace(node),
                          **{name: declare(node, name, getattr(defaults, name), description)
                             for name, description in EXECUTOR_PARAMETERS.items()})

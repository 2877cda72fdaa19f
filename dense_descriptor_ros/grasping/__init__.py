"""ROS-free grasping core: keypoint database, preference heatmaps, suction and parallel grasps,
and the planner that turns one camera observation into the grasp to execute.

Data flows one way: descriptors (model) + keypoint database -> heatmaps (ranked by the colour
check) -> grasp poses (``planner`` tries the annotated objects in turn).
"""
from dense_descriptor_ros.geometry.camera import PixelOutsideImageError
from dense_descriptor_ros.grasping.appearance import AppearanceCheck, appearance_weights, stored_signatures
from dense_descriptor_ros.grasping.gripper import (GRIPPER_KINDS, GRIPPERS, PARALLEL_JAW, SUCTION_CUP, ParallelJaw,
                                                   SuctionCup)
from dense_descriptor_ros.grasping.heatmap import Heatmap, fused_heatmap, keypoint_heatmaps, object_heatmaps
from dense_descriptor_ros.grasping.keypoint_db import (EmptyDatabaseError, KeypointDatabase,
                                                       KeypointDatabaseError, ModelMismatchError,
                                                       UnknownObjectError)
from dense_descriptor_ros.grasping.oriented import ParallelGrasp, ParallelGripperConfig, oriented_grasp
from dense_descriptor_ros.grasping.planner import (PLANNERS, GraspPlan, GraspPlanner, Observation, ParallelPlanner,
                                                   PlannerSettings, SuctionPlanner)
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.suction import SuctionConfig, SuctionGrasp, suction_grasp
from dense_descriptor_ros.grasping.surface import SurfacePatch, depth_in_metres, surface_patch
from dense_descriptor_ros.grasping.workspace import RejectReason, Rejection, WorkspaceBox

__all__ = [
    "AppearanceCheck", "EmptyDatabaseError", "GRIPPERS", "GRIPPER_KINDS", "GraspPlan", "GraspPlanner", "Heatmap",
    "KeypointDatabase", "KeypointDatabaseError", "ModelMismatchError", "Observation", "PARALLEL_JAW", "PLANNERS",
    "ParallelGrasp", "ParallelGripperConfig", "ParallelJaw", "ParallelPlanner", "PixelOutsideImageError",
    "PlannerSettings", "Pose", "RejectReason", "Rejection", "SUCTION_CUP", "SuctionConfig", "SuctionCup",
    "SuctionGrasp", "SuctionPlanner", "SurfacePatch", "UnknownObjectError", "WorkspaceBox", "appearance_weights",
    "approach_rotation", "depth_in_metres", "fused_heatmap", "keypoint_heatmaps", "object_heatmaps",
    "oriented_grasp", "stored_signatures", "suction_grasp", "surface_patch",
]

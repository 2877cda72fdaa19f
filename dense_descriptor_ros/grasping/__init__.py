"""ROS-free grasping core: keypoint database, preference heatmaps, suction and parallel grasps.

Data flows one way: descriptors (model) + keypoint database -> heatmaps (ranked by the colour
check) -> grasp poses.
"""
from dense_descriptor_ros.grasping.appearance import AppearanceCheck, appearance_weights, stored_signatures
from dense_descriptor_ros.grasping.heatmap import (DEFAULT_ETA, Heatmap, fused_heatmap,
                                                   keypoint_heatmaps, object_heatmaps)
from dense_descriptor_ros.grasping.keypoint_db import (EmptyDatabaseError, KeypointDatabase,
                                                       KeypointDatabaseError, ModelMismatchError,
                                                       UnknownObjectError, describe_pixels,
                                                       embed_image)
from dense_descriptor_ros.grasping.oriented import ParallelGrasp, ParallelGripperConfig, oriented_grasp
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.suction import SuctionConfig, SuctionGrasp, suction_grasp
from dense_descriptor_ros.grasping.surface import (PixelOutsideImageError, SurfacePatch,
                                                   depth_in_metres, surface_patch)
from dense_descriptor_ros.grasping.workspace import RejectReason, Rejection, WorkspaceBox

__all__ = [
    "AppearanceCheck", "DEFAULT_ETA", "EmptyDatabaseError", "Heatmap", "KeypointDatabase", "KeypointDatabaseError",
    "ModelMismatchError", "ParallelGrasp", "ParallelGripperConfig", "PixelOutsideImageError", "Pose",
    "RejectReason", "Rejection", "SuctionConfig", "SuctionGrasp", "SurfacePatch", "UnknownObjectError",
    "WorkspaceBox", "appearance_weights", "approach_rotation", "depth_in_metres", "describe_pixels", "embed_image",
    "fused_heatmap", "keypoint_heatmaps", "object_heatmaps", "oriented_grasp", "suction_grasp",
    "stored_signatures", "surface_patch",
]

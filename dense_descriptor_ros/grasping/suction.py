"""Suction grasp at the best sealable peak of a preference heatmap.

The cup approaches along the inverted surface normal, so the tool frame is: z = -normal (into
the surface), x = the camera's x axis projected onto the surface plane (a fixed, repeatable
roll; a suction cup is symmetric about z), y = z cross x.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping.heatmap import Heatmap, PeakSearch
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.surface import SurfaceSampling, footprint_on_plane, seal_centre
from dense_descriptor_ros.grasping.workspace import (Refusable, RejectReason, Rejection, WorkspaceBox,
                                                     check_confidence, first_granted, place_in_target)


@dataclass(frozen=True)
class SuctionConfig(SurfaceSampling, PeakSearch):
    """Thresholds of a suction grasp (metres, pixels).

    With ``cup_radius > 0`` a point is grasped only where the cup's footprint lies on one flat
    face (``min_footprint`` of it within ``flatness`` of the plane); the next heatmap peaks
    (:class:`PeakSearch`) are tried in order, so a sealable spot of nearly the same preference
    is taken when the very best one sits on an edge. With ``seal_search > 0`` a peak first moves
    up to that far (metres) into its flat face, to the point farthest from the face's edges
    (``surface.seal_centre``), so a peak a few pixels off still seals.

    ``min_confidence`` 0.19: with a calibrated heatmap eta (``ddr calibrate``) a typical true
    match scores 1/e = 0.37; 0.19 is where the worst hundredth of the shipped model's correct
    suction grasps lay on 100 held-out simulated heaps (seed 2, no gate; docs/experiments.md).
    The earlier 0.25, the worst tenth, refused one correct grasp in ten and not one wrong grasp.
    """

    min_confidence: float = 0.19
    cup_radius: float = 0.0
    flatness: float = 0.004
    min_footprint: float = 0.9
    seal_search: float = 0.0


@dataclass(frozen=True, eq=False)
class SuctionGrasp(Refusable):
    """A suction grasp, or the reason there is none.

    ``pixel (2,)`` and ``confidence`` always; ``point_camera (3,)`` and ``normal_camera (3,)``
    once they were measured; ``pose_camera`` / ``pose_target`` only when ``ok``.
    """

    pixel: np.ndarray
    confidence: float
    rejection: Rejection | None = None
    point_camera: np.ndarray | None = None
    normal_camera: np.ndarray | None = None
    pose_camera: Pose | None = None
    pose_target: Pose | None = None


def suction_grasp(heatmap: Heatmap, depth: np.ndarray, intrinsics: Intrinsics, *,
                  T_target_camera: np.ndarray | None = None, target_frame: str = "target",
                  workspace: WorkspaceBox | None = None,
                  config: SuctionConfig = SuctionConfig()) -> SuctionGrasp:
    """Suction grasp at the first heatmap peak (in ranking order) that passes every check, the
    confidence gate included, else the best peak's refusal.

    ``depth (H, W)`` metres aligned with the image (NaN = invalid, see ``depth_in_metres``);
    ``T_target_camera (4, 4)`` maps camera points to the target frame; ``workspace`` is checked
    in the target frame (the camera frame when no transform is given).
    """
    if tuple(depth.shape) != heatmap.image_size:
        raise ValueError(f"depth image of shape {depth.shape} is not aligned with the "
                         f"{heatmap.image_size} image the heatmap was made for")
    candidates = heatmap.candidates(config)
    if not candidates:  # weighted, and no cell has the annotation's colours
        pixel, value = heatmap.with_weights(None).best()
        return SuctionGrasp(pixel, value, Rejection(RejectReason.UNLIKE_ANNOTATION,
                                                    "no heatmap cell's colours are like the annotated spots'"))
    return first_granted(_grasp_at(pixel, value, depth, intrinsics, T_target_camera, target_frame, workspace,
                                   config) for pixel, value in candidates)


def _grasp_at(pixel: np.ndarray, confidence: float, depth: np.ndarray, intrinsics: Intrinsics,
              T_target_camera: np.ndarray | None, target_frame: str, workspace: WorkspaceBox | None,
              config: SuctionConfig) -> SuctionGrasp:
    """The suction grasp at one pixel, or why there is none."""
    rejection = check_confidence(confidence, config.min_confidence, "heatmap")
    if rejection:
        return SuctionGrasp(pixel, confidence, rejection)
    where = f"({pixel[0]:.1f}, {pixel[1]:.1f})"
    patch = config.patch(intrinsics, depth, pixel)
    if patch is None:
        return SuctionGrasp(pixel, confidence, Rejection(
            RejectReason.INVALID_DEPTH, f"no valid depth within {config.point_radius} px of pixel {where}"))
    if patch.normal is None:
        return SuctionGrasp(pixel, confidence, Rejection(
            RejectReason.NO_SURFACE, f"too few valid depth pixels around {where} to fit a surface plane"),
            patch.point)
    moved = seal_centre(intrinsics, depth, pixel, patch, config.seal_search, config.flatness)
    refit = None if np.array_equal(moved, pixel) else config.patch(intrinsics, depth, moved)
    if refit is not None and refit.normal is not None:
        pixel, where, patch = moved, f"({moved[0]:.1f}, {moved[1]:.1f})", refit
    if config.cup_radius > 0:
        flat = footprint_on_plane(intrinsics, depth, pixel, patch, config.cup_radius, config.flatness)
        if flat < config.min_footprint:
            return SuctionGrasp(pixel, confidence, Rejection(
                RejectReason.NO_SEAL, f"only {flat:.0%} of the {config.cup_radius * 1000:.0f} mm cup's footprint "
                                      f"at {where} lies within {config.flatness * 1000:.0f} mm of one plane "
                                      f"(need {config.min_footprint:.0%})"), patch.point, patch.normal)
    pose_camera = Pose.from_axes(patch.point, approach_rotation(-patch.normal), "camera")
    pose_target, rejection = place_in_target(pose_camera, T_target_camera, target_frame, workspace)
    if rejection:
        return SuctionGrasp(pixel, confidence, rejection, patch.point, patch.normal)
    return SuctionGrasp(pixel, confidence, None, patch.point, patch.normal, pose_camera, pose_target)

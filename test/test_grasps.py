"""Suction and oriented parallel grasps on synthetic depth of known planes and points."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from dense_descriptor_ros.geometry.camera import Intrinsics, project, transform_points
from dense_descriptor_ros.grasping.clearance import blocked_parts
from dense_descriptor_ros.grasping.face import planar_face
from dense_descriptor_ros.grasping.heatmap import Heatmap
from dense_descriptor_ros.grasping.oriented import ParallelGripperConfig, annotated_face_width, oriented_grasp
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.grasping.suction import SuctionConfig, suction_grasp
from dense_descriptor_ros.geometry.camera import PixelOutsideImageError
from dense_descriptor_ros.grasping.surface import (depth_in_metres, footprint_on_plane, robust_depth, seal_centre,
                                                   surface_patch)
from dense_descriptor_ros.grasping.workspace import RejectReason, WorkspaceBox

CAMERA = Intrinsics(fx=300.0, fy=300.0, cx=63.5, cy=47.5, width=128, height=96)
GRID = (12, 16)  # stride-8 grid of the 96x128 image


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return math.degrees(math.acos(np.clip(cos, -1.0, 1.0)))


def tilted_normal(tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """Unit normal facing the camera (-z), tilted by ``tilt_deg`` towards azimuth ``azimuth_deg``."""
    t, a = math.radians(tilt_deg), math.radians(azimuth_deg)
    return np.array([math.sin(t) * math.cos(a), math.sin(t) * math.sin(a), -math.cos(t)])


def plane_depth(normal: np.ndarray, through: np.ndarray, camera: Intrinsics = CAMERA) -> np.ndarray:
    """Depth ``(H, W)`` of the plane ``normal . (p - through) = 0``: ray-plane intersection per pixel."""
    ys, xs = np.mgrid[0:camera.height, 0:camera.width]
    rays = np.stack([(xs - camera.cx) / camera.fx, (ys - camera.cy) / camera.fy, np.ones(xs.shape)], -1)
    return np.dot(normal, through) / (rays @ normal)


def ray_point(pixel: np.ndarray, normal: np.ndarray, through: np.ndarray) -> np.ndarray:
    ray = np.array([(pixel[0] - CAMERA.cx) / CAMERA.fx, (pixel[1] - CAMERA.cy) / CAMERA.fy, 1.0])
    return ray * np.dot(normal, through) / np.dot(ray, normal)


def peak_heatmap(cell: tuple[int, int], value: float = 0.9) -> Heatmap:
    """A heatmap on the stride-8 grid with its maximum ``value`` at grid cell (x, y)."""
    grid = torch.full(GRID, 0.05)
    grid[cell[1], cell[0]] = value
    return Heatmap(grid, (CAMERA.height, CAMERA.width))


T_TARGET_CAMERA = np.eye(4)
T_TARGET_CAMERA[:3, :3] = Rotation.from_euler("xyz", [180, 0, 30], degrees=True).as_matrix()
T_TARGET_CAMERA[:3, 3] = [0.4, -0.1, 0.9]


# -- surface --------------------------------------------------------------------------------

def test_depth_in_metres_scales_millimetres_and_marks_invalid() -> None:
    raw = np.array([[0, 500], [1234, 65535]], dtype=np.uint16)
    np.testing.assert_allclose(depth_in_metres(raw), [[np.nan, 0.5], [1.234, 65.535]])
    floats = depth_in_metres(np.array([[np.inf, -1.0], [0.0, 0.7]], dtype=np.float32))
    assert np.isnan(floats[0]).all() and np.isnan(floats[1, 0]) and floats[1, 1] == pytest.approx(0.7)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        depth_in_metres(np.zeros((4, 4, 1)))


def test_robust_depth_is_the_median_of_valid_pixels() -> None:
    depth = np.full((9, 9), np.nan)
    depth[3:6, 3:6] = [[0.50, 0.51, 0.52], [0.50, 9.0, np.nan], [0.49, 0.50, 0.50]]
    assert robust_depth(depth, np.array([4, 4]), radius=1) == pytest.approx(0.50)
    assert math.isnan(robust_depth(depth, np.array([0, 0]), radius=1))


@pytest.mark.parametrize("tilt, azimuth", [(30, 90), (30, 215), (0, 0)])
def test_normal_of_a_tilted_plane_within_two_degrees(tilt: float, azimuth: float) -> None:
    normal = tilted_normal(tilt, azimuth)
    through = np.array([0.01, -0.02, 0.5])
    depth = plane_depth(normal, through)
    patch = surface_patch(CAMERA, depth, np.array([70.0, 40.0]))
    assert angle_deg(patch.normal, normal) < 2.0
    assert abs(np.dot(patch.point - through, normal)) < 1e-3  # on the plane
    np.testing.assert_allclose(project(CAMERA, patch.point[None])[0][0], [70.0, 40.0], atol=0.05)


def test_normal_ignores_the_background_beyond_an_object_edge() -> None:
    depth = np.full((CAMERA.height, CAMERA.width), 0.60)
    depth[:, :60] = 0.45  # a box top; its edge 3 px left of the query
    patch = surface_patch(CAMERA, depth, np.array([57.0, 40.0]))
    assert patch.point[2] == pytest.approx(0.45)
    assert angle_deg(patch.normal, np.array([0.0, 0.0, -1.0])) < 1.0


def test_normal_drops_spikes_on_one_side_of_the_patch() -> None:
    """Flying pixels 15 mm proud on the right side would tilt a single plane fit by ~12 degrees."""
    depth = np.full((CAMERA.height, CAMERA.width), 0.5)
    spikes = np.random.default_rng(0).random(depth.shape) < 0.3
    spikes[:, :75] = False
    depth[spikes] += 0.015
    patch = surface_patch(CAMERA, depth, np.array([70.0, 40.0]))
    assert angle_deg(patch.normal, np.array([0.0, 0.0, -1.0])) < 1.0
    assert patch.rms < 1e-3 and patch.points < 225


def test_surface_patch_refuses_pixels_outside_and_misaligned_depth() -> None:
    depth = np.full((CAMERA.height, CAMERA.width), 0.5)
    with pytest.raises(PixelOutsideImageError, match="outside the 128x96 image"):
        surface_patch(CAMERA, depth, np.array([128.0, 10.0]))
    with pytest.raises(ValueError, match="does not match"):
        surface_patch(CAMERA, depth[:, :100], np.array([10.0, 10.0]))


# -- suction --------------------------------------------------------------------------------

def test_suction_on_a_tilted_plane_with_holes_and_noise() -> None:
    normal = tilted_normal(30, 60)
    through = np.array([0.0, 0.0, 0.55])
    rng = np.random.default_rng(0)
    depth = plane_depth(normal, through) + rng.normal(0, 0.0005, (CAMERA.height, CAMERA.width))
    holes = rng.random(depth.shape) < 0.2
    depth[holes] = np.nan
    depth[rng.random(depth.shape) < 0.05] = 0.0  # zeros as a driver reports them
    depth = depth_in_metres(depth)
    grasp = suction_grasp(peak_heatmap((9, 5)), depth, CAMERA)
    assert grasp.ok, grasp.rejection
    np.testing.assert_allclose(grasp.pixel, [75.5, 43.5])  # (cell + 0.5) * 8 - 0.5
    true_point = ray_point(grasp.pixel, normal, through)
    assert np.linalg.norm(grasp.point_camera - true_point) < 0.002
    assert angle_deg(grasp.normal_camera, normal) < 2.0
    assert angle_deg(grasp.pose_camera.axis(2), -normal) < 2.0  # tool z approaches into the surface
    np.testing.assert_allclose(grasp.pose_camera.position, grasp.point_camera)
    rotation = grasp.pose_camera.rotation.as_matrix()
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)


def test_suction_pose_in_the_target_frame_and_workspace() -> None:
    normal = tilted_normal(30, 0)
    depth = plane_depth(normal, np.array([0.0, 0.0, 0.5]))
    inside_box = WorkspaceBox((-1.0, -1.0, -1.0), (1.5, 1.5, 1.5))
    grasp = suction_grasp(peak_heatmap((4, 7)), depth, CAMERA, T_target_camera=T_TARGET_CAMERA,
                          target_frame="base", workspace=inside_box)
    assert grasp.ok, grasp.rejection
    assert grasp.pose_target.frame == "base" and grasp.pose_camera.frame == "camera"
    np.testing.assert_allclose(grasp.pose_target.position,
                               transform_points(T_TARGET_CAMERA, grasp.point_camera[None])[0], atol=1e-9)
    np.testing.assert_allclose(grasp.pose_target.axis(2), T_TARGET_CAMERA[:3, :3] @ grasp.pose_camera.axis(2),
                               atol=1e-9)
    target_z = grasp.pose_target.position[2]
    low_box = WorkspaceBox((-1.0, -1.0, -1.0), (1.5, 1.5, target_z - 0.01))
    refused = suction_grasp(peak_heatmap((4, 7)), depth, CAMERA, T_target_camera=T_TARGET_CAMERA,
                            workspace=low_box)
    assert not refused.ok and refused.reason == RejectReason.OUTSIDE_WORKSPACE
    assert refused.pose_camera is None and refused.pose_target is None
    assert "z=" in refused.rejection.detail


def test_suction_rejects_low_confidence() -> None:
    depth = np.full((CAMERA.height, CAMERA.width), 0.5)
    grasp = suction_grasp(peak_heatmap((4, 4), value=0.08), depth, CAMERA,
                          config=SuctionConfig(min_confidence=0.1))
    assert not grasp.ok and grasp.reason == RejectReason.LOW_CONFIDENCE == "low confidence"
    assert grasp.pose_camera is None and grasp.confidence == pytest.approx(0.08)


def test_suction_rejects_invalid_depth() -> None:
    all_nan = np.full((CAMERA.height, CAMERA.width), np.nan)
    grasp = suction_grasp(peak_heatmap((4, 4)), all_nan, CAMERA)
    assert not grasp.ok and grasp.reason == "invalid depth" and grasp.pose_camera is None
    zeros = depth_in_metres(np.zeros((CAMERA.height, CAMERA.width), dtype=np.uint16))
    assert suction_grasp(peak_heatmap((4, 4)), zeros, CAMERA).reason == RejectReason.INVALID_DEPTH


def test_suction_rejects_a_point_without_a_surface() -> None:
    depth = np.full((CAMERA.height, CAMERA.width), np.nan)
    depth[35, 35] = depth[36, 36] = 0.5  # a valid point, but nothing to fit a plane through
    grasp = suction_grasp(peak_heatmap((4, 4)), depth, CAMERA)
    assert not grasp.ok and grasp.reason == RejectReason.NO_SURFACE and grasp.pose_camera is None


def box_on_floor() -> np.ndarray:
    """Floor at 1 m with a box top at 0.9 m covering x < 60 (a step edge near the middle)."""
    depth = np.full((CAMERA.height, CAMERA.width), 1.0)
    depth[:, :60] = 0.9
    return depth


def test_cup_footprint_is_flat_inside_a_face_and_not_across_an_edge() -> None:
    depth = box_on_floor()
    inside, edge = np.array([31.5, 47.5]), np.array([60.0, 47.5])
    for pixel, expected in ((inside, 1.0), (edge, 0.5)):
        patch = surface_patch(CAMERA, depth, pixel)
        # 12 mm cup at 0.9 m and fx 300: a disc of 4 px radius
        assert footprint_on_plane(CAMERA, depth, pixel, patch, 0.012, 0.004) == pytest.approx(expected, abs=0.1)
    holes = depth.copy()
    holes[46:50, 30:34] = np.nan  # a hole inside the footprint counts as no seal
    patch = surface_patch(CAMERA, holes, inside)
    assert footprint_on_plane(CAMERA, holes, inside, patch, 0.012, 0.004) < 0.7


def test_suction_takes_the_best_sealable_peak() -> None:
    depth = box_on_floor()
    grid = torch.full(GRID, 0.05)
    grid[5, 7] = 0.9  # cell centre x = 59.5: the cup would straddle the box edge at x = 60
    grid[5, 3] = 0.8  # cell centre x = 27.5: well inside the box top
    heatmap = Heatmap(grid, (CAMERA.height, CAMERA.width))
    cup = SuctionConfig(cup_radius=0.012)
    grasp = suction_grasp(heatmap, depth, CAMERA, config=cup)
    assert grasp.ok and grasp.confidence == pytest.approx(0.8)
    np.testing.assert_allclose(grasp.pixel, [27.5, 43.5])
    assert grasp.point_camera[2] == pytest.approx(0.9)
    # Only the best peak allowed: refused, with the footprint in the message, never the edge pose.
    only_best = SuctionConfig(cup_radius=0.012, candidate_ratio=1.0)
    refused = suction_grasp(heatmap, depth, CAMERA, config=only_best)
    assert refused.reason == RejectReason.NO_SEAL and refused.pose_camera is None
    assert "12 mm cup" in refused.rejection.detail
    # Without a cup radius the best peak is taken as before.
    assert suction_grasp(heatmap, depth, CAMERA).confidence == pytest.approx(0.9)


def test_seal_centre_moves_into_the_face_within_the_search_radius() -> None:
    depth = box_on_floor()  # box top x < 60
    near_edge = np.array([57.0, 47.0])
    patch = surface_patch(CAMERA, depth, near_edge)
    # 12 mm at 0.9 m and fx 300: 4 px; the deepest reachable pixel is 4 px further from the edge
    moved = seal_centre(CAMERA, depth, near_edge, patch, 0.012, 0.004)
    np.testing.assert_allclose(moved, [53.0, 47.0])
    assert footprint_on_plane(CAMERA, depth, near_edge, patch, 0.012, 0.004) < 0.9
    assert footprint_on_plane(CAMERA, depth, moved, patch, 0.012, 0.004) == pytest.approx(1.0)
    # No search, or a pixel on no face (unknown depth), stays where it is.
    np.testing.assert_allclose(seal_centre(CAMERA, depth, near_edge, patch, 0.0, 0.004), near_edge)
    holes = depth.copy()
    holes[47, 57] = np.nan
    np.testing.assert_allclose(seal_centre(CAMERA, holes, near_edge, patch, 0.012, 0.004), near_edge)
    # Deep inside a face it stays too, and unknown depth counts as the face's end.
    centre = np.array([30.0, 47.0])
    np.testing.assert_allclose(seal_centre(CAMERA, depth, centre, surface_patch(CAMERA, depth, centre), 0.012, 0.004),
                               centre)
    holes[40:55, 31:34] = np.nan
    assert seal_centre(CAMERA, holes, centre, surface_patch(CAMERA, holes, centre), 0.012, 0.004)[0] < 30.0


def test_seal_centre_moves_into_the_face_through_depth_noise() -> None:
    """A depth camera's noise (1.5 mm, well inside the 4 mm flatness) leaves the face whole."""
    near_edge = np.array([57.0, 47.0])
    for seed in range(5):
        depth = box_on_floor() + np.random.default_rng(seed).normal(0.0, 0.0015, (CAMERA.height, CAMERA.width))
        patch = surface_patch(CAMERA, depth, near_edge)
        moved = seal_centre(CAMERA, depth, near_edge, patch, 0.012, 0.004)
        # 3-5 px into the box top (the reach is 4-5 px as the noisy depth reads 0.9 m), and the cup seals
        assert 52.0 <= moved[0] <= 54.0 and abs(moved[1] - 47.0) <= 3.0
        assert footprint_on_plane(CAMERA, depth, moved, patch, 0.012, 0.004) == pytest.approx(1.0)
        assert footprint_on_plane(CAMERA, depth, near_edge, patch, 0.012, 0.004) < 0.9


def test_suction_seal_search_turns_an_edge_peak_into_a_sealed_grasp() -> None:
    depth = np.full((CAMERA.height, CAMERA.width), 1.0)
    depth[:, :54] = 0.9  # the best peak's cell centre (51.5, 43.5) is 2.5 px from the box edge
    heatmap = peak_heatmap((6, 5))
    only_best = SuctionConfig(cup_radius=0.012, candidate_ratio=1.0)
    assert suction_grasp(heatmap, depth, CAMERA, config=only_best).reason == RejectReason.NO_SEAL
    grasp = suction_grasp(heatmap, depth, CAMERA, config=replace(only_best, seal_search=0.012))
    assert grasp.ok and grasp.confidence == pytest.approx(0.9)
    assert 47.0 <= grasp.pixel[0] <= 48.0 and abs(grasp.pixel[1] - 43.5) <= 0.5  # 4 px in, on its row
    assert grasp.point_camera[2] == pytest.approx(0.9)
    np.testing.assert_allclose(grasp.normal_camera, [0.0, 0.0, -1.0], atol=1e-6)


def test_suction_refuses_misaligned_depth() -> None:
    with pytest.raises(ValueError, match="not aligned"):
        suction_grasp(peak_heatmap((4, 4)), np.full((48, 64), 0.5), CAMERA)


# -- oriented parallel grasp ----------------------------------------------------------------

CELL_A, CELL_B = (5, 5), (9, 7)


# The paper's grasp: the keypoints alone set axis, width and centre (no face outlining), on
# endless planes where fingers have nowhere to go (no room check).
KEYPOINTS_ONLY = ParallelGripperConfig(fit_face=False, finger_depth=0.0)


def planted_scene(seed: int = 0, cells: tuple[tuple[int, int], ...] = (CELL_A, CELL_B)
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random unit descriptors ``(1, 16, 12, 16)`` with axis keypoints ``(2, 16)`` planted at
    ``cells`` (x, y)."""
    generator = torch.Generator().manual_seed(seed)
    grid = F.normalize(torch.randn(1, 16, *GRID, generator=generator), dim=1)
    keypoints = F.normalize(torch.randn(2, 16, generator=generator), dim=1)
    for keypoint, (x, y) in zip(keypoints, cells):
        grid[0, :, y, x] = keypoint
    return grid, keypoints


def cell_pixel(cell: tuple[int, int]) -> np.ndarray:
    return (np.array(cell, dtype=float) + 0.5) * 8 - 0.5


@pytest.mark.parametrize("tilt, azimuth", [(0, 0), (25, 120)])
def test_oriented_grasp_on_a_synthetic_scene(tilt: float, azimuth: float) -> None:
    normal = tilted_normal(tilt, azimuth)
    through = np.array([0.0, 0.0, 0.5])
    depth = plane_depth(normal, through)
    a = ray_point(cell_pixel(CELL_A), normal, through)
    b = ray_point(cell_pixel(CELL_B), normal, through)
    grid, keypoints = planted_scene()
    grasp = oriented_grasp(grid, keypoints, depth, CAMERA, T_target_camera=T_TARGET_CAMERA,
                           target_frame="base", config=KEYPOINTS_ONLY)
    assert grasp.ok and grasp.axis_from == "keypoints", grasp.rejection
    np.testing.assert_allclose(grasp.pixels, [cell_pixel(CELL_A), cell_pixel(CELL_B)])
    np.testing.assert_allclose(grasp.confidences, [1.0, 1.0], atol=1e-5)
    assert np.linalg.norm(grasp.pose_camera.position - (a + b) / 2) < 0.005
    assert grasp.width == pytest.approx(np.linalg.norm(b - a) + 0.01, abs=0.005)
    assert angle_deg(grasp.pose_camera.axis(1), b - a) < 5.0  # closing axis a -> b
    approach = -(normal - np.dot(normal, b - a) / np.dot(b - a, b - a) * (b - a))
    assert angle_deg(grasp.pose_camera.axis(2), approach) < 5.0
    expected_target = Pose.from_matrix(T_TARGET_CAMERA @ grasp.pose_camera.matrix, "base")
    np.testing.assert_allclose(grasp.pose_target.matrix, expected_target.matrix, atol=1e-9)
    centre_target = transform_points(T_TARGET_CAMERA, ((a + b) / 2)[None])[0]
    assert np.linalg.norm(grasp.pose_target.position - centre_target) < 0.005


def test_oriented_grasp_rejections() -> None:
    normal = tilted_normal(20, 45)
    depth = plane_depth(normal, np.array([0.0, 0.0, 0.5]))
    grid, keypoints = planted_scene()

    a, b = (ray_point(cell_pixel(cell), normal, np.array([0.0, 0.0, 0.5])) for cell in (CELL_A, CELL_B))
    separation = float(np.linalg.norm(b - a))  # about 60 mm
    for config in (KEYPOINTS_ONLY, ParallelGripperConfig()):
        too_wide = oriented_grasp(grid, keypoints, depth, CAMERA,
                                  config=replace(config, max_opening=separation + 0.005))
        assert too_wide.reason == RejectReason.TOO_WIDE and too_wide.pose_camera is None
        assert too_wide.width == pytest.approx(separation + 0.01, abs=0.002)
    # keypoint b's match lies farther than the fingers open: it is not paired with a
    too_far = oriented_grasp(grid, keypoints, depth, CAMERA, config=replace(KEYPOINTS_ONLY, max_opening=0.03))
    assert too_far.reason == RejectReason.LOW_CONFIDENCE and too_far.pose_camera is None
    assert not np.allclose(too_far.pixels, [cell_pixel(CELL_A), cell_pixel(CELL_B)])

    absent = F.normalize(torch.randn(2, 16, generator=torch.Generator().manual_seed(9)), dim=1)
    unseen = oriented_grasp(grid, absent, depth, CAMERA)
    assert unseen.reason == RejectReason.LOW_CONFIDENCE and unseen.pose_camera is None

    holed = depth.copy()
    holed[35:50, 38:50] = np.nan  # around keypoint a at (43.5, 43.5)
    no_depth = oriented_grasp(grid, keypoints, holed, CAMERA)
    assert no_depth.reason == RejectReason.INVALID_DEPTH and "axis_a" in no_depth.rejection.detail

    same = oriented_grasp(grid, keypoints[[0, 0]], depth, CAMERA, config=KEYPOINTS_ONLY)
    assert same.reason == RejectReason.DEGENERATE and same.pose_camera is None
    # outlined in depth, the "face" is the whole plane: far wider than the gripper opens
    endless = oriented_grasp(grid, keypoints[[0, 0]], depth, CAMERA)
    assert endless.reason == RejectReason.TOO_WIDE and endless.axis_from == "narrow side"

    box = WorkspaceBox((-0.05, -0.05, 0.0), (0.05, 0.05, 0.3))
    outside = oriented_grasp(grid, keypoints, depth, CAMERA, workspace=box, config=KEYPOINTS_ONLY)
    assert outside.reason == RejectReason.OUTSIDE_WORKSPACE and outside.pose_target is None

    with pytest.raises(ValueError, match=r"\(2, D\)"):
        oriented_grasp(grid, keypoints[:1], depth, CAMERA)


def test_oriented_grasp_falls_back_to_the_next_keypoint_pair() -> None:
    """The best pair sits over a depth hole; a slightly worse match of the same pair elsewhere
    gives the grasp."""
    depth = plane_depth(tilted_normal(0, 0), np.array([0.0, 0.0, 0.5]))
    grid, keypoints = planted_scene()
    second = ((5, 1), (9, 3))  # the pair again, 4 cells higher up, matching a little worse
    for keypoint, (x, y) in zip(keypoints, second):
        grid[0, :, y, x] = F.normalize(keypoint + 0.01 * torch.ones(16), dim=0)
    depth[35:64, 38:82] = np.nan  # under the best pair
    grasp = oriented_grasp(grid, keypoints, depth, CAMERA, config=KEYPOINTS_ONLY)
    assert grasp.ok, grasp.rejection
    np.testing.assert_allclose(grasp.pixels, [cell_pixel(cell) for cell in second])
    assert grasp.confidences.min() < 1.0
    without = oriented_grasp(grid, keypoints, depth, CAMERA, config=replace(KEYPOINTS_ONLY, candidates=1))
    assert without.reason == RejectReason.INVALID_DEPTH


# A box lying in a bin: its top face 4 x 12 cm, 5 cm above the floor, tilted and turned.
BOX_HALF = (0.06, 0.02)  # along its long and narrow side (m)
BOX_CENTRE = np.array([0.0, 0.0, 0.55])


def box_scene(tilt: float, yaw: float, half: tuple[float, float] = BOX_HALF
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Depth of a box top (``half`` its sides) over a floor 0.6 m away: ``(depth (H, W), normal,
    long side, narrow side)``."""
    normal = tilted_normal(tilt, 200.0)
    along = np.cross(normal, [0.0, 1.0, 0.0])
    along /= np.linalg.norm(along)
    across = np.cross(normal, along)
    turn = math.radians(yaw)
    long_side, narrow_side = (math.cos(turn) * along + math.sin(turn) * across,
                              -math.sin(turn) * along + math.cos(turn) * across)
    top = plane_depth(normal, BOX_CENTRE)
    ys, xs = np.mgrid[0:CAMERA.height, 0:CAMERA.width]
    rays = np.stack([(xs - CAMERA.cx) / CAMERA.fx, (ys - CAMERA.cy) / CAMERA.fy, np.ones(xs.shape)], -1)
    offset = rays * top[..., None] - BOX_CENTRE
    on_top = (np.abs(offset @ long_side) <= half[0]) & (np.abs(offset @ narrow_side) <= half[1])
    depth = np.where(on_top, top, 0.6)
    depth[::7, ::5] = np.nan  # sensor holes do not change the outline
    return depth, normal, long_side, narrow_side


@pytest.mark.parametrize("tilt, yaw", [(0, 30), (20, -65)])
def test_face_outline_measures_a_box_top(tilt: float, yaw: float) -> None:
    depth, normal, long_side, narrow_side = box_scene(tilt, yaw)
    centre_pixel = project(CAMERA, BOX_CENTRE[None])[0][0]
    face = planar_face(CAMERA, depth, centre_pixel)
    assert angle_deg(face.normal, normal) < 2.0
    narrowest = face.narrowest()
    assert min(angle_deg(narrowest, narrow_side), angle_deg(-narrowest, narrow_side)) < 3.0
    low, high = face.span(narrowest)
    assert high - low == pytest.approx(2 * BOX_HALF[1], abs=0.001)
    low, high = face.span(long_side)
    assert high - low == pytest.approx(2 * BOX_HALF[0], abs=0.001)
    assert planar_face(CAMERA, np.full(depth.shape, np.nan), centre_pixel) is None


@pytest.mark.parametrize("rim_px", [1, 2])
def test_a_rim_at_the_height_of_the_box_top_is_no_part_of_its_face(rim_px: int) -> None:
    """A bin rim seen edge-on (1-2 px wide) at the box top's depth, along the whole image row
    above the box (turned 30 degrees) and touching its corner: connected to the top pixel by
    pixel, it is no part of the face, whose sides still measure 40 and 120 mm (without the
    opening, the 1-px rim stretched them to 104 and 157 mm)."""
    depth, _, long_side, narrow_side = box_scene(0, 30)
    centre_pixel = project(CAMERA, BOX_CENTRE[None])[0][0]
    top_row = np.nonzero(np.isclose(depth, BOX_CENTRE[2]).any(axis=1))[0].min()
    rimmed = depth.copy()
    rimmed[top_row - rim_px:top_row, :] = BOX_CENTRE[2]
    face = planar_face(CAMERA, rimmed, centre_pixel)
    for side, length in ((narrow_side, 2 * BOX_HALF[1]), (long_side, 2 * BOX_HALF[0])):
        low, high = face.span(side)
        assert high - low == pytest.approx(length, abs=0.002)


@pytest.mark.parametrize("tilt, yaw", [(0, 30), (20, -65)])
def test_oriented_grasp_closes_across_the_outlined_face(tilt: float, yaw: float) -> None:
    """Keypoints one cell apart (below the descriptors' resolution) only find the face: the
    fingers close across its narrow side, as wide as the box (the margin is for keypoint
    distances), centred on it."""
    depth, normal, long_side, narrow_side = box_scene(tilt, yaw)
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))  # around the box centre
    grasp = oriented_grasp(grid, keypoints, depth, CAMERA, T_target_camera=T_TARGET_CAMERA,
                           target_frame="base", config=ParallelGripperConfig(margin=0.01))
    assert grasp.ok and grasp.axis_from == "narrow side", grasp.rejection
    assert grasp.width == pytest.approx(2 * BOX_HALF[1], abs=0.004)
    closing = grasp.pose_camera.axis(1)
    assert min(angle_deg(closing, narrow_side), angle_deg(-closing, narrow_side)) < 5.0
    assert angle_deg(grasp.pose_camera.axis(2), -normal) < 5.0
    assert abs(np.dot(grasp.pose_camera.position - BOX_CENTRE, narrow_side)) < 0.005  # centred across
    assert abs(np.dot(grasp.pose_camera.position - BOX_CENTRE, normal)) < 0.003  # on the face


def test_no_room_for_a_finger_next_to_a_neighbour() -> None:
    """A neighbour as tall as the box, right beside one long side: a finger would land on it."""
    depth, _, long_side, narrow_side = box_scene(0, 30)
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))
    free = oriented_grasp(grid, keypoints, depth, CAMERA)
    assert free.ok, free.rejection
    ys, xs = np.mgrid[0:CAMERA.height, 0:CAMERA.width]
    rays = np.stack([(xs - CAMERA.cx) / CAMERA.fx, (ys - CAMERA.cy) / CAMERA.fy, np.ones(xs.shape)], -1)
    offset = rays * 0.55 - BOX_CENTRE
    beside = (np.abs(offset @ long_side) <= BOX_HALF[0]) & (offset @ narrow_side > BOX_HALF[1] + 0.002) \
        & (offset @ narrow_side < BOX_HALF[1] + 0.04)
    crowded = np.where(beside, 0.553, depth)  # its top 3 mm lower than the box's, 2 mm away
    grasp = oriented_grasp(grid, keypoints, crowded, CAMERA)
    assert grasp.reason == RejectReason.NO_ROOM and grasp.pose_camera is None, grasp.rejection
    assert "fingertip" in grasp.rejection.detail
    assert oriented_grasp(grid, keypoints, crowded, CAMERA, config=ParallelGripperConfig(finger_depth=0.0)).ok


def with_block(depth: np.ndarray, long_side: np.ndarray, narrow_side: np.ndarray, along: tuple[float, float],
               across: tuple[float, float], top: float) -> np.ndarray:
    """``depth`` with a flat-topped neighbour at camera depth ``top`` over the given ranges of
    offsets from the box centre along its long and narrow sides (m)."""
    ys, xs = np.mgrid[0:CAMERA.height, 0:CAMERA.width]
    rays = np.stack([(xs - CAMERA.cx) / CAMERA.fx, (ys - CAMERA.cy) / CAMERA.fy, np.ones(xs.shape)], -1)
    offset = rays * top - BOX_CENTRE
    u, v = offset @ long_side, offset @ narrow_side
    inside = (u >= along[0]) & (u <= along[1]) & (v >= across[0]) & (v <= across[1])
    return np.where(inside, np.fmin(depth, top), depth)


def test_a_blocked_grasp_moves_along_the_face_to_the_nearest_room() -> None:
    """A neighbour beside one half of the long side, up to its middle: the 20 mm wide fingers
    (grown 4 mm) cannot go down at the centre nor 10 mm on, and the grasp moves 20 mm along
    the face towards the free end, not farther."""
    depth, _, long_side, narrow_side = box_scene(0, 30)
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))
    crowded = with_block(depth, long_side, narrow_side, (-0.08, 0.0), (BOX_HALF[1] + 0.002, 0.06), 0.553)
    grasp = oriented_grasp(grid, keypoints, crowded, CAMERA)
    assert grasp.ok, grasp.rejection
    assert abs(grasp.shift) == pytest.approx(0.02)
    moved = grasp.pose_camera.position - BOX_CENTRE
    assert np.dot(moved, long_side) == pytest.approx(0.02, abs=0.004)
    assert abs(np.dot(moved, narrow_side)) < 0.004  # still centred across the face
    stay = oriented_grasp(grid, keypoints, crowded, CAMERA, config=ParallelGripperConfig(max_shift=0.0))
    assert stay.reason == RejectReason.NO_ROOM and "fingertip b" in stay.rejection.detail, stay.rejection
    assert oriented_grasp(grid, keypoints, depth, CAMERA).shift == 0.0


def test_with_no_room_across_the_narrow_side_the_jaws_close_across_the_other() -> None:
    """A box standing on end, its top 60 x 40 mm, neighbours as tall along both 60 mm sides: no
    room for the fingers across the narrow side anywhere along it, so they close across the
    60 mm side, which the jaws span. A neighbour at one end as well leaves no room at all; a
    120 mm side is never tried (wider than the jaws open)."""
    end_on = (0.03, 0.02)
    depth, _, long_side, narrow_side = box_scene(0, 30, end_on)
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))
    beside = with_block(with_block(depth, long_side, narrow_side, (-0.03, 0.03), (0.022, 0.06), 0.553),
                        long_side, narrow_side, (-0.03, 0.03), (-0.06, -0.022), 0.553)
    assert oriented_grasp(grid, keypoints, depth, CAMERA).axis_from == "narrow side"
    grasp = oriented_grasp(grid, keypoints, beside, CAMERA)
    assert grasp.ok and grasp.axis_from == "other side", grasp.rejection
    assert grasp.width == pytest.approx(2 * end_on[0], abs=0.004)
    assert min(angle_deg(grasp.pose_camera.axis(1), long_side), angle_deg(-grasp.pose_camera.axis(1), long_side)) < 5
    assert np.linalg.norm(grasp.pose_camera.position - BOX_CENTRE) < 0.005  # the face's middle
    boxed_in = with_block(beside, long_side, narrow_side, (0.032, 0.07), (-0.06, 0.06), 0.553)
    refused = oriented_grasp(grid, keypoints, boxed_in, CAMERA)
    assert refused.reason == RejectReason.NO_ROOM and "other side" in refused.rejection.detail, refused.rejection
    assert refused.axis_from == "narrow side" and refused.width == pytest.approx(2 * end_on[1], abs=0.004)
    long_box, _, long_side, narrow_side = box_scene(0, 30)
    crowded = with_block(long_box, long_side, narrow_side, (-0.08, 0.08), (0.022, 0.06), 0.553)
    assert "other side" not in oriented_grasp(grid, keypoints, crowded, CAMERA).rejection.detail


def test_a_face_of_another_width_than_the_annotated_one_is_refused() -> None:
    """Clicked on this 40 mm face, the annotation measures it 40 mm across the keypoints; a bare
    floor measures as nothing (wider than the jaws open), so nothing would be compared. With an
    annotation on an 80 mm face (a cube box's top), this 40 mm look-alike is refused; with one
    on a 50 mm face, within the 15 mm tolerance, it is grasped."""
    depth, _, _, narrow_side = box_scene(0, 30)
    clicks = project(CAMERA, BOX_CENTRE[None] + np.outer([-0.015, 0.015], narrow_side))[0]
    assert annotated_face_width(clicks, depth, CAMERA) == pytest.approx(2 * BOX_HALF[1], abs=0.002)
    assert annotated_face_width(clicks, np.full(depth.shape, 0.6), CAMERA) is None
    assert annotated_face_width(clicks, np.full(depth.shape, np.nan), CAMERA) is None
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))
    cube = oriented_grasp(grid, keypoints, depth, CAMERA, annotated_width=0.08)
    assert cube.reason == RejectReason.UNLIKE_SIZE and "39.9 mm across" in cube.rejection.detail, cube.rejection
    assert cube.pose_camera is None
    assert oriented_grasp(grid, keypoints, depth, CAMERA, annotated_width=0.05).ok


@pytest.mark.parametrize("across, above_box, refused", [((0.045, 0.07), 0.04, True), ((0.045, 0.07), 0.02, False),
                                                       ((0.057, 0.07), 0.04, True)])
def test_a_tall_neighbour_beyond_the_fingers_blocks_the_palm(across: tuple[float, float], above_box: float,
                                                             refused: bool) -> None:
    """A neighbour from 45 mm off the box's middle, along its whole length: beyond the fingers
    (open 5 mm wider than the box, 8 mm thick, grown 4 mm) but under the palm (55.5 mm either
    side), which comes down to 30 mm above the box top. 40 mm taller than the box it is in the
    palm's way, 20 mm not; from 57 mm on, under the palm's grown edge alone, it still is."""
    depth, _, long_side, narrow_side = box_scene(0, 30)
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))
    crowded = with_block(depth, long_side, narrow_side, (-0.1, 0.1), across, BOX_CENTRE[2] - above_box)
    grasp = oriented_grasp(grid, keypoints, crowded, CAMERA)
    if refused:
        assert grasp.reason == RejectReason.NO_ROOM and "palm" in grasp.rejection.detail, grasp.rejection
    else:
        assert grasp.ok and grasp.shift == 0.0, grasp.rejection


def test_the_grasped_box_hiding_a_fingertip_is_no_obstacle() -> None:
    """Its top tilted 20 degrees, the box itself hides from the camera where one finger goes
    down beside it. That surface lies within the grasp width: what the jaws close on, not
    something above the finger. Counting it (as any surface nearer than the tip) blocked 24%."""
    depth, _, _, _ = box_scene(20, -65)
    grid, keypoints = planted_scene(cells=((7, 5), (8, 6)))
    config = ParallelGripperConfig()
    grasp = oriented_grasp(grid, keypoints, depth, CAMERA, config=config)
    assert grasp.ok, grasp.rejection
    pose = grasp.pose_camera
    inner = (grasp.width + config.open_extra) / 2
    tips = np.stack([pose.position + config.finger_depth * pose.axis(2) + side * inner * pose.axis(1)
                     for side in (-1.0, 1.0)])
    (x, y), = np.rint(project(CAMERA, tips[:1])[0]).astype(int)
    assert depth[y, x] < tips[0, 2] - 0.01  # the first finger's inner edge lies behind the box top
    assert not any(blocked_parts(pose, grasp.width, depth, CAMERA, config).values())


def test_resolved_keypoints_choose_the_face_side() -> None:
    """Keypoints several cells apart along the long side: the fingers close along it."""
    depth, _, long_side, _ = box_scene(0, 30)
    grid, keypoints = planted_scene(cells=((5, 7), (10, 4)))
    wide_gripper = ParallelGripperConfig(max_opening=0.2)
    grasp = oriented_grasp(grid, keypoints, depth, CAMERA, config=wide_gripper)
    assert grasp.ok and grasp.axis_from == "face side", grasp.rejection
    assert angle_deg(grasp.pose_camera.axis(1), long_side) < 5.0  # from keypoint a towards b
    assert grasp.width == pytest.approx(2 * BOX_HALF[0], abs=0.008)
    narrower = oriented_grasp(grid, keypoints, depth, CAMERA, config=ParallelGripperConfig(max_opening=0.1))
    assert narrower.reason == RejectReason.TOO_WIDE and narrower.width > 0.11  # the long side does not fit


# -- poses and boxes ------------------------------------------------------------------------

def test_pose_round_trips_and_refuses_bad_values() -> None:
    transform = np.eye(4)
    transform[:3, :3] = Rotation.from_euler("zyx", [10, 20, 30], degrees=True).as_matrix()
    transform[:3, 3] = [1.0, 2.0, 3.0]
    pose = Pose.from_matrix(transform)
    np.testing.assert_allclose(pose.matrix, transform, atol=1e-12)
    assert pose.to_dict()["orientation_xyzw"][3] == pytest.approx(pose.orientation[3])
    with pytest.raises(ValueError, match="finite"):
        Pose([0, 0, np.nan], [0, 0, 0, 1])
    with pytest.raises(ValueError, match="quaternion of 4"):
        Pose([0, 0, 0], [0, 0, 1])


def test_workspace_box_validates_its_bounds() -> None:
    with pytest.raises(ValueError, match="lower < upper"):
        WorkspaceBox((0, 0, 0), (1, 1, 0))
    box = WorkspaceBox((0, 0, 0), (1, 1, 1))
    assert box.contains(np.array([0.5, 0.5, 0.5])) and box.check(np.array([0.5, 0.5, 0.5]), "base") is None
    rejection = box.check(np.array([1.5, 0.5, -0.1]), "base")
    assert rejection.reason == RejectReason.OUTSIDE_WORKSPACE
    assert "x=1.500" in rejection.detail and "z=-0.100" in rejection.detail and "y=" not in rejection.detail

"""ROS-free pieces of the grasp nodes: overlay colours, top-k, clicks, camera pose."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dense_descriptor_ros.geometry.camera import Intrinsics, backproject, transform_points
from dense_descriptor_ros.grasping.annotation import (AxisClicks, ClickError, descriptor_at, pixel_from_point,
                                                      point_in_camera)
from dense_descriptor_ros.grasping.candidates import candidate_poses
from dense_descriptor_ros.grasping.heatmap import Heatmap
from dense_descriptor_ros.grasping.overlay import colourize, heatmap_overlay
from dense_descriptor_ros.grasping.transforms import (StaticCameraPose, TransformUnavailableError,
                                                      transform_from_values)
from dense_descriptor_ros.matching import pixel_to_grid, sample_descriptors

CAMERA = Intrinsics(fx=100.0, fy=100.0, cx=31.5, cy=23.5, width=64, height=48)


def test_overlay_blends_the_colour_map() -> None:
    lut = colourize(np.array([[0.0, 1.0, np.nan, 7.0]]))
    np.testing.assert_array_equal(lut[0, 0], lut[0, 2])  # NaN shows as 0
    np.testing.assert_array_equal(lut[0, 1], lut[0, 3])  # clipped to 1
    assert lut[0, 1].astype(int).sum() > lut[0, 0].astype(int).sum() + 300  # inferno: dark -> bright
    rgb = np.full((2, 4, 3), 100, np.uint8)
    values = np.array([[0.0, 1.0, np.nan, 7.0]] * 2)
    out = heatmap_overlay(rgb, values, alpha=0.25)
    np.testing.assert_array_equal(out, np.rint(0.75 * 100 + 0.25 * colourize(values)).astype(np.uint8))
    np.testing.assert_array_equal(heatmap_overlay(rgb, values, alpha=0.0), rgb)
    with pytest.raises(ValueError, match="upsample"):
        heatmap_overlay(rgb, np.zeros((1, 2)))


def test_top_k_peaks_are_apart_and_best_first() -> None:
    grid = torch.zeros(6, 8)
    grid[1, 1], grid[1, 2], grid[4, 6], grid[3, 3] = 0.9, 0.85, 0.7, 0.5
    heatmap = Heatmap(grid, (48, 64))
    pixels, values = heatmap.peaks(k=3, min_distance=12.0)
    np.testing.assert_allclose(values, [0.9, 0.7, 0.5])  # (1, 2) is 8 px from the best: suppressed
    np.testing.assert_allclose(pixels, [[11.5, 11.5], [51.5, 35.5], [27.5, 27.5]])
    np.testing.assert_allclose(pixels[0], heatmap.best()[0])
    pixels, values = heatmap.peaks(k=2, min_distance=0.0)
    np.testing.assert_allclose(values, [0.9, 0.85])


def test_candidate_poses_lift_pixels_onto_the_surface() -> None:
    depth = np.full((48, 64), 0.5)
    depth[:, 40:] = np.nan  # no depth on the right: that candidate is dropped
    T = np.eye(4)
    T[:3, 3] = [1.0, 2.0, 3.0]
    poses = candidate_poses(np.array([[11.5, 11.5], [51.5, 35.5]]), depth, CAMERA, T_target_camera=T,
                            target_frame="world")
    assert len(poses) == 1 and poses[0].frame == "world"
    np.testing.assert_allclose(poses[0].position,
                               backproject(CAMERA, np.array([[11.5, 11.5]]), np.array([0.5]))[0] + [1, 2, 3])
    np.testing.assert_allclose(poses[0].axis(2), [0, 0, 1], atol=1e-9)  # into the fronto-parallel plane


def test_clicks_project_to_pixels_in_either_frame() -> None:
    pixel = np.array([40.0, 10.0])
    point = backproject(CAMERA, pixel[None], np.array([0.8]))[0]
    np.testing.assert_allclose(pixel_from_point(point, CAMERA), pixel)
    T = transform_from_values([0.3, -0.1, 1.2, *Rotation.from_euler("xyz", [170, 5, 30], degrees=True).as_quat()])
    world = transform_points(T, point[None])[0]
    camera = point_in_camera(world, "world", "cam", T, "world")
    np.testing.assert_allclose(pixel_from_point(camera, CAMERA), pixel, atol=1e-9)
    np.testing.assert_allclose(point_in_camera(point, "cam", "cam", None, "world"), point)
    with pytest.raises(ClickError, match="frame 'map'"):
        point_in_camera(point, "map", "cam", T, "world")
    with pytest.raises(ClickError, match="behind the camera"):
        pixel_from_point(-point, CAMERA)
    with pytest.raises(ClickError, match="outside the image"):
        pixel_from_point(backproject(CAMERA, np.array([[80.0, 10.0]]), np.array([1.0]))[0], CAMERA)


def test_descriptor_at_samples_the_grid_like_describe_pixels() -> None:
    grid = torch.nn.functional.normalize(torch.randn(1, 16, 6, 8), dim=1)
    np.testing.assert_allclose(descriptor_at(grid, np.array([11.5, 19.5]), (48, 64)), grid[0, :, 2, 1].numpy(),
                               atol=1e-6)
    between = np.array([15.5, 19.5])
    cells = pixel_to_grid(torch.tensor([[15.5, 19.5]]), (48, 64), (6, 8))
    np.testing.assert_allclose(descriptor_at(grid, between, (48, 64)),
                               sample_descriptors(grid, cells[None])[0, 0].numpy(), atol=1e-6)


def test_axis_clicks_pair_in_order_with_the_first_frame() -> None:
    clicks = AxisClicks()
    assert clicks.next_role == "axis_a"
    assert clicks.add(np.array([1.0, 2.0]), "frame 1") is None
    assert clicks.next_role == "axis_b"
    pixels, frame = clicks.add(np.array([3.0, 4.0]), "frame 2")
    np.testing.assert_array_equal(pixels, [[1, 2], [3, 4]])
    assert frame == "frame 1" and clicks.next_role == "axis_a"


def test_camera_pose_values_and_static_source() -> None:
    matrix = transform_from_values([1, 2, 3, 0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)])
    np.testing.assert_allclose(matrix[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(transform_from_values(matrix.reshape(-1)), matrix)
    with pytest.raises(ValueError, match="16 values"):
        transform_from_values([1, 2, 3])
    with pytest.raises(ValueError, match="rigid"):
        transform_from_values((2 * np.eye(4)).reshape(-1))
    source = StaticCameraPose(matrix, "world", "cam")
    np.testing.assert_allclose(source.lookup("world", "cam"), matrix)
    with pytest.raises(TransformUnavailableError, match="'base_link'"):
        source.lookup("base_link", "cam")
    np.testing.assert_allclose(StaticCameraPose(matrix, "world").lookup("world", "any_camera"), matrix)

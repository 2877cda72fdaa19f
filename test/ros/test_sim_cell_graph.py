"""The simulated cell end to end on real DDS, as sim_cell.launch.py wires it:
sim_camera -> descriptor_node -> heatmap_node -> grasp_executor, in one process.

An operator click on the overlay annotates an object; the next frames give a suction grasp
on that spot and the executor reports a pick result.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dense_descriptor_ros.cameras.sim import SimCamera, SimCameraConfig
from dense_descriptor_ros.geometry.camera import backproject, transform_points
from dense_descriptor_ros.grasping import KeypointDatabase
from grasp_scene import make_checkpoint

pytestmark = pytest.mark.ros

SCENE = dict(width=96, height=72, seed=3, n_objects=4)
COLOR = "camera/camera/color/image_raw"
COLOR_INFO = "camera/camera/color/camera_info"
DEPTH = "camera/camera/aligned_depth_to_color/image_raw"
WORKSPACE = dict(workspace_min=[-0.4, -0.3, -0.05], workspace_max=[0.4, 0.3, 0.5])


def remap(*pairs: tuple[str, str]) -> list[str]:
    return ["--ros-args", *[arg for a, b in pairs for arg in ("-r", f"{a}:={b}")]]


def overhead_view():
    """Pose, depth and an object pixel of the scene sim_camera renders with SCENE."""
    camera = SimCamera(SimCameraConfig(**SCENE))
    try:
        frame = camera.cell.render()
    finally:
        camera.close()
    ids, counts = np.unique(frame.segmentation[frame.segmentation > 0], return_counts=True)
    ys, xs = np.nonzero(frame.segmentation == ids[np.argmax(counts)])
    inside = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)  # a mask pixel near its centre
    return frame, (int(xs[inside]), int(ys[inside]))


def test_click_then_grasp_then_pick_result(ros, tmp_path: Path) -> None:
    from geometry_msgs.msg import Point, PoseStamped
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from dense_descriptor_ros.ros.nodes.descriptor_node import DescriptorNode
    from dense_descriptor_ros.ros.nodes.grasp_executor import GraspExecutorNode
    from dense_descriptor_ros.ros.nodes.heatmap_node import HeatmapNode
    from dense_descriptor_ros.ros.nodes.sim_camera import SimCameraNode

    def params(**values):
        return [Parameter(k, value=v) for k, v in values.items()]

    checkpoint = make_checkpoint(tmp_path)
    database = tmp_path / "keypoints.db"
    frame, pixel = overhead_view()
    camera_pose = [float(v) for v in frame.T_world_camera.ravel()]

    ros.add(SimCameraNode(context=ros.context, parameter_overrides=params(rate=10.0, **SCENE)))
    ros.add(DescriptorNode(context=ros.context, cli_args=remap(("image", COLOR), ("camera_info", COLOR_INFO)),
                           parameter_overrides=params(model_path=str(checkpoint), device="cpu", half=False,
                                                      max_age_s=5.0)))
    heatmap = ros.add(HeatmapNode(context=ros.context,
                                  cli_args=remap(("image", COLOR), ("depth", DEPTH), ("camera_info", COLOR_INFO)),
                                  parameter_overrides=params(database=str(database), model_path=str(checkpoint),
                                                             object="target", target_frame="world",
                                                             camera_pose=camera_pose, **WORKSPACE,
                                                             # at 96x72 the 8 px colour disc spans most of a
                                                             # product: the cells' colours read less alike
                                                             appearance_min_similarity=0.7)))
    ros.add(GraspExecutorNode(context=ros.context, parameter_overrides=params(
        backend="fake", vacuum_service="", auto_execute=True, gripper="suction", **WORKSPACE)))

    probe = ros.node("operator")
    overlays, grasps, results = [], [], []
    probe.create_subscription(Image, "heatmap/overlay", overlays.append, 10)
    probe.create_subscription(PoseStamped, "grasp", grasps.append, 10)
    probe.create_subscription(String, "execution/result", results.append, 10)
    click = probe.create_publisher(Point, "heatmap/overlay_mouse_left", 10)

    # Empty database: the overlay still arrives (something to click on), but no grasp.
    assert ros.spin_until(lambda: overlays, 60.0), "no overlay: the camera -> descriptor -> heatmap chain is broken"
    assert not grasps and not results
    ros.wait_matched(click, heatmap.clicks.pixel_sub)
    click.publish(Point(x=float(pixel[0]), y=float(pixel[1]), z=0.0))

    def stored() -> int:
        with KeypointDatabase(database) as db:
            return len(db.records())

    assert ros.spin_until(lambda: stored() == 1, 10.0), "the click was not stored"
    assert ros.spin_until(lambda: results, 60.0), "no pick result after annotation"
    result = json.loads(results[0].data)
    assert result["code"] == "succeeded", result
    assert set(result["timings"]) == {"approach", "vacuum_on", "grasp", "retreat", "total"}, result

    # The grasp lands where the operator clicked: the same static scene, the click's own descriptor.
    clicked = transform_points(frame.T_world_camera,
                               backproject(frame.intrinsics, np.array([pixel], float), frame.depth[pixel[1], pixel[0]][None]))[0]
    position = np.array([grasps[-1].pose.position.x, grasps[-1].pose.position.y, grasps[-1].pose.position.z])
    assert grasps[-1].header.frame_id == "world"
    assert np.linalg.norm(position - clicked) < 0.03, (position, clicked)
    assert result["grasp"]["position"] == pytest.approx(position.tolist(), abs=1e-6)

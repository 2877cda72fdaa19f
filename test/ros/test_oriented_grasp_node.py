"""oriented_grasp_node on real DDS: two clicks store the axis pair; a frame gives the core's grasp."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dense_descriptor_ros.grasping import KeypointDatabase, oriented_grasp
from dense_descriptor_ros.model.descriptor_model import DescriptorModel
from dense_descriptor_ros.grasping.appearance import appearance_weights, colour_signature
from dense_descriptor_ros.model import load_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash
from grasp_scene import CAMERA, CAMERA_POSE, DEPTH, RGB, T_WORLD_CAMERA, CameraProbe, make_checkpoint

pytestmark = pytest.mark.ros

AXIS_A, AXIS_B = (27.5, 19.5), (35.5, 19.5)  # grid cell centres 8 px apart: ~6.7 cm at 0.5 m
# A box on the plane under the axis keypoints, its top 0.4 m away: 10 px (6.7 cm) across, 16 px long.
BOX_DEPTH = DEPTH.copy()
BOX_DEPTH[12:28, 27:37] = 0.40


def test_two_clicks_store_the_axis_and_a_frame_gives_the_parallel_grasp(ros, tmp_path: Path) -> None:
    from geometry_msgs.msg import Point, PoseStamped
    from rclpy.parameter import Parameter
    from std_msgs.msg import Float32, Float64
    from std_srvs.srv import Trigger
    from visualization_msgs.msg import MarkerArray

    from dense_descriptor_ros.ros.nodes.oriented_grasp_node import OrientedGraspNode

    checkpoint = make_checkpoint(tmp_path)
    database = tmp_path / "axis.db"
    values = {"database": str(database), "model_path": str(checkpoint), "object": "mug",
              "target_frame": "world", "camera_pose": CAMERA_POSE}
    node = ros.add(OrientedGraspNode(context=ros.context,
                                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()]))
    probe = CameraProbe(ros, checkpoint)
    grasps, widths = [], []
    grasp_sub = probe.node.create_subscription(PoseStamped, "oriented_grasp", grasps.append, 10)
    probe.node.create_subscription(Float64, "oriented_grasp/width", widths.append, 10)
    markers = []
    probe.node.create_subscription(MarkerArray, "oriented_grasp/markers", markers.append, 10)
    mouse = probe.node.create_publisher(Point, "oriented_grasp/overlay_mouse_left", 10)
    reset = probe.node.create_client(Trigger, "/oriented_grasp_node/reset_axis")
    ros.wait_matched(mouse, node.clicks.pixel_sub)
    ros.wait_matched(node.grasp_pub, grasp_sub)
    first = probe.frame(depth=BOX_DEPTH)  # the clicks go on the box, whose face width is stored with them
    assert ros.spin_until(lambda: node.inputs.frames.latest is not None, 5.0, every=lambda: probe.publish(first))

    # A stray click, then reset: the next two clicks are axis_a and axis_b.
    mouse.publish(Point(x=5.0, y=5.0))
    assert ros.spin_until(lambda: len(node.pending.pixels) == 1, 5.0)
    assert probe.call(reset).success and node.pending.pixels == []
    for pixel in (AXIS_A, AXIS_B):
        mouse.publish(Point(x=pixel[0], y=pixel[1]))
    assert ros.spin_until(lambda: node.planner is not None, 5.0), "the axis pair was not stored"

    model, _ = load_checkpoint(checkpoint)
    expected = DescriptorModel.of(model).describe_pixels(RGB, np.array([AXIS_A, AXIS_B]))
    with KeypointDatabase(database) as db:
        records = db.records()
        np.testing.assert_allclose(db.axis_descriptors(file_hash(checkpoint), "mug").numpy(), expected, atol=1e-5)
        assert db.axis_face_width("mug") == pytest.approx(0.060 / 0.98, abs=0.001)  # the box top, as below
    assert sorted((r.role, r.xy) for r in records) == [("axis_a", AXIS_A), ("axis_b", AXIS_B)]

    second = probe.frame(depth=BOX_DEPTH)
    stamp = second["image"].header.stamp
    assert ros.spin_until(lambda: any(g.header.stamp == stamp for g in grasps), 5.0,
                          every=lambda: probe.publish(second)), "no oriented grasp published"
    ros.spin_until(lambda: False, 0.2)
    grasp = next(g for g in grasps if g.header.stamp == stamp)
    grid = torch.from_numpy(probe.grid).permute(2, 0, 1)[None]
    signature = colour_signature(RGB, np.mean([AXIS_A, AXIS_B], axis=0))  # the node's colour check
    weights = appearance_weights(RGB, {"mug": signature}, tuple(grid.shape[-2:]),
                                 depth=BOX_DEPTH.astype(float))["mug"]
    core = oriented_grasp(grid, torch.from_numpy(expected), BOX_DEPTH.astype(float), CAMERA,
                          T_target_camera=T_WORLD_CAMERA, target_frame="world", appearance=weights,
                          annotated_width=node.planner.face_widths["mug"])
    assert core.ok and core.axis_from == "narrow side", core.rejection
    p, o = grasp.pose.position, grasp.pose.orientation
    assert grasp.header.frame_id == "world"
    np.testing.assert_allclose([p.x, p.y, p.z], core.pose_target.position, atol=1e-6)
    np.testing.assert_allclose(abs(np.dot([o.x, o.y, o.z, o.w], core.pose_target.orientation)), 1.0, atol=1e-6)
    assert widths[-1].data == pytest.approx(core.width, abs=1e-6)
    # the box's own width (no margin on a face): 10 px (67 mm) at 0.4 m, fx 60, aligned with the pixel
    # grid, so its edge pixels' centres lie 9 px (60 mm) apart, which the calliper takes for 98% of it
    assert core.width == pytest.approx(0.060 / 0.98, abs=0.001)
    assert ros.spin_until(lambda: bool(markers), 2.0), "no grasp markers published"
    fingers = [m.pose.position for m in markers[-1].markers if m.ns == "fingers"]
    assert len(fingers) == 2
    spread = np.linalg.norm([fingers[0].x - fingers[1].x, fingers[0].y - fingers[1].y, fingers[0].z - fingers[1].z])
    assert spread == pytest.approx(core.width, abs=1e-6)
    labels = [m.text for m in markers[-1].markers if m.ns == "label"]  # what RViz shows beside the arrow
    assert labels == [f"mug {core.confidences.min():.2f}"]  # the weaker keypoint gates the grasp

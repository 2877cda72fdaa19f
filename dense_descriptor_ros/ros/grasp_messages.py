"""Grasp poses <-> geometry_msgs, and the RViz markers of grasps, keypoints and candidates.

Builders take the message classes' modules at import (this module is ROS-side) but only
:class:`~dense_descriptor_ros.grasping.pose.Pose` and numpy on the other side.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point, Pose as PoseMsg, PoseArray, PoseStamped
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from dense_descriptor_ros.grasping.pose import Pose


def pose_to_msg(pose: Pose) -> PoseMsg:
    msg = PoseMsg()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in pose.position)
    o = msg.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in pose.orientation)
    return msg


def pose_stamped(pose: Pose, header: Header) -> PoseStamped:
    """``pose`` as a PoseStamped with ``header``'s stamp and the pose's own frame."""
    msg = PoseStamped()
    msg.header.stamp = header.stamp
    msg.header.frame_id = pose.frame
    msg.pose = pose_to_msg(pose)
    return msg


def pose_from_msg(msg: PoseStamped) -> Pose:
    """PoseStamped -> Pose (raises ValueError on a non-finite or zero-quaternion pose)."""
    p, o = msg.pose.position, msg.pose.orientation
    return Pose(np.array([p.x, p.y, p.z]), np.array([o.x, o.y, o.z, o.w]), msg.header.frame_id)


def pose_array(poses: Sequence[Pose], header: Header, frame: str) -> PoseArray:
    msg = PoseArray()
    msg.header.stamp, msg.header.frame_id = header.stamp, frame
    msg.poses = [pose_to_msg(pose) for pose in poses]
    return msg


def _marker(header: Header, frame: str, namespace: str, index: int, kind: int,
            rgba: tuple[float, float, float, float], scale: tuple[float, float, float]) -> Marker:
    marker = Marker()
    marker.header.stamp, marker.header.frame_id = header.stamp, frame
    marker.ns, marker.id, marker.type, marker.action = namespace, index, kind, Marker.ADD
    marker.scale.x, marker.scale.y, marker.scale.z = scale
    marker.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
    marker.pose.orientation.w = 1.0
    return marker


def text_marker(header: Header, frame: str, namespace: str, position: np.ndarray, text: str,
                rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0), height: float = 0.03) -> Marker:
    """``text`` facing the viewer at ``position`` (RViz shows a marker's text only this way)."""
    marker = _marker(header, frame, namespace, 0, Marker.TEXT_VIEW_FACING, rgba, (0.0, 0.0, height))
    marker.pose.position = Point(x=float(position[0]), y=float(position[1]), z=float(position[2]))
    marker.text = text
    return marker


def _cleared(header: Header, frame: str) -> list[Marker]:
    clear = Marker()
    clear.header.stamp, clear.header.frame_id, clear.action = header.stamp, frame, Marker.DELETEALL
    return [clear]


def grasp_markers(header: Header, frame: str, grasp: Pose | None, candidates: Sequence[np.ndarray] = (),
                  keypoints: Sequence[np.ndarray] = (), fingers: Sequence[np.ndarray] = (),
                  label: str = "", approach_length: float = 0.08) -> MarkerArray:
    """An arrow along the grasp's approach axis (tool z) with ``label`` (object, confidence) at
    its tail, spheres at candidate points, keypoints and where the fingers close; every array
    starts with DELETEALL so stale markers vanish."""
    markers = _cleared(header, frame)
    if grasp is not None:
        arrow = _marker(header, frame, "grasp", 0, Marker.ARROW, (0.1, 0.9, 0.2, 1.0), (0.008, 0.016, 0.02))
        tail = grasp.position - approach_length * grasp.axis(2)
        arrow.points = [Point(x=float(a), y=float(b), z=float(c)) for a, b, c in (tail, grasp.position)]
        markers.append(arrow)
        if label:
            markers.append(text_marker(header, frame, "label", tail, label))
    for group, points, rgba in (("candidates", candidates, (1.0, 0.6, 0.0, 0.8)),
                                ("keypoints", keypoints, (0.2, 0.4, 1.0, 1.0)),
                                ("fingers", fingers, (0.0, 1.0, 1.0, 1.0))):
        for index, point in enumerate(points):
            sphere = _marker(header, frame, group, index, Marker.SPHERE, rgba, (0.012, 0.012, 0.012))
            sphere.pose.position = Point(x=float(point[0]), y=float(point[1]), z=float(point[2]))
            markers.append(sphere)
    return MarkerArray(markers=markers)


def result_markers(header: Header, frame: str, grasp: Pose | None, text: str, ok: bool,
                   height_above: float = 0.15) -> MarkerArray:
    """A pick's result code as text above where its grasp was, along the approach axis (green:
    picked, red: anything else); without a readable grasp only earlier markers are cleared."""
    markers = _cleared(header, frame)
    if grasp is not None:
        rgba = (0.2, 1.0, 0.3, 1.0) if ok else (1.0, 0.3, 0.2, 1.0)
        above = grasp.position - height_above * grasp.axis(2)
        markers.append(text_marker(header, frame, "result", above, text, rgba, 0.04))
    return MarkerArray(markers=markers)

"""6D oriented parallel grasp from two annotated axis keypoints (paper IV-E).

The operator marks two points per object (``axis_a``, ``axis_b``) across which the fingers
should close. In a new image both are found (best match of their descriptors), lifted to 3D
with depth; the gripper closes along the 3D segment between them, centred on its midpoint,
approaching along the surface normal there. The two are searched as a pair: a good match of
one keypoint and the other's best match within the gripper's opening from it, so a pair never
spans two objects farther apart than the fingers open; the next pairs (:class:`PeakSearch`)
are tried when one gives no grasp.

Descriptors place each keypoint to about one stride-8 cell, as coarse as the few centimetres
across a box, so with ``fit_face`` the keypoints only say which face and roughly where: the
face is outlined in depth (:mod:`.face`) and the fingers close across it, along the face side
nearest the keypoints' direction when that direction is resolved (the keypoints lie at least
``resolved_cells`` cells apart), else across its narrow side; the width is the face's own
width there (edge to edge, no margin), the grasp centred on it. Where depth shows no room for
the gripper there (:mod:`.clearance`), the grasp moves along the face to the nearest place with
room; with none, it closes across the face's other side if the jaws span that (a box standing
on end). Where the face the keypoints were clicked on was measured at annotation
(:func:`annotated_face_width`), a face of another width is refused: a look-alike product of
another size (a cube box whose top looks like a toothpaste box's end). Without a flat face the
keypoints alone decide, the width their distance plus a margin.

Tool frame: z = approach (into the surface), y = closing axis (a -> b), x = y cross z.
The pose sits on the surface at the midpoint; the executor adds its own grasp depth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from dense_descriptor_ros.geometry.camera import Intrinsics, project
from dense_descriptor_ros.grasping.clearance import GripperClearance, blocked_parts, worst_blocked
from dense_descriptor_ros.grasping.face import FaceSegmentation, PlanarFace, planar_face
from dense_descriptor_ros.grasping.gripper import PARALLEL_JAW, ParallelJaw
from dense_descriptor_ros.grasping.heatmap import DEFAULT_ETA, Heatmap, PeakSearch, keypoint_heatmaps
from dense_descriptor_ros.grasping.pose import Pose, approach_rotation
from dense_descriptor_ros.grasping.workspace import (Refusable, RejectReason, Rejection, WorkspaceBox,
                                                     check_confidence, first_granted, place_in_target)


@dataclass(frozen=True)
class ParallelGripperConfig(FaceSegmentation, PeakSearch, GripperClearance):
    """Gripper limits and thresholds (metres, pixels); confidences are per-keypoint ``h_j``;
    the gripper's body and its path in (:class:`GripperClearance`) are checked against depth
    before a grasp is handed out. ``margin`` widens a grasp whose width is the keypoints'
    distance (they lie inside the product's edges); a face is measured edge to edge, and the
    executor's opening margin gives the fingers room around it. Where the gripper has no room
    across a face, the grasp moves along the face in ``shift_step`` steps, up to ``max_shift``
    either way (the fingers staying on its sides), and the nearest place with room is taken;
    with none, the same across the face's other side when it is no wider than ``max_opening``.
    A face more than ``width_tolerance`` wider or narrower than the annotated one is refused."""

    max_opening: float = PARALLEL_JAW.max_opening
    margin: float = 0.01
    # the worst hundredth of correct parallel grasps on held-out simulated heaps (as the suction gate)
    min_confidence: float = 0.16
    eta: float = DEFAULT_ETA
    min_separation: float = 0.005
    fit_face: bool = True
    resolved_cells: float = 2.0
    max_shift: float = 0.06
    shift_step: float = 0.01
    width_tolerance: float = 0.015

    @classmethod
    def for_jaw(cls, jaw: ParallelJaw, **settings: float) -> "ParallelGripperConfig":
        """The limits of ``jaw``'s body, opening and grasp depth, with ``settings`` over them."""
        body = {name: getattr(jaw, name) for name in (
            "max_opening", "finger_depth", "finger_thickness", "finger_width", "finger_length", "palm_length",
            "palm_width", "palm_height")}
        return cls(**(body | {"open_extra": jaw.open_margin} | settings))


@dataclass(frozen=True, eq=False)
class ParallelGrasp(Refusable):
    """A parallel-jaw grasp, or the reason there is none.

    ``pixels (2, 2)`` and ``confidences (2,)`` of the two keypoints always; ``points_camera
    (2, 3)`` and ``width`` once measured; ``pose_camera`` / ``pose_target`` only when ``ok``;
    ``axis_from`` says what set the closing axis: ``keypoints``, ``face side`` (the face side
    nearest the keypoints' direction), ``narrow side`` (the face's, keypoints unresolved) or
    ``other side`` (the face's other side: no room for the gripper across the first);
    ``shift`` how far (m, along tool x) the grasp moved along the face to find room.
    """

    pixels: np.ndarray
    confidences: np.ndarray
    rejection: Rejection | None = None
    points_camera: np.ndarray | None = None
    width: float | None = None
    pose_camera: Pose | None = None
    pose_target: Pose | None = None
    axis_from: str | None = None
    shift: float | None = None


def oriented_grasp(descriptors: Tensor, axis_keypoints: Tensor, depth: np.ndarray,
                   intrinsics: Intrinsics, *, T_target_camera: np.ndarray | None = None,
                   target_frame: str = "target", workspace: WorkspaceBox | None = None,
                   config: ParallelGripperConfig = ParallelGripperConfig(),
                   appearance: Tensor | None = None, annotated_width: float | None = None) -> ParallelGrasp:
    """Parallel grasp across the object's two axis keypoints: the first keypoint pair (best
    heatmap peak first) that gives one, else the refusal of the best pair.

    ``descriptors (1, D, h, w)`` of the new image, ``axis_keypoints (2, D)`` (rows a, b),
    ``depth (H, W)`` metres aligned with the image (NaN = invalid), ``T_target_camera (4, 4)``
    maps camera points to the target frame, where ``workspace`` is checked; ``appearance
    (h, w)`` weights rank the keypoint matches (``grasping.appearance.appearance_weights``;
    no match where a weight is 0), the confidences stay the heatmaps' values;
    ``annotated_width`` (m, ``KeypointDatabase.axis_face_width``) is the width across the axis of
    the face the keypoints were clicked on, where it was measured.
    """
    if axis_keypoints.ndim != 2 or axis_keypoints.shape[0] != 2:
        raise ValueError(f"expected the two axis keypoint descriptors as (2, D), "
                         f"got {tuple(axis_keypoints.shape)}")
    image_size = (intrinsics.height, intrinsics.width)
    if tuple(depth.shape) != image_size:
        raise ValueError(f"depth image of shape {depth.shape} does not match the camera's "
                         f"{intrinsics.width}x{intrinsics.height} intrinsics")
    maps = keypoint_heatmaps(descriptors, axis_keypoints, config.eta)
    # the gripper's opening in pixels where it looks largest: at the nearest surface in view
    nearest = np.nanmin(depth) if np.isfinite(depth).any() else np.nan
    reach = intrinsics.fx * config.max_opening / nearest if nearest > 0 else np.inf
    pairs = _keypoint_pairs(maps, appearance, reach, image_size, config)
    if not pairs:  # weighted, and no cell has the annotation's colours
        best = [Heatmap(grid, image_size).best() for grid in maps]
        return ParallelGrasp(np.stack([pixel for pixel, _ in best]), np.array([value for _, value in best]),
                             Rejection(RejectReason.UNLIKE_ANNOTATION,
                                       "no keypoint match lies where the colours are like the annotation's"))
    return first_granted(_grasp_from_pair(pixels, confidences, descriptors.shape[-1], depth, intrinsics,
                                          T_target_camera, target_frame, workspace, config, annotated_width)
                         for pixels, confidences in pairs)


def annotated_face_width(pixels: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics,
                         config: ParallelGripperConfig = ParallelGripperConfig()) -> float | None:
    """Width (m) of the face under the two clicked axis keypoints ``pixels (2, 2)`` of ``depth
    (H, W)`` metres (NaN = invalid), across the face side nearest their direction: stored with
    them, it tells the annotated product from a look-alike of another size. None without depth
    at a keypoint, without a flat face under them, or where that face is wider than the jaws
    open (not what they close on: a bin floor, a large flat surface)."""
    points = _lift(np.asarray(pixels, dtype=float).reshape(2, 2), depth, intrinsics, config)
    if isinstance(points, str):
        return None
    face = _face_between(points, depth, intrinsics, config)
    width = None if face is None else _across_face(face, points, resolved=True)[1]
    return width if width is not None and width <= config.max_opening else None


def _lift(pixels: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics,
          config: ParallelGripperConfig) -> np.ndarray | str:
    """The keypoints' 3D points ``(2, 3)`` from depth around them, or why not."""
    lifted = []
    for role, pixel in zip(("axis_a", "axis_b"), pixels):
        patch = config.patch(intrinsics, depth, pixel)
        if patch is None:
            return (f"no valid depth within {config.point_radius} px of keypoint {role} at "
                    f"({pixel[0]:.1f}, {pixel[1]:.1f})")
        lifted.append(patch.point)
    return np.stack(lifted)


def _face_between(points: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics,
                  config: ParallelGripperConfig) -> PlanarFace | None:
    """The flat face through the pixel of the keypoints' midpoint (``fit_face``), else None."""
    return planar_face(intrinsics, depth, _centre_pixel(points, intrinsics), config) if config.fit_face else None


def _centre_pixel(points: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """The pixel of the keypoints' 3D midpoint, kept inside the image."""
    pixel = project(intrinsics, points.mean(axis=0)[None])[0][0]
    return np.clip(pixel, 0, [intrinsics.width - 1, intrinsics.height - 1])


def _keypoint_pairs(maps: Tensor, weights: Tensor | None, reach: float, image_size: tuple[int, int],
                    search: PeakSearch) -> list[tuple[np.ndarray, np.ndarray]]:
    """Candidate ``(pixels (2, 2), values (2,))`` pairs of the two keypoints' ``maps (2, h, w)``,
    best first by the weaker keypoint's ranking (``maps * weights``; cells of weight 0 never
    take part); the values are the maps'.

    Each keypoint's ranking peaks (``search``) in turn anchor a pair; the other keypoint is its
    best-ranked match within ``reach`` pixels of the anchor. Pairs scoring under
    ``candidate_ratio`` x the best pair are dropped, repeated pairs kept once, at most
    ``candidates`` returned.
    """
    pixels = Heatmap(maps[0], image_size).cell_pixels()
    allowed = np.ones(len(pixels), bool) if weights is None else weights.reshape(-1).numpy() > 0
    scores = (maps if weights is None else maps * weights.to(maps.dtype)).reshape(2, -1).numpy().astype(float)
    values = maps.reshape(2, -1).numpy().astype(float)
    found: dict[tuple[int, int], float] = {}
    for anchor in (0, 1):
        for pixel, _ in Heatmap(maps[anchor], image_size, weights).candidates(search):
            at = int(np.argmin(np.hypot(*(pixels - pixel).T)))
            near = (np.hypot(*(pixels - pixels[at]).T) <= reach) & allowed
            other = int(np.where(near, scores[1 - anchor], -np.inf).argmax())
            pair = (at, other) if anchor == 0 else (other, at)
            found[pair] = min(scores[0, pair[0]], scores[1, pair[1]])
    if not found:
        return []
    ranked = sorted(found, key=found.get, reverse=True)
    best = found[ranked[0]]
    return [(pixels[list(pair)], values[[0, 1], list(pair)]) for pair in ranked[:max(1, search.candidates)]
            if found[pair] >= search.candidate_ratio * best]


def _grasp_from_pair(pixels: np.ndarray, confidences: np.ndarray, grid_width: int, depth: np.ndarray,
                     intrinsics: Intrinsics, T_target_camera: np.ndarray | None, target_frame: str,
                     workspace: WorkspaceBox | None, config: ParallelGripperConfig,
                     annotated_width: float | None) -> ParallelGrasp:
    """The grasp for one found keypoint pair, or why there is none."""

    def rejected(reason: RejectReason, detail: str, **measured: object) -> ParallelGrasp:
        return ParallelGrasp(pixels, confidences, Rejection(reason, detail), **measured)

    rejection = check_confidence(float(confidences.min()), config.min_confidence, "axis keypoint")
    if rejection:
        return ParallelGrasp(pixels, confidences, rejection)
    points = _lift(pixels, depth, intrinsics, config)
    if isinstance(points, str):
        return rejected(RejectReason.INVALID_DEPTH, points)
    separation = float(np.linalg.norm(points[1] - points[0]))
    if separation + config.margin > config.max_opening:
        return rejected(RejectReason.TOO_WIDE, f"the keypoints are {separation * 1000:.1f} mm apart: with the "
                        f"margin wider than the maximum opening {config.max_opening * 1000:.1f} mm",
                        points_camera=points, width=separation + config.margin)
    centre = points.mean(axis=0)
    face = _face_between(points, depth, intrinsics, config)
    if face is not None:
        cell = intrinsics.width / grid_width
        resolved = np.linalg.norm(pixels[1] - pixels[0]) >= config.resolved_cells * cell
        closing, width, centre, axis_from = _across_face(face, points, resolved)
        normal = face.normal
        if annotated_width is not None and abs(width - annotated_width) > config.width_tolerance:
            return rejected(RejectReason.UNLIKE_SIZE, f"the face is {width * 1000:.1f} mm across, the annotated "
                            f"one {annotated_width * 1000:.1f} mm (tolerance {config.width_tolerance * 1000:.0f} mm)",
                            points_camera=points, width=width, axis_from=axis_from)
    else:
        if separation < config.min_separation:
            return rejected(RejectReason.DEGENERATE, f"the keypoints are {separation * 1000:.1f} mm apart, less "
                            f"than {config.min_separation * 1000:.1f} mm", points_camera=points)
        centre_pixel = _centre_pixel(points, intrinsics)
        patch = config.patch(intrinsics, depth, centre_pixel)
        if patch is None or patch.normal is None:
            return rejected(RejectReason.NO_SURFACE, f"no surface normal at the grasp centre pixel "
                            f"({centre_pixel[0]:.1f}, {centre_pixel[1]:.1f})", points_camera=points)
        closing = (points[1] - points[0]) / separation
        width, normal, axis_from = separation + config.margin, patch.normal, "keypoints"
    if width > config.max_opening:
        return rejected(RejectReason.TOO_WIDE, f"grasp width {width * 1000:.1f} mm exceeds the "
                        f"maximum opening {config.max_opening * 1000:.1f} mm",
                        points_camera=points, width=width, axis_from=axis_from)
    approach = -(normal - np.dot(normal, closing) * closing)
    if np.linalg.norm(approach) < 0.1:
        return rejected(RejectReason.DEGENERATE, "the surface normal is almost parallel to the "
                        "closing axis", points_camera=points, width=width, axis_from=axis_from)
    rotation = approach_rotation(approach, closing)
    pose_camera, shift, refusal = _place_with_room(face, centre, rotation, width, depth, intrinsics, config)
    if pose_camera is None and face is not None:  # across the face's other side, if the jaws span it
        other, other_width, other_centre = _other_side(face, centre, closing)
        if other_width <= config.max_opening:
            pose_camera, shift, _ = _place_with_room(face, other_centre, approach_rotation(-face.normal, other),
                                                     other_width, depth, intrinsics, config)
            if pose_camera is None:
                refusal += "; nor across the face's other side"
            else:
                width, axis_from = other_width, "other side"
    if pose_camera is None:
        return rejected(RejectReason.NO_ROOM, refusal, points_camera=points, width=width, axis_from=axis_from)
    pose_target, rejection = place_in_target(pose_camera, T_target_camera, target_frame, workspace)
    if rejection:
        return ParallelGrasp(pixels, confidences, rejection, points, width, axis_from=axis_from, shift=shift)
    return ParallelGrasp(pixels, confidences, None, points, width, pose_camera, pose_target, axis_from, shift)


def _place_with_room(face: PlanarFace | None, centre: np.ndarray, rotation: np.ndarray, width: float,
                     depth: np.ndarray, intrinsics: Intrinsics,
                     config: ParallelGripperConfig) -> tuple[Pose | None, float | None, str]:
    """The grasp pose at ``centre`` or, without room for the gripper there, moved along the face
    to the nearest place with room (tool x; ``_shifts_along``): ``(pose, shift, "")``, else
    ``(None, None, why)``."""
    shifts = _shifts_along(face, centre, rotation[:, 0], config) if face is not None else [0.0]
    refusal = None
    for shift in shifts:  # nearest first
        pose_camera = Pose.from_axes(centre + shift * rotation[:, 0], rotation, "camera")
        why = worst_blocked(blocked_parts(pose_camera, width, depth, intrinsics, config), config)
        if why is None:
            return pose_camera, shift, ""
        refusal = refusal or why
    elsewhere = f"; nor anywhere up to {max(map(abs, shifts)) * 1000:.0f} mm along the face" if len(shifts) > 1 else ""
    return None, None, refusal + elsewhere


def _other_side(face: PlanarFace, centre: np.ndarray, closing: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Closing across the face's other side: the in-plane axis normal to ``closing``, the face's
    width along it and ``centre`` moved to the middle of that width."""
    other = np.cross(face.normal, closing)
    return other, *_centred_across(face, centre, other)


def _centred_across(face: PlanarFace, point: np.ndarray, direction: np.ndarray) -> tuple[float, np.ndarray]:
    """The face's width along in-plane unit ``direction`` and ``point`` moved to its middle there."""
    low, high = face.span(direction)
    return high - low, point + ((low + high) / 2 - np.dot(point - face.origin, direction)) * direction


def _shifts_along(face: PlanarFace, centre: np.ndarray, along: np.ndarray,
                  config: ParallelGripperConfig) -> list[float]:
    """Offsets (m) of the grasp along in-plane ``along``, nearest first: 0, then whole
    ``shift_step`` steps either way up to ``max_shift`` that keep the fingers on the face."""
    low, high = face.span(along)
    here = float(np.dot(centre - face.origin, along))
    room = config.finger_width / 2
    steps = int(config.max_shift / config.shift_step + 1e-9) if config.shift_step > 0 else 0
    shifts = [sign * k * config.shift_step for k in range(1, steps + 1) for sign in (1.0, -1.0)]
    return [0.0] + [shift for shift in shifts if low + room <= here + shift <= high - room]


def finger_points(pose: Pose, width: float) -> np.ndarray:
    """Where the two fingers close: ``(2, 3)`` points ``width / 2`` either side of the grasp
    pose along its closing axis (tool y), in the pose's frame."""
    half = width / 2 * pose.axis(1)
    return np.stack([pose.position - half, pose.position + half])


def _across_face(face: PlanarFace, points: np.ndarray, resolved: bool) -> tuple[np.ndarray, float, np.ndarray, str]:
    """Closing axis across ``face``, the face's width along it, the grasp centre (the keypoints'
    midpoint moved onto the plane and to the middle of that width) and what set the axis."""
    narrow = face.narrowest()
    keyed = face.in_plane(points[1] - points[0])
    if resolved and keyed.any():
        closing = max((narrow, np.cross(face.normal, narrow)), key=lambda side: abs(np.dot(side, keyed)))
        closing, axis_from = np.copysign(1.0, np.dot(closing, keyed)) * closing, "face side"
    else:
        closing, axis_from = narrow, "narrow side"
    middle = points.mean(axis=0)
    on_plane = middle - np.dot(middle - face.origin, face.normal) * face.normal
    width, centre = _centred_across(face, on_plane, closing)
    return closing, width, centre, axis_from

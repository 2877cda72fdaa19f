"""The simulated operator: annotate a box-shaped product once, on reference images.

The operator wants boxes picked in the middle of a flat face, and a parallel gripper to
close across that face's narrow width. Each side of a box has its own print, and a box in a
heap can come to rest on any of them (the 110 x 70 x 60 mm tea box showed an end up in about
one heap in eight), so the operator annotates all six faces: each is rendered lying up in the
empty bin, and its clicks are stored in the keypoint database as the object ``<type>/<face>``
(grasp preferences: the face centre and four points around it; axis keypoints: two points
across the narrow width). The clicks' object-frame 3D points are kept
in a JSON file next to the database so simulated picks can be judged against them.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from ...data.documents import read_document
from ...geometry.camera import project, transform_points
from ...grasping.keypoint_db import KeypointDatabase
from ...grasping.oriented import ParallelGripperConfig, annotated_face_width
from ...model.descriptor_model import DescriptorModel
from ..world import scene as scene_mod
from ..world.cell import BinCell
from ..world.objects import ObjectInstance, ObjectType, catalogue
from ..world.render import SIM_FACE_TOLERANCE
from .pick import PreferredRegion

REFERENCE_FORMAT = "ddr-sim-reference"
REFERENCE_VERSION = 1
ANNOTATOR = "simulated-operator"
# the product each gripper kind is measured on: a box wide for the cup, one narrow for the jaws
REFERENCE_OBJECT = {"suction": "tea_box", "parallel": "toothpaste_box"}
PREFERENCE_SPREAD = 0.3  # extra clicks at this fraction of the face half extents around its centre
AXIS_INSET = 0.7  # axis keypoints at this fraction of the narrow half width from the centre


@dataclass(frozen=True)
class FaceAnnotation:
    """One annotated face: its database object name and points in object coordinates (m)."""

    name: str
    normal: np.ndarray  # (3,) outward unit normal
    centre: np.ndarray  # (3,)
    preferences: np.ndarray  # (5, 3) clicked grasp preferences
    axis_points: np.ndarray  # (2, 3) axis_a, axis_b across the narrow width

    def to_dict(self) -> dict:
        return {"name": self.name, "normal": self.normal.tolist(), "centre": self.centre.tolist(),
                "preferences": self.preferences.tolist(), "axis_points": self.axis_points.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "FaceAnnotation":
        return cls(data["name"], *(np.asarray(data[k], float) for k in ("normal", "centre", "preferences",
                                                                         "axis_points")))


@dataclass(frozen=True)
class ReferenceAnnotation:
    """What the operator annotated: an object type (its held-out test instance) and its faces."""

    object_type: str
    instance_id: int
    database: Path
    model_hash: str
    faces: tuple[FaceAnnotation, ...]
    radius: float = 0.025  # preferred region: within this of a face centre

    def regions(self, parallel: bool) -> list[PreferredRegion]:
        """The preferred region of every face; with the closing axis for parallel grasps."""
        return [PreferredRegion(self.instance_id, face.centre, self.radius,
                                axis=(face.axis_points[1] - face.axis_points[0]) if parallel else None)
                for face in self.faces]

    def save(self, path: Path) -> Path:
        path = Path(path)
        document = {"format": REFERENCE_FORMAT, "version": REFERENCE_VERSION, "object_type": self.object_type,
                    "instance_id": self.instance_id, "model_hash": self.model_hash, "radius": self.radius,
                    "database": os.path.relpath(Path(self.database).resolve(), path.parent.resolve()),
                    "faces": [face.to_dict() for face in self.faces]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> "ReferenceAnnotation":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"reference annotation not found: {path} "
                                    "(write one with: ddr sim annotate-reference)")
        try:
            document = read_document(path, REFERENCE_FORMAT, REFERENCE_VERSION)
            return cls(document["object_type"], int(document["instance_id"]),
                       path.parent / document["database"], document["model_hash"],
                       tuple(FaceAnnotation.from_dict(f) for f in document["faces"]), float(document["radius"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a simulated reference annotation: {exc}") from exc


def held_out_instance(type_name: str) -> ObjectInstance:
    """The held-out (test set) instance of the object type ``type_name``."""
    found = [inst for inst in catalogue("test") if inst.type.name == type_name]
    if not found:
        names = sorted(inst.type.name for inst in catalogue("test"))
        raise ValueError(f"unknown object type {type_name!r}; known: {names}")
    return found[0]


def box_faces(object_type: ObjectType) -> list[FaceAnnotation]:
    """The six faces of a one-box object type, with the operator's clicks on each: centre and
    spread for suction, two points across the face's narrow width for the parallel gripper."""
    if len(object_type.parts) != 1 or object_type.parts[0].shape != "box":
        raise ValueError(f"the simulated operator annotates box-shaped products; {object_type.name!r} "
                         f"is made of {[p.shape for p in object_type.parts]}")
    half = np.asarray(object_type.parts[0].size, float)
    eye = np.eye(3)
    faces = []
    for normal_axis, sign in itertools.product(np.argsort(half, kind="stable"), (1.0, -1.0)):  # large faces first
        narrow, wide = sorted(set(range(3)) - {normal_axis}, key=lambda k: half[k])
        normal = sign * eye[normal_axis]
        centre = half[normal_axis] * normal
        spread = PREFERENCE_SPREAD * np.stack([half[narrow] * eye[narrow], -half[narrow] * eye[narrow],
                                               half[wide] * eye[wide], -half[wide] * eye[wide]])
        axis = AXIS_INSET * half[narrow] * eye[narrow]
        name = f"{object_type.name}/{'+-'[sign < 0]}{'xyz'[normal_axis]}"
        faces.append(FaceAnnotation(name, normal, centre, np.vstack([centre, centre + spread]),
                                    np.stack([centre - axis, centre + axis])))
    return faces


def _face_up_pose(instance: ObjectInstance, face: FaceAnnotation, yaw: float) -> np.ndarray:
    """``T_world_object`` lying in the bin centre with ``face`` up, turned by ``yaw`` rad."""
    align, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [face.normal])
    pose = np.eye(4)
    pose[:3, :3] = (Rotation.from_euler("z", yaw) * align).as_matrix()
    pose[:3, 3] = [0.0, 0.0, scene_mod.BIN_FLOOR_Z + float(np.linalg.norm(face.centre)) + 0.001]
    return pose


def annotate_reference(model: DescriptorModel, database: Path, out_dir: Path,
                       object_type: str, size: tuple[int, int], seed: int = 0) -> ReferenceAnnotation:
    """Render each face of ``object_type`` lying up, click it, store the clicks (with the face's
    width across the axis keypoints, measured in the rendered depth).

    A database annotated with another model (a demo run before the shipped model changed) is
    re-embedded from its stored images first, so the new clicks can join it and nothing is lost.
    Writes ``out_dir/reference_<face>.png`` and ``out_dir/reference.json``; returns the annotation.
    """
    instance = held_out_instance(object_type)
    faces = box_faces(instance.type)
    height, width = size
    rng = np.random.default_rng(seed)
    spec = scene_mod.SceneSpec((instance,), int(rng.integers(2**31)), max_width=width, max_height=height)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    measure = ParallelGripperConfig(face_tolerance=SIM_FACE_TOLERANCE)
    with BinCell(spec, width, height) as cell, KeypointDatabase(database) as db:
        if db.model_hashes() - {model.hash}:
            db.reembed(model)
        for face in faces:
            cell.set_object_pose(instance.instance_id, _face_up_pose(instance, face, rng.uniform(0, np.pi)))
            frame = cell.render()
            T_camera_object = np.linalg.inv(frame.T_world_camera) @ frame.object_poses[instance.instance_id]
            clicks = np.vstack([face.preferences, face.axis_points])
            pixels, _ = project(frame.intrinsics, transform_points(T_camera_object, clicks))
            descriptors = model.describe_pixels(frame.rgb, pixels)
            n = len(face.preferences)
            image_name = f"reference_{face.name.replace('/', '_')}.png"
            db.clear_preferences(face.name)
            db.add_preferences(face.name, frame.rgb, pixels[:n], descriptors[:n], model.hash, ANNOTATOR,
                               image_path=image_name)
            width = annotated_face_width(pixels[n:], frame.depth_or_nan, frame.intrinsics, measure)
            db.set_axis_keypoints(face.name, frame.rgb, pixels[n:], descriptors[n:], model.hash, ANNOTATOR,
                                  image_path=image_name, face_width=width)
            Image.fromarray(frame.rgb).save(out_dir / image_name)
    annotation = ReferenceAnnotation(object_type, instance.instance_id, Path(database), model.hash, tuple(faces))
    annotation.save(out_dir / "reference.json")
    return annotation

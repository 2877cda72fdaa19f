"""The grasp planner: one camera observation in, the grasp to execute (or why none) out.

The grasp nodes and the simulated trials call the same planner, so what ``ddr sim pick``
measures is the policy the robot runs. A planner holds one gripper kind's annotations (every
annotated object, or face, of the keypoint database) and, per observation:

1. ranks heatmap cells by the colour check (``grasping.appearance``) and scores each object:
   suction by its best fused-heatmap cell, parallel by its worse-found axis keypoint;
2. tries the objects scoring at least ``candidate_ratio`` x the best, best first, until one
   grants a grasp (the heatmap peaks, flat footprint, confidence gate, workspace, and for the
   parallel jaw the face outline and the room search of ``grasping.oriented``);
3. returns a :class:`GraspPlan`: the grasp or the best object's refusal, the object it came
   from, every object's heatmap for overlays, the attempts, and milliseconds per stage.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping.appearance import AppearanceCheck, appearance_weights, stored_signatures
from dense_descriptor_ros.grasping.candidates import candidate_poses
from dense_descriptor_ros.grasping.heatmap import Heatmap, keypoint_heatmaps, object_heatmaps
from dense_descriptor_ros.grasping.keypoint_db import EmptyDatabaseError, KeypointDatabase
from dense_descriptor_ros.grasping.oriented import ParallelGrasp, ParallelGripperConfig, oriented_grasp
from dense_descriptor_ros.grasping.pose import Pose
from dense_descriptor_ros.grasping.suction import SuctionConfig, SuctionGrasp, suction_grasp
from dense_descriptor_ros.grasping.workspace import WorkspaceBox, first_granted

Grasp = SuctionGrasp | ParallelGrasp


@dataclass(frozen=True, eq=False)
class Observation:
    """One camera frame: ``rgb (H, W, 3)`` uint8, aligned ``depth (H, W)`` metres (NaN =
    invalid), the colour camera's intrinsics, ``descriptors (1, D, h, w)`` of the image and,
    where the camera pose is known, ``T_target_camera (4, 4)``."""

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    descriptors: Tensor
    T_target_camera: np.ndarray | None

    @property
    def image_size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]


@dataclass(frozen=True)
class PlannerSettings:
    """Where grasps go and how heatmaps read: ``eta`` the model's distance scale
    (``DescriptorModel.eta``), the colour check, the frame grasps are placed in and the
    workspace box they must lie in (that frame)."""

    eta: float
    appearance: AppearanceCheck = AppearanceCheck()
    target_frame: str = "target"
    workspace: WorkspaceBox | None = None


@dataclass(frozen=True, eq=False)
class GraspPlan:
    """A planner's answer for one observation.

    ``grasp`` is the first granted attempt, else the best object's refusal; ``object`` the
    object (or face) it was made on; ``heatmaps`` every object's map with its colour weights
    (``Heatmap.ranking`` for overlays);
    ``scores`` each object's score; ``attempts`` the grasps tried, in order.
    """

    grasp: Grasp
    object: str
    heatmaps: dict[str, Heatmap]
    scores: dict[str, float]
    attempts: dict[str, Grasp]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.grasp.ok

    @property
    def pose(self) -> Pose | None:
        """The grasp pose in the target frame (the camera frame without a camera pose)."""
        return self.grasp.pose_target

    @property
    def width(self) -> float | None:
        """The jaws' grasp width (m); None for suction."""
        return getattr(self.grasp, "width", None)

    @property
    def confidence(self) -> float:
        """Suction: the heatmap value; parallel: the weaker keypoint's."""
        if isinstance(self.grasp, ParallelGrasp):
            return float(self.grasp.confidences.min())
        return float(self.grasp.confidence)

    @property
    def detail(self) -> str:
        return "grasp" if self.ok else f"rejected: {self.grasp.rejection}"

    @property
    def heatmap(self) -> Heatmap:
        """The chosen object's heatmap (with its colour weights)."""
        return self.heatmaps[self.object]

    def combined_heatmap(self) -> Heatmap:
        """Every object's ranked heatmap in one (cell-wise maximum), for an overview."""
        maps = [heatmap.ranking() for heatmap in self.heatmaps.values()]
        return Heatmap(torch.stack([m.grid for m in maps]).amax(dim=0), maps[0].image_size)


class GraspPlanner:
    """Plans one gripper kind's grasps from ``keypoints`` ``{object: (H_o, D)}`` with the colour
    ``signatures`` of the annotations (``grasping.appearance.stored_signatures``)."""

    kind: ClassVar[str]

    def __init__(self, keypoints: dict[str, Tensor], signatures: dict[str, np.ndarray],
                 settings: PlannerSettings) -> None:
        if not keypoints:
            raise EmptyDatabaseError(f"no annotated object to plan {self.kind} grasps for")
        self.keypoints, self.signatures, self.settings = keypoints, signatures, settings

    @property
    def objects(self) -> list[str]:
        return list(self.keypoints)

    def plan(self, observation: Observation) -> GraspPlan:
        """The grasp for ``observation``: objects in turn, best scoring first."""
        timings: dict[str, float] = {}
        began = time.perf_counter()
        weights = appearance_weights(observation.rgb, self.signatures, tuple(observation.descriptors.shape[-2:]),
                                     self.settings.appearance, observation.depth)
        maps, scores = self._score(observation, weights)
        timings["heatmap"] = 1000 * (time.perf_counter() - began)
        began = time.perf_counter()
        best = max(scores.values())
        ratio = self.config.candidate_ratio
        order = [name for name in sorted(scores, key=scores.get, reverse=True) if scores[name] >= ratio * best]
        attempts: dict[str, Grasp] = {}
        found = first_granted(attempts.setdefault(name, self._grasp(name, observation, maps, weights))
                              for name in order)
        chosen = next(name for name, grasp in attempts.items() if grasp is found)
        timings["grasp"] = 1000 * (time.perf_counter() - began)
        return GraspPlan(found, chosen, maps, scores, attempts, timings)

    def _placement(self, observation: Observation) -> dict:
        return dict(T_target_camera=observation.T_target_camera, target_frame=self.settings.target_frame,
                    workspace=self.settings.workspace)


class SuctionPlanner(GraspPlanner):
    """Suction grasps at the best sealable peak of each object's fused preference heatmap."""

    kind = "suction"

    def __init__(self, keypoints: dict[str, Tensor], signatures: dict[str, np.ndarray],
                 settings: PlannerSettings, config: SuctionConfig = SuctionConfig()) -> None:
        super().__init__(keypoints, signatures, settings)
        self.config = config

    @classmethod
    def from_database(cls, database: KeypointDatabase, model_hash: str, settings: PlannerSettings,
                      config: SuctionConfig = SuctionConfig(), objects: list[str] | None = None) -> "SuctionPlanner":
        """The grasp preferences of ``objects`` (None: every annotated object)."""
        keypoints = database.preference_descriptors(model_hash, objects)
        return cls(keypoints, stored_signatures(database, keypoints, check=settings.appearance), settings, config)

    def _score(self, observation: Observation, weights: dict[str, Tensor]) -> tuple[dict, dict]:
        maps = {name: heatmap.with_weights(weights.get(name)) for name, heatmap in object_heatmaps(
            observation.descriptors, self.keypoints, observation.image_size, self.settings.eta).items()}
        return maps, {name: heatmap.ranking().best()[1] for name, heatmap in maps.items()}

    def _grasp(self, name: str, observation: Observation, maps: dict[str, Heatmap],
               weights: dict[str, Tensor]) -> SuctionGrasp:
        return suction_grasp(maps[name], observation.depth, observation.intrinsics, config=self.config,
                             **self._placement(observation))

    def candidates(self, plan: GraspPlan, observation: Observation, k: int, min_distance: float) -> list[Pose]:
        """Suction poses at the top-``k`` peaks of the chosen object's map, ``min_distance``
        pixels apart: the alternatives shown in RViz, not executed."""
        pixels, _ = plan.heatmap.peaks(k, min_distance)
        return candidate_poses(pixels, observation.depth, observation.intrinsics,
                               T_target_camera=observation.T_target_camera, target_frame=self.settings.target_frame,
                               config=self.config)


class ParallelPlanner(GraspPlanner):
    """Parallel-jaw grasps across each object's two axis keypoints (``grasping.oriented``);
    ``face_widths`` are the annotated faces' widths across the axis, where measured."""

    kind = "parallel"

    def __init__(self, keypoints: dict[str, Tensor], signatures: dict[str, np.ndarray],
                 settings: PlannerSettings, config: ParallelGripperConfig = ParallelGripperConfig(),
                 face_widths: dict[str, float | None] | None = None) -> None:
        super().__init__(keypoints, signatures, settings)
        self.config = replace(config, eta=settings.eta)
        self.face_widths = face_widths or {}

    @classmethod
    def from_database(cls, database: KeypointDatabase, model_hash: str, settings: PlannerSettings,
                      config: ParallelGripperConfig = ParallelGripperConfig(),
                      objects: list[str] | None = None) -> "ParallelPlanner":
        """The axis keypoints of ``objects`` (None: every object that has both), by name."""
        names = sorted(objects) if objects else database.axis_objects()
        if not names:
            raise EmptyDatabaseError(f"no object in {database.path} has axis keypoints; "
                                     "annotate axis_a and axis_b first")
        keypoints = {name: database.axis_descriptors(model_hash, name) for name in names}
        signatures = stored_signatures(database, names, axis=True, check=settings.appearance)
        return cls(keypoints, signatures, settings, config, {name: database.axis_face_width(name) for name in names})

    def _score(self, observation: Observation, weights: dict[str, Tensor]) -> tuple[dict, dict]:
        """A face's map is the mean of its keypoints' (colour-weighted); it scores by its
        worse-found keypoint."""
        per_key = {name: keypoint_heatmaps(observation.descriptors, keys, self.settings.eta) * weights.get(name, 1.0)
                   for name, keys in self.keypoints.items()}
        maps = {name: Heatmap(grids.mean(dim=0), observation.image_size) for name, grids in per_key.items()}
        return maps, {name: float(grids.flatten(1).max(dim=1).values.min()) for name, grids in per_key.items()}

    def _grasp(self, name: str, observation: Observation, maps: dict[str, Heatmap],
               weights: dict[str, Tensor]) -> ParallelGrasp:
        return oriented_grasp(observation.descriptors, self.keypoints[name], observation.depth,
                              observation.intrinsics, config=self.config, appearance=weights.get(name),
                              annotated_width=self.face_widths.get(name), **self._placement(observation))


# A planner for each gripper kind of ``grasping.gripper.GRIPPERS``.
PLANNERS: dict[str, type[GraspPlanner]] = {planner.kind: planner for planner in (SuctionPlanner, ParallelPlanner)}

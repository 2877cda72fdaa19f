"""Closed-loop bin-picking trials: render -> descriptors -> heatmap -> grasp -> simulated pick.

Every trial drops a fresh random heap of held-out (test set) products that always contains the
annotated object, renders the overhead camera, finds the operator's preferred spot with the
model and the keypoint database, computes the suction or oriented parallel grasp from depth,
and executes it with the floating gripper. ``oracle=True`` replaces perception by the ground
truth (the annotated face centre and axis moved by the object's true pose), which measures the
gripper physics on its own; ``compare_oracle=True`` also picks every heap that way (the same
heap dropped again), so perception's misses are told from heaps where even the true annotated
spot cannot be picked (its face covered by neighbours, or the seal broken as the target drags
along a wall it leans on).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..geometry.camera import project, transform_points
from ..grasping.appearance import AppearanceCheck, appearance_weights, stored_signatures
from ..grasping.heatmap import DEFAULT_ETA, Heatmap, keypoint_heatmaps, object_heatmaps
from ..grasping.keypoint_db import KeypointDatabase, embed_image
from ..grasping.oriented import ParallelGrasp, ParallelGripperConfig, finger_points, oriented_grasp
from ..grasping.overlay import heatmap_overlay
from ..grasping.pose import Pose, approach_rotation
from ..grasping.suction import SuctionConfig, SuctionGrasp, suction_grasp
from ..grasping.workspace import first_granted
from ..model.inference import prepare_for_inference
from . import scene as scene_mod
from .cell import BinCell
from .grippers import WORLD_FRAME, ParallelJawSpec, SimulatedGripper, SuctionCupSpec, open_cell
from .objects import ObjectInstance, catalogue
from .pick import BIN_WORKSPACE, PickConfig, PickOutcome, execute_pick
from .reference import ReferenceAnnotation
from .render import SIM_FACE_TOLERANCE, Frame

STAGES = ("render", "descriptors", "heatmap", "grasp", "execution")


@dataclass
class TrialResult:
    """One trial: outcome flags, the grasp, and milliseconds per stage."""

    index: int
    grasped: bool  # a grasp pose was produced (not rejected)
    success: bool  # some object lifted and held
    target_picked: bool  # ... and it was the annotated object
    preference_hit: bool  # the grasp point lies in the preferred region of the annotated object
    detail: str
    face: str | None
    confidence: float | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    outcome: dict | None = None
    oracle_target_picked: bool | None = None  # the true annotated spot picks the target (compare_oracle)
    shift: float | None = None  # m the parallel grasp moved along the face to find room

    def to_dict(self) -> dict:
        return {"index": self.index, "grasped": self.grasped, "success": self.success,
                "target_picked": self.target_picked, "preference_hit": self.preference_hit,
                "detail": self.detail, "face": self.face, "confidence": self.confidence,
                "shift_mm": None if self.shift is None else round(self.shift * 1000, 1),
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}, "outcome": self.outcome,
                "oracle_target_picked": self.oracle_target_picked}


def sample_heap(rng: np.random.Generator, target: ObjectInstance,
                count: tuple[int, int] = (4, 8)) -> list[ObjectInstance]:
    """A random set of test-set instances that always contains ``target``."""
    pool = [inst for inst in catalogue("test") if inst.instance_id != target.instance_id]
    n = int(rng.integers(count[0], count[1] + 1)) - 1
    chosen = [pool[k] for k in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
    return sorted([target, *chosen], key=lambda inst: inst.instance_id)


@dataclass
class _Grasp:
    pose: Pose | None
    width: float | None
    face: str | None
    confidence: float | None
    detail: str
    heatmap: Heatmap | None = None
    shift: float | None = None


class PickTrials:
    """Runs trials for one annotation, gripper kind and model (``model=None`` with ``oracle``);
    ``eta``: the model's heatmap distance scale (``grasping.heatmap.model_eta``); ``appearance``:
    how heatmaps are ranked and gated by colours like the clicks' (``grasping.appearance``);
    ``compare_oracle``: also pick each heap from the ground truth (twice the execution time)."""

    def __init__(self, reference: ReferenceAnnotation, kind: str, model: torch.nn.Module | None,
                 model_hash: str | None, size: tuple[int, int], seed: int = 0, oracle: bool = False,
                 config: PickConfig = PickConfig(), eta: float = DEFAULT_ETA,
                 appearance: AppearanceCheck = AppearanceCheck(), compare_oracle: bool = False) -> None:
        if not oracle and (model is None or not model_hash):
            raise ValueError("perception-driven trials need a model and its hash (or use oracle mode)")
        if oracle and compare_oracle:
            raise ValueError("compare_oracle compares perception with the oracle: not with oracle mode")
        self.reference, self.kind, self.size = reference, kind, size
        self.model = None if model is None else prepare_for_inference(model, next(model.parameters()).device)
        self.seed, self.oracle, self.config, self.compare_oracle = seed, oracle, config, compare_oracle
        self.target = next(i for i in catalogue("test") if i.instance_id == reference.instance_id)
        self.regions = reference.regions(parallel=kind == "parallel")
        self.faces = {face.name: face for face in reference.faces}
        self.eta = eta
        jaw = ParallelJawSpec()
        self.gripper_config = ParallelGripperConfig(
            max_opening=jaw.max_opening, eta=eta, face_tolerance=SIM_FACE_TOLERANCE,
            finger_depth=config.executor.finger_depth, finger_thickness=jaw.finger_thickness,
            finger_width=jaw.finger_width, finger_length=jaw.finger_length, palm_length=jaw.palm_length,
            palm_width=jaw.palm_width, palm_height=jaw.palm_height, approach=config.executor.approach_distance,
            open_extra=config.executor.open_margin)
        self.suction_config = SuctionConfig(cup_radius=SuctionCupSpec().radius)
        self.appearance = appearance
        self.keypoints: dict[str, torch.Tensor] = {}
        self.face_widths: dict[str, float | None] = {}
        self.signatures: dict[str, np.ndarray] = {}
        if not oracle:
            with KeypointDatabase(reference.database, create=False) as db:
                if kind == "suction":
                    self.keypoints = db.preference_descriptors(model_hash, list(self.faces))
                else:
                    self.keypoints = {name: db.axis_descriptors(model_hash, name) for name in self.faces}
                    self.face_widths = {name: db.axis_face_width(name) for name in self.faces}
                self.signatures = stored_signatures(db, self.faces, axis=kind == "parallel", check=appearance)

    def run(self, index: int) -> tuple[TrialResult, np.ndarray]:
        """Trial ``index``: its result and an overlay image ``(H, W, 3)`` uint8."""
        timings: dict[str, float] = {}
        with self._heap(index) as cell:
            began = time.perf_counter()
            frame = cell.render()
            timings["render"] = 1000 * (time.perf_counter() - began)
            grasp = self._oracle_grasp(frame, timings) if self.oracle else self._perceive(frame, timings)
            if grasp.pose is not None:
                began = time.perf_counter()
                outcome = self._execute(cell, grasp)
                timings["execution"] = 1000 * (time.perf_counter() - began)
        oracle_target = self._oracle_picks(index) if self.compare_oracle else None
        overlay = self._overlay(frame, grasp)
        if grasp.pose is None:
            return (TrialResult(index, False, False, False, False, grasp.detail, grasp.face, grasp.confidence,
                                timings, oracle_target_picked=oracle_target), overlay)
        object_pose = frame.object_poses[self.target.instance_id]
        closing = grasp.pose.axis(1) if self.kind == "parallel" else None
        hit = any(region.hit(outcome.grasp_point, object_pose, closing) for region in self.regions)
        return (TrialResult(index, True, outcome.success, self._picked_target(outcome), hit, outcome.detail,
                            grasp.face, grasp.confidence, timings, outcome.to_dict(), oracle_target, grasp.shift),
                overlay)

    @contextmanager
    def _heap(self, index: int) -> Iterator[BinCell]:
        """The cell with trial ``index``'s heap dropped: the same heap every time it is asked for."""
        rng = np.random.default_rng([self.seed, index])
        height, width = self.size
        spec = scene_mod.SceneSpec(tuple(sample_heap(rng, self.target)), int(rng.integers(2**31)),
                                   max_width=width, max_height=height)
        with open_cell(spec, self.kind, width, height) as cell:
            cell.drop(rng)
            yield cell

    def _picked_target(self, outcome: PickOutcome) -> bool:
        return outcome.success and outcome.held == self.target.instance_id

    def _oracle_picks(self, index: int) -> bool:
        """Whether the ground-truth grasp picks the target from trial ``index``'s heap."""
        with self._heap(index) as cell:
            return self._picked_target(self._execute(cell, self._oracle_grasp(cell.render(), {})))

    def _execute(self, cell: BinCell, grasp: _Grasp) -> PickOutcome:
        return execute_pick(SimulatedGripper(cell, self.kind), grasp.pose, grasp.width, self.config)

    def _perceive(self, frame: Frame, timings: dict[str, float]) -> _Grasp:
        image_size = frame.rgb.shape[:2]
        began = time.perf_counter()
        descriptors = embed_image(self.model, frame.rgb)
        timings["descriptors"] = 1000 * (time.perf_counter() - began)
        began = time.perf_counter()
        depth = frame.depth_or_nan
        weights = appearance_weights(frame.rgb, self.signatures, tuple(descriptors.shape[-2:]), self.appearance, depth)
        if self.kind == "suction":
            maps = {name: heatmap.with_weights(weights.get(name))
                    for name, heatmap in object_heatmaps(descriptors, self.keypoints, image_size, self.eta).items()}
            scores = {name: heatmap.ranking().best()[1] for name, heatmap in maps.items()}
        else:  # a face ranks by its worse-found axis keypoint
            per_key = {name: keypoint_heatmaps(descriptors, keys, self.eta) * weights.get(name, 1.0)
                       for name, keys in self.keypoints.items()}
            maps = {name: Heatmap(grids.mean(dim=0), image_size) for name, grids in per_key.items()}
            scores = {name: float(grids.flatten(1).max(dim=1).values.min()) for name, grids in per_key.items()}
        best = max(scores.values())
        timings["heatmap"] = 1000 * (time.perf_counter() - began)
        began = time.perf_counter()
        common = dict(T_target_camera=frame.T_world_camera, target_frame=WORLD_FRAME, workspace=BIN_WORKSPACE)

        def grasp_on(name: str) -> SuctionGrasp | ParallelGrasp:
            if self.kind == "suction":
                return suction_grasp(maps[name], depth, frame.intrinsics, config=self.suction_config, **common)
            return oriented_grasp(descriptors, self.keypoints[name], depth, frame.intrinsics,
                                  config=self.gripper_config, appearance=weights.get(name),
                                  annotated_width=self.face_widths[name], **common)

        ratio = (self.suction_config if self.kind == "suction" else self.gripper_config).candidate_ratio
        faces = [name for name in sorted(scores, key=scores.get, reverse=True) if scores[name] >= ratio * best]
        tried: dict[str, SuctionGrasp | ParallelGrasp] = {}  # faces in turn until one gives a grasp
        found = first_granted(tried.setdefault(name, grasp_on(name)) for name in faces)
        face = next(name for name, grasp in tried.items() if grasp is found)
        width = found.width if self.kind == "parallel" else None
        timings["grasp"] = 1000 * (time.perf_counter() - began)
        detail = "grasp" if found.ok else f"rejected: {found.rejection}"
        confidence = found.confidence if self.kind == "suction" else float(found.confidences.min())
        shift = found.shift if self.kind == "parallel" else None
        return _Grasp(found.pose_target, width, face, confidence, detail, maps[face].ranking(), shift)

    def _oracle_grasp(self, frame: Frame, timings: dict[str, float]) -> _Grasp:
        """Ground-truth grasp on the annotated face that points most upwards."""
        began = time.perf_counter()
        pose = frame.object_poses[self.target.instance_id]
        rotation = pose[:3, :3]
        face = max(self.reference.faces, key=lambda f: (rotation @ f.normal)[2])
        centre = rotation @ face.centre + pose[:3, 3]
        approach = -(rotation @ face.normal)
        closing = rotation @ (face.axis_points[1] - face.axis_points[0])
        width = None
        if self.kind == "parallel":
            width = float(np.linalg.norm(closing)) + self.gripper_config.margin
            grasp_pose = Pose.from_axes(centre, approach_rotation(approach, closing / np.linalg.norm(closing)),
                                        WORLD_FRAME)
        else:
            grasp_pose = Pose.from_axes(centre, approach_rotation(approach), WORLD_FRAME)
        timings["grasp"] = 1000 * (time.perf_counter() - began)
        return _Grasp(grasp_pose, width, face.name, 1.0, "oracle grasp")

    def _overlay(self, frame: Frame, grasp: _Grasp) -> np.ndarray:
        """The heatmap over the image with the grasp marked (cyan; fingers joined by a line)."""
        rgb = frame.rgb if grasp.heatmap is None else heatmap_overlay(frame.rgb, grasp.heatmap.upsampled().numpy())
        image = Image.fromarray(rgb)
        if grasp.pose is None:
            return np.asarray(image)
        T_camera_world = np.linalg.inv(frame.T_world_camera)
        points = grasp.pose.position[None] if grasp.width is None else finger_points(grasp.pose, grasp.width)
        pixels, _ = project(frame.intrinsics, transform_points(T_camera_world, points))
        draw = ImageDraw.Draw(image)
        if len(pixels) == 2:
            draw.line([tuple(pixels[0]), tuple(pixels[1])], fill=(0, 255, 255), width=2)
        for x, y in pixels:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(0, 255, 255), width=2)
        return np.asarray(image)


def summarise(results: list[TrialResult]) -> dict:
    """Rates over all trials and the median milliseconds of each stage; with the oracle compared,
    also how many heaps the ground truth picks and the target success and preference hits on
    those heaps."""
    n = len(results)
    if n == 0:
        raise ValueError("no trials to summarise")
    timings = {stage: float(np.median([r.timings_ms[stage] for r in results if stage in r.timings_ms]))
               for stage in STAGES if any(stage in r.timings_ms for r in results)}
    summary = {"trials": n,
               "grasp_rate": sum(r.grasped for r in results) / n,
               "success_rate": sum(r.success for r in results) / n,
               "target_success_rate": sum(r.target_picked for r in results) / n,
               "preference_hit_rate": sum(r.preference_hit for r in results) / n}
    if all(r.oracle_target_picked is not None for r in results):
        pickable = [r for r in results if r.oracle_target_picked]
        summary |= {"oracle_target_success_rate": len(pickable) / n,
                    "target_success_where_oracle_picks": _rate([r.target_picked for r in pickable]),
                    "preference_hit_where_oracle_picks": _rate([r.preference_hit for r in pickable])}
    return summary | {"timings_ms": {k: round(v, 2) for k, v in timings.items()}}


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None

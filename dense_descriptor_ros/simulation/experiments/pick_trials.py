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

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from ...geometry.camera import project, transform_points
from ...grasping.appearance import AppearanceCheck
from ...grasping.heatmap import Heatmap
from ...grasping.keypoint_db import KeypointDatabase
from ...grasping.oriented import ParallelGripperConfig, finger_points
from ...grasping.overlay import heatmap_overlay
from ...grasping.planner import Observation, ParallelPlanner, PlannerSettings, SuctionPlanner
from ...grasping.pose import Pose, approach_rotation
from ...grasping.suction import SuctionConfig
from ...model.descriptor_model import DescriptorModel, ModelCard
from ..world import scene as scene_mod
from ..world.cell import BinCell
from ..world.grippers import WORLD_FRAME, ParallelJawSpec, SimulatedGripper, SuctionCupSpec, open_cell
from ..world.objects import ObjectInstance, catalogue
from ..world.render import SIM_FACE_TOLERANCE, RenderedFrame
from .pick import BIN_WORKSPACE, PickConfig, PickOutcome, PreferredRegion, execute_pick
from .reference import ReferenceAnnotation

STAGES = ("render", "descriptors", "heatmap", "grasp", "plan", "execution")  # plan: through ROS, frame to decision
# How far a suction grasp may move into its flat face (m), chosen on validation heaps (seeds 4-6)
CELL_SEAL_SEARCH = 0.01
# summary keys written with compare_oracle -> their table columns
ORACLE_COLUMNS = {"oracle_target_success_rate": "oracle target success",
                  "target_success_where_oracle_picks": "target success where the oracle picks",
                  "preference_hit_where_oracle_picks": "preference hit where the oracle picks"}


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


def trial_cell(target: ObjectInstance, kind: str, size: tuple[int, int], seed: int, index: int) -> BinCell:
    """The cell of trial ``index`` (seed ``seed``) with ``kind``'s gripper parked and the heap
    dropped: the same heap every time it is asked for, in this process or the cell node's."""
    rng = np.random.default_rng([seed, index])
    height, width = size
    spec = scene_mod.SceneSpec(tuple(sample_heap(rng, target)), int(rng.integers(2**31)),
                               max_width=width, max_height=height)
    cell = open_cell(spec, kind, width, height)
    cell.drop(rng)
    return cell


def cell_suction_config() -> SuctionConfig:
    """The suction grasp's limits in the simulated cell: the cell's cup must seal flat."""
    return SuctionConfig(cup_radius=SuctionCupSpec().radius, seal_search=CELL_SEAL_SEARCH)


def cell_parallel_config(config: PickConfig = PickConfig()) -> ParallelGripperConfig:
    """The parallel grasp's limits in the simulated cell: the cell's jaw, moved in as the cell's
    executor moves it, faces told apart in exact rendered depth."""
    executor = config.executor
    return ParallelGripperConfig.for_jaw(ParallelJawSpec(), face_tolerance=SIM_FACE_TOLERANCE,
                                         approach=executor.approach_distance, finger_depth=executor.finger_depth,
                                         open_extra=executor.open_margin)


def judge_trial(regions: list[PreferredRegion], target_id: int, object_poses: dict[int, np.ndarray], pose: Pose,
                outcome: PickOutcome) -> tuple[bool, bool]:
    """Did the pick at ``pose`` hold the target, and did it grasp within a preferred region of
    the target as it lay (``object_poses`` at the render; parallel: the closing axis too)?"""
    closing = pose.axis(1) if regions and regions[0].axis is not None else None
    hit = any(region.hit(outcome.grasp_point, object_poses[target_id], closing) for region in regions)
    return outcome.success and outcome.held == target_id, hit


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
    """Runs trials for one annotation, gripper kind and model (``model=None`` with ``oracle``),
    planned by the planner the grasp nodes run (``grasping.planner``) with the cell's gripper;
    ``appearance``: how heatmaps are ranked and gated by colours like the clicks'
    (``grasping.appearance``; None: the gripper's own check; ``self.appearance`` is the one used,
    None in oracle mode); ``compare_oracle``: also pick each heap from the ground truth (twice the
    execution time)."""

    def __init__(self, reference: ReferenceAnnotation, kind: str, model: DescriptorModel | None,
                 size: tuple[int, int], seed: int = 0, oracle: bool = False, config: PickConfig = PickConfig(),
                 appearance: AppearanceCheck | None = None, compare_oracle: bool = False) -> None:
        if not oracle and model is None:
            raise ValueError("perception-driven trials need a model (or use oracle mode)")
        if oracle and compare_oracle:
            raise ValueError("compare_oracle compares perception with the oracle: not with oracle mode")
        self.reference, self.kind, self.size, self.model = reference, kind, size, model
        self.seed, self.oracle, self.config, self.compare_oracle = seed, oracle, config, compare_oracle
        self.target = next(i for i in catalogue("test") if i.instance_id == reference.instance_id)
        self.regions = reference.regions(parallel=kind == "parallel")
        self.faces = {face.name: face for face in reference.faces}
        self.appearance = None if oracle else appearance or AppearanceCheck.for_gripper(kind)
        self.planner = None if oracle else self._planner(self.appearance)

    def _planner(self, appearance: AppearanceCheck) -> SuctionPlanner | ParallelPlanner:
        """The nodes' planner with the cell's gripper, workspace and depth (exact: faces are
        told apart by ``SIM_FACE_TOLERANCE``)."""
        settings = PlannerSettings(self.model.eta, appearance, WORLD_FRAME, BIN_WORKSPACE)
        with KeypointDatabase(self.reference.database, create=False) as db:
            if self.kind == "suction":
                return SuctionPlanner.from_database(db, self.model.hash, settings, cell_suction_config(),
                                                    list(self.faces))
            return ParallelPlanner.from_database(db, self.model.hash, settings, cell_parallel_config(self.config),
                                                 list(self.faces))

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
        target, hit = judge_trial(self.regions, self.target.instance_id, frame.object_poses, grasp.pose, outcome)
        return (TrialResult(index, True, outcome.success, target, hit, outcome.detail, grasp.face, grasp.confidence,
                            timings, outcome.to_dict(), oracle_target, grasp.shift), overlay)

    @contextmanager
    def _heap(self, index: int) -> Iterator[BinCell]:
        with trial_cell(self.target, self.kind, self.size, self.seed, index) as cell:
            yield cell

    def _oracle_picks(self, index: int) -> bool:
        """Whether the ground-truth grasp picks the target from trial ``index``'s heap."""
        with self._heap(index) as cell:
            outcome = self._execute(cell, self._oracle_grasp(cell.render(), {}))
            return outcome.success and outcome.held == self.target.instance_id

    def _execute(self, cell: BinCell, grasp: _Grasp) -> PickOutcome:
        return execute_pick(SimulatedGripper(cell, self.kind), grasp.pose, grasp.width, self.config)

    def _perceive(self, frame: RenderedFrame, timings: dict[str, float]) -> _Grasp:
        began = time.perf_counter()
        descriptors = self.model.describe(frame.rgb)
        timings["descriptors"] = 1000 * (time.perf_counter() - began)
        plan = self.planner.plan(Observation(frame.rgb, frame.depth_or_nan, frame.intrinsics, descriptors,
                                             frame.T_world_camera))
        timings |= plan.timings_ms
        shift = plan.grasp.shift if self.kind == "parallel" else None
        return _Grasp(plan.pose, plan.width, plan.object, plan.confidence, plan.detail, plan.heatmap.ranking(),
                      shift)

    def _oracle_grasp(self, frame: RenderedFrame, timings: dict[str, float]) -> _Grasp:
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
            width = float(np.linalg.norm(closing)) + ParallelGripperConfig.margin
            grasp_pose = Pose.from_axes(centre, approach_rotation(approach, closing / np.linalg.norm(closing)),
                                        WORLD_FRAME)
        else:
            grasp_pose = Pose.from_axes(centre, approach_rotation(approach), WORLD_FRAME)
        timings["grasp"] = 1000 * (time.perf_counter() - began)
        return _Grasp(grasp_pose, width, face.name, 1.0, "oracle grasp")

    def _overlay(self, frame: RenderedFrame, grasp: _Grasp) -> np.ndarray:
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


def run_trials(annotations: Path, gripper: str, model_path: Path | None, out: Path, trials: int,
               size: tuple[int, int], seed: int, overlays: int,
               appearance: AppearanceCheck | None = None, compare_oracle: bool = False) -> dict:
    """Run ``trials`` picks (oracle grasps when ``model_path`` is None) with the colour check
    ``appearance`` (and, with ``compare_oracle``, an oracle pick of every heap); writes
    results.json and the first ``overlays`` overlay PNGs to ``out``; returns the summary."""
    reference = ReferenceAnnotation.load(annotations)
    model = None if model_path is None else DescriptorModel.load(model_path)
    runner = PickTrials(reference, gripper, model, size, seed, model is None, appearance=appearance,
                        compare_oracle=compare_oracle)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for index in tqdm(range(trials), desc=f"{gripper} picks", unit="trial"):
        result, overlay = runner.run(index)
        results.append(result)
        if index < overlays:
            Image.fromarray(np.ascontiguousarray(overlay)).save(out / f"overlay_{index:03d}.png")
    return save_results(out, results, gripper, reference, model_path, size, seed, runner.appearance)


def save_results(out: Path, results: list[TrialResult], gripper: str, reference: ReferenceAnnotation,
                 model_path: Path | None, size: tuple[int, int], seed: int, appearance: AppearanceCheck | None,
                 through_ros: bool = False) -> dict:
    """``out/results.json``: how the trials ran, the summary and every trial; returns it."""
    card = None if model_path is None else ModelCard.read(model_path)
    summary = {"format": "ddr-sim-pick", "version": 1, "gripper": gripper, "object_type": reference.object_type,
               "oracle": card is None, "through_ros": through_ros, "model": None if card is None else str(model_path),
               "model_hash": card and card.hash, "eta": card and card.eta,
               "appearance": None if appearance is None else asdict(appearance), "size": list(size), "seed": seed,
               **summarise(results), "results": [r.to_dict() for r in results]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


def summary_row(summary: dict) -> dict:
    """One table row: rates and the median time of every stage."""
    return {"gripper": summary["gripper"], "object": summary["object_type"],
            "mode": "oracle" if summary["oracle"] else "model through ROS" if summary["through_ros"] else "model",
            "trials": summary["trials"],
            "grasp": summary["grasp_rate"], "success": summary["success_rate"],
            "target success": summary["target_success_rate"],
            "preference hit": summary["preference_hit_rate"],
            **{name: summary[key] for key, name in ORACLE_COLUMNS.items() if key in summary},
            **{f"{stage} ms": value for stage, value in summary["timings_ms"].items()}}


def trial_differences(first: dict, second: dict) -> list[dict]:
    """Where two ``results.json`` of the same heaps disagree: ``{"index", "fields": {name:
    (first, second)}}`` per trial, every judged field (outcome, face, confidence; not timings).

    Runs of other heaps (gripper, object, seed or trial count) cannot be compared: ValueError.
    """
    for key in ("gripper", "object_type", "seed", "size", "trials"):
        if first.get(key) != second.get(key):
            raise ValueError(f"the runs differ in {key} ({first.get(key)} / {second.get(key)}): "
                             f"they did not pick the same heaps")
    differences = []
    for a, b in zip(first["results"], second["results"]):
        fields = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                  if k != "timings_ms" and a.get(k) != b.get(k)}
        if fields:
            differences.append({"index": a["index"], "fields": fields})
    return differences

"""The grasp planner: objects in turn until one grants a grasp, and the public API end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dense_descriptor_ros.geometry.camera import Intrinsics, backproject
from dense_descriptor_ros.grasping.appearance import AppearanceCheck
from dense_descriptor_ros.grasping.heatmap import cell_pixels
from dense_descriptor_ros.grasping.gripper import GRIPPER_KINDS, GRIPPERS
from dense_descriptor_ros.grasping.planner import PLANNERS, Observation, ParallelPlanner, PlannerSettings, SuctionPlanner
from dense_descriptor_ros.grasping.suction import SuctionConfig
from dense_descriptor_ros.grasping.workspace import RejectReason

H, W = 48, 64
CAMERA = Intrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5, width=W, height=H)
DESCRIPTORS_OFF = AppearanceCheck(power=0.0, min_similarity=0.0)  # descriptors alone
# random unit descriptors per stride-8 cell: a keypoint matches its own cell and no other
GRID = F.normalize(torch.randn(1, 16, H // 8, W // 8, generator=torch.Generator().manual_seed(3)), dim=1)
EDGE_CELL, FLAT_CELL = (2, 3), (3, 6)  # (row, column) of the grid


def cell_descriptor(cell: tuple[int, int]) -> torch.Tensor:
    return GRID[0, :, cell[0], cell[1]]


def step_depth() -> np.ndarray:
    """A box top 0.40 m away on the left, the bin floor 0.50 m on the right; the step runs
    through the edge cell's centre."""
    pixel_x = cell_pixels(tuple(GRID.shape[-2:]), (H, W))[EDGE_CELL[0] * GRID.shape[-1] + EDGE_CELL[1], 0]
    depth = np.full((H, W), 0.5)
    depth[:, : int(round(pixel_x))] = 0.4
    return depth


def observation(depth: np.ndarray) -> Observation:
    rgb = np.zeros((H, W, 3), np.uint8)
    return Observation(rgb, depth, CAMERA, GRID, None)


def test_the_best_object_without_a_flat_footprint_falls_back_to_the_next() -> None:
    """The edge object matches perfectly but its cup footprint straddles a step; the flat one
    matches a little worse (within the candidate ratio) and is grasped instead."""
    flat = F.normalize(cell_descriptor(FLAT_CELL) + 0.04 * cell_descriptor(EDGE_CELL), dim=0)
    keypoints = {"edge": cell_descriptor(EDGE_CELL)[None], "flat": flat[None]}
    config = SuctionConfig(cup_radius=0.01, min_confidence=0.1, candidates=1)
    planner = SuctionPlanner(keypoints, {}, PlannerSettings(0.25, DESCRIPTORS_OFF), config)
    plan = planner.plan(observation(step_depth()))
    assert plan.scores["edge"] == pytest.approx(1.0) and 0.8 < plan.scores["flat"] < 1.0
    assert list(plan.attempts) == ["edge", "flat"]
    assert plan.attempts["edge"].reason == RejectReason.NO_SEAL
    assert plan.ok and plan.object == "flat" and plan.detail == "grasp"
    expected = backproject(CAMERA, cell_pixels(tuple(GRID.shape[-2:]), (H, W))[FLAT_CELL[0] * 8 + FLAT_CELL[1]][None],
                           np.array([0.5]))[0]
    np.testing.assert_allclose(plan.pose.position, expected, atol=1e-6)
    assert set(plan.timings_ms) == {"heatmap", "grasp"} and plan.heatmap is plan.heatmaps["flat"]
    assert plan.combined_heatmap().grid.shape == GRID.shape[-2:]


def test_objects_far_below_the_best_are_not_tried() -> None:
    """An object scoring under candidate_ratio x the best is not a candidate: the refusal is the
    best object's, as an operator should read it."""
    far = F.normalize(cell_descriptor(FLAT_CELL) + 2.0 * cell_descriptor(EDGE_CELL), dim=0)
    planner = SuctionPlanner({"edge": cell_descriptor(EDGE_CELL)[None], "far": far[None]}, {},
                             PlannerSettings(0.25, DESCRIPTORS_OFF),
                             SuctionConfig(cup_radius=0.01, min_confidence=0.1, candidates=1))
    plan = planner.plan(observation(step_depth()))
    assert plan.scores["far"] < 0.8 * plan.scores["edge"]
    assert list(plan.attempts) == ["edge"] and not plan.ok and plan.object == "edge"
    assert plan.detail.startswith("rejected: no flat footprint")


def test_the_parallel_planner_scores_a_face_by_its_worse_found_keypoint() -> None:
    pair = torch.stack([cell_descriptor((2, 2)), cell_descriptor((2, 5))])
    half = torch.stack([cell_descriptor((4, 2)), F.normalize(torch.ones(16), dim=0)])
    planner = ParallelPlanner({"pair": pair, "half": half}, {}, PlannerSettings(0.3, DESCRIPTORS_OFF))
    assert planner.config.eta == 0.3  # the settings' eta, as the heatmaps'
    plan = planner.plan(observation(np.full((H, W), 0.5)))
    assert plan.scores["pair"] == pytest.approx(1.0) and plan.scores["half"] < 0.5
    assert list(plan.attempts) == ["pair"] and plan.object == "pair"  # "half" scores under the ratio


def test_every_gripper_kind_has_a_planner() -> None:
    assert GRIPPER_KINDS == tuple(GRIPPERS) == tuple(PLANNERS) == ("suction", "parallel")


def test_the_readme_example_runs_image_to_grasp_to_executor(tmp_path) -> None:
    """The ten lines of the README, on a tiny model: describe, annotate, plan, execute."""
    from dense_descriptor_ros import (DescriptorModel, ExecutionResult, GraspExecutor, KeypointDatabase,
                                      Observation, PlannerSettings, SuctionPlanner)
    from dense_descriptor_ros.execution.backends import FakeCell
    from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), 0.5)
    model = DescriptorModel.load(path)
    assert model.hash and model.eta == 0.25 and model.describe(rgb).shape == (1, 16, H // 8, W // 8)
    with KeypointDatabase(tmp_path / "keypoints.sqlite") as db:
        click = np.array([[27.5, 19.5]])
        db.add_preferences("box", rgb, click, model.describe_pixels(rgb, click), model.hash, "test")
        planner = SuctionPlanner.from_database(db, model.hash, PlannerSettings(model.eta))
    plan = planner.plan(Observation(rgb, depth, CAMERA, model.describe(rgb), None))
    assert plan.ok and plan.object == "box" and plan.confidence > 0.9
    np.testing.assert_allclose(plan.pose.position, backproject(CAMERA, click, np.array([0.5]))[0], atol=1e-6)
    cell = FakeCell()
    executor = GraspExecutor(cell, vacuum=cell)
    assert executor.execute_suction(plan.pose, plan.confidence) and executor.wait(10.0)
    assert executor.get_result() == ExecutionResult.SUCCEEDED
    assert [call[0] for call in cell.calls][:2] == ["move", "vacuum"]

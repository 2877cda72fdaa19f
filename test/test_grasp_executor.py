"""GraspExecutor on the in-memory cell: sequences, refusals before motion, failures, timeouts."""
from __future__ import annotations

import numpy as np
import pytest

from dense_descriptor_ros.execution import (ExecutionResult, ExecutorBusyError, ExecutorConfig, FakeCell,
                                            GraspExecutor, SimulatedCellBackend, offset_along_tool_z)
from dense_descriptor_ros.grasping import Pose, WorkspaceBox

# Tool z pointing down (-z of the base): approach from above.
DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # 180 degrees about x
GRASP = Pose(np.array([0.4, 0.1, 0.05]), DOWN, "base_link")
WORKSPACE = WorkspaceBox((0.2, -0.3, 0.0), (0.7, 0.3, 0.4))


def executor(cell: FakeCell, **config) -> GraspExecutor:
    return GraspExecutor(cell, vacuum=cell, gripper=cell,
                         config=ExecutorConfig(workspace=WORKSPACE, **{"approach_distance": 0.1, **config}))


def test_suction_sequence_approaches_along_tool_z_and_retreats() -> None:
    cell = FakeCell()
    grasp_executor = executor(cell, retreat_distance=0.2)
    assert grasp_executor.execute_suction(GRASP, confidence=0.8)
    assert grasp_executor.wait(5.0)
    assert grasp_executor.get_result() == ExecutionResult.SUCCEEDED
    assert [call[0] for call in cell.calls] == ["move", "vacuum", "move", "move"]
    moves = cell.moves()
    np.testing.assert_allclose(moves[0].position, [0.4, 0.1, 0.15], atol=1e-9)  # 10 cm above
    np.testing.assert_allclose(moves[1].position, GRASP.position, atol=1e-9)
    np.testing.assert_allclose(moves[2].position, [0.4, 0.1, 0.25], atol=1e-9)  # 20 cm retreat
    assert all(np.allclose(m.orientation, GRASP.orientation) for m in moves)
    assert cell.vacuum_on
    report = grasp_executor.get_report()
    assert set(report.timings) == {"approach", "vacuum_on", "grasp", "retreat", "total"}
    assert report.to_dict()["code"] == "succeeded"


def test_press_finger_depth_and_straight_up_retreat_on_a_tilted_grasp() -> None:
    # Tool z tilted 30 degrees from straight down: pressing and finger depth follow the tool z,
    # the retreat goes straight up from the grasp pose instead of back along the tilted axis.
    tilted = Pose(GRASP.position, np.array([np.cos(np.radians(15)), 0.0, np.sin(np.radians(15)), 0.0]), "base_link")
    tool_z = tilted.axis(2)
    assert tool_z[2] == pytest.approx(-np.cos(np.radians(30)))
    for gripper, field in (("suction", "suction_press"), ("parallel", "finger_depth")):
        cell = FakeCell(object_width=0.03)
        grasp_executor = executor(cell, retreat_distance=0.2, retreat_up=True, **{field: 0.02})
        started = (grasp_executor.execute_suction(tilted) if gripper == "suction"
                   else grasp_executor.execute_parallel(tilted, width=0.03))
        assert started and grasp_executor.wait(5.0)
        assert grasp_executor.get_result() == ExecutionResult.SUCCEEDED
        moves = cell.moves()
        np.testing.assert_allclose(moves[1].position, GRASP.position + 0.02 * tool_z, atol=1e-9)
        np.testing.assert_allclose(moves[2].position, GRASP.position + [0.0, 0.0, 0.2], atol=1e-9)
    with pytest.raises(ValueError, match="must be >= 0"):
        ExecutorConfig(suction_press=-0.01)


def test_parallel_sequence_opens_closes_and_checks_the_hold() -> None:
    cell = FakeCell(object_width=0.03)
    grasp_executor = executor(cell)
    assert grasp_executor.execute_parallel(GRASP, width=0.04, confidence=0.9) and grasp_executor.wait(5.0)
    assert grasp_executor.get_result() == ExecutionResult.SUCCEEDED
    assert [c[0] for c in cell.calls] == ["gripper", "move", "move", "gripper", "move"]
    assert cell.calls[0][1] == pytest.approx(0.05)  # width + 1 cm margin
    assert cell.calls[3][1] == 0.0

    empty = FakeCell(object_width=None)  # closes on nothing
    grasp_executor = executor(empty)
    grasp_executor.execute_parallel(GRASP, width=0.04)
    grasp_executor.wait(5.0)
    assert grasp_executor.get_result() == ExecutionResult.GRIPPER_FAILED
    assert "nothing was grasped" in grasp_executor.get_report().detail
    with pytest.raises(ValueError, match="maximum opening"):
        grasp_executor.execute_parallel(GRASP, width=0.2)


def test_refusals_happen_before_anything_moves() -> None:
    cell = FakeCell()
    grasp_executor = executor(cell, min_confidence=0.5)
    assert not grasp_executor.execute_suction(GRASP, confidence=0.3)
    assert grasp_executor.is_task_complete()
    assert grasp_executor.get_result() == ExecutionResult.REJECTED_LOW_CONFIDENCE
    assert not grasp_executor.execute_suction(GRASP, confidence=float("nan"))
    assert grasp_executor.get_result() == ExecutionResult.REJECTED_LOW_CONFIDENCE
    outside = Pose(np.array([0.9, 0.1, 0.05]), DOWN, "base_link")
    assert not grasp_executor.execute_suction(outside, confidence=0.9)
    assert grasp_executor.get_result() == ExecutionResult.REJECTED_OUTSIDE_WORKSPACE
    assert "x=0.900" in grasp_executor.get_report().detail
    assert cell.calls == []


def test_failures_map_to_result_codes() -> None:
    pre_grasp = offset_along_tool_z(GRASP, -0.1).position
    cases = [(FakeCell(unreachable=[tuple(pre_grasp)]), ExecutionResult.PLANNING_FAILED),
             (FakeCell(vacuum_fails=True), ExecutionResult.GRIPPER_FAILED),
             (FakeCell(delay=0.3), ExecutionResult.TIMEOUT)]
    for cell, expected in cases:
        grasp_executor = executor(cell, motion_timeout=0.1)
        grasp_executor.execute_suction(GRASP)
        assert grasp_executor.wait(5.0)
        assert grasp_executor.get_result() == expected, grasp_executor.get_report()


def test_cancel_and_busy() -> None:
    cell = FakeCell(delay=0.2)
    grasp_executor = executor(cell)
    assert grasp_executor.execute_suction(GRASP)
    assert grasp_executor.get_result() == ExecutionResult.UNKNOWN  # still running
    with pytest.raises(ExecutorBusyError):
        grasp_executor.execute_suction(GRASP)
    grasp_executor.cancel_task()
    assert grasp_executor.wait(5.0)
    assert grasp_executor.get_result() == ExecutionResult.CANCELED
    assert len(cell.calls) == 1  # the running step finished, nothing after it


def test_fake_cell_is_a_simulated_cell_backend() -> None:
    assert isinstance(FakeCell(), SimulatedCellBackend)
    assert not isinstance(object(), SimulatedCellBackend)

"""The simulated cell a ROS graph picks from: one trial's heap at a time, judged like ``ddr sim pick``.

The cell node (``sim_cell``) owns one of these. ``drop(index)`` lays trial ``index``'s heap of
``seed``, the very heap the in-process trials drop (:func:`trial_cell`); the executor then
drives :attr:`gripper` command by command from its own process, and :meth:`judge` says what
its pick did, with the same rules as the in-process trials (:func:`judge_pick`,
:func:`judge_trial`).
"""
from __future__ import annotations

from pathlib import Path

from ...execution.executor import ExecutionReport
from ...grasping.pose import Pose
from ..world.cell import BinCell
from ..world.grippers import SimulatedGripper
from ..world.render import RenderedFrame
from .pick import PickConfig, judge_pick, object_heights
from .pick_trials import judge_trial, trial_cell
from .reference import REFERENCE_OBJECT, ReferenceAnnotation, held_out_instance


class TrialCell:
    """Trial heaps of ``seed`` for gripper ``kind`` at image ``size`` (H, W); the target and its
    preferred regions come from ``reference`` (``ddr sim annotate-reference``), else the gripper's
    reference product is the target and no region is judged."""

    def __init__(self, kind: str, size: tuple[int, int], seed: int, reference: Path | None = None,
                 config: PickConfig = PickConfig()) -> None:
        annotation = None if reference is None else ReferenceAnnotation.load(reference)
        self.target = held_out_instance(annotation.object_type if annotation else REFERENCE_OBJECT[kind])
        self.regions = annotation.regions(parallel=kind == "parallel") if annotation else []
        self.kind, self.size, self.seed, self.config = kind, size, seed, config
        self.index = -1
        self.cell: BinCell | None = None
        self.gripper: SimulatedGripper | None = None
        self.dropped: RenderedFrame | None = None  # the heap as it lay before the pick
        self.start_z: dict[int, float] = {}

    def drop(self, index: int) -> None:
        """Lay trial ``index``'s heap (the gripper parked out of view)."""
        self.close()
        self.cell = trial_cell(self.target, self.kind, self.size, self.seed, index)
        self.gripper = SimulatedGripper(self.cell, self.kind)
        self.dropped, self.start_z, self.index = self.cell.render(), object_heights(self.gripper), index

    def render(self) -> RenderedFrame:
        return self.cell.render()

    def judge(self, report: ExecutionReport, pose: Pose) -> dict:
        """The executor's pick at ``pose`` (ended with ``report``), judged: held, lifted, the
        target, a preferred region; then the gripper is parked."""
        outcome = judge_pick(self.gripper, self.start_z, report, pose, self.config)
        target, hit = judge_trial(self.regions, self.target.instance_id, self.dropped.object_poses, pose, outcome)
        return {"index": self.index, "success": outcome.success, "target_picked": target,
                "preference_hit": hit, "outcome": outcome.to_dict()}

    def close(self) -> None:
        if self.cell is not None:
            self.cell.close()
            self.cell = None

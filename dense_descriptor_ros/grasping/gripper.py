"""The cell's grippers, described once: every layer that needs a size reads it here.

The room check (``grasping.clearance``), the executor's opening and grasp depth
(``execution.executor``), the simulated grippers (``simulation.world.grippers``) and the nodes'
parameter defaults all take their numbers from :data:`SUCTION_CUP` and :data:`PARALLEL_JAW`,
so a jaw opening is written in one place (a test holds the YAML files to it). :data:`GRIPPERS`
is the one registry of gripper kinds; ``grasping.planner.PLANNERS`` has a planner for each.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SuctionCup:
    """A bellows suction cup (metres): the footprint that must lie on one flat face."""

    radius: float = 0.012


@dataclass(frozen=True)
class ParallelJaw:
    """A parallel-jaw gripper (metres): two fingers ``finger_thickness`` along the closing axis,
    ``finger_width`` across it and ``finger_length`` long under a palm ``palm_length`` x
    ``palm_width`` x ``palm_height`` (tool x, y, z) that spans the fingers' travel; the executor
    opens ``open_margin`` wider than a grasp and brings the fingertips ``finger_depth`` below the
    grasped surface."""

    max_opening: float = 0.085
    finger_length: float = 0.05
    finger_thickness: float = 0.008
    finger_width: float = 0.02
    palm_length: float = 0.04
    palm_height: float = 0.02
    finger_depth: float = 0.02
    open_margin: float = 0.01

    @property
    def palm_width(self) -> float:
        return self.max_opening + 2 * self.finger_thickness + 0.01


SUCTION_CUP = SuctionCup()
PARALLEL_JAW = ParallelJaw()
# The gripper kinds a cell can carry, by the name the CLI, nodes, simulation and launch files use.
GRIPPERS: dict[str, SuctionCup | ParallelJaw] = {"suction": SUCTION_CUP, "parallel": PARALLEL_JAW}
GRIPPER_KINDS = tuple(GRIPPERS)

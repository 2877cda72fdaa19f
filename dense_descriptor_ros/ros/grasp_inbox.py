"""The grasp a pick would take: the latest grasp with its confidence and width, from their topics.

A grasp node publishes ``grasp`` (PoseStamped), ``grasp/confidence`` (Float32) and, for the
parallel jaw, ``grasp/width`` (Float64, metres: float32 would round the width the planner
measured) in no fixed order; the inbox keeps the latest of each. A grasp stamped before the last
pick ended shows the heap as it was before that pick and is dropped on arrival (an unstamped
one is kept: nothing tells when it was seen).
"""
from __future__ import annotations

from collections.abc import Callable

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.time import Time
from std_msgs.msg import Float32, Float64


class GraspInbox:
    """Subscribes the grasp topics of ``node``; ``on_change()`` runs after every arrival."""

    def __init__(self, node: Node, needs_width: bool, on_change: Callable[[], None]) -> None:
        self.needs_width, self.on_change = needs_width, on_change
        self.grasp: PoseStamped | None = None
        self.confidence: float | None = None
        self.width: float | None = None
        self.not_before = Time(clock_type=node.get_clock().clock_type)
        self.grasp_sub = node.create_subscription(PoseStamped, "grasp", self._on_grasp, 1)
        node.create_subscription(Float32, "grasp/confidence", self._on_confidence, 1)
        node.create_subscription(Float64, "grasp/width", self._on_width, 1)

    @property
    def complete(self) -> bool:
        """A grasp with its confidence (and width) is here."""
        return (self.grasp is not None and self.confidence is not None
                and (not self.needs_width or self.width is not None))

    @property
    def stamp_ns(self) -> int | None:
        return None if self.grasp is None else Time.from_msg(self.grasp.header.stamp).nanoseconds

    def take(self) -> tuple[PoseStamped, float, float | None]:
        """The grasp, its confidence (0 when none came: no confidence is refused, not guessed)
        and width; the grasp and confidence are consumed."""
        taken = (self.grasp, 0.0 if self.confidence is None else self.confidence, self.width)
        self.grasp = self.confidence = None
        return taken

    def clear(self, not_before: Time) -> None:
        """Forget everything; grasps stamped before ``not_before`` (a pick's end) are dropped."""
        self.grasp = self.confidence = self.width = None
        self.not_before = not_before

    def _on_grasp(self, msg: PoseStamped) -> None:
        stamp = Time.from_msg(msg.header.stamp, clock_type=self.not_before.clock_type)
        if 0 < stamp.nanoseconds < self.not_before.nanoseconds:  # unstamped: nothing to tell by
            return
        self.grasp = msg
        self.on_change()

    def _on_confidence(self, msg: Float32) -> None:
        self.confidence = float(msg.data)
        self.on_change()

    def _on_width(self, msg: Float64) -> None:
        self.width = float(msg.data)
        self.on_change()

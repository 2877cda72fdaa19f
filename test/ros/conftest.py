"""rclpy fixtures: a private context per test on a unique domain, discovery kept on localhost."""
from __future__ import annotations

import itertools
import os
import time
from typing import Callable, Iterator

import pytest

_counter = itertools.count()


def unique_domain_id() -> int:
    """A domain in 100..199 that differs per test in this process and, likely, per process."""
    return 100 + (os.getpid() * 7 + next(_counter)) % 100


class RosHarness:
    """One rclpy context, its executor and the nodes a test creates in it."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.domain_id = domain_id
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list = []

    def node(self, name: str):
        import rclpy

        node = rclpy.create_node(name, context=self.context)
        return self.add(node)

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def spin_until(self, done: Callable[[], bool], timeout_s: float,
                   every: Callable[[], None] | None = None) -> bool:
        """Spin until ``done()`` or the deadline; ``every`` runs between spins (e.g. publish)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done():
                return True
            if every is not None:
                every()
            self.executor.spin_once(timeout_sec=0.05)
        return done()

    def wait_matched(self, publisher, subscription, timeout_s: float = 5.0) -> None:
        """Discovery is asynchronous: wait until both ends see each other."""
        matched = self.spin_until(lambda: publisher.get_subscription_count() > 0
                                  and subscription.get_publisher_count() > 0, timeout_s)
        assert matched, f"publisher and subscription did not match on domain {self.domain_id}"

    def shutdown(self) -> None:
        self.executor.shutdown()
        for node in self.nodes:
            node.destroy_node()
        self.context.try_shutdown()


@pytest.fixture
def ros(monkeypatch: pytest.MonkeyPatch) -> Iterator[RosHarness]:
    domain_id = unique_domain_id()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    harness = RosHarness(domain_id)
    try:
        yield harness
    finally:
        harness.shutdown()

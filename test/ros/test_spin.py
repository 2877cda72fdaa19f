"""spin_node's exit codes: a stop is 0 however the shutdown reaches the executor, a failure 1."""
from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.ros

WAIT_SET_ERROR = ("failed to initialize wait set: the given context is not valid, either "
                  "rcl_init() was not called or rcl_shutdown() was called.")


@pytest.fixture
def sigint_restored():
    """spin_node ignores SIGINT for good once spinning ends; pytest's process must get it back."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def failing_node(shut_down_first: bool):
    """A node whose first timer tick raises the executor's wait-set error, after shutting the
    context down (what rclpy's SIGINT handler does) or with the context still running."""
    import rclpy
    from rclpy.node import Node

    def make() -> Node:
        node = Node("spin_probe")

        def tick() -> None:
            if shut_down_first:
                rclpy.shutdown()
            raise RuntimeError(WAIT_SET_ERROR)

        node.create_timer(0.01, tick)
        return node

    return make


def test_a_shutdown_that_races_the_wait_set_is_a_clean_stop(sigint_restored, capfd) -> None:
    """CI saw this: Ctrl-C while the executor built its wait set ended a node with exit 1."""
    from dense_descriptor_ros.ros.spin import spin_node

    assert spin_node(failing_node(shut_down_first=True), "spin_probe", []) == 0
    assert "FATAL" not in capfd.readouterr().err


def test_the_same_error_with_the_context_running_is_a_failure(sigint_restored, capfd) -> None:
    from dense_descriptor_ros.ros.spin import spin_node

    assert spin_node(failing_node(shut_down_first=False), "spin_probe", []) == 1
    assert "context is not valid" in capfd.readouterr().err

"""The ``main`` of a node executable: init, spin, and turn start-up errors into exit code 1.

Ctrl-C under ``ros2 launch`` delivers two SIGINTs, the terminal's and then launch's own: the
first ends spinning, the second must not interrupt the node's clean-up (a bag recorder's
index, a camera's stop), so it is ignored while the node is destroyed.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Run one node until shutdown; a ValueError/RuntimeError while starting is logged as fatal."""
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, RuntimeError) as exc:  # bad parameters, missing SDK or device
        rclpy.logging.get_logger(name).fatal(str(exc))
        return 1
    finally:
        if node is not None:
            with sigint_ignored():
                node.destroy_node()
        rclpy.try_shutdown()
    return 0


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored inside (main thread only, as every signal handler); restored after."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

"""The ``main`` of a node executable: init, spin, and turn start-up errors into exit code 1.

Ctrl-C under ``ros2 launch`` delivers two SIGINTs, the terminal's and then launch's own: the
first ends spinning, the second must not interrupt the node's clean-up (a bag recorder's
index, a camera's stop, the renderer's EGL display at exit), so once spinning has ended SIGINT
is ignored until the process is gone: restoring the handler let a late second one kill the
process (exit -2) or raise inside the interpreter's exit hooks.

rclpy's signal handler shuts the context down from outside the executor; when that lands while
the executor builds its wait set, spinning ends in a RuntimeError ("the given context is not
valid") instead of ExternalShutdownException. With the context already shut down that error is
the requested stop (exit 0); with the context still running it is a failure (exit 1).
"""
from __future__ import annotations

import signal
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
        if node is not None and not rclpy.ok():
            return 0  # the shutdown raced the executor's wait set: a stop, not a failure
        rclpy.logging.get_logger(name).fatal(str(exc))
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # for good: the process is ending
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

"""Test-suite wiring: the rclpy tier must run, not skip, when DDR_REQUIRE_ROS=1 (make test)."""
from __future__ import annotations

import os

import pytest

REQUIRE_ROS = os.environ.get("DDR_REQUIRE_ROS") == "1"


def _rclpy_error() -> str | None:
    try:
        import rclpy  # noqa: F401
    except Exception as exc:  # ImportError or a broken shared library
        return f"{type(exc).__name__}: {exc}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ros_items = [item for item in items if item.get_closest_marker("ros")]
    if not ros_items:
        return
    error = _rclpy_error()
    if error is None:
        return
    if REQUIRE_ROS:
        raise pytest.UsageError(f"the rclpy test tier cannot run ({error}); "
                                "install requirements/ros.txt (make test does)")
    for item in ros_items:
        item.add_marker(pytest.mark.skip(reason=f"rclpy unavailable: {error}"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With DDR_REQUIRE_ROS=1 a run whose rclpy tests were all skipped or absent fails."""
    if not REQUIRE_ROS or exitstatus != 0 or session.config.option.markexpr:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = [r for r in reporter.stats.get("passed", []) if "ros" in r.keywords]
    if not passed:
        reporter.write_line("FAILED: DDR_REQUIRE_ROS=1 but no rclpy test passed", red=True)
        session.exitstatus = 1

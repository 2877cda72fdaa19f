"""The keypoint-database services a grasp node offers (std_srvs/Trigger, private names).

``~/save`` exports the database as JSON (next to it unless ``export_path`` is set) and
``~/reload`` re-opens the file (after ``ddr annotate`` or ``ddr db import`` changed it).
Nodes add their own services through :meth:`DatabaseServices.add`; every handler reports
failures in the response and the log instead of raising, and refreshes the node's cache.
"""
from __future__ import annotations

from collections.abc import Callable

from rclpy.node import Node
from std_srvs.srv import Trigger

from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase, KeypointDatabaseError
from dense_descriptor_ros.ros.grasp_inputs import GraspInputs


class DatabaseServices:
    """``~/save``, ``~/reload`` and node-specific Trigger services over ``inputs.database``."""

    def __init__(self, node: Node, inputs: GraspInputs, export_path: str, refresh: Callable[[], str]) -> None:
        self.node, self.inputs, self.refresh = node, inputs, refresh
        self.export_path = export_path or str(inputs.database_path.with_suffix(".json"))
        self.add("save", lambda: f"exported to {self.inputs.database.export_json(self.export_path)}")
        self.add("reload", self.reopen)

    def add(self, name: str, action: Callable[[], str]) -> None:
        """Serve ``~/name``: run ``action`` (returns a message), refresh, answer."""
        def handler(_request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
            try:
                message = action()
            except (KeypointDatabaseError, ValueError, OSError) as exc:
                response.success, response.message = False, str(exc)
                self.node.get_logger().error(f"~/{name}: {exc}")
                return response
            response.success, response.message = True, f"{message}; {self.refresh()}"
            self.node.get_logger().info(response.message)
            return response
        self.node.create_service(Trigger, f"~/{name}", handler)

    def reopen(self) -> str:
        self.inputs.database.close()
        self.inputs.database = KeypointDatabase(self.inputs.database_path)
        return f"re-read {self.inputs.database_path}"

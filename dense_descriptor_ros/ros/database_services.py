"""The keypoint-database services a grasp node offers (std_srvs/Trigger, private names).

``~/save`` exports the database as JSON (next to it unless ``export_path`` is set) and
``~/reload`` re-opens the file (after ``ddr annotate`` or ``ddr db import`` changed it). The
export never replaces the live SQLite database or its side files: a database named ``db.json``
exports to ``db.export.json``, and an ``export_path`` naming the database is refused.
Nodes add their own services through :meth:`DatabaseServices.add`; every handler reports
failures in the response and the log instead of raising, and refreshes the node's cache.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rclpy.node import Node
from std_srvs.srv import Trigger

from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase, KeypointDatabaseError
from dense_descriptor_ros.ros.grasp_inputs import GraspInputs

def default_export_path(database: Path) -> Path:
    """The database's name with ``.json``, or ``<stem>.export.json`` when that is the database."""
    export = database.with_suffix(".json")
    return export if export != database else database.with_suffix(".export.json")


class DatabaseServices:
    """``~/save``, ``~/reload`` and node-specific Trigger services over ``inputs.database``."""

    def __init__(self, node: Node, inputs: GraspInputs, export_path: str, refresh: Callable[[], str]) -> None:
        self.node, self.inputs, self.refresh = node, inputs, refresh
        self.export_path = Path(export_path) if export_path else default_export_path(inputs.database_path)
        self.add("save", self.save)
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

    def save(self) -> str:
        """Export as JSON (written to a temporary file, then renamed over the old export; never
        over the live database, see ``KeypointDatabase.export_json``)."""
        return f"exported to {self.inputs.database.export_json(self.export_path)}"

    def reopen(self) -> str:
        self.inputs.database.close()
        self.inputs.database = KeypointDatabase(self.inputs.database_path)
        return f"re-read {self.inputs.database_path}"

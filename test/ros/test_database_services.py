"""~/save and ~/reload on real DDS: the export never writes over the live SQLite database."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase

pytestmark = pytest.mark.ros

SQLITE_HEADER = b"SQLite format 3\x00"


def serve(ros, database_path: Path, export_path: str = ""):
    """DatabaseServices on a bare node over a database holding one preference; the save client."""
    from std_srvs.srv import Trigger

    from dense_descriptor_ros.ros.database_services import DatabaseServices

    database = KeypointDatabase(database_path)
    database.add_preferences("box", np.full((8, 8, 3), 90, np.uint8), np.array([[2.5, 3.5]]),
                             np.ones((1, 4), np.float32), "hash", "test")
    node = ros.node("grasp_node")
    inputs = SimpleNamespace(database_path=database_path, database=database)
    DatabaseServices(node, inputs, export_path, lambda: "refreshed")
    client = node.create_client(Trigger, "/grasp_node/save")
    assert ros.spin_until(client.service_is_ready, 5.0)

    def save():
        future = client.call_async(Trigger.Request())
        assert ros.spin_until(future.done, 5.0)
        return future.result()
    return inputs, save


def assert_intact(path: Path) -> None:
    assert path.read_bytes()[:16] == SQLITE_HEADER, f"{path} is no longer an SQLite database"
    with KeypointDatabase(path, create=False) as reopened:
        assert [(r.object, r.xy) for r in reopened.records()] == [("box", (2.5, 3.5))]


def test_a_database_named_json_is_exported_beside_it_not_over_it(ros, tmp_path: Path) -> None:
    """The launch file's own example, database:=/tmp/db.json: ~/save wrote db.json over itself."""
    inputs, save = serve(ros, tmp_path / "db.json")
    answer = save()
    assert answer.success, answer.message
    exported = tmp_path / "db.export.json"
    assert str(exported) in answer.message
    assert json.loads(exported.read_text())["keypoints"][0]["object"] == "box"
    inputs.database.close()
    assert_intact(tmp_path / "db.json")
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # renamed into place


@pytest.mark.parametrize("target", ["keypoints.db", "keypoints.db-wal", "link.db"])
def test_an_export_path_naming_the_live_database_is_refused(ros, tmp_path: Path, target: str) -> None:
    database = tmp_path / "keypoints.db"
    (tmp_path / "link.db").symlink_to(database)
    inputs, save = serve(ros, database, export_path=str(tmp_path / target))
    answer = save()
    assert not answer.success and "live keypoint database" in answer.message
    inputs.database.close()
    assert_intact(database)


def test_an_ordinary_database_still_exports_next_to_it(ros, tmp_path: Path) -> None:
    inputs, save = serve(ros, tmp_path / "keypoints.db")
    assert save().success and (tmp_path / "keypoints.json").is_file()
    inputs.database.close()

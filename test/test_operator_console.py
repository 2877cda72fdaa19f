"""The operator console's server without ROS: the token, request checks and replies, over real
HTTP on 127.0.0.1, against an in-memory cell that records what it was asked to do."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from dense_descriptor_ros.annotation.console import TOKEN_HEADER, ConsoleError, OperatorConsole
from dense_descriptor_ros.grasping.keypoint_db import decode_png, encode_png

WIDTH, HEIGHT = 8, 6


class MemoryCell:
    """A cell whose database is a list of (object, x, y); the overlay a fixed image."""

    def __init__(self) -> None:
        self.preferences: list[tuple[str, float, float]] = [("box", 1.0, 2.0)]
        self.picks = 0
        self.image = np.arange(WIDTH * HEIGHT * 3, dtype=np.uint8).reshape(HEIGHT, WIDTH, 3)
        self.refuse_pick = False

    def state(self) -> dict:
        return {"gripper": "suction", "planner": "heatmap_node", "object": "mug",
                "gates": {"heatmap_node.min_confidence": 0.19}, "plan": None, "result": None, "overlay_stamp": 7}

    def objects(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, _, _ in self.preferences:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def overlay(self):
        return encode_png(self.image), WIDTH, HEIGHT

    def click(self, object_name: str, x: float, y: float) -> dict:
        self.preferences.append((object_name, x, y))
        return {"message": "stored", "added": [{"object": object_name, "x": x, "y": y}], "removed": []}

    def undo(self, object_name: str) -> dict:
        index = max(i for i, p in enumerate(self.preferences) if p[0] == object_name)
        removed = self.preferences.pop(index)
        return {"message": "removed", "added": [], "removed": [{"object": removed[0], "x": removed[1]}]}

    def clear(self, object_name: str) -> dict:
        self.preferences = [p for p in self.preferences if p[0] != object_name]
        return {"message": "cleared", "added": [], "removed": []}

    def save(self, object_name: str) -> dict:
        return {"message": "exported", "added": [], "removed": []}

    def pick(self) -> dict:
        if self.refuse_pick:
            raise ConsoleError("no grasp received yet on the grasp topic")
        self.picks += 1
        return {"message": "executing", "added": [], "removed": []}


@pytest.fixture
def console():
    cell = MemoryCell()
    server = OperatorConsole(cell).start()
    try:
        yield server, cell
    finally:
        server.stop()


def request(server: OperatorConsole, path: str, body: bytes | dict | None = None, token: str | None = "valid",
            header: bool = True) -> tuple[int, bytes]:
    """``path`` (GET, or POST with ``body``), the token in a header or the query, or none."""
    token = server.token if token == "valid" else token
    base = server.url.split("?")[0].rstrip("/")
    url = base + path + (f"?token={token}" if token is not None and not header else "")
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {TOKEN_HEADER: token} if token is not None and header else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_listens_on_localhost_only_with_a_fresh_token_each_start(console) -> None:
    server, _ = console
    assert server.url.startswith("http://127.0.0.1:") and f"token={server.token}" in server.url
    assert len(server.token) >= 32 and OperatorConsole(MemoryCell()).token != server.token


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
@pytest.mark.parametrize("path, body", [("/", None), ("/state", None), ("/overlay.png", None),
                                        ("/click", {"object": "box", "x": 1, "y": 1}), ("/undo", {"object": "box"}),
                                        ("/clear", {"object": "box"}), ("/pick", {}), ("/nowhere", None)])
def test_a_request_without_the_token_is_refused_and_changes_nothing(console, token, path, body) -> None:
    server, cell = console
    before = list(cell.preferences)
    for header in (True, False):
        status, reply = request(server, path, body, token=token, header=header)
        assert status == 403 and "token" in json.loads(reply)["error"]
    assert cell.preferences == before and cell.picks == 0


def test_the_token_in_the_query_or_header_opens_the_page_and_the_overlay(console) -> None:
    server, cell = console
    status, page = request(server, "/", header=False)
    assert status == 200 and b"operator console" in page
    status, png = request(server, "/overlay.png")
    assert status == 200 and np.array_equal(decode_png(png), cell.image)
    status, state = request(server, "/state")
    state = json.loads(state)
    assert state["overlay"] == {"width": WIDTH, "height": HEIGHT} and state["gripper"] == "suction"
    # the database's objects and the planner's current one, with their preference counts
    assert state["objects"] == [{"name": "box", "preferences": 1}, {"name": "mug", "preferences": 0}]


def test_a_click_reaches_the_cell_and_the_reply_says_what_was_stored(console) -> None:
    server, cell = console
    status, reply = request(server, "/click", {"object": "mug", "x": 7, "y": 0.5})
    assert status == 200 and json.loads(reply)["added"] == [{"object": "mug", "x": 7.0, "y": 0.5}]
    assert cell.preferences[-1] == ("mug", 7.0, 0.5)
    status, reply = request(server, "/undo", {"object": "mug"})
    assert status == 200 and json.loads(reply)["removed"] == [{"object": "mug", "x": 7.0}]
    assert cell.preferences == [("box", 1.0, 2.0)]


@pytest.mark.parametrize("body, status, error", [
    ({"object": "box", "x": WIDTH, "y": 1}, 400, "outside the 8x6 overlay"),
    ({"object": "box", "x": -0.5, "y": 1}, 400, "outside"),
    ({"object": "box", "x": 1, "y": HEIGHT - 0.5}, 400, "outside"),
    ({"object": "box", "x": "3", "y": 1}, 400, "pixel coordinate"),
    ({"object": "box", "x": True, "y": 1}, 400, "pixel coordinate"),
    ({"object": "box", "x": 1}, 400, "pixel coordinate"),
    ({"object": "cup", "x": 1, "y": 1}, 404, "unknown object 'cup'"),
    ({"x": 1, "y": 1}, 404, "unknown object None"),
    (b"{not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "expected a JSON object"),
    (b"{}" + b" " * 5000, 413, "at most"),
])
def test_bad_clicks_are_refused_and_store_nothing(console, body, status, error) -> None:
    server, cell = console
    code, reply = request(server, "/click", body)
    assert code == status and error in json.loads(reply)["error"]
    assert cell.preferences == [("box", 1.0, 2.0)]


def test_an_object_added_on_the_page_can_be_annotated(console) -> None:
    server, cell = console
    assert request(server, "/click", {"object": "new cup", "x": 1, "y": 1})[0] == 404
    for name in ("", "x" * 65, "../etc", 5):
        code, reply = request(server, "/objects", {"name": name})
        assert code == 400 and "object name" in json.loads(reply)["error"]
    assert request(server, "/objects", {"name": "new cup"}) == (200, b'{"added": "new cup"}')
    assert request(server, "/click", {"object": "new cup", "x": 1, "y": 1})[0] == 200
    assert cell.preferences[-1] == ("new cup", 1.0, 1.0)


def test_a_refusal_of_the_cell_is_a_conflict_with_its_reason(console) -> None:
    server, cell = console
    cell.refuse_pick = True
    code, reply = request(server, "/pick", {})
    assert code == 409 and json.loads(reply)["error"] == "no grasp received yet on the grasp topic"
    cell.refuse_pick = False
    assert request(server, "/pick", {})[0] == 200 and cell.picks == 1

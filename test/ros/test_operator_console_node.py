"""The operator console on the spawned simulated cell, driven by headless Chromium as an operator
would: a click on the overlay stores a preference and a grasp follows, Pick gets a result code,
undo takes the preference back, and a request without the token is refused."""
from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dense_descriptor_ros.execution import ExecutionResult
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from browser import headless_chromium

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "ddr_resnet18_w32_sim.pt"
SIZE = {"width": 96, "height": 72}
STARTUP_S = 180.0  # node start-up and the first frame on a loaded 2-core machine
URL = re.compile(r"operator console \(\w+, \w+\): (http://127\.0\.0\.1:\d+/\?token=\S+)")


def test_planner_topics_are_the_planner_nodes_own() -> None:
    from dense_descriptor_ros.ros.nodes.heatmap_node import HeatmapNode
    from dense_descriptor_ros.ros.nodes.operator_console import PLANNER_TOPICS
    from dense_descriptor_ros.ros.nodes.oriented_grasp_node import OrientedGraspNode

    assert PLANNER_TOPICS == {"heatmap_node": (HeatmapNode.overlay_topic, HeatmapNode.plan_topic),
                              "oriented_grasp_node": (OrientedGraspNode.overlay_topic, OrientedGraspNode.plan_topic)}


def console_node(ros, tmp_path: Path, **values):
    from rclpy.parameter import Parameter

    from dense_descriptor_ros.ros.nodes.operator_console import OperatorConsoleNode

    values = {"database": str(tmp_path / "keypoints.sqlite"), "port": 0, "action_timeout_s": 0.5, **values}
    return OperatorConsoleNode(context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def test_without_a_graph_every_action_is_refused_saying_why(ros, tmp_path: Path) -> None:
    """Alone, the console answers at once or after its timeout, never hangs, and stores nothing."""
    from dense_descriptor_ros.annotation.console import ConsoleError

    node = ros.add(console_node(ros, tmp_path, gripper="parallel"))
    assert node.state()["gates"] == {} and node.overlay() is None and node.objects() == {}
    with pytest.raises(ConsoleError, match="oriented_grasp_node has no clear"):
        node.clear("box")
    with pytest.raises(ConsoleError, match="grasp_executor/execute is not offered"):
        node.pick()
    with pytest.raises(ConsoleError, match="oriented_grasp_node/get_parameters is not offered"):
        node.undo("box")
    assert not (tmp_path / "keypoints.sqlite").exists()


@pytest.mark.parametrize("values, error", [({"gripper": "vacuum"}, "gripper must be one of"),
                                           ({"database": ""}, "database a file")])
def test_bad_parameters_stop_the_node_with_a_clear_error(ros, tmp_path: Path, values: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        console_node(ros, tmp_path, **values)


def wait_for(what: str, found, graph, timeout: float):
    """Poll ``found()`` until it gives something, checking that every node still runs."""
    deadline = time.monotonic() + timeout
    while not (value := found()):
        graph.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s (logs: {graph.log_dir})")
        time.sleep(0.2)
    return value


def stored(database: Path) -> list[tuple[str, str, tuple[float, float]]]:
    if not database.exists():
        return []
    with KeypointDatabase(database) as db:
        return [(r.object, r.role, r.xy) for r in db.records()]


@contextlib.contextmanager
def console_on_the_graph(ros, folder: Path, gripper: str):
    """The simulated cell's graph as processes with the console on, and headless Chromium on its
    page with the overlay loaded: (graph, browser, url, database)."""
    from selenium.webdriver.common.by import By

    from dense_descriptor_ros.ros.graph import sim_cell_graph
    from dense_descriptor_ros.ros.graph_processes import GraphProcesses, local_ros_environment

    database = folder / "keypoints.sqlite"
    arguments = {"gripper": gripper, "model": str(MODEL), "database": str(database), "reference": "", "seed": 0,
                 "first_trial": 0, "executor_backend": "sim", "console": "true", "console_port": 0, **SIZE}
    # at 96x72 the 8 px colour disc spans most of a product: the cells' colours read less alike
    # than at the cell's 240x320, so the suction gate is the jaw's here
    lax_gate = sim_cell_graph({"appearance_min_similarity": 0.7})
    with GraphProcesses(lax_gate, arguments, folder / "logs", local_ros_environment(ros.domain_id)) as graph:
        log = graph.log_dir / "operator_console.log"
        url = wait_for("console URL in the log", lambda: URL.findall(log.read_text()), graph, STARTUP_S)[0]
        browser = headless_chromium(folder / "chrome", (1200, 900))
        try:
            browser.get(url)
            overlay = browser.find_element(By.ID, "overlay")
            wait_for("overlay on the page", lambda: browser.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", overlay), graph, STARTUP_S)
            assert browser.execute_script("return arguments[0].naturalWidth", overlay) == SIZE["width"]
            wait_for("the planner's object", lambda: browser.find_element(By.ID, "selected").text == "object",
                     graph, 30.0)
            yield graph, browser, url, database
        finally:
            browser.quit()
        graph.check()


def click(browser, x: float, y: float) -> None:
    """A click on overlay pixel (x, y); Selenium offsets are from the element's centre, in page pixels."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    overlay = browser.find_element(By.ID, "overlay")
    scale = overlay.size["width"] / SIZE["width"]
    ActionChains(browser).move_to_element_with_offset(overlay, (x - SIZE["width"] / 2) * scale,
                                                      (y - SIZE["height"] / 2) * scale).click().perform()


def page_log(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, "log").text


@pytest.mark.slow
def test_a_console_click_stores_a_preference_a_grasp_follows_and_undo_removes_it(ros, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with console_on_the_graph(ros, tmp_path, "suction") as (graph, browser, url, database):
        plain = url.split("?")[0]
        for path, body in (("", None), ("state", None), ("click", b'{"object": "object", "x": 40, "y": 30}')):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(plain + path, data=body, timeout=10)
            assert refused.value.code == 403
        assert stored(database) == []

        click(browser, 48, 36)
        wait_for("the stored click on the page", lambda: "click on 'object'" in page_log(browser), graph, 30.0)
        assert stored(database) == [("object", "preference", (48.0, 36.0))]
        assert "stored #1 object preference (48, 36)" in page_log(browser)  # the reply says what was stored
        wait_for("a grasp after the click", lambda: browser.find_element(By.ID, "plan").get_attribute("class")
                 == "ok", graph, 60.0)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#marks circle")) == 1  # the cup's pixel, drawn

        browser.find_element(By.ID, "pick").click()
        result = wait_for("the pick's result code", lambda: browser.find_element(By.ID, "result").text
                          if browser.find_element(By.ID, "result").text != "none yet" else None, graph, 120.0)
        assert result.split(":")[0] in {r.value for r in ExecutionResult} - {"unknown"}, result

        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-object="object"]')
        assert row.find_elements(By.TAG_NAME, "td")[2].text == "1"
        row.find_element(By.XPATH, ".//button[text()='undo']").click()
        wait_for("undo", lambda: "removed 1 preference" in page_log(browser), graph, 30.0)
        assert stored(database) == [] and "removed #1 object preference (48, 36)" in page_log(browser)
        wait_for("the count after undo", lambda: browser.find_element(
            By.CSS_SELECTOR, 'tr[data-object="object"]').find_elements(By.TAG_NAME, "td")[2].text == "0", graph, 10.0)
        status, reply = post(url, "undo", {"object": "object"})  # nothing left: refused, says why
        assert status == 409 and "nothing of 'object' to undo" in reply["error"]


@pytest.mark.slow
def test_two_console_clicks_store_a_parallel_grasp_axis(ros, tmp_path: Path) -> None:
    """On the parallel cell a pair of clicks is one annotation: the second click's reply shows it."""
    with console_on_the_graph(ros, tmp_path, "parallel") as (graph, browser, url, database):
        click(browser, 40, 36)
        wait_for("axis_a on the page", lambda: "click axis_b" in page_log(browser), graph, 30.0)
        assert stored(database) == []
        click(browser, 56, 36)
        wait_for("the stored pair", lambda: "stored" in page_log(browser), graph, 30.0)
        assert stored(database) == [("object", "axis_a", (40.0, 36.0)), ("object", "axis_b", (56.0, 36.0))]
        assert "axis_a (40, 36)" in page_log(browser) and "axis_b (56, 36)" in page_log(browser)
        status, reply = post(url, "clear", {"object": "object"})
        assert status == 409 and "oriented_grasp_node has no clear" in reply["error"]
        click(browser, 20, 20)  # a new axis_a, forgotten by undo: the next click starts a pair again
        wait_for("the second axis_a", lambda: page_log(browser).count("click axis_b") == 2, graph, 30.0)
        status, reply = post(url, "undo", {"object": "object"})
        assert status == 200 and "forgotten" in reply["message"] and reply["removed"] == []
        assert len(stored(database)) == 2


def post(url: str, path: str, body: dict) -> tuple[int, dict]:
    base, token = url.split("?token=")
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"X-Console-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())

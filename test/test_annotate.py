"""``ddr annotate``: clicks given as arguments, the local web page's endpoints, and the page itself
in headless Chromium (zoomed clicks, object switch, undo)."""
from __future__ import annotations

import argparse
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dense_descriptor_ros.annotation.json_http import MAX_BODY, JsonRequestHandler
from dense_descriptor_ros.annotation.session import AnnotationSession
from dense_descriptor_ros.annotation.web import AnnotationServer
from dense_descriptor_ros.cli import annotate
from dense_descriptor_ros.data.rgbd import save_sequence
from dense_descriptor_ros.geometry.camera import Intrinsics
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash
from browser import headless_chromium

# A box top 40 x 100 mm, 0.5 m from the camera, over a floor at 0.6 m (160x120 image).
CAMERA = Intrinsics(400.0, 400.0, 79.5, 59.5, 160, 120)
BOX_TOP = (0.040, 0.100, 0.5)  # width (x), length (y), depth (m)


def box_depth() -> np.ndarray:
    """``(H, W)`` metres: the box top centred in the image, the floor around it, a hole of no
    depth in the top-left corner."""
    ys, xs = np.mgrid[0:CAMERA.height, 0:CAMERA.width]
    x = (xs - CAMERA.cx) / CAMERA.fx * BOX_TOP[2]
    y = (ys - CAMERA.cy) / CAMERA.fy * BOX_TOP[2]
    depth = np.where((np.abs(x) <= BOX_TOP[0] / 2) & (np.abs(y) <= BOX_TOP[1] / 2), BOX_TOP[2], 0.6)
    depth[:30, :30] = np.nan
    return depth.astype(np.float32)


def tiny_descriptor_model() -> DescriptorModel:
    torch.manual_seed(0)
    return DescriptorModel.of(DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval(), "hash")


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval()
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", model)
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "scene.png")
    return tmp_path, checkpoint, image


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    annotate.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_annotate_with_clicks_stores_rows(setup):
    tmp_path, checkpoint, _ = setup
    db_path = tmp_path / "kp.sqlite"
    assert _run(["annotate", "--image", str(tmp_path / "scene.png"), "--db", str(db_path), "--model",
                 str(checkpoint), "--object", "mug", "--click", "10,20", "33.5,7"]) == 0
    with KeypointDatabase(db_path, create=False) as db:
        records = db.records()
        assert [(r.object, r.role, r.xy) for r in records] == [("mug", "preference", (10.0, 20.0)),
                                                               ("mug", "preference", (33.5, 7.0))]
        assert db.model_hashes() == {file_hash(checkpoint)}
        assert db.image(records[0].image_id).shape == (48, 64, 3)


def test_a_clicked_descriptor_is_the_one_the_database_re_embeds(setup):
    """Clicks are sampled from the session's descriptor grid, as ``describe_pixels`` samples it."""
    tmp_path, _, image = setup
    model = tiny_descriptor_model()
    AnnotationSession(image, tmp_path / "kp.sqlite", model).add("mug", [[10, 20], [33.5, 7]])
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        stored = np.stack([r.descriptor for r in db.records()])
    expected = model.describe_pixels(image, np.array([[10, 20], [33.5, 7]]))
    np.testing.assert_allclose(stored, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)


@pytest.mark.parametrize("options, message", [
    (["--object", "mug", "--click", "64,10"], "outside"),
    (["--click", "5,5"], "needs --object"),
    (["--frame", "1"], "--frame picks a frame of --sequence"),
    (["--object", "mug\tcup", "--click", "5,5"], "control characters"),
])
def test_annotate_refuses_bad_arguments_and_stores_nothing(setup, options, message):
    tmp_path, checkpoint, _ = setup
    with pytest.raises(ValueError, match=message):
        _run(["annotate", "--image", str(tmp_path / "scene.png"), "--db", str(tmp_path / "kp.sqlite"),
              "--model", str(checkpoint), *options])
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        assert db.records() == []


def write_sequence(root: Path) -> Path:
    """A one-frame RGB-D sequence of the box scene (16-bit millimetre depth, 0 = no depth)."""
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb = np.random.default_rng(1).integers(0, 255, (CAMERA.height, CAMERA.width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "rgb/000000.png")
    Image.fromarray(np.nan_to_num(box_depth() * 1000).astype(np.uint16)).save(root / "depth/000000.png")
    save_sequence(root, CAMERA, [{"rgb": "rgb/000000.png", "depth": "depth/000000.png",
                                  "T_world_camera": np.eye(4).tolist()}])
    return root


def test_annotate_a_sequence_frame_stores_its_image(setup):
    tmp_path, checkpoint, _ = setup
    sequence = write_sequence(tmp_path / "seq")
    arguments = ["annotate", "--sequence", str(sequence), "--db", str(tmp_path / "kp.sqlite"),
                 "--model", str(checkpoint), "--object", "box", "--click", "80,60"]
    assert _run(arguments) == 0
    with pytest.raises(ValueError, match="there is no frame 1"):
        _run([*arguments, "--frame", "1"])
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        [record] = db.records()
        assert record.xy == (80.0, 60.0)
        np.testing.assert_array_equal(db.image(record.image_id), np.asarray(Image.open(sequence / "rgb/000000.png")))


def test_face_width_under_a_click_is_measured_in_depth(tmp_path):
    image = np.zeros((CAMERA.height, CAMERA.width, 3), np.uint8)
    session = AnnotationSession(image, tmp_path / "kp.sqlite", tiny_descriptor_model(),
                                depth=box_depth(), intrinsics=CAMERA)
    assert session.face_width([80, 60]) * 1000 == pytest.approx(BOX_TOP[0] * 1000, abs=1.0)
    assert session.face_width([85, 40]) * 1000 == pytest.approx(BOX_TOP[0] * 1000, abs=1.0)
    assert session.face_width([10, 10]) is None  # no depth there
    with pytest.raises(ValueError, match="outside"):
        session.face_width([160, 10])
    colour_only = AnnotationSession(image, tmp_path / "kp.sqlite", tiny_descriptor_model())
    with pytest.raises(ValueError, match="no depth"):
        colour_only.face_width([80, 60])
    with pytest.raises(ValueError, match="must match"):
        AnnotationSession(image[:, :100], tmp_path / "kp.sqlite", tiny_descriptor_model(), depth=box_depth(),
                          intrinsics=CAMERA)
    with pytest.raises(ValueError, match="give both or neither"):
        AnnotationSession(image, tmp_path / "kp.sqlite", tiny_descriptor_model(), depth=box_depth())


# -- the web page's endpoints --------------------------------------------------------------------

@pytest.fixture
def serving(tmp_path) -> Iterator[AnnotationServer]:
    """The page on a 64x48 image, a database already holding one preference of ``box``, ``mug``
    selected first."""
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    AnnotationSession(image, tmp_path / "kp.sqlite", tiny_descriptor_model(), annotator="earlier").add(
        "box", [[3, 3]])
    server = AnnotationServer(AnnotationSession(image, tmp_path / "kp.sqlite", tiny_descriptor_model()),
                              initial_object="mug")
    thread = threading.Thread(target=server.serve)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)


def request(server: AnnotationServer, path: str, body: bytes | dict | None = None) -> tuple[int, dict | bytes]:
    """``(status, JSON reply or bytes)`` of a GET (``body`` None) or a POST."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    try:
        with urllib.request.urlopen(urllib.request.Request(server.url + path.lstrip("/"), data,
                                                           {"Content-Type": "application/json"})) as reply:
            status, content, kind = reply.status, reply.read(), reply.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, content, kind = error.code, error.read(), error.headers["Content-Type"]
    return status, json.loads(content) if kind == "application/json" else content


def stored(server: AnnotationServer) -> list[tuple[str, tuple[float, float], str]]:
    with KeypointDatabase(server.session.database) as db:
        return [(r.object, r.xy, r.annotator) for r in db.records()]


def test_clicks_objects_and_undo_change_the_database(serving):
    server = serving
    assert server.url.startswith("http://127.0.0.1:")
    assert request(server, "/objects") == (200, {"objects": [{"name": "box", "stored": 1, "session": 0},
                                                             {"name": "mug", "stored": 0, "session": 0}]})
    plain = request(server, "/heatmap.png?object=mug")[1]
    assert plain == request(server, "/image.png")[1] and plain[:4] == b"\x89PNG"
    status, reply = request(server, "/click", {"object": "mug", "x": 5, "y": 6})
    assert status == 200 and reply["x"] == 5.0 and reply["y"] == 6.0 and reply["face_width_mm"] is None
    assert request(server, "/heatmap.png?object=mug")[1] != plain
    request(server, "/click", {"object": "mug", "x": 40, "y": 30})
    request(server, "/click", {"object": "box", "x": 20, "y": 10})
    assert request(server, "/objects", {"name": "  cup "})[1]["name"] == "cup"
    request(server, "/click", {"object": "cup", "x": 63, "y": 47})
    assert stored(server) == [("box", (3.0, 3.0), "earlier"), ("box", (20.0, 10.0), "operator"),
                              ("cup", (63.0, 47.0), "operator"), ("mug", (5.0, 6.0), "operator"),
                              ("mug", (40.0, 30.0), "operator")]
    # undo takes back the selected object's latest click of this session, and only it
    assert request(server, "/undo", {"object": "mug"}) == (200, {"removed": 3, "object": "mug", "x": 40.0, "y": 30.0})
    assert request(server, "/undo", {"object": "box"})[0] == 200
    status, reply = request(server, "/undo", {"object": "box"})  # the earlier session's click stays
    assert status == 409 and "nothing of 'box' to undo" in reply["error"]
    assert stored(server) == [("box", (3.0, 3.0), "earlier"), ("cup", (63.0, 47.0), "operator"),
                              ("mug", (5.0, 6.0), "operator")]
    assert request(server, "/objects")[1]["objects"] == [{"name": "box", "stored": 1, "session": 0},
                                                         {"name": "cup", "stored": 1, "session": 1},
                                                         {"name": "mug", "stored": 1, "session": 1}]
    assert request(server, "/done", b"") == (200, {"stored": 2})
    assert server.done.wait(5)


def test_done_stops_the_server_even_when_the_page_left_before_the_reply(serving, monkeypatch):
    def page_gone(*_args) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(JsonRequestHandler, "_json", page_gone)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        request(serving, "/done", b"")
    assert serving.done.wait(5)


def test_a_click_again_on_a_stored_pixel_is_undone_once(serving):
    server = serving
    request(server, "/click", {"object": "mug", "x": 5, "y": 6})
    request(server, "/click", {"object": "mug", "x": 9, "y": 9})
    request(server, "/click", {"object": "mug", "x": 5, "y": 6})  # the same row, now the latest
    assert request(server, "/undo", {"object": "mug"})[1]["x"] == 5.0
    assert request(server, "/undo", {"object": "mug"})[1]["x"] == 9.0
    assert request(server, "/undo", {"object": "mug"})[0] == 409
    assert stored(server) == [("box", (3.0, 3.0), "earlier")]


@pytest.mark.parametrize("path, body, status, message", [
    ("/click", b'{"object": "mug", "x": 5,', 400, "malformed JSON"),
    ("/click", b'[5, 6]', 400, "expected a JSON object"),
    ("/click", b'\xff\xfe', 400, "malformed JSON"),
    ("/click", b'', 400, "malformed JSON"),
    ("/click", {"object": "mug", "x": 64, "y": 6}, 400, "outside the 64x48 image"),
    ("/click", {"object": "mug", "x": 5, "y": -1}, 400, "outside"),
    ("/click", {"object": "mug", "x": "5", "y": 6}, 400, "'x' must be a pixel coordinate"),
    ("/click", {"object": "mug", "x": True, "y": 6}, 400, "'x' must be a pixel coordinate"),
    ("/click", {"object": "mug", "x": 5}, 400, "'y' must be a pixel coordinate"),
    ("/click", {"object": "ghost", "x": 5, "y": 6}, 404, "unknown object 'ghost'"),
    ("/click", {"x": 5, "y": 6}, 404, "unknown object None"),
    ("/click", {"object": "mug", "x": 5, "y": 6, "pad": "x" * MAX_BODY}, 413, "at most"),
    ("/undo", {"object": "ghost"}, 404, "unknown object 'ghost'"),
    ("/undo", {"object": "mug"}, 409, "nothing of 'mug' to undo"),
    ("/objects", {"name": "   "}, 400, "non-empty"),
    ("/objects", {"name": "a\nb"}, 400, "control characters"),
    ("/objects", {"name": "x" * 65}, 400, "at most 64"),
    ("/objects", {"name": 7}, 400, "non-empty text"),
    ("/heatmap.png?object=ghost", None, 404, "unknown object 'ghost'"),
    ("/nowhere", b"{}", 404, "no endpoint"),
])
def test_bad_requests_get_a_clear_4xx_and_store_nothing(serving, path, body, status, message):
    before = stored(serving), request(serving, "/objects")
    got_status, reply = request(serving, path, body)
    assert got_status == status and message in reply["error"]
    assert (stored(serving), request(serving, "/objects")) == before


def test_a_database_of_another_model_refuses_clicks_and_heatmaps_with_409(serving):
    with KeypointDatabase(serving.session.database) as db:
        db.reembed(DescriptorModel.of(DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval(), "other"))
    before = stored(serving)
    for path, body in (("/click", {"object": "box", "x": 5, "y": 6}), ("/heatmap.png?object=box", None)):
        status, reply = request(serving, path, body)
        assert status == 409 and "model" in reply["error"]
    assert stored(serving) == before


def test_a_click_reports_the_face_width_where_the_image_has_depth(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (CAMERA.height, CAMERA.width, 3), dtype=np.uint8)
    server = AnnotationServer(AnnotationSession(image, tmp_path / "kp.sqlite", tiny_descriptor_model(),
                                                depth=box_depth(), intrinsics=CAMERA), initial_object="box")
    thread = threading.Thread(target=server.serve)
    thread.start()
    try:
        _, on_box = request(server, "/click", {"object": "box", "x": 80, "y": 60})
        _, in_hole = request(server, "/click", {"object": "box", "x": 10, "y": 10})
    finally:
        server.stop()
        thread.join(5)
    assert on_box["face_width_mm"] == pytest.approx(40.0, abs=1.0)
    assert in_hole["face_width_mm"] is None
    assert b"HAS_DEPTH = true" in server.page()


# -- the page in headless Chromium -----------------------------------------------------------------

@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path / "chrome")
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser, server: AnnotationServer) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url)
    WebDriverWait(browser, 10).until(lambda b: b.execute_script(
        "const i = document.getElementById('image'); return i.complete && i.naturalWidth > 0 && "
        "document.getElementById('object').options.length > 0"))


def click_pixel(browser, x: int, y: int) -> None:
    """A real mouse click where image pixel (x, y)'s centre is shown now, at whatever zoom."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    left, top, scale = browser.execute_script(
        "const r = document.getElementById('image').getBoundingClientRect(); "
        "return [r.left, r.top, r.width / arguments[0]];", 64)
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(int(left + (x + 0.5) * scale), int(top + (y + 0.5) * scale)).click()
    actions.perform()


def wait_for_text(browser, element_id: str, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: text in b.find_element("id", element_id).text)


@pytest.mark.slow
def test_page_clicks_store_the_pixel_under_the_pointer_at_any_zoom(serving, browser):
    from selenium.webdriver.common.by import By

    server = serving
    open_page(browser, server)
    scale = browser.execute_script("return document.getElementById('image').getBoundingClientRect().width / 64")
    assert scale > 5  # scaled to the window, not shown at 64x48
    click_pixel(browser, 17, 29)
    wait_for_text(browser, "count", "mug: 1 stored")
    for _ in range(2):
        browser.find_element(By.ID, "zoom-in").click()
    assert browser.find_element(By.ID, "zoom").text == "fit x4"
    # scroll the zoomed image so that its lower right part is in view, and click a pixel there
    browser.execute_script("const p = document.getElementById('image-pane'); p.scrollLeft = p.scrollWidth; "
                           "p.scrollTop = p.scrollHeight;")
    click_pixel(browser, 61, 44)
    wait_for_text(browser, "count", "mug: 2 stored")
    heatmap_scroll, image_scroll = browser.execute_script(
        "return ['heatmap-pane', 'image-pane'].map((id) => document.getElementById(id).scrollLeft)")
    assert 0 < image_scroll - 20 <= heatmap_scroll <= image_scroll  # the heatmap follows (it has no scrollbar)
    assert stored(server)[1:] == [("mug", (17.0, 29.0), "operator"), ("mug", (61.0, 44.0), "operator")]


@pytest.mark.slow
def test_page_object_switch_and_undo_change_the_database(serving, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = serving
    open_page(browser, server)
    switcher = Select(browser.find_element(By.ID, "object"))
    assert [o.text for o in switcher.options] == ["box", "mug"]
    switcher.select_by_visible_text("box")
    wait_for_text(browser, "count", "box: 1 stored, 0 this session")
    click_pixel(browser, 10, 12)
    wait_for_text(browser, "count", "box: 2 stored, 1 this session")
    assert "object=box" in browser.find_element(By.ID, "heatmap").get_attribute("src")
    browser.find_element(By.ID, "new-object").send_keys("cup")
    browser.find_element(By.ID, "add").click()
    wait_for_text(browser, "count", "cup: 0 stored")
    click_pixel(browser, 30, 20)
    wait_for_text(browser, "count", "cup: 1 stored")
    click_pixel(browser, 50, 40)
    wait_for_text(browser, "count", "cup: 2 stored")
    assert "object=cup" in browser.find_element(By.ID, "heatmap").get_attribute("src")
    browser.find_element(By.ID, "undo").click()
    wait_for_text(browser, "count", "cup: 1 stored")
    assert stored(server) == [("box", (3.0, 3.0), "earlier"), ("box", (10.0, 12.0), "operator"),
                              ("cup", (30.0, 20.0), "operator")]
    Select(browser.find_element(By.ID, "object")).select_by_visible_text("box")
    wait_for_text(browser, "count", "box: 2 stored")
    browser.find_element(By.ID, "undo").click()
    wait_for_text(browser, "count", "box: 1 stored, 0 this session")
    browser.find_element(By.ID, "undo").click()  # the earlier session's preference is not this page's to undo
    wait_for_text(browser, "error", "nothing of 'box' to undo")
    assert stored(server) == [("box", (3.0, 3.0), "earlier"), ("cup", (30.0, 20.0), "operator")]
    browser.find_element(By.ID, "done").click()
    assert server.done.wait(10)

"""``ddr annotate``: clicks given as arguments and clicks in the local web page (headless Chromium)."""
from __future__ import annotations

import argparse
import json
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from dense_descriptor_ros.annotation.session import AnnotationSession
from dense_descriptor_ros.annotation.web import AnnotationServer
from dense_descriptor_ros.cli import annotate
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash


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


def test_annotate_refuses_a_click_outside_the_image(setup):
    tmp_path, checkpoint, _ = setup
    with pytest.raises(ValueError, match="outside"):
        _run(["annotate", "--image", str(tmp_path / "scene.png"), "--db", str(tmp_path / "kp.sqlite"),
              "--model", str(checkpoint), "--object", "mug", "--click", "64,10"])
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        assert db.records() == []


def test_web_endpoints_store_clicks_and_serve_the_heatmap(setup):
    tmp_path, checkpoint, image = setup
    model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval()
    session = AnnotationSession(image, tmp_path / "kp.sqlite", DescriptorModel.of(model, "hash"), "mug")
    server = AnnotationServer(session)
    assert server.url.startswith("http://127.0.0.1:")
    thread = threading.Thread(target=server.serve)
    thread.start()
    try:
        before = urllib.request.urlopen(server.url + "heatmap.png").read()
        request = urllib.request.Request(server.url + "click", json.dumps({"x": 5, "y": 6}).encode(),
                                         {"Content-Type": "application/json"})
        assert json.loads(urllib.request.urlopen(request).read())["count"] == 1
        after = urllib.request.urlopen(server.url + "heatmap.png").read()
        assert after != before and after[:4] == b"\x89PNG"
        bad = urllib.request.Request(server.url + "click", b'{"x": 500, "y": 6}', {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(bad)
        assert error.value.code == 400
        urllib.request.urlopen(urllib.request.Request(server.url + "done", b"", method="POST"))
        thread.join(5)
        assert not thread.is_alive()
    finally:
        server.stop()
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        assert [r.xy for r in db.records()] == [(5.0, 6.0)]


@pytest.mark.slow
def test_web_page_click_in_headless_chromium_stores_that_pixel(setup):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("chromium and chromedriver not installed (requirements/apt-browser.txt)")
    tmp_path, _, image = setup
    model = DescriptorNet(ModelConfig(width=8, descriptor_dim=16)).eval()
    session = AnnotationSession(image, tmp_path / "kp.sqlite", DescriptorModel.of(model, "hash"), "mug")
    server = AnnotationServer(session)
    thread = threading.Thread(target=server.serve)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        browser.get(server.url)
        element = browser.find_element(By.ID, "image")
        WebDriverWait(browser, 10).until(lambda b: b.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", element))
        # Selenium offsets are from the element's centre; the image is shown at its pixel size
        ActionChains(browser).move_to_element_with_offset(element, 17 - 32, 29 - 24).click().perform()
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "count").text == "1")
        browser.find_element(By.ID, "done").click()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        browser.quit()
        server.stop()
    with KeypointDatabase(tmp_path / "kp.sqlite") as db:
        assert [r.xy for r in db.records()] == [(17.0, 29.0)]

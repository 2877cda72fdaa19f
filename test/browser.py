"""Headless Chromium for the browser test tier (the local annotation pages)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def headless_chromium(profile: Path, window: tuple[int, int] = (1000, 700)):
    """A Selenium driver of headless Chromium with its own ``profile`` folder and a ``window``
    (width, height) in CSS pixels; skips the test where Chromium or its driver is missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium and chromedriver not installed (requirements/apt-browser.txt)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={window[0]},{window[1]}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)

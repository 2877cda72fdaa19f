"""The licensed training photographs: every one loads, is written small with its licence, and a
missing Debian package is named."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dense_descriptor_ros.cli.main import main
from dense_descriptor_ros.data import photos


def test_ddr_photos_writes_every_training_photo_with_its_licence(tmp_path):
    assert main(["photos", "--out", str(tmp_path), "--max-side", "48"]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == sorted(f"{name}.png" for name in photos.TRAINING_PHOTOS)
    assert len(written) >= 3 * 11  # three times the eleven photographs the labels started from
    licences = json.loads((tmp_path / photos.LICENCE_FILE).read_text())
    assert sorted(licences) == written and all(len(text) > 5 for text in licences.values())
    for name in written:
        with Image.open(tmp_path / name) as img:
            assert max(img.size) <= 48 and img.mode == "RGB"
    assert not any("opencv" in text.lower() or "aloe" in name for name, text in licences.items())
    assert not set(photos.TEXTURE_PHOTOS) & set(photos.TRAINING_PHOTOS)  # floor surfaces are no scenes


def test_debian_photographs_load_in_colour_and_bounded():
    for name in photos.DEBIAN_PHOTOS:
        image = photos.load_photo(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert max(image.shape[:2]) <= photos.DEBIAN_MAX_SIDE and image.std() > 10


def test_a_missing_debian_package_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(photos.DEBIAN_PHOTOS, "gone", ("some-package", str(tmp_path / "no.jpg"), "x; CC0"))
    with pytest.raises(FileNotFoundError, match="Debian package some-package"):
        photos.load_photo("gone")
    with pytest.raises(ValueError, match="unknown photo"):
        photos.load_photo("aloeL")

"""``ddr bag extract`` on real rosbag2 files written with rosbags (sqlite3 and mcap)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from scipy import ndimage
from skimage import data as skdata

from dense_descriptor_ros.bags import BagError, FrameFilter, Verdict, extract_images
from dense_descriptor_ros.bags.frame_filter import grey, sharpness
from dense_descriptor_ros.cli import bag as bag_cli
from dense_descriptor_ros.messages import numpy_to_image

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
IMAGE = "sensor_msgs/msg/Image"
ASTRONAUT = skdata.astronaut()  # 512x512 RGB photo (public domain)
H, W = 96, 128


def crop(offset: int) -> np.ndarray:
    """A (96, 128, 3) view that moves right/down with ``offset`` (camera motion)."""
    return np.ascontiguousarray(ASTRONAUT[100 + offset:100 + offset + H, 150 + offset:150 + offset + W])


def blurred(offset: int) -> np.ndarray:
    return ndimage.gaussian_filter(crop(offset).astype(float), sigma=(2, 2, 0)).round().astype(np.uint8)


def serialise(rgb: np.ndarray, encoding: str, stamp_ns: int) -> bytes:
    header = TYPESTORE.types["std_msgs/msg/Header"](
        stamp=TYPESTORE.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
        frame_id="camera_color_optical_frame")
    pixels = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
    msg = numpy_to_image(np.ascontiguousarray(pixels), encoding, TYPESTORE.types[IMAGE], header=header)
    return TYPESTORE.serialize_cdr(msg, IMAGE)


def recording() -> list[np.ndarray | None]:
    """Static phase (1 kept + 4 duplicates), 3 blurry, 5 moving, 1 broken message (None)."""
    noise = np.random.default_rng(1)
    static = [crop(0)] + [np.clip(crop(0) + noise.integers(-1, 2, crop(0).shape), 0, 255).astype(np.uint8)
                          for _ in range(4)]
    return static + [blurred(o) for o in (20, 30, 40)] + [None] + [crop(o) for o in (12, 24, 36, 48, 60)]


def write_bag(path: Path, storage: StoragePlugin, frames: list[np.ndarray | None]) -> Path:
    """Depth topic first (not colour: auto-pick must skip it), then bgr8 colour, then a 2nd colour."""
    with Writer(path, version=9, storage_plugin=storage) as writer:
        depth = writer.add_connection("/camera/depth/image_rect_raw", IMAGE, typestore=TYPESTORE)
        colour = writer.add_connection("/camera/color/image_raw", IMAGE, typestore=TYPESTORE)
        other = writer.add_connection("/wrist/color/image_raw", IMAGE, typestore=TYPESTORE)
        for i, rgb in enumerate(frames):
            t = 10**9 + i * 10**8
            mm = np.full((H, W), 800 + i, np.uint16)
            writer.write(depth, t, TYPESTORE.serialize_cdr(
                numpy_to_image(mm, "16UC1", TYPESTORE.types[IMAGE]), IMAGE))
            if rgb is None:  # a message whose data does not match height * step
                broken = numpy_to_image(crop(0), "rgb8", TYPESTORE.types[IMAGE])
                broken.data = broken.data[:-7]
                writer.write(colour, t, TYPESTORE.serialize_cdr(broken, IMAGE))
            else:
                writer.write(colour, t, serialise(rgb, "bgr8", t))
            writer.write(other, t, serialise(crop(5), "rgb8", t))
    return path


def corrupt_second_half(bag: Path) -> None:
    """Break the data, not the index, of a sqlite3 bag from the middle of the file on.

    Overflow pages hold the image blobs and start with a big-endian next-page number (a zero
    first byte in a small file); pointing them far past the end of the file makes SQLite
    report a malformed database only when those messages are read.
    """
    db = next(bag.glob("*.db3"))
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big")  # SQLite header: page size
    for offset in range(len(raw) // 2 // page * page, len(raw), page):
        if raw[offset] == 0:
            raw[offset:offset + 4] = b"\x13" * 4
    db.write_bytes(bytes(raw))


def test_recording_frames_are_what_the_test_claims() -> None:
    """Guard the fixture: blurred crops fall below the default sharpness, sharp ones far above."""
    frames = [f for f in recording() if f is not None]
    scores = [sharpness(grey(f)) for f in frames]
    assert all(s > 200 for s in scores[:5] + scores[8:])
    assert all(s < 40 for s in scores[5:8])


def test_frame_filter_verdicts() -> None:
    frame_filter = FrameFilter()
    verdicts = [frame_filter.judge(f) for f in recording() if f is not None]
    assert verdicts == [Verdict.KEPT] + [Verdict.DUPLICATE] * 4 + [Verdict.BLURRY] * 3 + [Verdict.KEPT] * 5
    strict = FrameFilter(min_change=0.0, min_sharpness=0.0, relative_sharpness=0.0)
    assert all(strict.judge(f) is Verdict.KEPT for f in (crop(0), blurred(3), crop(7)))
    for bad in (dict(min_change=-1), dict(relative_sharpness=-0.1), dict(relative_sharpness=1.0)):
        with pytest.raises(ValueError, match="thresholds must be >= 0"):
            FrameFilter(**bad)


@pytest.mark.parametrize("zoom, contrast", [(0.5, 1.0), (1.0, 1.0), (1.0, 0.25)])
def test_blur_is_judged_against_the_recordings_own_sharpness(zoom: float, contrast: float) -> None:
    """A recording at another resolution or of plainer texture scores on another scale (sharp
    frames 2535 at half size, 810 here, 51 at a quarter of the contrast; sigma-1 blur 159, 75, 5):
    blur of sigma 1 and 9 px of motion are dropped and sharp frames kept in each, which no one
    absolute threshold does."""
    def scaled(frame: np.ndarray) -> np.ndarray:
        small = ndimage.zoom(frame, (zoom, zoom, 1), order=1).astype(float)
        return np.clip(128 + contrast * (small - 128), 0, 255).round().astype(np.uint8)

    def blur(frame: np.ndarray, kind: str) -> np.ndarray:
        smooth = (ndimage.gaussian_filter(frame.astype(float), (1, 1, 0)) if kind == "gauss"
                  else ndimage.uniform_filter1d(frame.astype(float), 9, axis=1))
        return smooth.round().astype(np.uint8)

    sharp = [scaled(crop(o)) for o in range(0, 80, 4)]
    stream = sharp[:8] + [blur(sharp[8], "gauss"), blur(sharp[9], "motion")] + sharp[10:14] + \
        [blur(f, "motion") for f in sharp[14:17]] + sharp[17:]
    frame_filter = FrameFilter(min_change=0.0)
    verdicts = [frame_filter.judge(f) for f in stream]
    blurred_at = [i for i, v in enumerate(verdicts) if v is Verdict.BLURRY]
    assert blurred_at == [8, 9, 14, 15, 16], verdicts


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_extract_counts_and_pixels(tmp_path: Path, storage: StoragePlugin) -> None:
    frames = recording()
    bag = write_bag(tmp_path / "cell_bag", storage, frames)
    summary = extract_images(bag, tmp_path / "images", progress=False)
    assert summary.topic == "/camera/color/image_raw"  # depth topic skipped: not colour
    counts = (summary.frames, summary.kept, summary.duplicate, summary.blurry, summary.failed)
    assert counts == (14, 6, 4, 3, 1)
    written = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert written == [f"cell_bag_{i:06d}.png" for i in (0, 9, 10, 11, 12, 13)]
    # bgr8 in the bag, RGB in the PNG, pixel-exact (PNG is lossless)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "images" / written[0])), frames[0])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "images" / written[-1])), frames[13])
    table = summary.table()
    assert "near-duplicate (change < 2)" in table and "blurry (sharpness < 10 or < 0.35 x recent median)" in table
    assert summary.to_dict()["kept"] == 6


def test_extract_explicit_topic_and_thresholds(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", StoragePlugin.MCAP, recording())
    summary = extract_images(bag, tmp_path / "wrist", "/wrist/color/image_raw", progress=False)
    assert (summary.frames, summary.kept, summary.duplicate) == (14, 1, 13)  # the same view throughout
    loose = extract_images(bag, tmp_path / "all", min_change=0.0, min_sharpness=0.0, relative_sharpness=0.0,
                           progress=False)
    assert (loose.kept, loose.duplicate, loose.blurry, loose.failed) == (13, 0, 0, 1)
    mcap_file = next(bag.glob("*.mcap"))  # the storage file alone also works
    assert extract_images(mcap_file, tmp_path / "file", progress=False).kept == 6
    with pytest.raises(BagError, match=r"'/nope' is not a sensor_msgs/msg/Image topic .* image topics: "
                                       r"/camera/color/image_raw, /camera/depth/image_rect_raw"):
        extract_images(bag, tmp_path / "x", "/nope", progress=False)
    with pytest.raises(BagError, match="no sensor_msgs/msg/Image topic with a colour encoding"):
        depth_only = tmp_path / "depth_only"
        with Writer(depth_only, version=9) as writer:
            conn = writer.add_connection("/depth", IMAGE, typestore=TYPESTORE)
            writer.write(conn, 1, TYPESTORE.serialize_cdr(
                numpy_to_image(np.ones((4, 4), np.uint16), "16UC1", TYPESTORE.types[IMAGE]), IMAGE))
        extract_images(depth_only, tmp_path / "y", progress=False)
    with pytest.raises(FileNotFoundError, match="bag not found"):
        extract_images(tmp_path / "missing", tmp_path / "z")


def test_corrupt_sqlite_bag_keeps_frames_already_written(tmp_path: Path) -> None:
    moving = [crop(o) for o in range(0, 96, 4)]  # 24 distinct frames
    bag = write_bag(tmp_path / "long", StoragePlugin.SQLITE3, moving)
    corrupt_second_half(bag)
    out = tmp_path / "images"
    with pytest.raises(BagError, match=r"corrupt or unreadable .* frames written to .* were kept") as info:
        extract_images(bag, out, progress=False)
    partial = info.value.summary
    assert partial is not None and 0 < partial.kept < 24
    kept = sorted(out.glob("*.png"))
    assert len(kept) == partial.kept and not list(out.glob("*.part"))
    np.testing.assert_array_equal(np.asarray(Image.open(kept[0])), moving[0])


def test_garbage_and_truncated_bags_raise_bag_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mcap"
    garbage.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(BagError, match="cannot open bag .*garbage.mcap"):
        extract_images(garbage, tmp_path / "a", progress=False)
    bag = write_bag(tmp_path / "cut", StoragePlugin.SQLITE3, recording())
    db = next(bag.glob("*.db3"))
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    with pytest.raises(BagError, match="cut"):
        extract_images(bag, tmp_path / "b", progress=False)


def test_cli_prints_table_and_reports_corruption(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser(prog="ddr")
    bag_cli.register(parser.add_subparsers(dest="command", required=True))
    bag = write_bag(tmp_path / "cli_bag", StoragePlugin.MCAP, recording())
    args = parser.parse_args(["bag", "extract", str(bag), str(tmp_path / "out"), "--min-change", "2.5",
                              "--min-sharpness", "40", "--relative-sharpness", "0.2", "--no-progress"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "kept (written)" in printed and "near-duplicate (change < 2.5)" in printed
    assert "blurry (sharpness < 40 or < 0.2 x recent median)" in printed
    assert len(list((tmp_path / "out").glob("*.png"))) == 6
    broken = write_bag(tmp_path / "broken", StoragePlugin.SQLITE3, [crop(o) for o in range(0, 96, 4)])
    corrupt_second_half(broken)
    args = parser.parse_args(["bag", "extract", str(broken), str(tmp_path / "partial"), "--no-progress"])
    with pytest.raises(BagError, match="CorruptError"):
        args.func(args)
    printed = capsys.readouterr().out  # the partial table is shown before the error
    kept = len(list((tmp_path / "partial").glob("*.png")))
    assert kept > 0 and re.search(rf"kept \(written\)\s+{kept}\n", printed)

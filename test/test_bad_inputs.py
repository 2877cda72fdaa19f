"""Every bad input ``ddr`` is known to meet, in one table: what it exits with and says.

Each row builds its bad input in a fresh folder, runs ``ddr`` in-process, and checks the exit
status, a fragment of the message (stderr or the log), that no traceback was printed, that no
temporary file was left behind and that no file the row protects was changed. A new bad input
is one more row.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import sqlite3
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from dense_descriptor_ros.cli.main import EXIT_BROKEN_PIPE, error_line, main
from dense_descriptor_ros.data.images import read_rgb
from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase
from dense_descriptor_ros.model import save_checkpoint
from helpers import tiny_model

ASTRONAUT = skdata.astronaut()  # 512x512 RGB photo (public domain)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, bit_depth: int, colour_type: int, pixels: bytes) -> bytes:
    """A PNG written by hand: Pillow cannot write 16-bit colour, nor a header that lies."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(pixels))
            + png_chunk(b"IEND", b""))


def png16(values: np.ndarray) -> bytes:
    """A 16-bit grey ``(H, W)`` or RGB ``(H, W, 3)`` PNG of uint16 ``values``."""
    rows = values.reshape(values.shape[0], -1).astype(">u2")
    return png(values.shape[1], values.shape[0], 16, 0 if values.ndim == 2 else 2,
               b"".join(b"\0" + row.tobytes() for row in rows))


def huge_png_header(side: int) -> bytes:
    """A PNG that claims ``side`` x ``side`` pixels and holds almost none: refused from the header,
    it never gets as far as decoding (which would fail on the missing data)."""
    return png(side, side, 8, 2, b"\0" * 16)


def photo(index: int, size: tuple[int, int] = (36, 44)) -> Image.Image:
    y, x = 60 + 37 * index, 90 + 29 * index
    return Image.fromarray(ASTRONAUT[y:y + 120, x:x + 150]).resize(size[::-1])


class Inputs:
    """The files a row needs, made in the row's own folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.protected: dict[Path, bytes] = {}

    def write(self, name: str, content: bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def protect(self, *paths: Path) -> None:
        """Files the command must leave exactly as they are."""
        self.protected.update({p: p.read_bytes() for p in paths})

    # -- checkpoints and matching ----------------------------------------------------------

    @property
    def checkpoint(self) -> Path:
        path = self.root / "model.pt"
        if not path.exists():
            save_checkpoint(path, tiny_model())
        return path

    def checkpoint_without_metadata(self) -> Path:
        path = self.root / "no_metadata.pt"
        torch.save({"format": "dense_descriptor_ros/checkpoint", "version": 1}, path)
        return path

    def match(self, b_png: bytes | None = None, model: Path | None = None, out: Path | None = None,
              pairs: bytes | None = None, **pair: object) -> list[str]:
        """``ddr match`` of one pair a.png -> b.png; ``b_png``: b.png's bytes instead of a photo,
        ``pairs``: the pairs file's bytes, ``pair``: fields replacing the pair's."""
        images = self.root / "images"
        images.mkdir(exist_ok=True)
        photo(0).save(images / "a.png")
        if b_png is None:
            photo(1).save(images / "b.png")
        else:
            (images / "b.png").write_bytes(b_png)
        entry = {"image_a": "a.png", "image_b": "b.png", "queries": [[10, 12], [20, 8]], **pair}
        pairs_file = self.write("pairs.json", pairs or json.dumps({"pairs": [entry]}).encode())
        return ["match", "--model", str(model or self.checkpoint), "--pairs", str(pairs_file),
                "--images", str(images), "--out", str(out or self.root / "predictions.json"), "--device", "cpu"]

    def annotate(self, image: bytes) -> list[str]:
        return ["annotate", "--image", str(self.write("view.png", image)), "--db", str(self.root / "db.sqlite"),
                "--model", str(self.checkpoint), "--object", "box", "--click", "5,5"]

    # -- keypoint databases ----------------------------------------------------------------

    def database(self) -> Path:
        """A keypoint database of three preferences, each on its own image."""
        path = self.root / "keypoints.sqlite"
        rng = np.random.default_rng(0)
        with KeypointDatabase(path) as db:
            for _ in range(3):
                db.add_preferences("box", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8), np.array([[5.0, 5.0]]),
                                   rng.standard_normal((1, 16)).astype(np.float32), "model-hash", "operator")
        return path

    def damaged_database(self) -> Path:
        """A database whose images table's root page is overwritten: it opens, and fails when read."""
        path = self.database()
        with sqlite3.connect(path) as conn:
            root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images'").fetchone()[0]
            page = conn.execute("PRAGMA page_size").fetchone()[0]
        with open(path, "r+b") as fh:
            fh.seek((root - 1) * page)
            fh.write(b"\xff" * page)
        return path

    # -- bags ------------------------------------------------------------------------------

    def undecodable_bag(self) -> Path:
        """An mcap bag whose colour topic's every message has less data than its size says."""
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        from dense_descriptor_ros.messages import numpy_to_image

        typestore, kind = get_typestore(Stores.ROS2_JAZZY), "sensor_msgs/msg/Image"
        path = self.root / "broken_bag"
        with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            colour = writer.add_connection("/camera/color/image_raw", kind, typestore=typestore)
            for i in range(3):
                message = numpy_to_image(np.asarray(photo(i)), "rgb8", typestore.types[kind])
                message.data = message.data[:-7]
                writer.write(colour, 10**9 + i, typestore.serialize_cdr(message, kind))
        return path

    # -- training --------------------------------------------------------------------------

    def photos(self, *extra: tuple[str, bytes]) -> Path:
        """A training folder of four photos plus ``extra`` (name, bytes) files."""
        folder = self.root / "photos"
        folder.mkdir(exist_ok=True)
        for i in range(4):
            photo(i).save(folder / f"photo_{i}.png")
        for name, content in extra:
            (folder / name).write_bytes(content)
        return folder

    def train(self, data: Path | None = None, *options: str) -> list[str]:
        """``ddr train`` of a tiny network for one step into ``run/``."""
        return ["train", "--data", str(data or self.photos()), "--out", str(self.root / "run"),
                "--width", "8", "--descriptor-dim", "16", "--size", "32x40", "--batch-size", "2",
                "--epochs", "1", "--steps-per-epoch", "1", "--workers", "0", "--num-keypoints", "20",
                "--device", "cpu", *options]

    def train_over_finished_run(self, *options: str) -> list[str]:
        """``ddr train`` into ``run/`` as a finished run left it (protected)."""
        self.protect(*(self.write(f"run/{name}", f"{name} of an earlier run".encode())
                       for name in ("best.pt", "last.pt", "last_state.pt", "log.csv")))
        return self.train(None, *options)

    def state(self, content: bytes) -> list[str]:
        """``ddr train --resume`` from a ``last_state.pt`` holding ``content``."""
        self.write("run/last_state.pt", content)
        return self.train(None, "--resume")


def random_bytes(seed: int) -> bytes:
    """Bytes torch.load fails on: seed 0 with UnpicklingError, 17 with IndexError, 62 with KeyError."""
    return np.random.default_rng(seed).bytes(3000)


def truncated_jpeg() -> bytes:
    """A JPEG cut in half: its header checks out, its data does not decode."""
    buffer = io.BytesIO()
    photo(3).save(buffer, format="JPEG")
    return buffer.getvalue()[:-200]


def truncated_state() -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": tiny_model().state_dict(), "epoch": 1}, buffer)
    return buffer.getvalue()[:2000]


GREY16 = png16(np.full((36, 44), 1000, np.uint16))  # what a depth PNG in millimetres looks like


@dataclass
class Case:
    name: str
    argv: Callable[[Inputs], list[str]]
    code: int
    message: str


def slow(case: Case) -> pytest.param:
    """A row that trains for real (a few seconds)."""
    return pytest.param(case, id=case.name, marks=pytest.mark.slow)


CASES = [
    # checkpoints
    Case("checkpoint missing", lambda i: i.match(model=i.root / "none.pt"), 2, "checkpoint not found"),
    Case("checkpoint of random bytes", lambda i: i.match(model=i.write("m.pt", random_bytes(0))), 2,
         "is corrupt"),
    Case("checkpoint of random bytes (IndexError)", lambda i: i.match(model=i.write("m.pt", random_bytes(17))), 2,
         "is corrupt or not a torch file (IndexError"),
    Case("checkpoint of random bytes (KeyError)", lambda i: i.match(model=i.write("m.pt", random_bytes(62))), 2,
         "is corrupt or not a torch file (KeyError"),
    Case("checkpoint a text file", lambda i: i.match(model=i.write("m.pt", b"hello, not a model\n")), 2,
         "is corrupt or not a torch file"),
    Case("checkpoint without metadata", lambda i: i.match(model=i.checkpoint_without_metadata()), 2,
         "lacks its weights or its model metadata"),
    Case("resume without last_state.pt", lambda i: i.train(None, "--resume"), 2,
         os.path.join("run", "last_state.pt") + " not found"),
    Case("last_state.pt of random bytes", lambda i: i.state(random_bytes(0)), 2,
         os.path.join("run", "last_state.pt") + ": the file is truncated"),
    Case("last_state.pt of random bytes (IndexError)", lambda i: i.state(random_bytes(17)), 2,
         os.path.join("run", "last_state.pt") + ": the file is truncated"),
    Case("last_state.pt truncated", lambda i: i.state(truncated_state()), 2,
         os.path.join("run", "last_state.pt") + ": the file is truncated"),
    # images
    Case("image of garbage bytes", lambda i: i.match(b_png=b"GIF89a garbage"), 2, "cannot read image"),
    Case("image a 16-bit grey PNG (depth)", lambda i: i.match(b_png=GREY16), 2,
         "more than 8 bits (mode I;16), most likely depth"),
    Case("image 12000x12000 (under Pillow's limit)", lambda i: i.match(b_png=huge_png_header(12000)), 2,
         "larger than the 16777216 pixels (4096x4096) this package reads"),
    Case("image 20000x20000 (a decompression bomb)", lambda i: i.match(b_png=huge_png_header(20000)), 2,
         "larger than the 16777216 pixels (4096x4096) this package reads"),
    Case("annotate a 16-bit grey PNG", lambda i: i.annotate(GREY16), 2, "more than 8 bits"),
    Case("annotate a 12000x12000 PNG", lambda i: i.annotate(huge_png_header(12000)), 2, "larger than"),
    # pairs files and outputs
    Case("pairs file not JSON", lambda i: i.match(pairs=b"{pairs"), 2, "is not valid JSON"),
    Case("pairs with an absolute image path", lambda i: i.match(image_a="/etc/passwd"), 2,
         "'image_a' must be a path inside the images folder"),
    Case("pairs with a path leaving the images folder", lambda i: i.match(image_b="../model.pt"), 2,
         "'image_b' must be a path inside the images folder"),
    Case("pairs naming a missing image", lambda i: i.match(image_b="gone.png"), 2, "missing from"),
    Case("match --out is a folder", lambda i: i.match(out=i.write("out/keep", b"x").parent), 2, "is a folder"),
    # keypoint databases
    Case("database missing", lambda i: ["db", "list", str(i.root / "none.sqlite")], 2,
         "keypoint database not found"),
    Case("database a text file", lambda i: ["db", "list", str(i.write("db.sqlite", b"hello " * 2000))], 2,
         "is not a usable keypoint database"),
    Case("database damaged, export", lambda i: ["db", "export", str(i.damaged_database()), str(i.root / "e.json")],
         2, "database disk image is malformed"),
    Case("database damaged, list", lambda i: ["db", "list", str(i.damaged_database())], 2,
         "is damaged: images (database disk image is malformed"),
    Case("db export into a folder", lambda i: ["db", "export", str(i.database()),
                                               str(i.write("exports/keep", b"x").parent)], 2, "is a folder"),
    Case("db export over the live database", lambda i: ["db", "export", str(i.database()), str(i.database())], 2,
         "refusing to export to"),
    Case("db reembed with a checkpoint without metadata",
         lambda i: ["db", "reembed", str(i.database()), "--checkpoint", str(i.checkpoint_without_metadata())],
         2, "lacks its weights or its model metadata"),
    Case("db import of a missing file", lambda i: ["db", "import", str(i.root / "k.sqlite"), str(i.root / "no.json")],
         2, "export file not found"),
    # bags
    Case("bag missing", lambda i: ["bag", "extract", str(i.root / "none"), str(i.root / "out")], 2, "bag not found"),
    Case("bag of garbage bytes", lambda i: ["bag", "extract", str(i.write("b.mcap", random_bytes(0))),
                                            str(i.root / "out")], 2, "cannot open bag"),
    Case("bag extract into an existing file", lambda i: ["bag", "extract", str(i.undecodable_bag()),
                                                         str(i.write("out.png", b"x"))], 2,
         "exists and is not a folder"),
    Case("bag with no decodable frame", lambda i: ["bag", "extract", str(i.undecodable_bag()), str(i.root / "out"),
                                                   "--no-progress"], 2,
         "none of the 3 messages of /camera/color/image_raw"),
    Case("synthetic pairs from a folder with a truncated JPEG",
         lambda i: ["pairs", "synthetic", "--images", str(i.photos(("a_cut.jpg", truncated_jpeg()))),
                    "--out", str(i.root / "pairs"), "--size", "32x40", "--queries", "5"], 0,
         "a_cut.jpg: image file is truncated"),
    # training folders and run folders
    Case("training folder missing", lambda i: i.train(i.root / "none"), 2, "image folder not found"),
    slow(Case("training folder's first file corrupt", lambda i: i.train(i.photos(("a_garbage.png", b"garbage"))),
              0, "a_garbage.png: cannot identify image file")),
    slow(Case("training folder with a depth PNG", lambda i: i.train(i.photos(("depth_0.png", GREY16))), 0,
              "most likely depth or infrared")),
    Case("training folder of depth PNGs only",
         lambda i: i.train(i.write("depth/d.png", GREY16).parent), 2, "no readable images"),
    Case("train into a finished run", lambda i: i.train_over_finished_run(), 2,
         "already holds a run (best.pt, last.pt, last_state.pt, log.csv)"),
    Case("train --resume --overwrite", lambda i: i.train(None, "--resume", "--overwrite"), 2, "give one"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) if isinstance(c, Case) else c for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, caplog):
    inputs = Inputs(tmp_path)
    argv = case.argv(inputs)
    code = main(argv)
    output = capsys.readouterr().err + caplog.text
    assert "Traceback" not in output
    assert case.message in output, output[-2000:]
    assert code == case.code, output[-2000:]
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name or p.name.endswith(".part")]
    for path, content in inputs.protected.items():
        assert path.read_bytes() == content, f"{path} was changed"


@pytest.mark.parametrize("error, line", [
    (sqlite3.DatabaseError("database disk image is malformed"),
     "the database is damaged or not a keypoint database: database disk image is malformed"),
    (pickle.UnpicklingError("invalid load key, 'x'."), "not a torch file, or a truncated one: invalid load key, 'x'."),
    (Image.DecompressionBombError("Image size (400000000 pixels) exceeds limit"),
     "image too large: Image size (400000000 pixels) exceeds limit"),
    (KeyError("metadata"), "a file lacks the entry 'metadata': it is truncated or of another kind"),
    (IndexError("list index out of range"), "a file ends early or is of another kind (list index out of range)"),
    (IsADirectoryError(21, "Is a directory", "out"), "[Errno 21] Is a directory: 'out'"),
    (FileExistsError(17, "File exists", "out.png"), "[Errno 17] File exists: 'out.png'"),
    (RuntimeError("the first line says it\nthe rest is detail"), "the first line says it"),
    (ZeroDivisionError(), None),  # a bug: its traceback is shown
])
def test_each_error_a_bad_input_lets_through_is_one_line(error, line):
    assert error_line(error) == line


@pytest.mark.slow
def test_overwrite_replaces_a_finished_run(tmp_path):
    assert main(Inputs(tmp_path).train_over_finished_run("--overwrite")) == 0
    assert (tmp_path / "run" / "log.csv").read_text().startswith("epoch,")


def test_sixteen_bit_colour_is_reduced_to_eight_bits(tmp_path):
    values = np.zeros((4, 6, 3), np.uint16)
    values[..., 0], values[..., 1], values[..., 2] = 0x8000, 0x00FF, 0xFFFF
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(values))
    assert read_rgb(path)[0, 0].tolist() == [0x80, 0x00, 0xFF]


def test_output_cut_off_by_its_reader_ends_quietly(tmp_path):
    """``ddr db list | head``: the reader has gone before ddr writes; no error, no traceback."""
    database = Inputs(tmp_path).database()
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "dense_descriptor_ros.cli.main", "db", "list", str(database)],
                          stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write_end)
    assert done.returncode == EXIT_BROKEN_PIPE
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr

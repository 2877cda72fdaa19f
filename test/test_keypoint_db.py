"""Keypoint database: schema, model hashes, crashes, concurrency, export/import, re-embedding, CLI."""
from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from dense_descriptor_ros.cli import db as db_cli
from dense_descriptor_ros.grasping.keypoint_db import (MIGRATIONS, SCHEMA_VERSION, EmptyDatabaseError,
                                                       KeypointDatabase, KeypointDatabaseError,
                                                       ModelMismatchError, UnknownObjectError)
from dense_descriptor_ros.geometry.camera import PixelOutsideImageError
from dense_descriptor_ros.model import DescriptorModel, DescriptorNet, ModelConfig, save_checkpoint
from dense_descriptor_ros.model.checkpoint import file_hash

D = 16
HASH = "a" * 64
OTHER_HASH = "b" * 64


def random_image(seed: int, shape: tuple[int, int] = (24, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def random_descriptors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, D)).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def db(tmp_path: Path) -> KeypointDatabase:
    with KeypointDatabase(tmp_path / "keypoints.sqlite") as database:
        yield database


def test_new_database_has_schema_wal_and_foreign_keys(db: KeypointDatabase) -> None:
    assert db.schema_version == SCHEMA_VERSION >= 1
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"objects", "images", "preferences", "axis_keypoints"} <= tables
    assert db._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db._conn.execute("INSERT INTO preferences(object_id, image_id, x, y, descriptor, model_hash, "
                         "annotator, created) VALUES (99, 99, 0, 0, x'00', 'h', 'me', 'now')")
    assert db.integrity_check() == "ok"


def test_newer_schema_and_foreign_files_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(KeypointDatabaseError, match="newer than this code"):
        KeypointDatabase(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(KeypointDatabaseError, match="not a usable keypoint database"):
        KeypointDatabase(junk)
    with pytest.raises(FileNotFoundError, match="ddr db init"):
        KeypointDatabase(tmp_path / "missing.sqlite", create=False)


def test_preferences_round_trip_per_object(db: KeypointDatabase) -> None:
    image = random_image(0)
    box = random_descriptors(3, 1)
    ids = db.add_preferences("box", image, [[1, 2], [30.5, 20], [0, 23]], box, HASH, "alice")
    db.add_preferences("can", image, [[5, 5]], random_descriptors(1, 2), HASH, "bob", image_path="ref.png")
    assert len(ids) == 3
    found = db.preference_descriptors(HASH)
    assert set(found) == {"box", "can"} and found["box"].shape == (3, D)
    np.testing.assert_allclose(found["box"].numpy(), unit(box), rtol=1e-6)
    assert set(db.preference_descriptors(HASH, objects=["can"])) == {"can"}
    records = db.records()
    assert [r.xy for r in records if r.object == "box"] == [(1.0, 2.0), (30.5, 20.0), (0.0, 23.0)]
    assert {r.annotator for r in records} == {"alice", "bob"}
    assert count(db.path, "images") == 1  # same image stored once
    np.testing.assert_array_equal(db.image(records[0].image_id), image)
    assert db.model_hashes() == {HASH}


def test_clicking_a_stored_pixel_again_replaces_it(db: KeypointDatabase) -> None:
    image = random_image(0)
    first = db.add_preferences("box", image, [[3, 4]], random_descriptors(1, 1), HASH, "alice")
    second = db.add_preferences("box", image, [[3, 4]], random_descriptors(1, 2), HASH, "bob")
    assert first == second
    np.testing.assert_allclose(db.preference_descriptors(HASH)["box"].numpy(), unit(random_descriptors(1, 2)),
                               rtol=1e-6)


def test_model_mismatch_is_refused_with_both_hashes_and_the_fix(db: KeypointDatabase) -> None:
    db.add_preferences("box", random_image(0), [[1, 1]], random_descriptors(1, 0), HASH, "alice")
    with pytest.raises(ModelMismatchError) as info:
        db.preference_descriptors(OTHER_HASH)
    message = str(info.value)
    assert HASH in message and OTHER_HASH in message and f"ddr db reembed {db.path}" in message
    with pytest.raises(ModelMismatchError):
        db.add_preferences("box", random_image(1), [[2, 2]], random_descriptors(1, 1), OTHER_HASH, "bob")
    with pytest.raises(ModelMismatchError):
        db.axis_descriptors(OTHER_HASH, "box")
    assert count(db.path, "preferences") == 1 and count(db.path, "images") == 1  # nothing written


def test_empty_database_and_unknown_objects(db: KeypointDatabase) -> None:
    with pytest.raises(EmptyDatabaseError, match="no grasp preferences"):
        db.preference_descriptors(HASH)
    db.add_preferences("box", random_image(0), [[1, 1]], random_descriptors(1, 0), HASH, "alice")
    with pytest.raises(UnknownObjectError, match="'ghost'"):
        db.preference_descriptors(HASH, objects=["ghost"])
    with pytest.raises(EmptyDatabaseError, match="no axis keypoints"):
        db.axis_descriptors(HASH, "box")
    db.remove_object("box")
    with pytest.raises(EmptyDatabaseError):
        db.preference_descriptors(HASH)
    with pytest.raises(UnknownObjectError):
        db.remove_object("box")


def test_bad_inputs_are_refused_and_write_nothing(db: KeypointDatabase) -> None:
    image = random_image(0)
    with pytest.raises(PixelOutsideImageError, match=r"pixel \(32, 5\) is outside the 32x24 image"):
        db.add_preferences("box", image, [[1, 1], [32, 5]], random_descriptors(2, 0), HASH, "alice")
    with pytest.raises(PixelOutsideImageError):
        db.add_preferences("box", image, [[-1, 1]], random_descriptors(1, 0), HASH, "alice")
    with pytest.raises(ValueError, match=r"shape \(2, D\)"):
        db.add_preferences("box", image, [[1, 1], [2, 2]], random_descriptors(3, 0), HASH, "alice")
    with pytest.raises(ValueError, match="finite"):
        db.add_preferences("box", image, [[1, 1]], np.full((1, D), np.nan), HASH, "alice")
    with pytest.raises(ValueError, match="RGB image"):
        db.add_preferences("box", image[..., 0], [[1, 1]], random_descriptors(1, 0), HASH, "alice")
    with pytest.raises(ValueError, match="object name"):
        db.add_preferences("", image, [[1, 1]], random_descriptors(1, 0), HASH, "alice")
    with pytest.raises(ValueError, match="exactly 2 axis keypoints"):
        db.set_axis_keypoints("box", image, [[1, 1]], random_descriptors(1, 0), HASH, "alice")
    assert db.objects() == [] and count(db.path, "images") == 0
    db.add_preferences("box", image, [[1, 1]], random_descriptors(1, 0), HASH, "alice")
    with pytest.raises(ValueError, match="dimension 8"):
        db.add_preferences("box", image, [[2, 2]], np.ones((1, 8)), HASH, "alice")


def test_axis_keypoints_are_stored_in_order_and_replaced(db: KeypointDatabase) -> None:
    first = random_descriptors(2, 5)
    db.set_axis_keypoints("mug", random_image(0), [[3, 4], [20, 10]], first, HASH, "alice")
    np.testing.assert_allclose(db.axis_descriptors(HASH, "mug").numpy(), unit(first), rtol=1e-6)
    second = random_descriptors(2, 6)
    db.set_axis_keypoints("mug", random_image(1), [[5, 6], [7, 8]], second, HASH, "bob")
    np.testing.assert_allclose(db.axis_descriptors(HASH, "mug").numpy(), unit(second), rtol=1e-6)
    assert [(r.role, r.xy) for r in db.records()] == [("axis_a", (5.0, 6.0)), ("axis_b", (7.0, 8.0))]


def test_the_annotated_face_width_is_stored_with_the_axis_and_replaced_with_it(db: KeypointDatabase) -> None:
    db.set_axis_keypoints("mug", random_image(0), [[3, 4], [20, 10]], random_descriptors(2, 5), HASH, "alice",
                          face_width=0.042)
    assert db.axis_face_width("mug") == pytest.approx(0.042)
    db.set_axis_keypoints("mug", random_image(1), [[5, 6], [7, 8]], random_descriptors(2, 6), HASH, "bob")
    assert db.axis_face_width("mug") is None  # re-annotated without depth: no longer known
    with pytest.raises(ValueError, match="face width must be > 0"):
        db.set_axis_keypoints("mug", random_image(1), [[5, 6], [7, 8]], random_descriptors(2, 6), HASH, "bob",
                              face_width=0.0)
    assert db.axis_face_width("mug") is None  # the refused write left nothing
    with pytest.raises(UnknownObjectError):
        db.axis_face_width("cup")


def test_a_version_1_database_gains_the_face_width_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as conn:
        MIGRATIONS[0](conn)
        conn.execute("INSERT INTO objects(name) VALUES ('mug')")
        conn.execute("PRAGMA user_version = 1")
    with KeypointDatabase(path) as db:
        assert db.schema_version == SCHEMA_VERSION == 2
        assert db.objects() == ["mug"] and db.axis_face_width("mug") is None


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from dense_descriptor_ros.grasping import keypoint_db

    path, committed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    db = keypoint_db.KeypointDatabase(path)
    for i in range(committed):
        db.add_preferences("box", image, [[i % 32, i // 32]], rng.normal(size=(1, 16)), "h" * 64, "writer")

    original, calls = keypoint_db.descriptor_to_blob, []
    def stall_after_first_row(descriptor):
        calls.append(1)
        if len(calls) == 2:  # row 1 of this transaction is inserted, row 2 is not
            print("mid-transaction", flush=True)
            time.sleep(600)
        return original(descriptor)
    keypoint_db.descriptor_to_blob = stall_after_first_row
    db.add_preferences("mug", image[::-1].copy(), [[1, 5], [2, 5], [3, 5]], rng.normal(size=(3, 16)),
                       "h" * 64, "writer")
""")


def test_killed_writer_loses_no_committed_row_and_leaves_no_partial_one(tmp_path: Path) -> None:
    path, committed = tmp_path / "crash.sqlite", 20
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(committed)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "mid-transaction", child.stderr.read()
        with KeypointDatabase(path) as reader:  # reads while the writer holds its transaction open
            assert reader.preference_descriptors("h" * 64)["box"].shape == (committed, D)
            assert reader.objects() == ["box"]
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
    with KeypointDatabase(path) as db:
        assert db.integrity_check() == "ok"
        assert db.objects() == ["box"]  # the killed transaction's object, image and row are gone
        assert count(path, "images") == 1 and count(path, "preferences") == committed
        rng = np.random.default_rng(0)
        rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        expected = unit(np.concatenate([rng.normal(size=(1, 16)) for _ in range(committed)]))
        np.testing.assert_allclose(db.preference_descriptors("h" * 64)["box"].numpy(), expected, rtol=1e-6)
        db.add_preferences("mug", random_image(3), [[1, 1]], random_descriptors(1, 0), "h" * 64, "next")
        assert db.objects() == ["box", "mug"]  # the lock died with the writer


def test_readers_run_while_two_writers_write(tmp_path: Path) -> None:
    path, per_writer = tmp_path / "busy.sqlite", 25
    KeypointDatabase(path).close()
    errors: list[BaseException] = []

    def write(name: str, seed: int) -> None:
        try:
            with KeypointDatabase(path) as writer:
                for i in range(per_writer):
                    writer.add_preferences(name, random_image(seed), [[i, 0]], random_descriptors(1, i),
                                           HASH, name)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(name, seed)) for seed, name in enumerate(("box", "can"))]
    for thread in writers:
        thread.start()
    seen = []
    with KeypointDatabase(path) as reader:
        while any(thread.is_alive() for thread in writers):
            try:
                seen.append(sum(len(v) for v in reader.preference_descriptors(HASH).values()))
            except EmptyDatabaseError:
                seen.append(0)
        for thread in writers:
            thread.join()
        final = reader.preference_descriptors(HASH)
    assert not errors, errors
    assert {name: len(v) for name, v in final.items()} == {"box": per_writer, "can": per_writer}
    assert seen == sorted(seen) and len(seen) > 1  # reads went on during the writes, never backwards


def test_one_database_object_is_shared_safely_by_threads(db: KeypointDatabase) -> None:
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for i in range(20):
                db.add_preferences(name, random_image(0), [[i, 1]], random_descriptors(1, i), HASH, name)
                db.records()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("box", "can")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert {name: len(v) for name, v in db.preference_descriptors(HASH).items()} == {"box": 20, "can": 20}


def fill(db: KeypointDatabase) -> None:
    db.add_preferences("box", random_image(0), [[1, 2], [3, 4]], random_descriptors(2, 0), HASH, "alice")
    db.add_preferences("can", random_image(1), [[5.5, 6]], random_descriptors(1, 1), HASH, "bob")
    db.set_axis_keypoints("can", random_image(0), [[7, 8], [9, 10]], random_descriptors(2, 2), HASH, "bob",
                          face_width=0.066)


def test_export_import_round_trip(db: KeypointDatabase, tmp_path: Path) -> None:
    fill(db)
    exported = db.export_json(tmp_path / "out" / "keypoints.json")
    document = json.loads(exported.read_text())
    assert document["format"] == "ddr-keypoint-db" and len(document["keypoints"]) == 5
    assert document["axis_face_widths"] == {"can": pytest.approx(0.066)}
    with KeypointDatabase(tmp_path / "copy.sqlite") as copy:
        assert copy.import_json(exported) == 5
        assert copy.axis_face_width("can") == pytest.approx(0.066)
        copy.import_json(exported)  # importing again changes nothing
        for original, imported in zip(db.records(), copy.records(), strict=True):
            assert (original.object, original.role, original.xy, original.model_hash, original.annotator,
                    original.created) == (imported.object, imported.role, imported.xy, imported.model_hash,
                                          imported.annotator, imported.created)
            assert original.descriptor.tobytes() == imported.descriptor.tobytes()
            np.testing.assert_array_equal(db.image(original.image_id), copy.image(imported.image_id))
        assert count(copy.path, "images") == 2 and count(copy.path, "preferences") == 3


def test_import_refuses_corrupt_files_and_other_models(db: KeypointDatabase, tmp_path: Path) -> None:
    fill(db)
    exported = db.export_json(tmp_path / "keypoints.json")
    document = json.loads(exported.read_text())
    document["images"][1]["sha256"] = "0" * 64
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(json.dumps(document))
    with KeypointDatabase(tmp_path / "fresh.sqlite") as fresh:
        with pytest.raises(ValueError, match="does not match its sha256"):
            fresh.import_json(corrupt)
        assert fresh.objects() == [] and count(fresh.path, "images") == 0  # one transaction, rolled back
        fresh.add_preferences("box", random_image(5), [[1, 1]], random_descriptors(1, 0), OTHER_HASH, "eve")
        with pytest.raises(ModelMismatchError):
            fresh.import_json(exported)
        del document["keypoints"]
        corrupt.write_text(json.dumps(document))
        with pytest.raises(ValueError, match="lacks"):
            fresh.import_json(corrupt)
        corrupt.write_text("{")
        with pytest.raises(ValueError, match="not valid JSON"):
            fresh.import_json(corrupt)


def tiny_model(seed: int) -> DescriptorNet:
    torch.manual_seed(seed)
    return DescriptorNet(ModelConfig(width=8, descriptor_dim=D)).eval()


def test_reembed_recomputes_every_descriptor_from_the_stored_images(db: KeypointDatabase) -> None:
    old, new = tiny_model(0), tiny_model(1)
    image_a, image_b = random_image(0, (40, 48)), random_image(1, (40, 48))
    clicks = np.array([[3.0, 4.0], [40.0, 30.0]])
    db.add_preferences("box", image_a, clicks, DescriptorModel.of(old).describe_pixels(image_a, clicks), HASH, "alice")
    db.set_axis_keypoints("box", image_b, clicks, DescriptorModel.of(old).describe_pixels(image_b, clicks), HASH, "alice")
    assert db.reembed(DescriptorModel.of(new, OTHER_HASH)) == 4
    with pytest.raises(ModelMismatchError):
        db.preference_descriptors(HASH)
    np.testing.assert_allclose(db.preference_descriptors(OTHER_HASH)["box"].numpy(),
                               DescriptorModel.of(new).describe_pixels(image_a, clicks), atol=1e-6)
    np.testing.assert_allclose(db.axis_descriptors(OTHER_HASH, "box").numpy(),
                               DescriptorModel.of(new).describe_pixels(image_b, clicks), atol=1e-6)
    assert not np.allclose(DescriptorModel.of(old).describe_pixels(image_a, clicks), DescriptorModel.of(new).describe_pixels(image_a, clicks))


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ddr")
    db_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_init_list_export_import_reembed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "cli.sqlite"
    assert run_cli("db", "init", str(path)) == 0
    with KeypointDatabase(path) as db:
        fill(db)
    assert run_cli("db", "list", str(path)) == 0
    listing = capsys.readouterr().out
    assert "box: 2 preferences, axis keypoints: no" in listing
    assert "can: 1 preferences, axis keypoints: yes (face 66.0 mm across)" in listing and HASH in listing
    assert run_cli("db", "export", str(path), str(tmp_path / "dump.json")) == 0
    assert run_cli("db", "import", str(tmp_path / "copy.sqlite"), str(tmp_path / "dump.json")) == 0
    checkpoint = save_checkpoint(tmp_path / "model.pt", tiny_model(2))
    assert run_cli("db", "reembed", str(tmp_path / "copy.sqlite"), "--checkpoint", str(checkpoint)) == 0
    with KeypointDatabase(tmp_path / "copy.sqlite") as copy:
        assert copy.model_hashes() == {file_hash(checkpoint)}
    with pytest.raises(FileNotFoundError):
        run_cli("db", "list", str(tmp_path / "missing.sqlite"))

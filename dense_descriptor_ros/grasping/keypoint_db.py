"""Keypoint database: where operators want objects grasped, as descriptors, in one SQLite file.

An annotation is a clicked pixel of a stored source image plus the descriptor the model gave
that pixel. Each descriptor records the hash of the model (checkpoint file) that made it:
descriptors of different models live in different spaces, so querying with another model is
refused, and :meth:`KeypointDatabase.reembed` recomputes every descriptor from the stored
images (PNG bytes in the file, so the database is self-contained). The database is a pure
store: it runs no network; descriptors come from :class:`~dense_descriptor_ros.model.DescriptorModel`.

Concurrency and crashes: WAL journal, a busy timeout, every write one ``BEGIN IMMEDIATE``
transaction with ``synchronous=FULL``; readers never block the one writer, and a writer killed
mid-transaction leaves every committed row and no partial one.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from dense_descriptor_ros.data.documents import read_document
from dense_descriptor_ros.data.images import check_rgb
from dense_descriptor_ros.geometry.camera import require_pixels_inside

if TYPE_CHECKING:  # the store only calls a model handed to reembed
    from dense_descriptor_ros.model.descriptor_model import DescriptorModel

EXPORT_FORMAT = "ddr-keypoint-db"
EXPORT_VERSION = 1
AXIS_ROLES = ("axis_a", "axis_b")
PREFERENCE = "preference"
SQLITE_FILES = ("", "-wal", "-shm", "-journal")  # the database and what SQLite keeps beside it


class KeypointDatabaseError(RuntimeError):
    """The keypoint database cannot do what was asked."""


class ModelMismatchError(KeypointDatabaseError):
    """Stored descriptors were made by another model than the one in use."""


class EmptyDatabaseError(KeypointDatabaseError):
    """No annotation to build a heatmap or grasp from."""


class UnknownObjectError(KeypointDatabaseError):
    """An object (or image) name or id that the database does not hold."""


def _create_schema_v1(conn: sqlite3.Connection) -> None:
    statements = (
        """CREATE TABLE objects (
               id INTEGER PRIMARY KEY,
               name TEXT NOT NULL UNIQUE CHECK (length(name) > 0))""",
        """CREATE TABLE images (
               id INTEGER PRIMARY KEY,
               path TEXT,
               sha256 TEXT NOT NULL UNIQUE,
               width INTEGER NOT NULL CHECK (width > 0),
               height INTEGER NOT NULL CHECK (height > 0),
               png BLOB NOT NULL,
               created TEXT NOT NULL)""",
        """CREATE TABLE preferences (
               id INTEGER PRIMARY KEY,
               object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
               image_id INTEGER NOT NULL REFERENCES images(id),
               x REAL NOT NULL, y REAL NOT NULL,
               descriptor BLOB NOT NULL,
               model_hash TEXT NOT NULL,
               annotator TEXT NOT NULL,
               created TEXT NOT NULL,
               UNIQUE (object_id, image_id, x, y))""",
        """CREATE TABLE axis_keypoints (
               id INTEGER PRIMARY KEY,
               object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
               role TEXT NOT NULL CHECK (role IN ('axis_a', 'axis_b')),
               image_id INTEGER NOT NULL REFERENCES images(id),
               x REAL NOT NULL, y REAL NOT NULL,
               descriptor BLOB NOT NULL,
               model_hash TEXT NOT NULL,
               annotator TEXT NOT NULL,
               created TEXT NOT NULL,
               UNIQUE (object_id, role))""",
        "CREATE INDEX preferences_object ON preferences(object_id)",
    )
    for statement in statements:
        conn.execute(statement)


def _add_axis_face_width(conn: sqlite3.Connection) -> None:
    """v2: the width of the face the axis keypoints were clicked on, across the axis, as depth
    measured it at annotation (metres; NULL where there was no depth)."""
    conn.execute("ALTER TABLE objects ADD COLUMN axis_face_width REAL "
                 "CHECK (axis_face_width IS NULL OR axis_face_width > 0)")


# MIGRATIONS[v] brings a database from schema version v to v + 1 (PRAGMA user_version).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_schema_v1, _add_axis_face_width)
SCHEMA_VERSION = len(MIGRATIONS)

# Both keypoint tables, read as one: role is 'preference' for preference rows.
KEYPOINTS_SQL = """
    SELECT 'preferences' AS tbl, p.id, o.name, 'preference' AS role, p.image_id, p.x, p.y,
           p.descriptor, p.model_hash, p.annotator, p.created
      FROM preferences p JOIN objects o ON o.id = p.object_id
    UNION ALL
    SELECT 'axis_keypoints', a.id, o.name, a.role, a.image_id, a.x, a.y,
           a.descriptor, a.model_hash, a.annotator, a.created
      FROM axis_keypoints a JOIN objects o ON o.id = a.object_id
"""


def descriptor_to_blob(descriptor: np.ndarray) -> bytes:
    """A descriptor ``(D,)`` as little-endian float32 bytes."""
    return np.asarray(descriptor, dtype="<f4").tobytes()


def blob_to_descriptor(blob: bytes) -> np.ndarray:
    """Inverse of :func:`descriptor_to_blob`: ``(D,)`` float32."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def encode_png(image: np.ndarray) -> bytes:
    """An RGB ``(H, W, 3)`` uint8 image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> RGB ``(H, W, 3)`` uint8."""
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, eq=False)
class KeypointRecord:
    """One stored keypoint: a preference (``role == 'preference'``) or an axis keypoint."""

    id: int
    object: str
    role: str
    image_id: int
    xy: tuple[float, float]
    descriptor: np.ndarray
    model_hash: str
    annotator: str
    created: str


class KeypointDatabase:
    """The keypoint database file at ``path`` (created with its schema when ``create``)."""

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"keypoint database not found: {self.path} "
                                    f"(create it with: ddr db init {self.path})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per object, shareable across threads (ROS executors): the lock
        # serialises its transactions; other processes and objects coordinate through SQLite.
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = FULL")
            if self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise KeypointDatabaseError(f"{self.path}: the file system does not support "
                                            "SQLite's WAL journal")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise KeypointDatabaseError(f"{self.path} is not a usable keypoint database: {exc}") from exc
        except KeypointDatabaseError:
            self._conn.close()
            raise

    # -- connection and transactions -------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "KeypointDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` for writes (one writer at a time), a consistent
        snapshot for reads; rolled back on any error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:  # a page damaged after the file opened
                raise KeypointDatabaseError(f"keypoint database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Bring the schema up to date; takes the write lock only when there is work to do."""
        if self.schema_version == SCHEMA_VERSION:
            return
        with self._transaction(write=True) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KeypointDatabaseError(
                    f"{self.path} has schema version {version}, newer than this code's "
                    f"{SCHEMA_VERSION}; update dense_descriptor_ros to read it")
            for migrate in MIGRATIONS[version:]:
                migrate(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: ``'ok'`` or a list of problems."""
        with self._lock:
            return "\n".join(row[0] for row in self._conn.execute("PRAGMA integrity_check"))

    # -- model hashes ----------------------------------------------------------------------

    def _stored_models(self, conn: sqlite3.Connection) -> set[str]:
        rows = conn.execute("SELECT model_hash FROM preferences UNION SELECT model_hash FROM axis_keypoints")
        return {row[0] for row in rows}

    def _require_model(self, conn: sqlite3.Connection, model_hash: str) -> None:
        stored = self._stored_models(conn) - {model_hash}
        if stored:
            raise ModelMismatchError(
                f"keypoint database {self.path} holds descriptors made by model "
                f"{', '.join(sorted(stored))}, but model {model_hash} is in use; its descriptors are "
                f"not comparable. Re-embed the stored annotations with the model in use: "
                f"ddr db reembed {self.path} --checkpoint <checkpoint with hash {model_hash}>")

    def model_hashes(self) -> set[str]:
        """Hashes of the models whose descriptors are stored (one, or none when empty)."""
        with self._transaction(write=False) as conn:
            return self._stored_models(conn)

    # -- writes ----------------------------------------------------------------------------

    def _object_id(self, conn: sqlite3.Connection, name: str) -> int:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"an object name must be a non-empty string, got {name!r}")
        conn.execute("INSERT INTO objects(name) VALUES (?) ON CONFLICT(name) DO NOTHING", (name,))
        return conn.execute("SELECT id FROM objects WHERE name = ?", (name,)).fetchone()[0]

    def _image_id(self, conn: sqlite3.Connection, png: bytes, width: int, height: int,
                  path: str | None, created: str | None = None) -> int:
        sha = hashlib.sha256(png).hexdigest()
        conn.execute("INSERT INTO images(path, sha256, width, height, png, created) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING",
                     (path, sha, width, height, png, created or _now()))
        return conn.execute("SELECT id FROM images WHERE sha256 = ?", (sha,)).fetchone()[0]

    def _check_descriptors(self, conn: sqlite3.Connection, descriptors: np.ndarray, count: int,
                           model_hash: str) -> np.ndarray:
        descriptors = np.asarray(descriptors, dtype=np.float32)
        if descriptors.ndim != 2 or descriptors.shape[0] != count or descriptors.shape[1] < 1:
            raise ValueError(f"expected descriptors of shape ({count}, D), got {descriptors.shape}")
        norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
        if not np.all(np.isfinite(descriptors)) or np.any(norms == 0):
            raise ValueError("descriptors must be finite and non-zero")
        if not isinstance(model_hash, str) or not model_hash:
            raise ValueError(f"a model hash (checkpoint file_hash) is required, got {model_hash!r}")
        self._require_model(conn, model_hash)
        stored = conn.execute("SELECT length(descriptor) FROM preferences UNION "
                              "SELECT length(descriptor) FROM axis_keypoints").fetchall()
        if stored and {row[0] for row in stored} != {4 * descriptors.shape[1]}:
            raise ValueError(f"descriptors of dimension {descriptors.shape[1]} do not fit the stored "
                             f"ones of dimension {stored[0][0] // 4}")
        return descriptors / norms

    def add_preferences(self, object_name: str, image: np.ndarray, pixels: np.ndarray,
                        descriptors: np.ndarray, model_hash: str, annotator: str,
                        image_path: str | None = None) -> list[int]:
        """Store grasp preferences: pixels ``(N, 2)`` (x, y) of RGB ``image (H, W, 3)`` with their
        descriptors ``(N, D)`` (stored unit-normalised). One transaction; returns the row ids.
        Clicking a stored pixel again replaces its row."""
        image = check_rgb(image)
        xy = require_pixels_inside(pixels, image.shape[1], image.shape[0])
        png = encode_png(image)
        created = _now()
        with self._transaction(write=True) as conn:
            unit = self._check_descriptors(conn, descriptors, len(xy), model_hash)
            object_id = self._object_id(conn, object_name)
            image_id = self._image_id(conn, png, image.shape[1], image.shape[0], image_path)
            ids = []
            for (x, y), descriptor in zip(xy, unit):
                ids.append(self._upsert_preference(conn, object_id, image_id, float(x), float(y),
                                                   descriptor_to_blob(descriptor), model_hash, annotator,
                                                   created))
            return ids

    def set_axis_keypoints(self, object_name: str, image: np.ndarray, pixels: np.ndarray,
                           descriptors: np.ndarray, model_hash: str, annotator: str,
                           image_path: str | None = None, face_width: float | None = None) -> None:
        """Store (replace) the object's two axis keypoints: pixels ``(2, 2)`` rows a, b of RGB
        ``image (H, W, 3)`` and their descriptors ``(2, D)``, with the width (m) of the face
        they lie on across their axis when depth measured it (``grasping.oriented.
        annotated_face_width``; None: unknown). One transaction."""
        image = check_rgb(image)
        xy = require_pixels_inside(pixels, image.shape[1], image.shape[0])
        if len(xy) != 2:
            raise ValueError(f"an oriented grasp needs exactly 2 axis keypoints, got {len(xy)}")
        if face_width is not None and not face_width > 0:
            raise ValueError(f"the annotated face width must be > 0 m, got {face_width}")
        png = encode_png(image)
        created = _now()
        with self._transaction(write=True) as conn:
            unit = self._check_descriptors(conn, descriptors, 2, model_hash)
            object_id = self._object_id(conn, object_name)
            image_id = self._image_id(conn, png, image.shape[1], image.shape[0], image_path)
            for role, (x, y), descriptor in zip(AXIS_ROLES, xy, unit):
                self._upsert_axis(conn, object_id, role, image_id, float(x), float(y),
                                  descriptor_to_blob(descriptor), model_hash, annotator, created)
            conn.execute("UPDATE objects SET axis_face_width = ? WHERE id = ?", (face_width, object_id))

    @staticmethod
    def _upsert_preference(conn: sqlite3.Connection, *values: object) -> int:
        return conn.execute(
            "INSERT INTO preferences(object_id, image_id, x, y, descriptor, model_hash, annotator, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(object_id, image_id, x, y) DO UPDATE SET "
            "descriptor = excluded.descriptor, model_hash = excluded.model_hash, "
            "annotator = excluded.annotator, created = excluded.created RETURNING id", values).fetchone()[0]

    @staticmethod
    def _upsert_axis(conn: sqlite3.Connection, *values: object) -> None:
        conn.execute(
            "INSERT INTO axis_keypoints(object_id, role, image_id, x, y, descriptor, model_hash, annotator, "
            "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(object_id, role) DO UPDATE SET "
            "image_id = excluded.image_id, x = excluded.x, y = excluded.y, descriptor = excluded.descriptor, "
            "model_hash = excluded.model_hash, annotator = excluded.annotator, created = excluded.created",
            values)

    def remove_object(self, object_name: str) -> None:
        """Delete an object and all its keypoints (images stay for other objects)."""
        with self._transaction(write=True) as conn:
            if conn.execute("DELETE FROM objects WHERE name = ?", (object_name,)).rowcount == 0:
                raise UnknownObjectError(f"no object {object_name!r} in {self.path}")

    def remove_preferences(self, ids: list[int]) -> int:
        """Delete grasp preferences by row id (an operator's undo); returns how many existed."""
        with self._transaction(write=True) as conn:
            return sum(conn.execute("DELETE FROM preferences WHERE id = ?", (int(i),)).rowcount for i in ids)

    def clear_preferences(self, object_name: str) -> int:
        """Delete every grasp preference of an object (its axis keypoints stay); returns the count."""
        with self._transaction(write=True) as conn:
            return conn.execute("DELETE FROM preferences WHERE object_id = "
                                "(SELECT id FROM objects WHERE name = ?)", (object_name,)).rowcount

    # -- reads -----------------------------------------------------------------------------

    def objects(self) -> list[str]:
        with self._transaction(write=False) as conn:
            return [row[0] for row in conn.execute("SELECT name FROM objects ORDER BY name")]

    def records(self) -> list[KeypointRecord]:
        """Every stored keypoint, of any model, ordered by object, role and id."""
        with self._transaction(write=False) as conn:
            return self._records(conn)

    @staticmethod
    def _records(conn: sqlite3.Connection) -> list[KeypointRecord]:
        rows = conn.execute(KEYPOINTS_SQL + " ORDER BY 3, 4, 2").fetchall()
        return [KeypointRecord(row[1], row[2], row[3], row[4], (row[5], row[6]), blob_to_descriptor(row[7]),
                               row[8], row[9], row[10]) for row in rows]

    def image(self, image_id: int) -> np.ndarray:
        """The stored source image ``(H, W, 3)`` uint8."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT png FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise UnknownObjectError(f"no image {image_id} in {self.path}")
        return decode_png(row[0])

    def preference_descriptors(self, model_hash: str, objects: list[str] | None = None) -> dict[str, Tensor]:
        """``{object: descriptors (H_o, D)}`` of the grasp preferences, for heatmaps.

        Raises ModelMismatchError when they were made by another model, EmptyDatabaseError when
        there are none (for the requested ``objects``), UnknownObjectError for an unknown object.
        """
        with self._transaction(write=False) as conn:
            self._require_model(conn, model_hash)
            known = {row[0] for row in conn.execute("SELECT name FROM objects")}
            unknown = sorted(set(objects or ()) - known)
            if unknown:
                raise UnknownObjectError(f"no object {', '.join(map(repr, unknown))} in {self.path}; "
                                         f"known: {sorted(known)}")
            rows = conn.execute("SELECT o.name, p.descriptor FROM preferences p JOIN objects o "
                                "ON o.id = p.object_id ORDER BY o.name, p.id").fetchall()
        grouped: dict[str, list[np.ndarray]] = {}
        for name, blob in rows:
            if objects is None or name in objects:
                grouped.setdefault(name, []).append(blob_to_descriptor(blob))
        if not grouped:
            raise EmptyDatabaseError(f"keypoint database {self.path} has no grasp preferences"
                                     + (f" for {objects}" if objects else "")
                                     + "; annotate some first (ddr annotate)")
        return {name: torch.from_numpy(np.stack(found)) for name, found in grouped.items()}

    def axis_descriptors(self, model_hash: str, object_name: str) -> Tensor:
        """The object's axis keypoint descriptors ``(2, D)`` (rows a, b) for an oriented grasp."""
        with self._transaction(write=False) as conn:
            self._require_model(conn, model_hash)
            rows = conn.execute("SELECT a.role, a.descriptor FROM axis_keypoints a JOIN objects o "
                                "ON o.id = a.object_id WHERE o.name = ? ORDER BY a.role",
                                (object_name,)).fetchall()
        if [role for role, _ in rows] != list(AXIS_ROLES):
            raise EmptyDatabaseError(f"object {object_name!r} has no axis keypoints in {self.path}; "
                                     "annotate both axis_a and axis_b first")
        return torch.from_numpy(np.stack([blob_to_descriptor(blob) for _, blob in rows]))

    def axis_objects(self) -> list[str]:
        """The objects that have both axis keypoints, by name."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT o.name FROM axis_keypoints a JOIN objects o ON o.id = a.object_id "
                                "GROUP BY o.id HAVING count(DISTINCT a.role) = ? ORDER BY o.name",
                                (len(AXIS_ROLES),)).fetchall()
        return [name for (name,) in rows]

    def axis_face_width(self, object_name: str) -> float | None:
        """The width (m) of the face the object's axis keypoints were clicked on, across their
        axis, as measured at annotation; None where it was not measured."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT axis_face_width FROM objects WHERE name = ?", (object_name,)).fetchone()
        if row is None:
            raise UnknownObjectError(f"no object {object_name!r} in {self.path}")
        return row[0]

    # -- maintenance -----------------------------------------------------------------------

    def reembed(self, model: DescriptorModel) -> int:
        """Recompute every stored descriptor with ``model`` from the stored source images.

        One write transaction: the database switches to the new model entirely or not at all.
        Returns the number of descriptors written.
        """
        with self._transaction(write=True) as conn:
            rows = conn.execute(KEYPOINTS_SQL).fetchall()
            by_image: dict[int, list[tuple]] = {}
            for row in rows:
                by_image.setdefault(row[4], []).append(row)
            for image_id, image_rows in tqdm(by_image.items(), desc="re-embedding images", unit="image"):
                png = conn.execute("SELECT png FROM images WHERE id = ?", (image_id,)).fetchone()[0]
                found = model.describe_pixels(decode_png(png), np.array([(r[5], r[6]) for r in image_rows]))
                for row, descriptor in zip(image_rows, found):
                    conn.execute(f"UPDATE {row[0]} SET descriptor = ?, model_hash = ? WHERE id = ?",
                                 (descriptor_to_blob(descriptor), model.hash, row[1]))
            return len(rows)

    def is_live_file(self, path: str | Path) -> bool:
        """Whether writing ``path`` would replace this database or one of SQLite's side files."""
        path, database = Path(path), self.path.resolve()
        if path.resolve() in {database.with_name(database.name + suffix) for suffix in SQLITE_FILES}:
            return True
        return path.exists() and path.samefile(database)  # a hard link

    def damaged_tables(self) -> list[str]:
        """``"table (what SQLite says)"`` for each table SQLite's quick_check finds damaged, one
        table at a time so the answer names them (a whole-file check raises instead). Reads the
        whole file: for ``ddr db list``, not for every open."""
        with self._lock:
            try:
                names = [r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            except sqlite3.DatabaseError as exc:
                return [f"sqlite_master ({exc})"]
            damaged = []
            for name in names:
                try:
                    verdict = [r[0] for r in self._conn.execute(f'PRAGMA quick_check("{name}")')]
                except sqlite3.DatabaseError as exc:
                    verdict = [str(exc)]
                if verdict != ["ok"]:
                    damaged.append(f"{name} ({verdict[0]})")
            return damaged

    def export_json(self, path: str | Path) -> Path:
        """Write the whole database to a plain JSON file (base64 descriptors and PNG images),
        through a temporary file renamed over ``path``; never over the live database."""
        path = Path(path)
        if self.is_live_file(path):
            raise KeypointDatabaseError(f"refusing to export to {path}: that is the live keypoint database "
                                        f"{self.path}; give another file")
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; give the JSON file to write")
        with self._transaction(write=False) as conn:
            images = conn.execute("SELECT id, path, sha256, width, height, png, created FROM images "
                                  "ORDER BY id").fetchall()
            objects = conn.execute("SELECT name, axis_face_width FROM objects ORDER BY name").fetchall()
            records = self._records(conn)
        document = {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "schema_version": SCHEMA_VERSION,
            "objects": [name for name, _ in objects],
            "axis_face_widths": {name: width for name, width in objects if width is not None},
            "images": [{"id": i, "path": p, "sha256": s, "width": w, "height": h, "created": c,
                        "png": base64.b64encode(png).decode("ascii")}
                       for i, p, s, w, h, png, c in images],
            "keypoints": [{"object": r.object, "role": r.role, "image": r.image_id,
                           "x": r.xy[0], "y": r.xy[1],
                           "descriptor": base64.b64encode(descriptor_to_blob(r.descriptor)).decode("ascii"),
                           "dim": int(r.descriptor.shape[0]), "model_hash": r.model_hash,
                           "annotator": r.annotator, "created": r.created} for r in records],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(json.dumps(document, indent=1))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def import_json(self, path: str | Path) -> int:
        """Merge an exported file into this database in one transaction; returns keypoints read.

        Objects merge by name, images by content hash; a keypoint already stored at the same
        object, image and pixel (or axis role) is replaced. Descriptors must be of this
        database's model.
        """
        document = _read_export(Path(path))
        try:
            return self._import_document(document, path)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: malformed keypoint database export, missing or bad field: "
                             f"{exc}") from exc

    def _import_document(self, document: dict, path: str | Path) -> int:
        with self._transaction(write=True) as conn:
            image_ids = {}
            for entry in document["images"]:
                png = base64.b64decode(entry["png"])
                if hashlib.sha256(png).hexdigest() != entry["sha256"]:
                    raise ValueError(f"{path}: image {entry['id']} does not match its sha256; "
                                     "the file is corrupt")
                image_ids[entry["id"]] = self._image_id(conn, png, int(entry["width"]), int(entry["height"]),
                                                        entry.get("path"), entry["created"])
            for name in document["objects"]:
                self._object_id(conn, name)
            for entry in document["keypoints"]:
                descriptor = np.frombuffer(base64.b64decode(entry["descriptor"]), dtype="<f4")
                if descriptor.shape != (entry["dim"],) or entry["image"] not in image_ids:
                    raise ValueError(f"{path}: keypoint of {entry['object']!r} has a bad descriptor or "
                                     f"refers to a missing image")
                self._check_descriptors(conn, descriptor[None], 1, entry["model_hash"])
                values = (self._object_id(conn, entry["object"]), image_ids[entry["image"]],
                          float(entry["x"]), float(entry["y"]), descriptor.tobytes(), entry["model_hash"],
                          entry["annotator"], entry["created"])
                if entry["role"] == PREFERENCE:
                    self._upsert_preference(conn, *values)
                elif entry["role"] in AXIS_ROLES:
                    self._upsert_axis(conn, values[0], entry["role"], *values[1:])
                else:
                    raise ValueError(f"{path}: unknown keypoint role {entry['role']!r}")
            for name, width in document.get("axis_face_widths", {}).items():  # absent in older exports
                conn.execute("UPDATE objects SET axis_face_width = ? WHERE name = ?", (float(width), name))
            return len(document["keypoints"])


def _read_export(path: Path) -> dict:
    """Load and check the header of an export file."""
    document = read_document(path, EXPORT_FORMAT, EXPORT_VERSION)
    missing = {"objects", "images", "keypoints"} - set(document)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}")
    return document

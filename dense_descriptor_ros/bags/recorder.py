"""Writes serialized ROS messages into a new rosbag2 with ``rosbags``, so that recording needs
no ``ros2 bag`` (rosbag2 is not on PyPI).

A subscriber taking messages raw gets the same CDR bytes rosbag2 stores, so they are written as
received. Nothing reads the bag before :meth:`BagRecorder.close`: only then are the storage's
index and ``metadata.yaml`` written.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore

from dense_descriptor_ros.bags.extract import DEFAULT_TYPESTORE

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagRecorder:
    """A rosbag2 directory being written: ``add_topic`` each topic, ``write`` messages, ``close``."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():  # rosbag2 never appends: a new directory per recording
            raise ValueError(f"{self.path} already exists; a recording needs a new bag directory")
        self.typestore = get_typestore(DEFAULT_TYPESTORE)
        self.writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self.writer.open()
        self.connections: dict = {}
        self.counts: Counter[str] = Counter()
        self.closed = False

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Record ``topic`` (a full name, e.g. ``/camera/camera/color/image_raw``) of ``msgtype``
        (e.g. ``sensor_msgs/msg/Image``); the message definition comes from the Jazzy typestore."""
        self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """One CDR-serialized message of ``topic``, received at ``stamp_ns``."""
        self.writer.write(self.connections[topic], stamp_ns, data)
        self.counts[topic] += 1

    def close(self) -> dict[str, int]:
        """Finish the bag (index and metadata) once; the message count of every topic."""
        if not self.closed:
            self.closed = True
            self.writer.close()
        return {topic: self.counts[topic] for topic in self.connections}

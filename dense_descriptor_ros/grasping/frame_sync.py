"""Pairing the streams of one camera frame (colour, depth, descriptors) by their stamps.

Camera drivers publish colour and depth with the same stamp and the descriptor node copies the
colour header, so a frame is complete when every stream holds an item stamped within
``tolerance_ns`` of the others. Streams arrive in any order, at different rates and with
different delays: on a CPU the descriptors of a 30 Hz camera come at ~1 Hz, each ~1 s after
its colour frame. So each stream keeps what arrived within ``max_age_ns`` (stamp time) of its
own newest stamp, however many items that is: a count would have to grow with the camera rate.
Memory stays bounded by rate x age; one item per stamp (a stamp repeated replaces its item, so
a driver that never changes its stamp keeps one). A stamp more than ``max_age_ns`` before its
stream's newest means that stream's clock went back (a replay restarted): the stream starts
over. A completed set and everything older than it is dropped, so a frame is handed out once.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_MAX_AGE_NS = 3_000_000_000


class FrameSynchronizer:
    """Matches items of ``streams`` by stamp (integer nanoseconds); keeps each stream's last
    ``max_age_ns`` of stamp time."""

    def __init__(self, streams: Sequence[str], tolerance_ns: int = 0, max_age_ns: int = DEFAULT_MAX_AGE_NS) -> None:
        if len(set(streams)) != len(streams) or len(streams) < 2:
            raise ValueError(f"expected at least two distinct stream names, got {list(streams)}")
        if tolerance_ns < 0 or max_age_ns <= 0:
            raise ValueError(f"tolerance_ns must be >= 0 and max_age_ns > 0, got {tolerance_ns} and {max_age_ns}")
        self.streams = tuple(streams)
        self.tolerance_ns, self.max_age_ns = int(tolerance_ns), int(max_age_ns)
        self._buffers: dict[str, dict[int, Any]] = {s: {} for s in streams}  # stamp -> item
        self._newest: dict[str, int | None] = dict.fromkeys(streams)

    def add(self, stream: str, stamp_ns: int, item: Any) -> tuple[int, dict[str, Any]] | None:
        """Store ``item``; return ``(stamp_ns, {stream: item})`` when it completes a frame."""
        if stream not in self._buffers:
            raise ValueError(f"unknown stream {stream!r}; expected one of {self.streams}")
        stamp_ns = int(stamp_ns)
        self._store(stream, stamp_ns, item)
        matched = {stream: item}
        for other in self.streams:
            if other == stream:
                continue
            near = [s for s in self._buffers[other] if abs(s - stamp_ns) <= self.tolerance_ns]
            if not near:
                return None
            matched[other] = self._buffers[other][min(near, key=lambda s: abs(s - stamp_ns))]
        for buffer in self._buffers.values():  # a frame is used once; older ones never will be
            for stamp in [s for s in buffer if s <= stamp_ns + self.tolerance_ns]:
                del buffer[stamp]
        return stamp_ns, matched

    def _store(self, stream: str, stamp_ns: int, item: Any) -> None:
        buffer, newest = self._buffers[stream], self._newest[stream]
        if newest is not None and stamp_ns < newest - self.max_age_ns:  # this stream's clock went back
            buffer.clear()
            newest = None
        buffer.pop(stamp_ns, None)
        buffer[stamp_ns] = item
        self._newest[stream] = newest = stamp_ns if newest is None else max(newest, stamp_ns)
        for stamp in [s for s in buffer if s < newest - self.max_age_ns]:
            del buffer[stamp]

    def pending(self) -> dict[str, int]:
        """Items waiting per stream (for diagnostics)."""
        return {stream: len(buffer) for stream, buffer in self._buffers.items()}

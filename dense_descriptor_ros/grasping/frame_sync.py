"""Pairing the streams of one camera frame (colour, depth, descriptors) by their stamps.

Camera drivers publish colour and depth with the same stamp and the descriptor node copies the
colour header, so a frame is complete when every stream holds an item stamped within
``tolerance_ns`` of the others. Streams arrive in any order and at different rates (the
descriptor node drops frames), so each keeps a short buffer; a completed set and everything
older than it is dropped, so a frame is handed out once.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any


class FrameSynchronizer:
    """Matches items of ``streams`` by stamp (integer nanoseconds); keeps ``depth`` per stream."""

    def __init__(self, streams: Sequence[str], tolerance_ns: int = 0, depth: int = 8) -> None:
        if len(set(streams)) != len(streams) or len(streams) < 2:
            raise ValueError(f"expected at least two distinct stream names, got {list(streams)}")
        if tolerance_ns < 0 or depth < 1:
            raise ValueError(f"tolerance_ns must be >= 0 and depth >= 1, got {tolerance_ns} and {depth}")
        self.streams = tuple(streams)
        self.tolerance_ns = int(tolerance_ns)
        self._buffers: dict[str, deque[tuple[int, Any]]] = {s: deque(maxlen=depth) for s in streams}

    def add(self, stream: str, stamp_ns: int, item: Any) -> tuple[int, dict[str, Any]] | None:
        """Store ``item``; return ``(stamp_ns, {stream: item})`` when it completes a frame."""
        if stream not in self._buffers:
            raise ValueError(f"unknown stream {stream!r}; expected one of {self.streams}")
        self._buffers[stream].append((int(stamp_ns), item))
        matched = {stream: item}
        for other in self.streams:
            if other == stream:
                continue
            found = [entry for entry in self._buffers[other]
                     if abs(entry[0] - stamp_ns) <= self.tolerance_ns]
            if not found:
                return None
            matched[other] = min(found, key=lambda entry: abs(entry[0] - stamp_ns))[1]
        for buffer in self._buffers.values():  # a frame is used once; older ones never will be
            while buffer and buffer[0][0] <= stamp_ns + self.tolerance_ns:
                buffer.popleft()
        return int(stamp_ns), matched

    def pending(self) -> dict[str, int]:
        """Items waiting per stream (for diagnostics)."""
        return {stream: len(buffer) for stream, buffer in self._buffers.items()}

"""``/diagnostics`` for a node's frame stream: rate, latency, dropped and malformed frames.

:class:`StreamHealth` counts and judges on plain times in seconds, so its thresholds are tested
without ROS; :class:`FrameDiagnostics` is the thin ROS side: it feeds it the node clock's times
and publishes its verdict as a ``diagnostic_msgs/DiagnosticStatus`` named ``"<node>: <topic>"``
at 1 Hz, as diagnostic_updater does. Levels:

- ERROR: frames arrived but none were published, or a stream with an expected rate has been
  silent for a stall time (``STALL_S``, at least ``STALL_PERIODS`` periods);
- WARN: a rate under ``1 - RATE_TOLERANCE`` of the expected one, any dropped or malformed frame,
  or a mean latency (stamp to publish) above the limit, all over the window;
- OK otherwise. A stream without an expected rate (a camera triggered on demand, the descriptor
  node that follows its input) is never judged on its rate.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Header

OK, WARN, ERROR = 0, 1, 2  # DiagnosticStatus levels
PERIOD_S = 1.0
WINDOW_S = 5.0
WINDOW_PERIODS = 10  # a slow stream's window spans this many frames
STALL_S = 2.0
STALL_PERIODS = 5
RATE_TOLERANCE = 0.2


@dataclass(frozen=True)
class HealthStatus:
    """A verdict: level (OK, WARN, ERROR), a one-line message and named values."""

    level: int
    message: str
    values: dict[str, str]


class StreamHealth:
    """Published, dropped and malformed frames of one stream over a sliding window.

    ``expected_rate_hz`` 0: frames come on demand, no rate or stall check; ``max_latency_s`` 0:
    no latency check. ``note`` (e.g. "inactive") leads the message.
    """

    def __init__(self, start_s: float, expected_rate_hz: float = 0.0, max_latency_s: float = 0.0) -> None:
        self.start_s, self.expected_rate_hz, self.max_latency_s = start_s, expected_rate_hz, max_latency_s
        self.note = ""
        self._published: deque[tuple[float, float | None]] = deque()  # (time, latency or None)
        self._dropped: deque[float] = deque()
        self._malformed: deque[float] = deque()
        self.published_total = self.dropped_total = self.malformed_total = 0
        self.last_published_s: float | None = None

    def published(self, now_s: float, stamp_s: float | None = None) -> None:
        """A frame went out at ``now_s``; ``stamp_s``: its header stamp (None: unstamped)."""
        self._published.append((now_s, None if stamp_s is None else now_s - stamp_s))
        self.published_total += 1
        self.last_published_s = now_s

    def dropped(self, now_s: float) -> None:
        """A frame arrived (or was due) and was not published: too old, a failed capture."""
        self._dropped.append(now_s)
        self.dropped_total += 1

    def malformed(self, now_s: float) -> None:
        """A frame that could not be read: wrong encoding, truncated data, mismatched sizes."""
        self._malformed.append(now_s)
        self.malformed_total += 1

    def stop_expecting(self, note: str) -> None:
        """No more frames are due (a recording ended): silence is no longer an error."""
        self.expected_rate_hz, self.note = 0.0, note

    @property
    def window_s(self) -> float:
        """Long enough to hold ``WINDOW_PERIODS`` frames of a slow stream."""
        if self.expected_rate_hz > 0:
            return max(WINDOW_S, WINDOW_PERIODS / self.expected_rate_hz)
        return WINDOW_S

    @property
    def stall_s(self) -> float:
        return max(STALL_S, STALL_PERIODS / self.expected_rate_hz)

    def status(self, now_s: float) -> HealthStatus:
        """The verdict over the window that ends at ``now_s``."""
        since = now_s - self.window_s
        for events in (self._dropped, self._malformed):
            while events and events[0] <= since:
                events.popleft()
        while self._published and self._published[0][0] <= since:
            self._published.popleft()
        times = [t for t, _ in self._published]
        latencies = [latency for _, latency in self._published if latency is not None]
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) >= 2 and times[-1] > times[0] else 0.0
        dropped, malformed = len(self._dropped), len(self._malformed)
        mean_latency = sum(latencies) / len(latencies) if latencies else None

        errors, warnings = [], []
        if (dropped or malformed) and not times:
            errors.append(f"none of the last {dropped + malformed} frames published")
        if self.expected_rate_hz > 0:
            silent = now_s - (self.start_s if self.last_published_s is None else self.last_published_s)
            if silent > self.stall_s:
                errors.append(f"no frame for {silent:.1f} s")
            elif len(times) >= 2 and rate < (1 - RATE_TOLERANCE) * self.expected_rate_hz:
                warnings.append(f"{rate:.1f} Hz, expected {self.expected_rate_hz:g} Hz")
        if malformed:
            warnings.append(f"{malformed} malformed frame{'s' * (malformed > 1)}")
        if dropped:
            warnings.append(f"{dropped} dropped frame{'s' * (dropped > 1)}")
        if self.max_latency_s > 0 and mean_latency is not None and mean_latency > self.max_latency_s:
            warnings.append(f"latency {mean_latency * 1e3:.0f} ms above {self.max_latency_s * 1e3:.0f} ms")
        level = ERROR if errors else WARN if warnings else OK
        summary = f"{rate:.1f} Hz" if times else f"no frames in the last {self.window_s:g} s"
        message = "; ".join(part for part in (self.note, *errors, *warnings) if part) or summary
        return HealthStatus(level, message, self._values(now_s, rate, latencies, dropped, malformed))

    def _values(self, now_s: float, rate: float, latencies: list[float], dropped: int,
                malformed: int) -> dict[str, str]:
        def milliseconds(value: float | None) -> str:
            return "n/a" if value is None else f"{value * 1e3:.1f}"

        last = self.last_published_s
        return {
            "Frequency (Hz)": f"{rate:.2f}",
            "Expected frequency (Hz)": f"{self.expected_rate_hz:g}" if self.expected_rate_hz > 0 else "on demand",
            "Mean latency (ms)": milliseconds(sum(latencies) / len(latencies) if latencies else None),
            "Max latency (ms)": milliseconds(max(latencies, default=None)),
            "Latency limit (ms)": milliseconds(self.max_latency_s or None),
            "Last frame age (s)": "never" if last is None else f"{now_s - last:.2f}",
            "Window (s)": f"{self.window_s:g}",
            "Published in window": str(len(self._published)),
            "Dropped in window": str(dropped),
            "Malformed in window": str(malformed),
            "Published": str(self.published_total),
            "Dropped": str(self.dropped_total),
            "Malformed": str(self.malformed_total),
        }


def stamp_seconds(header: Header) -> float | None:
    """A header's stamp in seconds, None when unstamped."""
    seconds = header.stamp.sec + header.stamp.nanosec * 1e-9
    return seconds if seconds > 0 else None


class FrameDiagnostics:
    """One node's frame stream (``topic``, as the node names it) on ``/diagnostics`` at 1 Hz."""

    def __init__(self, node: Node, topic: str, hardware_id: str = "", expected_rate_hz: float = 0.0,
                 max_latency_s: float = 0.0) -> None:
        self.node, self.hardware_id = node, hardware_id
        self.name = f"{node.get_name()}: {node.resolve_topic_name(topic)}"
        self.health = StreamHealth(self.now_s(), expected_rate_hz, max_latency_s)
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        node.create_timer(PERIOD_S, self.publish)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def published(self, header: Header) -> None:
        self.health.published(self.now_s(), stamp_seconds(header))

    def dropped(self) -> None:
        self.health.dropped(self.now_s())

    def malformed(self) -> None:
        self.health.malformed(self.now_s())

    def status(self) -> DiagnosticStatus:
        verdict = self.health.status(self.now_s())
        return DiagnosticStatus(level=bytes([verdict.level]), name=self.name, message=verdict.message,
                                hardware_id=self.hardware_id,
                                values=[KeyValue(key=k, value=v) for k, v in verdict.values.items()])

    def publish(self) -> None:
        header = Header(stamp=self.node.get_clock().now().to_msg())
        self.publisher.publish(DiagnosticArray(header=header, status=[self.status()]))

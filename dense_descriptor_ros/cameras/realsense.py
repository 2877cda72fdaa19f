"""Intel RealSense through pyrealsense2: stream profiles, depth aligned to colour, reconnects.

:class:`RealSenseCamera` is polled (``poll``) rather than blocking, so a node's timer keeps the
node responsive while the camera is unplugged: a lost device is restarted with exponential
backoff. A start is only tried when the device is connected: ``pipeline.start`` waits about
15 s for a missing device while holding the GIL, so neither the node's executor nor a worker
thread nor a signal handler could run meanwhile; listing the devices takes a millisecond.
A recording (``playback_file``, a librealsense ``.db3``/``.bag``) replaces the device, which is
how everything here runs without a camera. pyrealsense2 is imported lazily so this
module (and its parsing) loads without it; it needs Debian's libusb-1.0-0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from dense_descriptor_ros.cameras.frames import CameraFrame, invalid_to_nan
from dense_descriptor_ros.geometry.camera import Intrinsics

COLOR_OPTICAL_FRAME = "camera_color_optical_frame"


class RealSenseError(RuntimeError):
    """pyrealsense2 missing, a bad setting, or a device/recording that cannot be opened."""


def import_pyrealsense2() -> ModuleType:
    try:
        import pyrealsense2
    except ImportError as exc:
        raise RealSenseError(f"pyrealsense2 is not importable ({exc}); install requirements/cameras.txt "
                             "and Debian libusb-1.0-0 (requirements/apt.txt)") from exc
    return pyrealsense2


@dataclass(frozen=True)
class StreamProfile:
    """Width x height at fps; 0 for any field means "the device's default"."""

    width: int = 0
    height: int = 0
    fps: int = 0

    @classmethod
    def parse(cls, text: str) -> "StreamProfile":
        """realsense-ros syntax: ``"640x480x30"`` (also the older ``"640,480,30"``)."""
        parts = text.strip().lower().replace(",", "x").split("x")
        try:
            width, height, fps = (int(p) for p in parts)
        except ValueError:
            raise RealSenseError(f"stream profile must look like WIDTHxHEIGHTxFPS (e.g. 640x480x30), "
                                 f"got {text!r}") from None
        if min(width, height, fps) < 0:
            raise RealSenseError(f"stream profile values must be >= 0, got {text!r}")
        return cls(width, height, fps)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}x{self.fps}"


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial_s`` doubling (``factor``) up to ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 8.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (>= 1) consecutive failed attempts."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, failures - 1))


@dataclass(frozen=True)
class RealSenseConfig:
    """Device selection and streams. ``serial_no`` may carry realsense-ros's leading ``_``."""

    serial_no: str = ""
    color_profile: StreamProfile = StreamProfile()
    depth_profile: StreamProfile = StreamProfile()
    playback_file: str = ""
    loop_playback: bool = False
    real_time: bool = True  # playback at the recorded rate; False: as fast as frames are read
    frame_id: str = COLOR_OPTICAL_FRAME
    reconnect_timeout_s: float = 6.0  # no frame for this long: the device is treated as lost
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def serial(self) -> str:
        return self.serial_no.lstrip("_")


def frames_to_camera_frame(color: Any, depth: Any, frame_id: str) -> CameraFrame:
    """An aligned pyrealsense2 colour + depth frame pair -> :class:`CameraFrame`.

    Depth is z16 in the sensor's depth units (``get_units``, metres per count), 0 = invalid.
    """
    profile = color.get_profile().as_video_stream_profile()
    pixels = np.asanyarray(color.get_data())
    fmt = str(profile.format()).rsplit(".", 1)[-1]
    if fmt not in ("rgb8", "bgr8", "rgba8", "bgra8"):
        raise RealSenseError(f"colour stream format {fmt} is not supported; expected rgb8 or bgr8")
    rgb = np.ascontiguousarray(pixels[:, :, [2, 1, 0]] if fmt.startswith("bgr") else pixels[:, :, :3])
    counts = np.asanyarray(depth.get_data())
    if counts.shape != rgb.shape[:2]:
        raise RealSenseError(f"depth is {counts.shape[1]}x{counts.shape[0]} but colour is "
                             f"{rgb.shape[1]}x{rgb.shape[0]}; depth must be aligned to colour")
    metres = invalid_to_nan(counts.astype(np.float32) * np.float32(depth.get_units()))
    k = profile.get_intrinsics()
    intrinsics = Intrinsics(float(k.fx), float(k.fy), float(k.ppx), float(k.ppy), int(k.width), int(k.height))
    return CameraFrame(rgb, metres, intrinsics, int(round(color.get_timestamp() * 1e6)), frame_id)


class RealSenseCamera:
    """A polled RealSense pipeline with depth aligned to colour and automatic reconnection.

    States: ``waiting`` (no device yet, or lost and backing off), ``streaming``, ``finished``
    (a recording played to its end without looping).
    """

    def __init__(self, config: RealSenseConfig, pipeline_factory: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        if config.playback_file and not Path(config.playback_file).is_file():
            raise RealSenseError(f"playback file {config.playback_file!r} does not exist; expected a "
                                 "RealSense recording (.db3 or .bag)")
        self.rs = import_pyrealsense2()
        self._pipeline_factory = pipeline_factory or self.rs.pipeline
        self._clock = clock
        self._align = self.rs.align(self.rs.stream.color)
        self._pipeline: Any = None
        self.state = "waiting"
        self.failures = 0  # consecutive failed starts
        self.reconnects = 0
        self.last_error = ""
        self._next_attempt = clock()
        self._last_frame = clock()
        self.device_serial = ""

    def _rs_config(self) -> Any:
        rs, cfg = self.rs, self.rs.config()
        if self.config.playback_file:  # a recording plays with the profiles it was recorded with
            cfg.enable_device_from_file(self.config.playback_file, self.config.loop_playback)
            cfg.enable_stream(rs.stream.color)
            cfg.enable_stream(rs.stream.depth)
            return cfg
        if self.config.serial:
            cfg.enable_device(self.config.serial)
        c, d = self.config.color_profile, self.config.depth_profile
        cfg.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)
        cfg.enable_stream(rs.stream.depth, d.width, d.height, rs.format.z16, d.fps)
        return cfg

    def _require_device(self) -> None:
        """RealSenseError at once unless the wanted device is connected."""
        connected = [d.get_info(self.rs.camera_info.serial_number) for d in self.rs.context().query_devices()]
        if not connected:
            raise RealSenseError("no RealSense is connected")
        if self.config.serial and self.config.serial not in connected:
            raise RealSenseError(f"RealSense {self.config.serial} is not connected (connected: {', '.join(connected)})")

    def start(self) -> None:
        """Open the device or recording now; raises :class:`RealSenseError` when it cannot."""
        if not self.config.playback_file:
            self._require_device()
        pipeline = self._pipeline_factory()
        try:
            profile = pipeline.start(self._rs_config())
        except RuntimeError as exc:
            target = self.config.playback_file or (f"serial {self.config.serial}" if self.config.serial
                                                   else "the first RealSense")
            raise RealSenseError(f"cannot start {target}: {exc}") from exc
        device = profile.get_device()
        self.device_serial = device.get_info(self.rs.camera_info.serial_number)
        if self.config.playback_file:
            device.as_playback().set_real_time(self.config.real_time)
        self._pipeline = pipeline
        self.state = "streaming"
        self.failures = 0
        self._last_frame = self._clock()

    def _try_start(self) -> None:
        try:
            self.start()
        except RealSenseError as exc:
            self.failures += 1
            self.last_error = str(exc)
            self._next_attempt = self._clock() + self.config.backoff.delay(self.failures)

    def _lose(self, reason: str) -> None:
        """The device went away: stop, and retry after the first backoff delay."""
        self._stop_pipeline()
        self.state, self.last_error, self.failures = "waiting", reason, 1
        self.reconnects += 1
        self._next_attempt = self._clock() + self.config.backoff.delay(1)

    def poll(self, timeout_ms: int = 100) -> CameraFrame | None:
        """The next aligned frame, or None (no frame yet, reconnecting, or recording finished)."""
        if self.state == "finished":
            return None
        if self.state == "waiting":
            if self._clock() < self._next_attempt:
                return None
            self._try_start()
            if self.state != "streaming":
                return None
        try:
            ok, frames = self._pipeline.try_wait_for_frames(timeout_ms)
        except RuntimeError as exc:  # device unplugged mid-stream
            self._lose(f"frame wait failed: {exc}")
            return None
        if not ok:
            if self.config.playback_file and self._playback_stopped():
                self._stop_pipeline()
                self.state = "finished"
            elif self._clock() - self._last_frame > self.config.reconnect_timeout_s:
                self._lose(f"no frame for {self.config.reconnect_timeout_s} s")
            return None
        aligned = self._align.process(frames)
        color, depth = aligned.get_color_frame(), aligned.get_depth_frame()
        if not color or not depth:
            return None
        self._last_frame = self._clock()
        return frames_to_camera_frame(color, depth, self.config.frame_id)

    def _playback_stopped(self) -> bool:
        device = self._pipeline.get_active_profile().get_device().as_playback()
        return device.current_status() == self.rs.playback_status.stopped

    def _stop_pipeline(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            except RuntimeError:  # already stopped by the unplug
                pass
        self._pipeline = None

    def stop(self) -> None:
        self._stop_pipeline()
        self.state = "waiting"

"""Zivid 3D cameras: settings files, frame conversion, and the one adapter that calls the SDK.

The Zivid SDK (``zivid`` Python package) needs the proprietary Zivid Core and cannot be
installed everywhere; all SDK calls live in :class:`ZividSdkAdapter`, everything else works
on the :class:`ZividCapture` it returns and is tested with a stand-in adapter.
Settings files are Zivid's own YAML (as saved by Zivid Studio): validated here, so a typo
fails at start-up with a message, then handed to ``zivid.Settings.load`` unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from dense_descriptor_ros.cameras.frames import CameraFrame, invalid_to_nan
from dense_descriptor_ros.geometry.camera import Intrinsics

ZIVID_OPTICAL_FRAME = "zivid_optical_frame"
# Acquisition fields and their valid ranges (Zivid 2 / 2+): exposure in microseconds.
ACQUISITION_RANGES = {"Aperture": (0.5, 32.0), "Brightness": (0.0, 2.5),
                      "ExposureTime": (900.0, 100000.0), "Gain": (1.0, 16.0)}


class ZividError(RuntimeError):
    """The SDK is missing, or the camera failed."""


class ZividSettingsError(ValueError):
    """A settings file that is not a valid Zivid capture settings YAML."""


@dataclass(frozen=True)
class ZividSettings:
    """A validated settings file: where it is and its acquisitions (one per HDR exposure)."""

    path: Path
    acquisitions: tuple[dict[str, float], ...]


def load_settings(path: str | Path) -> ZividSettings:
    """Read and check a Zivid settings YAML (``Settings: Acquisitions: - Acquisition: ...``)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ZividSettingsError(f"cannot read Zivid settings file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ZividSettingsError(f"Zivid settings file {path} is not valid YAML: {exc}") from exc
    settings = document.get("Settings") if isinstance(document, dict) else None
    if not isinstance(settings, dict):
        raise ZividSettingsError(f"{path}: expected a top-level 'Settings' mapping (a file saved by "
                                 "Zivid Studio or zivid.Settings.save)")
    entries = settings.get("Acquisitions")
    if not isinstance(entries, list) or not entries:
        raise ZividSettingsError(f"{path}: Settings.Acquisitions must be a non-empty list")
    acquisitions = []
    for index, entry in enumerate(entries):
        acquisition = entry.get("Acquisition") if isinstance(entry, dict) else None
        if not isinstance(acquisition, dict):
            raise ZividSettingsError(f"{path}: Acquisitions[{index}] must be a mapping with an 'Acquisition' key")
        unknown = sorted(set(acquisition) - set(ACQUISITION_RANGES))
        if unknown:
            raise ZividSettingsError(f"{path}: Acquisitions[{index}] has unknown fields {unknown}; "
                                     f"expected some of {sorted(ACQUISITION_RANGES)}")
        for name, value in acquisition.items():
            low, high = ACQUISITION_RANGES[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ZividSettingsError(f"{path}: Acquisitions[{index}].{name} = {value!r}; expected a "
                                         f"number in [{low}, {high}]")
        acquisitions.append({name: float(value) for name, value in acquisition.items()})
    return ZividSettings(path, tuple(acquisitions))


@dataclass(frozen=True)
class ZividCapture:
    """What one 3D capture gives: xyz (H, W, 3) float32 millimetres (NaN = missing),
    rgba (H, W, 4) uint8, and the camera's pinhole intrinsics for that resolution."""

    xyz_mm: np.ndarray
    rgba: np.ndarray
    intrinsics: Intrinsics
    stamp_ns: int


def capture_to_frame(capture: ZividCapture, frame_id: str = ZIVID_OPTICAL_FRAME) -> CameraFrame:
    """Zivid point cloud -> :class:`CameraFrame` (depth = z in metres, NaN where missing)."""
    xyz, rgba = np.asarray(capture.xyz_mm), np.asarray(capture.rgba)
    if xyz.ndim != 3 or xyz.shape[2] != 3 or rgba.shape != xyz.shape[:2] + (4,):
        raise ZividError(f"expected xyz (H, W, 3) and rgba (H, W, 4) of the same size, "
                         f"got {xyz.shape} and {rgba.shape}")
    depth = invalid_to_nan(xyz[:, :, 2] * np.float32(0.001))
    return CameraFrame(np.ascontiguousarray(rgba[:, :, :3], dtype=np.uint8), depth,
                       capture.intrinsics, capture.stamp_ns, frame_id)


class ZividAdapter(Protocol):
    """The camera operations the node needs; :class:`ZividSdkAdapter` is the real one."""

    def connect(self, serial_number: str) -> str: ...

    def capture(self, settings: ZividSettings) -> ZividCapture: ...

    def close(self) -> None: ...


class ZividSdkAdapter:
    """The only code that touches the Zivid SDK."""

    def __init__(self) -> None:
        try:
            import zivid
            import zivid.experimental.calibration as calibration
        except ImportError as exc:
            raise ZividError(f"the Zivid SDK is not available ({exc}); install Zivid Core and "
                             "zivid-python (https://support.zivid.com) to use zivid_camera") from exc
        self._zivid, self._calibration = zivid, calibration
        self._app: Any = zivid.Application()
        self._camera: Any = None

    def connect(self, serial_number: str) -> str:
        """Connect to ``serial_number`` (or the first camera when empty); returns the serial."""
        try:
            self._camera = (self._app.connect_camera(serial_number=serial_number) if serial_number
                            else self._app.connect_camera())
        except RuntimeError as exc:
            raise ZividError(f"cannot connect to Zivid camera {serial_number or '(first found)'}: {exc}") from exc
        return str(self._camera.info.serial_number)

    def capture(self, settings: ZividSettings) -> ZividCapture:
        sdk_settings = self._zivid.Settings.load(str(settings.path))
        try:
            frame = self._camera.capture(sdk_settings)
        except RuntimeError as exc:
            raise ZividError(f"Zivid capture failed: {exc}") from exc
        cloud = frame.point_cloud()
        xyz, rgba = cloud.copy_data("xyz"), cloud.copy_data("rgba")
        matrix = self._calibration.intrinsics(self._camera, sdk_settings).camera_matrix
        intrinsics = Intrinsics(matrix.fx, matrix.fy, matrix.cx, matrix.cy, xyz.shape[1], xyz.shape[0])
        stamp_ns = int(frame.info.time_stamp.timestamp() * 1e9)
        return ZividCapture(xyz, rgba, intrinsics, stamp_ns)

    def close(self) -> None:
        if self._camera is not None:
            self._camera.disconnect()
        self._camera = None

"""The simulated bin-picking cell as a camera: renders the MuJoCo cell into CameraFrames.

The overhead camera is the cell's fixed one; the robot camera is a wrist-camera-like view from
a fixed oblique pose above the bin. ``reshuffle`` re-drops the objects, i.e. "the robot picked
and the bin changed".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_descriptor_ros.cameras.frames import CameraFrame, invalid_to_nan
from dense_descriptor_ros.simulation.world import scene as scene_mod
from dense_descriptor_ros.simulation.world.camera import orbit_pose
from dense_descriptor_ros.simulation.world.cell import BinCell
from dense_descriptor_ros.simulation.world.objects import catalogue, sample_instances
from dense_descriptor_ros.simulation.world.scene import SceneSpec

CAMERAS = ("overhead", "robot")
BIN_CENTRE = np.array([0.0, 0.0, scene_mod.BIN_FLOOR_Z + 0.04])
# Robot camera: 0.6 m from the bin centre, 65 degrees above the horizon, looking at it.
ROBOT_CAMERA_POSE = orbit_pose(BIN_CENTRE, radius=0.6, azimuth_deg=-90.0, elevation_deg=65.0)
MAX_SIDE = 2048


class SimCameraError(ValueError):
    """Simulated-camera settings that cannot describe a scene."""


@dataclass(frozen=True)
class SimCameraConfig:
    """What the simulated camera renders; one ``seed`` fixes the objects and every drop."""

    width: int = 640
    height: int = 480
    seed: int = 0
    n_objects: int = 8
    camera: str = "overhead"
    frame_id: str = "camera_color_optical_frame"

    def __post_init__(self) -> None:
        if self.camera not in CAMERAS:
            raise SimCameraError(f"camera must be one of {CAMERAS}, got {self.camera!r}")
        if not (16 <= self.width <= MAX_SIDE and 16 <= self.height <= MAX_SIDE):
            raise SimCameraError(f"image size must be 16..{MAX_SIDE} pixels per side, "
                                 f"got {self.width}x{self.height}")
        available = len(catalogue("all"))
        if not 1 <= self.n_objects <= available:
            raise SimCameraError(f"n_objects must be 1..{available}, got {self.n_objects}")


class SimCamera:
    """Renders the cell from one camera; ``read`` is a pure render, ``reshuffle`` moves objects."""

    def __init__(self, config: SimCameraConfig) -> None:
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        instances = sample_instances(self._rng, config.n_objects)
        spec = SceneSpec(tuple(instances), int(self._rng.integers(2**31)),
                         max_width=config.width, max_height=config.height)
        self.cell = BinCell(spec, config.width, config.height)
        self.drops = 0
        self.reshuffle()

    def reshuffle(self) -> None:
        """Re-drop every object at a new random pose and let it settle."""
        self.cell.drop(self._rng)
        self.drops += 1

    def read(self, stamp_ns: int = 0) -> CameraFrame:
        """Render the current scene; ``stamp_ns`` is the caller's clock (sim has none of its own)."""
        pose = None if self.config.camera == "overhead" else ROBOT_CAMERA_POSE
        frame = self.cell.render(pose)
        return CameraFrame(frame.rgb, invalid_to_nan(frame.depth), frame.intrinsics, stamp_ns,
                           self.config.frame_id)

    def close(self) -> None:
        self.cell.close()

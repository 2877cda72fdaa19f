"""Write CameraFrames as a RealSense recording with a librealsense ``software_device``.

The recording plays back through :class:`~dense_descriptor_ros.cameras.realsense.RealSenseCamera`
exactly like one made by the RealSense Viewer, so the RealSense node (and anything downstream)
can run on synthetic or simulated frames with no camera attached.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from dense_descriptor_ros.cameras.frames import CameraFrame
from dense_descriptor_ros.cameras.realsense import RealSenseError, import_pyrealsense2

DEPTH_UNITS = 0.001  # metres per z16 count, the D400 default


def _video_stream(rs, stream, uid: int, fmt, bpp: int, frame: CameraFrame, fps: int):
    k = frame.intrinsics
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = frame.width, frame.height
    intrinsics.fx, intrinsics.fy, intrinsics.ppx, intrinsics.ppy = k.fx, k.fy, k.cx, k.cy
    intrinsics.model, intrinsics.coeffs = rs.distortion.brown_conrady, [0.0] * 5
    video = rs.video_stream()
    video.type, video.index, video.uid, video.fmt, video.bpp = stream, 0, uid, fmt, bpp
    video.width, video.height, video.fps, video.intrinsics = frame.width, frame.height, fps, intrinsics
    return video


def record_frames(path: str | Path, frames: Sequence[CameraFrame], fps: int = 30,
                  serial: str = "000000000000") -> Path:
    """Record ``frames`` (same size) as colour (rgb8) + depth (z16, 1 mm) streams to ``path`` (.db3).

    Depth and colour share one optical frame (identity extrinsics), as aligned depth does.
    """
    rs = import_pyrealsense2()
    path = Path(path)
    if path.suffix != ".db3":
        raise RealSenseError(f"librealsense 2.59 records rosbag2 sqlite files; name it *.db3, got {path.name}")
    if not frames or len({(f.width, f.height) for f in frames}) != 1:
        raise RealSenseError("record_frames needs at least one frame, all of the same size")
    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, serial)
    device.register_info(rs.camera_info.name, "dense_descriptor_ros synthetic RealSense")
    depth_sensor, color_sensor = device.add_sensor("Stereo Module"), device.add_sensor("RGB Camera")
    depth_profile = depth_sensor.add_video_stream(_video_stream(rs, rs.stream.depth, 0, rs.format.z16, 2, frames[0], fps))
    color_profile = color_sensor.add_video_stream(_video_stream(rs, rs.stream.color, 1, rs.format.rgb8, 3, frames[0], fps))
    depth_sensor.add_read_only_option(rs.option.depth_units, DEPTH_UNITS)
    identity = rs.extrinsics()
    identity.rotation, identity.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
    depth_profile.register_extrinsics_to(color_profile, identity)
    recorder = rs.recorder(str(path), device)
    sink = rs.frame_queue(2 * len(frames) + 2)
    sensors = ((depth_sensor, depth_profile), (color_sensor, color_profile))
    for sensor, profile in sensors:
        sensor.open(profile)
        sensor.start(sink)
    for number, frame in enumerate(frames):
        millimetres = np.round(frame.depth_millimetres() * (0.001 / DEPTH_UNITS)).astype(np.uint16)
        for (sensor, profile), pixels in zip(sensors, (millimetres, frame.rgb)):
            video = rs.software_video_frame()
            video.pixels = np.ascontiguousarray(pixels).tobytes()
            video.bpp = pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)
            video.stride = frame.width * video.bpp
            video.timestamp = number * 1000.0 / fps
            video.domain = rs.timestamp_domain.system_time
            video.frame_number = number
            video.profile = profile.as_video_stream_profile()
            sensor.on_video_frame(video)
        time.sleep(0.5 / fps)  # the recorder writes from its own thread
    for sensor, _ in sensors:
        sensor.stop()
        sensor.close()
    del recorder  # closes and flushes the file
    return path

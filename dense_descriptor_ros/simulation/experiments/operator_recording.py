"""The paper's real-cell recording, simulated: a fixed overhead camera filming at 30 Hz while an
operator reshuffles the heap by hand, written as a rosbag2 of the RealSense driver's topics.

A real recording is mostly the heap at rest (the same view frame after frame, only sensor noise
between them), the operator's hands in view while shuffling, and blurred moments when a knock on
the bin shakes the camera mount. ``ddr bag extract`` has to drop the repeats and the blurred
frames; the manifest says which frame was which, so that can be checked. The bag holds the
camera topics only, so nothing downstream of it can use poses or masks.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from scipy import signal
from tqdm import tqdm

from ...bags.recorder import BagRecorder
from ...messages import intrinsics_to_camera_info, numpy_to_image
from ..world.cell import BinCell
from ..world.objects import sample_instances
from ..world.render import RenderedFrame
from ..world.scene import SceneSpec
from .datasets import depth_to_millimetres

FPS = 30
START_NS = 1_700_000_000 * 10**9  # a fixed start: one seed, one bag
OPTICAL_FRAME = "camera_color_optical_frame"
IMAGE, INFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"
# realsense-ros's names, as the bag_recorder node records them in the root namespace
COLOR_TOPIC = "/camera/camera/color/image_raw"
COLOR_INFO_TOPIC = "/camera/camera/color/camera_info"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
DEPTH_INFO_TOPIC = "/camera/camera/aligned_depth_to_color/camera_info"
SENSOR_NOISE = 1.0  # std of the colour sensor's noise, grey levels
SHAKE_LENGTH = (0.03, 0.06)  # path of a shaken camera during one exposure, fraction of the width
SHUFFLES_PER_SET = 25  # the operator brings other products (in another bin) this often
MANIFEST_FORMAT = "ddr-operator-recording"


class Moment(str, Enum):
    """What the camera saw in one frame, and so what extraction should make of it."""

    REST = "rest"  # the heap at rest, first frame of a still stretch: kept
    REPEAT = "repeat"  # the same still view again, new sensor noise: a near-duplicate
    HANDS = "hands"  # the operator's hands shuffling the heap: kept, as the paper trains with them
    BLURRED = "blurred"  # the bin knocked while shuffling, the camera shaken: blurry


@dataclass(frozen=True)
class RecordingPlan:
    """A recording of ``frames`` frames of ``size`` (H, W): each shuffle is a still stretch
    (one view and ``repeats`` repeats), hands shuffling, and every ``blur_every``-th shuffle a
    knock that blurs one frame. ``object_set``: the products in the bin (the simulated cell
    picks test-set products, and a cell records the products it will pick)."""

    frames: int
    size: tuple[int, int] = (480, 640)
    seed: int = 0
    repeats: int = 2
    blur_every: int = 3
    object_set: str = "test"

    def __post_init__(self) -> None:
        if self.frames < 1 or self.repeats < 0 or self.blur_every < 1:
            raise ValueError(f"a recording needs frames >= 1, repeats >= 0 and blur_every >= 1; got "
                             f"{self.frames}, {self.repeats}, {self.blur_every}")

    def moments(self) -> list[Moment]:
        """The moment of every frame, in recording order."""
        moments: list[Moment] = []
        shuffle = 0
        while len(moments) < self.frames:
            shuffle += 1
            moments += [Moment.REST] + [Moment.REPEAT] * self.repeats + [Moment.HANDS]
            if shuffle % self.blur_every == 0:
                moments.append(Moment.BLURRED)
        return moments[:self.frames]


def shake_kernel(rng: np.random.Generator, length: float) -> np.ndarray:
    """``(K, K)`` blur kernel (sums to 1) of a camera shaken along a smoothly turning path of
    ``length`` pixels during one exposure."""
    steps = max(2, int(np.ceil(4 * length)))  # quarter-pixel steps
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.3, steps))
    path = np.cumsum(0.25 * np.stack([np.cos(heading), np.sin(heading)], axis=1), axis=0)
    pixels = np.round(path - path.min(axis=0)).astype(int)
    kernel = np.zeros(tuple(pixels.max(axis=0)[::-1] + 1))
    np.add.at(kernel, (pixels[:, 1], pixels[:, 0]), 1.0)
    return kernel / kernel.sum()


def shaken(rgb: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` image exposed through ``kernel``'s shake -> ``(H, W, 3)`` float, edges repeated."""
    kh, kw = kernel.shape
    padded = np.pad(rgb.astype(np.float32), ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)),
                    mode="edge")
    return signal.fftconvolve(padded, kernel[:, :, None], mode="valid")


def exposed(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """The sensor's reading of ``(H, W, 3)`` light: its noise added, quantised to uint8."""
    return np.clip(np.round(image + rng.normal(0.0, SENSOR_NOISE, image.shape)), 0, 255).astype(np.uint8)


def _product_bin(rng: np.random.Generator, plan: RecordingPlan) -> BinCell:
    height, width = plan.size
    products = sample_instances(rng, int(rng.integers(5, 13)), plan.object_set)
    spec = SceneSpec(tuple(products), int(rng.integers(2**31)), hands=True, max_width=width, max_height=height)
    cell = BinCell(spec, width, height)
    cell.drop(rng)
    return cell


def _write_frame(bag: BagRecorder, index: int, rgb: np.ndarray, frame: RenderedFrame) -> None:
    """Colour, aligned depth and their camera_infos of frame ``index``, stamped at 30 Hz."""
    types = bag.typestore.types
    stamp_ns = START_NS + round(index * 1e9 / FPS)
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
        frame_id=OPTICAL_FRAME)
    info = bag.typestore.serialize_cdr(intrinsics_to_camera_info(frame.intrinsics, types[INFO], header), INFO)
    colour = numpy_to_image(rgb, "rgb8", types[IMAGE], header)
    depth = numpy_to_image(depth_to_millimetres(frame.depth), "16UC1", types[IMAGE], header)
    bag.write(COLOR_TOPIC, stamp_ns, bag.typestore.serialize_cdr(colour, IMAGE))
    bag.write(COLOR_INFO_TOPIC, stamp_ns, info)
    bag.write(DEPTH_TOPIC, stamp_ns, bag.typestore.serialize_cdr(depth, IMAGE))
    bag.write(DEPTH_INFO_TOPIC, stamp_ns, info)


def record_operator_bag(out: Path, plan: RecordingPlan, storage: str = "mcap",
                        manifest: Path | None = None) -> Counter[Moment]:
    """Record ``plan`` into the new rosbag2 directory ``out``; the number of frames per moment.

    ``manifest``: also write each frame's moment there (JSON), to check extraction against."""
    rng = np.random.default_rng(plan.seed)
    moments = plan.moments()
    bag = BagRecorder(out, storage)
    for topic, msgtype in ((COLOR_TOPIC, IMAGE), (COLOR_INFO_TOPIC, INFO), (DEPTH_TOPIC, IMAGE),
                           (DEPTH_INFO_TOPIC, INFO)):
        bag.add_topic(topic, msgtype)
    cell, shuffles = _product_bin(rng, plan), 0
    try:
        for index, moment in enumerate(tqdm(moments, desc="operator recording", unit="frame")):
            if moment is Moment.REST:
                cell.place_hands(None)
                still = frame = cell.render()
            elif moment is Moment.REPEAT:
                frame = still
            elif moment is Moment.HANDS:
                shuffles += 1
                if shuffles % SHUFFLES_PER_SET == 0:
                    cell.close()
                    cell = _product_bin(rng, plan)
                else:
                    cell.drop(rng)
                cell.place_hands(rng)
                frame = cell.render()
            else:
                cell.place_hands(rng)
                frame = cell.render()
            light = frame.rgb
            if moment is Moment.BLURRED:
                light = shaken(light, shake_kernel(rng, rng.uniform(*SHAKE_LENGTH) * plan.size[1]))
            _write_frame(bag, index, exposed(rng, light), frame)
    finally:
        cell.close()
        bag.close()
    if manifest is not None:
        Path(manifest).parent.mkdir(parents=True, exist_ok=True)
        Path(manifest).write_text(json.dumps({
            "format": MANIFEST_FORMAT, "bag": str(out), "topic": COLOR_TOPIC, "fps": FPS,
            "plan": asdict(plan), "moments": [m.value for m in moments]}, indent=1))
    return Counter(moments)

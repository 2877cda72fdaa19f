"""Small builders shared by the tests: tiny models and one-hot descriptor fields."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from dense_descriptor_ros.model import DescriptorNet, ModelConfig


def tiny_model(seed: int = 0, descriptor_dim: int = 16) -> DescriptorNet:
    torch.manual_seed(seed)
    return DescriptorNet(ModelConfig(backbone="resnet18", descriptor_dim=descriptor_dim, width=8))


def one_hot_field(h: int, w: int, batch: int = 1) -> torch.Tensor:
    """A perfect descriptor image: every cell its own orthogonal unit vector, ``(B, h*w, h, w)``."""
    field = torch.eye(h * w).reshape(h * w, h, w)
    return field.unsqueeze(0).repeat(batch, 1, 1, 1)


def smooth_field(h: int, w: int, dim: int = 8, seed: int = 0) -> torch.Tensor:
    """A random but spatially smooth unit descriptor image ``(1, dim, h, w)``."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, dim, max(2, h // 3), max(2, w // 3), generator=g)
    return F.normalize(F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False), dim=1)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run on ``count`` threads whatever earlier test modules set: float sums run in another
    order on another thread count, and a short training run follows that order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def node_process(module: str, ros_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """A node's ``main`` in its own process (``dense_descriptor_ros.ros.nodes.<module>``), with
    its stderr lines collected as they come; killed if it still runs when the block ends."""
    argv = ["--ros-args", *(ros_args or [])]
    command = [sys.executable, "-c", f"from dense_descriptor_ros.ros.nodes.{module} import main; "
               f"raise SystemExit(main({argv!r}))"]
    process = subprocess.Popen(command, env={**os.environ, "RCUTILS_LOGGING_BUFFERED_STREAM": "0", **(env or {})},
                               stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def interrupt(process: subprocess.Popen, repeated: bool, timeout: float = 10.0) -> int:
    """SIGINT, and with ``repeated`` again every 5 ms until the process ends (Ctrl-C under
    ros2 launch is two: the terminal's and launch's); returns its exit code."""
    process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    while repeated and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
        process.send_signal(signal.SIGINT)
    code = process.wait(timeout=timeout)
    time.sleep(0.1)  # the reader thread drains stderr
    return code

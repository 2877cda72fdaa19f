"""One model, ready to describe images: the network with what belongs to it.

Stored descriptors are keyed by the hash of the model file that made them, a heatmap is scored
with the distance scale ``eta`` the model was calibrated for (``ddr calibrate``), and both must
travel with the network, not beside it: :class:`ModelCard` reads them from a checkpoint or an
export without building the network (what a grasp node needs), :class:`DescriptorModel` adds the
network on a device at a precision (what the descriptor node, annotation and the simulated
trials need). An export keys the database by its source checkpoint, so both give the same keys.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dense_descriptor_ros.data.images import check_rgb, to_tensor
from dense_descriptor_ros.model.export import load_exported, metadata_path, read_export_metadata
from dense_descriptor_ros.geometry.camera import require_pixels_inside
from dense_descriptor_ros.matching import pixel_to_grid, sample_descriptors
from dense_descriptor_ros.model.checkpoint import file_hash, load_checkpoint, read_checkpoint
from dense_descriptor_ros.model.descriptor_net import autocast_context
from dense_descriptor_ros.model.inference import eval_mode, fast_precision, prepare_for_inference
from dense_descriptor_ros.model.rotations import check_rotations

# Distance scale of a heatmap when the model was never calibrated: a keypoint whose best match
# lies 0.25 away (cosine 0.97) scores 1/e.
DEFAULT_ETA = 0.25


def model_eta(metadata: dict) -> float:
    """The heatmap ``eta`` a model was calibrated for (``ddr calibrate``), else ``DEFAULT_ETA``."""
    eta = metadata.get("heatmap_eta", DEFAULT_ETA)
    if not isinstance(eta, (int, float)) or not eta > 0:
        raise ValueError(f"the model's heatmap_eta must be a positive number, got {eta!r}")
    return float(eta)


@dataclass(frozen=True)
class ModelCard:
    """What identifies a model file and how its descriptors are read: ``hash`` keys the keypoint
    database, ``eta`` scales heatmaps, ``rotations`` is its test-time rotation ensemble."""

    path: Path
    hash: str
    eta: float
    rotations: int
    descriptor_dim: int
    backbone: str
    metadata: dict

    @classmethod
    def read(cls, path: str | Path) -> "ModelCard":
        """The card of a checkpoint (``ddr train``) or an export (``ddr export``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model not found: {path}")
        if metadata_path(path).is_file():
            metadata = read_export_metadata(path)
            digest, model = metadata["source_sha256"], metadata["model"]
            dim = int(metadata["descriptor_dim"])
        else:
            metadata = read_checkpoint(path)["metadata"]
            digest, model = file_hash(path), metadata["model"]
            dim = int(model["descriptor_dim"])
        return cls(path, digest, model_eta(metadata), int(model.get("rotations", 1)), dim,
                   str(model.get("backbone", "?")), metadata)

    @property
    def exported(self) -> bool:
        return metadata_path(self.path).is_file()


class DescriptorModel:
    """A descriptor network on ``device`` at a precision, with its :class:`ModelCard`.

    ``describe`` is the one image -> descriptor path of the package: the descriptor node, the
    annotation tools, re-embedding a database and the simulated trials all call it.
    """

    def __init__(self, network: Callable[[Tensor], Tensor], card: ModelCard, device: torch.device,
                 precision: str = "fp32", compile_mode: str | None = None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.network, self.card, self.device = network, card, device
        self.precision, self.compile_mode, self.memory_format = precision, compile_mode, memory_format

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", half: bool = False,
             compile_mode: str | None = None, rotations: int | None = None) -> "DescriptorModel":
        """Load a checkpoint or an export; ``half``: fp16 on CUDA, bf16 where the CPU has it
        (``model.inference.fast_precision``); ``compile_mode`` and ``rotations`` (overriding the
        test-time rotation ensemble, e.g. to calibrate for another) apply to checkpoints only."""
        card = ModelCard.read(path)
        device = torch.device(device)
        if card.exported:
            if compile_mode is not None or rotations is not None:
                raise ValueError("compiling and rotations apply to checkpoints; an export runs as it was exported")
            network, _ = load_exported(path, device)
        else:
            network, _ = load_checkpoint(path, device)
            if rotations is not None:
                network.config = dataclasses.replace(network.config, rotations=check_rotations(rotations))
                card = dataclasses.replace(card, rotations=rotations)
        memory_format = torch.contiguous_format  # ONNX-runtime exports are plain callables with their own
        if isinstance(network, torch.nn.Module):
            # channels_last is the fast convolution layout (1.14x at 320x240 on CPU)
            network, memory_format = prepare_for_inference(network, device, compile_mode), torch.channels_last
        return cls(network, card, device, fast_precision(device, half), compile_mode, memory_format)

    @classmethod
    def of(cls, network: torch.nn.Module, hash: str = "in-memory", eta: float = DEFAULT_ETA,
           precision: str = "fp32", metadata: dict | None = None) -> "DescriptorModel":
        """A network that was never saved (a model in training, the XFeat baseline, a test's),
        run as it is: its device, layout and training mode are left alone."""
        device = next(network.parameters(), torch.empty(0)).device  # a parameterless network runs on the CPU
        config = getattr(network, "config", None)
        card = ModelCard(Path("<in memory>"), hash, eta, getattr(config, "rotations", 1),
                         int(getattr(network, "descriptor_dim", 0)), getattr(config, "backbone", type(network).__name__),
                         metadata or {})
        return cls(network, card, device, precision)

    @property
    def hash(self) -> str:
        return self.card.hash

    @property
    def eta(self) -> float:
        return self.card.eta

    @property
    def descriptor_dim(self) -> int:
        return self.card.descriptor_dim

    def describe_images(self, images: Tensor, upsample: bool = False) -> Tensor:
        """Images ``(B, 3, H, W)`` RGB in [0, 1] -> unit descriptors ``(B, D, h, w)`` float32 on the
        model's device: the stride-8 grid, or ``(B, D, H, W)`` with ``upsample`` (evaluation
        matches at full resolution). The one forward pass of the package; a network in training
        is run in eval mode and given back in training mode."""
        batch = images.to(self.device).contiguous(memory_format=self.memory_format)
        with eval_mode(self.network), torch.inference_mode(), autocast_context(self.device, self.precision):
            descriptors = self.network(batch, upsample=True) if upsample else self.network(batch)
        return descriptors.float()

    def describe(self, rgb: np.ndarray) -> Tensor:
        """RGB ``(H, W, 3)`` uint8 -> unit descriptors ``(1, D, h, w)`` float32 (CPU) on the
        stride-8 grid."""
        return self.describe_images(to_tensor(check_rgb(rgb))[None]).cpu()

    def describe_pixels(self, rgb: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Unit descriptors ``(N, D)`` float32 of pixels ``(N, 2)`` (x, y), sampled bilinearly
        from the stride-8 grid the heatmaps are computed on."""
        height, width = check_rgb(rgb).shape[:2]
        xy = torch.from_numpy(require_pixels_inside(pixels, width, height)).float()
        grid = self.describe(rgb)
        cells = pixel_to_grid(xy, (height, width), tuple(grid.shape[-2:]))
        return sample_descriptors(grid, cells[None])[0].numpy().astype(np.float32)

    def __repr__(self) -> str:
        return (f"DescriptorModel({self.card.path.name}, {self.card.backbone}, D={self.descriptor_dim}, "
                f"{self.device}, {self.precision}, eta={self.eta:.3f})")


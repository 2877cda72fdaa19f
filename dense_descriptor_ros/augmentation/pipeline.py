"""The Table-3 augmentation pipeline: colour jitter, then crop, rotation, zoom and perspective.

The geometric steps compose into one homography per image (source pixel -> augmented pixel),
applied with one warp, so training knows exactly where every source pixel went:
``H = perspective @ rotation_scale @ crop``. Each step is switched on per image with its own
probability; with all of them off the augmentation is the identity.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import Tensor

from dense_descriptor_ros.augmentation.geometric import (crop_matrix, homography_from_points,
                                                          rotation_scale_matrix, sample_crop_boxes,
                                                          sample_perspective_corners)
from dense_descriptor_ros.augmentation.photometric import color_jitter
from dense_descriptor_ros.augmentation.sampling import rand, uniform
from dense_descriptor_ros.geometry.homography import inside_image, transform_points, warp_image

PROBABILITIES = ("p_color", "p_rotation", "p_scale", "p_perspective", "p_crop")


@dataclass
class AugmentationConfig:
    """Strengths and per-image probabilities of every augmentation (torchvision semantics)."""

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.2
    rotation: tuple[float, float] = (0.0, 359.0)  # degrees, about the image centre
    scale: tuple[float, float] = (0.5, 1.0)  # isotropic zoom about the centre
    perspective: float = 0.4  # RandomPerspective distortion_scale
    crop_scale: tuple[float, float] = (0.7, 1.0)  # RandomResizedCrop area fraction
    p_color: float = 1.0
    p_rotation: float = 1.0
    p_scale: float = 1.0
    p_perspective: float = 1.0
    p_crop: float = 1.0

    def __post_init__(self) -> None:
        for name in ("rotation", "scale", "crop_scale"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"augmentation {name} range must be (low, high) with low <= high, "
                                 f"got {(low, high)}")
        for name in PROBABILITIES:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augmentation {name} must be a probability in [0, 1], "
                                 f"got {getattr(self, name)}")
        if self.scale[0] <= 0:
            raise ValueError(f"augmentation scale must be positive, got {self.scale}")
        if not (0 < self.crop_scale[0] and self.crop_scale[1] <= 1):
            raise ValueError(f"augmentation crop_scale must lie in (0, 1], got {self.crop_scale}")
        if not 0 <= self.perspective <= 1:
            raise ValueError(f"augmentation perspective must be in [0, 1], got {self.perspective}")
        if min(self.brightness, self.contrast, self.saturation) < 0 or not 0 <= self.hue <= 0.5:
            raise ValueError("colour jitter strengths must be >= 0 and hue in [0, 0.5], got "
                             f"{(self.brightness, self.contrast, self.saturation, self.hue)}")

    def _with_probability(self, p: float) -> "AugmentationConfig":
        return replace(self, **{name: p for name in PROBABILITIES})

    @classmethod
    def synthetic(cls) -> "AugmentationConfig":
        """Every augmentation always on: identical-view and CCL training."""
        return cls()._with_probability(1.0)

    @classmethod
    def geometric(cls) -> "AugmentationConfig":
        """Every augmentation with p = 0.5: geometric-correspondence training."""
        return cls()._with_probability(0.5)

    @classmethod
    def none(cls) -> "AugmentationConfig":
        """Nothing applied: the identity (evaluation, debugging)."""
        return cls()._with_probability(0.0)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "AugmentationConfig":
        """Inverse of :meth:`to_dict` (e.g. a training config read back from a checkpoint)."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown augmentation config keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass
class AugmentedBatch:
    """Augmented images with the exact mapping from their source pixels."""

    images: Tensor  # (B, 3, h, w) in [0, 1]
    homography: Tensor  # (B, 3, 3) float32: source pixel coords -> augmented pixel coords
    valid: Tensor  # (B, 1, h, w) bool: augmented pixels whose source lies inside the source image


def _check_size(name: str, size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or min(size) < 2:
        raise ValueError(f"{name} must be (height, width), each at least 2 pixels, got {size}")
    return int(size[0]), int(size[1])


class Augmenter:
    """Draws augmentations from ``config`` and applies them to batches of images.

    ``out_size = (h, w)`` is the augmented image size (``None``: the input size). Randomness
    comes only from ``generator`` (a ``torch.Generator`` on any device), so a seeded one
    reproduces a run.
    """

    def __init__(self, config: AugmentationConfig, out_size: tuple[int, int] | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.config = config
        self.out_size = None if out_size is None else _check_size("out_size", out_size)
        self.generator = generator

    def sample_homography(self, batch: int, in_size: tuple[int, int], out_size: tuple[int, int],
                          device: torch.device | str) -> Tensor:
        """Draw ``(B, 3, 3)`` float32 homographies from ``in_size`` to ``out_size`` pixels.

        Without a crop the whole source is resized to ``out_size``. Every draw is made whether
        or not its step is switched on, so the random stream does not depend on the outcome.
        """
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        in_size, out_size = _check_size("in_size", in_size), _check_size("out_size", out_size)
        c, g = self.config, self.generator
        chance = torch.tensor([c.p_crop, c.p_rotation, c.p_scale, c.p_perspective], dtype=torch.float64)
        crop_on, rotate_on, scale_on, perspective_on = (
            rand((batch, 4), g) < chance).unbind(dim=1)

        boxes = sample_crop_boxes(batch, in_size, c.crop_scale, g)
        whole = torch.tensor([0.0, 0.0, in_size[1], in_size[0]], dtype=torch.float64)
        crop = crop_matrix(torch.where(crop_on[:, None], boxes, whole), out_size)

        angle = torch.where(rotate_on, uniform((batch,), *c.rotation, g), 0.0)
        scale = torch.where(scale_on, uniform((batch,), *c.scale, g), 1.0)
        rotation_scale = rotation_scale_matrix(angle, scale, out_size)

        start, end = sample_perspective_corners(batch, out_size, c.perspective, g)
        perspective = torch.where(perspective_on[:, None, None], homography_from_points(start, end),
                                  torch.eye(3, dtype=torch.float64))
        homography = perspective @ rotation_scale @ crop
        return homography.to(device=device, dtype=torch.float32)

    def __call__(self, images: Tensor) -> AugmentedBatch:
        """Augment ``(B, 3, H, W)`` images in [0, 1] into an :class:`AugmentedBatch`."""
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(f"Augmenter expects float RGB images (B, 3, H, W), got "
                             f"{tuple(images.shape)} {images.dtype}")
        if images.numel() and (images.min() < 0 or images.max() > 1):
            raise ValueError(f"Augmenter expects images in [0, 1], got values in "
                             f"[{images.min().item():.3g}, {images.max().item():.3g}]")
        batch, _, height, width = images.shape
        out_size = self.out_size or (height, width)
        homography = self.sample_homography(batch, (height, width), out_size, images.device)

        c = self.config
        color_on = (rand((batch,), self.generator) < c.p_color).nonzero().squeeze(1)
        # an enclosing fp16/bf16 autocast would round pixel coordinates by up to ~2 px
        with torch.autocast(images.device.type, enabled=False):
            if color_on.numel():
                images = images.clone()
                where = color_on.to(images.device)
                images[where] = color_jitter(images[where], c.brightness, c.contrast, c.saturation,
                                             c.hue, generator=self.generator)
            warped, valid = warp_image(images, homography, out_size)
        return AugmentedBatch(images=warped.clamp(0, 1), homography=homography, valid=valid)


def map_keypoints(homography: Tensor, xy: Tensor, out_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Map source keypoints into the augmented image.

    ``homography (B, 3, 3)``, ``xy (B, N, 2)`` source pixels -> ``(mapped (B, N, 2),
    inside (B, N) bool)``; ``inside`` says the point lands within the ``out_size = (h, w)`` image
    (pixel edges at -0.5 and size - 0.5, as :func:`warp_image`'s ``valid``).
    """
    if homography.ndim != 3 or homography.shape[1:] != (3, 3):
        raise ValueError(f"homography must be (B, 3, 3), got {tuple(homography.shape)}")
    if xy.ndim != 3 or xy.shape[-1] != 2 or xy.shape[0] != homography.shape[0]:
        raise ValueError(f"keypoints must be (B, N, 2) with B = {homography.shape[0]}, "
                         f"got {tuple(xy.shape)}")
    out_size = _check_size("out_size", out_size)
    xy = xy if xy.is_floating_point() else xy.to(torch.float32)
    mapped = transform_points(homography, xy)
    return mapped, inside_image(mapped, out_size)

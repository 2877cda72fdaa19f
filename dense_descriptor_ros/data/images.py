"""Unordered RGB image folders (identical-view and CCL training).

Images may come in any order and any size; each is resized to cover the training size and
centre-cropped so its aspect ratio is kept. Files that cannot be decoded are reported once
and skipped, so one bad frame never stops a training run.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


class DatasetError(RuntimeError):
    """A dataset that cannot be used (missing, empty or malformed)."""


def find_images(root: str | Path) -> list[Path]:
    """All image files below ``root``, sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to ``(H, W, 3)`` uint8 RGB; raises DatasetError on bad files."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def to_tensor(rgb: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1).float().div_(255.0)


def resize_cover(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to cover ``size = (h, w)`` keeping the aspect ratio, then centre-crop."""
    h, w = size
    ih, iw = rgb.shape[:2]
    scale = max(h / ih, w / iw)
    nh, nw = max(h, round(ih * scale)), max(w, round(iw * scale))
    img = Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR)
    top, left = (nh - h) // 2, (nw - w) // 2
    return np.asarray(img)[top:top + h, left:left + w]


def verified_images(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Split ``paths`` into decodable images and ``(path, reason)`` for the bad ones."""
    good, bad = [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                img.verify()
            good.append(path)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            bad.append((path, str(exc) or type(exc).__name__))
    return good, bad


def random_crop(rgb: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A ``size = (h, w)`` window at native scale; images smaller than that are resized first."""
    h, w = size
    if rgb.shape[0] < h or rgb.shape[1] < w:
        return resize_cover(rgb, size)
    top = int(rng.integers(0, rgb.shape[0] - h + 1))
    left = int(rng.integers(0, rgb.shape[1] - w + 1))
    return rgb[top:top + h, left:left + w]


class UnorderedImageDataset(Dataset):
    """A folder of unordered RGB images, each returned as ``(3, h, w)`` in [0, 1].

    ``fit="resize"`` scales the whole image to the training size; ``fit="crop"`` takes random
    windows at native scale, so a small, cheap training size still sees objects at the scale
    the camera delivers at run time.
    """

    def __init__(self, root: str | Path, size: tuple[int, int], paths: list[Path] | None = None,
                 fit: str = "resize") -> None:
        if fit not in ("resize", "crop"):
            raise ValueError(f"fit must be 'resize' or 'crop', got {fit!r}")
        self.root = Path(root)
        self.size = size
        self.fit = fit
        self.rng = np.random.default_rng()
        candidates = paths if paths is not None else find_images(self.root)
        self.paths, self.rejected = verified_images(candidates)
        for path, reason in self.rejected:
            log.warning("skipping unreadable image %s: %s", path, reason)
        if not self.paths:
            raise DatasetError(f"no readable images in {self.root} "
                               f"({len(self.rejected)} rejected, suffixes {sorted(IMAGE_SUFFIXES)})")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        # A file can pass verify() and still fail to decode (truncated data): report it and
        # serve the next readable image instead of ending the run.
        for offset in range(len(self.paths)):
            path = self.paths[(index + offset) % len(self.paths)]
            try:
                rgb = read_rgb(path)
                fitted = (random_crop(rgb, self.size, self.rng) if self.fit == "crop"
                          else resize_cover(rgb, self.size))
                return to_tensor(fitted)
            except DatasetError as exc:
                log.warning("skipping %s", exc)
        raise DatasetError(f"no image in {self.root} could be decoded")

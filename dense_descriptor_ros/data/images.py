"""Unordered RGB image folders (identical-view and CCL training).

Images may come in any order and any size; each is resized to cover the training size and
centre-cropped so its aspect ratio is kept. Files that cannot be decoded are reported once
and skipped, so one bad frame never stops a training run.

Training and evaluation open image files through :func:`open_image`, which refuses an image
larger than ``MAX_IMAGE_PIXELS`` from its header, before anything is decoded. Colour readers
also refuse single-channel images of more than 8 bits (16-bit PNGs, 32-bit TIFFs): such a file
in an image folder is almost always depth or infrared, and reading it as colour would clip it
to white.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}
# 4096 x 4096: above every camera this stack drives (RealSense 1920x1080, Zivid 2+ 2448x2048) and
# 4K frames; full-resolution 64-d descriptors of one such image already take 4 GiB.
MAX_SIDE = 4096
MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
# Pillow modes of single-channel images with more than 8 bits per pixel (depth, infrared).
WIDE_GREY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


class DatasetError(RuntimeError):
    """A dataset that cannot be used (missing, empty or malformed)."""


def find_images(root: str | Path) -> list[Path]:
    """All image files below ``root``, sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


@contextlib.contextmanager
def open_image(path: str | Path, what: str = "image") -> Iterator[Image.Image]:
    """The opened, not yet decoded image file; DatasetError naming ``path`` for a file that is
    missing, too large or fails to decode in the ``with`` block."""
    too_large = (f"{what} {path} is larger than the {MAX_IMAGE_PIXELS} pixels ({MAX_SIDE}x{MAX_SIDE}) "
                 "this package reads; downscale it first")
    try:
        with warnings.catch_warnings():  # Pillow's bomb warning: the check below says more
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DatasetError(f"{too_large} (it is {img.width}x{img.height})")
            yield img
    except Image.DecompressionBombError as exc:  # beyond Pillow's own limit, refused while opening
        raise DatasetError(f"{too_large} ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"cannot read {what} {path}: {exc}") from exc


def _require_colour(img: Image.Image, path: str | Path) -> None:
    if img.mode in WIDE_GREY_MODES:
        raise DatasetError(f"{path} is a single-channel image of more than 8 bits (mode {img.mode}), "
                           "most likely depth or infrared: not read as colour; convert it to "
                           "8-bit if it is a photo")


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode a colour (or 8-bit grey) image file to ``(H, W, 3)`` uint8 RGB; raises DatasetError
    on bad, oversized and depth-like files. 16-bit colour is reduced to its high byte."""
    with open_image(path) as img:
        _require_colour(img, path)
        return np.asarray(img.convert("RGB"))


def check_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` if it is RGB ``(H, W, 3)`` uint8, else a clear error."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an RGB image of shape (H, W, 3) and dtype uint8, "
                         f"got shape {image.shape} and dtype {image.dtype}")
    return image


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


def readable_images(paths: list[Path], root: str | Path) -> list[Path]:
    """The colour images of ``paths`` (found under ``root``) whose files check out; each other
    file is reported and left out, so one bad file never stops a run. Raises DatasetError when
    none is left."""
    good = []
    for path in paths:
        try:
            with open_image(path) as img:
                _require_colour(img, path)
                img.verify()
            good.append(path)
        except DatasetError as exc:
            log.warning("left out: %s", exc)
    if not good:
        raise DatasetError(f"no readable images in {root} ({len(paths)} rejected, "
                           f"suffixes {sorted(IMAGE_SUFFIXES)})")
    return good


def random_crop(rgb: np.ndarray, size: tuple[int, int], rng: np.random.Generator,
                corner: tuple[float, float] | None = None) -> np.ndarray:
    """A ``size = (h, w)`` window at native scale; images smaller than that are resized first.

    ``corner``: the window's top-left corner as fractions of the free range (drawn if None), so
    two frames of one fixed camera can be cut at the same place."""
    h, w = size
    if rgb.shape[0] < h or rgb.shape[1] < w:
        return resize_cover(rgb, size)
    if corner is None:
        top = int(rng.integers(0, rgb.shape[0] - h + 1))
        left = int(rng.integers(0, rgb.shape[1] - w + 1))
    else:
        top = min(int(corner[0] * (rgb.shape[0] - h + 1)), rgb.shape[0] - h)
        left = min(int(corner[1] * (rgb.shape[1] - w + 1)), rgb.shape[1] - w)
    return rgb[top:top + h, left:left + w]


class UnorderedImageDataset(Dataset):
    """A folder of unordered RGB images, each returned as ``(3, h, w)`` in [0, 1].

    ``fit="resize"`` scales the whole image to the training size; ``fit="crop"`` takes random
    windows at native scale, so a small, cheap training size still sees objects at the scale
    the camera delivers at run time.

    ``partner_gap``: each item is ``(2, 3, h, w)``, the image and a partner at most that many
    images away in file-name order. Frames of one recording are named in time order and a
    recording shows one heap, so neighbours share objects, which is what CCL's B must do. With
    ``fit="crop"`` both are cut at the same window: one fixed camera, the same part of the bin.
    """

    def __init__(self, root: str | Path, size: tuple[int, int], paths: list[Path] | None = None,
                 fit: str = "resize", partner_gap: int | None = None, seed: int = 0) -> None:
        """``paths``: images under ``root`` already checked by :func:`readable_images` (default:
        every readable image under ``root``)."""
        if fit not in ("resize", "crop"):
            raise ValueError(f"fit must be 'resize' or 'crop', got {fit!r}")
        if partner_gap is not None and partner_gap < 1:
            raise ValueError(f"partner_gap must be at least 1, got {partner_gap}")
        self.root = Path(root)
        self.size = size
        self.fit = fit
        self.partner_gap = partner_gap
        self.rng = np.random.default_rng(seed)
        self.paths = sorted(paths if paths is not None else readable_images(find_images(self.root), self.root))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        if self.partner_gap is None:
            return self._load(index)
        gap = min(self.partner_gap, len(self.paths) - 1)
        offset = int(self.rng.integers(1, gap + 1)) * (1 if self.rng.random() < 0.5 else -1) if gap else 0
        partner = index + offset if 0 <= index + offset < len(self.paths) else index - offset
        corner = (self.rng.random(), self.rng.random())
        return torch.stack([self._load(index, corner), self._load(partner, corner)])

    def _load(self, index: int, corner: tuple[float, float] | None = None) -> Tensor:
        # A file can pass verify() and still fail to decode (truncated data): report it and
        # serve the next readable image instead of ending the run.
        for offset in range(len(self.paths)):
            path = self.paths[(index + offset) % len(self.paths)]
            try:
                rgb = read_rgb(path)
                fitted = (random_crop(rgb, self.size, self.rng, corner) if self.fit == "crop"
                          else resize_cover(rgb, self.size))
                return to_tensor(fitted)
            except DatasetError as exc:
                log.warning("left out: %s", exc)
        raise DatasetError(f"no image in {self.root} could be decoded")

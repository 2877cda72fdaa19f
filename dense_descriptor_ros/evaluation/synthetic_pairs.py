"""Evaluation pairs with exact ground truth from known homographies.

Each source image becomes image A; image B is a copy put through the training augmentation
pipeline (colour jitter, crop, rotation, zoom, perspective), whose homography tells exactly
where every query of A lands in B. Queries sit on textured pixels (strong image gradient) that
stay inside B, since a query on a blank wall or outside the view tests nothing.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dense_descriptor_ros.augmentation import AugmentationConfig, Augmenter, map_keypoints
from dense_descriptor_ros.data.images import DatasetError, read_rgb, resize_cover, to_tensor
from dense_descriptor_ros.evaluation.pairs import Pair, save_pairs

log = logging.getLogger(__name__)

BORDER_PX = 4  # queries keep this far from the edges of A and B (no half-empty neighbourhoods)
TEXTURE_QUANTILE = 0.75  # queries come from the pixels with the top 25 % gradient magnitude


def gradient_magnitude(image: torch.Tensor) -> np.ndarray:
    """Grey-level gradient magnitude of a ``(3, H, W)`` image: ``(H, W)``."""
    grey = image.mean(dim=0).double().numpy()
    gy, gx = np.gradient(grey)
    return np.hypot(gx, gy)


def pick_queries(texture: np.ndarray, usable: np.ndarray, count: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` distinct integer pixels ``(M, 2)`` drawn among the most textured usable ones.

    ``texture (H, W)`` gradient magnitude, ``usable (H, W)`` bool. Draws uniformly among usable
    pixels at or above the ``TEXTURE_QUANTILE`` of their texture, topped up with the next most
    textured ones when too few pass.
    """
    ys, xs = np.nonzero(usable)
    if xs.size == 0:
        return np.zeros((0, 2))
    strength = texture[ys, xs]
    textured = np.flatnonzero(strength >= np.quantile(strength, TEXTURE_QUANTILE))
    if textured.size < count:
        textured = np.argsort(-strength, kind="stable")[:count]
    chosen = rng.choice(textured, size=min(count, textured.size), replace=False)
    return np.stack([xs[chosen], ys[chosen]], axis=-1).astype(float)


def _save_png(image: torch.Tensor, path: Path) -> None:
    """``(3, H, W)`` in [0, 1] -> 8-bit RGB PNG."""
    array = (image.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(array).save(path)


def make_homography_pairs(image_paths: list[Path], out_dir: Path, pairs_per_image: int,
                          queries_per_pair: int, size: tuple[int, int] | None, seed: int,
                          config: AugmentationConfig | None = None) -> Path:
    """Write images and ``out_dir/pairs.json`` (image paths relative to ``out_dir``).

    Every source is resized to cover ``size = (h, w)`` and centre-cropped (``None`` keeps its
    size) to give A; ``pairs_per_image`` augmented copies give the B images. Each pair's
    ``meta`` records the source file and the A -> B homography. ``config`` defaults to
    :meth:`AugmentationConfig.synthetic` (every augmentation on). A source that cannot be
    decoded is reported and left out. Returns the pairs.json path.
    """
    if not image_paths:
        raise ValueError("no source images given for synthetic pairs")
    if pairs_per_image < 1 or queries_per_pair < 1:
        raise ValueError(f"pairs_per_image and queries_per_pair must be >= 1, got "
                         f"{pairs_per_image} and {queries_per_pair}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    augmenter = Augmenter(config or AugmentationConfig.synthetic(), generator=generator)
    pairs: list[Pair] = []
    for index, source in enumerate(tqdm(image_paths, desc="synthetic pairs", unit="image")):
        try:
            rgb = read_rgb(source)
        except DatasetError as exc:  # passed the header check, but its data is cut short
            log.warning("left out: %s", exc)
            continue
        image_a = to_tensor(resize_cover(rgb, size) if size is not None else rgb)
        height, width = image_a.shape[-2:]
        stem = f"{index:04d}_{Path(source).stem}"
        name_a = f"{stem}_a.png"
        _save_png(image_a, out_dir / name_a)
        batch = augmenter(image_a.unsqueeze(0).expand(pairs_per_image, -1, -1, -1).contiguous())

        texture = gradient_magnitude(image_a)
        ys, xs = np.mgrid[0:height, 0:width]
        in_a = ((xs >= BORDER_PX) & (xs < width - BORDER_PX)
                & (ys >= BORDER_PX) & (ys < height - BORDER_PX))
        grid = torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], -1)).float()
        for j in range(pairs_per_image):
            homography = batch.homography[j:j + 1]
            mapped, _ = map_keypoints(homography, grid.unsqueeze(0), (height, width))
            mx, my = mapped[0].numpy().T.reshape(2, height, width)
            in_b = ((mx >= BORDER_PX) & (mx <= width - 1 - BORDER_PX)
                    & (my >= BORDER_PX) & (my <= height - 1 - BORDER_PX))  # NaN -> False
            queries = pick_queries(texture, in_a & in_b, queries_per_pair, rng)
            if len(queries) == 0:
                log.warning("skipping %s copy %d: no pixel of A stays inside B", source, j)
                continue
            if len(queries) < queries_per_pair:
                log.warning("%s copy %d: only %d of %d queries available", source, j,
                            len(queries), queries_per_pair)
            targets, inside = map_keypoints(homography, torch.from_numpy(queries).float()[None],
                                            (height, width))
            name_b = f"{stem}_b{j}.png"
            _save_png(batch.images[j], out_dir / name_b)
            pairs.append(Pair(image_a=name_a, image_b=name_b, queries=queries,
                              targets=targets[0].double().numpy(), visible=inside[0].numpy(),
                              extra={"meta": {"source": str(source), "seed": seed,
                                              "homography": homography[0].tolist()}}))
    if not pairs:
        raise ValueError("no usable synthetic pair could be made from the given images")
    path = out_dir / "pairs.json"
    save_pairs(path, pairs)
    return path

"""Run a descriptor network on image pairs: find each query of image A again in image B.

Evaluation matches at full resolution (``model(x, upsample=True)``): the query descriptor is
sampled in A at the query pixel and its best match in B (highest cosine similarity) is the
prediction, so the result is a pixel of B with no soft-argmax bias.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from dense_descriptor_ros.data.images import read_rgb, to_tensor
from dense_descriptor_ros.evaluation.metrics import pixel_errors, summarize
from dense_descriptor_ros.evaluation.pairs import Pair
from dense_descriptor_ros.matching import hard_match, sample_descriptors
from dense_descriptor_ros.model.descriptor_model import DescriptorModel

# Queries matched per similarity product: bounds memory to CHUNK x H x W floats.
QUERY_CHUNK = 256


def _check_image(image: Tensor, name: str) -> None:
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"{name} must be a (3, H, W) tensor in [0, 1], got shape {tuple(image.shape)}")


def _check_queries(queries: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    queries = np.asarray(queries, dtype=float)
    if queries.ndim != 2 or queries.shape[1] != 2:
        raise ValueError(f"queries must be (N, 2) pixel coordinates, got shape {queries.shape}")
    h, w = image_size
    inside = (np.isfinite(queries).all(axis=1)
              & (queries[:, 0] >= -0.5) & (queries[:, 0] <= w - 0.5)
              & (queries[:, 1] >= -0.5) & (queries[:, 1] <= h - 0.5))
    if not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        raise ValueError(f"query {i} at {queries[i].tolist()} lies outside image A "
                         f"({w}x{h}: x must be in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}])")
    return queries


@torch.no_grad()
def predict_pair(model: DescriptorModel, image_a: Tensor, image_b: Tensor,
                 queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best match in B for every query pixel of A, at full resolution.

    image_a ``(3, H, W)``, image_b ``(3, H', W')`` RGB in [0, 1]; queries ``(N, 2)`` pixels of A.
    A model in training keeps its mode after (``DescriptorModel.describe_images``).
    Returns ``(predictions (N, 2) pixels of B, confidence (N,) cosine similarity of the match)``.
    """
    _check_image(image_a, "image_a")
    _check_image(image_b, "image_b")
    queries = _check_queries(queries, tuple(image_a.shape[-2:]))
    desc_a = model.describe_images(image_a.unsqueeze(0), upsample=True)
    desc_b = model.describe_images(image_b.unsqueeze(0), upsample=True)
    # at full resolution grid coordinates are pixel coordinates
    xy = torch.as_tensor(queries, dtype=torch.float32, device=desc_a.device).unsqueeze(0)
    query_desc = sample_descriptors(desc_a, xy)  # (1, N, D)
    locations, scores = [], []
    for start in range(0, query_desc.shape[1], QUERY_CHUNK):
        location, score = hard_match(query_desc[:, start:start + QUERY_CHUNK], desc_b)
        locations.append(location[0])
        scores.append(score[0])
    predictions = torch.cat(locations).cpu().numpy().astype(np.float64)
    confidence = torch.cat(scores).float().cpu().numpy().astype(np.float64)
    return predictions, confidence


def read_image(image_dir: str | Path, relative: str) -> Tensor:
    """Image ``image_dir / relative`` as ``(3, H, W)`` in [0, 1]; bad files name themselves."""
    return to_tensor(read_rgb(Path(image_dir) / relative))


def predict_pairs(model: DescriptorModel, pairs: list[Pair], image_dir: str | Path,
                  progress: bool = True) -> list[Pair]:
    """Copies of ``pairs`` with ``predictions`` and ``confidence`` filled in.

    Every image is checked to exist before matching starts. Each pair also gets
    ``image_b_size = [width, height]`` in its extra fields, so its predictions can be scored
    later without the images.
    """
    missing = sorted({path for pair in pairs for path in (pair.image_a, pair.image_b)
                      if not (Path(image_dir) / path).is_file()})
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) of the pairs are missing from "
                                f"{image_dir}: {', '.join(missing[:5])}")
    out = []
    for index, pair in enumerate(tqdm(pairs, desc="matching pairs", unit="pair", disable=not progress)):
        image_a = read_image(image_dir, pair.image_a)
        image_b = read_image(image_dir, pair.image_b)
        try:
            predictions, confidence = predict_pair(model, image_a, image_b, pair.queries)
        except ValueError as exc:
            raise ValueError(f"pair {index} ({pair.image_a} -> {pair.image_b}): {exc}") from exc
        extra = {**pair.extra, "image_b_size": [int(image_b.shape[2]), int(image_b.shape[1])]}
        out.append(dataclasses.replace(pair, predictions=predictions, confidence=confidence,
                                       extra=extra))
    return out


def image_b_diagonal(pair: Pair, image_dir: str | Path | None = None) -> float:
    """Diagonal of image B in pixels, from ``image_b_size`` or by reading the image."""
    size = pair.extra.get("image_b_size")
    if size is None:
        if image_dir is None:
            raise ValueError(f"pair {pair.image_a} -> {pair.image_b} has no 'image_b_size'; "
                             "give the images directory to measure image B")
        height, width = read_rgb(Path(image_dir) / pair.image_b).shape[:2]
    elif (isinstance(size, list) and len(size) == 2
          and all(isinstance(v, int) and v > 0 for v in size)):
        width, height = size
    else:
        raise ValueError(f"pair {pair.image_a} -> {pair.image_b}: 'image_b_size' must be "
                         f"[width, height] positive integers, got {size!r}")
    return float(np.hypot(width, height))


def pair_errors(pair: Pair) -> np.ndarray:
    """Pixel errors ``(M,)`` of the scored queries (visible, with a target) of one pair."""
    mask = pair.scored()
    if not mask.any():
        return np.zeros(0)
    if pair.predictions is None:
        raise ValueError(f"pair {pair.image_a} -> {pair.image_b} has no predictions; "
                         "run `ddr match` first")
    return pixel_errors(pair.predictions[mask], pair.targets[mask])


def collect_errors(pairs: list[Pair], image_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Errors ``(M,)`` of every visible query with a target across ``pairs``, and the diagonal
    ``(M,)`` of the image B each was measured in; pairs without targets add nothing.

    Diagonals come from ``image_b_size`` (written by :func:`predict_pairs`) or, failing that,
    from the images in ``image_dir``.
    """
    errors, diagonals = [], []
    for pair in pairs:
        e = pair_errors(pair)
        if e.size:
            errors.append(e)
            diagonals.append(np.full(e.size, image_b_diagonal(pair, image_dir)))
    if not errors:
        raise ValueError(f"none of the {len(pairs)} pairs has a visible query with a target "
                         "to score")
    return np.concatenate(errors), np.concatenate(diagonals)


def evaluate_pairs(pairs: list[Pair], image_dir: str | Path | None = None) -> dict:
    """:func:`summarize` over every visible query with a target, across all pairs."""
    return summarize(*collect_errors(pairs, image_dir))

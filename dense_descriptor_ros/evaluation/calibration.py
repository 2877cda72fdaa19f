"""A model's heatmap distance scale ``eta``, measured on held-out pairs.

``h_j = exp(-||D - d_j|| / eta)`` only means something relative to how far apart a model puts
the descriptors of one surface point seen in two images, and that spread differs between
models (NT-Xent at temperature 0.07 does not pull true matches to distance 0; a longer-trained
model spreads everything further apart). With ``eta`` set to the median distance of true
correspondences, a typical true match scores 1/e with every model, so the grasp nodes'
confidence gates keep their meaning when the model changes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from dense_descriptor_ros.data.images import read_rgb
from dense_descriptor_ros.evaluation.pairs import Pair
from dense_descriptor_ros.model.descriptor_model import DescriptorModel


def true_match_distances(model: DescriptorModel, pairs: list[Pair], images: Path) -> np.ndarray:
    """Descriptor distances ``(M,)`` between every visible query and its true target, sampled
    on the stride-8 grid as the heatmaps are."""
    distances = []
    for pair in tqdm(pairs, desc="calibrating", unit="pair"):
        if pair.targets is None or pair.visible is None:
            raise ValueError(f"pair {pair.image_a} -> {pair.image_b} has no ground truth to calibrate on")
        seen = pair.visible & np.isfinite(pair.targets).all(axis=1)
        if not seen.any():
            continue
        a = model.describe_pixels(read_rgb(Path(images) / pair.image_a), pair.queries[seen])
        b = model.describe_pixels(read_rgb(Path(images) / pair.image_b), pair.targets[seen])
        distances.append(np.linalg.norm(a - b, axis=1))
    if not distances:
        raise ValueError("no visible ground-truth correspondence in the pairs: cannot calibrate eta")
    return np.concatenate(distances)


def calibrated_eta(distances: np.ndarray) -> float:
    """The median true-match distance: a typical true match then scores exp(-1)."""
    eta = float(np.median(distances))
    if not eta > 0:
        raise ValueError(f"true matches lie at distance {eta}: descriptors are degenerate")
    return eta


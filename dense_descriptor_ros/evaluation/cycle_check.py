"""Whether CCL can learn from a model: do its most certain cycles rest on right matches?

CCL rewards cycles A -> B -> A that close, keeping the q most certain. That teaches
correspondence only if those cycles pass through the right point of B; a start that matches
nothing across scenes closes its cycles through wrong points and CCL then sharpens mistakes.
On pairs with ground truth (simulated cross-scene pairs) this measures, for one model, how
often a kept cycle's forward match A -> B is right (a pose-free run cannot measure it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dense_descriptor_ros.data.images import read_rgb
from dense_descriptor_ros.evaluation.pairs import Pair
from dense_descriptor_ros.losses.cycle import run_cycle
from dense_descriptor_ros.matching import grid_to_pixel, pixel_to_grid
from dense_descriptor_ros.model.descriptor_model import DescriptorModel

RIGHT_PX = 10.0  # a forward match this close to the truth is right
WRONG_PX = 25.0  # ... and this far off, wrong
CLOSED_CELLS = 1.0  # a cycle that returns within one grid cell has closed


def cycle_check(model: DescriptorModel, pairs: list[Pair], images: Path, tau: float = 0.03,
                quantile: float = 0.35) -> dict:
    """Forward-match accuracy of all and of CCL-kept cycles (A -> B -> A, no augmentation)."""
    forward_error, cycle_error, uncertainty = [], [], []
    for pair in tqdm(pairs, desc="cycles", unit="pair"):
        if pair.targets is None or pair.visible is None:
            raise ValueError(f"pair {pair.image_a} -> {pair.image_b} has no ground truth to check cycles on")
        seen = pair.visible & np.isfinite(pair.targets).all(axis=1)
        if not seen.any():
            continue
        rgb_a = read_rgb(Path(images) / pair.image_a)
        desc_a, desc_b = model.describe(rgb_a), model.describe(read_rgb(Path(images) / pair.image_b))
        size, grid = rgb_a.shape[:2], tuple(desc_a.shape[-2:])
        queries = pixel_to_grid(torch.from_numpy(pair.queries[seen]).float()[None], size, grid)
        with torch.no_grad():
            cycle = run_cycle(desc_a, desc_b, desc_a, queries, tau)
        landed = grid_to_pixel(cycle.forward.location, size, grid)[0].numpy()
        forward_error.append(np.linalg.norm(landed - pair.targets[seen], axis=1))
        cycle_error.append((cycle.back.location - queries).norm(dim=-1)[0].numpy())
        uncertainty.append(cycle.uncertainty[0].numpy())
    if not forward_error:
        raise ValueError("no visible ground-truth correspondence in the pairs: no cycle to check")
    forward, cycles, spread = (np.concatenate(v) for v in (forward_error, cycle_error, uncertainty))
    kept = spread <= np.quantile(spread, quantile)
    closed = cycles < CLOSED_CELLS
    return {"queries": int(forward.size), "quantile": quantile, "tau": tau,
            "forward_right": float(np.mean(forward < RIGHT_PX)),
            "kept_forward_right": float(np.mean(forward[kept] < RIGHT_PX)),
            "median_cycle_error_cells": float(np.median(cycles)),
            "kept_median_cycle_error_cells": float(np.median(cycles[kept])),
            "kept_closed_through_right_match": float(np.mean(closed[kept] & (forward[kept] < RIGHT_PX))),
            "kept_closed_through_wrong_match": float(np.mean(closed[kept] & (forward[kept] > WRONG_PX)))}

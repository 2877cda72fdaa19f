"""Keypoint-matching metrics: pixel error, PCK@k, AUC of the PCK curve, error quantiles.

These are the numbers the papers report (PCK@{3,5,10,25,50}, AUC over k = 1..50 and 1..100,
mean/median/quantiles, error normalised by the image diagonal), so results stay comparable.
"""
from __future__ import annotations

import numpy as np

PCK_THRESHOLDS = (3, 5, 10, 25, 50)
AUC_LIMITS = (50, 100)
QUANTILES = {"q75": 0.75, "q90": 0.90, "q95": 0.95}


def _errors_array(errors: np.ndarray) -> np.ndarray:
    errors = np.asarray(errors, dtype=float)
    if errors.ndim != 1:
        raise ValueError(f"errors must be a 1-D array (N,), got shape {errors.shape}")
    if errors.size == 0:
        raise ValueError("no errors to score: need at least one query with a target")
    if not np.all(np.isfinite(errors)) or np.any(errors < 0):
        raise ValueError("errors must be finite and non-negative "
                         "(a NaN usually means a prediction or target is missing)")
    return errors


def pixel_errors(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Euclidean distance between predicted and true points: ``(N, 2), (N, 2) -> (N,)``."""
    predictions = np.asarray(predictions, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if predictions.ndim != 2 or predictions.shape[-1] != 2 or predictions.shape != targets.shape:
        raise ValueError(f"predictions and targets must both be (N, 2); got "
                         f"{predictions.shape} and {targets.shape}")
    return np.linalg.norm(predictions - targets, axis=-1)


def pck(errors: np.ndarray, k: float) -> float:
    """Percentage of correct keypoints: the fraction of errors ``<= k`` pixels."""
    return float(np.mean(_errors_array(errors) <= k))


def pck_curve(errors: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """PCK at every threshold in ``ks``: ``(K,)`` -> ``(K,)``."""
    errors = _errors_array(errors)
    ks = np.asarray(ks, dtype=float)
    return np.mean(errors[None, :] <= ks.reshape(-1, 1), axis=1)


def auc(errors: np.ndarray, max_k: int = 50) -> float:
    """Area under the PCK curve: mean of PCK@k for integer k = 1..max_k (1 is perfect)."""
    if int(max_k) < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    return float(np.mean(pck_curve(errors, np.arange(1, int(max_k) + 1))))


def summarize(errors: np.ndarray, diagonals: np.ndarray) -> dict:
    """All metrics of one evaluation as a flat, JSON-ready dict.

    ``diagonals (N,)`` is the diagonal in pixels of the image each error was measured in;
    ``normalised_mean`` is the mean of ``error / diagonal`` so image sizes can be compared.
    """
    errors = _errors_array(errors)
    diagonals = np.asarray(diagonals, dtype=float)
    if diagonals.shape != errors.shape:
        raise ValueError(f"diagonals must match errors in shape; got {diagonals.shape} "
                         f"for {errors.shape}")
    if np.any(~np.isfinite(diagonals) | (diagonals <= 0)):
        raise ValueError("image diagonals must be positive and finite")
    result: dict = {"count": int(errors.size)}
    result.update({f"pck@{k}": pck(errors, k) for k in PCK_THRESHOLDS})
    result.update({f"auc@{k}": auc(errors, k) for k in AUC_LIMITS})
    result["mean"] = float(np.mean(errors))
    result["median"] = float(np.median(errors))
    result.update({name: float(np.quantile(errors, q)) for name, q in QUANTILES.items()})
    result["normalised_mean"] = float(np.mean(errors / diagonals))
    return result

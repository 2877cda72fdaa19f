"""Evaluation of keypoint matching: metrics, the pairs format, prediction and reports.

Plots (``report``) and synthetic pair generation (``synthetic_pairs``) are imported from their
modules so that training loops can use the metrics without loading matplotlib.
"""
from dense_descriptor_ros.evaluation.metrics import (PCK_THRESHOLDS, auc, pck, pck_curve, pixel_errors,
                                                     summarize)
from dense_descriptor_ros.evaluation.pairs import Pair, PairsFormatError, load_pairs, save_pairs
from dense_descriptor_ros.evaluation.predict import evaluate_pairs, predict_pair, predict_pairs

__all__ = [
    "PCK_THRESHOLDS",
    "Pair",
    "PairsFormatError",
    "auc",
    "evaluate_pairs",
    "load_pairs",
    "pck",
    "pck_curve",
    "pixel_errors",
    "predict_pair",
    "predict_pairs",
    "save_pairs",
    "summarize",
]

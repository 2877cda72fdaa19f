"""Evaluation figures (PNG, matplotlib Agg) and markdown tables.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot,
so reports can be written from training loops, nodes and threads without a display or any
global backend state.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from dense_descriptor_ros.evaluation.metrics import PCK_THRESHOLDS, pck_curve
from dense_descriptor_ros.evaluation.pairs import Pair
from dense_descriptor_ros.evaluation.predict import pair_errors, read_image
from dense_descriptor_ros.model.descriptor_model import DescriptorModel

CORRECT_PX = 10.0  # match lines at or under this error are drawn green
PCA_FIT_PIXELS = 20000  # pixels the descriptor PCA is fitted on (all pixels are projected)


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, bbox_inches="tight")
    return path


def plot_pck_curve(curves: dict[str, np.ndarray], path: str | Path, max_k: int = 50) -> Path:
    """PCK@k for k = 0..max_k, one line per labelled error array ``(N,)``."""
    figure = _figure(6, 4)
    ax = figure.add_subplot()
    ks = np.arange(0, max_k + 1)
    for label, errors in curves.items():
        ax.plot(ks, pck_curve(errors, ks), label=label)
    for k in PCK_THRESHOLDS:
        if k <= max_k:
            ax.axvline(k, color="0.85", linewidth=0.8, zorder=0)
    ax.set(xlabel="threshold k [px]", ylabel="PCK@k", xlim=(0, max_k), ylim=(0, 1.02),
           title="fraction of queries within k pixels")
    ax.legend(loc="best")
    return _save(figure, path)


def plot_ablation(lines: dict[str, dict[float, float]], path: str | Path, xlabel: str,
                  ylabel: str) -> Path:
    """One marked line per setting: ``{label: {x: y}}`` (e.g. AUC@50 against CCL's quantile)."""
    figure = _figure(5, 3.5)
    ax = figure.add_subplot()
    for label, points in lines.items():
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], marker="o", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(loc="best")
    return _save(figure, path)


def plot_error_histogram(errors: np.ndarray, path: str | Path, max_error: float | None = None) -> Path:
    """Histogram of pixel errors; errors above ``max_error`` pile up in the last bin.

    ``max_error`` defaults to the 95 % quantile (at least 50 px), so the bulk stays readable
    whether the model is good or still random.
    """
    errors = np.asarray(errors, dtype=float)
    if max_error is None:
        max_error = max(50.0, float(np.ceil(np.quantile(errors, 0.95))))
    figure = _figure(6, 4)
    ax = figure.add_subplot()
    ax.hist(np.minimum(errors, max_error), bins=50, range=(0, max_error), color="tab:blue")
    ax.axvline(float(np.median(errors)), color="k", linestyle="--",
               label=f"median {np.median(errors):.1f} px")
    ax.set(xlabel=f"pixel error (>= {max_error:g} clipped)", ylabel="queries",
           title=f"match error over {errors.size} queries")
    ax.legend()
    return _save(figure, path)


def plot_matches(pairs: list[Pair], image_dir: str | Path, path: str | Path,
                 max_pairs: int = 4, max_lines: int = 40) -> Path:
    """Example pairs side by side with query -> prediction lines.

    Green: error <= ``CORRECT_PX``; red: larger; grey: no ground truth for that query.
    """
    shown = [p for p in pairs if p.predictions is not None][:max_pairs]
    if not shown:
        raise ValueError("no pair has predictions to draw")
    figure = _figure(10, 3.2 * len(shown))
    for row, pair in enumerate(shown):
        image_a = read_image(image_dir, pair.image_a).permute(1, 2, 0).numpy()
        image_b = read_image(image_dir, pair.image_b).permute(1, 2, 0).numpy()
        height = max(image_a.shape[0], image_b.shape[0])
        canvas = np.ones((height, image_a.shape[1] + image_b.shape[1], 3))
        canvas[:image_a.shape[0], :image_a.shape[1]] = image_a
        canvas[:image_b.shape[0], image_a.shape[1]:] = image_b
        ax = figure.add_subplot(len(shown), 1, row + 1)
        ax.imshow(canvas)
        scored = pair.scored()
        errors = np.full(len(pair.queries), np.nan)
        errors[scored] = pair_errors(pair)
        for i in range(min(len(pair.queries), max_lines)):
            color = "0.6" if not scored[i] else ("lime" if errors[i] <= CORRECT_PX else "red")
            (xa, ya), (xb, yb) = pair.queries[i], pair.predictions[i]
            ax.plot([xa, xb + image_a.shape[1]], [ya, yb], "-o", color=color, linewidth=0.8,
                    markersize=2)
        title = f"{pair.image_a} -> {pair.image_b}"
        if scored.any():
            title += f"  ({np.mean(errors[scored] <= CORRECT_PX):.0%} within {CORRECT_PX:g} px)"
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    return _save(figure, path)


def pca_rgb(descriptors: list[Tensor]) -> list[np.ndarray]:
    """Project descriptor images ``(D, H, W)`` onto their 3 joint principal components.

    One projection for all images, so the same colour means the same descriptor across them.
    It is fitted on an even subsample of pixels to keep memory small for large images.
    Returns ``(H, W, 3)`` arrays in [0, 1] (each component stretched over its 1..99 % range).
    """
    flats = [d.reshape(d.shape[0], -1).T.float() for d in descriptors]  # (P_i, D)
    step = max(1, sum(f.shape[0] for f in flats) // PCA_FIT_PIXELS)
    sample = torch.cat([f[::step] for f in flats]).double()
    mean = sample.mean(0)
    _, _, v = torch.linalg.svd(sample - mean, full_matrices=False)
    components = torch.nn.functional.pad(v[:3].T, (0, max(0, 3 - v.shape[0])))  # (D, 3)
    fitted = ((sample - mean) @ components).numpy()
    lo, hi = np.percentile(fitted, 1, axis=0), np.percentile(fitted, 99, axis=0)
    out = []
    for d, flat in zip(descriptors, flats):
        projected = ((flat - mean.float()) @ components.float()).numpy()
        rgb = np.clip((projected - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
        out.append(rgb.reshape(*d.shape[-2:], 3))
    return out


@torch.no_grad()
def plot_descriptor_pca(model: DescriptorModel, images: list[Tensor], path: str | Path) -> Path:
    """Images ``(3, H, W)`` next to their full-resolution descriptors as PCA colours."""
    if not images:
        raise ValueError("no images to draw descriptors for")
    descriptors = [model.describe_images(image.unsqueeze(0), upsample=True)[0].cpu() for image in images]
    colours = pca_rgb(descriptors)
    figure = _figure(6, 2.6 * len(images))
    for row, (image, colour) in enumerate(zip(images, colours)):
        for col, picture in enumerate((image.permute(1, 2, 0).numpy(), colour)):
            ax = figure.add_subplot(len(images), 2, 2 * row + col + 1)
            ax.imshow(picture)
            ax.axis("off")
            if row == 0:
                ax.set_title(("image", "descriptors (PCA -> RGB)")[col], fontsize=9)
    return _save(figure, path)


def invariance_errors(pairs: list[Pair]) -> dict[str, dict[float, np.ndarray]]:
    """Errors grouped by ``meta["kind"]`` then ``meta["magnitude"]`` (pairs lacking either skip)."""
    grouped: dict[str, dict[float, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for pair in pairs:
        kind, magnitude = pair.meta.get("kind"), pair.meta.get("magnitude")
        if kind is None or not isinstance(magnitude, (int, float)) or isinstance(magnitude, bool):
            continue
        errors = pair_errors(pair)
        if errors.size:
            grouped[str(kind)][float(magnitude)].append(errors)
    return {kind: {m: np.concatenate(e) for m, e in sorted(by_mag.items())}
            for kind, by_mag in grouped.items()}


def plot_invariance(pairs: list[Pair], out_dir: str | Path, quantile: float = 0.75) -> list[Path]:
    """``invariance_<kind>.png``: the ``quantile`` error against the perturbation magnitude."""
    paths = []
    for kind, by_magnitude in invariance_errors(pairs).items():
        magnitudes = np.array(list(by_magnitude))
        values = np.array([np.quantile(e, quantile) for e in by_magnitude.values()])
        figure = _figure(6, 4)
        ax = figure.add_subplot()
        ax.plot(magnitudes, values, "o-")
        ax.set(xlabel=f"{kind} magnitude", ylabel=f"{quantile:.0%} quantile error [px]",
               title=f"invariance to {kind}", ylim=(0, None))
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in kind)
        paths.append(_save(figure, Path(out_dir) / f"invariance_{safe}.png"))
    return paths


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: list[dict], columns: Iterable[str] | None = None) -> str:
    """Rows of dicts as a markdown table; columns default to every key, in first-seen order.

    Floats print with 3 decimals; a missing value is an empty cell.
    """
    if not rows:
        raise ValueError("a table needs at least one row")
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    columns = list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) if c in row else "" for c in columns) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


def write_markdown_table(rows: list[dict], path: str | Path, columns: Iterable[str] | None = None,
                         title: str | None = None) -> Path:
    """Write :func:`markdown_table` to ``path``, under a ``# title`` heading when given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    heading = f"# {title}\n\n" if title else ""
    path.write_text(heading + markdown_table(rows, columns))
    return path

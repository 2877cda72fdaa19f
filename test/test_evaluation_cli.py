"""Synthetic pairs with known homographies, and ``ddr pairs`` / ``ddr match`` / ``ddr evaluate``
end to end on tiny images with a tiny random model."""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dense_descriptor_ros.cli.arguments import parse_size, parse_size_list
from dense_descriptor_ros.augmentation import AugmentationConfig
from dense_descriptor_ros.data.images import read_rgb
from dense_descriptor_ros.evaluation.pairs import load_pairs, save_pairs
from dense_descriptor_ros.evaluation.report import markdown_table, write_markdown_table
from dense_descriptor_ros.evaluation.synthetic_pairs import gradient_magnitude, make_homography_pairs
from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint

torch.set_num_threads(1)

FIGURES = ("pck_curve.png", "error_histogram.png", "matches.png")
METRIC_KEYS = {"count", "pck@3", "pck@5", "pck@10", "pck@25", "pck@50", "auc@50", "auc@100",
               "mean", "median", "q75", "q90", "q95", "normalised_mean"}


def textured_image(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random texture ``(H, W, 3)`` uint8: sums of sinusoids (periods 8..24 px)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    channels = []
    for _ in range(3):
        field = sum(np.sin(2 * np.pi * (xs * np.cos(a) + ys * np.sin(a)) / p + phase)
                    for a, p, phase in zip(rng.uniform(0, np.pi, 4), rng.uniform(8, 24, 4),
                                           rng.uniform(0, 2 * np.pi, 4)))
        channels.append(field)
    image = np.stack(channels, -1)
    image = (image - image.min()) / (image.max() - image.min())
    # a flat band at the top: queries must avoid it
    image[: height // 4] = 0.5
    return (image * 255).round().astype(np.uint8)


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(textured_image(56, 72, i)).save(folder / f"tex{i}.png")
    return folder


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", DescriptorNet(ModelConfig(width=8, descriptor_dim=16)))


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample ``(H, W, C)`` at float pixels ``(N, 2)``."""
    x0, y0 = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    fx, fy = (xy[:, 0] - x0)[:, None], (xy[:, 1] - y0)[:, None]
    return ((1 - fx) * (1 - fy) * image[y0, x0] + fx * (1 - fy) * image[y0, x0 + 1]
            + (1 - fx) * fy * image[y0 + 1, x0] + fx * fy * image[y0 + 1, x0 + 1])


def test_synthetic_targets_follow_the_homography(sources, tmp_path):
    """Without colour jitter, image B at each target shows the colour of A at the query."""
    no_colour = AugmentationConfig(p_color=0.0)
    out = tmp_path / "set"
    path = make_homography_pairs(sorted(sources.glob("*.png")), out, pairs_per_image=3,
                                 queries_per_pair=25, size=(48, 64), seed=3, config=no_colour)
    pairs = load_pairs(path)
    assert len(pairs) == 6
    for pair in pairs:
        image_a = read_rgb(out / pair.image_a).astype(float) / 255
        image_b = read_rgb(out / pair.image_b).astype(float) / 255
        assert image_a.shape == image_b.shape == (48, 64, 3)
        assert pair.queries.shape == (25, 2) and pair.visible.all()
        assert len(np.unique(pair.queries, axis=0)) == 25
        homography = np.array(pair.meta["homography"])
        assert not np.allclose(homography, np.eye(3), atol=1e-3)
        colour_a = image_a[pair.queries[:, 1].astype(int), pair.queries[:, 0].astype(int)]
        colour_b = bilinear(image_b, pair.targets)
        assert np.abs(colour_a - colour_b).mean() < 0.04
        shuffled = bilinear(image_b, pair.targets[::-1])
        assert np.abs(colour_a - shuffled).mean() > 0.1
        # queries sit on texture: none in the flat band at the top of the source
        texture = gradient_magnitude(torch.from_numpy(image_a).permute(2, 0, 1))
        at_queries = texture[pair.queries[:, 1].astype(int), pair.queries[:, 0].astype(int)]
        assert at_queries.min() > np.median(texture) > 0.01
    again = make_homography_pairs(sorted(sources.glob("*.png")), tmp_path / "again", 3, 25,
                                  (48, 64), seed=3, config=no_colour)
    assert again.read_text() == path.read_text()


def test_synthetic_pairs_reject_bad_arguments(sources, tmp_path):
    with pytest.raises(ValueError, match="no source images"):
        make_homography_pairs([], tmp_path, 1, 10, None, 0)
    with pytest.raises(ValueError, match="must be >= 1"):
        make_homography_pairs(sorted(sources.glob("*.png")), tmp_path, 0, 10, None, 0)


def test_match_and_evaluate_end_to_end(sources, tmp_path, checkpoint, run_ddr, capsys):
    pairs_dir = tmp_path / "pairs"
    assert run_ddr("pairs", "synthetic", "--images", sources, "--out", pairs_dir,
                   "--pairs-per-image", 2, "--queries", 12, "--size", "40x56", "--seed", 1) == 0
    pairs_file = pairs_dir / "pairs.json"
    pairs = load_pairs(pairs_file)
    assert len(pairs) == 4 and all(p.targets is not None for p in pairs)
    assert read_rgb(pairs_dir / pairs[0].image_b).shape == (40, 56, 3)

    preds = tmp_path / "preds.json"
    assert run_ddr("match", "--model", checkpoint, "--pairs", pairs_file, "--images", pairs_dir,
                   "--out", preds, "--device", "cpu") == 0
    matched = load_pairs(preds)
    assert [(p.image_a, p.image_b) for p in matched] == [(p.image_a, p.image_b) for p in pairs]
    for before, after in zip(pairs, matched):
        np.testing.assert_array_equal(after.queries, before.queries)
        np.testing.assert_allclose(after.targets, before.targets)
        assert after.meta == before.meta and after.extra["image_b_size"] == [56, 40]
        assert after.predictions.shape == (12, 2) and np.all(np.abs(after.confidence) <= 1 + 1e-6)
        assert np.all((after.predictions >= 0) & (after.predictions <= [55, 39]))

    report = tmp_path / "report"
    assert run_ddr("evaluate", "--predictions", preds, "--images", pairs_dir, "--out", report) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS and metrics["count"] == 48
    assert 0 <= metrics["pck@3"] <= metrics["pck@50"] <= 1
    assert "| set | count | pck@3 |" in (report / "metrics.md").read_text()
    for name in FIGURES:
        with Image.open(report / name) as png:
            assert png.format == "PNG" and min(png.size) > 100
    assert not (report / "descriptor_pca.png").exists()
    assert "preds: 48 queries" in capsys.readouterr().out

    # --model with --pairs matches first, and adds the descriptor figure
    direct = tmp_path / "direct"
    assert run_ddr("evaluate", "--model", checkpoint, "--pairs", pairs_file, "--images", pairs_dir,
                   "--out", direct, "--name", "tiny") == 0
    assert json.loads((direct / "metrics.json").read_text()) == pytest.approx(metrics)
    assert load_pairs(direct / "predictions.json")[0].predictions is not None
    for name in FIGURES + ("descriptor_pca.png",):
        assert (direct / name).stat().st_size > 1000


def test_evaluate_oracle_and_invariance_sets(sources, tmp_path, run_ddr):
    pairs_dir = tmp_path / "pairs"
    path = make_homography_pairs(sorted(sources.glob("*.png")), pairs_dir, 2, 10, (40, 56), seed=2)
    pairs = load_pairs(path)
    # an oracle on an invariance set: rotation magnitudes 0, 90 and an off-by-6-px magnitude 180
    oracle = []
    for i, pair in enumerate(pairs):
        shift = 6.0 if i == 3 else 0.0
        meta = {**pair.meta, "kind": "rotation", "magnitude": [0, 90, 90, 180][i]}
        oracle.append(dataclasses.replace(pair, predictions=pair.targets + [shift, 0],
                                          confidence=np.ones(len(pair.queries)),
                                          extra={**pair.extra, "meta": meta}))
    save_pairs(tmp_path / "oracle.json", oracle)
    report = tmp_path / "report"
    assert run_ddr("evaluate", "--predictions", tmp_path / "oracle.json", "--images", pairs_dir,
                   "--out", report) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["count"] == 40
    assert metrics["pck@5"] == pytest.approx(0.75) and metrics["pck@10"] == 1.0
    assert metrics["q95"] == pytest.approx(6.0) and metrics["median"] == 0.0
    assert (report / "invariance_rotation.png").stat().st_size > 1000
    markdown = (report / "metrics.md").read_text()
    assert "## Invariance" in markdown and "| rotation | 180.000 | 10 | 6.000 | 6.000 |" in markdown


def test_cli_errors_are_clear_and_write_nothing(sources, tmp_path, checkpoint, run_ddr, capsys):
    pairs_dir = tmp_path / "pairs"
    path = make_homography_pairs(sorted(sources.glob("*.png")), pairs_dir, 1, 5, (40, 56), seed=0)
    pairs = load_pairs(path)
    (pairs_dir / pairs[1].image_b).unlink()
    preds = tmp_path / "preds.json"
    assert run_ddr("match", "--model", checkpoint, "--pairs", path, "--images", pairs_dir,
                   "--out", preds) == 2
    assert f"missing from {pairs_dir}: {pairs[1].image_b}" in capsys.readouterr().err
    assert not preds.exists()

    (pairs_dir / pairs[1].image_b).write_bytes(b"not a png at all")
    assert run_ddr("match", "--model", checkpoint, "--pairs", path, "--images", pairs_dir,
                   "--out", preds) == 2
    assert f"cannot read image {pairs_dir / pairs[1].image_b}" in capsys.readouterr().err
    assert not preds.exists()

    bad_model = tmp_path / "bad.pt"
    bad_model.write_bytes(b"garbage")
    assert run_ddr("match", "--model", bad_model, "--pairs", path, "--images", pairs_dir,
                   "--out", preds) == 2
    assert f"checkpoint {bad_model}" in capsys.readouterr().err

    assert run_ddr("evaluate", "--predictions", path, "--images", pairs_dir,
                   "--out", tmp_path / "r") == 2
    assert "have no 'predictions'; run `ddr match`" in capsys.readouterr().err
    assert run_ddr("evaluate", "--pairs", path, "--images", pairs_dir, "--out", tmp_path / "r") == 2
    assert "--pairs needs --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_ddr("pairs", "synthetic", "--images", sources, "--out", tmp_path / "s", "--size", "40")
    assert "HEIGHTxWIDTH" in capsys.readouterr().err
    assert run_ddr("pairs", "synthetic", "--images", tmp_path / "nowhere", "--out", tmp_path / "s") == 2
    assert "image folder not found" in capsys.readouterr().err


def test_markdown_table_for_comparisons(tmp_path):
    rows = [{"method": "ccl|iv", "pck@5": 0.26149, "count": 3}, {"method": "xfeat", "auc@50": 1.0}]
    path = write_markdown_table(rows, tmp_path / "table.md", title="Comparison")
    assert path.read_text() == ("# Comparison\n\n"
                                "| method | pck@5 | count | auc@50 |\n"
                                "|---|---|---|---|\n"
                                "| ccl\\|iv | 0.261 | 3 |  |\n"
                                "| xfeat |  |  | 1.000 |\n")
    assert markdown_table(rows, columns=["count", "method"]).splitlines()[2] == "| 3 | ccl\\|iv |"
    with pytest.raises(ValueError, match="at least one row"):
        markdown_table([])


def test_sizes_parse_in_either_order_to_height_width():
    assert parse_size("240x320") == (240, 320)
    assert parse_size("320X240", order="WxH") == (240, 320)
    assert parse_size_list("320x240, 640x480", order="WxH", minimum=8) == [(240, 320), (480, 640)]
    for bad, message in (("240", "HEIGHTxWIDTH"), ("0x320", "at least 1"), ("-4x8", "HEIGHTxWIDTH"), ("", "HEIGHTxWIDTH")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse_size(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="no size"):
        parse_size_list(" , ", order="WxH")


def test_ccl_ablation_table_and_plot_from_evaluated_runs(tmp_path):
    from dense_descriptor_ros.evaluation.ablation import ablation

    for name, auc in {"q0.2_scaled": 0.12, "q1.0_scaled": 0.10, "q0.2_unscaled": 0.09,
                      "identical_view": 0.5}.items():  # a run of another name is not a row
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"pck@10": auc / 2, "auc@50": auc}))
    rows = ablation(tmp_path, tmp_path / "ablation.md")
    assert [(r["quantile"], r["variance scaling"], r["auc@50"]) for r in rows] == \
        [(0.2, True, 0.12), (1.0, True, 0.10), (0.2, False, 0.09)]
    assert (tmp_path / "ablation.png").stat().st_size > 1000
    assert "| 0.200 | False | 0.045 | 0.090 |" in (tmp_path / "ablation.md").read_text()
    with pytest.raises(FileNotFoundError, match="q<quantile>"):
        ablation(tmp_path / "identical_view", tmp_path / "none.md")

"""Distil a pruned network from the one it was pruned from (``model/pruning.py``).

Only layer4 and the head differ, so the shared trunk (stem to layer3) runs once, without
gradients, and feeds both; the student learns to give the teacher's stride-8 descriptors
(loss ``1 - cosine`` per grid cell) on augmented training images. No labels are needed and the
loss is dense, so a few thousand images recover what labelled training took 120,000 pairs to
learn. Batch norm stays in eval mode: its statistics are the teacher's.

    python -m dense_descriptor_ros.training.distillation --teacher models/ddr_resnet18_sim.pt \
        --layer4-inner 256 --data runs/cpu_target/train --val-pairs VAL/pairs.json --out runs/distil
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler

from dense_descriptor_ros.augmentation import AugmentationConfig, Augmenter
from dense_descriptor_ros.data.images import UnorderedImageDataset
from dense_descriptor_ros.evaluation.pairs import load_pairs
from dense_descriptor_ros.model import DescriptorNet, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.pruning import layer4_parameters, prune_layer4
from dense_descriptor_ros.training.trainer import validate

log = logging.getLogger(__name__)


@dataclass
class DistillationConfig:
    layer4_inner: int = 256
    steps: int = 1500
    batch_size: int = 4
    lr: float = 1e-4
    image_size: tuple[int, int] = (120, 160)  # native-scale windows: a quarter of a 240x320 frame's cost
    validate_every: int = 250
    seed: int = 0


def trunk(model: DescriptorNet, images: Tensor) -> Tensor:
    """``(B, 3, H, W)`` in [0, 1] -> layer3's features ``(B, C, H/8, W/8)``: what teacher and
    student share."""
    backbone = model.backbone
    x = (images - model.mean) / model.std
    x = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x))))
    return backbone.layer3(backbone.layer2(backbone.layer1(x)))


def descriptors_from_trunk(model: DescriptorNet, features: Tensor) -> Tensor:
    """layer3's features -> unit-norm stride-8 descriptors ``(B, D, h, w)``."""
    return F.normalize(model.head(model.backbone.layer4(features)), dim=1)


def distillation_loss(teacher: DescriptorNet, student: DescriptorNet, images: Tensor) -> Tensor:
    """Mean ``1 - cos`` between the student's and the teacher's descriptors of ``images``."""
    with torch.no_grad():
        features = trunk(teacher, images)
        target = descriptors_from_trunk(teacher, features)
    return (1.0 - (descriptors_from_trunk(student, features) * target).sum(dim=1)).mean()


def distil(teacher: DescriptorNet, data: Path, config: DistillationConfig, val_pairs: Path,
           val_images: Path, out: Path) -> list[dict]:
    """Prune ``teacher`` and distil; writes ``best.pt`` (by validation AUC@50, the pruned start
    included) and ``log.json`` to ``out``. Returns the log."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    teacher = teacher.eval()
    student = prune_layer4(teacher, config.layer4_inner).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    trained = layer4_parameters(student)
    trained_ids = {id(p) for p in trained}
    for p in student.parameters():
        p.requires_grad_(id(p) in trained_ids)
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=0.0)
    dataset = UnorderedImageDataset(data, config.image_size, fit="crop", seed=config.seed)
    sampler = RandomSampler(dataset, replacement=True, num_samples=config.steps * config.batch_size,
                            generator=torch.Generator().manual_seed(config.seed))
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True)
    augmenter = Augmenter(AugmentationConfig.geometric(), out_size=config.image_size,
                          generator=torch.Generator().manual_seed(config.seed))
    pairs = load_pairs(val_pairs)
    history = [{"step": 0, "loss": float("nan"), "val_auc50": validate(student, pairs, val_images)["auc@50"],
                "elapsed_s": 0.0}]
    best = history[0]["val_auc50"]
    save_checkpoint(out / "best.pt", student, method="distilled", step=0, val_auc50=best)
    started, losses = time.perf_counter(), []
    for step, images in enumerate(loader, start=1):
        loss = distillation_loss(teacher, student, augmenter(images).images)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % config.validate_every and step != config.steps:
            continue
        auc = validate(student, pairs, val_images)["auc@50"]
        student.eval()
        history.append({"step": step, "loss": sum(losses) / len(losses), "val_auc50": auc,
                        "elapsed_s": time.perf_counter() - started})
        log.info("step %d: distillation loss %.4f, val AUC@50 %.4f", step, history[-1]["loss"], auc)
        losses = []
        if auc > best:
            best = auc
            save_checkpoint(out / "best.pt", student, method="distilled", step=step, val_auc50=auc)
        (out / "log.json").write_text(json.dumps(history, indent=1))
    (out / "log.json").write_text(json.dumps(history, indent=1))
    return history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of training images")
    parser.add_argument("--val-pairs", type=Path, required=True)
    parser.add_argument("--val-images", type=Path, help="default: the pairs file's folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layer4-inner", type=int, default=DistillationConfig.layer4_inner)
    parser.add_argument("--steps", type=int, default=DistillationConfig.steps)
    parser.add_argument("--batch-size", type=int, default=DistillationConfig.batch_size)
    parser.add_argument("--lr", type=float, default=DistillationConfig.lr)
    parser.add_argument("--validate-every", type=int, default=DistillationConfig.validate_every)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    teacher, _ = load_checkpoint(args.teacher)
    config = DistillationConfig(args.layer4_inner, args.steps, args.batch_size, args.lr,
                                validate_every=args.validate_every)
    distil(teacher, args.data, config, args.val_pairs, args.val_images or args.val_pairs.parent, args.out)


if __name__ == "__main__":
    main()

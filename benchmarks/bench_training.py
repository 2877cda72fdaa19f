"""Training steps/s of identical-view and CCL (+identical-view) at batch 4, 320x240.

One step is exactly the trainer's (``training.trainer.train_step``): augmentation and loss
under the trainer's autocast, then AdamW with grad scaling and clipping. FLOPs per step are
the counted forward FLOPs of all images the step embeds times 3 (backward ~ 2x forward), a
standard estimate; augmentation and the losses are left out.

    python -m benchmarks.bench_training --methods identical-view,ccl+identical-view
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image
from skimage import data
from tqdm import tqdm

from benchmarks.common import (backbone_label, achieved, add_common_arguments, bf16_notes, count_flops, environment,
                               matmul_peak, parse_list, parse_sizes, precision_supported, setup_run,
                               time_call, write_report)
from dense_descriptor_ros.augmentation import AugmentationConfig, Augmenter
from dense_descriptor_ros.model import DescriptorNet, ModelConfig
from dense_descriptor_ros.model.backbone import LAYOUTS
from dense_descriptor_ros.training.config import TrainConfig
from dense_descriptor_ros.training.trainer import train_step

COLUMNS = [("method", "method", ""), ("backbone", "backbone", ""), ("size", "WxH", ""),
           ("precision", "prec", ""), ("batch", "batch", ""), ("median_ms", "median ms/step", ".0f"),
           ("p90_ms", "p90 ms", ".0f"), ("steps_per_s", "steps/s", ".3f"),
           ("gflop_per_step", "GFLOP/step", ".0f"), ("gflop_per_s", "GFLOP/s", ".1f"),
           ("peak_fraction", "of peak", ".1%")]
IMAGES_PER_SAMPLE = {"identical-view": 2, "ccl": 3, "ccl+identical-view": 3}
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", type=parse_list(IMAGES_PER_SAMPLE),
                        default=["identical-view", "ccl+identical-view"])
    parser.add_argument("--backbone", choices=sorted(LAYOUTS), default="resnet18")
    parser.add_argument("--size", type=parse_sizes, default=parse_sizes("320x240"))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--precisions", type=parse_list(["fp32", "bf16", "fp16"]), default=None,
                        help="default: fp32 on CPU (the trainer's auto), fp16 on CUDA")
    add_common_arguments(parser, "docs/benchmarks/training.json")
    parser.set_defaults(warmup=1, repeats=3)
    return parser.parse_args(argv)


def photo_batch(batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """``(B, 3, H, W)`` real photos in [0, 1], as the image dataset yields them."""
    images = [np.array(Image.fromarray(getattr(data, PHOTOS[i % len(PHOTOS)])()).convert("RGB")
                       .resize((width, height))) for i in range(batch)]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255.0).to(device)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_run(args)
    env = environment(device)
    precisions = args.precisions or (["fp16"] if device.type == "cuda" else ["fp32"])
    skipped = [p for p in precisions if not precision_supported(device, p)]
    precisions = [p for p in precisions if p not in skipped]
    peaks = {p: matmul_peak(device, p) for p in tqdm(precisions, desc="matmul peak", leave=False)}
    (height, width), = args.size[:1]
    images = photo_batch(args.batch, height, width, device)
    rows = []
    for method in args.methods:
        for precision in precisions:
            config = TrainConfig.for_method(method, backbone=args.backbone, batch_size=args.batch,
                                            image_size=(height, width))
            torch.manual_seed(0)
            model = DescriptorNet(ModelConfig(args.backbone, config.descriptor_dim, args.width)).to(device)
            forward_flops = count_flops(model, images[:1]) * IMAGES_PER_SAMPLE[method] * args.batch
            model = model.to(memory_format=torch.channels_last).train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
            augmenter = Augmenter(AugmentationConfig.synthetic(), out_size=(height, width),
                                  generator=torch.Generator(device=device).manual_seed(0))
            bar = tqdm(total=args.warmup + args.repeats, desc=f"{method} {precision}", leave=False)

            def step() -> None:
                train_step(model, images, augmenter, config, optimizer, scaler, precision)
                bar.update()

            timing = time_call(step, device, args.warmup, args.repeats)
            bar.close()
            flops = 3 * forward_flops
            rows.append({"method": method, "backbone": backbone_label(args.backbone, args.width), "size": f"{width}x{height}",
                         "precision": precision, "batch": args.batch, **timing.to_dict(),
                         "steps_per_s": 1e3 / timing.median_ms, "gflop_per_step": flops / 1e9,
                         **achieved(flops, timing.median_ms, peaks[precision])})
    notes = [f"precision {p} not supported on {device.type}: skipped" for p in skipped]
    notes += bf16_notes(device, env, precisions)
    notes.append("FLOPs/step = 3 x counted forward FLOPs of every image embedded (2 views for "
                 "identical-view, 3 for CCL); random-initialised weights; no data loading "
                 "(the batch is already on the device)")
    write_report(args.out, "training steps", env, peaks, rows, COLUMNS, notes)


if __name__ == "__main__":
    main()

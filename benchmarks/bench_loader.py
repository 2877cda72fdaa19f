"""Loader throughput: training pairs per second of one loader worker, before and after moving
the per-pair work to the training device (issue 26, part 3).

A worker is one process calling the dataset's ``__getitem__``, so pairs/s per worker is timed
in this process on one thread (``torch.set_num_threads(1)``, as each worker runs). Rows:

* ``images`` (identical-view, CCL): decode + resize; augmentation and keypoint sampling already
  run batched on the training device (``training.views``);
* ``geometric, loader``: ``RGBDPairDataset`` (colour to float, background repainting,
  correspondence sampling, reprojection with normals and object motion, per pair);
* ``geometric, device``: ``RGBDFrameDataset`` reads the frames only, and
  ``pairs_on_device`` makes the batch's pairs on ``--device`` (its time per pair is a row of
  its own: on a GPU the training step hides it, on the CPU it is paid by the trainer).

    python -m benchmarks.bench_loader --data runs/compare/data/train --images runs/photos
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from benchmarks.common import add_common_arguments, environment, setup_run, time_call, write_report
from dense_descriptor_ros.data.images import UnorderedImageDataset
from dense_descriptor_ros.data.rgbd import RGBDPairDataset
from dense_descriptor_ros.training.device_pairs import RGBDFrameDataset, pairs_on_device
from dense_descriptor_ros.training.trainer import to_device

COLUMNS = [("loader", "loader", ""), ("work", "work", ""), ("where", "where", ""),
           ("pairs_per_s", "pairs/s", ".1f"), ("ms_per_pair", "ms/pair", ".2f"), ("pairs", "pairs", "")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="posed RGB-D sequences (geometric rows)")
    parser.add_argument("--images", type=Path, default=None, help="an image folder (images row)")
    parser.add_argument("--pairs", type=int, default=64, help="pairs read per row")
    parser.add_argument("--batch", type=int, default=16, help="batch of the device-side step")
    parser.add_argument("--correspondences", type=int, default=2048)
    parser.add_argument("--randomise-background", action="store_true")
    add_common_arguments(parser, "docs/benchmarks/loader.json")
    return parser.parse_args(argv)


def worker_rate(dataset, pairs: int) -> dict:
    """Pairs/s of ``dataset[i]`` in this process on one thread (after one untimed item)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dataset[0]
        began = time.perf_counter()
        for index in range(1, pairs + 1):
            dataset[index]
        seconds = time.perf_counter() - began
    finally:
        torch.set_num_threads(threads)
    return {"pairs_per_s": pairs / seconds, "ms_per_pair": 1e3 * seconds / pairs, "pairs": pairs}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_run(args)
    env = environment(device)
    paint = args.randomise_background
    rows = []
    if args.images:
        dataset = UnorderedImageDataset(args.images, (240, 320), seed=0)
        rows.append({"loader": "images", "work": "decode, resize", "where": "worker",
                     **worker_rate(dataset, args.pairs)})
    before = RGBDPairDataset(args.data, args.correspondences, pairs_per_epoch=10 * args.pairs, seed=0,
                             randomise_background=paint)
    rows.append({"loader": "geometric, loader (before)", "where": "worker",
                 "work": "decode, to float, " + ("repaint, " if paint else "") + "sample, reproject",
                 **worker_rate(before, args.pairs)})
    after = RGBDFrameDataset(args.data, pairs_per_epoch=10 * args.pairs, seed=0, randomise_background=paint)
    rows.append({"loader": "geometric, device (after)", "where": "worker", "work": "decode",
                 **worker_rate(after, args.pairs)})
    batch = to_device(default_collate([after[i] for i in range(args.batch)]), device)
    generator = torch.Generator(device=device).manual_seed(0)
    timing = time_call(lambda: pairs_on_device(batch, args.correspondences, paint, generator), device,
                       args.warmup, args.repeats)
    rows.append({"loader": "geometric, device (after)", "where": f"{device.type}, batch {args.batch}",
                 "work": "to float, " + ("repaint, " if paint else "") + "sample, reproject",
                 "pairs_per_s": 1e3 * args.batch / timing.median_ms, "ms_per_pair": timing.median_ms / args.batch,
                 "pairs": args.batch * args.repeats})
    notes = [f"frames {tuple(batch['rgb_a'].shape[-2:])}, {args.correspondences} correspondences per pair; "
             "worker rows: one process, one thread, as each DataLoader worker"]
    write_report(args.out, "loader throughput", env, {}, rows, COLUMNS, notes)


if __name__ == "__main__":
    main()

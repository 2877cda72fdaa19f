"""The training loop shared by every method: data, optimiser, precision, validation,
checkpoints (best and last), resumption, CSV log and loss curves."""
from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from dense_descriptor_ros.augmentation import Augmenter
from dense_descriptor_ros.data.images import UnorderedImageDataset, find_images, readable_images
from dense_descriptor_ros.data.rgbd import RGBDPairDataset, find_sequences
from dense_descriptor_ros.evaluation.pairs import Pair, load_pairs
from dense_descriptor_ros.evaluation.predict import evaluate_pairs, predict_pairs
from dense_descriptor_ros.evaluation.synthetic_pairs import make_homography_pairs
from dense_descriptor_ros.model import (DescriptorNet, ModelConfig, autocast_context,
                                        load_checkpoint, save_checkpoint)
from dense_descriptor_ros.model.descriptor_model import DescriptorModel
from dense_descriptor_ros.training.config import TrainConfig
from dense_descriptor_ros.training.device_pairs import RGBDFrameDataset, pairs_on_device
from dense_descriptor_ros.training.distributed import DistributedContext, init_distributed
from dense_descriptor_ros.training.methods import LOSSES, identical_view_loss

log = logging.getLogger(__name__)

# What a run folder holds once a run has started; a new run into such a folder needs overwrite.
RUN_FILES = ("best.pt", "last.pt", "last_state.pt", "log.csv")
LOG_FIELDS = ("epoch", "step", "loss", "val_auc50", "val_pck10", "val_mean_error", "lr",
              "steps_per_s", "elapsed_s")


@dataclass
class TrainResult:
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict]


def resolve_device(name: str, ctx: DistributedContext) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and ctx.enabled:
        name = f"cuda:{ctx.local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but CUDA is not available")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision


def build_model(config: TrainConfig) -> DescriptorNet:
    """A fresh network, or the one in ``init_checkpoint`` (e.g. identical-view for CCL)."""
    if config.init_checkpoint:
        model, meta = load_checkpoint(config.init_checkpoint)
        log.info("initialised from %s (method %s)", config.init_checkpoint, meta.get("method"))
        return model
    model = DescriptorNet(ModelConfig(config.backbone, config.descriptor_dim, config.width,
                                      colour=config.colour))
    if config.imagenet or config.imagenet_weights:
        model.load_imagenet_weights(config.imagenet_weights)
    return model


def build_loader(config: TrainConfig, rank: int, train_paths: list[Path] | None) -> DataLoader:
    """Random batches with replacement: an epoch is ``steps_per_epoch`` batches whatever
    the dataset size; each rank draws from its own seed."""
    if config.method == "geometric" and config.correspondences == "device":
        dataset = RGBDFrameDataset(config.data, config.max_frame_gap,
                                   pairs_per_epoch=config.steps_per_epoch * config.batch_size,
                                   seed=config.seed + rank, randomise_background=config.randomise_background)
    elif config.method == "geometric":
        dataset = RGBDPairDataset(config.data, config.num_correspondences, config.max_frame_gap,
                                  pairs_per_epoch=config.steps_per_epoch * config.batch_size,
                                  seed=config.seed + rank,
                                  crop=config.image_size if config.image_fit == "crop" else None,
                                  randomise_background=config.randomise_background)
    else:
        dataset = UnorderedImageDataset(config.data, config.image_size, paths=train_paths,
                                        fit=config.image_fit, seed=config.seed + rank,
                                        partner_gap=config.partner_gap if config.method.startswith("ccl") else None)
    return _random_batches(dataset, config, config.seed + 7919 * rank, config.workers)


def photo_batches(config: TrainConfig, rank: int) -> Iterator[Tensor] | None:
    """Endless batches of the real photographs of ``config.photos`` (None without them), cut
    to the training size the way the training images are."""
    if not config.photos:
        return None
    dataset = UnorderedImageDataset(config.photos, config.image_size, fit=config.image_fit,
                                    seed=config.seed + 3 + rank)
    return _endless(_random_batches(dataset, config, config.seed + 6007 * (rank + 1), min(1, config.workers)))


def _endless(loader: DataLoader) -> Iterator[Tensor]:
    while True:
        yield from loader


def _random_batches(dataset, config: TrainConfig, seed: int, workers: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, replacement=True,
                            num_samples=config.steps_per_epoch * config.batch_size, generator=generator)
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                      num_workers=workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0, worker_init_fn=seed_worker)


def to_device(batch: Tensor | list[Tensor] | dict[str, Tensor], device: torch.device):
    """A loader batch (a tensor, a list of them, or a dict of them) on ``device``."""
    if isinstance(batch, dict):
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [t.to(device, non_blocking=True) for t in batch]
    return batch.to(device, non_blocking=True)


def seed_worker(worker_id: int) -> None:
    """Each loader process draws its own crops and partners, reproducibly: without this every
    worker would copy the dataset's generator and repeat the others' draws."""
    info = torch.utils.data.get_worker_info()
    if hasattr(info.dataset, "rng"):
        info.dataset.rng = np.random.default_rng(info.seed)


def split_images(config: TrainConfig) -> tuple[list[Path] | None, list[Path]]:
    """Training images and held-out validation images (when no validation set is given).

    Unreadable files are left out before the split, so none can be held out."""
    if config.method == "geometric":
        frames = [f.rgb for s in find_sequences(config.data) for f in s.frames]
        return None, frames[:: max(1, round(1 / max(config.val_fraction, 1e-3)))]
    paths = readable_images(find_images(config.data), config.data)
    count = max(1, round(len(paths) * config.val_fraction)) if len(paths) > 1 else 0
    step = len(paths) / count if count else 0
    held = {paths[int(i * step)] for i in range(count)}
    return [p for p in paths if p not in held] or paths, sorted(held) or paths


def validation_set(config: TrainConfig, held_out: list[Path], out_dir: Path) -> tuple[list[Pair], Path]:
    """The configured pairs, or synthetic homography pairs made once from held-out images."""
    if config.val_pairs:
        images = Path(config.val_images or Path(config.val_pairs).parent)
        return load_pairs(config.val_pairs), images
    val_dir = out_dir / "val"
    if not (val_dir / "pairs.json").is_file():
        per_image = max(1, -(-config.val_pair_count // max(1, len(held_out))))
        make_homography_pairs(held_out, val_dir, pairs_per_image=per_image, queries_per_pair=50,
                              size=config.image_size, seed=config.seed)
    return load_pairs(val_dir / "pairs.json")[: config.val_pair_count], val_dir


def validate(model: nn.Module, pairs: list[Pair], images: Path) -> dict:
    """Metrics on the validation pairs (the model is given back in training mode)."""
    return evaluate_pairs(predict_pairs(DescriptorModel.of(model), pairs, images, progress=False))


def train_step(model: nn.Module, batch: Tensor | list[Tensor], augmenter: Augmenter,
               config: TrainConfig, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               precision: str, photos: Tensor | None = None) -> dict:
    """One optimisation step of ``config.method``: loss under autocast, scaled backward,
    gradient clipping, optimiser step. Returns the loss statistics.

    ``photos``: a batch of real photographs whose identical-view loss joins the method's, weighted
    by ``config.photo_weight``, so that learning the cell's images does not cost matching real ones."""
    device = (batch[0] if isinstance(batch, (list, tuple)) else batch).device
    with autocast_context(device, precision):
        loss, stats = LOSSES[config.method](model, batch, augmenter, config)
        if photos is not None:
            photo_loss, _ = identical_view_loss(model, photos, augmenter, config)
            loss = loss + config.photo_weight * photo_loss
            stats.update(photos=photo_loss.item(), loss=loss.item())
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return stats


def check_run_folder(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to lose a run: resuming needs its state, and a new run may replace an earlier one's
    checkpoints and log only when asked to (``overwrite``)."""
    state = out_dir / "last_state.pt"
    if resume:
        if not state.is_file():
            raise FileNotFoundError(f"cannot resume: {state} not found (it is written when an epoch "
                                    "finishes); start the run without --resume")
        return
    existing = [name for name in RUN_FILES if (out_dir / name).exists()]
    if existing and not overwrite:
        resumable = "continue it with --resume, " if state.is_file() else ""
        raise FileExistsError(f"{out_dir} already holds a run ({', '.join(existing)}); {resumable}"
                              "choose another --out, or pass --overwrite to replace it")


def resume_state(path: Path, device: torch.device, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler) -> tuple[int, float, list[dict]]:
    """Load the state written after the last finished epoch into ``model``, ``optimizer`` and
    ``scaler``; returns ``(epochs done, best AUC, history)``. A truncated file, or one of another
    network, is an error naming ``path``."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        return int(state["epoch"]), float(state["best_auc"]), json.loads(state["history"])
    except Exception as exc:  # torch.load meets damaged bytes with a dozen exception types
        raise RuntimeError(f"cannot resume from {path}: the file is truncated, not a training state, "
                           f"or of a run with other options ({type(exc).__name__})") from exc


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          overwrite: bool = False) -> TrainResult:
    """Run ``config.epochs`` epochs; keeps ``best.pt`` (by validation AUC) and ``last.pt``.

    ``resume`` continues from ``last_state.pt``; otherwise an earlier run in ``config.out_dir``
    is replaced only with ``overwrite``."""
    ctx = init_distributed()
    try:
        if ctx.is_main:  # before rank 0 writes anything; other ranks never write
            check_run_folder(Path(config.out_dir), resume, overwrite)
        return _train(config, ctx, resume, progress)
    finally:
        ctx.close()


def _train(config: TrainConfig, ctx: DistributedContext, resume: bool, progress: bool) -> TrainResult:
    device = resolve_device(config.device, ctx)
    precision = resolve_precision(config.precision, device)
    torch.manual_seed(config.seed + ctx.rank)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, best_path, last_path = out_dir / "last_state.pt", out_dir / "best.pt", out_dir / "last.pt"

    train_paths, held_out = split_images(config)
    loader = build_loader(config, ctx.rank, train_paths)
    photos = photo_batches(config, ctx.rank)
    val_pairs, val_images = validation_set(config, held_out, out_dir) if ctx.is_main else ([], out_dir)
    out_size = tuple(config.image_size)
    augmenter = Augmenter(config.augmentations(), out_size=out_size,
                          generator=torch.Generator(device=device).manual_seed(config.seed + ctx.rank))

    pair_generator = torch.Generator(device=device).manual_seed(config.seed + 104729 * ctx.rank)
    model = build_model(config).to(device).to(memory_format=torch.channels_last)
    optimizer_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_cls(model.parameters(), lr=config.lr,
                              weight_decay=config.weight_decay if config.optimizer == "adamw" else 0.0)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    start_epoch, best_auc, history = 0, float("-inf"), []
    if resume:
        start_epoch, best_auc, history = resume_state(state_path, device, model, optimizer, scaler)
        log.info("resumed from %s at epoch %d (best AUC %.3f)", state_path, start_epoch, best_auc)
    train_model = ctx.wrap(model, device)
    started = time.perf_counter()
    step = start_epoch * config.steps_per_epoch

    metadata = {"method": config.method, "training_config": config.to_dict()}
    if ctx.is_main and not history:  # the starting point, so every run shows what it learned
        metrics = validate(model, val_pairs, val_images)
        history.append({"epoch": 0, "step": 0, "loss": float("nan"), "val_auc50": metrics["auc@50"],
                        "val_pck10": metrics["pck@10"], "val_mean_error": metrics["mean"],
                        "lr": config.lr, "steps_per_s": float("nan"), "elapsed_s": 0.0})
        best_auc = metrics["auc@50"]
        for path in (best_path, last_path):  # so even `--epochs 0` leaves a scored model
            save_checkpoint(path, model, **metadata, epoch=0, metrics=metrics)
        write_log(out_dir / "log.csv", history)
    for epoch in range(start_epoch, config.epochs):
        train_model.train()
        losses, epoch_start = [], time.perf_counter()
        bar = tqdm(loader, desc=f"{config.method} epoch {epoch + 1}/{config.epochs}",
                   disable=not (progress and ctx.is_main), leave=False)
        for batch in bar:
            batch = to_device(batch, device)
            if isinstance(batch, dict):  # stored frames: the pairs are made here, for the whole batch
                batch = pairs_on_device(batch, config.num_correspondences, config.randomise_background,
                                        pair_generator)
            photo_batch = to_device(next(photos), device) if photos is not None else None
            stats = train_step(train_model, batch, augmenter, config, optimizer, scaler, precision, photo_batch)
            losses.append(stats["loss"])
            step += 1
            bar.set_postfix(loss=f"{stats['loss']:.3f}")
        ctx.barrier()
        if not ctx.is_main:
            continue
        steps_per_s = len(losses) / (time.perf_counter() - epoch_start)
        metrics = validate(model, val_pairs, val_images)
        row = {"epoch": epoch + 1, "step": step, "loss": sum(losses) / max(1, len(losses)),
               "val_auc50": metrics["auc@50"], "val_pck10": metrics["pck@10"],
               "val_mean_error": metrics["mean"], "lr": optimizer.param_groups[0]["lr"],
               "steps_per_s": steps_per_s, "elapsed_s": time.perf_counter() - started}
        history.append(row)
        log.info("epoch %d: loss %.4f, val AUC@50 %.3f, PCK@10 %.3f, %.2f steps/s", epoch + 1,
                 row["loss"], row["val_auc50"], row["val_pck10"], steps_per_s)
        save_checkpoint(last_path, model, **metadata, epoch=epoch + 1, metrics=metrics)
        if metrics["auc@50"] > best_auc:
            best_auc = metrics["auc@50"]
            save_checkpoint(best_path, model, **metadata, epoch=epoch + 1, metrics=metrics)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(), "epoch": epoch + 1, "best_auc": best_auc,
                    "history": json.dumps(history)}, state_path)
        write_log(out_dir / "log.csv", history)
    if ctx.is_main:
        plot_history(out_dir / "training_curves.png", history)
    return TrainResult(best_path, last_path, history)


def write_log(path: Path, history: list[dict]) -> None:
    """The whole history as CSV (rewritten each epoch, so a resumed run stays one file)."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in LOG_FIELDS} for row in history)


def plot_history(path: Path, history: list[dict]) -> None:
    """Training loss and validation AUC per epoch, for a person to look at."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [r["loss"] for r in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_auc.plot(epochs, [r["val_auc50"] for r in history], marker="o", label="AUC@[1..50]")
    ax_auc.plot(epochs, [r["val_pck10"] for r in history], marker="s", label="PCK@10")
    ax_auc.set(xlabel="epoch", ylabel="validation", title="validation", ylim=(0, 1))
    ax_auc.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

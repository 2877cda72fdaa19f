"""Training configuration: defaults per method, YAML files, command-line overrides."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from dense_descriptor_ros.augmentation import AugmentationConfig

METHODS = ("identical-view", "ccl", "ccl+identical-view", "geometric")
# Where geometric training's pairs are made: per pair in the loader processes, or per batch on
# the training device (training/device_pairs.py), which keeps a GPU from waiting on its loaders.
CORRESPONDENCE_SITES = ("loader", "device")
# synthetic: every augmentation on (the paper's identical-view); geometric: each on half the time
AUGMENTATIONS = ("synthetic", "geometric")

# Paper settings that differ by method (DESIGN.md): CCL uses AdamW 3e-5 from an
# identical-view init, geometric training Adam 3e-4 with p = 0.5 augmentations.
METHOD_DEFAULTS: dict[str, dict] = {
    "identical-view": {"optimizer": "adamw", "lr": 1e-4, "augmentation": "synthetic"},
    "ccl": {"optimizer": "adamw", "lr": 3e-5, "augmentation": "synthetic", "lambda_identical": 0.0},
    "ccl+identical-view": {"optimizer": "adamw", "lr": 3e-5, "augmentation": "synthetic",
                           "lambda_identical": 0.1},
    "geometric": {"optimizer": "adam", "lr": 3e-4, "augmentation": "geometric"},
}


@dataclass
class TrainConfig:
    method: str = "identical-view"
    data: str = ""
    out_dir: str = "runs/train"
    # model
    backbone: str = "resnet18"
    descriptor_dim: int = 64
    width: int = 64
    colour: bool = False  # xfeat: colour input beside its grey one
    imagenet: bool = False  # ResNet: ImageNet weights from torch hub's cache, if there
    imagenet_weights: str | None = None  # ResNet: this torchvision-named ImageNet weight file
    init_checkpoint: str | None = None
    # data and schedule
    image_size: tuple[int, int] = (240, 320)  # (h, w)
    image_fit: str = "resize"  # resize whole images to image_size, or crop windows at native scale
    batch_size: int = 4
    epochs: int = 10
    steps_per_epoch: int = 100
    workers: int = 2
    seed: int = 0
    # optimisation
    optimizer: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 10.0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16
    # losses
    augmentation: str = "synthetic"  # synthetic (p = 1) | geometric (p = 0.5)
    context_swap: float = 0.0  # identical-view views: chance of surroundings from another image
    hue: float = 0.2  # colour jitter's largest hue shift (Table 3); lower keeps colour a cue
    tau: float = 0.03
    num_keypoints: int = 500
    quantile: float = 0.35  # CCL: the most certain fraction of keypoints that counts
    variance_scaling: bool = True  # CCL: errors scaled by 1 / (1 + uncertainty)
    lambda_identical: float = 0.1
    temperature: float = 0.07
    num_correspondences: int = 2048
    max_frame_gap: int = 10
    partner_gap: int | None = None  # CCL: B within this many images of A in name order (None: any)
    moved_keypoints: bool = False  # CCL: keypoints only where A and its partner B differ
    randomise_background: bool = False  # geometric: repaint bin and floor per frame (needs masks)
    correspondences: str = "loader"  # geometric: made per pair by the loader, or per batch on the device
    photos: str | None = None  # folder of real photographs for an extra identical-view term
    photo_weight: float = 1.0  # weight of that term
    # validation
    val_pairs: str | None = None  # pairs.json with targets; None: synthetic pairs from held-out images
    val_images: str | None = None
    val_fraction: float = 0.1
    val_pair_count: int = 24
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}")
        self.image_size = tuple(self.image_size)  # type: ignore[assignment]
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}")
        if self.correspondences not in CORRESPONDENCE_SITES:
            raise ValueError(f"correspondences must be one of {CORRESPONDENCE_SITES}, got {self.correspondences!r}")
        if self.correspondences == "device" and self.image_fit == "crop":
            raise ValueError("crop windows follow each pair's reprojection in the loader: use "
                             "correspondences 'loader' with image_fit 'crop'")
        if self.moved_keypoints and self.partner_gap is None:
            raise ValueError("moved_keypoints compares A with its partner frame of the same camera: "
                             "set partner_gap too")
        self.augmentations()  # its own checks (hue within [0, 0.5]) before any data is read
        if not 0 <= self.context_swap <= 1:
            raise ValueError(f"context_swap is a probability in [0, 1], got {self.context_swap}")
        if self.photo_weight < 0:
            raise ValueError(f"photo_weight must be >= 0, got {self.photo_weight}")
        if self.method.startswith("ccl") and self.batch_size < 2:
            raise ValueError("CCL pairs each image with another of its batch: batch_size must be >= 2")

    def augmentations(self) -> AugmentationConfig:
        """The views' augmentations: the recipe's probabilities with this config's hue shift."""
        recipe = AugmentationConfig.geometric() if self.augmentation == "geometric" else AugmentationConfig.synthetic()
        return replace(recipe, hue=self.hue)

    @classmethod
    def for_method(cls, method: str, **overrides) -> "TrainConfig":
        """Paper defaults for ``method``, then ``overrides`` (None values are ignored)."""
        values = {**METHOD_DEFAULTS.get(method, {}), **{k: v for k, v in overrides.items() if v is not None}}
        return cls(method=method, **values)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TrainConfig":
        data = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown training options {sorted(unknown)}")
        method = overrides.pop("method", None) or data.pop("method", "identical-view")
        data.pop("method", None)
        return cls.for_method(method, **{**data, **{k: v for k, v in overrides.items() if v is not None}})

    def to_dict(self) -> dict:
        out = asdict(self)
        out["image_size"] = list(self.image_size)
        return out

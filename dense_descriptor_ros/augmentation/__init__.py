"""Training augmentations that carry their exact pixel mapping (DESIGN.md, "Augmentations")."""
from dense_descriptor_ros.augmentation.photometric import color_jitter
from dense_descriptor_ros.augmentation.pipeline import (AugmentationConfig, AugmentedBatch, Augmenter,
                                                        map_keypoints)

__all__ = [
    "AugmentationConfig",
    "AugmentedBatch",
    "Augmenter",
    "color_jitter",
    "map_keypoints",
]

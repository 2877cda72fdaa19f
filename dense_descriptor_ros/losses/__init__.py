"""Training objectives: distributional (identical-view), cycle-correspondence, NT-Xent."""
from dense_descriptor_ros.losses.contrastive import nt_xent_loss
from dense_descriptor_ros.losses.cycle import CycleLossOutput, cycle_correspondence_loss, quantile_keep_mask
from dense_descriptor_ros.losses.distributional import distributional_loss

__all__ = [
    "CycleLossOutput",
    "cycle_correspondence_loss",
    "distributional_loss",
    "nt_xent_loss",
    "quantile_keep_mask",
]

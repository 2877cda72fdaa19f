"""The descriptor network, its backbone and its checkpoints."""
from dense_descriptor_ros.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.descriptor_net import DescriptorNet, ModelConfig, autocast_context

__all__ = [
    "CheckpointError",
    "DescriptorNet",
    "ModelConfig",
    "autocast_context",
    "load_checkpoint",
    "save_checkpoint",
]

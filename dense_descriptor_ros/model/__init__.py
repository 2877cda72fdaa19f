"""The descriptor network, its backbone and its checkpoints, and the model facade that
describes images (:class:`DescriptorModel`)."""
from dense_descriptor_ros.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dense_descriptor_ros.model.descriptor_model import DescriptorModel, ModelCard
from dense_descriptor_ros.model.descriptor_net import DescriptorNet, ModelConfig, autocast_context

__all__ = [
    "CheckpointError",
    "DescriptorModel",
    "DescriptorNet",
    "ModelCard",
    "ModelConfig",
    "autocast_context",
    "load_checkpoint",
    "save_checkpoint",
]

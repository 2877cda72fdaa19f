"""Dense visual descriptors for grasp-preference bin-picking.

The ROS-free core (model, matching, augmentation, losses, data, training, evaluation,
geometry) lives in plain sub-packages; only ``dense_descriptor_ros.ros`` touches ROS.
"""

__version__ = "0.1.0"

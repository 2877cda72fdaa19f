"""Training data from recorded rosbag2 files, read with ``rosbags`` (no ROS install needed)."""
from dense_descriptor_ros.bags.extract import BagError, ExtractionSummary, extract_images
from dense_descriptor_ros.bags.frame_filter import FrameFilter, Verdict

__all__ = ["BagError", "ExtractionSummary", "FrameFilter", "Verdict", "extract_images"]

"""ROS 2 adapters: message conversions and the thin nodes around the ROS-free core.

Only ``dense_descriptor_ros.ros.nodes`` imports rclpy; ``conversions`` works on any object
with the message fields, so rclpy messages and ``rosbags`` messages both pass.
"""

"""ROS 2 nodes: thin adapters (convert messages, call the core, publish); each has ``main``."""

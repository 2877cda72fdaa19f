"""Camera sources without ROS: RealSense, Zivid, the simulated cell and bag replay.

Every source yields :class:`~dense_descriptor_ros.cameras.frames.CameraFrame` (RGB, depth in
metres aligned to the colour image, intrinsics); the nodes in ``ros/nodes`` only publish them.
"""

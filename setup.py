"""ament_python package that also installs with plain pip (`pip install -e .`)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dense_descriptor_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
        (f"share/{PACKAGE}/models", glob("models/*.pt") + glob("models/*.md")),
    ],
    install_requires=["setuptools", "numpy", "scipy", "torch", "pillow", "tqdm", "pyyaml",
                      "matplotlib", "rosbags>=0.10"],
    zip_safe=True,
    maintainer="dense_descriptor_ros developers",
    maintainer_email="dev@dense-descriptor-ros.invalid",
    description="Dense visual descriptors and grasp-preference bin-picking for ROS 2.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "ddr = dense_descriptor_ros.cli.main:main",
            "descriptor_node = dense_descriptor_ros.ros.nodes.descriptor_node:main",
            "realsense_camera = dense_descriptor_ros.ros.nodes.realsense_camera:main",
            "zivid_camera = dense_descriptor_ros.ros.nodes.zivid_camera:main",
            "sim_camera = dense_descriptor_ros.ros.nodes.sim_camera:main",
            "sim_cell = dense_descriptor_ros.ros.nodes.sim_cell:main",
            "bag_replay = dense_descriptor_ros.ros.nodes.bag_replay:main",
            "bag_recorder = dense_descriptor_ros.ros.nodes.bag_recorder:main",
            "heatmap_node = dense_descriptor_ros.ros.nodes.heatmap_node:main",
            "oriented_grasp_node = dense_descriptor_ros.ros.nodes.oriented_grasp_node:main",
            "grasp_executor = dense_descriptor_ros.ros.nodes.grasp_executor:main",
            "operator_console = dense_descriptor_ros.ros.nodes.operator_console:main",
        ],
    },
)

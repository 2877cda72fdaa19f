"""Record a training bag of the camera topics (RealSense layout, which every camera node of this
package publishes or is remapped to): colour, aligned depth and both camera_infos.

ros2 launch dense_descriptor_ros record_training_bag.launch.py output:=bags/shift1 storage:=mcap
Then: ddr bag extract bags/shift1 images/  (training images).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

TOPICS = ["/camera/camera/color/image_raw", "/camera/camera/color/camera_info",
          "/camera/camera/aligned_depth_to_color/image_raw", "/camera/camera/aligned_depth_to_color/camera_info"]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("output", description="bag directory to create"),
        DeclareLaunchArgument("storage", default_value="mcap", choices=["mcap", "sqlite3"]),
        ExecuteProcess(cmd=["ros2", "bag", "record", "--output", LaunchConfiguration("output"),
                            "--storage", LaunchConfiguration("storage"), *TOPICS], output="screen"),
    ])

"""Dense visual descriptors for grasp-preference bin-picking.

The public API, image to grasp::

    from dense_descriptor_ros import DescriptorModel, KeypointDatabase, Observation, PlannerSettings, SuctionPlanner

    model = DescriptorModel.load("models/ddr_resnet18_sim.pt")
    with KeypointDatabase("keypoints.sqlite") as db:
        planner = SuctionPlanner.from_database(db, model.hash, PlannerSettings(model.eta))
    plan = planner.plan(Observation(rgb, depth, intrinsics, model.describe(rgb), T_base_camera))
    if plan.ok:
        GraspExecutor(motion, vacuum=vacuum).execute_suction(plan.pose, plan.confidence)

The ROS-free core (model, matching, augmentation, losses, data, training, evaluation,
geometry, grasping, execution, simulation) lives in plain sub-packages; only
``dense_descriptor_ros.ros`` touches ROS. The names below load on first use, so importing one
sub-package does not pull in torch or the rest.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "DescriptorModel": "model.descriptor_model", "ModelCard": "model.descriptor_model",
    "KeypointDatabase": "grasping.keypoint_db",
    "Observation": "grasping.planner", "GraspPlan": "grasping.planner", "PlannerSettings": "grasping.planner",
    "SuctionPlanner": "grasping.planner", "ParallelPlanner": "grasping.planner", "PLANNERS": "grasping.planner",
    "SUCTION_CUP": "grasping.gripper", "PARALLEL_JAW": "grasping.gripper",
    "GraspExecutor": "execution.executor", "ExecutorConfig": "execution.executor",
    "ExecutionResult": "execution.executor",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dense_descriptor_ros' has no attribute {name!r}")
    return getattr(import_module(f"dense_descriptor_ros.{_EXPORTS[name]}"), name)

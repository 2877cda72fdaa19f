"""ROS-free grasp execution: the executor's sequence and result codes, and its backend protocols."""
from dense_descriptor_ros.execution.backends import (BackendError, BackendTimeout, FakeCell, GripperBackend,
                                                     GripperError, GripperState, MotionBackend,
                                                     MotionExecutionError, PlanningError,
                                                     SimulatedCellBackend, VacuumBackend)
from dense_descriptor_ros.execution.executor import (ExecutionReport, ExecutionResult, ExecutorBusyError,
                                                     ExecutorConfig, GraspExecutor, offset_along_tool_z)

__all__ = [
    "BackendError", "BackendTimeout", "ExecutionReport", "ExecutionResult", "ExecutorBusyError",
    "ExecutorConfig", "FakeCell", "GraspExecutor", "GripperBackend", "GripperError", "GripperState",
    "MotionBackend", "MotionExecutionError", "PlanningError", "SimulatedCellBackend", "VacuumBackend",
    "offset_along_tool_z",
]

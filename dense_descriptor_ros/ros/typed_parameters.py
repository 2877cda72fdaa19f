"""Node parameters declared with an explicit type and a description, in one call each.

Empty list defaults (an unset workspace or camera pose) need the type spelled out, because
rclpy cannot infer it from ``[]``; the type is taken from the default's Python type. A value of
the wrong type is a ValueError that says how to pass it: ROS reads an all-digit text such as a
serial number as an integer (``0123456`` even as octal, 42798), so a string must be quoted.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.parameter import Parameter

_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
_ARRAY_TYPES = {float: ParameterType.PARAMETER_DOUBLE_ARRAY, str: ParameterType.PARAMETER_STRING_ARRAY}


def declare(node: Node, name: str, default: Any, description: str, item: type = float,
            read_only: bool = True) -> Any:
    """Declare ``name`` and return its value; list defaults hold ``item`` values."""
    kind = _ARRAY_TYPES[item] if isinstance(default, list) else _TYPES[type(default)]
    descriptor = ParameterDescriptor(description=description, read_only=read_only, type=kind)
    # rclpy reads [] as a byte array: give the type only
    initial = Parameter.Type(kind) if isinstance(default, list) and not default else default
    try:
        value = node.declare_parameter(name, initial, descriptor).value
    except InvalidParameterTypeException as exc:  # not a ValueError: it would escape as a traceback
        raise ValueError(_wrong_type(name, default, exc)) from None
    return list(value or []) if isinstance(default, list) else value


def _wrong_type(name: str, default: Any, exc: InvalidParameterTypeException) -> str:
    """rclpy's message, and for a string how to keep ROS from reading it as a number."""
    hint = (f"; ROS reads all-digit text such as a serial number as an integer (0123456 even as the octal "
            f"42798): quote it, -p {name}:=\"'0123456'\" on the command line, '0123456' in YAML"
            if isinstance(default, str) else "")
    return f"parameter {name}: {exc}{hint}"

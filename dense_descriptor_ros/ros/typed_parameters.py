"""Node parameters declared with an explicit type and a description, in one call each.

Empty list defaults (an unset workspace or camera pose) need the type spelled out, because
rclpy cannot infer it from ``[]``; the type is taken from the default's Python type.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
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
    if isinstance(default, list) and not default:  # rclpy reads [] as a byte array: give the type only
        value = node.declare_parameter(name, Parameter.Type(kind), descriptor).value
        return list(value or [])
    value = node.declare_parameter(name, default, descriptor).value
    return list(value) if isinstance(default, list) else value

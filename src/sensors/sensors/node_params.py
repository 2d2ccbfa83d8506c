"""Parameter declaration with descriptions, and the spin/shutdown boilerplate shared by our nodes."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def declare(node, name: str, default: Any, description: str, read_only: bool = True) -> Any:
    from rcl_interfaces.msg import ParameterDescriptor

    return node.declare_parameter(name, default, ParameterDescriptor(description=description,
                                                                     read_only=read_only)).value


def run_node(factory: Callable[[], Any], argv: list[str] | None = None) -> int:
    """rclpy.init, build the node, spin until Ctrl-C / shutdown, then close it; configuration errors
    exit 2 with the message instead of a traceback."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=sys.argv if argv is None else argv)
    try:
        node = factory()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0

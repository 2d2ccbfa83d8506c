"""The `main` of every node: rclpy.init, build the node, spin until Ctrl-C / SIGTERM / shutdown, then
destroy it and shut down, as ros2/examples' minimal_publisher does, plus the two things a robot
node needs on top:

- a configuration error (bad parameter, missing or unparsable file) ends the process with one line
  naming the problem and exit code 2, never a traceback;
- Ctrl-C and SIGTERM (what `ros2 launch` sends) stop the node's own threads *before* the ROS
  context goes away. rclpy's default handlers shut the context down inside the signal handler,
  so a worker thread that publishes a moment later dies with "publisher's context is invalid".
  Here the signal only raises KeyboardInterrupt in the main thread, which spins with a short
  timeout so that it notices at once; `destroy_node()` (which nodes with threads override to
  stop them first) runs while the context is still valid.
- the workspace's DDS environment (robot_common.dds: with LOCALHOST discovery, every DDS socket on
  loopback) applies however the node is started (`ros2 run` included), set before rclpy.init.

    def main(args: list[str] | None = None) -> int:
        return run_node(TeleopNode, args)

A node that must own the main thread (the simulator's physics, the expert's episodes) passes
`spin=`: it spins its executor in a thread of its own and returns when it is done, optionally with
the process's exit code.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

# Exceptions that mean "the configuration is wrong", reported in one line with exit code 2.
# Subclasses of ValueError include ParamError, RobotSpecError, yaml errors are added at run time.
CONFIG_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, PermissionError,
                                                  IsADirectoryError, NotADirectoryError)
EXIT_CONFIG_ERROR = 2


def _config_errors() -> tuple[type[BaseException], ...]:
    extra: list[type[BaseException]] = []
    try:
        import yaml

        extra.append(yaml.YAMLError)
    except ImportError:  # pragma: no cover - yaml is a dependency
        pass
    try:
        from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

        extra += [InvalidParameterTypeException, InvalidParameterValueException]
    except ImportError:  # pragma: no cover
        pass
    return CONFIG_ERRORS + tuple(extra)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_node(factory: Callable[[], Any], args: list[str] | None = None,
             spin: Callable[[Any], int | None] | None = None, errors: tuple[type[BaseException], ...] = (),
             name: str | None = None) -> int:
    """Run the node `factory()` builds. `spin(node)` replaces the default executor loop for a node
    that must own the main thread (the simulator's physics); it returns when the node is done, and
    an int it returns is the exit code. `errors` adds node-specific configuration error types (a
    calibration error, a bus error). `name` prefixes a configuration error raised before the node
    exists (default: the factory's name)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from robot_common import dds

    try:
        dds.apply(os.environ)    # rcl reads the discovery range, Fast DDS its profile, at rclpy.init
        rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # noqa: BLE001 - rcl's RCLError: a bad --ros-args / --params-file
        who = name or getattr(factory, "__name__", "node")
        print(f"{who}: error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    node = None
    code = 0
    try:
        node = factory()
        if spin is not None:
            result = spin(node)
            if isinstance(result, int) and not isinstance(result, bool):
                code = result
        else:
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while rclpy.ok():
                executor.spin_once(timeout_sec=0.1)  # short: a signal is handled within 0.1 s
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _config_errors() + tuple(errors) as exc:
        who = getattr(node, "get_name", lambda: None)() or name or getattr(factory, "__name__", "node")
        text = " ".join(str(exc).split())  # one line, also for yaml's multi-line messages
        print(f"{who}: error: {text}", file=sys.stderr, flush=True)
        code = EXIT_CONFIG_ERROR
    finally:
        if node is not None:
            try:
                node.destroy_node()
            except KeyboardInterrupt:  # a second Ctrl-C while stopping
                pass
        rclpy.try_shutdown()
        for s, handler in old.items():
            signal.signal(s, handler)
    return code

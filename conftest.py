"""Test-wide environment: DDS stays on this machine, each pytest run gets its own domain, and the
checkout's packages are imported from their source folders, here and in every process a test starts.
DDS sockets bind to loopback only: the workspace's Fast DDS profile (robot_common.dds, docs/dds.md),
unless the developer set a profile of their own.

This is the workspace's only sys.path edit: tests run the checkout with or without `colcon build`;
everything else (tools, nodes, benches) imports the installed workspace (`source install/setup.bash`).
"""
import os
import sys
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

_SOURCES = [str(p) for p in sorted((Path(__file__).parent / "src").iterdir()) if (p / "package.xml").exists()]
for _src in reversed(_SOURCES):
    if _src not in sys.path:
        sys.path.insert(0, _src)
# node processes started by tests (python -m <pkg>.<module>) import the same sources first
_rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in _SOURCES]
os.environ["PYTHONPATH"] = os.pathsep.join(_SOURCES + _rest)

from robot_common import dds  # noqa: E402 - importable from the sources only now

dds.apply(os.environ)   # this process's own DDS participants (ProbeNode) and every process it starts


# Tests whose leader emulator runs inside the pytest process (it shares the GIL with the probe) and
# that measure tracking at 500 Hz: they run first, before the suite's other tests have left their
# libraries' background threads in this process (W&B, TensorBoard, Ray, rerun, emulators). Late in
# a full run they saw stalls of over a second that they never see alone.
RUN_FIRST = ("tests/teleop/test_teleop_into_sim.py",)


def pytest_collection_modifyitems(session, config, items) -> None:  # noqa: ANN001 - pytest hook
    root = Path(__file__).resolve().parent
    first = [i for i in items if Path(str(i.path)).resolve().relative_to(root).as_posix() in RUN_FIRST]
    if first:
        items[:] = first + [i for i in items if i not in first]

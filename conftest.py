"""Test-wide environment: DDS stays on this machine, and each pytest run gets its own domain."""
import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

# Import every package from its source folder, so tests run the checkout with or without colcon.
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

for _pkg in sorted((Path(__file__).parent / "src").iterdir()):
    if (_pkg / "package.xml").exists() and str(_pkg) not in sys.path:
        sys.path.insert(0, str(_pkg))

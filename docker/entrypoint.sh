#!/usr/bin/env bash
# Source ROS 2, the workspace venv and the built workspace, then run the command.
set -e
source "/opt/ros/${ROS_DISTRO:-jazzy}/setup.bash"
source /ws/.venv/bin/activate
source /ws/install/setup.bash
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
exec "$@"

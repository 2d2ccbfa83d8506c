# Sourced by the Makefile and .ci/run: the environment every ROS process of this workspace gets.
# DDS stays on this machine, and each run gets its own domain so parallel runs never cross-talk.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
if [[ -z "${ROS_DOMAIN_ID:-}" ]]; then
  ROS_DOMAIN_ID=$(( ($$ + RANDOM) % 100 + 1 ))
  export ROS_DOMAIN_ID
fi
export MUJOCO_GL=${MUJOCO_GL:-osmesa}
export PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-$MUJOCO_GL}

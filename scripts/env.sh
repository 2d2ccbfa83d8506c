# Sourced by the Makefile and .ci/run: the environment every ROS process of this workspace gets.
# DDS stays on this machine, and each run gets its own domain so parallel runs never cross-talk.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
if [[ -z "${ROS_DOMAIN_ID:-}" ]]; then
  ROS_DOMAIN_ID=$(( ($$ + RANDOM) % 100 + 1 ))
  export ROS_DOMAIN_ID
fi
export MUJOCO_GL=${MUJOCO_GL:-osmesa}
export PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-$MUJOCO_GL}

# Every DDS socket on loopback: the workspace's Fast DDS profile, unless you set a profile of your own,
# another RMW, or ROBOT_WS_DDS=off. The same rule as robot_common.dds for LOCALHOST (docs/dds.md; a test keeps them
# equal): rmw_fastrtps answers LOCALHOST with an extra UDP transport bound to every interface, so the
# processes get SYSTEM_DEFAULT and the profile does LOCALHOST's discovery on 127.0.0.1.
_ws_dds_profile="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/config/dds/fastdds_localhost.xml"
if [[ -z "${FASTRTPS_DEFAULT_PROFILES_FILE:-}${FASTDDS_DEFAULT_PROFILES_FILE:-}" && "${ROBOT_WS_DDS:-}" != off \
      && "${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}" == rmw_fastrtps_*cpp ]]; then
  export FASTRTPS_DEFAULT_PROFILES_FILE="$_ws_dds_profile"
fi
if [[ "${FASTRTPS_DEFAULT_PROFILES_FILE:-}" == "$_ws_dds_profile" ]]; then
  export ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT
  if [[ "${ROS_LOCALHOST_ONLY:-}" == 1 ]]; then export ROS_LOCALHOST_ONLY=; fi
fi
unset _ws_dds_profile

#!/usr/bin/env bash
# One-command setup: Debian packages (when root and missing), .venv, pinned Python dependencies.
# Idempotent: re-running with unchanged requirements only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
DEB_PACKAGES=(libosmesa6 libgl1)   # MuJoCo offscreen rendering on CPU (MUJOCO_GL=osmesa)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: WARNING: missing Debian packages ${missing[*]}; install them (sudo apt-get install ${missing[*]})" >&2
  fi
fi

# A sourced system ROS 2 (apt or docker/) provides rclpy and the messages: reuse it.
system_ros=0
if [[ -n "${ROS_DISTRO:-}" ]] && "$PYTHON" -c "import rclpy" 2>/dev/null; then
  system_ros=1
  echo "setup: using the sourced ROS 2 $ROS_DISTRO instead of the PyPI wheels"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  if ((system_ros)); then "$PYTHON" -m venv --system-site-packages "$VENV"; else "$PYTHON" -m venv "$VENV"; fi
fi

reqs=(requirements/python.txt requirements/dev.txt)
((system_ros)) || reqs=(requirements/ros-pypi.txt "${reqs[@]}")
stamp="$VENV/.setup-stamp"
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup: $VENV is up to date"
  exit 0
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
"$VENV/bin/python" -m pip install -q "${args[@]}"
"$VENV/bin/python" -c "import rclpy, mujoco, torch, av, rosbags; print('setup: ok (rclpy, mujoco', mujoco.__version__, ', torch', torch.__version__, ')')"
echo "$want" >"$stamp"

"""Robot specs from config/robots, joint safety filter, message <-> numpy conversion, URDF kinematics and time alignment shared by every node; per-arm bringup launch files."""

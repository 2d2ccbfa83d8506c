"""MuJoCo simulation behind ros2_control's topic interfaces: joint states, joint_trajectory_controller, gripper, cameras, tactile contacts, tabletop tasks, scripted expert."""

"""rosbag2 -> LeRobot v3.0 dataset converter, bag inspection and dataset validation."""

"""Leader-arm drivers (GELLO over Dynamixel, SO-101 leader over Feetech), calibration and the teleop node with safety gates."""

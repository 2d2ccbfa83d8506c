"""Camera node (V4L2 via OpenCV, video-file replay), RealSense integration and a GelSight-type tactile node."""

"""Episode-aware recorder writing rosbag2 (MCAP) bags with services and a keyboard front end."""

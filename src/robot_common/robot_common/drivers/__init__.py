"""Direct follower drivers on the vendors' own SDKs (no ros2_control): `fr3_driver` on pylibfranka,
`realman_driver` on RealMan's Robotic_Arm. Both offer the topics of our ros2_control followers
(docs/drivers.md)."""

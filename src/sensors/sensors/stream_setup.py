"""How our sensor nodes publish their streams: the QoS, and when a replayed file starts."""
from __future__ import annotations


def start_capture(node, loop, publisher, is_file: bool, wait_s: float, grace_s: float = 0.25) -> None:
    """Start `loop` now, or for a replayed file once `publisher` has a subscriber (at most `wait_s`
    later), so that a recorder or test started alongside sees the first frame too."""
    import time

    if not is_file or wait_s <= 0:
        loop.start()
        return
    t0 = time.monotonic()
    seen: list[float] = []

    def check() -> None:
        now = time.monotonic()
        if not seen and publisher.get_subscription_count() > 0:
            seen.append(now)
        if (seen and now - seen[0] >= grace_s) or now - t0 >= wait_s:
            timer.cancel()
            node.destroy_timer(timer)
            if not seen:
                node.get_logger().warning(f"no subscriber after {wait_s:g} s; replaying anyway")
            loop.start()

    timer = node.create_timer(0.05, check)


def stream_qos(reliable: bool, depth: int):
    """Sensor-data QoS (best effort, keep last `depth`) by default, as docs/INTERFACES.md fixes for
    drivers; reliable on request, e.g. for a recorder on the same machine that must lose nothing."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    if not reliable and depth == qos_profile_sensor_data.depth:
        return qos_profile_sensor_data
    return QoSProfile(depth=max(1, int(depth)),
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)

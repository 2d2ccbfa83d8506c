"""The node's logic without ROS: caps, limits, continuity, and holds on stale/NaN inputs and outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.controller import ControlParams, PolicyController
from policy.inference import ACTPolicy
from robot_common.spec import load_robot_spec


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup(tiny_checkpoint):
    spec = load_robot_spec("so101")
    clock = FakeClock()
    policy = ACTPolicy.from_checkpoint(tiny_checkpoint)
    ctl = PolicyController(spec, policy, ControlParams(rate_hz=30.0, trajectory_points=4, velocity_scale=0.5), clock)
    yield spec, clock, ctl
    ctl.shutdown()


def _feed(ctl, spec, clock, q=None, image=True):
    q = spec.home if q is None else q
    ctl.on_joint_state(dict(zip(spec.joint_names + [spec.gripper.joint], np.r_[q, 0.5])), clock())
    if image:
        ctl.obs.update_image("observation.images.front", np.zeros((48, 64, 3), np.uint8), clock())


def _run(ctl, spec, clock, ticks, chunk_source):
    """Ticks at the control rate, delivering chunks synchronously (deterministic worker)."""
    cmds = []
    for _ in range(ticks):
        clock.t += ctl.dt
        _feed(ctl, spec, clock)
        if ctl.scheduler.needs_inference(ctl.step):
            ctl.submit_chunk(ctl.step, chunk_source(ctl.step))
        cmds.append(ctl.tick())
    return cmds


def test_commands_stay_within_caps_limits_and_continuous(setup):
    spec, clock, ctl = setup
    _feed(ctl, spec, clock)
    ctl._ensure_worker = lambda: None  # the test delivers chunks itself
    assert ctl.start()[0]
    rng = np.random.default_rng(0)
    # chunks far from the current pose and beyond the limits: the filter must ramp and clamp
    cmds = _run(ctl, spec, clock, 40, lambda s: rng.uniform(-3, 3, (ctl.policy.cfg.chunk_size, 6)))
    cmds = [c for c in cmds if c is not None]
    assert len(cmds) == 40 and not any(c.hold for c in cmds)
    first = np.array([c.arm[0] for c in cmds])
    cap = ctl.arm_filter.step_cap(ctl.dt)
    steps = np.abs(np.diff(np.vstack([spec.home, first]), axis=0))
    assert np.all(steps <= cap + 1e-9)
    for c in cmds:  # every future point also respects limits and per-step caps
        assert np.all(c.arm >= ctl.arm_filter.lower - 1e-12) and np.all(c.arm <= ctl.arm_filter.upper + 1e-12)
        assert np.all(np.abs(np.diff(c.arm, axis=0)) <= cap + 1e-9)
        np.testing.assert_allclose(c.times, ctl.dt * np.arange(1, len(c.arm) + 1))
    assert ctl.stats["rate_limited"] > 0


def test_stale_and_nan_inputs_hold(setup):
    spec, clock, ctl = setup
    _feed(ctl, spec, clock)
    ctl._ensure_worker = lambda: None
    assert ctl.start()[0]
    chunk = np.tile(np.r_[spec.home + 0.01, 0.5], (ctl.policy.cfg.chunk_size, 1))
    cmds = _run(ctl, spec, clock, 5, lambda s: chunk)
    assert not cmds[-1].hold
    # camera stops: after stale_timeout the tick holds at the last command and says why
    for _ in range(20):
        clock.t += ctl.dt
        ctl.on_joint_state(dict(zip(spec.joint_names + ["gripper"], np.r_[spec.home, 0.5])), clock())
        cmd = ctl.tick()
        if not cmd.hold:
            held_at = cmd.arm[0]
    assert cmd.hold and "front" in cmd.reason and "stale" in cmd.reason
    assert len(cmd.arm) == 1
    np.testing.assert_array_equal(cmd.arm[0], held_at)
    # NaN joint states hold at once
    _feed(ctl, spec, clock)
    ctl.on_joint_state(dict(zip(spec.joint_names + ["gripper"], np.r_[np.full(5, np.nan), 0.5])), clock())
    cmd = ctl.tick()
    assert cmd.hold and "NaN" in cmd.reason
    # fresh inputs again: resumes after a new chunk
    cmds = _run(ctl, spec, clock, 3, lambda s: chunk)
    assert not cmds[-1].hold


def test_nan_model_output_holds_and_reports(setup):
    spec, clock, ctl = setup
    _feed(ctl, spec, clock)
    with torch.no_grad():
        ctl.policy.model.action_head.bias.fill_(float("nan"))
    assert ctl.start()[0]  # the real worker thread runs the (now NaN-producing) model
    from robot_common.testing import wait_for

    wait_for(lambda: ctl.stats["nan_chunks"] > 0, timeout=60, what="a NaN chunk from the worker")
    clock.t += ctl.dt
    _feed(ctl, spec, clock)
    cmd = ctl.tick()
    assert cmd.hold and "NaN" in cmd.reason
    assert np.all(np.isfinite(cmd.arm)) and ctl.stats["chunks"] == 0


def test_start_refuses_without_inputs(setup):
    spec, clock, ctl = setup
    ok, msg = ctl.start()
    assert not ok and "no joint_states" in msg
    _feed(ctl, spec, clock, image=False)
    ok, msg = ctl.start()
    assert not ok and "observation.images.front" in msg

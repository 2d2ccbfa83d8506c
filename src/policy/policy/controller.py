"""The policy node's logic without ROS: observation buffer, asynchronous inference worker,
action scheduling and the safety stage that turns actions into capped joint commands.

The control tick never waits on the model: it reads whatever chunks the worker has delivered.
Anything unsafe (stale inputs, NaN joint states, NaN model outputs, no action yet) makes the tick
return a hold at the last safe command, with the reason, instead of a new target.

Follower guard (issue 14.3): every command is planned from the *measured* follower state, not only
from the previous command. Point k of a trajectory (time_from_start (k+1)/rate) lies within
follower_velocity_fraction * max_velocity * (k+1)/rate of the measured arm position, so the follower
is never asked to move faster than that fraction of its limit, wherever it is. When the previous
command is further from the follower than the step cap plus that reach (it lags or was pushed), the
first point re-plans from the measured state: the nearest point in the follower's reach. A follower
further than max_follower_deviation beyond that reach from the last command (pushed faster than it
can be followed) makes the controller hold where the follower is and stop: acting again needs policy/start. Gripper
commands are clamped to the gripper's limits, holds too.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from policy.ensembling import ChunkExecutor, TemporalEnsembler
from policy.inference import PolicyRunner
from robot_common.safety import JointSafetyFilter
from robot_common.spec import RobotSpec


@dataclass
class ControlParams:
    rate_hz: float = 30.0
    trajectory_points: int = 5
    stale_timeout_s: float = 0.5
    velocity_scale: float = 0.5
    limit_margin: float = 0.01
    execution: str = "ensemble"  # ensemble | chunk
    ensemble_coeff: float = 0.01
    n_action_steps: int = 0  # chunk mode; 0 = whole chunk
    overlap_steps: int = 5
    follower_velocity_fraction: float = 0.75  # reach of a command from the measured state, x max_velocity
    max_follower_deviation: float = 0.3  # rad beyond the reach of the last command: hold and stop (0: off)

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError(f"control rate must be > 0, got {self.rate_hz}")
        if self.trajectory_points < 1:
            raise ValueError(f"trajectory_points must be >= 1, got {self.trajectory_points}")
        if self.execution not in ("ensemble", "chunk"):
            raise ValueError(f"execution must be 'ensemble' or 'chunk', got '{self.execution}'")
        if self.stale_timeout_s <= 0:
            raise ValueError(f"stale_timeout_s must be > 0, got {self.stale_timeout_s}")
        if not 0.0 < self.follower_velocity_fraction <= 1.0:
            raise ValueError(f"follower_velocity_fraction must be in (0, 1], got {self.follower_velocity_fraction}")
        if self.max_follower_deviation < 0:
            raise ValueError(f"max_follower_deviation must be >= 0, got {self.max_follower_deviation}")


@dataclass
class Command:
    """What one tick asks the robot to do. hold=True: stay at `arm` (a single point)."""

    arm: np.ndarray  # (points, dof) joint targets
    times: np.ndarray  # (points,) time_from_start, s
    gripper: float | None
    hold: bool = False
    reason: str = ""
    rate_limited: list[str] = field(default_factory=list)
    clamped: list[str] = field(default_factory=list)
    origin: np.ndarray | None = None  # measured arm state the command was bounded from (None: none fresh)


class ObservationBuffer:
    """Latest inputs with their receipt times (thread-safe). With n_obs_steps > 1 it also keeps the
    last n_obs_steps observations recorded once per control tick (record()), and snapshot() stacks
    them oldest first (the first one repeated until there are enough), as the dataset does."""

    def __init__(self, n_obs_steps: int = 1) -> None:
        self._lock = threading.Lock()
        self.n_obs_steps = n_obs_steps
        self.history: deque[dict] = deque(maxlen=n_obs_steps)
        self.state: np.ndarray | None = None  # full state vector in the dataset's order
        self.state_time = -np.inf
        self.state_fault: str = ""
        self.arm_q: np.ndarray | None = None
        self.gripper_q: float | None = None
        self.images: dict[str, tuple[np.ndarray, float]] = {}
        self.vectors: dict[str, tuple[np.ndarray, float]] = {}

    def update_state(self, state: np.ndarray, arm_q: np.ndarray, gripper_q: float | None, now: float) -> None:
        with self._lock:
            if not (np.all(np.isfinite(state)) and np.all(np.isfinite(arm_q))):
                self.state_fault = "joint_states holds NaN/inf"
                return
            self.state, self.arm_q, self.gripper_q, self.state_time, self.state_fault = state, arm_q, gripper_q, now, ""

    def update_image(self, key: str, img: np.ndarray, now: float) -> None:
        with self._lock:
            self.images[key] = (img, now)

    def update_vector(self, key: str, vec: np.ndarray, now: float) -> None:
        with self._lock:
            if np.all(np.isfinite(vec)):
                self.vectors[key] = (np.asarray(vec, dtype=np.float32), now)

    def fresh_arm(self, now: float, timeout: float) -> np.ndarray | None:
        """The measured arm position when it is valid and fresh, else None."""
        with self._lock:
            if self.state_fault or self.arm_q is None or now - self.state_time > timeout:
                return None
            return self.arm_q.copy()

    def problem(self, now: float, image_keys: list[str], vector_keys: list[str], timeout: float) -> str:
        """'' when every input is present, finite and fresh; otherwise why not."""
        with self._lock:
            if self.state_fault:
                return self.state_fault
            if self.state is None:
                return "no joint_states yet"
            if now - self.state_time > timeout:
                return f"joint_states stale ({now - self.state_time:.2f} s old)"
            for k in image_keys:
                if k not in self.images:
                    return f"no image yet for {k}"
                if now - self.images[k][1] > timeout:
                    return f"{k} stale ({now - self.images[k][1]:.2f} s old)"
            for k in vector_keys:
                if k not in self.vectors:
                    return f"no data yet for {k}"
                if now - self.vectors[k][1] > timeout:
                    return f"{k} stale ({now - self.vectors[k][1]:.2f} s old)"
        return ""

    def _current(self, image_keys: list[str], vector_keys: list[str], env_key: str | None) -> dict:
        obs = {"observation.state": self.state.astype(np.float32)}
        obs.update({k: self.images[k][0] for k in image_keys})
        if env_key is not None:
            obs[env_key] = np.concatenate([self.vectors[k][0] for k in vector_keys])
        return obs

    def record(self, image_keys: list[str], vector_keys: list[str], env_key: str | None) -> None:
        """One history entry per control tick (only kept when n_obs_steps > 1)."""
        if self.n_obs_steps > 1:
            with self._lock:
                self.history.append(self._current(image_keys, vector_keys, env_key))

    def clear_history(self) -> None:
        with self._lock:
            self.history.clear()

    def snapshot(self, image_keys: list[str], vector_keys: list[str], env_key: str | None) -> dict:
        with self._lock:
            obs = self._current(image_keys, vector_keys, env_key)
            if self.n_obs_steps == 1:
                return obs
            frames = list(self.history) or [obs]
        frames = [frames[0]] * (self.n_obs_steps - len(frames)) + frames
        return {k: np.stack([f[k] for f in frames]) for k in obs}


class PolicyController:
    """Control-rate logic: call tick(now) every 1/rate s; a worker thread runs the model."""

    def __init__(self, spec: RobotSpec, policy: PolicyRunner, params: ControlParams,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec, self.policy, self.p, self.clock = spec, policy, params, clock
        self.dt = 1.0 / params.rate_hz
        self.arm_filter = JointSafetyFilter.from_spec(spec, params.velocity_scale, params.limit_margin)
        self.gripper_filter = None
        if spec.gripper is not None:
            g = spec.gripper
            self.gripper_filter = JointSafetyFilter([g.joint], [g.lower], [g.upper], [g.max_velocity],
                                                    params.velocity_scale)
        # how far a command point may lie from the measured arm state, per period of time_from_start
        self.reach = params.follower_velocity_fraction * np.asarray(spec.max_velocity, dtype=float) * self.dt
        self.state_names = self._names(policy.state_names, "state")
        self.action_names = self._names(policy.action_names, "action")
        self.arm_index = [self.action_names.index(n) for n in spec.joint_names]
        gname = spec.gripper.joint if spec.gripper else None
        self.gripper_index = self.action_names.index(gname) if gname in self.action_names else None
        self.image_keys = policy.image_keys
        self.env_key = policy.env_state_key
        self.vector_keys = policy.env_state_keys
        cs = policy.chunk_size
        if params.execution == "ensemble":
            self.scheduler: TemporalEnsembler | ChunkExecutor = TemporalEnsembler(params.ensemble_coeff, cs)
        else:
            n = params.n_action_steps or policy.n_action_steps
            self.scheduler = ChunkExecutor(min(n, cs - params.overlap_steps), params.overlap_steps, cs)
        self.obs = ObservationBuffer(policy.n_obs_steps)
        self._lock = threading.Lock()
        self.active = False
        self.step = 0
        self.last_arm: np.ndarray | None = None
        self.last_gripper: float | None = None
        self.model_fault = ""
        self.stats = {"ticks": 0, "holds": 0, "chunks": 0, "nan_chunks": 0, "rate_limited": 0, "inference_s": [],
                      "replans": 0, "follower_limited": 0, "deviation_stops": 0}
        self._request = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def _names(self, names: list[str], what: str) -> list[str]:
        """Dataset names when the checkpoint has them, else arm joints + gripper (the converter's order)."""
        expected = self.spec.joint_names + ([self.spec.gripper.joint] if self.spec.gripper else [])
        dim = self.policy.action_dim if what == "action" else self.policy.state_dim
        names = list(names) or expected[:dim]
        if len(names) != dim:
            raise ValueError(f"checkpoint {what} has {dim} values, names {names}")
        missing = [n for n in self.spec.joint_names if n not in names] if what == "action" else []
        if missing:
            raise ValueError(f"checkpoint actions lack joints {missing} of robot {self.spec.name} (has {names})")
        return names

    # --- inputs -----------------------------------------------------------------------------
    def on_joint_state(self, positions: dict[str, float], now: float) -> None:
        try:
            state = np.array([positions[n] for n in self.state_names], dtype=float)
            arm = np.array([positions[n] for n in self.spec.joint_names], dtype=float)
        except KeyError as exc:
            self.obs.state_fault = f"joint_states lacks joint {exc}"
            return
        grip = positions.get(self.spec.gripper.joint) if self.spec.gripper else None
        self.obs.update_state(state, arm, grip, now)

    # --- start / stop -----------------------------------------------------------------------
    def start(self) -> tuple[bool, str]:
        now = self.clock()
        problem = self.obs.problem(now, self.image_keys, self.vector_keys, self.p.stale_timeout_s)
        if problem:
            return False, f"cannot start: {problem}"
        with self._lock:
            self.scheduler.reset()
            self.policy.reset()
            self.obs.clear_history()
            self.step, self.model_fault = 0, ""
            self.last_arm = self.arm_filter.clamp(self.obs.arm_q.copy())[0]
            self.last_gripper = self._clamp_gripper(self.obs.gripper_q)
            self.active = True
        self._ensure_worker()
        self._request.set()
        return True, "policy started"

    def stop(self) -> Command | None:
        with self._lock:
            was = self.active
            self.active = False
        if not was or self.last_arm is None:
            return None
        return self._hold("stopped", self.obs.fresh_arm(self.clock(), self.p.stale_timeout_s))

    # --- worker -----------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._stop.clear()
            self._worker = threading.Thread(target=self._work, name="act-inference", daemon=True)
            self._worker.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._request.set()
        if self._worker is not None:
            self._worker.join(timeout=5)

    def _work(self) -> None:
        while not self._stop.is_set():
            if not self._request.wait(timeout=0.1):
                continue
            self._request.clear()
            if self._stop.is_set() or not self.active:
                continue
            now = self.clock()
            if self.obs.problem(now, self.image_keys, self.vector_keys, self.p.stale_timeout_s):
                continue
            with self._lock:
                step = self.step
            obs = self.obs.snapshot(self.image_keys, self.vector_keys, self.env_key)
            t0 = time.perf_counter()
            try:
                chunk = self.policy.predict_chunk(obs)
            except ValueError as exc:  # bad observation: report through the next tick
                self.model_fault = f"observation rejected: {exc}"
                continue
            elapsed = time.perf_counter() - t0
            self.submit_chunk(step, chunk, elapsed)

    def submit_chunk(self, step: int, chunk: np.ndarray, elapsed: float = 0.0) -> None:
        with self._lock:
            self.stats["inference_s"].append(elapsed)
            if not np.all(np.isfinite(chunk)):
                self.stats["nan_chunks"] += 1
                self.model_fault = "model output holds NaN/inf"
                return
            self.model_fault = ""
            if isinstance(self.scheduler, ChunkExecutor):
                self.scheduler.latency_steps = int(np.ceil(elapsed / self.dt)) + 1
            self.scheduler.add_chunk(step, chunk)
            self.stats["chunks"] += 1

    # --- tick -------------------------------------------------------------------------------
    def _clamp_gripper(self, value: float | None) -> float | None:
        if value is None or self.spec.gripper is None:
            return value
        return float(np.clip(value, self.spec.gripper.lower, self.spec.gripper.upper))

    def _within_reach(self, q: np.ndarray, measured: np.ndarray | None, periods: int) -> np.ndarray:
        """q moved into the follower's reach after `periods` periods from `measured`, then into the limits."""
        if measured is not None:
            r = self.reach * periods
            q = np.clip(q, measured - r, measured + r)
        return self.arm_filter.clamp(q)[0]

    def _hold(self, reason: str, measured: np.ndarray | None = None) -> Command:
        """Stay at the last command, moved within the follower's reach when its state is known."""
        self.stats["holds"] += 1
        self.last_arm = self._within_reach(self.last_arm, measured, 1)
        self.last_gripper = self._clamp_gripper(self.last_gripper)
        return Command(self.last_arm[None, :].copy(), np.array([self.dt]), self.last_gripper, hold=True,
                       reason=reason, origin=measured)

    def _deviation(self, measured: np.ndarray) -> str:
        """Why the follower is too far from the last command to go on, or ''. Counted beyond the reach the
        command was bounded to (the follower may lag it by that much while obeying it), so a lagging or
        slowly pushed follower is re-planned from, and only one moved away faster stops the policy."""
        limit = self.p.max_follower_deviation
        if limit <= 0:
            return ""
        off = np.abs(measured - self.last_arm)
        excess = off - self.reach
        j = int(np.argmax(excess))
        if excess[j] <= limit:
            return ""
        return (f"follower {off[j]:.3f} rad from the command on {self.spec.joint_names[j]}, {excess[j]:.3f} rad "
                f"beyond its reach (max_follower_deviation {limit:g}): holding where it is; call policy/start "
                "to act again")

    def tick(self) -> Command | None:
        """One control period: None while inactive or waiting for the first chunk."""
        now = self.clock()
        with self._lock:
            if not self.active:
                return None
            self.stats["ticks"] += 1
            step = self.step
            self.step += 1
            problem = self.obs.problem(now, self.image_keys, self.vector_keys, self.p.stale_timeout_s)
            measured = self.obs.fresh_arm(now, self.p.stale_timeout_s)
            if measured is not None:
                deviated = self._deviation(measured)
                if deviated:
                    self.active = False
                    self.stats["deviation_stops"] += 1
                    self.scheduler.reset()
                    self.last_arm = measured.copy()
                    return self._hold(deviated, measured)
            if problem or self.model_fault:
                self.scheduler.reset()  # predictions from before the fault are not resumed
                return self._hold(problem or self.model_fault, measured)
            self.obs.record(self.image_keys, self.vector_keys, self.env_key)
            self.scheduler.advance(step)
            if self.scheduler.needs_inference(step):
                self._request.set()
            targets = []
            for k in range(self.p.trajectory_points):
                a = self.scheduler.action_at(step + k)
                if a is None:
                    break
                targets.append(a)
            if not targets:
                return None if self.stats["chunks"] == 0 else self._hold("no action available (inference late)",
                                                                           measured)
            return self._command(np.stack(targets), measured)

    def _command(self, actions: np.ndarray, measured: np.ndarray | None) -> Command:
        """Each point: the action inside the limits, within the step cap of the point before (the last
        command for the first) and within the follower's reach from the measured state. Where those two
        bounds do not meet (the follower is further than cap + reach from the last command), the point
        re-plans from the measured state: the nearest point in the follower's reach."""
        cap = self.arm_filter.step_cap(self.dt)
        arm_pts, prev, limited, clamped, follower_limited, replan = [], self.last_arm, set(), set(), False, False
        for k, a in enumerate(actions[:, self.arm_index]):
            res = self.arm_filter.filter(a, None, self.dt)   # finite, inside the limits
            lo, hi = prev - cap, prev + cap
            capped = np.clip(res.command, lo, hi)
            if measured is not None:
                r = self.reach * (k + 1)
                lo, hi = np.maximum(lo, measured - r), np.minimum(hi, measured + r)
                apart = lo > hi
                if apart.any():
                    replan = True
                    lo[apart] = hi[apart] = np.clip(prev, measured - r, measured + r)[apart]
            point = self.arm_filter.clamp(np.clip(res.command, lo, hi))[0]
            follower_limited |= not np.array_equal(point, capped)
            limited.update(n for n, t, c in zip(self.arm_filter.names, res.command, capped) if t != c)
            clamped.update(res.clamped)
            arm_pts.append(point)
            prev = point
        grip = self.last_gripper
        if self.gripper_index is not None and self.gripper_filter is not None:
            prev_g = None if grip is None else [grip]
            grip = float(self.gripper_filter.filter([actions[0, self.gripper_index]], prev_g, self.dt).command[0])
        self.last_arm, self.last_gripper = arm_pts[0], self._clamp_gripper(grip)
        if limited:
            self.stats["rate_limited"] += 1
        if follower_limited:
            self.stats["follower_limited"] += 1
        if replan:
            self.stats["replans"] += 1
        times = self.dt * np.arange(1, len(arm_pts) + 1)
        return Command(np.stack(arm_pts), times, self.last_gripper, rate_limited=sorted(limited),
                       clamped=sorted(clamped), origin=measured)

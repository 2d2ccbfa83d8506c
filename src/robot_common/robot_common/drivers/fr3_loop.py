"""The FR3's 1 kHz control loop: a worker process that owns the pylibfranka connection.

Every robot millisecond it reads the state (`readOnce`), advances the jerk-limited tracker along
the current reference by the robot time that passed, passes the result through the robot's command
rules (fr3_limits.FciCommandSignal) and writes it (`writeOnce`). Messages from the node arrive on a
pipe that is drained once per cycle; of the trajectories in it only the newest is turned into a
reference (streamed at 500 Hz, several arrive per cycle, and after one stall a backlog of tens: built
one by one they made the drain itself a stall of 20+ ms), and a status goes out only when it changes.
State goes back at the joint-state rate of robot time.

Faults: a reflex or a network error from libfranka ends the motion (the robot stopped it); a rule the
robot would enforce but a simulator does not (limits, lost packets) brakes the arm to rest within the
limits and ends the motion. Either way the loop then waits for `recover`.

Messages in:  ("start",) once after connecting,
              ("trajectory", times, positions, velocities, accelerations, start) with start None (now),
              ("arm", robot_time_s) or ("host", host_ns),
              ("stop",) brake and hold, ("recover",), ("shutdown",)
Messages out: ("connected", text) | ("error", text), ("state", robot_time_s, host_ns, q, dq, tau, q_cmd, dq_cmd),
              ("status", mode, text, stats), ("recovered", ok, text), ("stats", stats) at the end
"""
from __future__ import annotations

import ctypes
import gc
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from robot_common.drivers.fr3_commander import Fr3Commander
from robot_common.drivers.fr3_limits import MAX_LOST_IN_A_ROW
from robot_common.drivers.motion import HoldReference, JtcReference
from robot_common.drivers.worker import Outbox, child_init


@dataclass(frozen=True)
class ArmConfig:
    robot_ip: str
    joint_names: tuple[str, ...]
    realtime_config: str = "enforce"     # libfranka's RealtimeConfig: enforce | ignore
    realtime_priority: int = 80          # SCHED_FIFO priority of the loop (0: normal scheduling)
    cpu: int = -1                        # pin the loop to this CPU (-1: any)
    lock_memory: bool = True
    velocity_scale: float = 1.0
    acceleration_scale: float = 1.0
    jerk_scale: float = 1.0
    max_lost_in_a_row: int = MAX_LOST_IN_A_ROW
    lost_packet_tolerance: int = 2       # room in the velocity limits for this many lost packets
    state_period_ms: int = 10            # robot milliseconds between state messages
    status_period_ms: int = 500


class LoopStats:
    """Counters and wall-clock cycle periods (for the bench and diagnostics)."""

    def __init__(self) -> None:
        self.cycles = 0
        self.robot_ms = 0
        self.lost = 0
        self.lost_max_in_a_row = 0
        self.trajectories = 0
        self.periods: list[float] = []       # wall s between reads (last 60 s worth)
        self.compute: list[float] = []       # wall s from read to write
        self._last = None
        self.wall_start = time.perf_counter()

    def cycle(self, t_read: float, t_write: float, robot_ms: int) -> None:
        self.cycles += 1
        self.robot_ms += robot_ms
        if self._last is not None:
            self.periods.append(t_read - self._last)
        self.compute.append(t_write - t_read)
        self._last = t_read
        if len(self.periods) > 60000:
            del self.periods[:30000]
            del self.compute[:30000]

    def summary(self, window: int = 1000) -> dict:
        """Counters, and period/compute statistics over the last `window` cycles (0: all kept)."""
        p = np.asarray(self.periods[-window if window else 1:]) * 1e3
        c = np.asarray(self.compute[-window if window else 0:]) * 1e3
        wall = time.perf_counter() - self.wall_start
        out = {"cycles": self.cycles, "robot_s": self.robot_ms / 1000, "wall_s": round(wall, 3),
               "lost_packets": self.lost, "lost_max_in_a_row": self.lost_max_in_a_row,
               "success_rate": round(self.cycles / self.robot_ms, 4) if self.robot_ms else 1.0,
               "trajectories": self.trajectories}
        if p.size:
            out.update(rate_hz=round(float(1e3 / p.mean()), 1), period_ms_p50=round(float(np.percentile(p, 50)), 3),
                       period_ms_p99=round(float(np.percentile(p, 99)), 3), period_ms_max=round(float(p.max()), 3),
                       period_ms_std=round(float(p.std()), 3), compute_ms_p50=round(float(np.percentile(c, 50)), 3),
                       compute_ms_p99=round(float(np.percentile(c, 99)), 3))
        return out


def _realtime(cfg: ArmConfig, threads: list[int]) -> list[str]:
    """Scheduling of the loop's thread (after libfranka's constructor changed it) and of the other
    threads of this process (`threads`: native ids). They all get the loop's priority: a helper
    thread at normal priority that is preempted while it holds the GIL would stall the loop for as
    long (priority inversion)."""
    notes = []
    try:
        for tid in [0, *threads]:
            if cfg.realtime_priority > 0:
                os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(cfg.realtime_priority))
            else:  # libfranka makes the constructing thread SCHED_FIFO 99 whenever it may (root)
                os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
    except (PermissionError, OSError) as exc:
        notes.append(f"cannot set SCHED_FIFO priority {cfg.realtime_priority} ({exc})")
    if cfg.cpu >= 0:
        try:
            os.sched_setaffinity(0, {cfg.cpu})
        except OSError as exc:
            notes.append(f"cannot pin the loop to CPU {cfg.cpu} ({exc})")
    if cfg.lock_memory:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.mlockall(3) != 0:  # MCL_CURRENT | MCL_FUTURE: no page faults in the loop
            notes.append(f"mlockall failed ({os.strerror(ctypes.get_errno())})")
    return notes


class ArmLoop:
    def __init__(self, conn, cfg: ArmConfig) -> None:
        import pylibfranka as pf

        self.pf = pf
        self.conn = conn
        self.out = Outbox(conn)
        self.cfg = cfg
        self.stop_event = child_init()
        self.robot = None
        self.fault: str | None = None
        self.network_lost = False
        self.shutdown = False
        self.stats = LoopStats()
        self.mode = "connecting"
        self.text = ""

    # ---- connection and faults ---------------------------------------------------------------
    def _connect(self) -> None:
        rt = self.pf.RealtimeConfig.kEnforce if self.cfg.realtime_config == "enforce" else self.pf.RealtimeConfig.kIgnore
        self.robot = self.pf.Robot(self.cfg.robot_ip, rt)
        self.network_lost = False

    def run(self) -> None:
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - any SDK error is reported, one line
            hint = (" (no realtime kernel: realtime_config:=ignore runs without one, e.g. against a simulator)"
                    if isinstance(exc, self.pf.RealtimeException) else "")
            self.out.send("error", f"cannot connect to the FR3 at {self.cfg.robot_ip}: {exc}{hint}")
            self.out.flush()
            return
        notes = _realtime(self.cfg, [self.out.native_id])
        # no garbage-collector pauses in the loop (its own objects are freed by reference counting)
        gc.collect()
        gc.freeze()
        gc.disable()
        # the loop takes the GIL back from the outbox thread within 0.5 ms (default: 5 ms)
        sys.setswitchinterval(0.0005)
        self.out.send("connected", "; ".join(notes))
        while not (self.shutdown or self.stop_event.is_set()):   # the node says when (its other workers are up)
            if self.conn.poll(0.1):
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    msg = ("shutdown",)
                if msg[0] == "start":
                    break
                self.shutdown = msg[0] == "shutdown"
        while not (self.shutdown or self.stop_event.is_set()):
            if self.fault is None:
                self._motion()
            else:
                self._idle()
        self.out.send("stats", self.stats.summary(window=0))
        self.out.flush()

    def _set_fault(self, text: str) -> None:
        self.fault = text
        self._status("fault", text)

    def _status(self, mode: str, text: str) -> None:
        if (mode, text) == (self.mode, self.text):   # streamed references: the same text each cycle
            return
        self.mode, self.text = mode, text
        self.out.send("status", mode, text, self.stats.summary())

    def _idle(self) -> None:
        """Fault: no motion. Report the state (10 Hz) while the connection lives; wait for recover."""
        if self.conn.poll(0.1):
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                self.shutdown = True
                return
            if msg[0] == "shutdown":
                self.shutdown = True
            elif msg[0] == "recover":
                self._recover()
        elif self.conn.closed:
            self.shutdown = True
        if not self.network_lost and self.robot is not None:
            try:
                s = self.robot.read_once()
                self.out.send("state", s.time.to_sec(), time.time_ns(), s.q, s.dq, s.tau_J, s.q_d, s.dq_d,
                              droppable=True)
            except self.pf.NetworkException as exc:
                self.network_lost = True
                self._set_fault(f"{self.fault}; connection lost: {exc}")
            except Exception:  # noqa: BLE001 - a state read while the robot is in a reflex may fail
                pass

    def _recover(self) -> None:
        try:
            if self.network_lost or self.robot is None:
                self.robot = None
                self._connect()
            self.robot.automatic_error_recovery()
        except Exception as exc:  # noqa: BLE001
            self.out.send("recovered", False, f"recovery failed: {exc}")
            return
        old, self.fault = self.fault, None
        self.out.send("recovered", True, f"recovered from: {old}")

    # ---- the motion --------------------------------------------------------------------------
    def _motion(self) -> None:
        pf = self.pf
        try:
            ctrl = self.robot.start_joint_position_control(pf.ControllerMode.JointImpedance)
            state, _ = ctrl.readOnce()
        except pf.NetworkException as exc:
            self.network_lost = True
            self._set_fault(f"connection lost: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the robot is in a reflex or user-stop
            self._set_fault(f"cannot start joint position control: {exc}")
            return
        # the first command must equal the robot's last commanded position
        q0 = np.asarray(state.q_d, dtype=float)
        if not np.all(np.isfinite(q0)) or np.max(np.abs(q0 - np.asarray(state.q))) > 0.01:
            q0 = np.asarray(state.q, dtype=float)
        cfg = self.cfg
        cmdr = Fr3Commander(q0, list(cfg.joint_names), cfg.velocity_scale, cfg.acceleration_scale, cfg.jerk_scale,
                            cfg.lost_packet_tolerance, cfg.max_lost_in_a_row)
        ref = HoldReference(q0)
        braking = None        # None | "hold" (then keep holding) | "finish" (then end the motion)
        t_robot = state.time.to_sec()
        t_state = t_robot
        t_status = t_robot
        self._status("running", "holding")
        try:
            ctrl.writeOnce(pf.JointPositions(q0.tolist()))
            while True:
                state, dt = ctrl.readOnce()
                t_read = time.perf_counter()
                host_ns = time.time_ns()
                t_robot = state.time.to_sec()
                elapsed_ms = max(1, int(round(dt.to_sec() * 1000)))
                # ---- commands from the node
                latest = None
                while self.conn.poll():
                    try:
                        msg = self.conn.recv()
                    except (EOFError, OSError):
                        msg = ("shutdown",)
                    if msg[0] == "trajectory":
                        # only the newest one counts (each replaces the one before): its reference is
                        # built once, after the drain (building one costs ~0.1-0.3 ms; at 500 Hz of
                        # streamed references several arrive per cycle, and a backlog after one stall
                        # would grow into a drain of tens of ms: lost packets)
                        latest = msg
                        self.stats.trajectories += 1
                        if braking == "hold":
                            braking = None
                    elif msg[0] == "stop" and braking is None:
                        braking = "hold"
                        self._status("running", f"stopping: {msg[1] if len(msg) > 1 else 'stop requested'}")
                    elif msg[0] == "shutdown":
                        braking = "finish"
                        self.shutdown = True
                    elif msg[0] == "recover":
                        self.out.send("recovered", True, "no fault to recover from")
                if latest is not None:
                    _, times, pos, vel, acc, start = latest
                    t0 = (t_robot if start is None else start[1] if start[0] == "arm"
                          else t_robot + (start[1] - host_ns) * 1e-9)
                    ref = JtcReference(t0, times, pos, vel, acc, cmdr.state)
                    if braking is None:
                        self._status("running", f"following a {len(times)}-point trajectory")
                if self.stop_event.is_set() and braking != "finish":
                    braking, self.shutdown = "finish", True
                # ---- one command (the robot extrapolated the packets we missed at constant
                # acceleration; the commander plans on from there, the reference keeps time)
                x, violation = cmdr.cycle(ref, t_robot, elapsed_ms - 1, braking is not None)
                if violation is not None and violation.reflex == "communication_constraints_violation":
                    if braking != "finish":
                        self._set_fault(f"{violation} (a real FR3 aborts here); the driver braked the arm to rest")
                        braking = "finish"
                elif violation is not None:   # the limiter could not make it legal: stop where we are
                    self._set_fault(f"{violation} (a real FR3 aborts here); motion ended")
                    finished = pf.JointPositions(cmdr.signal.position.tolist())
                    finished.motion_finished = True
                    ctrl.writeOnce(finished)
                    return
                at_rest = braking is not None and cmdr.at_rest()
                if at_rest and braking == "hold":
                    ref = HoldReference(cmdr.state.position)
                    braking = None
                    self._status("running", "holding")
                cmd = pf.JointPositions(x.tolist())
                cmd.motion_finished = bool(at_rest and braking == "finish")
                ctrl.writeOnce(cmd)
                self.stats.cycle(t_read, time.perf_counter(), elapsed_ms)
                self.stats.lost, self.stats.lost_max_in_a_row = cmdr.lost, cmdr.lost_max_in_a_row
                if t_robot - t_state >= self.cfg.state_period_ms * 1e-3 - 1e-6:
                    t_state = t_robot
                    self.out.send("state", t_robot, host_ns, state.q, state.dq, state.tau_J, x, cmdr.signal.velocity,
                                  droppable=True)
                if t_robot - t_status >= self.cfg.status_period_ms * 1e-3:
                    t_status = t_robot
                    self.out.send("status", self.mode, self.text, self.stats.summary(), droppable=True)
                if cmd.motion_finished:
                    if self.fault is None:
                        self._status("stopped", "motion finished")
                    return
        except pf.NetworkException as exc:
            self.network_lost = True
            self._set_fault(f"connection to the FR3 lost: {exc}")
        except pf.ControlException as exc:   # a reflex: the robot stopped the motion itself
            self._set_fault(f"the FR3 aborted the motion: {' '.join(str(exc).split())}")
        except Exception as exc:  # noqa: BLE001 - never die silently with the arm in motion
            self._set_fault(f"control loop error: {type(exc).__name__}: {exc}")


def arm_process(conn, cfg: ArmConfig) -> None:
    """Worker entry point (multiprocessing spawn)."""
    ArmLoop(conn, cfg).run()

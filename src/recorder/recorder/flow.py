"""The LeRobot-style episode loop of `recorder record`, as a pure state machine.

record -> (right arrow or episode time up) save -> reset phase -> record the next ...
left arrow while recording: discard it, reset, record it again; left arrow in the reset phase:
discard the episode just saved and record it again; Esc: save what is being recorded and stop.
Inputs are key names and clock ticks; outputs are actions for the recorder services.
"""
from __future__ import annotations

from .keys import ESC, FAILURE, LEFT, RIGHT, SUCCESS

RECORDING, RESETTING, PAUSED, DONE = "recording", "resetting", "paused", "done"
START, SAVE, DISCARD, MARK_SUCCESS, MARK_FAILURE = "start", "save", "discard", "mark_success", "mark_failure"


class EpisodeFlow:
    def __init__(self, num_episodes: int = 0, episode_time_s: float = 0.0, reset_time_s: float = 0.0) -> None:
        """num_episodes 0: until Esc; episode_time_s 0: until right arrow; reset_time_s 0: no reset wait."""
        self.num_episodes = num_episodes
        self.episode_time_s = episode_time_s
        self.reset_time_s = reset_time_s
        self.state = PAUSED
        self.saved = 0
        self.since = 0.0                  # when the current state began
        self._last_saved_here = False     # the episode saved just before this reset phase may be discarded
        self.message = ""

    def begin(self, now: float) -> list[str]:
        return self._start(now)

    # --- inputs ----------------------------------------------------------------------------------
    def on_key(self, key: str, now: float) -> list[str]:
        if self.state == DONE:
            return []
        if key in (SUCCESS, FAILURE):
            if self.state == RECORDING or self._last_saved_here:
                return [MARK_SUCCESS if key == SUCCESS else MARK_FAILURE]
            return []
        if self.state == RECORDING:
            if key == RIGHT:
                return self._save(now)
            if key == LEFT:
                self.message = "discarded; re-recording after the reset"
                return [DISCARD] + self._reset(now)
            if key == ESC:
                self.saved += 1
                return self._finish([SAVE])
        elif self.state == RESETTING:
            if key == RIGHT:
                return self._start(now)
            if key == LEFT and self._last_saved_here:
                self.saved -= 1
                self._last_saved_here = False
                self.message = "discarded the last episode; it will be recorded again"
                return [DISCARD]
            if key == ESC:
                return self._finish([])
        elif self.state == PAUSED:
            if key == RIGHT:
                return self._start(now)
            if key == ESC:
                return self._finish([])
        return []

    def tick(self, now: float) -> list[str]:
        if self.state == RECORDING and self.episode_time_s > 0 and now - self.since >= self.episode_time_s:
            return self._save(now)
        if self.state == RESETTING and now - self.since >= self.reset_time_s:
            return self._start(now)
        return []

    def start_failed(self, now: float, why: str) -> None:
        """The recorder refused to start (disk, already recording): wait for right arrow or Esc."""
        self.state, self.since = PAUSED, now
        self.message = f"could not start: {why} (right arrow: retry, Esc: quit)"

    def remaining_s(self, now: float) -> float | None:
        if self.state == RECORDING and self.episode_time_s > 0:
            return max(0.0, self.episode_time_s - (now - self.since))
        if self.state == RESETTING:
            return max(0.0, self.reset_time_s - (now - self.since))
        return None

    # --- transitions -----------------------------------------------------------------------------
    def _start(self, now: float) -> list[str]:
        self.state, self.since = RECORDING, now
        self._last_saved_here = False
        self.message = ""
        return [START]

    def _save(self, now: float) -> list[str]:
        self.saved += 1
        if self.num_episodes and self.saved >= self.num_episodes:
            return self._finish([SAVE])
        return [SAVE] + self._reset(now, saved=True)

    def _reset(self, now: float, saved: bool = False) -> list[str]:
        self.state, self.since = RESETTING, now
        self._last_saved_here = saved
        return []

    def _finish(self, actions: list[str]) -> list[str]:
        self.state = DONE
        return actions

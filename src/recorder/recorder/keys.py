"""Arrow keys and Esc from a terminal: a pure decoder of the byte stream plus a cbreak-mode reader."""
from __future__ import annotations

import os
import select
import time

RIGHT, LEFT, ESC, SUCCESS, FAILURE = "right", "left", "esc", "success", "failure"

_SEQUENCES = {b"\x1b[C": RIGHT, b"\x1bOC": RIGHT, b"\x1b[D": LEFT, b"\x1bOD": LEFT}
_PLAIN = {b"q": ESC, b"y": SUCCESS, b"n": FAILURE}


class KeyDecoder:
    """Bytes in, key names out. A lone ESC is only an Esc key once `esc_timeout_s` passes with no
    further byte (arrow keys also start with ESC); unknown escape sequences are swallowed."""

    def __init__(self, esc_timeout_s: float = 0.05) -> None:
        self.esc_timeout_s = esc_timeout_s
        self._buf = b""
        self._esc_since: float | None = None

    def feed(self, data: bytes, now: float) -> list[str]:
        self._buf += data
        keys: list[str] = []
        while self._buf:
            b = self._buf
            if b[:1] != b"\x1b":
                key = _PLAIN.get(b[:1].lower())
                if key:
                    keys.append(key)
                self._buf = b[1:]
                continue
            if len(b) == 1:
                self._esc_since = now if self._esc_since is None else self._esc_since
                break
            if b[1:2] not in (b"[", b"O"):          # ESC followed by something else: Esc, then that
                keys.append(ESC)
                self._buf = b[1:]
                continue
            end = _sequence_end(b)
            if end is None:                          # incomplete sequence: wait for more bytes
                self._esc_since = now if self._esc_since is None else self._esc_since
                break
            key = _SEQUENCES.get(b[:end])
            if key:
                keys.append(key)
            self._buf = b[end:]
        if not self._buf:
            self._esc_since = None
        return keys

    def flush(self, now: float) -> list[str]:
        """Keys that are complete by timeout: a lone ESC (or a cut sequence) counts as Esc."""
        if self._buf and self._esc_since is not None and now - self._esc_since >= self.esc_timeout_s:
            self._buf = b""
            self._esc_since = None
            return [ESC]
        return []


def _sequence_end(b: bytes) -> int | None:
    """Length of a CSI / SS3 sequence at the start of b, None when it is not complete yet."""
    if b[1:2] == b"O":
        return 3 if len(b) >= 3 else None
    for i in range(2, len(b)):
        if 0x40 <= b[i] <= 0x7E:                     # CSI final byte
            return i + 1
    return None


class TerminalKeys:
    """Puts a TTY into cbreak mode (keys arrive one by one, no echo; Ctrl-C still interrupts)."""

    def __init__(self, fd: int, esc_timeout_s: float = 0.05) -> None:
        self.fd = fd
        self.decoder = KeyDecoder(esc_timeout_s)
        self._saved = None

    def __enter__(self) -> TerminalKeys:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def read(self, timeout_s: float) -> list[str]:
        """Keys pressed within timeout_s (possibly none)."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        now = time.monotonic()
        keys: list[str] = []
        if ready:
            data = os.read(self.fd, 64)
            if not data:
                raise EOFError("terminal closed")
            keys += self.decoder.feed(data, now)
        return keys + self.decoder.flush(time.monotonic())

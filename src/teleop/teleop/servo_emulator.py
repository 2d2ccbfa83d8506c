"""A servo bus on a pseudo-terminal that answers real Dynamixel Protocol 2.0 and Feetech SCS packets.

The vendor SDKs open `emulator.port` (the pty slave) like a USB adapter. A thread serves the
master end: it parses instruction packets (checksums / CRC-16 verified), answers PING, READ,
WRITE, SYNC_READ and SYNC_WRITE with status packets from per-servo control tables, and lets a
test script the shaft angles (`set_angle`, or `script` = a function of time). `unplug()` stops
answering (or closes the pty) mid-run; `power_cycle()` forgets multi-turn counts.
"""
from __future__ import annotations

import math
import os
import select
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TICKS_PER_REV = 4096


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):  # CRC-16/BUYPASS: polynomial 0x8005, MSB first, init 0
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc16_table()


def crc16(data: bytes | bytearray | Sequence[int]) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF
    return crc


def scs_checksum(body: Sequence[int]) -> int:
    return ~sum(body) & 0xFF


@dataclass
class ControlTable:
    """Addresses of the registers the emulator gives meaning to (the rest is plain memory)."""
    model_address: int
    present_position: int
    position_size: int
    torque_enable: int
    goal_position: int
    operating_mode: int | None = None
    homing_offset: int | None = None


# Dynamixel X series (XL330-M288: model 1200) and Feetech STS3215 (model 777)
XL330 = ControlTable(model_address=0, present_position=132, position_size=4, torque_enable=64,
                     goal_position=116, operating_mode=11, homing_offset=20)
STS3215 = ControlTable(model_address=3, present_position=56, position_size=2, torque_enable=40,
                       goal_position=42, homing_offset=31)


@dataclass
class EmulatedServo:
    id: int
    model: int
    table: ControlTable
    memory: bytearray = field(default_factory=lambda: bytearray(1024))
    angle_ticks: float = 2048.0       # shaft angle since power-on (multi-turn), in ticks
    turn_base: int = 0                # whole turns forgotten by the last power cycle

    def __post_init__(self) -> None:
        self.memory[self.table.model_address:self.table.model_address + 2] = self.model.to_bytes(2, "little")
        if self.table.operating_mode is not None:
            self.memory[self.table.operating_mode] = 3  # position control (single turn)

    def present_position(self) -> int:
        ticks = int(round(self.angle_ticks)) - self.turn_base * TICKS_PER_REV
        if self.table is STS3215:
            offset = int.from_bytes(self.memory[31:33], "little")
            offset = -(offset & 0x7FF) if offset & 0x800 else offset  # sign bit 11
            return (ticks - offset) % TICKS_PER_REV
        offset = int.from_bytes(self.memory[20:24], "little", signed=True)
        if self.memory[self.table.operating_mode] == 4:  # extended position: multi-turn
            return ticks + offset
        return (ticks + offset) % TICKS_PER_REV

    def read(self, address: int, length: int) -> bytes | None:
        if address < 0 or length < 0 or address + length > len(self.memory):
            return None
        pos = self.table.present_position
        if address < pos + self.table.position_size and pos < address + length:
            value = self.present_position()
            self.memory[pos:pos + self.table.position_size] = value.to_bytes(
                self.table.position_size, "little", signed=value < 0)
        return bytes(self.memory[address:address + length])

    def write(self, address: int, data: bytes) -> bool:
        if address < 0 or address + len(data) > len(self.memory):
            return False
        self.memory[address:address + len(data)] = data
        return True


class BusEmulator:
    """One emulated bus ('dynamixel' or 'feetech') on a pty; `port` is the device path to open."""

    def __init__(self, protocol: str, servos: Sequence[int], model: int | None = None,
                 realtime_priority: int = 0) -> None:
        if protocol not in ("dynamixel", "feetech"):
            raise ValueError(f"protocol must be 'dynamixel' or 'feetech', got {protocol!r}")
        self.protocol = protocol
        table = XL330 if protocol == "dynamixel" else STS3215
        model = model if model is not None else (1200 if protocol == "dynamixel" else 777)
        self.servos: dict[int, EmulatedServo] = {i: EmulatedServo(i, model, table) for i in servos}
        self.script: Callable[[float], dict[int, float]] | None = None  # t -> {id: angle rad}
        self.t0 = time.monotonic()
        self.answering = True
        self.corrupt_replies = 0      # send this many replies with a wrong checksum
        self.bad_requests = 0         # instruction packets with a wrong checksum / CRC
        self.requests = 0
        self.sync_reads = 0
        self._lock = threading.Lock()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._buf = bytearray()
        self.realtime_priority = realtime_priority  # real servos answer regardless of host CPU load
        self._running = True
        self._thread = threading.Thread(target=self._serve, name=f"{protocol}-bus", daemon=True)
        self._thread.start()

    # ---- what a test scripts ----------------------------------------------------------------
    def set_angle(self, servo_id: int, radians: float) -> None:
        """Set the shaft angle (rad, multi-turn: 0 = tick 0) of one servo."""
        with self._lock:
            self.servos[servo_id].angle_ticks = radians * TICKS_PER_REV / (2 * math.pi)

    def set_angles(self, angles: dict[int, float]) -> None:
        for i, a in angles.items():
            self.set_angle(i, a)

    def angle(self, servo_id: int) -> float:
        return self.servos[servo_id].angle_ticks * 2 * math.pi / TICKS_PER_REV

    def power_cycle(self) -> None:
        """The servos restart: multi-turn counts are lost, the shaft stays where it is."""
        with self._lock:
            for s in self.servos.values():
                s.turn_base = int(math.floor(s.angle_ticks / TICKS_PER_REV))

    def unplug(self, close: bool = False) -> None:
        """Stop answering (cable pulled); close=True also closes the pty (adapter pulled)."""
        self.answering = False
        if close:
            self.stop()

    def replug(self) -> None:
        self.answering = True

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> BusEmulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- serving ----------------------------------------------------------------------------
    def _serve(self) -> None:
        if self.realtime_priority > 0:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
            except (PermissionError, OSError):
                pass
        while self._running:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(self._master, 4096)
            except OSError:
                break
            if not self.answering:
                continue
            self._buf += chunk
            while self._running:
                consumed = self._parse_dynamixel() if self.protocol == "dynamixel" else self._parse_feetech()
                if not consumed:
                    break

    def _send(self, packets: list[bytes]) -> None:
        if packets and self.answering:
            try:
                os.write(self._master, b"".join(packets))
            except OSError:
                pass

    def _apply_script(self) -> None:
        if self.script is not None:
            for i, a in self.script(time.monotonic() - self.t0).items():
                self.servos[i].angle_ticks = a * TICKS_PER_REV / (2 * math.pi)

    def _corrupt(self, pkt: bytearray) -> bytes:
        if self.corrupt_replies > 0:
            self.corrupt_replies -= 1
            pkt[-1] ^= 0x5A
        return bytes(pkt)

    # Dynamixel Protocol 2.0: FF FF FD 00 ID LEN_L LEN_H INST PARAM... CRC_L CRC_H (byte-stuffed)
    def _parse_dynamixel(self) -> bool:
        buf = self._buf
        start = buf.find(b"\xff\xff\xfd\x00")
        if start < 0:
            del buf[:max(0, len(buf) - 3)]
            return False
        del buf[:start]
        if len(buf) < 10:
            return False
        length = buf[5] | (buf[6] << 8)
        total = 7 + length
        if len(buf) < total:
            return False
        pkt = bytes(buf[:total])
        del buf[:total]
        self.requests += 1
        sid = pkt[4]
        if crc16(pkt[:-2]) != (pkt[-2] | (pkt[-1] << 8)):
            self.bad_requests += 1
            if sid in self.servos:
                self._send([self._dxl_status(sid, 0x03, b"")])  # CRC error
            return True
        body = pkt[7:-2].replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")  # remove byte stuffing
        inst, params = body[0], body[1:]
        with self._lock:
            self._apply_script()
            self._send(self._dxl_answer(sid, inst, params))
        return True

    def _dxl_status(self, sid: int, error: int, params: bytes) -> bytes:
        payload = bytes([0x55, error]) + params
        payload = payload.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")  # byte stuffing
        length = len(payload) + 2
        pkt = bytearray(b"\xff\xff\xfd\x00" + bytes([sid, length & 0xFF, length >> 8]) + payload)
        crc = crc16(pkt)
        pkt += bytes([crc & 0xFF, crc >> 8])
        return self._corrupt(pkt)

    def _dxl_answer(self, sid: int, inst: int, params: bytes) -> list[bytes]:
        broadcast = sid == 0xFE
        targets = list(self.servos) if broadcast else ([sid] if sid in self.servos else [])
        if inst == 0x01:  # PING: model number + firmware version
            return [self._dxl_status(i, 0, self.servos[i].model.to_bytes(2, "little") + b"\x2e") for i in targets]
        if inst == 0x02 and not broadcast and targets and len(params) == 4:  # READ
            addr, n = params[0] | params[1] << 8, params[2] | params[3] << 8
            data = self.servos[sid].read(addr, n)
            return [self._dxl_status(sid, 0 if data is not None else 0x07, data or b"")]
        if inst == 0x03 and len(params) >= 2:  # WRITE
            addr = params[0] | params[1] << 8
            ok = all(self.servos[i].write(addr, params[2:]) for i in targets)
            return [] if broadcast or not targets else [self._dxl_status(sid, 0 if ok else 0x07, b"")]
        if inst == 0x82 and broadcast and len(params) >= 4:  # SYNC_READ: replies in the listed order
            self.sync_reads += 1
            addr, n = params[0] | params[1] << 8, params[2] | params[3] << 8
            return [self._dxl_status(i, 0, self.servos[i].read(addr, n) or b"") for i in params[4:] if i in self.servos]
        if inst == 0x83 and broadcast and len(params) >= 4:  # SYNC_WRITE: no reply
            addr, n = params[0] | params[1] << 8, params[2] | params[3] << 8
            for k in range(4, len(params) - n, n + 1):
                if params[k] in self.servos:
                    self.servos[params[k]].write(addr, params[k + 1:k + 1 + n])
            return []
        return [] if broadcast or not targets else [self._dxl_status(sid, 0x02, b"")]  # instruction error

    # Feetech SCS: FF FF ID LEN INST PARAM... CHECKSUM (LEN = params + 2)
    def _parse_feetech(self) -> bool:
        buf = self._buf
        start = buf.find(b"\xff\xff")
        while start >= 0 and start + 2 < len(buf) and buf[start + 2] == 0xFF:
            start += 1  # FF FF FF: the header is the last two
        if start < 0:
            del buf[:max(0, len(buf) - 1)]
            return False
        del buf[:start]
        if len(buf) < 6:
            return False
        total = buf[3] + 4
        if len(buf) < total:
            return False
        pkt = bytes(buf[:total])
        del buf[:total]
        self.requests += 1
        if scs_checksum(pkt[2:-1]) != pkt[-1]:
            self.bad_requests += 1  # a real STS servo ignores a packet with a bad checksum
            return True
        sid, inst, params = pkt[2], pkt[4], pkt[5:-1]
        with self._lock:
            self._apply_script()
            self._send(self._scs_answer(sid, inst, params))
        return True

    def _scs_status(self, sid: int, error: int, params: bytes) -> bytes:
        body = bytes([sid, len(params) + 2, error]) + params
        return self._corrupt(bytearray(b"\xff\xff" + body + bytes([scs_checksum(body)])))

    def _scs_answer(self, sid: int, inst: int, params: bytes) -> list[bytes]:
        broadcast = sid == 0xFE
        targets = list(self.servos) if broadcast else ([sid] if sid in self.servos else [])
        if not targets:
            return []
        if inst == 0x01:  # PING
            return [] if broadcast else [self._scs_status(sid, 0, b"")]
        if inst == 0x02 and not broadcast and len(params) == 2:  # READ
            data = self.servos[sid].read(params[0], params[1])
            return [self._scs_status(sid, 0 if data is not None else 0x08, data or b"")]
        if inst == 0x03 and len(params) >= 1:  # WRITE
            ok = all(self.servos[i].write(params[0], params[1:]) for i in targets)
            return [] if broadcast else [self._scs_status(sid, 0 if ok else 0x08, b"")]
        if inst == 0x82 and broadcast and len(params) >= 2:  # SYNC_READ
            self.sync_reads += 1
            return [self._scs_status(i, 0, self.servos[i].read(params[0], params[1]) or b"")
                    for i in params[2:] if i in self.servos]
        if inst == 0x83 and broadcast and len(params) >= 2:  # SYNC_WRITE
            addr, n = params[0], params[1]
            for k in range(2, len(params) - n, n + 1):
                if params[k] in self.servos:
                    self.servos[params[k]].write(addr, params[k + 1:k + 1 + n])
            return []
        return [] if broadcast else [self._scs_status(sid, 0x08, b"")]


def main(argv: list[str] | None = None) -> int:
    """Serve an emulated bus until stdin closes; prints `PORT <path>` first. Angles follow
    center + amplitude * wave(f t + phase_i), so benches and demos get a moving leader."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="emulated Dynamixel / Feetech servo bus on a pty")
    ap.add_argument("--protocol", choices=["dynamixel", "feetech"], default="feetech")
    ap.add_argument("--ids", default="1,2,3,4,5,6", help="comma-separated servo ids")
    ap.add_argument("--center", type=float, default=math.pi, help="raw angle at the middle (rad)")
    ap.add_argument("--amplitude", type=float, default=0.0, help="sine amplitude (rad)")
    ap.add_argument("--freq", type=float, default=0.5, help="wave frequency (Hz)")
    ap.add_argument("--wave", choices=["sine", "triangle"], default="sine",
                    help="triangle: constant speed 4*amplitude*freq, so every read differs")
    ap.add_argument("--rt", type=int, default=0, help="SCHED_FIFO priority of the serving thread (0: off)")
    args = ap.parse_args(argv)
    ids = [int(i) for i in args.ids.split(",")]
    emu = BusEmulator(args.protocol, ids, realtime_priority=args.rt)

    def wave(x: float) -> float:  # x in cycles
        if args.wave == "sine":
            return math.sin(2 * math.pi * x)
        return 4 * abs((x + 0.25) % 1.0 - 0.5) - 1  # triangle, same phase as the sine

    def script(t: float) -> dict[int, float]:
        return {i: args.center + args.amplitude * wave(args.freq * t + 0.05 * k) for k, i in enumerate(ids)}

    emu.set_angles(script(0.0))
    emu.script = script
    print(f"PORT {emu.port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Leader-arm servo buses behind one small interface: open(), read() -> raw angles (rad), close().

DynamixelBus (GELLO, Protocol 2.0, ROBOTIS dynamixel-sdk) and FeetechBus (SO-101 leader, STS3215,
feetech-servo-sdk) both read Present_Position of every servo with one sync read. A bus that
cannot be opened, a servo that does not answer, or a corrupt reply raises ServoBusError: there is
never a silent fallback to a fake device.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger("teleop.servo_bus")

TICKS_PER_REV = 4096
RAD_PER_TICK = 2 * math.pi / TICKS_PER_REV


class ServoBusError(RuntimeError):
    """The leader bus cannot be opened or did not answer correctly."""


def usb_latency_timer(port: str) -> tuple[int | None, Path | None]:
    """The FTDI/usb-serial latency_timer (ms) of a serial port, or (None, None) if it has none."""
    name = os.path.basename(os.path.realpath(port))
    path = Path("/sys/bus/usb-serial/devices") / name / "latency_timer"
    try:
        return int(path.read_text().strip()), path
    except (OSError, ValueError):
        return None, None


def latency_advice(port: str) -> str | None:
    """A warning with the fix when the adapter buffers replies for more than 1 ms."""
    value, path = usb_latency_timer(port)
    if value is None or value <= 1:
        return None
    name = path.parent.name
    return (f"{port} ({name}): USB latency_timer is {value} ms, so every bus read waits up to {value} ms "
            f"(the 0.5-1 s lag GELLO users report). Fix now: `echo 1 | sudo tee {path}`; "
            "permanently: a udev rule such as ACTION==\"add\", SUBSYSTEM==\"usb-serial\", "
            "DRIVER==\"ftdi_sio\", ATTR{latency_timer}=\"1\" in /etc/udev/rules.d/99-usb-serial.rules")


def _fast_port_class(base: type, min_timeout_ms: float):
    """The SDK's PortHandler with two changes: blocking reads (no busy spin) and a reply timeout
    that follows the adapter's real latency timer instead of the SDK's fixed 16 ms guess."""

    class FastPortHandler(base):
        latency_ms = 16.0

        def setupPort(self, cflag_baud):  # noqa: N802 - SDK method name
            ok = base.setupPort(self, cflag_baud)
            self.ser.timeout = 0.001  # read(n) blocks until n bytes or 1 ms: no 100 % CPU spin
            return ok

        def setPacketTimeout(self, packet_length):  # noqa: N802 - SDK method name
            self.packet_start_time = self.getCurrentTime()
            self.packet_timeout = max(self.tx_time_per_byte * packet_length + 2.0 * self.latency_ms + 2.0,
                                      min_timeout_ms)

    return FastPortHandler


class ServoBus:
    """Common open/read/close over a vendor SDK; subclasses name the SDK and the registers."""

    protocol = ""
    present_position = 0
    position_size = 0

    def __init__(self, port: str, baudrate: int, ids: Sequence[int], timeout_ms: float = 10.0) -> None:
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"servo ids must be non-empty and unique, got {list(ids)}")
        self.port_name = port
        self.baudrate = int(baudrate)
        self.ids = [int(i) for i in ids]
        self.timeout_ms = float(timeout_ms)
        self.port = None
        self.packet = None
        self.sync_read = None
        self.warnings: list[str] = []

    # SDK specific -----------------------------------------------------------------------------
    def _sdk(self):
        raise NotImplementedError

    def _decode(self, raw: int) -> int:
        raise NotImplementedError

    # common -----------------------------------------------------------------------------------
    def open(self) -> None:
        sdk = self._sdk()
        if not os.path.exists(self.port_name):
            raise ServoBusError(f"{self.protocol} leader: serial port {self.port_name} does not exist "
                                "(adapter unplugged? check `ls /dev/serial/by-id/`)")
        port_cls = _fast_port_class(sdk.PortHandler, self.timeout_ms)
        port = port_cls(self.port_name)
        latency, _ = usb_latency_timer(self.port_name)
        port.latency_ms = float(latency) if latency is not None else 1.0
        advice = latency_advice(self.port_name)
        if advice:
            self.warnings.append(advice)
            log.warning(advice)
        try:
            if port.getCFlagBaud(self.baudrate) <= 0:
                raise ServoBusError(f"{self.protocol} leader: unsupported baud rate {self.baudrate}")
            if not port.setBaudRate(self.baudrate):
                raise ServoBusError(f"{self.protocol} leader: cannot open {self.port_name} at {self.baudrate} baud")
        except ServoBusError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyserial raises several types for a missing device
            raise ServoBusError(f"{self.protocol} leader: cannot open {self.port_name}: {exc}") from exc
        self.port = port
        self.packet = self._packet_handler(sdk)
        missing = [i for i in self.ids if not self.ping(i)]
        if missing:
            self.close()
            raise ServoBusError(
                f"{self.protocol} leader on {self.port_name} at {self.baudrate} baud: servo ids {missing} do not "
                f"answer (expected {self.ids}); check power, cabling, ids and that the servos use this baud rate")
        self.sync_read = sdk.GroupSyncRead(self.port, self.packet, self.present_position, self.position_size)
        for i in self.ids:
            self.sync_read.addParam(i)

    def _packet_handler(self, sdk):
        raise NotImplementedError

    def ping(self, servo_id: int) -> bool:
        try:
            _, result, _ = self.packet.ping(self.port, servo_id)
        except Exception:  # noqa: BLE001 - a vanished device raises from pyserial
            return False
        return result == 0

    def read_ticks(self) -> np.ndarray:
        """Present_Position of every servo (ticks, in `ids` order) with one sync read."""
        if self.sync_read is None:
            raise ServoBusError(f"{self.protocol} leader: bus {self.port_name} is not open")
        try:
            result = self.sync_read.txRxPacket()
        except Exception as exc:  # noqa: BLE001 - pyserial: device disconnected
            raise ServoBusError(f"{self.protocol} leader: {self.port_name} failed: {exc}") from exc
        if result != 0:
            raise ServoBusError(f"{self.protocol} leader: sync read failed: {self.packet.getTxRxResult(result)}")
        out = np.empty(len(self.ids))
        for k, i in enumerate(self.ids):
            data = self.sync_read.data_dict.get(i)
            if data is None or len(data) < self.position_size:
                raise ServoBusError(f"{self.protocol} leader: no position from servo {i}")
            out[k] = self._decode(int.from_bytes(bytes(data[:self.position_size]), "little"))
        return out

    def read(self) -> np.ndarray:
        """Raw shaft angles in radians (tick / 4096 * 2 pi), in `ids` order."""
        return self.read_ticks() * RAD_PER_TICK

    def write_byte(self, servo_id: int, address: int, value: int) -> None:
        result, error = self.packet.write1ByteTxRx(self.port, servo_id, address, value)
        if result != 0 or error != 0:
            raise ServoBusError(f"{self.protocol} leader: write to servo {servo_id} address {address} failed")

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.closePort()
            except Exception:  # noqa: BLE001 - closing a vanished device
                pass
        self.port = None
        self.sync_read = None

    def __enter__(self) -> ServoBus:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DynamixelBus(ServoBus):
    """GELLO: Dynamixel X series over Protocol 2.0 (Present_Position: address 132, 4 bytes)."""

    protocol = "dynamixel"
    present_position = 132
    position_size = 4
    torque_enable = 64

    def _sdk(self):
        import dynamixel_sdk

        return dynamixel_sdk

    def _packet_handler(self, sdk):
        return sdk.PacketHandler(2.0)

    def _decode(self, raw: int) -> int:
        return raw - (1 << 32) if raw & 0x80000000 else raw  # int32, multi-turn in extended mode


class FeetechBus(ServoBus):
    """SO-101 leader: Feetech STS3215 over the SCS protocol (Present_Position: address 56, 2 bytes)."""

    protocol = "feetech"
    present_position = 56
    position_size = 2
    torque_enable = 40

    def _sdk(self):
        import scservo_sdk

        return scservo_sdk

    def _packet_handler(self, sdk):
        return sdk.PacketHandler(0)  # STS series: little-endian words

    def _decode(self, raw: int) -> int:
        return -(raw & 0x7FFF) if raw & 0x8000 else raw  # sign-magnitude, bit 15


BUSES = {"gello": DynamixelBus, "dynamixel": DynamixelBus, "so101": FeetechBus, "feetech": FeetechBus}

"""The real vendor SDKs (dynamixel_sdk, scservo_sdk) against the pty bus emulator."""
import math
import os
from pathlib import Path

import numpy as np
import pytest
import serial

from teleop import servo_bus
from teleop.servo_bus import DynamixelBus, FeetechBus, ServoBusError, latency_advice
from teleop.servo_emulator import BusEmulator, crc16, scs_checksum

CASES = [("dynamixel", DynamixelBus), ("feetech", FeetechBus)]


@pytest.mark.parametrize("protocol,cls", CASES)
def test_sync_read_returns_scripted_angles(protocol, cls):
    with BusEmulator(protocol, [1, 2, 3, 7]) as emu:
        angles = {1: 0.5, 2: 3.0, 3: 6.0, 7: 1.234}
        emu.set_angles(angles)
        with cls(emu.port, 1_000_000, [1, 2, 3, 7]) as bus:
            q = bus.read()
            np.testing.assert_allclose(q, list(angles.values()), atol=2 * math.pi / 4096)
            emu.set_angle(2, 2.0)
            assert abs(bus.read()[1] - 2.0) < 2e-3
        assert emu.sync_reads == 2 and emu.bad_requests == 0


@pytest.mark.parametrize("protocol,cls", CASES)
def test_bus_errors_are_errors_never_fakes(protocol, cls, tmp_path):
    with pytest.raises(ServoBusError, match="does not exist"):
        cls(str(tmp_path / "ttyUSB9"), 1_000_000, [1]).open()
    with BusEmulator(protocol, [1, 2]) as emu:
        with pytest.raises(ServoBusError, match=r"servo ids \[3\] do not answer"):
            cls(emu.port, 1_000_000, [1, 2, 3]).open()
        with pytest.raises(ServoBusError, match="unsupported baud"):
            cls(emu.port, 12345, [1]).open()
        bus = cls(emu.port, 1_000_000, [1, 2])
        bus.open()
        emu.corrupt_replies = 1                      # a reply with a broken checksum / CRC
        with pytest.raises(ServoBusError, match="sync read failed"):
            bus.read()
        bus.read()                                   # the bus recovers on the next read
        emu.unplug()                                 # cable pulled: no answers
        with pytest.raises(ServoBusError, match="no status packet"):
            bus.read()
        emu.replug()
        bus.read()
        emu.unplug(close=True)                       # adapter pulled: the pty goes away
        with pytest.raises(ServoBusError):
            bus.read()
        bus.close()


def test_dynamixel_crc_and_byte_stuffing():
    # the PING example of the ROBOTIS Protocol 2.0 manual: FF FF FD 00 01 03 00 01 | 19 4E
    assert crc16(bytes.fromhex("FFFFFD0001030001")) == 0x4E19
    with BusEmulator("dynamixel", [1]) as emu:
        emu.servos[1].memory[11] = 4                 # extended position mode (multi-turn)
        # Present_Position 0x00FDFFFF = bytes FF FF FD 00: the status packet must be byte-stuffed
        emu.servos[1].angle_ticks = 0x00FDFFFF
        with DynamixelBus(emu.port, 57_600, [1]) as bus:
            assert bus.read_ticks()[0] == 0x00FDFFFF
        # an instruction with a wrong CRC is answered with a CRC error status, never executed
        with serial.Serial(emu.port, 1_000_000, timeout=0.5) as raw:
            pkt = bytes.fromhex("FFFFFD0001030001") + b"\x00\x00"
            raw.write(pkt)
            reply = raw.read(11)
        assert emu.bad_requests == 1 and reply[8] == 0x03


def test_feetech_checksum_and_bad_packet_ignored():
    assert scs_checksum([0x01, 0x02, 0x01]) == 0xFB  # PING id 1: FF FF 01 02 01 FB
    with BusEmulator("feetech", [1]) as emu:
        with serial.Serial(emu.port, 1_000_000, timeout=0.3) as raw:
            raw.write(bytes([0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB]))
            assert raw.read(6) == bytes([0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC])
            raw.write(bytes([0xFF, 0xFF, 0x01, 0x02, 0x01, 0x00]))  # bad checksum: no reply
            assert raw.read(6) == b""
        assert emu.bad_requests == 1


def test_feetech_single_turn_wraps_and_homing_offset():
    with BusEmulator("feetech", [1]) as emu:
        emu.set_angle(1, 2 * math.pi + 0.5)          # past one turn: STS reports 0..4095
        with FeetechBus(emu.port, 1_000_000, [1]) as bus:
            assert abs(bus.read()[0] - 0.5) < 2e-3
            emu.servos[1].write(31, (100).to_bytes(2, "little"))  # Homing_Offset register
            assert abs(bus.read_ticks()[0] - (int(round(emu.servos[1].angle_ticks)) - 100) % 4096) <= 1


def test_latency_timer_warning_says_how_to_fix(monkeypatch):
    assert latency_advice("/dev/pts/0") is None      # not a USB serial adapter
    path = Path("/sys/bus/usb-serial/devices/ttyUSB0/latency_timer")
    monkeypatch.setattr(servo_bus, "usb_latency_timer", lambda port: (16, path))
    text = latency_advice("/dev/ttyUSB0")
    assert "16 ms" in text and f"echo 1 | sudo tee {path}" in text and "udev" in text
    monkeypatch.setattr(servo_bus, "usb_latency_timer", lambda port: (1, path))
    assert latency_advice("/dev/ttyUSB0") is None
    assert os.path.exists("/dev/ptmx")

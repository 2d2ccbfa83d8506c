"""`recorder repair`: make an interrupted episode readable up to the kill.

A bag whose recorder was killed has an MCAP file without summary and footer, possibly ending in a
half-written record, and no metadata.yaml. We scan its complete records (chunks included), copy
every message into a fresh MCAP with rosbags, swap it in atomically and write metadata.yaml.
episode.yaml keeps `status: incomplete` and gains `repaired`, the counts and the last time.
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from .bag import message_definition
from .layout import SessionDir, read_yaml, utc_iso, write_yaml_atomic

MAGIC = b"\x89MCAP0\r\n"


class RepairError(RuntimeError):
    """The file is not an MCAP bag we can repair (wrong magic, unsupported compression)."""


@dataclass
class RepairReport:
    bag: Path
    needed: bool
    counts: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    end_time_ns: int | None = None
    start_time_ns: int | None = None
    truncated: bool = False
    note: str = ""


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", buf, pos)
    return bytes(buf[pos + 4:pos + 4 + n]).decode(), pos + 4 + n


class _Truncated(Exception):
    pass


def _records(buf: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(opcode, body) of each record in an in-memory chunk; raises _Truncated on a cut record."""
    pos = 0
    while pos + 9 <= len(buf):
        op = buf[pos]
        (length,) = struct.unpack_from("<Q", buf, pos + 1)
        if pos + 9 + length > len(buf):
            raise _Truncated
        yield op, buf[pos + 9:pos + 9 + length]
        pos += 9 + length
    if pos != len(buf):
        raise _Truncated


def _file_records(f) -> Iterator[tuple[int, memoryview]]:
    """Top-level records read one at a time (a bag can be far larger than memory)."""
    while True:
        head = f.read(9)
        if not head:
            return
        if len(head) < 9:
            raise _Truncated
        op, length = head[0], struct.unpack_from("<Q", head, 1)[0]
        body = f.read(length)
        if len(body) < length:
            raise _Truncated
        yield op, memoryview(body)


def _decompress(data: memoryview, compression: str, size: int) -> memoryview:
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
        except ImportError:
            from backports import zstd
        return memoryview(zstd.decompress(bytes(data)))
    if compression == "lz4":
        try:
            import lz4.frame
        except ImportError:
            raise RepairError("lz4-compressed chunks need the lz4 package") from None
        return memoryview(lz4.frame.decompress(bytes(data)))
    raise RepairError(f"unsupported MCAP chunk compression '{compression}'")


def _parse(op: int, body: memoryview) -> tuple | None:
    if op == 0x03:
        (sid,) = struct.unpack_from("<H", body, 0)
        name, p = _string(body, 2)
        enc, p = _string(body, p)
        (n,) = struct.unpack_from("<I", body, p)
        return ("schema", sid, name, enc, bytes(body[p + 4:p + 4 + n]))
    if op == 0x04:
        cid, sid = struct.unpack_from("<HH", body, 0)
        topic, p = _string(body, 4)
        _, p = _string(body, p)                       # message encoding (cdr)
        return ("channel", cid, sid, topic, bytes(body[p:]))
    if op == 0x05:
        cid, _seq, log_time, _pub = struct.unpack_from("<HIQQ", body, 0)
        return ("message", cid, log_time, bytes(body[22:]))
    return None


def scan_mcap(path: Path, state: dict | None = None) -> Iterator[tuple]:
    """Schemas, channels and messages of an MCAP file, in file order, up to its last complete record.

    Yields ('schema', id, name, encoding, data), ('channel', id, schema_id, topic, metadata_bytes)
    and ('message', channel_id, log_time, data). Sets state['truncated'] when the file ends mid-record.
    """
    state = {} if state is None else state
    state["truncated"] = False
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise RepairError(f"{path}: not an MCAP file (bad magic)")
        try:
            for op, body in _file_records(f):
                if op == 0x06:
                    _s, _e, usize, _crc = struct.unpack_from("<QQQI", body, 0)
                    comp, p = _string(body, 28)
                    (clen,) = struct.unpack_from("<Q", body, p)
                    inner = list(_records(_decompress(body[p + 8:p + 8 + clen], comp, usize)))
                    for iop, ibody in inner:
                        item = _parse(iop, ibody)
                        if item:
                            yield item
                elif op in (0x0F, 0x02):                  # data end / footer: the summary follows
                    return
                else:
                    item = _parse(op, body)
                    if item:
                        yield item
        except (_Truncated, struct.error):
            state["truncated"] = True


def _rihs01(msgtype: str, msgdef: str) -> str:
    try:
        return message_definition(msgtype)[1]
    except Exception:  # noqa: BLE001 - not a standard type: hash its own definition
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore

        store = get_typestore(Stores.EMPTY)
        store.register(get_types_from_msg(msgdef, msgtype))
        return store.hash_rihs01(msgtype)


def bag_readable(bag_dir: Path) -> bool:
    if not (Path(bag_dir) / "metadata.yaml").exists():
        return False
    try:
        with Reader(bag_dir):
            return True
    except Exception:  # noqa: BLE001 - any reader error means "needs repair"
        return False


def repair_bag(bag_dir: Path) -> RepairReport:
    """Rebuild an interrupted MCAP bag in place. A bag that already opens is left alone."""
    bag_dir = Path(bag_dir)
    if bag_readable(bag_dir):
        return RepairReport(bag_dir, needed=False, note="readable, nothing to do")
    mcaps = sorted(bag_dir.glob("*.mcap"))
    if len(mcaps) != 1:
        raise RepairError(f"{bag_dir}: expected one .mcap file, found {len(mcaps)}")
    src = mcaps[0]
    scan_state: dict = {}
    from rosbags.rosbag2.storage_mcap import get_qos

    tmp = bag_dir.with_name(f".repair_{bag_dir.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    writer = Writer(tmp, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    report = RepairReport(bag_dir, needed=True)
    schemas: dict[int, tuple[str, str]] = {}
    conns: dict[int, object] = {}
    topics: dict[int, str] = {}
    counts: dict[str, int] = defaultdict(int)
    try:
        for item in scan_mcap(src, scan_state):
            if item[0] == "schema":
                schemas[item[1]] = (item[2], item[4].decode())
            elif item[0] == "channel" and item[1] not in conns:
                _, cid, sid, topic, meta = item
                msgtype, msgdef = schemas[sid]
                try:
                    qos = get_qos(meta)
                except Exception:  # noqa: BLE001 - QoS is informative only
                    qos = []
                conns[cid] = writer.add_connection(topic, msgtype, msgdef=msgdef, rihs01=_rihs01(msgtype, msgdef),
                                                   offered_qos_profiles=qos)
                topics[cid] = topic
                counts[topic] += 0
                report.types[topic] = msgtype
            elif item[0] == "message" and item[1] in conns:
                _, cid, t, data = item
                writer.write(conns[cid], t, data)
                counts[topics[cid]] += 1
                report.end_time_ns = t if report.end_time_ns is None else max(t, report.end_time_ns)
                report.start_time_ns = t if report.start_time_ns is None else min(t, report.start_time_ns)
        writer.close()
        report.truncated = scan_state["truncated"]
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # swap in: new MCAP under the old name, then metadata.yaml naming it (written last = commit)
    new_mcap = next(tmp.glob("*.mcap"))
    os.replace(new_mcap, src)
    meta_text = (tmp / "metadata.yaml").read_text().replace(new_mcap.name, src.name)
    (tmp / "metadata.yaml").write_text(meta_text)
    os.replace(tmp / "metadata.yaml", bag_dir / "metadata.yaml")
    shutil.rmtree(tmp, ignore_errors=True)
    report.counts = dict(counts)
    report.note = f"{sum(counts.values())} messages recovered" + (" (file was cut mid-record)" if report.truncated else "")
    return report


def repair_episode(ep_dir: Path) -> RepairReport:
    """Repair the bag and record the outcome in episode.yaml (status stays incomplete)."""
    ep_dir = Path(ep_dir)
    report = repair_bag(ep_dir)
    meta_path = ep_dir / "episode.yaml"
    try:
        meta = read_yaml(meta_path)
    except (OSError, ValueError):
        meta = {"format": "robot_ws/episode/1", "status": "incomplete"}
    if report.needed or meta.get("status") != "complete":
        if report.needed:
            meta["status"] = "incomplete"
            meta["repaired"] = utc_iso()
            topics = {t: {"type": v.get("type"), "count": 0} for t, v in (meta.get("topics") or {}).items()}
            topics.update({t: {"type": report.types[t], "count": n} for t, n in report.counts.items()})
            meta["topics"] = topics
            if meta.get("end_time_ns") is None and report.end_time_ns is not None:
                meta["end_time_ns"] = report.end_time_ns
        meta.setdefault("status", "incomplete")
        write_yaml_atomic(meta_path, meta)
    return report


def repair_session(session_dir: Path) -> list[RepairReport]:
    """Repair every episode of a session that is not complete; drop leftovers of discards."""
    session = SessionDir(session_dir)
    for leftover in list(session.path.glob(".discarded_episode_*")) + list(session.path.glob(".repair_episode_*")):
        shutil.rmtree(leftover, ignore_errors=True)
    reports = []
    for index in session.episode_indices():
        path = session.episode_path(index)
        if session.episode_status(index) == "complete" and bag_readable(path):
            continue
        reports.append(repair_episode(path))
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="recorder repair", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path, help="session directories or episode bag directories")
    args = ap.parse_args(argv)
    status = 0
    for path in args.paths:
        try:
            if (path / "session.yaml").exists():
                reports = repair_session(path)
            elif path.is_dir():
                reports = [repair_episode(path)]
            else:
                raise RepairError(f"{path} is neither a session nor a bag directory")
        except (RepairError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
            continue
        if not reports:
            print(f"{path}: every episode is complete and readable")
        for r in reports:
            print(f"{r.bag}: {'repaired, ' if r.needed else ''}{r.note}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""`recorder repair`: make interrupted episodes readable up to the moment the recorder stopped.

A bag whose recorder was killed has an MCAP file without summary and footer, possibly ending in a
half-written record (or holding only the magic and header: a kill right after the episode
started), and no metadata.yaml. We scan its complete records (chunks included, each chunk's CRC
checked), copy every message into a fresh MCAP, swap it in atomically and write metadata.yaml.
episode.yaml keeps `status: incomplete` and gains `repaired`, the counts and the last time. A
session is repaired episode by episode: one that cannot be repaired is reported and the others
still are.
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .bag import EpisodeBag, message_definition
from .layout import EPISODE_FORMAT, SessionDir, read_yaml, utc_iso, write_yaml_atomic

MAGIC = b"\x89MCAP0\r\n"
REPAIR_COMMAND = "ros2 run recorder repair"


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
    bad_chunks: int = 0              # chunks whose CRC did not match: their messages are left out
    note: str = ""
    error: str | None = None         # set when this episode could not be repaired (repair_session)

    @property
    def messages(self) -> int:
        return sum(self.counts.values())


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


def _file_records(f) -> Iterator[tuple[int, int, memoryview]]:
    """(offset, opcode, body) of top-level records, read one at a time (a bag can be far larger
    than memory)."""
    while True:
        offset = f.tell()
        head = f.read(9)
        if not head:
            return
        if len(head) < 9:
            raise _Truncated
        op, length = head[0], struct.unpack_from("<Q", head, 1)[0]
        body = f.read(length)
        if len(body) < length:
            raise _Truncated
        yield offset, op, memoryview(body)


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
        return ("channel", cid, sid, topic, _string_map(body, p))
    if op == 0x05:
        cid, _seq, log_time, _pub = struct.unpack_from("<HIQQ", body, 0)
        return ("message", cid, log_time, bytes(body[22:]))
    return None


def _string_map(body: memoryview, pos: int) -> dict[str, str]:
    (size,) = struct.unpack_from("<I", body, pos)
    end, pos, out = pos + 4 + size, pos + 4, {}
    while pos < end:
        key, pos = _string(body, pos)
        out[key], pos = _string(body, pos)
    return out


def scan_mcap(path: Path, state: dict | None = None) -> Iterator[tuple]:
    """Schemas, channels and messages of an MCAP file, in file order, up to its last complete record.

    Yields ('schema', id, name, encoding, data), ('channel', id, schema_id, topic, metadata dict)
    and ('message', channel_id, log_time, data). Sets state['truncated'] when the file ends
    mid-record and counts in state['bad_chunks'] the chunks whose CRC does not match (skipped).
    A file shorter than the magic that is a prefix of it (a kill at creation) yields nothing.
    """
    state = {} if state is None else state
    state.update(truncated=False, bad_chunks=0, bad_chunk_offsets=[])
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
        if head != MAGIC:
            if MAGIC.startswith(head):
                state["truncated"] = bool(head)
                return
            raise RepairError(f"{path}: not an MCAP file (bad magic)")
        try:
            for offset, op, body in _file_records(f):
                if op == 0x06:
                    _s, _e, usize, crc = struct.unpack_from("<QQQI", body, 0)
                    comp, p = _string(body, 28)
                    (clen,) = struct.unpack_from("<Q", body, p)
                    data = _decompress(body[p + 8:p + 8 + clen], comp, usize)
                    if crc and zlib.crc32(data) != crc:   # 0: the writer computed none
                        state["bad_chunks"] += 1
                        state["bad_chunk_offsets"].append(offset)
                        continue
                    for iop, ibody in list(_records(data)):
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
    from rosbags.rosbag2 import Reader

    if not (Path(bag_dir) / "metadata.yaml").exists():
        return False
    try:
        with Reader(bag_dir):
            return True
    except Exception:  # noqa: BLE001 - any reader error means "needs repair"
        return False


def _storage_file(bag_dir: Path) -> Path | None:
    mcaps = sorted(bag_dir.glob("*.mcap"))
    if len(mcaps) > 1:
        raise RepairError(f"{bag_dir}: expected one .mcap file, found {len(mcaps)}")
    return mcaps[0] if mcaps else None


def _read_meta(bag_dir: Path) -> dict:
    try:
        return read_yaml(bag_dir / "episode.yaml")
    except (OSError, ValueError, yaml.YAMLError):
        return {}


def salvage(path: Path) -> RepairReport:
    """What `recorder repair` would recover from a bag folder or an .mcap file, without writing."""
    path = Path(path)
    src = path if path.is_file() else _storage_file(path)
    report = RepairReport(path, needed=True)
    if src is None:
        report.note = "no .mcap file: nothing was recorded"
        return report
    state: dict = {}
    channels: dict[int, str] = {}
    schemas: dict[int, str] = {}
    counts: dict[str, int] = defaultdict(int)
    for item in scan_mcap(src, state):
        if item[0] == "schema":
            schemas[item[1]] = item[2]
        elif item[0] == "channel":
            channels[item[1]] = item[3]
            report.types[item[3]] = schemas.get(item[2], "")
        elif item[0] == "message" and item[1] in channels:
            counts[channels[item[1]]] += 1
            t = item[2]
            report.end_time_ns = t if report.end_time_ns is None else max(t, report.end_time_ns)
            report.start_time_ns = t if report.start_time_ns is None else min(t, report.start_time_ns)
    report.counts = dict(counts)
    report.truncated, report.bad_chunks = state["truncated"], state["bad_chunks"]
    report.note = _note(report)
    return report


def _note(r: RepairReport) -> str:
    text = f"{r.messages} messages recovered"
    if r.start_time_ns is not None and r.end_time_ns is not None:
        text += f" ({(r.end_time_ns - r.start_time_ns) / 1e9:.2f} s)"
    if r.truncated:
        text += " (file was cut mid-record)"
    if r.bad_chunks:
        text += f"; {r.bad_chunks} chunk(s) failed their CRC and were left out"
    return text


def repair_bag(bag_dir: Path) -> RepairReport:
    """Rebuild an interrupted MCAP bag in place. A bag that already opens is left alone."""
    bag_dir = Path(bag_dir)
    if bag_readable(bag_dir):
        return RepairReport(bag_dir, needed=False, note="readable, nothing to do")
    src = _storage_file(bag_dir)
    meta = _read_meta(bag_dir)
    index = meta.get("episode_index")
    file_name = src.name if src is not None else f"{bag_dir.name}_0.mcap"
    custom = {"robot_ws.task": meta.get("task") or "", "robot_ws.robot_type": meta.get("robot_type") or "",
              "robot_ws.episode_index": "" if index is None else str(index)}
    tmp = bag_dir.with_name(f".repair_{bag_dir.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    out = EpisodeBag(tmp, file_name, custom_data={k: v for k, v in custom.items() if v})
    out.open()
    report = RepairReport(bag_dir, needed=True)
    scan_state: dict = {"truncated": False, "bad_chunks": 0}
    schemas: dict[int, tuple[str, str, str]] = {}
    topics: dict[int, str] = {}
    try:
        for item in scan_mcap(src, scan_state) if src is not None else ():
            if item[0] == "schema":
                schemas[item[1]] = (item[2], item[3], item[4].decode())
            elif item[0] == "channel" and item[1] not in topics:
                _, cid, sid, topic, chan_meta = item
                msgtype, encoding, msgdef = schemas[sid]
                try:
                    qos = yaml.safe_load(chan_meta.get("offered_qos_profiles") or "[]") or []
                except yaml.YAMLError:   # QoS is informative only
                    qos = []
                out.add_connection(topic, msgtype, msgdef, chan_meta.get("topic_type_hash") or _rihs01(msgtype, msgdef),
                                   qos, schema_encoding=encoding)
                topics[cid] = topic
                report.types[topic] = msgtype
            elif item[0] == "message" and item[1] in topics:
                _, cid, t, data = item
                out.write(topics[cid], t, data)
                report.end_time_ns = t if report.end_time_ns is None else max(t, report.end_time_ns)
                report.start_time_ns = t if report.start_time_ns is None else min(t, report.start_time_ns)
        # topics the recorder announced but never wrote a message for (e.g. a kill right after
        # start): keep them in the bag with 0 messages, as a finished episode would have them
        for topic, info in (meta.get("topics") or {}).items():
            msgtype = (info or {}).get("type")
            if topic not in out.types and msgtype:
                try:
                    out.add_topic(topic, msgtype)
                except Exception:  # noqa: BLE001 - a non-standard type without definition: leave it out
                    continue
                report.types[topic] = msgtype
        out.close(fsync=True)
        report.truncated, report.bad_chunks = scan_state["truncated"], scan_state["bad_chunks"]
    except BaseException:
        out.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # swap in: new MCAP under the old name, then metadata.yaml naming it (written last = commit)
    os.replace(tmp / file_name, bag_dir / file_name)
    os.replace(tmp / "metadata.yaml", bag_dir / "metadata.yaml")
    shutil.rmtree(tmp, ignore_errors=True)
    report.counts = {t: n for t, n in out.counts.items()}
    report.note = _note(report)
    return report


def repair_episode(ep_dir: Path) -> RepairReport:
    """Repair the bag and record the outcome in episode.yaml (status stays incomplete)."""
    ep_dir = Path(ep_dir)
    report = repair_bag(ep_dir)
    meta = _read_meta(ep_dir) or {"format": EPISODE_FORMAT, "status": "incomplete"}
    if report.needed or meta.get("status") != "complete":
        if report.needed:
            meta["status"] = "incomplete"
            meta["repaired"] = utc_iso()
            topics = {t: {"type": (v or {}).get("type"), "count": 0} for t, v in (meta.get("topics") or {}).items()}
            topics.update({t: {"type": report.types[t], "count": n} for t, n in report.counts.items()})
            meta["topics"] = topics
            if meta.get("end_time_ns") is None and report.end_time_ns is not None:
                meta["end_time_ns"] = report.end_time_ns
        meta.setdefault("status", "incomplete")
        write_yaml_atomic(ep_dir / "episode.yaml", meta)
    return report


def repair_session(session_dir: Path) -> list[RepairReport]:
    """Repair every episode of a session that is not complete; drop leftovers of discards. An
    episode that cannot be repaired gets a report with `error` set; the others are still repaired."""
    session = SessionDir(session_dir)
    for leftover in list(session.path.glob(".discarded_episode_*")) + list(session.path.glob(".repair_episode_*")):
        shutil.rmtree(leftover, ignore_errors=True)
    reports = []
    for index in session.episode_indices():
        path = session.episode_path(index)
        try:
            if session.episode_status(index) == "complete" and bag_readable(path):
                continue
            reports.append(repair_episode(path))
        except (RepairError, OSError, ValueError, yaml.YAMLError) as err:
            reports.append(RepairReport(path, needed=True, error=str(err), note=f"cannot be repaired: {err}"))
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="recorder repair", description=__doc__.split("\n\n")[0],
                                 epilog="Exit status: 0 every episode readable, 1 one could not be repaired "
                                        "(the others are), 2 a path that is no session or bag.")
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
                print(f"error: {path} is neither a session nor a bag directory", file=sys.stderr)
                status = 2
                continue
        except (RepairError, OSError, ValueError, yaml.YAMLError) as err:
            print(f"error: {err}", file=sys.stderr)
            status = max(status, 1)
            continue
        if not reports:
            print(f"{path}: every episode is complete and readable")
        for r in reports:
            if r.error:
                print(f"error: {r.bag}: {r.note}", file=sys.stderr)
                status = max(status, 1)
            else:
                print(f"{r.bag}: {'repaired, ' if r.needed else ''}{r.note}")
    return status


if __name__ == "__main__":
    sys.exit(main())

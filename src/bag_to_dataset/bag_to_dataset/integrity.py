"""Checks a bag's storage before its data goes into a dataset: MCAP chunk CRCs, and for a file that
cannot be opened, whether `recorder repair` can salvage it.

rosbags' reader never looks at CRCs, so a flipped byte inside a chunk would convert silently into
wrong state/action values. Every chunk with a CRC (bags of this workspace's recorder, of
`ros2 bag record` on Jazzy) is decompressed and checked here with the `mcap` library's reader;
chunks written without one (CRC 0: rosbags' writer) are counted as unchecked.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path


class CorruptStorage(ValueError):
    """A storage file whose bytes do not match its own checksums."""


@dataclass
class McapCheck:
    chunks: int = 0
    checked: int = 0                 # chunks with a CRC that matched (the others were written without one)

    def as_dict(self) -> dict:
        return {"chunks": self.chunks, "crc_checked": self.checked, "crc_missing": self.chunks - self.checked}


def _decompress(data: bytes, compression: str, size: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(data)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise CorruptStorage(f"unsupported chunk compression '{compression}'")


def check_mcap(path: Path) -> McapCheck:
    """Read every record of an MCAP file and verify each chunk's CRC; raises CorruptStorage naming
    the chunk (its number, file offset and message time range) on the first mismatch."""
    from mcap.exceptions import McapError
    from mcap.records import Chunk, DataEnd
    from mcap.stream_reader import StreamReader

    result = McapCheck()
    with open(path, "rb") as f:
        reader = StreamReader(f, emit_chunks=True)
        offset = 8
        try:
            for record in reader.records:
                if isinstance(record, Chunk):
                    result.chunks += 1
                    if record.uncompressed_crc:
                        data = _decompress(record.data, record.compression, record.uncompressed_size)
                        crc = zlib.crc32(data)
                        if crc != record.uncompressed_crc:
                            raise CorruptStorage(
                                f"chunk {result.chunks} (near byte {offset}, messages logged "
                                f"{record.message_start_time / 1e9:.3f}-{record.message_end_time / 1e9:.3f} s) "
                                f"fails its CRC check (stored {record.uncompressed_crc:08x}, computed {crc:08x}): "
                                f"its bytes changed after they were written")
                        result.checked += 1
                    offset = f.tell()
                elif isinstance(record, DataEnd):
                    break      # the summary section repeats what the data section said
        except McapError as err:
            raise CorruptStorage(f"unreadable MCAP record near byte {f.tell()}: {err}") from None
        except (ValueError, OSError, EOFError) as err:
            if isinstance(err, CorruptStorage):
                raise
            raise CorruptStorage(f"unreadable MCAP record near byte {f.tell()}: {type(err).__name__}: {err}") from None
    return result


def chunk_data_ranges(path: Path) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each chunk's records in an MCAP file: the bytes its CRC covers
    (for diagnostics and fault-injection tests)."""
    import struct

    data, pos, out = Path(path).read_bytes(), 8, []
    while pos + 9 <= len(data):
        op, length = data[pos], struct.unpack_from("<Q", data, pos + 1)[0]
        if op == 0x06:
            body = pos + 9
            (clen,) = struct.unpack_from("<I", data, body + 28)      # after start, end, size (8 each), crc (4)
            comp_end = body + 32 + clen
            (size,) = struct.unpack_from("<Q", data, comp_end)
            out.append((comp_end + 8, comp_end + 8 + size))
        if op == 0x0F:                                               # data end: the summary follows
            break
        pos += 9 + length
    return out


def salvage_hint(bag_dir: Path) -> str:
    """One sentence: can `recorder repair` rebuild this bag, how much would it recover, and the
    command to run; or why it cannot."""
    try:
        from recorder.repair import REPAIR_COMMAND, RepairError, salvage
    except ImportError:
        return "(install the recorder package to check whether `recorder repair` can salvage it)"
    try:
        report = salvage(bag_dir)
    except RepairError as err:
        return f"`recorder repair` cannot salvage it: {err}"
    except OSError as err:
        return f"`recorder repair` cannot salvage it: {err.strerror}"
    if report.bad_chunks and not report.messages:
        return "`recorder repair` cannot salvage it: every chunk fails its CRC check"
    if not report.messages:
        return (f"`{REPAIR_COMMAND} {bag_dir}` can make it readable, but no message was completely written before "
                f"the cut: it would hold 0 messages")
    if not report.truncated and not report.bad_chunks:
        return (f"its records are complete ({report.messages} messages), so `recorder repair` would only rebuild "
                f"the index: `{REPAIR_COMMAND} {bag_dir}`")
    return f"`{REPAIR_COMMAND} {bag_dir}` can salvage it: {report.note}"

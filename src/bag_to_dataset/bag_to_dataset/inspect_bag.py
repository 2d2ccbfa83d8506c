"""Per-bag summary: topics, types, counts, rates, durations and gaps (from receive times)."""
from __future__ import annotations

import numpy as np

from .bagio import BagReader, EpisodeInput

NS = 1_000_000_000


def inspect_episode(ep: EpisodeInput, gap_factor: float = 3.0, min_gap: float = 0.0) -> dict:
    """A gap is an interval longer than max(gap_factor x the topic's median period, min_gap) seconds."""
    with BagReader(ep) as bag:
        integrity = bag.verify()          # a chunk whose CRC fails is an error here, as in convert
        times: dict[str, list[int]] = {t: [] for t in bag.topics}
        for topic, _, t, _ in bag.messages(list(bag.topics)):
            times[topic].append(t)
        topics = {}
        for topic, (msgtype, _) in sorted(bag.topics.items()):
            t = np.asarray(times[topic], dtype=np.int64)
            entry = {"type": msgtype, "count": int(t.size)}
            if t.size:
                span = (t[-1] - t[0]) / NS
                d = np.diff(np.sort(t)) / NS
                entry.update(start_s=round((t[0] - bag.start_ns) / NS, 6), duration_s=round(span, 6),
                             rate_hz=round((t.size - 1) / span, 3) if span > 0 else 0.0)
                if d.size:
                    limit = max(gap_factor * float(np.median(d)), min_gap)
                    entry.update(gaps=int((d > limit).sum()), max_gap_s=round(float(d.max()), 6),
                                 gap_threshold_s=round(limit, 6))
            topics[topic] = entry
        return {"path": str(ep.path), "episode": ep.name, "status": ep.status,
                "storage": [p.name for p in ep.storage_files()],
                "duration_s": round((bag.end_ns - bag.start_ns) / NS, 6),
                "messages": sum(e["count"] for e in topics.values()),
                "task": ep.task, "robot_type": ep.robot_type, "robot": ep.robot, "namespace": ep.namespace,
                "integrity": integrity, "topics": topics}


def format_report(report: dict) -> str:
    lines = [f"{report['path']}  ({report['status']}, {', '.join(report['storage'])})",
             f"  duration {report['duration_s']:.3f} s, {report['messages']} messages"
             + (f", task: {report['task']!r}" if report.get("task") else "")
             + (f", robot: {report['robot']}" if report.get("robot") else "")
             + (f", namespace: {report['namespace']}" if report.get("namespace") not in (None, "/") else "")]
    crc = report.get("integrity") or {}
    if crc.get("chunks"):
        lines.append(f"  MCAP chunks: {crc['chunks']}, CRC checked {crc['crc_checked']}"
                     + (f", {crc['crc_missing']} written without CRC" if crc["crc_missing"] else ""))
    width = max((len(t) for t in report["topics"]), default=5)
    lines.append(f"  {'topic':<{width}}  {'type':<36} {'count':>7} {'rate Hz':>9} {'dur s':>8} {'gaps':>5} {'max gap s':>10}")
    for topic, e in report["topics"].items():
        lines.append(f"  {topic:<{width}}  {e['type']:<36} {e['count']:>7} {e.get('rate_hz', 0):>9.2f} "
                     f"{e.get('duration_s', 0):>8.3f} {e.get('gaps', 0):>5} {e.get('max_gap_s', 0):>10.4f}")
    return "\n".join(lines)

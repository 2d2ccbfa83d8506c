"""Reading a saved .rrd back with rerun's own chunk API (rerun.chunk.RrdReader)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa


def rrd_columns(path: Path) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """(entity, component column) -> {timeline: sorted values (int64: ns or sequence), "_rows": count}
    over every temporal row where that component is set."""
    from rerun.chunk import RrdReader

    acc: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for chunk in RrdReader(path).stream().to_chunks():
        if chunk.is_static:
            continue
        batch = chunk.to_record_batch()
        timelines = chunk.timeline_names
        for name in batch.schema.names:
            if name.startswith("rerun.") or name in timelines:
                continue
            col = batch.column(name)
            valid = np.asarray(col.is_valid())
            entry = acc[(chunk.entity_path, name)]
            entry["_rows"].append(int(valid.sum()))
            for t in timelines:
                values = batch.column(t).cast(pa.int64()).to_numpy(zero_copy_only=False)
                entry[t].append(values[valid])
    out = {}
    for key, entry in acc.items():
        out[key] = {t: (np.sort(np.concatenate(v)) if t != "_rows" else sum(v)) for t, v in entry.items()}
    return out


def rrd_values(path: Path, entity: str, component: str) -> list:
    """Every temporal value of one component of one entity, in row order per chunk (Python lists)."""
    from rerun.chunk import RrdReader

    out: list = []
    for chunk in RrdReader(path).stream().to_chunks():
        if chunk.is_static or chunk.entity_path != entity:
            continue
        batch = chunk.to_record_batch()
        if component in batch.schema.names:
            out += [v for v in batch.column(component).to_pylist() if v is not None]
    return out

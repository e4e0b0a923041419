"""What the page asks about one or a few experiments: message histories, the experiment
page (params with help, attempts, files, notes), file tails, and the per-set summary.

Reads only inside the served sets (``security.confine``); writes nothing.
"""

from __future__ import annotations

import collections
import os
import pathlib
import threading
from collections.abc import Sequence
from typing import Any

from ... import _errors, _index, _layout, _messages, _query
from . import data, security

MAX_POINTS = 5000  # per curve; longer histories are thinned evenly (the last point kept)
TAIL_BYTES = 65536
_RECORDS: collections.OrderedDict[tuple[str, data.Identity], list[dict[str, Any]]] = (
    collections.OrderedDict()
)
_LOCK = threading.Lock()


def _records(directory: pathlib.Path) -> list[dict[str, Any]]:
    """The message log of a folder, parsed once per version of the file (LRU of 512)."""
    path = directory / _layout.MESSAGES_FILE
    key = (str(path), data._identity(str(path)))
    with _LOCK:
        if key in _RECORDS:
            _RECORDS.move_to_end(key)
            return _RECORDS[key]
    records = _messages.read(path)
    with _LOCK:
        _RECORDS[key] = records
        while len(_RECORDS) > 512:
            _RECORDS.popitem(last=False)
    return records


def _thin(points: list[list[float]]) -> list[list[float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    return [points[int(i * step)] for i in range(MAX_POINTS - 1)] + [points[-1]]


def histories(served: data.Served, ids: Sequence[str], keys: Sequence[str]) -> dict[str, Any]:
    """``{id: {key: [[x, time, value], ...]}}`` for the numeric values of each key (every
    key of the log when ``keys`` is empty)."""
    out: dict[str, Any] = {}
    for ident in ids:
        one, row = served.locate(ident)
        records = _records(one.directory(row["name"]))
        wanted = keys or _messages.keys(records)
        out[ident] = {
            k: _thin([
                [x, t, float(v)]
                for x, t, v in _messages.history(records, k)
                if isinstance(v, int | float) and not isinstance(v, bool) and v == v
            ])
            for k in wanted
        }
    return out


def message_keys(served: data.Served, ids: Sequence[str]) -> list[str]:
    """Every message key logged by these experiments, in order of first appearance."""
    seen: dict[str, None] = {}
    for ident in ids:
        one, row = served.locate(ident)
        seen.update(dict.fromkeys(_messages.keys(_records(one.directory(row["name"])))))
    return list(seen)


def experiment(served: data.Served, ident: str) -> dict[str, Any]:
    """Everything the experiment page shows about one experiment."""
    one, row = served.locate(ident)
    folder = one.directory(row["name"])
    try:
        raw = _index.read_mapping_cached(folder / _layout.PARAMS_FILE)
    except _errors.FexpError:
        raw = {}
    helps = served.help_texts(one)
    params = _query.flatten(row.get("params") or {})
    return {
        "id": ident,
        "name": row["name"],
        "set": str(one.root),
        "status": row.get("status"),
        "error": row.get("error"),
        "purpose": row.get("purpose"),
        "times": {k: row.get(k) for k in ("created", "registered", "started", "stopped", "last")},
        "params": [[k, data._plain(v), helps.get(k.split(".")[0], "")] for k, v in params.items()],
        "messages": {k: data._plain(v) for k, v in (row.get("messages") or {}).items()},
        "notes": [str(n) for n in row.get("notes") or []],
        "git": data._plain((row.get("version") or {}).get("git")),
        "version": data._plain(row.get("version") or {}),
        "slurm": data._plain(row.get("slurm")),
        "requeues": row.get("requeues") or 0,
        "attempts": data._plain(raw.get("_attempts") or []),
        "files": _files(one.root, row["name"]),
    }


def _files(root: pathlib.Path, name: str) -> dict[str, Any]:
    """out.txt, error.txt and the checkpoints, each with its size (inside the set only)."""
    out: dict[str, Any] = {}
    for file in (_layout.OUT_FILE, _layout.ERROR_FILE):
        try:
            out[file] = security.confine(root, f"{name}/{file}").stat().st_size
        except (security.AccessError, OSError):
            out[file] = None
    checkpoints = []
    folder = root / name / _layout.CHECKPOINT_DIR
    if folder.is_dir() and not folder.is_symlink():
        for entry in sorted(os.scandir(folder), key=lambda e: e.name)[:200]:
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                checkpoints.append({"name": entry.name, "size": st.st_size, "mtime": st.st_mtime})
    out["checkpoints"] = checkpoints
    return out


def tail(served: data.Served, set_index: int, relative: str, size: int) -> bytes:
    """The last ``size`` bytes (at most 64 KiB) of a file inside a served set."""
    if not 0 <= set_index < len(served.sets):
        raise security.AccessError("no such set", source=f"set {set_index!r}")
    path = security.confine(served.sets[set_index].root, relative)
    size = max(0, min(size, TAIL_BYTES))
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - size))
        return f.read(size)


def sets_summary(served: data.Served) -> list[dict[str, Any]]:
    """Per served set: folder, purpose, notes, counts per status, last activity."""
    out = []
    for one in served.sets:
        rows = list(one.rows.values())
        counts = collections.Counter(str(r.get("status")) for r in rows)
        times = [
            str(t) for r in rows for t in (r.get("last"), r.get("stopped"), r.get("started")) if t
        ]
        out.append({
            "index": one.index,
            "root": str(one.root),
            "purpose": str(one.state.get("purpose") or ""),
            "notes": [str(n) for n in one.state.get("notes") or []],
            "count": len(rows),
            "counts": dict(sorted(counts.items())),
            "last": max(times) if times else None,
        })
    return out

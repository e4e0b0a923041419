"""What the page asks about one experiment or set: the experiment page (params with help,
attempts, files, notes), file tails, and the per-set summary.

Reads only inside the served sets (``security.confine``); writes nothing.
"""

from __future__ import annotations

import collections
import os
import pathlib
from typing import Any

from ... import _errors, _index, _layout, _query
from . import data, security

TAIL_BYTES = 65536


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
        out.append(
            {
                "index": one.index,
                "root": str(one.root),
                "purpose": str(one.state.get("purpose") or ""),
                "notes": [str(n) for n in one.state.get("notes") or []],
                "count": len(rows),
                "counts": dict(sorted(counts.items())),
                "last": max(times) if times else None,
            }
        )
    return out

"""A per-set cache of parsed experiment rows (``.fexp-index.json``), so ``fexp list`` over
thousands of experiments does not parse thousands of YAML files.

Each entry is keyed by the identity of params.yml (inode, mtime, size; every atomic write
makes a new inode) and of messages.jsonl (which grows with every message), so a cached row
is used only while both files are exactly the ones it was built from. The cache is an
optimisation only: a missing, stale or corrupt index is rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

from . import _atomic, _find, _layout

VERSION = 2  # 2: rows of wrong-shaped params.yml or messages are corrupt
Identity = list[int] | None


def _identity(path: pathlib.Path) -> Identity:
    try:
        return _identity_of(os.stat(path))
    except OSError:
        return None


def _stat(path: pathlib.Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _identity_of(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def _load(root: pathlib.Path) -> dict[str, Any]:
    try:
        data = json.loads((root / _layout.INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _save(root: pathlib.Path, entries: dict[str, Any]) -> None:
    text = json.dumps({"version": VERSION, "entries": entries}, default=str)
    # A read-only set (or a full disk) just means no cache.
    with contextlib.suppress(OSError):
        _atomic.atomic_write(root / _layout.INDEX_FILE, text, durable=False)


def read_rows(root: pathlib.Path, dirs: Sequence[pathlib.Path]) -> list[dict[str, Any]]:
    """Rows for ``dirs`` (experiment folders of the set at ``root``), from the cache when
    the files are unchanged, else parsed (and the cache updated)."""
    entries = _load(root)
    changed = False
    rows = []
    for directory in dirs:
        params = _identity(directory / _layout.PARAMS_FILE)
        messages = _identity(directory / _layout.MESSAGES_FILE)
        entry = entries.get(directory.name)
        if (
            entry
            and params is not None
            and entry.get("p") == params
            and entry.get("m") == messages
            and entry["row"].get("path") == str(directory)
        ):
            rows.append(entry["row"])
            continue
        row = _find.read_row(directory, str(root))
        rows.append(row)
        # Cache the row only if neither file was replaced while it was read: a writer racing
        # this reader must never leave its new identity next to the old content.
        if (
            params is not None
            and params == _identity(directory / _layout.PARAMS_FILE)
            and messages == _identity(directory / _layout.MESSAGES_FILE)
        ):
            entries[directory.name] = {"p": params, "m": messages, "row": row}
            changed = True
    names = {d.name for d in dirs}
    stale = [name for name in entries if name not in names]
    for name in stale:
        del entries[name]
    if changed or stale:
        _save(root, entries)
    return rows


def record(root: pathlib.Path, written: Iterable[tuple[pathlib.Path, dict[str, Any]]]) -> None:
    """Add rows for folders ``link`` just wrote (no messages yet) with their params.yml data."""
    entries = _load(root)
    for directory, data in written:
        params = _identity(directory / _layout.PARAMS_FILE)
        if params is not None:
            row = _find.row_from_data(directory, data, str(root), records=[])  # no run yet
            entries[directory.name] = {"p": params, "m": None, "row": row}
    _save(root, entries)


def _sidecar(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(_layout.sidecar_name(path.name))


def read_mapping_cached(path: pathlib.Path) -> dict[str, Any]:
    """``_yaml.read_mapping(path)``, served from a JSON sidecar while the file is unchanged."""
    from . import _yaml

    identity = _identity(path)
    if identity is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            cached = json.loads(_sidecar(path).read_text(encoding="utf-8"))
            if cached["id"] == identity and isinstance(cached["data"], dict):
                return dict(cached["data"])
    before = _stat(path)
    data = _yaml.read_mapping(path)
    # Remember the parse only if the file was not replaced while we read it (see read_rows).
    if before is not None and _identity_of(before) == _identity(path):
        remember(path, data, before)
    return data


def remember(
    path: pathlib.Path,
    data: dict[str, Any],
    written: os.stat_result | None = None,
    *,
    new: bool = False,
) -> None:
    """Store ``data`` as the parsed content of ``path``.

    Args:
        written: the stat of the file the data came from (from ``_atomic``, or taken before
            reading it); without it the file is stat-ed now, which is right only under the
            set's lock, where no other writer can replace it.
        new: the sidecar cannot exist yet (a folder ``link`` just made): create it directly.
    """
    identity = _identity_of(written) if written is not None else _identity(path)
    if identity is None:
        return
    try:
        text = json.dumps({"id": identity, "data": data})
    except (TypeError, ValueError):  # not plain JSON data (e.g. dates): no cache
        return
    with contextlib.suppress(OSError):
        if new:
            _atomic.create_new(_sidecar(path), text)
        else:
            _atomic.atomic_write(_sidecar(path), text, durable=False)

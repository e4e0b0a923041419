"""The JSON twin of a YAML file (``params.yml`` -> ``.params.yml.json``): its parse, kept
while the file is exactly the one it was made from (same inode, mtime and size).

The twin is an optimisation only: a missing, stale or corrupt twin means parsing the YAML.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from typing import Any

from .. import _atomic, _layout

Identity = list[int]


def identity_of(st: os.stat_result) -> Identity:
    """The identity of a file from its stat: every atomic write makes a new inode."""
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def identity(path: pathlib.Path) -> Identity | None:
    """The identity of ``path``, or None when it is missing."""
    try:
        return identity_of(os.stat(path))
    except OSError:
        return None


def sidecar(path: pathlib.Path) -> pathlib.Path:
    """The twin's path."""
    return path.with_name(_layout.sidecar_name(path.name))


def read_twin(twin: pathlib.Path, ident: Identity | None) -> Any:
    """The data kept in ``twin`` when it was made from the file with ``ident``, else None."""
    if ident is None:
        return None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        cached = json.loads(twin.read_bytes())
        if cached["id"] == ident:
            return cached["data"]
    return None


def write_twin(twin: pathlib.Path, ident: Identity, data: Any, *, new: bool = False) -> None:
    """Keep ``data`` in ``twin`` as the parse of the file with ``ident`` (best effort: a
    read-only folder, a full disk or data that is not plain JSON just mean no twin)."""
    try:
        text = json.dumps({"id": ident, "data": data}, separators=(",", ":"))
    except (TypeError, ValueError):
        return
    with contextlib.suppress(OSError):
        if new:
            _atomic.create_new(twin, text)
        else:
            _atomic.atomic_write(twin, text, durable=False)


def read_mapping_cached(path: pathlib.Path) -> dict[str, Any]:
    """``_yaml.read_mapping(path)``, served from the JSON twin while the file is unchanged."""
    from .. import _yaml

    cached = read_twin(sidecar(path), identity(path))
    if isinstance(cached, dict):
        return cached
    try:
        before: os.stat_result | None = os.stat(path)
    except OSError:
        before = None
    data = _yaml.read_mapping(path)
    # Remember the parse only if the file was not replaced while we read it: a writer
    # racing this reader must never leave its new identity next to the old content.
    if before is not None and identity_of(before) == identity(path):
        remember(path, data, before)
    return data


def remember(
    path: pathlib.Path,
    data: Any,
    written: os.stat_result | None = None,
    *,
    new: bool = False,
) -> None:
    """Store ``data`` as the parsed content of ``path``.

    Args:
        written: the stat of the file the data came from (from ``_atomic``, or taken before
            reading it); without it the file is stat-ed now, which is right only under the
            set's lock, where no other writer can replace it.
        new: the twin cannot exist yet (a folder ``link`` just made): create it directly.
    """
    ident = identity_of(written) if written is not None else identity(path)
    if ident is not None:
        write_twin(sidecar(path), ident, data, new=new)

"""The per-set row index (``.fexp-index.json`` + ``.fexp-index.log``): every experiment's
row, so ``fexp list`` over 100,000 experiments neither parses 100,000 YAML files nor replays
their message logs from the start.

An entry is used while params.yml is exactly the file it was built from (inode, mtime, size:
every atomic write makes a new inode) and the message log has not changed; a log that grew
is read from where the last listing stopped (``message_replay``), not from the start. Writers
that know a row (``link``) append it to the log in O(1); the next listing folds the log into
the index. The index is an optimisation only: a missing, stale or corrupt one is rebuilt,
never trusted, and an entry lost to a race is a cache miss.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import _atomic, _layout
from . import journal, message_replay, twin

VERSION = 2
Row = dict[str, Any]
#: Row fields left out of an entry when they have these values (rebuilt on reading).
_DEFAULTS: dict[str, Any] = {
    "status": "registered",
    "created": None,
    "registered": None,
    "started": None,
    "stopped": None,
    "last": None,
    "purpose": "",
    "error": None,
    "slurm": None,
    "attempts": 0,
    "requeues": 0,
    "owner": None,
}
_DERIVED = ("name", "path", "set")


_ABSENT = object()  # a value no row field has


def _version_key(version: Any) -> str:
    return json.dumps(version, sort_keys=True, default=str)


def _compact(row: Row, shared: dict[str, int]) -> dict[str, Any]:
    """An entry's row: no derived fields, no defaults, the version as a number in ``shared``."""
    out = {k: v for k, v in row.items() if k not in _DERIVED and _DEFAULTS.get(k, _ABSENT) != v}
    version = out.pop("version", None)
    if version:
        out["v"] = shared.setdefault(_version_key(version), len(shared))
    for k in ("meta", "notes", "messages", "params"):
        if not out.get(k, True):
            del out[k]
    return out


def expand(name: str, root: str, compact: dict[str, Any], versions: list[Any]) -> Row:
    """The row of an index entry (fields left out get their default values back), its
    fields in the order ``_find.row_from_data`` makes them."""
    get = compact.get
    index = get("v")
    return {
        "name": name,
        "path": f"{root}/{name}",
        "set": root,
        "status": get("status", "registered"),
        "created": get("created"),
        "registered": get("registered"),
        "started": get("started"),
        "stopped": get("stopped"),
        "purpose": get("purpose", ""),
        "params": get("params") or {},
        "messages": dict(get("messages") or ()),
        # Rows of one set share their version mapping: rows are read-only views.
        "version": versions[index] if isinstance(index, int) else {},
        "meta": get("meta") or {},
        "notes": list(get("notes") or ()),
        "error": get("error"),
        "slurm": get("slurm"),
        "attempts": get("attempts", 0),
        "last": get("last"),
        "requeues": get("requeues", 0),
        # Who holds it (``_store.owner``): the listing settles running vs lost, then drops it.
        "owner": get("owner"),
    }


class Index:
    """The index of one set, loaded once per listing."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.entries: dict[str, list[Any]] = {}
        self.versions: list[Any] = []
        self.changed = False  # entries were removed: only a whole save can say so
        self.dirty: set[str] = set()  # entries added or updated since the index was read
        self.size = self.log_size = 0
        self._load()
        self.shared = {_version_key(v): i for i, v in enumerate(self.versions)}
        self._fold_log()

    def _load(self) -> None:
        try:
            raw = (self.root / _layout.INDEX_FILE).read_bytes()
            data = json.loads(raw)
        except (OSError, ValueError):
            return
        self.size = len(raw)
        if isinstance(data, dict) and data.get("version") == VERSION:
            entries, versions = data.get("entries"), data.get("versions")
            if isinstance(entries, dict) and isinstance(versions, list):
                self.entries, self.versions = entries, versions

    def _fold_log(self) -> None:
        """Take in the entries writers appended since the index was last saved."""
        _, records, self.log_size = journal.read(self.root / _layout.INDEX_LOG)
        for record in records:
            name, entry = record.get("n"), record.get("e")
            if not (isinstance(name, str) and isinstance(entry, list) and len(entry) == 4):
                continue
            if record.get("v"):
                entry[3]["v"] = self._share(record["v"])
            self.entries[name] = entry

    def _share(self, version: Any) -> int:
        key = _version_key(version)
        if key not in self.shared:
            self.shared[key] = len(self.versions)
            self.versions.append(version)
        return self.shared[key]

    def save(self) -> None:
        """Write the index whole and empty its log (a read-only set just has no index)."""
        text = json.dumps(
            {"version": VERSION, "versions": self.versions, "entries": self.entries},
            separators=(",", ":"),
            default=str,
        )
        with contextlib.suppress(OSError):
            _atomic.atomic_write(self.root / _layout.INDEX_FILE, text, durable=False)
            (self.root / _layout.INDEX_LOG).unlink(missing_ok=True)

    def put(self, name: str, params: Any, log: Any, state: Any, row: Row) -> None:
        """Keep ``row``, built from params.yml ``params`` and the log ``log`` read to ``state``."""
        version = row.get("version")
        compact = _compact({**row, "version": None}, {})
        if version:
            compact["v"] = self._share(version)
        self.entries[name] = [params, log, state, compact]
        self.dirty.add(name)

    def finish(self) -> None:
        """Keep what changed: appended to the log while that stays small next to the index
        (a listing of a live run rewrites one entry, not 100,000), else a whole save."""
        grown = self.log_size + 256 * len(self.dirty)
        if self.changed or (grown and not self.size) or grown > max(1 << 20, self.size // 4):
            self.save()
        elif self.dirty:
            records = []
            for name in sorted(self.dirty):
                entry = list(self.entries[name])
                compact = dict(entry[3])
                index = compact.pop("v", None)
                entry[3] = compact
                version = self.versions[index] if isinstance(index, int) else None
                records.append({"n": name, "e": entry, "v": version})
            with contextlib.suppress(OSError):
                journal.append(self.root / _layout.INDEX_LOG, records, None)


Build = Callable[[pathlib.Path, "dict[str, Any] | None"], Row]
Prefilter = Callable[[Any, str], bool]


def _ident(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def read_rows(
    root: pathlib.Path,
    names: Sequence[str],
    build: Build,
    keep: Callable[[Row], bool] | None = None,
    pre: Prefilter | None = None,
    *,
    complete: bool = True,
) -> list[Row]:
    """Rows for the experiment folders ``names`` of the set at ``root``, from the index when
    their files are unchanged, else built by ``build(directory, log_messages)``.

    ``keep`` is the listing's filter, applied to each row as soon as it is known, so rows
    it rejects are never collected; ``pre(params, status)`` rejects indexed rows before
    they are built or their logs read (pushdown). ``complete``: ``names`` are all the set's
    experiments, so entries of others are dropped (a pattern's subset keeps them).
    """
    index = Index(root)
    root_text = str(root)
    rows: list[Row] = []
    for name in names:
        found = _cached(index, name, root_text, pre)
        if found is False:
            continue
        row = _rebuild(index, root / name, build) if found is None or found is True else found
        if keep is None or keep(row):
            rows.append(row)
    seen = set(names)
    stale = [n for n in index.entries if n not in seen] if complete else []
    for name in stale:
        del index.entries[name]
    index.changed = index.changed or bool(stale)
    index.finish()
    return rows


def _cached(index: Index, name: str, root: str, pre: Prefilter | None) -> Row | None | bool:
    """The row from the index (a log that grew read on from where it stopped), None when
    it must be built, False when ``pre`` rejects it."""
    entry = index.entries.get(name)
    folder = f"{root}/{name}/"
    if entry is None or _ident(folder + _layout.PARAMS_FILE) != entry[0]:
        return None
    compact = entry[3]
    if pre is not None and not pre(
        compact.get("params") or {}, compact.get("status", "registered")
    ):
        return False
    log = folder + _layout.MESSAGES_FILE
    ident = _ident(log)
    if ident == entry[1]:
        return expand(name, root, entry[3], index.versions)
    state = entry[2]
    if ident is None or not state or state[0] != ident[0] or ident[2] < state[1]:
        return None  # a log removed or replaced: build the row again
    try:
        messages, state = message_replay.advance(pathlib.Path(log), state)
    except message_replay.CorruptLog:
        return None  # build the row from the whole log: a corrupt one
    entry[3]["messages"] = {**(entry[3].get("messages") or {}), **messages}
    entry[1], entry[2] = ident if state else None, state
    index.dirty.add(name)
    return expand(name, root, entry[3], index.versions)


def _rebuild(index: Index, directory: pathlib.Path, build: Build) -> Row:
    params_path = directory / _layout.PARAMS_FILE
    log = directory / _layout.MESSAGES_FILE
    params = twin.identity(params_path)
    log_ident = twin.identity(log)  # before reading: a later append makes it stale, not wrong
    try:
        messages, state = message_replay.advance(log, None)
    except message_replay.CorruptLog:  # the whole log is read again: a corrupt row
        messages, state = {}, None
    row = build(directory, messages if state else None)
    # Keep the row only if params.yml was not replaced while it was read: a writer racing
    # this reader must never leave its new identity next to the old content.
    if params is not None and params == twin.identity(params_path) and row.get("error") is None:
        index.put(directory.name, params, log_ident if state else None, state, row)
    elif directory.name in index.entries:
        del index.entries[directory.name]
        index.changed = True
    return row


def record(root: pathlib.Path, written: Iterable[tuple[pathlib.Path, os.stat_result, Row]]) -> None:
    """Append the rows of folders ``link`` just wrote (O(1) in the set's size)."""
    records = []
    for directory, st, row in written:
        version = row.get("version") or None
        compact = _compact({**row, "version": None}, {})
        records.append(
            {"n": directory.name, "e": [twin.identity_of(st), None, None, compact], "v": version}
        )
    if records:
        with contextlib.suppress(OSError):
            journal.append(root / _layout.INDEX_LOG, records, None)

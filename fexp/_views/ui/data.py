"""The rows ``fexp ui`` serves, kept in memory and refreshed incrementally.

The first load goes through each set's index (``_index``, the JSON twins); afterwards a
refresh stats params.yml and messages.jsonl of every experiment and re-reads only the ones
whose identity changed. Each refresh that changed something gets a version number, so the
page asks for (or is pushed) only what changed since the version it has.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ... import _errors, _find, _index, _layout, _query, _table
from . import security

Row = dict[str, Any]
Getter = Callable[[Mapping[str, Any]], Any]
Identity = tuple[int, int, int] | None
HISTORY = 200  # change records kept; a page further behind reloads everything
SWEEP = 1000  # quiet experiments stat-ed per refresh and set
RECENT = 60.0  # seconds an experiment that changed counts as active
# Statuses under which an experiment writes nothing (others, known or not, are watched).
QUIET = frozenset(
    {
        "default",
        "registered",
        "finished",
        "error",
        "stopped",
        "timeout",
        "corrupt",
        "lost",
        "pruned",
    }
)
FIELD_HEADERS = frozenset({"name", "set", "status", "created", "purpose", "git", "slurm", "error"})


def _identity(path: str) -> Identity:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def row_id(set_index: int, name: str) -> str:
    """The page's key for an experiment: its set's position and its folder name."""
    return f"{set_index}:{name}"


@dataclasses.dataclass
class ServedSet:
    """One served set: its folder, its experiment.yml data and its rows by name."""

    index: int
    root: pathlib.Path
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    state_id: tuple[Identity, Identity] | None = None
    rows: dict[str, Row] = dataclasses.field(default_factory=dict)
    ids: dict[str, tuple[Identity, Identity]] = dataclasses.field(default_factory=dict)
    recent: dict[str, float] = dataclasses.field(default_factory=dict)
    cursor: int = 0

    def directory(self, name: str) -> pathlib.Path:
        return self.root / name


def _read_state(root: pathlib.Path) -> dict[str, Any]:
    """experiment.yml with its journal, checked (a corrupt one raises)."""
    from ..._store import set_file, set_state

    return set_state.check_state(set_file.read_state(root), root, root / _layout.SET_FILE)


def _state_id(root: pathlib.Path) -> tuple[Identity, Identity]:
    """Changes whenever experiment.yml or its journal (links, unlinks) changes."""
    return (_identity(str(root / _layout.SET_FILE)),
            _identity(str(root / _layout.SET_JOURNAL_FILE)))


def _names(served: ServedSet) -> list[str]:
    """The set's experiment names that are folder names inside it (experiment.yml is
    untrusted: a name like ``..`` or ``a/../../x`` must not lead out of the set)."""
    names = [str(n) for n in served.state["experiments"]]
    return [n for n in names if n not in ("", ".", "..") and "/" not in n and "\0" not in n]


class Served:
    """Every served set's rows, with a version number per change.

    Thread-safe: refreshes run in a worker thread while requests read.
    """

    def __init__(self, roots: Sequence[pathlib.Path]) -> None:
        self.sets: list[ServedSet] = []
        for i, root in enumerate(roots):
            root = root.absolute()
            if not (root / _layout.SET_FILE).is_file():
                raise _errors.ExperimentStateError(
                    f"no experiment set here ({_layout.SET_FILE} missing)", source=str(root)
                )
            self.sets.append(ServedSet(i, root))
        self.version = 0
        self.changes: list[tuple[int, set[str], set[str]]] = []
        self.lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._columns: list[tuple[dict[str, Any], Getter]] | None = None
        self._message_keys: set[str] = set()
        self._memo: dict[str, tuple[list[Row], list[Any]]] = {}
        self._help: dict[int, tuple[Identity, dict[str, str]]] = {}
        for served in self.sets:
            self._load(served)

    # -- loading ---------------------------------------------------------------------------
    def _load(self, served: ServedSet) -> None:
        served.state_id = _state_id(served.root)
        served.state = _read_state(served.root)
        names = _names(served)
        # Identities first: a file that changes while it is read shows up at the next refresh.
        served.ids = {n: self._file_ids(served, n) for n in names}
        dirs = [served.directory(n) for n in names]
        served.rows = {r["name"]: r for r in _index.read_rows(served.root, dirs)}

    def _file_ids(self, served: ServedSet, name: str) -> tuple[Identity, Identity]:
        folder = os.path.join(served.root, name)
        return (
            _identity(os.path.join(folder, _layout.PARAMS_FILE)),
            _identity(os.path.join(folder, _layout.MESSAGES_FILE)),
        )

    def refresh(self, now: Sequence[str] = ()) -> set[str]:
        """Re-read what changed on disk; return the ids of changed (or removed) rows.

        Each call stats the experiments that may be writing (any status but a quiet one,
        or changed in the last minute), those named by ``now`` (ids) and the next ``SWEEP``
        of the others, so a message shows at the next call and any other change within
        ``len / SWEEP`` calls. Calls run one at a time.
        """
        with self._refreshing:
            changed, removed, reshape = self._sweep(set(now))
            if changed or removed:
                with self.lock:
                    self.version += 1
                    self.changes = [*self.changes[-HISTORY:], (self.version, changed, removed)]
                    if reshape or removed:
                        self._columns = None
        return changed | removed

    def _sweep(self, now: set[str]) -> tuple[set[str], set[str], bool]:
        changed: set[str] = set()
        removed: set[str] = set()
        reshape = False
        for served in self.sets:
            self._refresh_state(served)
            names = _names(served)
            for name in set(served.rows) - set(names):
                with self.lock:
                    del served.rows[name]
                    served.ids.pop(name, None)
                removed.add(row_id(served.index, name))
            for name in self._due(served, names, now):
                ids = self._file_ids(served, name)
                if served.ids.get(name) == ids and name in served.rows:
                    continue
                row = _find.read_row(served.directory(name), str(served.root))
                reshape = reshape or not self._same_shape(served.rows.get(name), row)
                with self.lock:
                    served.rows[name], served.ids[name] = row, ids
                served.recent[name] = time.monotonic()
                changed.add(row_id(served.index, name))
        return changed, removed, reshape

    def _refresh_state(self, served: ServedSet) -> None:
        state_id = _state_id(served.root)
        if state_id != served.state_id:
            try:
                served.state, served.state_id = _read_state(served.root), state_id
            except _errors.FexpError:
                pass  # a half-edited experiment.yml: keep the last good one

    def _due(self, served: ServedSet, names: list[str], asked: set[str]) -> list[str]:
        """The names to stat now: possibly active ones, the ``asked`` ids and the next
        slice of the rest."""
        clock = time.monotonic()
        served.recent = {n: t for n, t in served.recent.items() if clock - t < RECENT}
        due = {
            n for n in names if n not in served.rows or served.rows[n].get("status") not in QUIET
        } | served.recent.keys()
        due.update(n for n in names if row_id(served.index, n) in asked)
        start = served.cursor % max(len(names), 1)
        due.update(names[start : start + SWEEP])
        served.cursor = start + SWEEP
        return [n for n in names if n in due]

    def _same_shape(self, old: Row | None, new: Row) -> bool:
        """Whether ``new`` keeps the table's columns: same params, no new message key."""
        if old is None or old.get("params") != new.get("params"):
            return False
        if bool(old.get("slurm")) != bool(new.get("slurm")):
            return False
        if bool(old.get("error")) != bool(new.get("error")):
            return False
        return set(new.get("messages") or {}) <= self._message_keys

    def since(self, version: int) -> tuple[set[str], set[str]] | None:
        """Ids changed and removed after ``version``; None when too old (reload all)."""
        with self.lock:
            if version == self.version:
                return set(), set()
            if not self.changes or version < self.changes[0][0] - 1 or version > self.version:
                return None
            changed: set[str] = set()
            removed: set[str] = set()
            for v, c, r in self.changes:
                if v > version:
                    changed = (changed - r) | c
                    removed = (removed - c) | r
            return changed, removed

    # -- reading ---------------------------------------------------------------------------
    def all_rows(self) -> list[Row]:
        with self.lock:
            return [r for s in self.sets for r in s.rows.values()]

    def locate(self, ident: str) -> tuple[ServedSet, Row]:
        """The set and row of an id from the page.

        Raises:
            AccessError: an id that names no served experiment.
        """
        head, _, name = ident.partition(":")
        if head.isdigit() and int(head) < len(self.sets):
            served = self.sets[int(head)]
            row = served.rows.get(name)
            if row is not None:
                return served, row
        raise security.AccessError("no such experiment in the served sets", source=repr(ident))

    def _column_getters(self) -> list[tuple[dict[str, Any], Getter]]:
        rows = self.all_rows()
        with self.lock:
            if self._columns is not None:
                return self._columns
        keys: set[str] = set()
        for row in rows:
            keys.update(row.get("messages") or {})
        cols = _table.columns(rows)
        headers = {c.header for c in cols}
        out: list[tuple[dict[str, Any], Getter]] = [
            ({"header": c.header, "kind": _kind(c.header, keys, headers)}, c.get) for c in cols
        ]
        if _requeued(rows):
            out.append(({"header": "requeues", "kind": "field"}, _requeues))
        with self.lock:
            self._columns, self._message_keys = out, keys
        return out

    def columns(self) -> list[dict[str, Any]]:
        """The columns of ``fexp list`` over every served row, each with its kind."""
        return [c for c, _ in self._column_getters()]

    def client_rows(self, rows: Sequence[Row] | None = None) -> list[dict[str, Any]]:
        """Rows as the page wants them: id, status and one value per column."""
        rows = self.all_rows() if rows is None else rows
        getters = [g for _, g in self._column_getters()]
        return [
            {
                "id": row_id(self._set_of(r), r["name"]),
                "status": r.get("status"),
                "c": [_plain(g(r)) for g in getters],
            }
            for r in rows
        ]

    def _set_of(self, row: Mapping[str, Any]) -> int:
        for served in self.sets:
            if str(served.root) == row.get("set"):
                return served.index
        return 0

    def matching(self, where: Sequence[str]) -> list[str]:
        """Ids of the rows satisfying every ``-w`` condition (the CLI's grammar and its
        ``_query.compare``; a literal key's values are looked up once per version).

        Raises:
            ConfigError: every malformed condition, in the CLI's words.
        """
        _query.select([], where=list(where))  # checks them all, as `fexp list -w` does
        rows = self.all_rows()
        keep = list(range(len(rows)))
        for cond in (_query.parse_condition(w) for w in where):
            if cond.regex is not None:
                keep = [i for i in keep if _query.matches(rows[i], [cond])]
                continue
            values = self._cached(
                f"key:{cond.key}", rows, functools.partial(_query.lookup, key=cond.key)
            )
            keep = [
                i
                for i in keep
                if values[i] is not _query.MISSING
                and all(_query.compare(values[i], op, ref) for op, ref in cond.tests)
            ]
        ids = self._cached("id", rows, lambda r: row_id(self._set_of(r), r["name"]))
        return [ids[i] for i in keep]

    def _cached(self, what: str, rows: list[Row], get: Getter) -> list[Any]:
        """``[get(row) for row in rows]``, where only rows replaced since the last call
        (a refresh puts a new row object in their place) are asked again."""
        with self.lock:
            before = self._memo.get(what)
        if before is None or len(before[0]) != len(rows):
            values = [get(r) for r in rows]
        else:
            seen, values = before
            values = [
                v if r is old else get(r) for r, old, v in zip(rows, seen, values, strict=True)
            ]
        with self.lock:
            self._memo[what] = (rows, values)
        return values

    def warm(self) -> None:
        """Look up every table column's key, so a first ``-w`` on a column is fast."""
        rows = self.all_rows()
        for column in self.columns():
            if column["kind"] != "field":
                key = column["header"]
                self._cached(f"key:{key}", rows, functools.partial(_query.lookup, key=key))

    def help_texts(self, served: ServedSet) -> dict[str, str]:
        """Parameter help texts from the set's defaults.yml comments (no user code runs)."""
        path = served.root / _layout.DEFAULTS_FILE
        ident = _identity(str(path))
        cached = self._help.get(served.index)
        if cached is None or cached[0] != ident:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            cached = (ident, parse_help(text))
            self._help[served.index] = cached
        return cached[1]


def parse_help(text: str) -> dict[str, str]:
    """``key: value  # type; help`` lines of a defaults.yml -> ``{key: "type; help"}``."""
    out = {}
    for line in text.splitlines():
        if line[:1].isspace() or line.startswith(("#", "_")) or "  # " not in line:
            continue
        key, sep, _ = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = line.rsplit("  # ", 1)[1].strip()
    return out


def _kind(header: str, message_keys: set[str], headers: set[str]) -> str:
    """A column of ``_table.columns``: a field, a parameter or a message (a message key
    that is also a parameter is shown as ``messages.KEY`` beside the parameter ``KEY``)."""
    if header in FIELD_HEADERS or header.startswith("meta."):
        return "field"
    if header.startswith("messages.") or (
        header in message_keys and f"messages.{header}" not in headers
    ):
        return "message"
    return "param"


def _requeued(rows: Sequence[Row]) -> bool:
    return any(isinstance(r.get("requeues"), int) and r["requeues"] > 0 for r in rows)


def _requeues(row: Mapping[str, Any]) -> Any:
    return row.get("requeues") or 0


def _plain(value: Any) -> Any:
    """JSON-ready: missing -> None, NaN/inf -> their text, anything odd -> str."""
    if value is _query.MISSING or value is None:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value

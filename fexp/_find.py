"""Read experiment folders into rows for ``fexp list`` and ``fexp.find`` (the I/O side of
``_query``). A corrupt params.yml becomes one ``corrupt`` row with the reason, never a crash.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import _errors, _layout, _messages
from ._core import status as _status
from ._store import owner as _owner

if TYPE_CHECKING:
    import pandas

Row = dict[str, Any]


def row_from_data(
    directory: pathlib.Path,
    data: dict[str, Any],
    set_root: str,
    records: list[dict[str, Any]] | None = None,
    log: dict[str, Any] | None = None,
) -> Row:
    """Build a row from parsed params.yml data and the message log (read unless its
    ``records`` or its replayed messages ``log`` are given, a log that
    ``_store.message_replay`` checked); a params.yml or log of the wrong shape gives one
    ``corrupt`` row."""
    from ._core import records as rules

    if records is None and log is None and not rules.params_problem(data):
        records = _messages.read(directory / _layout.MESSAGES_FILE)
    problem = rules.params_problem(data) or rules.records_problem(records or [])
    if problem:
        return corrupt_row(directory, set_root, problem)
    params = {k: v for k, v in data.items() if not str(k).startswith("_")}
    messages = dict(data.get("_messages") or {})
    if log is not None:
        messages.update(log)
    elif records:
        messages.update(_messages.replay(records))
    return {
        "name": directory.name,
        "path": str(directory),
        "set": set_root,
        "status": data.get("_status", _status.REGISTERED),
        "created": data.get("_created"),
        "registered": data.get("_registered"),
        "started": data.get("_started"),
        "stopped": data.get("_stopped"),
        "purpose": data.get("_purpose") or "",
        "params": params,
        "messages": messages,
        "version": data.get("_version") or {},
        "meta": data.get("_meta") or {},
        "notes": list(data.get("_notes") or []),
        "error": None,
        "slurm": data.get("_slurm"),
        "attempts": len(data.get("_attempts") or []),
        "last": data.get("_last"),
        "requeues": data.get("_requeues", 0),
        "owner": data.get("_owner"),
    }


def corrupt_row(directory: pathlib.Path, set_root: str, reason: str) -> Row:
    return {
        "name": directory.name,
        "path": str(directory),
        "set": set_root,
        "status": _status.CORRUPT,
        "created": None,
        "registered": None,
        "started": None,
        "stopped": None,
        "purpose": "",
        "params": {},
        "messages": {},
        "version": {},
        "meta": {},
        "notes": [],
        "error": reason,
        "slurm": None,
        "attempts": 0,
        "last": None,
        "requeues": 0,
    }


def read_row(
    directory: pathlib.Path, set_root: str | None = None, *, log: dict[str, Any] | None = None
) -> Row:
    """Read one experiment folder into a row (``log``: its log's messages, if replayed)."""
    root = set_root if set_root is not None else str(directory.parent)
    from . import _index

    try:
        data = _index.read_mapping_cached(directory / _layout.PARAMS_FILE)
    except _errors.FexpError as exc:
        return corrupt_row(directory, root, str(exc))
    return row_from_data(directory, data, root, log=log)


def histories(rows: Sequence[Row], keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Each row's message history per key: ``{name: {key: [(x, time, value), ...]}}``
    (every key of its log when ``keys`` is None)."""
    from ._core import records as rules

    out: dict[str, Any] = {}
    for row in rows:
        records = _messages.read(pathlib.Path(row["path"]) / _layout.MESSAGES_FILE)
        if row.get("status") == "corrupt" or rules.records_problem(records):
            records = []  # a corrupt row has no history to plot
        wanted = keys if keys is not None else _messages.keys(records)
        out[row["name"]] = {k: _messages.history(records, k) for k in wanted}
    return out


def experiment_dirs(root: pathlib.Path, names: Iterable[str] | None = None) -> list[pathlib.Path]:
    """The experiment folders of a set (from its state, or every folder with params.yml)."""
    if names is not None:
        return [root / n for n in names]
    found = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir() and os.path.exists(os.path.join(entry.path, _layout.PARAMS_FILE)):
                found.append(pathlib.Path(entry.path))
    return sorted(found)


def match_names(names: Iterable[str], pattern: str | None) -> list[str]:
    """Names matching a glob (``*`` when None), or a regex when it starts with ``re:``."""
    import re
    import warnings

    if pattern is None or pattern in ("", "*"):
        return list(names)
    if not any(c in pattern for c in "*?[") and not pattern.startswith("re:"):
        return [n for n in names if n == pattern]  # a plain name: no pattern to match
    if pattern.startswith("re:"):
        try:
            with warnings.catch_warnings():  # see _query._compile
                warnings.simplefilter("ignore", FutureWarning)
                regex = re.compile(pattern[3:])
        except re.error as exc:
            raise _errors.ConfigError(
                f"bad regular expression: {exc}", source=f"pattern {pattern!r}"
            ) from None
        return [n for n in names if regex.search(n)]
    match = re.compile(fnmatch.translate(pattern)).match
    return [n for n in names if match(n)]


def rows_for_set(
    root: pathlib.Path,
    pattern: str | None = None,
    keep: Callable[[Row], bool] | None = None,
    pre: Callable[[Any, str], bool] | None = None,
) -> list[Row]:
    """Rows for the experiments of one set (or any folder of experiment folders); ``keep``
    and ``pre`` filter them as they are read from the index (see ``_store.index``)."""
    from . import _index
    from ._store import set_file

    root = root.absolute()
    if (root / _layout.SET_FILE).exists():
        names = set_file.read_names(root)  # checked: one folder inside the set each
    else:
        names = [d.name for d in experiment_dirs(root)]
    chosen = match_names(names, pattern)
    return _index.read_named_rows(
        root, chosen, _settled(keep), _settled_pre(pre), complete=len(chosen) == len(names)
    )


def _settled(keep: Callable[[Row], bool] | None) -> Callable[[Row], bool]:
    """``keep`` applied to rows whose status is settled first: a running experiment whose
    owner is gone shows as lost (``_store.owner``); the ``owner`` key is dropped."""
    check = _owner.Liveness()

    def test(row: Row) -> bool:
        check.settle(row)
        return keep is None or keep(row)

    return test


def _settled_pre(pre: Callable[[Any, str], bool] | None) -> Callable[[Any, str], bool] | None:
    """``pre`` for rows not built yet: an active status may still turn out ``lost``."""
    if pre is None:
        return None
    return lambda params, status: (
        pre(params, status) or (status in _status.ACTIVE and pre(params, _status.LOST))
    )


def find(
    root: str | os.PathLike[str] | None = None,
    pattern: str | None = None,
    *,
    where: Sequence[str] = (),
    status: Sequence[str] = (),
    all_sets: bool = False,
    types_match: str | None = None,
    missing_entry: bool | str = False,
    sort: str | None = None,
    limit: int | None = None,
    mode: str = "experiment",
) -> list[Row]:
    """Find experiments and return one dict per experiment (or per set with ``mode="set"``).

    Example:
        >>> rows = find("runs", where=["lr<0.01"], status=["finished"])  # doctest: +SKIP
    """
    from . import _config, _query, _table

    roots = _config.known_sets() if all_sets or root is None else [pathlib.Path(root)]
    if root is not None and all_sets:
        roots = [pathlib.Path(root), *[r for r in roots if r != pathlib.Path(root)]]
    keep = _query.row_test(
        pattern=pattern,
        where=where,
        status=status,
        types_match=types_match,
        missing_entry=missing_entry,
        limit=limit,
    )
    pre = _query.prefilter(where, status)
    rows: list[Row] = []
    for set_root in roots:
        if not set_root.is_dir():
            raise _errors.ConfigError("no such folder", source=str(set_root))
        # A name pattern picks folders before anything is read; a path pattern is in keep.
        by_name = pattern if pattern is not None and "/" not in pattern else None
        try:
            rows.extend(rows_for_set(set_root, by_name, keep=keep, pre=pre))
        except _errors.FexpError as exc:
            if len(roots) == 1:
                raise
            # Among many sets, a corrupt one is one corrupt row, not a failed listing.
            bad = corrupt_row(set_root.absolute(), str(set_root.absolute()), str(exc))
            if keep(bad):
                rows.append(bad)
    # Every row kept already passed the filter: only sort and limit are left.
    rows = _query.select(rows, sort=sort, limit=limit)
    if mode == "set":
        return _table.group_by_set(rows, sets=_set_infos(roots))
    if mode != "experiment":
        raise _errors.ConfigError(f"mode must be 'experiment' or 'set', got {mode!r}")
    return rows


def find_df(
    root: str | os.PathLike[str] | None = None, pattern: str | None = None, **kwargs: Any
) -> pandas.DataFrame:
    """``find`` as a pandas DataFrame (needs the ``pandas`` extra)."""
    from . import _table

    return _table.to_dataframe(find(root, pattern, **kwargs))


def _set_infos(roots: Sequence[pathlib.Path]) -> dict[str, dict[str, Any]]:
    """The purpose and creation time of each set, from its experiment.yml (xmen's
    ``mode="set"`` reports the set's own, not its experiments')."""
    from . import _expset

    infos = {}
    for root in roots:
        xs = _expset.ExperimentSet(root)
        if xs.exists():
            try:
                state = xs.head()
            except _errors.FexpError:
                continue  # a corrupt set among many: its row already says so
            infos[str(xs.root)] = {
                "purpose": state.get("purpose") or "",
                "created": state.get("created"),
            }
    return infos

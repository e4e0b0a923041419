"""Columns and renderers for ``fexp list``: which columns a listing shows (``Display``,
``columns``) and rows as a rich table, CSV, JSON, a DataFrame or one row per set.

Pure over rows (see ``_query``); no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _errors, _query
from ._core import status as _status

if TYPE_CHECKING:
    import json

    import pandas
    from rich.table import Table


@dataclasses.dataclass(frozen=True)
class Display:
    """Which column groups ``fexp list`` shows (xmen's ``display_*`` toggles)."""

    status: bool = True
    date: bool = True
    purpose: bool = False
    git: bool = False
    params: bool = True
    messages: bool = True
    meta: bool = False


@dataclasses.dataclass(frozen=True)
class Column:
    """A column: its header and how to get its value from a row (_query.MISSING when absent)."""

    header: str
    get: Callable[[Mapping[str, Any]], Any]

    def text(self, row: Mapping[str, Any], missing: str = "") -> str:
        """Return the cell's text (``missing`` when the row has no value)."""
        return _query.format_value(self.get(row), missing)


_RESERVED = frozenset({"name", "set", "status", "created", "purpose", "git", "slurm", "error"})


def _field(name: str) -> Column:
    return Column(name, lambda row: _none_missing(row.get(name, _query.MISSING)))


def _none_missing(value: Any) -> Any:
    return _query.MISSING if value is None else value


def _nested(header: str, field: str, key: str) -> Column:
    return Column(header, lambda row: _query._dig(row.get(field), key))


def columns(
    rows: Sequence[Mapping[str, Any]],
    *,
    param_regex: str | None = None,
    msg_regex: str | None = None,
    show: Display = Display(),
    where: Sequence[str | _query.Condition] = (),
) -> list[Column]:
    """Choose the columns for ``rows``: name, status, created, params, messages, slurm, ...

    Parameters shown are those varying across rows (all of them for a single row), or those
    whose key fully _query.matches ``param_regex``; plus keys named or matched by ``where``.
    Messages shown are all, or those fully matching ``msg_regex``. A ``set`` column appears
    when rows come from several sets, ``slurm`` when any row ran under SLURM, ``error`` when
    any row is corrupt. Rows from :func:`group_by_set` get the set columns instead.

    Raises:
        ConfigError: an invalid ``param_regex``, ``msg_regex`` or condition.
    """
    p_full = _regex_or_none(param_regex, "-p", "option --param")
    m_full = _regex_or_none(msg_regex, "-m", "option --message")
    conds = [c if isinstance(c, _query.Condition) else _query.parse_condition(c) for c in where]
    if rows and all("counts" in r for r in rows):
        return _set_columns(rows, show)
    cols = [_field("name")]
    if len({r.get("set") for r in rows}) > 1:
        cols.append(_field("set"))
    cols += [
        _field(f)
        for f, on in (("status", show.status), ("created", show.date), ("purpose", show.purpose))
        if on
    ]
    if show.git:
        cols.append(Column("git", _git_text))
    params = _param_keys(rows, p_full, conds) if show.params else []
    cols += [_nested(k if k not in _RESERVED else f"params.{k}", "params", k) for k in params]
    if show.messages:
        taken = _RESERVED | set(params)
        cols += [
            _nested(k if k not in taken else f"messages.{k}", "messages", k)
            for k in _message_keys(rows, m_full, conds)
        ]
    if show.meta:
        keys = _first_seen(_query.flatten(_query._mapping(r.get("meta"))) for r in rows)
        cols += [_nested(f"meta.{k}", "meta", k) for k in keys if not k.startswith("slurm.")]
    if any(r.get("slurm") for r in rows):
        cols.append(Column("slurm", lambda row: _slurm_text(row.get("slurm"), row.get("requeues"))))
    if any(r.get("error") for r in rows):
        cols.append(_field("error"))
    return cols


def _regex_or_none(text: str | None, flag: str, source: str) -> Callable[[str], Any] | None:
    if text is None:
        return None
    return _query._compile(text, f"{flag} {text!r} ({source})", "regex").fullmatch


def _first_seen(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    return list(keys)


def _param_keys(
    rows: Sequence[Mapping[str, Any]],
    full: Callable[[str], Any] | None,
    where: Sequence[_query.Condition],
) -> list[str]:
    every = _first_seen(_query.flatten(_query._mapping(r.get("params"))) for r in rows)
    if full is not None:
        chosen = {k for k in every if full(k)}
    else:
        chosen = set(every if len(rows) == 1 else _query.varying_params(rows))
    chosen |= {k for k in every if any(_names(c, k) for c in where)}
    return [k for k in every if k in chosen]


def _message_keys(
    rows: Sequence[Mapping[str, Any]],
    full: Callable[[str], Any] | None,
    where: Sequence[_query.Condition],
) -> list[str]:
    every = _first_seen(_query._mapping(r.get("messages")) for r in rows)
    return [k for k in every if full is None or full(k) or any(_names(c, k) for c in where)]


def _names(cond: _query.Condition, key: str) -> bool:
    return key == cond.key if cond.regex is None else cond.regex.fullmatch(key) is not None


def _git_text(row: Mapping[str, Any]) -> Any:
    git = _query._dig(row.get("version"), "git")
    if not isinstance(git, Mapping) or not git.get("commit"):
        return _query.MISSING
    text = f"{git.get('branch') or '?'}@{str(git['commit'])[:8]}"
    return f"{text} (dirty)" if git.get("dirty") else text


def _slurm_text(slurm: Any, requeues: Any = 0) -> Any:
    """``JOB[_TASK] STATE``, then ``requeued Nx`` when fexp or SLURM requeued it."""
    if not isinstance(slurm, Mapping) or not slurm:
        return _query.MISSING
    job = slurm.get("array_job_id") or slurm.get("job_id")
    task = slurm.get("array_task_id")
    ident = "" if job is None else f"{job}_{task}" if task is not None else str(job)
    text = " ".join(str(x) for x in (ident, slurm.get("state")) if x)
    if isinstance(requeues, int) and not isinstance(requeues, bool) and requeues > 0:
        text += f" requeued {requeues}x"
    return text or ", ".join(f"{k}={_query.format_value(v)}" for k, v in slurm.items())


def _set_columns(rows: Sequence[Mapping[str, Any]], show: Display) -> list[Column]:
    cols = [_field("set")]
    cols += [_field(f) for f, on in (("purpose", True), ("created", show.date)) if on]
    cols.append(_field("experiments"))
    present = _first_seen(_query._mapping(r.get("counts")) for r in rows)
    return cols + [_count_column(s) for s in _status_order(present)]


def _count_column(status: str) -> Column:
    return Column(status, lambda row: _query._mapping(row.get("counts")).get(status, 0))


def _status_order(statuses: Iterable[str]) -> list[str]:
    known = _query._statuses()
    given = set(statuses)
    return [s for s in known if s in given] + sorted(given - set(known))


# --------------------------------------------------------------------------- rendering


def render_csv(
    rows: Iterable[Mapping[str, Any]], cols: Sequence[Column], *, missing: str = ""
) -> str:
    """Render rows as CSV (RFC 4180: header line, CRLF line ends, quoted when needed)."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in cols])
    writer.writerows([c.text(row, missing) for c in cols] for row in rows)
    return out.getvalue()


def render_table(
    rows: Iterable[Mapping[str, Any]],
    cols: Sequence[Column],
    *,
    missing: str = "",
    title: str | None = None,
) -> Table:
    """Build a rich Table; corrupt rows are red, with their reason in the ``error`` column
    (appended to the first cell when ``cols`` has no such column).

    Cells are plain text, never rich markup, so values like ``[red]`` show as written.
    Floats show 6 significant digits here, for people; CSV and JSON keep every digit.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for col in cols:
        table.add_column(col.header, overflow="fold")
    has_error = any(c.header == "error" for c in cols)
    for row in rows:
        cells = [_human(c, row, missing) for c in cols]
        corrupt = bool(row.get("error")) or row.get("status") == _status.CORRUPT
        if corrupt and not has_error and cells and row.get("error"):
            cells[0] += f" ({row['error']})"
        table.add_row(*(Text(c) for c in cells), style="red" if corrupt else None)
    return table


def _human(col: Column, row: Mapping[str, Any], missing: str) -> str:
    value = col.get(row)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return col.text(row, missing)


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(NaN|-?Infinity)')


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


@functools.cache
def _encoder() -> json.JSONEncoder:
    import json

    return json.JSONEncoder(ensure_ascii=False, default=_json_default)


_JSON_KEYS = (str, int, float, bool)


def _plain(value: Any, depth: int) -> Any:
    """A JSON-ready copy: string keys, lists for sequences, text beyond a sane depth."""
    if depth > 50:
        return "..."
    if isinstance(value, Mapping):
        return {
            k if k is None or isinstance(k, _JSON_KEYS) else str(k): _plain(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    return value


def _quote_token(match: re.Match[str]) -> str:
    return f'"{match[1]}"' if match[1] else match[0]


# The orders render_json writes: FIELDS, then the extra fields of fexp's rows, sorted.
_JSON_ORDERS = frozenset({_query.FIELDS, (*_query.FIELDS, "attempts", "last", "requeues")})


def render_json(rows: Iterable[Mapping[str, Any]]) -> str:
    """Render rows as a JSON array, one row per line, fields in :data:`_query.FIELDS` order.

    Non-finite floats become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (what
    ``float()`` reads back), so the output is valid JSON. Extra fields follow, sorted.
    """
    lines = []
    encode = _encoder().encode
    for row in rows:
        if (
            tuple(row) not in _JSON_ORDERS
        ):  # Rows built in this order (the usual case) skip the copy.
            ordered = {k: row[k] for k in _query.FIELDS if k in row}
            ordered.update((k, row[k]) for k in sorted(row, key=str) if k not in ordered)
            row = ordered
        try:
            text = encode(row)
        except (TypeError, ValueError):  # Keys JSON cannot hold (tuples), or cycles.
            text = encode(_plain(row, 0))
        if "NaN" in text or "Infinity" in text:
            text = _JSON_TOKEN.sub(_quote_token, text)
        lines.append(text)
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def to_dataframe(rows: Iterable[Mapping[str, Any]]) -> pandas.DataFrame:
    """Build a DataFrame: one row per experiment, fields then flattened params and messages.

    Messages whose key is also a parameter or field are named ``messages.<key>``;
    ``version``, ``meta`` and ``slurm`` are flattened under their prefix.

    Raises:
        ConfigError: pandas is not installed.
    """
    try:
        import pandas
    except ImportError:
        raise _errors.ConfigError(
            "pandas is not installed; install it with: pip install 'fexp[pandas]'.",
            source="to_dataframe",
        ) from None
    rows = list(rows)
    scalars = [
        f for f in _query.FIELDS if f not in ("params", "messages", "version", "meta", "slurm")
    ]
    params = set(_first_seen(_query.flatten(_query._mapping(r.get("params"))) for r in rows))
    records = []
    for row in rows:
        record = {f: row.get(f) for f in scalars}
        for k, v in _query.flatten(_query._mapping(row.get("params"))).items():
            record[k if k not in record else f"params.{k}"] = v
        for k, v in _query._mapping(row.get("messages")).items():
            record[k if k not in params and k not in scalars else f"messages.{k}"] = v
        for field in ("version", "meta", "slurm"):
            record.update(_query.flatten(_query._mapping(row.get(field)), parent_key=field))
        records.append(record)
    return pandas.DataFrame.from_records(records) if records else pandas.DataFrame(columns=scalars)


def group_by_set(
    rows: Iterable[Mapping[str, Any]], *, sets: Mapping[str, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Summarise rows per set (xmen ``mode="set"``), in first-seen order of the sets.

    Each result has ``name`` (the set folder's name), ``path`` and ``set`` (its root),
    ``purpose`` and ``created`` (from ``sets[root]`` when given, e.g. experiment.yml;
    otherwise the purpose shared by all its experiments and the earliest created),
    ``experiments`` (how many) and ``counts`` (experiments per status, lifecycle order).
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("set", "")), []).append(row)
    out = []
    for root, members in groups.items():
        info = _query._mapping((sets or {}).get(root))
        purposes = {str(m.get("purpose") or "") for m in members}
        created = sorted(str(m["created"]) for m in members if m.get("created"))
        counts: dict[str, int] = {}
        for m in members:
            counts[str(m.get("status"))] = counts.get(str(m.get("status")), 0) + 1
        out.append(
            {
                "name": root.rstrip("/").rsplit("/", 1)[-1],
                "path": root,
                "set": root,
                "purpose": info.get("purpose", purposes.pop() if len(purposes) == 1 else ""),
                "created": info.get("created", created[0] if created else None),
                "experiments": len(members),
                "counts": {s: counts[s] for s in _status_order(counts)},
            }
        )
    return out

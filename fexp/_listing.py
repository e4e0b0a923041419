"""Render rows for ``fexp list``: a rich table, CSV or JSON, with optional sparklines."""

from __future__ import annotations

import io
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _errors, _table

GROUPS = ("status", "date", "purpose", "git", "params", "messages", "meta")


def parse_display(text: str | None) -> _table.Display:
    """``--show git,-date`` -> Display toggles (``-x`` hides a group)."""
    if not text:
        return _table.Display()
    values: dict[str, bool] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        hide = part.startswith("-")
        group = part.lstrip("-+")
        if group not in GROUPS:
            hint = _errors.did_you_mean(group, GROUPS)
            raise _errors.ConfigError(
                f"unknown column group {group!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
                + f" Known: {', '.join(GROUPS)}.",
                source="option --show",
            )
        values[group] = not hide
    return _table.Display(**values)


def spark_column(rows: Sequence[dict[str, Any]], key: str) -> dict[str, str]:
    """A sparkline of message ``key``'s history for every row that has one."""
    from . import _find, _plot

    lines = {}
    for row in rows:  # one row at a time: names repeat across sets with --all-sets
        history = _find.histories([row], [key])[row["name"]][key]
        values = [float(v) for _, _, v in history if _plot.is_number(v)]
        lines[row["path"]] = _plot.sparkline(values, width=20) if values else ""
    return lines


def render(
    rows: list[dict[str, Any]],
    *,
    csv: bool = False,
    json: bool = False,
    param: str | None = None,
    message: str | None = None,
    display: _table.Display | None = None,
    spark: str | None = None,
) -> str:
    """The text ``fexp list`` prints."""
    if json:
        return _table.render_json(rows) + "\n"
    cols = _table.columns(
        rows, param_regex=param, msg_regex=message, show=display or _table.Display()
    )
    if spark:
        sparks = spark_column(rows, spark)
        cols.append(_table.Column(f"{spark} ~", lambda row: sparks.get(row["path"], "")))
    if csv:
        return _table.render_csv(rows, cols)
    if not rows:
        return "no experiments found\n"
    from rich.console import Console

    buffer = io.StringIO()
    width = max(shutil.get_terminal_size((200, 24)).columns, 80)
    console = Console(
        file=buffer,
        width=width,
        force_terminal=sys.stdout.isatty(),
        color_system="auto" if sys.stdout.isatty() else None,
    )
    console.print(_table.render_table(rows, cols))
    return buffer.getvalue()


def watch(render_fn: Callable[[], str], every: float) -> None:
    """Re-render until interrupted (Ctrl-C)."""
    if every <= 0:
        raise _errors.ConfigError(
            f"--watch needs a positive interval, got {every}", source="option --watch"
        )
    try:
        while True:
            text = render_fn()
            sys.stdout.write("\x1b[2J\x1b[H" + text)
            sys.stdout.flush()
            time.sleep(every)
    except KeyboardInterrupt:
        return

"""The self-contained HTML report of an experiment set: table, filters and inline SVG plots.

Pure: rows, histories and set info in, one HTML string out (no file access besides the
template, no network references). The SVG plots are drawn here, without matplotlib.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import functools
import hashlib
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from . import _plot, _query, _render

REPORT_TEMPLATE = "report.html.j2"
MAX_POINTS = 200
WIDTH, HEIGHT = 360, 210
LEFT, RIGHT, TOP, BOTTOM = 50, 10, 8, 30
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

Point = tuple[float, float]
ColumnKind = Literal["name", "status", "created", "commit", "param", "msg", "text"]


@dataclasses.dataclass(frozen=True)
class Column:
    """One table column: its header, the sort/search kind and the message statistic."""

    label: str
    kind: ColumnKind
    key: str = ""
    stat: str = ""


def _csp_hash(text: str) -> str:
    """The CSP source for an inline script, so that no other (injected) script can run."""
    digest = hashlib.sha256(str(text).encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_render.template_dir())),
        # Unlike _render's environment (shell and YAML), this one emits HTML: escape all.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["csp_hash"] = _csp_hash
    return env


def format_number(value: object) -> str:
    """Render a table or tick number with about 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer()
                                  and abs(value) < 1e7):
        return str(int(value)) if abs(value) < 1e7 else f"{value:.4g}"
    return f"{value:.4g}"


def colour(index: int, count: int) -> str:
    """One colour per experiment: tab10 when few, golden-angle hues when many."""
    if count <= len(TAB10):
        return TAB10[index]
    return f"hsl({index * 137.508 % 360:.0f},65%,42%)"


def downsample(points: Sequence[Point], limit: int = MAX_POINTS) -> list[Point]:
    """Keep at most ``limit`` points: the ends plus the min and max of equal buckets."""
    if len(points) <= limit:
        return list(points)
    inner = points[1:-1]
    buckets = max((limit - 2) // 2, 1)
    out = [points[0]]
    for b in range(buckets):
        chunk = inner[b * len(inner) // buckets : (b + 1) * len(inner) // buckets]
        finite = [i for i, p in enumerate(chunk) if math.isfinite(p[1])]
        if not finite:
            out.extend(chunk[:1])
            continue
        lo = min(finite, key=lambda i: chunk[i][1])
        hi = max(finite, key=lambda i: chunk[i][1])
        out.extend(chunk[i] for i in sorted({lo, hi}))
    out.append(points[-1])
    return out


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick positions (1, 2, 2.5, 5 × 10^k) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    for i in range(first, first + count * 3):
        tick = i * step
        if tick > hi + step * 1e-9:
            break
        ticks.append(round(tick, 12))
    return ticks


def _range(values: Sequence[float], pad: float) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:
        half = abs(lo) * 0.1 or 1.0
        return lo - half, hi + half
    margin = (hi - lo) * pad
    return lo - margin, hi + margin


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _path_data(points: Sequence[Point], xmap: tuple[float, float],
               ymap: tuple[float, float]) -> str:
    """SVG path commands for a curve; non-finite values break it into segments.

    ``xmap``/``ymap`` are ``(offset, factor)``: pixel = offset + value * factor. This is
    the hot loop of a large report, hence the inlined arithmetic and formatting.
    """
    bx, kx = xmap
    by, ky = ymap
    isfinite = math.isfinite
    parts: list[str] = []
    segment: list[str] = []
    for x, y in points:
        if isfinite(y) and isfinite(x):
            segment.append(f"{bx + x * kx:.1f},{by + y * ky:.1f}")
        elif segment:
            parts.append(_segment(segment))
            segment = []
    if segment:
        parts.append(_segment(segment))
    return "".join(parts)


def _segment(coords: list[str]) -> str:
    if len(coords) == 1:
        return f"M{coords[0]}h0"  # a dot, thanks to round line caps
    return f"M{coords[0]}L" + " ".join(coords[1:])


def svg_plot(key: str, curves: Sequence[tuple[str, str, Sequence[Point]]]) -> str:
    """Draw one message's curves as an inline SVG line plot with axes and ticks.

    Args:
        key: the message key (the y label).
        curves: ``(experiment name, colour, [(step, value), ...])`` per experiment.

    Returns:
        SVG markup, every text escaped; one ``<path data-exp=...>`` per curve.
    """
    from markupsafe import escape

    xs = [p[0] for _, _, points in curves for p in points]
    ys = [p[1] for _, _, points in curves for p in points]
    x0, x1 = _range(xs, 0.0)
    y0, y1 = _range(ys, 0.04)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    kx, ky = pw / (x1 - x0), -ph / (y1 - y0)
    xmap, ymap = (LEFT - x0 * kx, kx), (TOP + ph - y0 * ky, ky)

    def sx(x: float) -> float:
        return xmap[0] + x * kx

    def sy(y: float) -> float:
        return ymap[0] + y * ky

    out = [f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(key)}">']
    for tick in nice_ticks(y0, y1):
        y = _f(sy(tick))
        out.append(f'<path class="grid" d="M{LEFT},{y}h{pw}"/><text class="yt" x="{LEFT - 4}" '
                   f'y="{y}">{escape(format_number(tick))}</text>')
    for tick in nice_ticks(x0, x1, 4):
        x = _f(sx(tick))
        out.append(f'<path class="grid" d="M{x},{TOP}v{ph}"/><text class="xt" x="{x}" '
                   f'y="{TOP + ph + 14}">{escape(format_number(tick))}</text>')
    out.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>')
    out.append(f'<text class="xl" x="{LEFT + pw}" y="{HEIGHT - 2}">step</text><g class="curves">')
    for name, stroke, points in curves:
        d = _path_data(downsample(points), xmap, ymap)
        out.append(f'<path data-exp="{escape(name)}" stroke="{escape(stroke)}" d="{d}"/>')
    out.append("</g></svg>")
    return "".join(out)


def _numeric_points(history: Sequence[tuple[float, float, Any]]) -> list[Point]:
    # type() rather than isinstance(): bools are not plotted, and this runs per point.
    points = [(float(x), float(v)) for x, _, v in history if type(v) in (float, int)]
    points.sort(key=lambda p: p[0])  # linear when already in order, as logs usually are
    return points


def _message_keys(
    rows: Sequence[Mapping[str, Any]], histories: _plot.Histories
) -> tuple[list[str], set[str]]:
    """Every message key in first-seen order, and which of them have numeric values."""
    order: dict[str, None] = {}
    numeric: set[str] = set()
    for row in rows:
        for key, history in histories.get(row["name"], {}).items():
            order.setdefault(key, None)
            if any(_plot.is_number(p[2]) for p in history):
                numeric.add(key)
        for key, value in (row.get("messages") or {}).items():
            order.setdefault(key, None)
            if _plot.is_number(value):
                numeric.add(key)
    return list(order), numeric


def _commit(version: Mapping[str, Any] | None) -> str:
    git = (version or {}).get("git") or {}
    commit = str(git.get("commit") or "")[:10]
    return commit + ("*" if commit and git.get("dirty") else "")


def _shared_git(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The experiments' git snapshot when the set has none and they all share one."""
    gits = [(row.get("version") or {}).get("git") or {} for row in rows]
    return gits[0] if gits and all(g == gits[0] for g in gits) else {}


def _columns(rows: Sequence[Mapping[str, Any]], keys: list[str], numeric: set[str],
             set_commit: str) -> list[Column]:
    columns = [Column("name", "name"), Column("status", "status"), Column("created", "created")]
    commits = {_commit(row.get("version")) for row in rows} - {""}
    if len(commits) > 1 or (set_commit and commits - {set_commit}):
        columns.append(Column("commit", "commit"))
    columns += [Column(p, "param", key=p) for p in _query.varying_params(rows)]
    for key in keys:
        if key in numeric:
            columns += [Column(key, "msg", key, stat) for stat in ("last", "min", "max")]
        else:
            columns.append(Column(key, "text", key))
    return columns


def _cells(row: Mapping[str, Any], columns: Sequence[Column],
           series: Mapping[str, list[Point]]) -> list[str]:
    params = _plot.flat_params(row)
    messages = row.get("messages") or {}
    stats: dict[str, dict[str, str]] = {}
    cells = []
    for column in columns:
        if column.kind in ("name", "status"):
            cells.append(str(row.get(column.kind, "")))
        elif column.kind == "created":
            cells.append(str(row.get("created") or "")[:16].replace("T", " "))
        elif column.kind == "commit":
            cells.append(_commit(row.get("version")))
        elif column.kind == "param":
            cells.append(_plot.format_value(params[column.key]) if column.key in params else "")
        elif column.kind == "text":
            cells.append(format_number(messages.get(column.key)))
        else:
            if column.key not in stats:
                stats[column.key] = _stats(series.get(column.key), messages.get(column.key))
            cells.append(stats[column.key][column.stat])
    return cells


def _stats(points: list[Point] | None, latest: object) -> dict[str, str]:
    """Last, min and max of a history (NaN ignored); only the latest without a history."""
    if not points:
        return {"last": format_number(latest), "min": "", "max": ""}
    finite = [v for _, v in points if v == v]  # v != v only for NaN
    low, high = (format_number(min(finite)), format_number(max(finite))) if finite else (
        "nan", "nan")
    return {"last": format_number(points[-1][1]), "min": low, "max": high}


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column],
           series: Mapping[str, Mapping[str, list[Point]]]) -> list[dict[str, Any]]:
    return [{"name": row["name"], "status": str(row.get("status", "")),
             "purpose": str(row.get("purpose") or ""),
             "notes": [str(n) for n in [*(row.get("notes") or []), row.get("error")] if n],
             "cells": _cells(row, columns, series[row["name"]])} for row in rows]


def _plots(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], colours: Mapping[str, str],
           series: Mapping[str, Mapping[str, list[Point]]]) -> list[dict[str, Any]]:
    from markupsafe import Markup

    plots = []
    for key in keys:
        curves = [(row["name"], colours[row["name"]], series[row["name"]][key])
                  for row in rows if series[row["name"]].get(key)]
        if curves:
            plots.append({"key": key, "count": len(curves), "svg": Markup(svg_plot(key, curves))})
    return plots


def report_context(
    rows: Sequence[Mapping[str, Any]],
    histories: _plot.Histories,
    set_info: Mapping[str, Any],
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """Compute everything the report template shows (pure; used by ``render_report``)."""
    keys, numeric = _message_keys(rows, histories)
    git = set_info.get("git") or _shared_git(rows)
    columns = _columns(rows, keys, numeric, _commit({"git": git}))
    labels = _plot.varying_labels(rows)
    colours = {row["name"]: colour(i, len(rows)) for i, row in enumerate(rows)}
    series = {row["name"]: {k: _numeric_points(h) for k, h in histories.get(row["name"], {}).items()
                            if k in numeric} for row in rows}
    statuses = collections.Counter(str(row.get("status", "")) for row in rows)
    root = str(set_info.get("root") or "")
    return {
        "title": title or f"fexp report: {pathlib.PurePath(root).name or root or 'experiments'}",
        "root": root,
        "purpose": str(set_info.get("purpose") or ""),
        "notes": [str(n) for n in set_info.get("notes") or []],
        "git": {"commit": str(git.get("commit") or ""), "dirty": bool(git.get("dirty")),
                "branch": str(git.get("branch") or "")},
        "columns": columns,
        "first_msg": next((i + 1 for i, c in enumerate(columns) if c.kind == "msg"), 0),
        "rows": _table(rows, columns, series),
        "legend": [(row["name"], labels[row["name"]], colours[row["name"]]) for row in rows],
        "plots": _plots(rows, keys, colours, series),
        "statuses": sorted(statuses.items()),
        "many": len(rows) > 50,
    }


def render_report(
    rows: Sequence[Mapping[str, Any]],
    histories: _plot.Histories,
    set_info: Mapping[str, Any],
    *,
    title: str | None = None,
) -> str:
    """Render one self-contained HTML report of the experiments in ``rows``.

    The page makes no network request (styles, script and SVG plots are inline, and a
    Content-Security-Policy forbids anything else): a sortable, filterable table with the
    varying parameters and the last/min/max of each numeric message, and one plot per
    message key with one curve per experiment (hover to highlight).

    Args:
        rows: the experiments, as ``fexp list`` rows.
        histories: ``{name: {key: [(step, time, value), ...]}}``.
        set_info: ``{"root", "purpose", "notes", "git"}`` of the experiment set.
        title: the page title; defaults to one naming the set's folder.

    Example:
        >>> html = render_report([], {}, {"root": "/runs/mnist", "purpose": "", "notes": []})
        >>> html.startswith("<!DOCTYPE html>")
        True
    """
    context = report_context(rows, histories, set_info, title=title)
    return str(_environment().get_template(REPORT_TEMPLATE).render(**context))

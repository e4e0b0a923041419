"""Plots of message histories: matplotlib figures, unicode sparklines and terminal plots.

Pure over rows and histories (see ``_report`` for the HTML report); matplotlib is imported
lazily and only by ``plot_histories``. The only file this module writes is the ``-o`` figure.
"""

from __future__ import annotations

import dataclasses
import io
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from . import _atomic, _errors, _query

History = Sequence[tuple[float, float, Any]]
Histories = Mapping[str, Mapping[str, History]]
XAxis = Literal["step", "time"]

SPARKS = "▁▂▃▄▅▆▇█"
FORMATS = (".png", ".svg", ".pdf")
LINE_GID = "fexp-line-"
_MAX_LEGEND = 20
_MAX_LABEL = 32


@dataclasses.dataclass(frozen=True)
class PlotSummary:
    """What ``plot_histories`` drew.

    Attributes:
        path: the figure file written.
        key: the message key plotted.
        lines: one label per plotted experiment, in plotting order.
        skipped: selected experiments that have no numeric history for ``key``.
        groups: the ``group_by`` values in colour order (empty without ``group_by``).
    """

    path: pathlib.Path
    key: str
    lines: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Series:
    """The numeric history of one message key for one experiment, sorted by step."""

    name: str
    label: str
    steps: tuple[float, ...]
    times: tuple[float, ...]
    values: tuple[float, ...]


def is_number(value: object) -> bool:
    """Tell whether a message value can be plotted (int or float, but not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_value(value: object) -> str:
    """Render a parameter value compactly: ``0.01``, ``[64,64]``, ``{x:1}``, ``adam``."""
    if isinstance(value, float):
        text = repr(value)
        return text if len(text) <= 10 else f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def flat_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's parameters with nested dicts flattened to dotted keys (``opt.lr``)."""
    params = row.get("params")
    return _query.flatten(params) if isinstance(params, Mapping) else {}


def varying_labels(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Label each experiment by the parameters that vary across ``rows``.

    Nested parameters are compared and named by their dotted keys (``opt.lr=0.1``). An
    experiment whose varying parameters are all unset, or a selection where nothing
    varies, is labelled by its name.

    Example:
        >>> varying_labels([{"name": "a", "params": {"lr": 0.1, "layers": [64, 64]}},
        ...                 {"name": "b", "params": {"lr": 0.01, "layers": [64, 64]}}])
        {'a': 'lr=0.1', 'b': 'lr=0.01'}
    """
    varying = _query.varying_params(rows)
    labels = {}
    for row in rows:
        params = flat_params(row)
        parts = [f"{k}={format_value(params[k])}" for k in varying if k in params]
        labels[row["name"]] = ", ".join(parts) if parts else str(row["name"])
    return labels


def _known_keys(rows: Sequence[Mapping[str, Any]], histories: Histories) -> list[str]:
    # Empty histories do not count: callers may load only the requested key's history.
    seen: dict[str, None] = {}
    for row in rows:
        seen.update((k, None) for k, h in histories.get(row["name"], {}).items() if h)
        seen.update(dict.fromkeys(row.get("messages") or {}))
    return list(seen)


def _unknown_key(key: str, known: list[str]) -> _errors.ConfigError:
    guess = _errors.did_you_mean(key, known)
    hint = f"; did you mean {guess!r}?" if guess else "."
    listing = (
        f" The selected experiments have these messages: {', '.join(known)}."
        if known
        else " The selected experiments have sent no messages yet."
    )
    return _errors.ConfigError(
        f"no selected experiment has a message {key!r} (argument KEY){hint}{listing}"
    )


def select_series(
    key: str, rows: Sequence[Mapping[str, Any]], histories: Histories
) -> tuple[list[Series], list[str]]:
    """Return the numeric series of ``key`` per experiment and the names without one.

    Raises:
        ConfigError: nothing selected, an unknown ``key``, or no selected experiment has
            a numeric history for ``key``.
    """
    if not rows:
        raise _errors.ConfigError(
            "no experiments selected (argument PATTERN), so there is nothing to plot; "
            "check the pattern and filters with `fexp list`."
        )
    known = _known_keys(rows, histories)
    if key not in known:
        raise _unknown_key(key, known)
    labels = varying_labels(rows)
    series, skipped, non_numeric = [], [], False
    for row in rows:
        name = row["name"]
        points = histories.get(name, {}).get(key, ())
        numeric = sorted((p for p in points if is_number(p[2])), key=lambda p: p[0])
        non_numeric = non_numeric or len(numeric) < len(points)
        if not numeric:
            skipped.append(name)
            continue
        steps = tuple(float(p[0]) for p in numeric)
        times = tuple(float(p[1]) for p in numeric)
        values = tuple(float(p[2]) for p in numeric)
        series.append(Series(name, labels[name], steps, times, values))
    if not series:
        raise _no_history(key, len(rows), non_numeric)
    return series, skipped


def _no_history(key: str, count: int, non_numeric: bool) -> _errors.ConfigError:
    if non_numeric:
        return _errors.ConfigError(
            f"message {key!r} (argument KEY) has no numeric values in the {count} selected "
            "experiment(s), so it cannot be plotted; choose a numeric message."
        )
    return _errors.ConfigError(
        f"none of the {count} selected experiment(s) has a recorded history for {key!r} "
        "(argument KEY): their message log (messages.jsonl) is missing or does not hold it, "
        "so only the latest value is known; `fexp list` shows it."
    )


def _check_out(out: pathlib.Path) -> str:
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise _errors.ConfigError(
            f"cannot write a figure to {str(out)!r} (option -o): the file name must end in "
            f"{', '.join(FORMATS)}, got {suffix or 'no suffix'!r}."
        )
    return suffix[1:]


def _check_group_by(group_by: str, rows: Sequence[Mapping[str, Any]]) -> None:
    params: dict[str, None] = {}
    for row in rows:
        params.update(dict.fromkeys(flat_params(row)))
    if group_by not in params:
        guess = _errors.did_you_mean(group_by, params)
        hint = f"; did you mean {guess!r}?" if guess else "."
        raise _errors.ConfigError(
            f"cannot group by {group_by!r} (option --group-by): no selected experiment has "
            f"that parameter{hint} Parameters: {', '.join(params) or 'none'}."
        )


def check_options(x: str, group_by: str | None, rows: Sequence[Mapping[str, Any]]) -> None:
    """Validate ``--x`` and ``--group-by`` (for the figure and the terminal plot alike)."""
    if x not in ("step", "time"):
        raise _errors.ConfigError(f"option --x must be 'step' or 'time', got {x!r}.")
    if group_by is not None:
        _check_group_by(group_by, rows)


def _import_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise _errors.ConfigError(
            "plotting to a file needs matplotlib, which is not installed; install the plot "
            "extra with `pip install 'fexp[plot]'` (or use the terminal plot / `fexp report`)."
        ) from None
    return matplotlib


def _time_scale(seconds: float) -> tuple[float, str]:
    if seconds >= 2 * 3600:
        return 3600.0, "time (h)"
    if seconds >= 120:
        return 60.0, "time (min)"
    return 1.0, "time (s)"


def build_figure(
    key: str,
    series: Sequence[Series],
    rows: Sequence[Mapping[str, Any]],
    *,
    x: XAxis = "step",
    group_by: str | None = None,
) -> tuple[Any, tuple[str, ...]]:
    """Draw ``series`` on a new matplotlib Figure (no pyplot, no global state).

    Returns:
        The figure and the ``group_by`` values in colour order.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    colours, groups = _colours(series, rows, group_by)
    scale, xlabel = 1.0, "step"
    if x == "time":
        scale, xlabel = _time_scale(max(max(s.times) - min(s.times) for s in series))
    for index, s in enumerate(series):
        xs = [(t - min(s.times)) / scale for t in s.times] if x == "time" else list(s.steps)
        ax.plot(xs, s.values, label=s.label, color=colours[index], gid=f"{LINE_GID}{index}",
                linewidth=1.4, alpha=0.9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(key)
    ax.set_title(key)
    ax.grid(True, alpha=0.3)
    if group_by is not None:
        handles = [Line2D([], [], color=c, label=f"{group_by}={g}") for g, c in groups.items()]
        fig.legend(handles=handles[:_MAX_LEGEND], fontsize="small", loc="outside right upper")
    elif len(series) <= _MAX_LEGEND:
        fig.legend(fontsize="small", loc="outside right upper")
    return fig, tuple(groups)


def _colours(
    series: Sequence[Series], rows: Sequence[Mapping[str, Any]], group_by: str | None
) -> tuple[list[Any], dict[str, Any]]:
    from matplotlib import colormaps

    if group_by is None:
        cmap = colormaps["tab10" if len(series) <= 10 else "viridis"]
        n = max(len(series) - 1, 1)
        return [cmap(i % 10 if len(series) <= 10 else i / n) for i in range(len(series))], {}
    params = {row["name"]: flat_params(row) for row in rows}
    values = [format_value(params[s.name].get(group_by, "unset")) for s in series]
    distinct = list(dict.fromkeys(values))
    cmap = colormaps["tab10" if len(distinct) <= 10 else "viridis"]
    n = max(len(distinct) - 1, 1)
    groups = {g: cmap(i if len(distinct) <= 10 else i / n) for i, g in enumerate(distinct)}
    return [groups[v] for v in values], groups


def plot_histories(
    key: str,
    rows: Sequence[Mapping[str, Any]],
    histories: Histories,
    *,
    x: XAxis = "step",
    group_by: str | None = None,
    out: pathlib.Path,
) -> PlotSummary:
    """Plot the history of message ``key`` for every experiment in ``rows`` to ``out``.

    One line per experiment, labelled by the parameters that vary; with ``group_by`` one
    colour per value of that parameter. The format follows the suffix of ``out``.

    Args:
        key: the message key (argument KEY).
        rows: the selected experiments, as ``fexp list`` rows.
        histories: ``{name: {key: [(step, time, value), ...]}}``.
        x: ``"step"`` or ``"time"`` (seconds since the experiment's first message).
        group_by: a parameter name whose values pick the colours.
        out: the figure file (option -o): ``.png``, ``.svg`` or ``.pdf``.

    Raises:
        ConfigError: bad ``out`` suffix, ``x`` or ``group_by``; unknown ``key``; nothing
            to plot; matplotlib not installed.
    """
    fmt = _check_out(out)
    check_options(x, group_by, rows)
    series, skipped = select_series(key, rows, histories)
    matplotlib = _import_matplotlib()
    buffer = io.BytesIO()
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with matplotlib.rc_context({"svg.hashsalt": "fexp", "svg.fonttype": "none"}):
        fig, groups = build_figure(key, series, rows, x=x, group_by=group_by)
        fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic.atomic_write(out, buffer.getvalue())
    return PlotSummary(out, key, tuple(s.label for s in series), tuple(skipped), groups)


def _resample(values: Sequence[float], width: int) -> list[float]:
    """Bucket means (NaN-ignoring) when shrinking, nearest neighbour when stretching."""
    n = len(values)
    if n == width:
        return list(values)
    if n < width:
        return [values[i * n // width] for i in range(width)]
    out = []
    for i in range(width):
        bucket = [v for v in values[i * n // width : (i + 1) * n // width] if math.isfinite(v)]
        out.append(sum(bucket) / len(bucket) if bucket else math.nan)
    return out


def sparkline(
    values: Sequence[float],
    width: int | None = None,
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> str:
    """Render ``values`` as a line of ``▁▂▃▄▅▆▇█``, one character per (resampled) value.

    Non-finite values (NaN, ±inf) become spaces; a constant series is a flat ``▄`` line.

    Args:
        values: the series, in order.
        width: characters wanted; None keeps one per value.
        lo: the value drawn as ``▁`` (default: the series' finite minimum).
        hi: the value drawn as ``█`` (default: the series' finite maximum).

    Example:
        >>> sparkline([1, 2, 3, 4, 5, 6, 7, 8])
        '▁▂▃▄▅▆▇█'
    """
    if width is not None and width < 1:
        raise ValueError(f"sparkline width must be at least 1, got {width}")
    if not values:
        return ""
    points = _resample([float(v) for v in values], width or len(values))
    finite = [v for v in points if math.isfinite(v)]
    if not finite:
        return " " * len(points)
    low = min(finite) if lo is None else lo
    high = max(finite) if hi is None else hi
    span = high - low
    top = len(SPARKS) - 1
    chars = []
    for v in points:
        if not math.isfinite(v):
            chars.append(" ")
        elif span <= 0:
            chars.append(SPARKS[top // 2])
        else:
            level = round((v - low) / span * top)
            chars.append(SPARKS[min(max(level, 0), top)])
    return "".join(chars)


def _short(label: str, size: int) -> str:
    return label if len(label) <= size else label[: size - 1] + "…"


def terminal_plot(
    key: str,
    rows: Sequence[Mapping[str, Any]],
    histories: Histories,
    width: int = 60,
) -> str:
    """Render the history of ``key`` as text: one sparkline per experiment, min and last.

    All sparklines share one scale, so their heights compare across experiments. Needs no
    extra dependency and works over SSH.

    Args:
        key: the message key (argument KEY).
        rows: the selected experiments.
        histories: ``{name: {key: [(step, time, value), ...]}}``.
        width: characters per sparkline.

    Raises:
        ConfigError: nothing selected, unknown ``key``, or no history for ``key``.
    """
    series, skipped = select_series(key, rows, histories)
    finite = [v for s in series for v in s.values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (math.nan, math.nan)
    size = min(max(len(s.label) for s in series), _MAX_LABEL)
    lines = [f"{key}: {len(series)} experiment(s); ▁ = {lo:.4g}, █ = {hi:.4g}"]
    for s in series:
        good = [v for v in s.values if math.isfinite(v)]
        low = f"{min(good):.4g}" if good else "nan"
        spark = sparkline(s.values, width, lo=lo, hi=hi).ljust(width)
        lines.append(f"{_short(s.label, size).ljust(size)}  {spark}  "
                     f"min {low:>9}  last {s.values[-1]:.4g}")
    if skipped:
        lines.append(f"(no history for {key!r}: {', '.join(skipped)})")
    return "\n".join(lines)

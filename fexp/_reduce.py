"""Reduce (flambe): link a second stage from the best N experiments of a first stage.

``select_best`` and ``plan_points`` are pure over rows; ``reduce`` reads stage 1, links stage 2
(each chosen experiment's parameters crossed with a new sweep) and notes where each came from.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _errors, _params
from ._core import status as _status

if TYPE_CHECKING:
    from ._expset import ExperimentSet

Row = dict[str, Any]
KEEPS = ("min", "max")


@dataclasses.dataclass(frozen=True)
class Reduction:
    """What ``reduce`` did.

    Attributes:
        chosen: the stage-1 rows kept, best first.
        names: the stage-2 experiments linked, in the order of ``chosen``.
        by: the message (or parameter) ranked on; ``keep``: ``min`` or ``max``.
    """

    chosen: list[Row]
    names: list[str]
    by: str
    keep: str
    considered: int

    def render(self) -> str:
        """The summary ``fexp reduce`` prints."""
        best = ", ".join(f"{r['name']} ({self.by}={r['_value']!r})" for r in self.chosen)
        return (f"kept the best {len(self.chosen)} of {self.considered} by {self.keep} "
                f"{self.by}: {best}\nlinked {len(self.names)}: {', '.join(self.names)}")


def score(row: Mapping[str, Any], by: str) -> float | None:
    """The row's value of ``by`` (a message, else a parameter) as a finite float, or None."""
    from . import _query

    messages = row.get("messages")
    value = messages.get(by, _query.MISSING) if isinstance(messages, Mapping) else _query.MISSING
    if value is _query.MISSING:
        value = _query.lookup(row, by)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def select_best(rows: Sequence[Row], n: int, by: str, keep: str = "min") -> list[Row]:
    """Return the ``n`` rows with the lowest (``keep="min"``) or highest ``by``, best first.

    Rows without a finite number for ``by`` are left out; ties keep the rows' order. Each
    returned row is a copy with ``_value`` set to its score.

    Raises:
        ConfigError: ``n`` below 1, ``keep`` not min/max, or no row has a number for ``by``.

    Example:
        >>> rows = [{"name": "a", "messages": {"loss": 0.3}},
        ...         {"name": "b", "messages": {"loss": 0.1}}]
        >>> [r["name"] for r in select_best(rows, 1, "loss")]
        ['b']
    """
    problems = []
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        problems.append(f"--best must be an integer of at least 1, got {n!r} (option --best)")
    if keep not in KEEPS:
        problems.append(f"--keep must be 'min' or 'max', got {keep!r} (option --keep)")
    if not by:
        problems.append("--by needs a message or parameter name, e.g. --by loss (option --by)")
    if problems:
        raise _errors.ConfigError(" ".join(problems))
    scored = [(value, index, row) for index, row in enumerate(rows)
              if (value := score(row, by)) is not None]
    if not scored:
        raise _errors.ConfigError(_no_score_text(rows, by), source="option --by")
    sign = 1.0 if keep == "min" else -1.0
    scored.sort(key=lambda item: (sign * item[0], item[1]))
    return [{**row, "_value": value} for value, _, row in scored[:n]]


def _no_score_text(rows: Sequence[Row], by: str) -> str:
    known: dict[str, None] = {}
    for row in rows:
        for key, value in (row.get("messages") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                known[str(key)] = None
    hint = _errors.did_you_mean(by, known)
    return (f"no experiment of stage 1 ({len(rows)} considered) has a number for {by!r}"
            + (f"; did you mean {hint!r}?" if hint else ".")
            + (f" Numeric messages: {', '.join(known)}." if known else
               " Run stage 1 first (only finished experiments count unless --status says so)."))


def carried(row: Mapping[str, Any], specs: Mapping[str, _params.ParamSpec]) -> dict[str, Any]:
    """The stage-1 parameters stage 2 also has and whose value differs from its default."""
    params = row.get("params") or {}
    return {k: v for k, v in params.items()
            if k in specs and v != _params.to_plain(specs[k].default)}


def plan_points(chosen: Sequence[Row], specs: Mapping[str, _params.ParamSpec],
                sweep: str | None, source_param: str | None) -> list[dict[str, Any]]:
    """One raw configuration per (chosen row, point of ``sweep``), rows first (pure).

    ``source_param`` (a stage-2 parameter) receives the stage-1 experiment's folder.
    """
    from . import _sweep

    if source_param is not None and source_param not in specs:
        raise _errors.ParamError(source_param, experiment=None, known=specs,
                                 source="option --source-param")
    sweep_points = _sweep.parse_sweep(sweep) if sweep and sweep.strip() else [{}]
    points = []
    for row in chosen:
        base = carried(row, specs)
        for point in sweep_points:
            merged = _sweep.merge(base, point)
            if source_param is not None:
                merged[source_param] = str(row["path"])
            points.append(merged)
    return points


def split_source(source: str | os.PathLike[str]) -> tuple[pathlib.Path, str | None]:
    """``stage1`` -> (stage1, None); ``stage1/lr=*`` -> (stage1, ``lr=*``) when the last part
    is a glob rather than a folder."""
    path = pathlib.Path(source)
    if path.is_dir() or not glob.has_magic(path.name):
        return path, None
    return path.parent, path.name


def _as_set(where: str | os.PathLike[str] | ExperimentSet, option: str) -> ExperimentSet:
    from . import _expset

    xs = where if isinstance(where, _expset.ExperimentSet) else _expset.ExperimentSet(where)
    if not xs.exists():
        raise _errors.ExperimentStateError(
            "no experiment set here (experiment.yml missing); create it with `fexp init`",
            source=f"{option} {str(xs.root)!r}")
    return xs


def reduce(
    source: str | os.PathLike[str] | ExperimentSet,
    target: str | os.PathLike[str] | ExperimentSet,
    *,
    best: int,
    by: str,
    keep: str = "min",
    sweep: str | None = None,
    pattern: str | None = None,
    where: Sequence[str] = (),
    status: Sequence[str] = (_status.FINISHED,),
    source_param: str | None = None,
    repeats: int = 1,
    name: str | None = None,
    purpose: str | None = None,
) -> Reduction:
    """Link into ``target`` one experiment per (best stage-1 experiment, point of ``sweep``).

    The ``best`` experiments of ``source`` (a set folder, or ``folder/GLOB``) with the lowest
    (``keep="min"``) or highest message ``by`` are chosen among those with a status in
    ``status``; their parameters that ``target`` also has are carried over, crossed with
    ``sweep``, and linked; each new experiment gets a note naming its stage-1 folder.

    Example:
        >>> reduce("stage1", "stage2", best=2, by="loss", sweep="{epochs: 20}")  # doctest: +SKIP
    """
    from . import _find

    if not isinstance(source, (str, os.PathLike)):
        stage1, glob_pattern = source, None
    else:
        folder, glob_pattern = split_source(source)
        stage1 = _as_set(folder, "STAGE1")
    stage2 = _as_set(target, "option --root")
    if pattern is not None and glob_pattern is not None:
        raise _errors.ConfigError("give the stage-1 glob once: in STAGE1 or in --pattern",
                                  source="argument STAGE1")
    rows = _find.find(stage1.root, pattern or glob_pattern, where=where, status=status)
    chosen = select_best(rows, best, by, keep)
    specs = stage2.specs()
    points = plan_points(chosen, specs, sweep, source_param)
    why = purpose if purpose is not None else (
        f"best {len(chosen)} of {stage1.root} by {keep} {by}")
    names = stage2.link(points=points, repeats=repeats, name=name, purpose=why)
    per_row = len(names) // len(chosen)
    for index, row in enumerate(chosen):
        note = f"reduced from {row['path']} ({by}={row['_value']!r})"
        for linked in names[index * per_row:(index + 1) * per_row]:
            stage2.note(note, "re:^" + re.escape(linked) + "$")
    return Reduction(chosen, names, by, keep, len(rows))


def from_link_options(
    target: ExperimentSet,
    sweep: str | None,
    *,
    source: str | None,
    best: int | None,
    by: str | None,
    keep: str,
    config: object = None,
    samples: int | None = None,
    repeats: int = 1,
    name: str | None = None,
    purpose: str = "",
) -> Reduction:
    """``fexp link --from-best N --by KEY [--keep min] --from STAGE1 [SWEEP]`` (= ``fexp reduce``).

    Raises:
        ConfigError: a missing companion option, or one that cannot be combined with them.
    """
    problems = []
    if best is None:
        problems.append("--by and --from need --from-best N")
    if source is None:
        problems.append("--from-best needs --from STAGE1 (the first stage's set folder)")
    if not by:
        problems.append("--from-best needs --by KEY (the message to rank on, e.g. loss)")
    if config is not None or samples is not None:
        problems.append("--from-best cannot be combined with -c/--config or --samples")
    if problems or source is None or best is None or by is None:
        raise _errors.ConfigError("; ".join(problems) + ".", source="options of fexp link")
    return reduce(source, target, best=best, by=by, keep=keep, sweep=sweep, repeats=repeats,
                  name=name, purpose=purpose or None)

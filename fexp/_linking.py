"""``link``: turn a sweep into registered experiment folders of a set.

The whole request (sweep, config file, every value against its parameter's type, names) is
validated before the first write; then, under the set's lock, folders and params.yml files
are written and experiment.yml is updated once. On any failure the new folders are removed.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _atomic, _errors, _layout, _meta, _params, _yaml
from ._core import status as _status

if TYPE_CHECKING:
    from ._expset import ExperimentSet


def plan_points(
    sweep: str | None,
    *,
    config: str | os.PathLike[str] | None,
    samples: int | None,
    seed: int | None,
    points: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """The raw configurations a link request asks for (config file first, then the sweep)."""
    from . import _sweep

    if samples is not None and samples >= 1:
        check_count(samples, 1)
    base = _sweep.load_sweep_config(pathlib.Path(config)) if config is not None else {}
    if points is not None:
        raw = [dict(p) for p in points]
    elif sweep is None or not sweep.strip():
        raw = [{}]
    elif samples is not None:
        if samples < 1:
            raise _errors.ConfigError(
                f"--samples must be at least 1, got {samples}", source="option --samples"
            )
        raw = _sweep.sample_sweep(sweep, samples, seed)
    else:
        raw = _sweep.parse_sweep(sweep)
    return [_sweep.merge(base, point) for point in raw]


def cast_points(
    points: Sequence[Mapping[str, Any]],
    specs: Mapping[str, _params.ParamSpec],
    kind: str | None,
    source: str,
) -> list[dict[str, Any]]:
    """Cast every configuration; report every distinct problem of every point at once."""
    from . import _sweep

    cast: list[dict[str, Any]] = []
    problems: dict[str, _errors.ParamError] = {}
    for point in points:
        try:
            cast.append(_sweep.apply_point(point, specs, experiment=kind))
        except _errors.ParamErrors as exc:
            problems.update((e.detail, e) for e in exc.errors)
        except _errors.ParamError as exc:
            problems[exc.detail] = exc
    if len(problems) == 1:
        (only,) = problems.values()
        only.source = source
        raise only
    if problems:
        raise _errors.ParamErrors(list(problems.values()), source=source)
    return cast


def check_count(points: int, repeats: int) -> None:
    """Refuse a request for more experiments than fexp's documented limit (before any work)."""
    from ._core import limits

    problem = limits.check_count(points * repeats, f"{points:,} point(s) x {repeats:,} repeat(s)")
    if problem:
        raise _errors.ConfigError(problem, source="options SWEEP/--samples/-x")


def folder_names(configs: Sequence[Mapping[str, Any]], name: str | None, repeats: int) -> list[str]:
    """Folder names before collision suffixes (pure)."""
    from . import _naming

    if repeats < 1:
        raise _errors.ConfigError(
            f"-x/--repeats must be at least 1, got {repeats}", source="option --repeats"
        )
    check_count(len(configs), repeats)
    if name is not None:
        _naming.check_name(name)
    bases = []
    for config in configs:
        auto = _naming.name_for({k: _params.to_plain(v) for k, v in config.items()})
        if name is None:
            bases.append(auto)
        else:
            bases.append(name if len(configs) == 1 else f"{name}__{auto}")
    if repeats == 1:
        return bases
    return [n for base in bases for n in _naming.repeat_names(base, repeats)]


def link(
    xs: ExperimentSet,
    sweep: str | None,
    *,
    config: str | os.PathLike[str] | None,
    repeats: int,
    name: str | None,
    purpose: str,
    samples: int | None,
    seed: int | None,
    points: Sequence[Mapping[str, Any]] | None,
) -> list[str]:
    """See ``ExperimentSet.link``."""
    from . import _sweep

    xs.state()  # a missing set is reported before anything else
    specs = xs.specs()
    kind = _experiment_kind(xs)
    raw_points = plan_points(sweep, config=config, samples=samples, seed=seed, points=points)
    source = _sweep.render_source(sweep, "argument SWEEP") if sweep else "sweep"
    overrides = cast_points(raw_points, specs, kind, source)
    names = folder_names(overrides, name, repeats)
    per_name = [o for o in overrides for _ in range(repeats)]
    defaults = {n: s.fresh_default() for n, s in specs.items()}
    helps = {n: s.help for n, s in specs.items()}
    with xs.locked():
        return _write(xs, names, per_name, defaults, helps, purpose)


def _experiment_kind(xs: ExperimentSet) -> str | None:
    ref = xs.state().get("ref")
    return ref.rpartition(":")[2] if ref else None


def _version(xs: ExperimentSet) -> dict[str, Any]:
    cls = xs.experiment_class()
    if cls is not None:
        return cls.version_info()
    defaults = _yaml.read_mapping(xs.paths.defaults)
    return dict(defaults.get("_version") or {})


def _write(
    xs: ExperimentSet,
    names: list[str],
    overrides: list[dict[str, Any]],
    defaults: dict[str, Any],
    helps: dict[str, str],
    purpose: str,
) -> list[str]:
    from . import _index, _naming, _render

    recover(xs)
    state = xs.state()
    taken = set(state["experiments"]) | set(os.listdir(xs.root))
    taken_lower = {t.lower() for t in taken}
    now = _meta.now_iso()
    # Every special key but the name is shared by the whole request: render it once.
    shared: dict[str, Any] = {
        "_root": str(xs.root), "_status": _status.REGISTERED, "_purpose": purpose,
        "_created": now, "_registered": now, "_started": None, "_stopped": None,
        "_last": None, "_messages": {}, "_notes": [], "_version": _version(xs), "_meta": {},
    }
    shared_text = _render.render_special(shared)
    final: list[str] = []
    index: list[tuple[pathlib.Path, dict[str, Any]]] = []
    staging = pathlib.Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=xs.root))
    placed: list[pathlib.Path] = []
    try:
        for base, override in zip(names, overrides, strict=True):
            folder = base
            if base.lower() in taken_lower:
                folder = _naming.unique_name(base, taken)
            taken.add(folder)
            taken_lower.add(folder.lower())
            params = {k: _params.to_plain(v) for k, v in {**defaults, **override}.items()}
            text = (_render.render_special({"_name": folder}) + shared_text
                    + _render.render_param_lines(params, helps))  # fmt: skip
            data = {"_name": folder, **shared, **params}
            _stage(staging / folder, text, data)
            state["experiments"][folder] = {k: _params.to_plain(v) for k, v in override.items()}
            index.append((xs.root / folder, data))
            final.append(folder)
        _place(xs, staging, final, placed)
        xs._write_state(state)
    except BaseException:
        for directory in placed:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        (xs.root / JOURNAL).unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    _index.record(xs.root, index)
    return final


# A link first writes its folders into a hidden staging folder of the set, then records the
# names it is about to move into the set in the journal, moves them, writes experiment.yml
# and deletes the journal. Killed at any point (even by SIGKILL), it leaves only a staging
# folder or journaled folders that experiment.yml does not list: the next link (or relink,
# clean) removes them, so no orphan is ever renamed ``..._1``.
STAGING_PREFIX = ".fexp-staging-"
JOURNAL = ".fexp-link-journal.json"


def _stage(directory: pathlib.Path, text: str, data: dict[str, Any]) -> None:
    """Write one experiment folder in the staging folder, unseen by any reader."""
    from . import _index

    directory.mkdir()
    path = directory / _layout.PARAMS_FILE
    _index.remember(path, data, _atomic.create_new(path, text), new=True)


def _place(xs: ExperimentSet, staging: pathlib.Path, names: list[str],
           placed: list[pathlib.Path]) -> None:
    """Journal ``names``, then move each staged folder into the set."""
    _atomic.atomic_write(xs.root / JOURNAL, json.dumps(names))
    for name in names:
        target = xs.root / name
        os.rename(staging / name, target)
        placed.append(target)


def recover(xs: ExperimentSet) -> list[str]:
    """Undo what an interrupted link left (under the set's lock): its staging folders and
    the journaled folders experiment.yml does not list. Returns the names removed."""
    from ._core import names as rules

    for entry in os.listdir(xs.root):
        if entry.startswith(STAGING_PREFIX):
            shutil.rmtree(xs.root / entry, ignore_errors=True)
    journal = xs.root / JOURNAL
    try:
        names = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        names = []
    if not journal.exists():
        return []
    managed = xs.state()["experiments"]
    removed = []
    for name in names if isinstance(names, list) else []:
        folder = xs.root / str(name)
        if (rules.stored_name_problem(name) is None and name not in managed
                and folder.is_dir() and not folder.is_symlink()):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(name)
    journal.unlink(missing_ok=True)
    return removed

"""``link``: turn a sweep into registered experiment folders of a set.

The whole request (sweep, config file, every value against its parameter's type, names) is
validated before the first write; then, under the set's lock, folders and params.yml files
are written and experiment.yml is updated once. On any failure the new folders are removed.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _atomic, _errors, _layout, _meta, _params, _yaml

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


def folder_names(configs: Sequence[Mapping[str, Any]], name: str | None, repeats: int) -> list[str]:
    """Folder names before collision suffixes (pure)."""
    from . import _naming

    if repeats < 1:
        raise _errors.ConfigError(
            f"-x/--repeats must be at least 1, got {repeats}", source="option --repeats"
        )
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

    head = xs.head()  # a missing set is reported before anything else
    specs = xs.specs()
    kind = _experiment_kind(head)
    raw_points = plan_points(sweep, config=config, samples=samples, seed=seed, points=points)
    source = _sweep.render_source(sweep, "argument SWEEP") if sweep else "sweep"
    overrides = cast_points(raw_points, specs, kind, source)
    names = folder_names(overrides, name, repeats)
    per_name = [o for o in overrides for _ in range(repeats)]
    defaults = {n: s.fresh_default() for n, s in specs.items()}
    helps = {n: s.help for n, s in specs.items()}
    with xs.locked():
        return _write(xs, names, per_name, defaults, helps, purpose)


def _experiment_kind(head: Mapping[str, Any]) -> str | None:
    ref = head.get("ref")
    return ref.rpartition(":")[2] if isinstance(ref, str) and ref else None


def _version(xs: ExperimentSet) -> dict[str, Any]:
    cls = xs.experiment_class()
    if cls is not None:
        return cls.version_info()
    defaults = _yaml.read_mapping(xs.paths.defaults)
    return dict(defaults.get("_version") or {})


#: Requests up to this size claim their folder names one by one (O(1) in the set's size);
#: larger ones list the set once.
FEW = 16


class _Taken:
    """Every name a new folder must not take (managed names and existing entries, in any
    case: macOS and Windows file systems ignore it), listed once."""

    def __init__(self, xs: ExperimentSet) -> None:
        self.names = set(xs.names()) | set(os.listdir(xs.root))
        self.lower = {t.lower() for t in self.names}

    def claim(self, base: str) -> str:
        from . import _naming

        folder = _naming.unique_name(base, self.names) if base.lower() in self.lower else base
        self.names.add(folder)
        self.lower.add(folder.lower())
        return folder


def _claim(xs: ExperimentSet, base: str, taken: _Taken | None) -> tuple[str, _Taken | None]:
    """Create the folder for ``base`` (or a free variant of it); return its name and the
    taken names when they had to be listed."""
    if taken is None:
        # The fast path: mkdir is the collision test, plus the all-lowercase variant for
        # case-insensitive filesystems; any collision falls back to listing the set.
        variant = base.lower()
        if variant == base or not os.path.lexists(xs.root / variant):
            try:
                (xs.root / base).mkdir()
                return base, None
            except FileExistsError:
                pass
        taken = _Taken(xs)
    folder = taken.claim(base)
    (xs.root / folder).mkdir()
    return folder, taken


def _shared_specials(xs: ExperimentSet, purpose: str) -> dict[str, Any]:
    """Every special key but the name: shared by the whole request, rendered once."""
    now = _meta.now_iso()
    return {
        "_root": str(xs.root), "_status": "registered", "_purpose": purpose,
        "_created": now, "_registered": now, "_started": None, "_stopped": None,
        "_last": None, "_messages": {}, "_notes": [], "_version": _version(xs), "_meta": {},
    }


def _write(
    xs: ExperimentSet,
    names: list[str],
    overrides: list[dict[str, Any]],
    defaults: dict[str, Any],
    helps: dict[str, str],
    purpose: str,
) -> list[str]:
    from . import _find, _index, _render
    from ._store import set_file

    taken = _Taken(xs) if len(names) > FEW else None
    shared = _shared_specials(xs, purpose)
    shared_text = _render.render_special(shared)
    created: list[pathlib.Path] = []
    added: dict[str, dict[str, Any]] = {}
    index: list[tuple[pathlib.Path, os.stat_result, dict[str, Any]]] = []
    try:
        for base, override in zip(names, overrides, strict=True):
            folder, taken = _claim(xs, base, taken)
            directory = xs.root / folder
            created.append(directory)
            params = {k: _params.to_plain(v) for k, v in {**defaults, **override}.items()}
            text = (_render.render_special({"_name": folder}) + shared_text
                    + _render.render_param_lines(params, helps))
            # The folder is new and unlisted until experiment.yml's journal names it below.
            path = directory / _layout.PARAMS_FILE
            written = _atomic.create_new(path, text)
            data = {"_name": folder, **shared, **params}
            _index.remember(path, data, written, new=True)
            row = _find.row_from_data(directory, data, str(xs.root), records=[])  # no run yet
            index.append((directory, written, row))
            added[folder] = {k: _params.to_plain(v) for k, v in override.items()}
        set_file.amend(xs.root, added)
    except BaseException:
        for directory in created:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    _index.record(xs.root, index)
    return list(added)

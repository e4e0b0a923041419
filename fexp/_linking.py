"""``link``: turn a sweep into registered experiment folders of a set.

The whole request (sweep, config file, every value against its parameter's type, names) is
validated before the first write; then, under the set's lock, folders and params.yml files
are written into a staging folder, moved into the set under a link journal, and named in
experiment.yml's journal with one append (``_store.set_file``). On any failure the new
folders are removed; after a kill, ``recover`` removes them.
"""

from __future__ import annotations

import contextlib
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
    """Every name a new folder must not take (managed names, entries of the set and the
    folders this request staged, in any case: macOS and Windows file systems ignore it),
    listed once."""

    def __init__(self, xs: ExperimentSet, staging: pathlib.Path) -> None:
        self.names = set(xs.names()) | set(os.listdir(xs.root)) | set(os.listdir(staging))
        self.lower = {t.lower() for t in self.names}

    def claim(self, base: str) -> str:
        from . import _naming

        folder = _naming.unique_name(base, self.names) if base.lower() in self.lower else base
        self.names.add(folder)
        self.lower.add(folder.lower())
        return folder


def _claim(
    xs: ExperimentSet, staging: pathlib.Path, base: str, taken: _Taken | None
) -> tuple[str, _Taken | None]:
    """Create the staged folder for ``base`` (or a free variant of it); return its name and
    the taken names when they had to be listed."""
    if taken is None:
        # The fast path: the name (and its all-lowercase variant, for case-insensitive
        # filesystems) is free in the set, and mkdir in the staging folder is the test
        # against this request's own names; any collision falls back to listing the set.
        variant = base.lower()
        if not os.path.lexists(xs.root / base) and (
            variant == base or not os.path.lexists(xs.root / variant)
        ):
            try:
                (staging / base).mkdir()
                return base, None
            except FileExistsError:
                pass
        taken = _Taken(xs, staging)
    folder = taken.claim(base)
    (staging / folder).mkdir()
    return folder, taken


def _shared(xs: ExperimentSet, purpose: str) -> dict[str, Any]:
    """Every special key but the name: shared by the whole request (rendered once)."""
    now = _meta.now_iso()
    return {
        "_root": str(xs.root), "_status": _status.REGISTERED, "_purpose": purpose,
        "_created": now, "_registered": now, "_started": None, "_stopped": None,
        "_last": None, "_messages": {}, "_notes": [], "_version": _version(xs), "_meta": {},
    }


def _stage_one(
    xs: ExperimentSet, staging: pathlib.Path, folder: str, text: str, data: dict[str, Any]
) -> tuple[pathlib.Path, os.stat_result, dict[str, Any]]:
    """Write one staged params.yml (unseen by any reader until its folder is moved into the
    set); return what the row index records for it."""
    from . import _find, _index

    path = staging / folder / _layout.PARAMS_FILE
    written = _atomic.create_new(path, text)
    _index.remember(path, data, written, new=True)
    target = xs.root / folder
    return target, written, _find.row_from_data(target, data, str(xs.root), records=[])


def _write(
    xs: ExperimentSet,
    names: list[str],
    overrides: list[dict[str, Any]],
    defaults: dict[str, Any],
    helps: dict[str, str],
    purpose: str,
) -> list[str]:
    from . import _index, _render
    from ._store import set_file

    recover(xs)
    shared = _shared(xs, purpose)
    shared_text = _render.render_special(shared)
    added: dict[str, dict[str, Any]] = {}
    index: list[tuple[pathlib.Path, os.stat_result, dict[str, Any]]] = []
    staging = _staging(xs)
    placed: list[pathlib.Path] = []
    try:
        taken = _Taken(xs, staging) if len(names) > FEW else None
        for base, override in zip(names, overrides, strict=True):
            folder, taken = _claim(xs, staging, base, taken)
            params = {k: _params.to_plain(v) for k, v in {**defaults, **override}.items()}
            text = (_render.render_special({"_name": folder}) + shared_text
                    + _render.render_param_lines(params, helps))
            data = {"_name": folder, **shared, **params}
            index.append(_stage_one(xs, staging, folder, text, data))
            added[folder] = {k: _params.to_plain(v) for k, v in override.items()}
        _place(xs, staging, list(added), placed)
        # The commit point: one append to experiment.yml's journal (O(1) in the set's size).
        due = set_file.append(xs.root, added)
    except BaseException:
        for directory in placed:
            shutil.rmtree(directory, ignore_errors=True)
        _unstage(staging)
        (xs.root / JOURNAL).unlink(missing_ok=True)
        raise
    (xs.root / JOURNAL).unlink(missing_ok=True)
    _unstage(staging)
    _index.record(xs.root, index)
    if due:
        set_file.compact(xs.root)
    return list(added)


# A link first writes its folders into a hidden staging folder of the set, then records the
# names it is about to move into the set in the link journal, moves them, appends them to
# experiment.yml's journal and deletes the link journal. Killed at any point (even by
# SIGKILL), it leaves only a staging folder or journaled folders that experiment.yml does not
# list: the next link (or relink, clean) removes them, so no orphan is ever renamed ``_1``.
# The staging folders live in one folder of their own, so finding them never lists the set.
STAGING_DIR = ".fexp-staging"
JOURNAL = ".fexp-link-journal.json"


def _staging(xs: ExperimentSet) -> pathlib.Path:
    parent = xs.root / STAGING_DIR
    parent.mkdir(exist_ok=True)
    return pathlib.Path(tempfile.mkdtemp(dir=parent))


def _unstage(staging: pathlib.Path) -> None:
    """Remove a staging folder, and the staging parent once it is empty."""
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()


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

    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(xs.root / STAGING_DIR):
            _unstage(xs.root / STAGING_DIR / entry)
    journal = xs.root / JOURNAL
    try:
        names = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        names = []
    if not journal.exists():
        return []
    managed = set(xs.names())
    removed = []
    for name in names if isinstance(names, list) else []:
        folder = xs.root / str(name)
        if (rules.stored_name_problem(name) is None and name not in managed
                and folder.is_dir() and not folder.is_symlink()):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(name)
    journal.unlink(missing_ok=True)
    return removed

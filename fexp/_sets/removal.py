"""``fexp rm``: delete a whole set, or one experiment folder, only when fexp made it.

A set is trusted when its experiment.yml parses and has fexp's keys; a folder holding
anything fexp does not write there (a ``data/`` folder, notes, another tool's files) is
refused unless ``--force``. An experiment folder must hold a params.yml fexp wrote; removing
it also unlinks it from its set. A symbolic link is never followed.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil

from .. import _errors, _index, _layout

# What a set's own folder holds besides its experiment folders.
_SET_ENTRIES = frozenset(
    {
        _layout.DEFAULTS_FILE,
        _layout.SCRIPT_FILE,
        _layout.SET_FILE,
        _layout.LOCK_FILE,
        _layout.INDEX_FILE,
        _layout.GENERATED_DIR,
        _layout.CONFIGS_DIR,
        _layout.SERVICES_FILE,
    }
)


@dataclasses.dataclass(frozen=True)
class Removal:
    """What ``rm`` will delete: a set, or an experiment (and the set it is unlinked from)."""

    path: pathlib.Path
    kind: str
    parent: pathlib.Path | None = None


def _refuse(path: pathlib.Path, detail: str) -> _errors.ConfigError:
    return _errors.ConfigError(detail, source=f"argument DIRECTORY {str(path)!r}")


def _is_fexp_params(folder: pathlib.Path) -> bool:
    from .._core import records

    try:
        data = _index.read_mapping_cached(folder / _layout.PARAMS_FILE)
    except _errors.FexpError:
        return False
    return records.params_problem(data) is None


def _fexp_entry(root: pathlib.Path, name: str) -> bool:
    """Whether ``name`` in a set's folder is something fexp writes there."""
    if name in _SET_ENTRIES or name.startswith(".fexp"):
        return True
    if name.startswith(".") and (name.endswith((".json", ".tmp"))):
        return True  # the JSON twins and interrupted atomic writes of fexp's files
    path = root / name
    return path.is_dir() and not path.is_symlink() and _is_fexp_params(path)


def plan(directory: pathlib.Path, *, force: bool) -> Removal:
    """Decide what ``rm DIRECTORY`` deletes, refusing what fexp did not make.

    Raises:
        ConfigError: a link, not a folder, not a set or experiment, a corrupt set file,
            or (without ``force``) a folder holding files fexp does not write.
    """
    path = directory.absolute()
    if path.is_symlink():
        raise _refuse(
            directory,
            "is a symbolic link; rm follows no link. Give the real "
            "folder, or remove the link itself with the shell's rm",
        )
    if not path.is_dir():
        raise _refuse(directory, "not an experiment set or experiment folder; refusing to delete")
    if (path / _layout.SET_FILE).exists():
        _check_set(directory, path, force)
        return Removal(path, "set")
    if (path / _layout.PARAMS_FILE).exists():
        if not force and not _is_fexp_params(path):
            raise _refuse(
                directory,
                f"its {_layout.PARAMS_FILE} was not written by fexp (no "
                "_name/_status); pass --force to delete it anyway",
            )
        parent = path.parent if (path.parent / _layout.SET_FILE).exists() else None
        return Removal(path, "experiment", parent)
    raise _refuse(directory, "not an experiment set or experiment folder; refusing to delete")


def _check_set(directory: pathlib.Path, path: pathlib.Path, force: bool) -> None:
    """Refuse a set folder fexp may not have made, or (without ``force``) one holding
    files fexp does not write."""
    from .. import _yaml
    from .._store import set_state

    try:
        data = _yaml.read(path / _layout.SET_FILE)
    except _errors.FexpError as exc:
        raise _refuse(
            directory,
            f"its {_layout.SET_FILE} cannot be read ({exc.detail}); "
            "not deleting what may not be an fexp set",
        ) from None
    if not set_state.is_fexp_state(data):
        raise _refuse(
            directory,
            f"its {_layout.SET_FILE} was not written by fexp (no "
            "'created' and 'experiments' keys); refusing to delete",
        )
    foreign = sorted(n for n in _listdir(path) if not _fexp_entry(path, n))
    if foreign and not force:
        shown = ", ".join(repr(n) for n in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise _refuse(
            directory,
            f"the set also holds {shown}{more}, which fexp did not "
            "write; move them out, or pass --force to delete them too",
        )


def _listdir(path: pathlib.Path) -> list[str]:
    import os

    return os.listdir(path)


def remove(removal: Removal) -> None:
    """Delete what ``plan`` chose; an experiment is unlinked from its set first."""
    from .. import _config
    from .._expset import ExperimentSet

    if removal.kind == "experiment" and removal.parent is not None:
        xs = ExperimentSet(removal.parent)
        with xs.locked():
            state = xs.state()
            if removal.path.name in state["experiments"]:
                del state["experiments"][removal.path.name]
                xs._write_state(state)
            shutil.rmtree(removal.path)
        return
    shutil.rmtree(removal.path)
    if removal.kind == "set":
        _config.forget_missing_sets()

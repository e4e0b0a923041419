"""Changing many experiments of a set at once, all or nothing: unlink, relink, clean, reset
and note. Every target is read and validated under the set's lock before the first write,
so one corrupt params.yml stops the request with nothing changed.

``unlink`` records the names it removed under ``unlinked`` in experiment.yml; ``clean``
deletes only those folders, and only while their params.yml is one fexp wrote.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _errors, _find, _index, _layout
from .._store import set_file, set_state

if TYPE_CHECKING:
    from .._expset import ExperimentSet

UNLINKED_KEY = set_state.UNLINKED_KEY


def _params_path(xs: ExperimentSet, name: str) -> pathlib.Path:
    return xs.root / name / _layout.PARAMS_FILE


def read_all(xs: ExperimentSet, names: list[str], action: str) -> dict[str, dict[str, Any]]:
    """Each target's params.yml, once every one is known to be sound (else nothing is done).

    Raises:
        ExperimentStateError: a target's params.yml is missing, unreadable or corrupt.
    """
    from .._core import records

    found: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    for name in names:
        try:
            data = _index.read_mapping_cached(_params_path(xs, name))
        except _errors.FexpError as exc:
            bad.append(f"{name} ({exc.detail})")
            continue
        problem = records.params_problem(data)
        if problem:
            bad.append(f"{name} ({problem})")
        found[name] = data
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise _errors.ExperimentStateError(
            f"cannot {action}: {bad[0]}{more}; nothing was changed. Fix or unlink the corrupt "
            "experiment, or give a pattern that leaves it out",
            source=str(xs.root),
        )
    return found


def update_all(
    xs: ExperimentSet, pattern: str | None, action: str, change: Callable[[dict[str, Any]], None]
) -> list[str]:
    """Apply ``change`` to the params.yml of every experiment matching ``pattern``, all or
    nothing (the caller holds the set's lock)."""
    names = xs.names(pattern)
    found = read_all(xs, names, action)
    for name in names:
        change(found[name])
    for name in names:
        xs._write_params(xs.root / name, found[name])
    return names


def unlink(xs: ExperimentSet, pattern: str) -> list[str]:
    """See ``ExperimentSet.unlink``: one append to experiment.yml's journal, which also
    records the names under ``unlinked`` (for ``clean``)."""
    with xs.locked():
        names = xs.names(pattern)  # experiment.yml is checked first
        set_file.amend(xs.root, {}, names, unlinked=True)
    return names


def unmanaged(xs: ExperimentSet) -> list[str]:
    """Real experiment folders of the set (not links) that experiment.yml does not list."""
    from .._core import names as rules

    managed = set(xs.names())
    return [d.name for d in _find.experiment_dirs(xs.root)
            if d.name not in managed and not d.is_symlink()
            and rules.stored_name_problem(d.name) is None]


def cleanable(xs: ExperimentSet) -> list[str]:
    """The folders ``clean`` would delete: unlinked by ``fexp unlink``, still there, not
    managed again, holding a params.yml fexp wrote.

    Raises:
        ExperimentStateError: one of them is a symbolic link (fexp deletes no link target).
    """
    from .._core import records

    state = xs.state()
    doomed = []
    for name in set_state.unlinked(state):
        folder = xs.root / name
        if name in state["experiments"] or not os.path.lexists(folder):
            continue
        if folder.is_symlink() or not folder.is_dir():
            raise _errors.ExperimentStateError(
                f"unlinked experiment {name!r} is now a symbolic link or a file, not the folder "
                "fexp made; clean deletes nothing it did not make. Remove it yourself",
                source=str(xs.root),
            )
        try:
            data = _index.read_mapping_cached(folder / _layout.PARAMS_FILE)
        except _errors.FexpError:
            continue
        if records.params_problem(data) is None:
            doomed.append(name)
    return doomed


def clean(xs: ExperimentSet) -> list[str]:
    """See ``ExperimentSet.clean``."""
    from .. import _linking

    with xs.locked():
        _linking.recover(xs)
        doomed = cleanable(xs)
        state = xs.state()
        for name in doomed:
            shutil.rmtree(xs.root / name)
        kept = [n for n in set_state.unlinked(state)
                if n not in doomed and n not in state["experiments"]
                and os.path.lexists(xs.root / n)]
        if kept != set_state.unlinked(state):
            state[UNLINKED_KEY] = kept
            xs._write_state(state)
    return doomed


def relink(xs: ExperimentSet, pattern: str | None) -> list[str]:
    """See ``ExperimentSet.relink``: every folder to add or re-root is validated first."""
    from .. import _linking, _scripts

    with xs.locked():
        _linking.recover(xs)
        state = xs.state()
        added = _find.match_names(unmanaged(xs), pattern)
        moved = state.get("root") != str(xs.root)
        targets = list(state["experiments"]) + added if moved else added
        found = read_all(xs, targets, "relink")
        if moved:  # the head changes: a whole write
            for name in added:
                state["experiments"][name] = {}
            if added and UNLINKED_KEY in state:
                state[UNLINKED_KEY] = [n for n in set_state.unlinked(state) if n not in added]
            state["root"] = str(xs.root)
            xs._write_state(state)
        elif added:  # one append (names added again also leave ``unlinked``)
            set_file.amend(xs.root, dict.fromkeys(added, {}))
        for name in targets:
            data = found[name]
            if data.get("_root") != str(xs.root) or data.get("_name") != name:
                data["_root"], data["_name"] = str(xs.root), name
                xs._write_params(xs.root / name, data)
        if moved and state.get("ref"):
            _scripts.write_script(xs.root, state["ref"], env=state.get("env") or {})
    return added

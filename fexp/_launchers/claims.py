"""Claims: which experiments of a set a launch may start, taken atomically before launching.

A launch claims each experiment it will start (``queued``, owned by the launch, see
``fexp._store.owner``) under the set's lock, so a second ``fexp run`` on the same set never
starts it again; the launch settles the status of scripts that do not record one, claims
again for a retry, and gives back what it did not launch. ``--resume`` turns the
interrupted, failed and lost ones (``RESUMABLE``) back into registered ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import _errors, _meta
from .._core import status as _st
from .._store import owner as _owner
from .._store import params_file as _params_file

if TYPE_CHECKING:
    from .._expset import ExperimentSet

RESUMABLE = _st.RESUMABLE


def status_of(
    xs: ExperimentSet, name: str, liveness: _owner.Liveness | None = None
) -> tuple[str, dict[str, Any]]:
    """The effective status (``lost`` for a dead owner, ``corrupt``) and the data."""
    try:
        data = _params_file.read(xs.root / name)
    except _errors.FexpError:
        return _st.CORRUPT, {}
    from .._core import records

    if records.params_problem(data):  # empty or hand-broken: shown as corrupt, never run
        return _st.CORRUPT, {}
    return (liveness or _owner.Liveness()).status(data, xs.root / name), data


def settle(
    xs: ExperimentSet,
    name: str,
    returncode: int,
    stopped: bool = False,
    mine: Mapping[str, Any] | None = None,
) -> str:
    """Record the outcome of a blocking launch for scripts that did not record one (only
    while the launch's claim ``mine`` still holds the experiment)."""
    outcome = _st.FINISHED if returncode == 0 else _st.STOPPED if stopped else _st.ERROR

    def change(data: dict[str, Any]) -> bool:
        if mine is not None and not _params_file.owned_by(data, mine):
            return False
        current = str(data.get("_status", _st.REGISTERED))
        if current not in _st.ACTIVE or not _st.can_transition(current, outcome):
            return False
        data["_status"] = outcome
        data["_stopped"] = _meta.now_iso()
        return True

    with contextlib.suppress(_errors.FexpError):
        _params_file.update(xs.root / name, change, xs.helps())
    return status_of(xs, name)[0]



def prepare(xs: ExperimentSet, name: str) -> None:
    """Mark ``name`` registered again (its folder and checkpoints stay)."""

    def change(data: dict[str, Any]) -> bool:
        if data.get("_status", _st.REGISTERED) == _st.REGISTERED:
            return False
        data["_status"] = _st.REGISTERED
        data["_started"] = data["_stopped"] = None
        data.pop("_owner", None)
        return True

    _params_file.update(xs.root / name, change, xs.helps())


def reclaim(xs: ExperimentSet, name: str, mine: Mapping[str, Any], status: str) -> bool:
    """Claim ``name`` again for a retry (only while it is ``status`` under our claim)."""
    data = _params_file.claim(xs.root / name, mine, lambda now: now == status, reset=True)
    return data is not None


def prepare_resume(xs: ExperimentSet, pattern: str | None) -> list[str]:
    """Mark the interrupted, failed and lost experiments matching ``pattern``
    (``RESUMABLE``) registered again, keeping their folders and checkpoints; return their
    names. One whose owner is alive is left alone."""
    liveness = _owner.Liveness()
    names = [n for n in xs.names(pattern) if status_of(xs, n, liveness)[0] in RESUMABLE]
    for name in names:
        prepare(xs, name)
    return names


def _acceptor(force: bool, resume: bool) -> Callable[[str], bool]:
    def accept(now: str) -> bool:
        if now == _st.REGISTERED or (resume and now in RESUMABLE):
            return True
        return force and now not in (_st.RUNNING, _st.CORRUPT)

    return accept


def _matching(xs: ExperimentSet, pattern: str | None) -> list[str]:
    names = xs.names(pattern)
    if not names:
        raise _errors.ConfigError(
            f"no experiment in the set matches {pattern!r}", source=str(xs.root)
        )
    return names


def runnable(xs: ExperimentSet, pattern: str | None, force: bool) -> tuple[list[str], list[str]]:
    """(experiments to run, experiments skipped because they are not ``registered``), as
    the files say now (for a dry run: ``run_set`` claims instead)."""
    accept = _acceptor(force, resume=False)
    chosen: list[str] = []
    skipped: list[str] = []
    liveness = _owner.Liveness()
    for name in _matching(xs, pattern):
        status = status_of(xs, name, liveness)[0]
        (chosen if accept(status) and status not in _st.ACTIVE else skipped).append(name)
    return chosen, skipped


def claim_all(
    xs: ExperimentSet, pattern: str | None, mine: Mapping[str, Any], *, force: bool, resume: bool
) -> tuple[list[str], list[str]]:
    """Claim (``queued``, owner ``mine``) every matching experiment that may run and no live
    owner holds; return (claimed, skipped). Two launchers never claim the same one."""
    accept = _acceptor(force, resume)
    liveness = _owner.Liveness()
    chosen: list[str] = []
    skipped: list[str] = []
    with xs.locked():  # one lock for the whole selection; each claim re-enters it
        for name in _matching(xs, pattern):
            try:
                data = _params_file.claim(
                    xs.root / name, mine, accept, liveness=liveness, reset=force or resume
                )
            except _errors.YamlError:
                data = None
            (chosen if data is not None else skipped).append(name)
    return chosen, skipped

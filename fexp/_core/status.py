"""The statuses of an experiment: the only place their words are spelled, their groups, the
transitions between them, and the pure liveness rule that turns a dead owner into ``lost``.

Pure: no I/O. Whoever records a status goes through ``fexp._store.params_file``, which checks
the transition here; whoever shows one asks ``effective`` with facts it gathered itself.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

Status = Literal[
    "default",
    "registered",
    "queued",
    "running",
    "finished",
    "error",
    "stopped",
    "timeout",
    "preempted",
    "requeued",
    "pruned",
    "lost",
    "corrupt",
]
STATUSES: tuple[str, ...] = typing.get_args(Status)

DEFAULT: Status = "default"
REGISTERED: Status = "registered"
QUEUED: Status = "queued"
RUNNING: Status = "running"
FINISHED: Status = "finished"
ERROR: Status = "error"
STOPPED: Status = "stopped"
TIMEOUT: Status = "timeout"
PREEMPTED: Status = "preempted"
REQUEUED: Status = "requeued"
PRUNED: Status = "pruned"
LOST: Status = "lost"
CORRUPT: Status = "corrupt"

# Shown, never written: ``lost`` is an active status whose owner is gone, ``corrupt`` a
# params.yml that cannot be read.
DERIVED: tuple[str, ...] = (LOST, CORRUPT)
RECORDED: tuple[str, ...] = tuple(s for s in STATUSES if s not in DERIVED)
# Someone holds the experiment: it must not be started a second time.
ACTIVE: tuple[str, ...] = (QUEUED, RUNNING, REQUEUED)
# The run is over (successfully or not).
ENDED: tuple[str, ...] = (FINISHED, ERROR, STOPPED, TIMEOUT, PREEMPTED, PRUNED)
# Ended without success: ``fexp run`` exits 1, ``--stop-on-failure`` stops.
FAILED: tuple[str, ...] = (ERROR, STOPPED, TIMEOUT, PREEMPTED, CORRUPT, LOST)
# ``fexp run --resume`` runs these again in their folders, from their checkpoints.
RESUMABLE: tuple[str, ...] = (ERROR, STOPPED, TIMEOUT, PREEMPTED, REQUEUED, LOST)
# Parameters may still change.
EDITABLE: tuple[str, ...] = (DEFAULT, REGISTERED)

_INTERRUPTED = frozenset({STOPPED, TIMEOUT, PREEMPTED, ERROR, FINISHED, PRUNED})
TRANSITIONS: dict[str, frozenset[str]] = {
    DEFAULT: frozenset({REGISTERED}),
    REGISTERED: frozenset({QUEUED, RUNNING, PRUNED, STOPPED}),
    QUEUED: frozenset({QUEUED, RUNNING, REQUEUED} | _INTERRUPTED),
    RUNNING: frozenset({RUNNING, QUEUED, REQUEUED} | _INTERRUPTED),
    REQUEUED: frozenset({QUEUED, RUNNING, REQUEUED, STOPPED, ERROR, FINISHED}),
    FINISHED: frozenset(),
    ERROR: frozenset({QUEUED, RUNNING}),
    STOPPED: frozenset({QUEUED, RUNNING}),
    TIMEOUT: frozenset({QUEUED, RUNNING, REQUEUED}),
    PREEMPTED: frozenset({QUEUED, RUNNING, REQUEUED}),
    PRUNED: frozenset(),
}
"""Allowed ``old -> new`` changes a run makes; going back to ``registered`` (a reset) is
always allowed and not listed."""


def is_status(word: object) -> bool:
    """Whether ``word`` is one of the statuses."""
    return word in STATUSES


def can_transition(old: str, new: str) -> bool:
    """Whether a run may change the recorded status ``old`` into ``new``.

    Example:
        >>> can_transition("running", "finished"), can_transition("registered", "finished")
        (True, False)
    """
    if new in (old, REGISTERED, DEFAULT):
        return True
    return new in TRANSITIONS.get(old, frozenset())


Probe = Callable[[Mapping[str, Any]], bool | None]


def effective(status: str, owner: Mapping[str, Any] | None, alive: Probe) -> str:
    """The status to show: an active one whose owner ``alive`` says is gone becomes ``lost``.

    ``alive(owner)`` returns True, False, or None when it cannot tell (then the recorded
    status stands). An active status without an owner (written by an older fexp, or by a
    scheduler submission) stands as well.
    """
    if status not in ACTIVE or not owner:
        return status
    return LOST if alive(owner) is False else status


def owner_alive(
    owner: Mapping[str, Any],
    *,
    host: str,
    boot: str,
    now: float,
    timeout: float,
    process: Callable[[int, Any], bool],
    slurm: Callable[[str], bool | None],
    heartbeat: float | None,
) -> bool | None:
    """Decide whether ``owner`` (an ``_owner`` record) still holds its experiment.

    A SLURM owner is alive while its job is in the queue; an owner on this host (same boot)
    while its process lives (same start time, so a reused pid does not count); a detached
    launcher's claim for ``timeout`` seconds after it was made; an owner elsewhere while its
    ``heartbeat`` (a time) is younger than ``timeout`` seconds.
    """
    job = owner.get("slurm")
    if job:
        queued = slurm(str(job))
        if queued is not None:
            return queued
    since = float(owner.get("since") or 0)
    if owner.get("detached") and now - since < timeout:
        return True
    if owner.get("host") == host and owner.get("boot") == boot and owner.get("pid"):
        return process(int(owner["pid"]), owner.get("start"))
    last = max(heartbeat or 0.0, since)
    return now - last < timeout

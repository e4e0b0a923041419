"""The status module: groups, transitions and the pure liveness rule (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from fexp._core import status


def test_groups_are_made_of_statuses_and_derived_ones_are_never_recorded() -> None:
    for group in (status.ACTIVE, status.ENDED, status.FAILED, status.RESUMABLE):
        assert set(group) <= set(status.STATUSES)
    assert "lost" in status.RESUMABLE and "lost" not in status.RECORDED
    assert "pruned" in status.ENDED and "pruned" not in status.RESUMABLE
    assert set(status.TRANSITIONS) == set(status.RECORDED)


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        ("registered", "queued", True),
        ("queued", "running", True),
        ("running", "finished", True),
        ("registered", "finished", False),  # a reset is not overwritten by a late end
        ("finished", "running", False),
        ("pruned", "queued", False),
        ("finished", "registered", True),  # a reset is always allowed
        ("timeout", "requeued", True),
    ],
)
def test_transitions(old: str, new: str, allowed: bool) -> None:
    assert status.can_transition(old, new) is allowed


def _alive(owner: dict[str, Any], **facts: Any) -> bool | None:
    defaults: dict[str, Any] = {
        "host": "here",
        "boot": "b1",
        "now": 1000.0,
        "timeout": 60.0,
        "process": lambda pid, start: pid == 7,
        "slurm": lambda key: None,
        "heartbeat": None,
    }
    return status.owner_alive(owner, **{**defaults, **facts})


def test_liveness_rule() -> None:
    here = {"host": "here", "boot": "b1", "since": 990.0}
    assert _alive({**here, "pid": 7}) is True
    assert _alive({**here, "pid": 8}) is False
    # Another boot of this host: the pid means nothing, the heartbeat decides.
    assert _alive({**here, "boot": "b0", "pid": 7, "since": 0.0}) is False
    assert _alive({"host": "there", "pid": 7, "since": 0.0}, heartbeat=950.0) is True
    assert _alive({"host": "there", "pid": 7, "since": 0.0}, heartbeat=900.0) is False
    assert _alive({"slurm": "12_3"}, slurm=lambda key: key == "12_3") is True
    assert _alive({"slurm": "12_3"}, slurm=lambda key: False) is False
    assert _alive({**here, "pid": 8, "detached": True}) is True  # the launcher just left


def test_effective_status() -> None:
    assert status.effective("running", {"pid": 1}, lambda o: False) == "lost"
    assert status.effective("running", {"pid": 1}, lambda o: None) == "running"
    assert status.effective("running", None, lambda o: False) == "running"
    assert status.effective("finished", {"pid": 1}, lambda o: False) == "finished"

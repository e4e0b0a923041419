"""What the monitor needs from an experiment, and the running one (if any) as the default."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SupportsMessage(Protocol):
    """An experiment as seen by the monitor: a folder, a name and ``message``.

    ``fexp.Experiment`` satisfies it; tests use a small fake with these attributes.
    """

    directory: pathlib.Path | None
    name: str

    def message(
        self,
        values: dict[str, Any],
        keep: str = "latest",
        leader: str | None = None,
        step: int | None = None,
    ) -> None: ...


def is_experiment(value: object) -> bool:
    """Whether ``value`` can receive messages (has a callable ``message``)."""
    return not isinstance(value, type) and callable(getattr(value, "message", None))


def _current_experiment() -> SupportsMessage | None:
    """The fexp experiment running in this process, or None.

    Reads ``fexp._experiment.current()`` when that module is loaded: when it is not, no
    experiment can be running, and nothing is imported. Tests replace this function.
    """
    _experiment = sys.modules.get("fexp._experiment")
    current = getattr(_experiment, "current", None)
    if current is None:
        return None
    experiment = current()
    return experiment if is_experiment(experiment) else None


def on_interrupt(experiment: object, callback: Callable[[str], None]) -> bool:
    """Have ``experiment`` call ``callback(status)`` when it is stopped, timed out or preempted.

    Uses the experiment's ``on_interrupt`` (``fexp.Experiment`` has it); returns whether it did.
    """
    register = getattr(experiment, "on_interrupt", None)
    if not callable(register):
        return False
    register(callback)
    return True

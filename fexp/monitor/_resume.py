"""Resume from a Monitor's checkpoints: find, per object, the newest file that holds it."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping
from typing import Any

from fexp import _checkpoint, _errors, _layout

_CHECKPOINT_PREFIX = re.compile(r"(checkpoint_(?:[0-9]+_)?)[0-9]+\Z")


def prefixes(directory: pathlib.Path) -> list[str]:
    """The Monitor checkpoint prefixes present: ``checkpoint_`` and ``checkpoint_{i}_``."""
    try:
        names = [entry.name for entry in directory.iterdir()]
    except FileNotFoundError:
        return []
    return sorted({m.group(1) for n in names if (m := _CHECKPOINT_PREFIX.match(n))})


def restore(
    directory: pathlib.Path, step: int | None, attempt: bool, objects: Mapping[str, Any]
) -> tuple[dict[str, Any], _checkpoint.CheckpointRecord | None]:
    """Restore each object from the newest checkpoint holding it (at ``step`` if given).

    Returns the restored values and the newest record used (the counters to resume from).
    """
    found = [r for p in prefixes(directory) for r in _checkpoint.records(directory, p)]
    if step is not None:
        found = [r for r in found if r.step == step]
    chosen: dict[str, _checkpoint.CheckpointRecord] = {}
    for name in objects:
        holding = [r for r in found if name in r.keys]
        if holding:
            chosen[name] = max(holding, key=lambda r: r.step)
        elif not attempt:
            at = f" at step {step}" if step is not None else ""
            raise _errors.ExperimentStateError(
                f"no checkpoint{at} holds {name!r}", source=str(directory)
            )
    if not objects and not found and not attempt:
        raise _errors.ExperimentStateError("no checkpoint to load", source=str(directory))
    restored: dict[str, Any] = {}
    for path in {r.path for r in chosen.values()}:
        names = [n for n, r in chosen.items() if r.path == path]
        assert path is not None
        restored.update(_checkpoint.read_path(path, {n: objects[n] for n in names}, names=names))
    records = list(chosen.values()) if objects else found
    return restored, max(records, key=lambda r: r.step, default=None)


def load(
    directory: str | pathlib.Path, step: int | None = None, attempt: bool = True, **objects: Any
) -> dict[str, Any]:
    """Restore ``objects`` from the checkpoints a Monitor saved under ``directory``.

    Returns ``{name: restored}``; objects with ``load_state_dict`` are restored in place.

    Example:
        >>> import tempfile
        >>> load(tempfile.mkdtemp(), model=object())
        {}
    """
    restored, _ = restore(pathlib.Path(directory) / _layout.CHECKPOINT_DIR, step, attempt, objects)
    return restored

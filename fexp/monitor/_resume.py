"""Resume from a Monitor's checkpoints: find, per object, the newest file that holds it,
restore it in place where the caller's object allows, and say where each loop stood."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any

from fexp import _checkpoint, _errors, _layout

_CHECKPOINT_PREFIX = re.compile(r"(checkpoint_(?:[0-9]+_)?)[0-9]+\Z")
_POSITION = re.compile(r"loop([0-9]+)\.(level|done)\Z")


def positions_to_counters(positions: Sequence[tuple[int, int]]) -> dict[str, int]:
    """Encode the active loops, outermost first, as ``(level, items used this pass)`` into
    checkpoint counters: ``{"loop0.level": 1, "loop0.done": 3, "loop1.level": 0, ...}``."""
    out: dict[str, int] = {}
    for depth, (level, done) in enumerate(positions):
        out[f"loop{depth}.level"] = level
        out[f"loop{depth}.done"] = done
    return out


def positions_from_counters(counters: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    """Decode :func:`positions_to_counters`: ``{depth: (level, items to skip)}``.

    Example:
        >>> positions_from_counters({"step": 7, "loop0.level": 0, "loop0.done": 7})
        {0: (0, 7)}
    """
    found: dict[int, dict[str, int]] = {}
    for key, value in counters.items():
        match = _POSITION.match(str(key))
        if match and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return {
        depth: (entry["level"], entry["done"])
        for depth, entry in found.items()
        if set(entry) == {"level", "done"}
    }


def in_place(target: Any, value: Any) -> Any:
    """Put ``value`` into ``target`` when ``target`` can hold it (a dict, a list, a numpy
    array of the same shape and dtype) and return ``target``; else return ``value``."""
    if target is None or target is value:
        return value
    if isinstance(target, MutableMapping) and isinstance(value, Mapping):
        target.clear()
        target.update(value)
        return target
    if isinstance(target, MutableSequence) and isinstance(value, (list, tuple)):
        target[:] = value
        return target
    shape, dtype = getattr(target, "shape", None), getattr(target, "dtype", None)
    flags = getattr(target, "flags", None)
    if (
        shape is not None
        and shape == getattr(value, "shape", None)
        and dtype == getattr(value, "dtype", None)
        and getattr(flags, "writeable", False)
        and type(target).__module__ == "numpy"
    ):
        import numpy as np

        np.copyto(target, value)
        return target
    return value


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
        saved = sorted({r.step for r in found})
        found = [r for r in found if r.step == step]
        if not found:
            raise _errors.ExperimentStateError(
                f"no checkpoint at step {step} to load: saved steps are "
                f"{', '.join(map(str, saved)) or 'none'} (older ones are deleted as ckpt_keep "
                "says); pass one of them, or step=None for the newest",
                source=str(directory),
            )
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
        values = _checkpoint.read_path(path, {n: objects[n] for n in names}, names=names)
        restored.update({n: in_place(objects[n], v) for n, v in values.items()})
    records = list(chosen.values()) if objects else found
    return restored, max(records, key=lambda r: r.step, default=None)


def load(
    directory: str | pathlib.Path, step: int | None = None, attempt: bool = True, **objects: Any
) -> dict[str, Any]:
    """Restore ``objects`` from the checkpoints a Monitor saved under ``directory``.

    Returns ``{name: restored}``. Objects with ``load_state_dict``, dicts, lists and numpy
    arrays of the saved shape and dtype are restored in place (and returned); anything else
    (None, a number, a tuple) comes back only in the returned dict.

    Example:
        >>> import tempfile
        >>> load(tempfile.mkdtemp(), model=object())
        {}
    """
    restored, _ = restore(pathlib.Path(directory) / _layout.CHECKPOINT_DIR, step, attempt, objects)
    return restored

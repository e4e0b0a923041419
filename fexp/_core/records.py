"""Shape rules for what experiments leave on disk (pure): the special keys of a params.yml
and the records of a messages.jsonl. A file that breaks them makes its experiment one
``corrupt`` row (never run, never a crash of a whole listing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import limits

# Special key -> the types its value may have (None is always allowed but for the two
# keys every params.yml fexp writes has).
_SHAPES: dict[str, tuple[type, ...]] = {
    "_name": (str,),
    "_status": (str,),
    "_root": (str,),
    "_purpose": (str,),
    "_messages": (dict,),
    "_notes": (list,),
    "_version": (dict,),
    "_meta": (dict,),
    "_attempts": (list,),
    "_slurm": (dict,),
    "_requeues": (int,),
}
REQUIRED = ("_name", "_status")
_NUMBER = (int, float)


def _type_name(value: Any) -> str:
    return type(value).__name__


def params_problem(data: Mapping[str, Any]) -> str | None:
    """Why parsed params.yml ``data`` is not one fexp could have written, or None.

    Example:
        >>> params_problem({"_name": "a", "_status": "registered", "_notes": 5})
        "corrupt: '_notes' is a int, expected list"
    """
    if not data:
        return "corrupt: params.yml is empty (fexp always writes _name and _status)"
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        return (
            f"corrupt: params.yml has no {' or '.join(missing)} (fexp always writes _name and "
            "_status); "
            "it is never run"
        )
    for key, types in _SHAPES.items():
        value = data.get(key)
        if value is None and key != "_status":  # _name is null before an experiment registers
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            return f"corrupt: {key!r} is a {_type_name(value)}, expected {expected}"
    notes = data.get("_notes") or []
    if not all(isinstance(n, str) for n in notes):
        return "corrupt: '_notes' must be a list of texts"
    return None


def record_problem(record: Mapping[str, Any]) -> str | None:
    """Why one decoded messages.jsonl record is malformed, or None.

    Example:
        >>> record_problem({"t": "x", "m": {}})
        "corrupt message record: 't' is 'x', not a number"
    """
    for key, required in (("t", True), ("step", False)):
        value = record.get(key)
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            return (
                f"corrupt message record: {key!r} is {limits.clip(repr(value), 40)}, not a number"
            )
    if not isinstance(record.get("m"), dict):
        return "corrupt message record: 'm' is not a mapping"
    if record.get("keep", "latest") not in ("latest", "min", "max"):
        return f"corrupt message record: keep {limits.clip(repr(record.get('keep')), 40)}"
    leader = record.get("leader")
    if leader is not None and not isinstance(leader, str):
        return "corrupt message record: 'leader' is not a text"
    return None


def records_problem(records: list[dict[str, Any]]) -> str | None:
    """The first problem of a message log's records, or None."""
    for number, record in enumerate(records, start=1):
        problem = record_problem(record)
        if problem:
            return f"messages.jsonl record {number}: {problem}"
    return None

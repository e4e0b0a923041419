"""The shape of the global config file (pure): which type each key must have. A config.yml
edited by hand into the wrong shape is one clear error, never a crash (even of --help).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import limits

# key -> (allowed types, what to write instead); None is allowed for every key.
_SHAPES: dict[str, tuple[tuple[type, ...], str]] = {
    "header": ((list,), "a YAML list of lines"),
    "python": ((str,), "a path to an interpreter"),
    "prompt": ((bool,), "true or false"),
    "root": ((str,), "a folder"),
    "env": ((dict,), "a mapping of NAME: value"),
    "meta": ((list,), "a list of groups"),
    "experiments": ((dict,), "a mapping of name -> {ref, description}"),
    "sets": ((list,), "a list of set folders"),
}


def config_problem(data: Mapping[str, Any]) -> str | None:
    """Why parsed config.yml ``data`` has the wrong shape, or None.

    Example:
        >>> config_problem({"prompt": "yes"})
        "key 'prompt' is a str, expected true or false"
    """
    for key, (types, expected) in _SHAPES.items():
        value = data.get(key)
        if value is not None and not isinstance(value, types):
            return f"key {key!r} is a {type(value).__name__}, expected {expected}"
    for key in ("header", "sets", "meta"):
        if not all(isinstance(v, str) for v in data.get(key) or []):
            return f"key {key!r} must hold texts only"
    for name, entry in (data.get("experiments") or {}).items():
        if (
            not isinstance(name, str)
            or not isinstance(entry, dict)
            or not isinstance(entry.get("ref"), str)
        ):
            return (
                f"experiment {limits.clip(repr(name))} must be a mapping with a 'ref' "
                "text (module:attr)"
            )
        if not isinstance(entry.get("description") or "", str):
            return f"the description of experiment {name!r} must be a text"
    return None

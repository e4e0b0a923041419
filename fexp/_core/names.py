"""Rules for names read from files others may have written (pure, no I/O).

An experiment name stored in ``experiment.yml``, a bundle or a params.yml becomes a folder
of the set: it must be exactly one plain path component. Whether it stays inside the set
once symbolic links are followed is checked by ``fexp._naming.check_stored_names``.
"""

from __future__ import annotations

from typing import Any

from . import limits

_FORBIDDEN = ("/", "\\", "\0", "\n", "\r")


def stored_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be an experiment folder of a set, or None when it can.

    Example:
        >>> stored_name_problem("lr=0.1"), stored_name_problem("../x")
        (None, "name '../x' is not one folder name (it holds '/')")
    """
    if not isinstance(name, str):
        return f"name {limits.clip(repr(name))} is a {type(name).__name__}, not a folder name"
    shown = limits.clip(repr(name))
    if not name or name in (".", ".."):
        return f"name {shown} is not a folder name"
    bad = [c for c in _FORBIDDEN if c in name]
    if bad:
        return f"name {shown} is not one folder name (it holds {bad[0]!r})"
    if name.startswith((".", "-", "~")) or ":" in name[:2]:
        return f"name {shown} starts like a hidden file, an option or a drive"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return f"name {shown} is not valid text (a lone surrogate)"
    if len(encoded) > 255:
        return f"name {shown} is longer than a file system allows"
    return None

"""Rules for names read from files others may have written (pure, no I/O).

An experiment name stored in ``experiment.yml``, a bundle or a params.yml becomes a folder
of the set: it must be exactly one plain path component. Whether it stays inside the set
once symbolic links are followed is checked by ``fexp._naming.check_stored_names``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


# After joining names with NUL (which no name may hold): where a name starts with a
# hidden-file, option or drive character, is empty, or holds a separator or line break.
_SUSPECT = re.compile(r"(?:^|\0)(?:[.\-~:\0]|.:|$)|[/\\\n\r]")


def surely_plain(names: Sequence[Any]) -> bool:
    """Whether every name surely passes ``stored_name_problem`` (a few scans of one joined
    text, for the 100,000 names of a large set); False means: ask it for each name.

    Example:
        >>> surely_plain(["a=1", "b"]), surely_plain(["a", ".hidden"])
        (True, False)
    """
    if not names:
        return True
    try:
        joined = "\0".join(names)
    except TypeError:  # a name that is not a text
        return False
    if joined.count("\0") != len(names) - 1 or _SUSPECT.search(joined):
        return False
    longest = max(map(len, names))
    return longest <= 255 // 4 or (longest <= 255 and joined.isascii())

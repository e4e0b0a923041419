"""Experiment folder names: ``key=value`` pairs joined by ``__``, safe, bounded, hashed - pure.

A generated name is one path component made only of ``A-Z a-z 0-9 _ . , + = -`` (plus an
``@`` before a hash): no shell quoting is ever needed and no value can escape a set's root.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import re
import string
from collections.abc import Collection, Mapping
from typing import Any

from . import _errors, _layout, _params

DEFAULT_NAME = "default"
"""The name of a point with no overrides."""

HASH_SEP = "@"
"""Separates a name's readable part from its hash (as in ``image@sha256:...``)."""

MAX_NAME_LEN = 200
"""The longest experiment name a user may choose with ``--name``."""

_PAIR_SEP = "__"
_CLEAN_CHARS = frozenset(string.ascii_letters + string.digits + "_.,+=-")
_USER_CHARS = _CLEAN_CHARS | {HASH_SEP}
_ATOM_RE = re.compile(r"[A-Za-z0-9_.+@-]+\Z")
_UNSAFE_RUN_RE = re.compile(r"[^A-Za-z0-9_.,+=-]+")
_HASH_LEN = 8
_RESERVED = frozenset(
    name.lower()
    for name in (
        _layout.DEFAULTS_FILE,
        _layout.SCRIPT_FILE,
        _layout.SET_FILE,
        _layout.CONFIG_FILE,
        _layout.GENERATED_DIR,
        _layout.LOCK_FILE,
    )
)


# --------------------------------------------------------------------------- rendering


def render_value(value: Any) -> str:
    """Render one parameter value compactly for a folder name (before making it safe).

    None is ``null``, booleans ``true``/``false``, floats their Python repr (``0.001``,
    ``1e-05``), strings themselves. A list of scalars is its items joined by ``,``
    (``[64, 64]`` -> ``64,64``) and a mapping of scalars its ``key=value`` items joined by
    ``,`` (``{x: 1}`` -> ``x=1``); anything deeper is a compact flow rendering, which the
    caller's safety step turns into a hashed name. The renderings of different types may
    coincide (``1`` and ``'1'``): a parameter has one type, so one key never mixes them.

    Example:
        >>> render_value([64, 64]), render_value(1e-3), render_value(None)
        ('64,64', '0.001', 'null')
    """
    value = _params.to_plain(value)
    if isinstance(value, list) and value and all(_is_scalar(v) for v in value):
        return ",".join(_atom(v) for v in value)
    if (
        isinstance(value, Mapping)
        and value
        and all(_is_scalar(v) and _is_scalar(k) for k, v in value.items())
    ):
        return ",".join(f"{_atom(k)}={_atom(v)}" for k, v in value.items())
    if isinstance(value, str):
        return value
    return _atom(value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (list, tuple, Mapping))


def _atom(value: Any) -> str:
    """Render a value nested in a list or mapping; strings that need it are JSON-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(int(value))
        except ValueError:  # More digits than Python prints in decimal.
            return hex(int(value))
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else str(float(value))
    if isinstance(value, str):
        return value if _ATOM_RE.match(value) else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_atom(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_atom(k)}:{_atom(v)}" for k, v in value.items()) + "}"
    plain = _params.to_plain(value)
    if plain is not value:
        return _atom(plain)
    return json.dumps(str(value))


def _ambiguous(key: str, rendered: str) -> bool:
    """Whether splitting ``key=value__...`` on ``__`` and ``=`` could not recover this pair."""
    return (
        "=" in key
        or _PAIR_SEP in key
        or key.startswith("_")
        or _PAIR_SEP in rendered
        or rendered.endswith("_")
    )


def _digest(pairs: list[tuple[str, str]]) -> str:
    encoded = json.dumps(pairs, ensure_ascii=True).encode("ascii")
    return hashlib.sha1(encoded).hexdigest()[:_HASH_LEN]


def name_for(point: Mapping[str, Any], *, max_len: int = 120) -> str:
    """Name an experiment folder after the parameters that differ from the defaults.

    ``key=value`` pairs (``render_value``) are joined by ``__`` in the point's order, e.g.
    ``lr=0.01__layers=64,64``. When a pair holds characters outside
    ``A-Z a-z 0-9 _ . , + = -`` (each run becomes ``-``), could not be split back
    unambiguously (``__`` or a trailing ``_`` in a value, ``=`` in a key), or the name is
    longer than ``max_len``, the readable part is cut to fit and ``@`` plus 8 hex digits of
    the SHA-1 of all the pairs is appended, so distinct points never share a name. The
    name never starts with ``.`` or ``-``; the empty point is ``default``.

    Args:
        point: parameter name -> value (plain data, Paths and Enums).
        max_len: the longest name returned; at least 16.

    Example:
        >>> name_for({"lr": 0.01, "layers": [64, 64]})
        'lr=0.01__layers=64,64'
        >>> name_for({"data": "/tmp/x y"})
        'data=-tmp-x-y@a2193937'
    """
    if max_len < 16:
        raise ValueError(f"max_len must be at least 16, got {max_len}")
    if not point:
        return DEFAULT_NAME
    pairs = [(str(key), render_value(value)) for key, value in point.items()]
    raw = _PAIR_SEP.join(f"{key}={rendered}" for key, rendered in pairs)
    safe = _UNSAFE_RUN_RE.sub("-", raw)
    if safe[0] in ".-":
        safe = "_" + safe[1:]
    lossy = safe != raw or any(_ambiguous(key, rendered) for key, rendered in pairs)
    if not lossy and len(safe) <= max_len:
        return safe
    return safe[: max_len - _HASH_LEN - 1] + HASH_SEP + _digest(pairs)


# --------------------------------------------------------------------------- collisions


def unique_name(name: str, taken: Collection[str]) -> str:
    """Return ``name``, or the first free ``name_1``, ``name_2``, ...

    Names that differ only in case collide (macOS and Windows file systems ignore case).

    Example:
        >>> unique_name("lr=0.1", {"lr=0.1", "LR=0.1_1"})
        'lr=0.1_2'
    """
    lowered = {t.lower() for t in taken}
    if name.lower() not in lowered:
        return name
    index = 1
    while f"{name}_{index}".lower() in lowered:
        index += 1
    return f"{name}_{index}"


def repeat_names(name: str, repeats: int) -> list[str]:
    """Name the ``-x N`` repeats of one configuration: ``name__rep=0`` ... ``name__rep=N-1``.

    The suffix reads like one more ``key=value`` pair, so listings and filters show it; a
    single repeat keeps the bare name. Indexes are not zero-padded, so asking for more
    repeats later never renames the existing ones.

    Raises:
        ConfigError: ``repeats`` is smaller than 1.

    Example:
        >>> repeat_names("lr=0.1", 2)
        ['lr=0.1__rep=0', 'lr=0.1__rep=1']
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise _errors.ConfigError(
            f"the number of repeats must be at least 1, got {repeats!r}.", source="argument -x"
        )
    if repeats == 1:
        return [name]
    return [f"{name}{_PAIR_SEP}rep={index}" for index in range(repeats)]


# --------------------------------------------------------------------------- user names


def check_name(name: str, *, source: str = "argument --name") -> str:
    """Validate an experiment name chosen by the user and return it unchanged.

    A name is one path component of ``A-Z a-z 0-9 _ . , + = @ -``, at most 200 characters,
    not starting with ``.`` or ``-``, and not one of a set's own files (``script.sh``...).

    Raises:
        ConfigError: listing every problem with the name.

    Example:
        >>> check_name("baseline_v2")
        'baseline_v2'
    """
    problems: list[str] = []
    if not name:
        problems.append("it is empty")
    elif name in (".", ".."):
        problems.append("'.' and '..' are not folder names")
    else:
        if name[0] in ".-":
            problems.append(f"it starts with {name[0]!r}")
        if len(name) > MAX_NAME_LEN:
            problems.append(f"it is {len(name)} characters long (at most {MAX_NAME_LEN})")
        bad = sorted({c for c in name if c not in _USER_CHARS})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            problems.append(f"it contains {shown}, which paths or shells do not allow")
        if name.lower() in _RESERVED:
            problems.append("it is the name of one of the set's own files")
    if problems:
        raise _errors.ConfigError(
            f"invalid experiment name {name!r}: {'; '.join(problems)}. Use letters, digits "
            "and _ . , + = @ - only, not starting with '.' or '-'.",
            source=source,
        )
    return name


def is_inside(root: pathlib.Path, path: pathlib.Path) -> bool:
    """Return whether ``path`` is strictly below ``root`` once both are resolved.

    ``root`` itself is not inside ``root``. Symlinks are followed, so a link pointing out
    of the root is outside; a path that cannot be resolved (a symlink loop) is outside.

    Example:
        >>> is_inside(pathlib.Path("/a"), pathlib.Path("/a/b/../c"))
        True
    """
    try:
        resolved_root = root.resolve()
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return False
    return resolved != resolved_root and resolved.is_relative_to(resolved_root)


#: More names than this are checked against one listing of the set, not a stat each.
_LISTED = 64


def check_stored_names(root: pathlib.Path, names: Collection[Any], *, source: str) -> None:
    """Validate experiment names read from a file (``experiment.yml``, a bundle): each is one
    folder name, and its folder (when it exists) stays inside ``root`` after links resolve.

    Raises:
        YamlError: the file at ``source`` is corrupt, naming the first bad name.
    """
    from ._core import names as rules

    names = list(names)
    for name in [] if rules.surely_plain(names) else names:
        problem = rules.stored_name_problem(name)
        if problem is not None:
            raise _corrupt_name(problem, source)
    resolved_root: pathlib.Path | None = None
    for name in _links(root, names):
        resolved_root = resolved_root or root.resolve()
        if not is_inside(resolved_root, root / name) or (
            (root / name).resolve().parent != resolved_root
        ):
            raise _corrupt_name(f"folder {name!r} is a link that leads outside the set", source)


def _links(root: pathlib.Path, names: list[str]) -> list[str]:
    """The ``names`` whose folder in ``root`` is a symbolic link."""
    if len(names) <= _LISTED:
        return [n for n in names if os.path.islink(os.path.join(root, n))]
    try:
        with os.scandir(root) as entries:
            links = {e.name for e in entries if e.is_symlink()}
    except OSError:
        return []
    return [n for n in names if n in links] if links else []


def _corrupt_name(problem: str, source: str) -> _errors.YamlError:
    return _errors.YamlError(
        f"corrupt: {problem}; an experiment name must be one folder inside the set. "
        "Fix or remove that entry by hand; nothing was changed",
        source=source,
    )

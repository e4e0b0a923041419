"""Validation of a set's ``experiment.yml`` as read from disk (it may be hand-edited, or come
from a bundle): the mapping of experiments must exist and every name in it must be one
folder inside the set. A file that fails is corrupt: exit 2, nothing written.
"""

from __future__ import annotations

import pathlib
from typing import Any

from .. import _errors

# The keys fexp writes into every experiment.yml (``fexp init``); ``rm`` trusts a folder as
# a set only when its experiment.yml has them.
REQUIRED_KEYS = ("created", "experiments")
# The names ``fexp unlink`` removed from the set, whose folders ``fexp clean`` may delete.
UNLINKED_KEY = "unlinked"


def check_state(data: dict[str, Any], root: pathlib.Path, path: pathlib.Path) -> dict[str, Any]:
    """Return ``data`` (experiment.yml parsed) once it is known to be a sound set state.

    Raises:
        YamlError: no ``experiments`` mapping, an entry whose overrides are not a mapping,
            or a name that is not one folder inside the set.
    """
    experiments = data.get("experiments")
    if not isinstance(experiments, dict):
        what = "no" if experiments is None else f"a {type(experiments).__name__} as"
        raise _errors.YamlError(
            f"corrupt: {what} 'experiments' mapping (name -> overrides); fexp will not guess "
            "which folders are experiments. Restore the file (or run `fexp relink` after "
            "writing `experiments: {}` into it)",
            source=str(path),
        )
    check_names(root, list(experiments), path)
    for name, overrides in experiments.items():
        if overrides is not None and not isinstance(overrides, dict):
            raise _errors.YamlError(
                f"corrupt: the overrides of {name!r} are a {type(overrides).__name__}, "
                "not a mapping",
                source=str(path),
            )
        if overrides is None:
            experiments[name] = {}
    return data


def is_fexp_state(data: Any) -> bool:
    """Whether parsed experiment.yml data looks like one fexp wrote (for ``fexp rm``)."""
    return (
        isinstance(data, dict)
        and all(k in data for k in REQUIRED_KEYS)
        and isinstance(data.get("experiments"), dict)
    )


def check_names(root: pathlib.Path, names: list[Any], path: pathlib.Path) -> None:
    """Every name is one folder inside the set (experiment.yml at ``path`` is corrupt else).

    Raises:
        YamlError: naming the first bad name.
    """
    from .. import _naming

    _naming.check_stored_names(root, names, source=str(path))


def unlinked(state: dict[str, Any]) -> list[str]:
    """The names recorded under ``unlinked`` (anything else there is ignored)."""
    value = state.get(UNLINKED_KEY) or []
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []

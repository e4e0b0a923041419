"""Compatibility names for the row index and JSON twins, which live in ``fexp/_store``
(``_store.index`` and ``_store.twin``); kept so callers and tests import one stable place."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._store import twin as _twin

read_mapping_cached = _twin.read_mapping_cached
remember = _twin.remember


def read_rows(
    root: pathlib.Path,
    dirs: Sequence[pathlib.Path],
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``dirs`` (experiment folders of the set at ``root``); see ``_store.index``."""
    return read_named_rows(root, [d.name for d in dirs], keep)


def read_named_rows(
    root: pathlib.Path,
    names: Sequence[str],
    keep: Callable[[dict[str, Any]], bool] | None = None,
    pre: Callable[[Any, str], bool] | None = None,
    *,
    complete: bool = True,
) -> list[dict[str, Any]]:
    """Rows for the experiment folders ``names`` of the set at ``root`` (``complete``: all
    of its experiments)."""
    from . import _find
    from ._store import index as _store_index

    root_text = str(root)

    def build(directory: pathlib.Path, log: dict[str, Any] | None) -> dict[str, Any]:
        if log is None:  # no log: nothing to hand over
            return _find.read_row(directory, root_text)
        return _find.read_row(directory, root_text, log=log)

    return _store_index.read_rows(root, names, build, keep, pre, complete=complete)


def record(root: pathlib.Path, written: Iterable[tuple[pathlib.Path, Any, dict[str, Any]]]) -> None:
    """Append the rows of folders ``link`` just wrote; see ``_store.index.record``."""
    from ._store import index as _store_index

    _store_index.record(root, written)

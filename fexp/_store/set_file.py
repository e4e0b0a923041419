"""experiment.yml through its journal: the set's description, read and amended in O(1).

experiment.yml stays the human-readable description of a set; between two compactions the
journal (``.fexp-journal.jsonl``) holds the experiments linked or unlinked since, so adding
one experiment to a set of 100,000 never re-renders the other 99,999. Every reader goes
through here and sees ``experiment.yml + journal``. Three twins keyed by experiment.yml's
identity serve the parse: the whole mapping, its head (everything but ``experiments``) and
the experiment names. A hand edit of experiment.yml changes its identity, so it is parsed
again and honoured; the journal's records are applied on top of it and folded in by the
next writer. Writers hold the set's lock.

experiment.yml is untrusted (hand edits, bundles): every parse is checked by
``set_state.check_state`` before a head or names twin is made from it, ``read_names`` checks
every name it returns (the journal's too), and a compaction checks the whole first; a corrupt
file raises ``YamlError`` (exit 2, nothing written). ``unlink`` records (``u``) also keep the
``unlinked`` list that ``fexp clean`` deletes from.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _atomic, _layout
from . import journal, set_state, twin

HEADER = "# fexp experiment set: managed by fexp, edit with care\n"
MIN_COMPACT_BYTES = 64 * 1024


def _paths(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    return root / _layout.SET_FILE, root / _layout.SET_JOURNAL_FILE


def _parse(path: pathlib.Path) -> dict[str, Any]:
    """experiment.yml's mapping, from its twin or parsed, checked (``set_state``: a corrupt
    file raises); the head and names twins are (re)made whenever this runs, since a reader
    of them lands here only when they are stale, so they only ever hold a sound file."""
    ident = twin.identity(path)
    data = set_state.check_state(twin.read_mapping_cached(path), path.parent, path)
    if ident is not None and ident == twin.identity(path):
        _write_part_twins(path.parent, ident, data)
    return data


def _write_part_twins(root: pathlib.Path, ident: list[int], data: Mapping[str, Any]) -> None:
    experiments = data.get("experiments")
    names = list(experiments) if isinstance(experiments, dict) else []
    head = {k: v for k, v in data.items() if k != "experiments"}
    twin.write_twin(root / _layout.SET_HEAD_TWIN, ident, head)
    twin.write_twin(root / _layout.SET_NAMES_TWIN, ident, names)


def _consistent(root: pathlib.Path, load: Any) -> tuple[Any, list[dict[str, Any]]]:
    """``load(ident)`` of experiment.yml and the journal's records, read so that a compaction
    racing this reader is never half seen (experiment.yml unchanged across the read)."""
    path, log = _paths(root)
    for _ in range(8):
        ident = twin.identity(path)
        data = load(ident)
        _, records, _ = journal.read(log)
        if twin.identity(path) == ident:
            break
    return data, records


def _apply(experiments: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    for record in records:
        name = record.get("n")
        if not isinstance(name, str):
            continue
        if record.get("d"):
            experiments.pop(name, None)
        else:
            experiments[name] = record.get("o") if isinstance(record.get("o"), dict) else {}
    return experiments


def _apply_unlinked(head: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """``head`` with its ``unlinked`` list after the journal's records: an unlink record
    (``u``) adds its name, an experiment added again leaves the list."""
    unlinked = dict.fromkeys(set_state.unlinked(head))
    changed = False
    for record in records:
        name = record.get("n")
        if not isinstance(name, str):
            continue
        if record.get("d") and record.get("u"):
            changed = changed or name not in unlinked
            unlinked[name] = None
        elif not record.get("d") and name in unlinked:
            del unlinked[name]
            changed = True
    if changed:
        head[set_state.UNLINKED_KEY] = sorted(unlinked)
    return head


def read_state(root: pathlib.Path) -> dict[str, Any]:
    """The whole description: experiment.yml with the journal's experiments applied (as
    written; ``ExperimentSet.state`` checks it)."""
    path, _ = _paths(root)
    data, records = _consistent(root, lambda ident: twin.read_mapping_cached(path))
    data = dict(data)
    experiments = data.get("experiments")
    if records and (experiments is None or isinstance(experiments, dict)):
        data["experiments"] = _apply(dict(experiments or {}), records)
        _apply_unlinked(data, records)
    return data


def _load_part(root: pathlib.Path, twin_name: str, part: Any) -> Any:
    path = root / _layout.SET_FILE

    def load(ident: list[int] | None) -> Any:
        cached = twin.read_twin(root / twin_name, ident)
        return cached if cached is not None else part(_parse(path))

    return _consistent(root, load)


def read_head(root: pathlib.Path) -> dict[str, Any]:
    """experiment.yml without its ``experiments`` (ref, env, root, notes ...): small, fast.

    Raises:
        YamlError: experiment.yml is corrupt (``set_state.check_state``).
    """
    head, records = _load_part(
        root, _layout.SET_HEAD_TWIN, lambda d: {k: v for k, v in d.items() if k != "experiments"}
    )
    head = dict(head) if isinstance(head, dict) else {}
    return _apply_unlinked(head, records) if records else head


def read_names(root: pathlib.Path) -> list[str]:
    """The names of the set's experiments, in order (without parsing their overrides), each
    checked to be one folder inside the set.

    Raises:
        YamlError: experiment.yml (or its journal) is corrupt (``set_state``).
    """

    def names_of(data: Mapping[str, Any]) -> list[str]:
        experiments = data.get("experiments")
        return list(experiments) if isinstance(experiments, dict) else []

    found, records = _load_part(root, _layout.SET_NAMES_TWIN, names_of)
    names = [str(n) for n in found] if isinstance(found, list) else []
    if records:
        names = list(_apply(dict.fromkeys(names), records))
    set_state.check_names(root, names, root / _layout.SET_FILE)
    return names


def write_state(root: pathlib.Path, state: Mapping[str, Any]) -> None:
    """Write the whole description (a compaction: the journal restarts empty). Under lock."""
    from .. import _render

    path, log = _paths(root)
    written = _atomic.atomic_write(path, HEADER + _render.yaml_block(dict(state)))
    ident = twin.identity_of(written)
    twin.remember(path, dict(state), written)
    _write_part_twins(root, ident, state)
    journal.start(log, ident)


def append(
    root: pathlib.Path,
    added: Mapping[str, Any],
    removed: Sequence[str] = (),
    *,
    unlinked: bool = False,
) -> bool:
    """Record experiments added (name -> overrides) and removed (``unlinked``: and listed
    under ``unlinked`` for ``fexp clean``) with one append, in O(1) for the set's size.
    Return whether a compaction is due: the journal outgrew a quarter of experiment.yml (so
    the amortised cost stays constant), or experiment.yml is not the file the journal
    amends (a hand edit, or a compaction cut short). Call it under the set's lock."""
    path, log = _paths(root)
    mark = {"u": 1} if unlinked else {}
    records: list[dict[str, Any]] = [{"n": n, "d": 1, **mark} for n in removed]
    records += [{"n": n, "o": dict(o)} for n, o in added.items()]
    if not records:
        return False
    ident = twin.identity(path)
    exists, base = journal.read_base(log)
    size = journal.append(log, records, ident)
    yml_size = ident[2] if ident is not None else 0
    return (exists and base != ident) or size > max(MIN_COMPACT_BYTES, yml_size // 4)


def compact(root: pathlib.Path) -> None:
    """Fold the journal (and any hand edit) into experiment.yml, once the whole is known
    to be sound. Under lock."""
    path, _ = _paths(root)
    write_state(root, set_state.check_state(read_state(root), root, path))


def amend(
    root: pathlib.Path,
    added: Mapping[str, Any],
    removed: Sequence[str] = (),
    *,
    unlinked: bool = False,
) -> None:
    """``append``, then ``compact`` when it is due. Call it under the set's lock."""
    if append(root, added, removed, unlinked=unlinked):
        compact(root)

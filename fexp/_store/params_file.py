"""THE reader and writer of an experiment's ``params.yml``: every change goes through here.

A change is a read-modify-write under the set's lock (the ``.fexp.lock`` of the folder that
holds the experiment), so a job recording its status never drops a note or a reset another
process wrote meanwhile. Files are written atomically (``fexp._atomic``) and remembered in
the JSON twin. A claim records the owner (``fexp._store.owner``); writers that hold one check
it (``owned_by``) and the transition (``fexp._core.status.can_transition``) inside their
change, so a run whose claim was taken away (reset, claimed by someone else) no longer
writes its status.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .. import _atomic, _errors, _layout
from .._core import records as _records
from .._core import status as _status
from . import owner as _owner

Change = Callable[[dict[str, Any]], bool | None]
"""Changes parsed params.yml data in place; returning False leaves the file alone."""

FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def path_of(directory: pathlib.Path) -> pathlib.Path:
    return directory / _layout.PARAMS_FILE


def lock_of(directory: pathlib.Path) -> pathlib.Path:
    """The lock of the set that holds ``directory``."""
    return directory.parent / _layout.LOCK_FILE


@contextlib.contextmanager
def locked(directory: pathlib.Path) -> Iterator[None]:
    """Hold the lock of the set that holds ``directory``."""
    with _atomic.locked(lock_of(directory)):
        yield


def read(directory: pathlib.Path) -> dict[str, Any]:
    """The parsed params.yml of ``directory``.

    Raises:
        YamlError: the file is missing, malformed or not a mapping.
    """
    from .. import _index

    return _index.read_mapping_cached(path_of(directory))


def render(data: Mapping[str, Any], helps: Mapping[str, str] | None = None) -> str:
    from .. import _render

    special = {k: v for k, v in data.items() if str(k).startswith("_")}
    params = {k: v for k, v in data.items() if not str(k).startswith("_")}
    return _render.render_params(special, params, helps or {})


def write(
    directory: pathlib.Path,
    data: Mapping[str, Any],
    helps: Mapping[str, str] | None = None,
    *,
    durable: bool = True,
    twin: bool = True,
) -> None:
    """Replace params.yml with ``data`` (the caller holds the set's lock); ``twin=False``
    leaves the JSON twin stale (readers parse the YAML once) to save a file write."""
    from .. import _index

    path = path_of(directory)
    text = render(data, helps)
    try:
        written = _atomic.atomic_write(path, text, durable=durable)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
            raise storage_error(exc, path) from None
        written = _rewrite_in_place(path, text, exc)
    if twin:
        _index.remember(path, dict(data), written)


def _rewrite_in_place(path: pathlib.Path, text: str, cause: OSError) -> os.stat_result:
    """The disk is full: overwrite the file's own blocks so the final status still lands."""
    try:
        with open(path, "r+b") as handle:
            handle.truncate(0)
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
            return os.fstat(handle.fileno())
    except OSError:
        raise storage_error(cause, path) from None


def storage_error(exc: OSError, path: pathlib.Path | str) -> Exception:
    """A full disk or read-only folder as a user error naming the path (else ``exc``)."""
    if exc.errno not in FULL:
        return exc
    where = exc.filename or str(path)
    what = "is read-only" if exc.errno == errno.EROFS else "has no space left"
    return _errors.StorageError(
        f"cannot write there: the file system {what} ({os.strerror(exc.errno or 0)}); free "
        "space or make it writable, then run the command again",
        source=str(where),
    )


def update(
    directory: pathlib.Path,
    change: Change,
    helps: Mapping[str, str] | None = None,
    *,
    durable: bool = True,
    twin: bool = True,
) -> dict[str, Any] | None:
    """Read params.yml under the set's lock, ``change`` it, write it back; the data written
    (None when the file is missing or ``change`` returned False)."""
    with locked(directory):
        if not path_of(directory).exists():
            return None
        data = read(directory)
        if change(data) is False:
            return None
        write(directory, data, helps, durable=durable, twin=twin)
        return data


def update_many(
    root: pathlib.Path,
    names: Sequence[str],
    change: Callable[[str, dict[str, Any]], bool | None],
    helps: Mapping[str, str] | None = None,
) -> list[str]:
    """``update`` for many experiments of one set under one lock (one sync for many)."""
    bulk = len(names) > 32
    done = []
    with _atomic.locked(root / _layout.LOCK_FILE):
        for name in names:
            directory = root / name
            try:
                data = read(directory)
            except _errors.FexpError:
                continue
            if change(name, data) is False:
                continue
            write(directory, data, helps, durable=not bulk)
            done.append(name)
        if bulk and done:
            os.sync()
    return done


def owned_by(data: Mapping[str, Any], mine: Mapping[str, Any] | None) -> bool:
    """Whether params.yml ``data`` is still held by the owner ``mine`` (None: by nobody)."""
    held = data.get("_owner")
    if mine is None:
        return not held
    return _owner.same(held, mine)


def claim(
    directory: pathlib.Path,
    mine: Mapping[str, Any],
    accept: Callable[[str], bool],
    *,
    status: str = _status.QUEUED,
    liveness: _owner.Liveness | None = None,
    reset: bool = False,
) -> dict[str, Any] | None:
    """Take the experiment for ``mine``: under the lock, when ``accept`` its effective status
    (``lost`` for a dead owner) and no other live owner holds it, record ``status`` and
    ``_owner``; return the data written, else None. ``reset`` also clears started/stopped."""
    check = liveness or _owner.Liveness()

    def change(data: dict[str, Any]) -> bool:
        if _records.params_problem(data):
            return False  # empty or hand-broken: shown as corrupt, never run (not even --force)
        now = check.status(data, directory)
        held = data.get("_owner")
        if _owner.same(held, mine):
            now = str(data.get("_status", _status.REGISTERED))
        elif now in _status.ACTIVE and held:
            return False  # a live owner holds it
        if not accept(now):
            return False
        data["_status"] = status
        data["_owner"] = dict(mine)
        if reset:
            data["_started"] = data["_stopped"] = None
        return True

    # A claim is undone by the run that follows within seconds: no fsync, no twin.
    return update(directory, change, durable=False, twin=False)


def release(directory: pathlib.Path, mine: Mapping[str, Any]) -> None:
    """Give back a claim nothing was launched for: ``registered`` again, no owner."""

    def change(data: dict[str, Any]) -> bool:
        if not owned_by(data, mine) or data.get("_status") != _status.QUEUED:
            return False
        data["_status"] = _status.REGISTERED
        data.pop("_owner", None)
        return True

    with contextlib.suppress(_errors.FexpError, OSError):
        update(directory, change)


def clear_outputs(directory: pathlib.Path) -> None:
    """Delete everything a run produced in ``directory``, keeping params.yml (and its twin)."""
    import shutil

    for path in directory.iterdir():
        if path.name in _layout.INTERNAL_FILES:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def reset(
    directory: pathlib.Path,
    status: str,
    helps: Mapping[str, str] | None = None,
    *,
    keep_outputs: bool = False,
) -> dict[str, Any] | None:
    """Set ``status`` (dropping the owner, so a run still going no longer writes) and, unless
    ``keep_outputs`` or the status is an ended one, delete the run's outputs and messages."""

    def change(data: dict[str, Any]) -> bool:
        data["_status"] = status
        data.pop("_owner", None)
        if status in _status.EDITABLE:
            data["_started"] = data["_stopped"] = None
            if not keep_outputs:
                data["_messages"] = {}
                data.pop("_attempts", None)
        return True

    with locked(directory):
        written = update(directory, change, helps)
        if status in _status.EDITABLE and not keep_outputs:
            clear_outputs(directory)
    return written

"""Atomic file writes and per-set file locks: every write fexp makes goes through here."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any

from . import _errors

DEFAULT_LOCK_TIMEOUT = 60.0


def atomic_write(path: pathlib.Path, text: str | bytes, *, mode: int | None = None,
                 durable: bool = True) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix.

    A unique temporary file in the same folder is written, fsynced and renamed over
    ``path``. ``mode`` sets the permissions (e.g. ``0o755`` for scripts). ``durable=False``
    skips the fsync (still atomic for every reader; bulk writers sync once at the end).
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(lock_path: pathlib.Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``lock_path`` (re-entrant in one process).

    Raises:
        LockTimeout: another process held the lock for longer than ``timeout`` seconds.
    """
    import filelock

    lock = _lock_for(str(lock_path))
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise _errors.LockTimeout(
            f"another fexp process has held this lock for more than {timeout:g} s; "
            "retry when it is done",
            source=str(lock_path),
        ) from None
    try:
        yield
    finally:
        lock.release()


_LOCKS: dict[str, Any] = {}


def _lock_for(path: str) -> Any:
    """One FileLock object per path and process, so nested ``locked`` calls re-enter."""
    import filelock

    lock = _LOCKS.get(path)
    if lock is None:
        lock = _LOCKS[path] = filelock.FileLock(path)
    return lock

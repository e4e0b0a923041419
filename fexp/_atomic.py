"""Atomic file writes and per-set file locks: every write fexp makes goes through here."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import threading
import time
from collections.abc import Iterator

from . import _errors

DEFAULT_LOCK_TIMEOUT = 60.0


def atomic_write(
    path: pathlib.Path, text: str | bytes, *, mode: int | None = None, durable: bool = True
) -> os.stat_result:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix.

    A unique temporary file in the same folder is written, fsynced and renamed over
    ``path``. ``mode`` sets the permissions (e.g. ``0o755`` for scripts). ``durable=False``
    skips the fsync (still atomic for every reader; bulk writers sync once at the end).
    Returns the new file's ``stat`` (taken before the rename, so it is exactly this file's).
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
        written = os.stat(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _name(exc, path)
        raise
    return written


def _name(exc: BaseException, path: pathlib.Path) -> None:
    """Let an OSError of a write name the file it was for (a full disk names the path)."""
    if isinstance(exc, OSError) and not exc.filename:
        exc.filename = str(path)


def create_new(path: pathlib.Path, text: str | bytes) -> os.stat_result:
    """Create ``path``, which must not exist, in one step (no temporary file).

    For files in folders created moments ago under the set's lock and not yet listed in
    experiment.yml, where no reader can look: ``link`` writes thousands of these.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, text.encode("utf-8") if isinstance(text, str) else text)
        written = os.fstat(fd)
    except BaseException as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        _name(exc, path)
        raise
    os.close(fd)
    return written


@contextlib.contextmanager
def locked(lock_path: pathlib.Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``lock_path`` (re-entrant in one process).

    The lock is an ``flock`` on the file, so the kernel releases it when its holder dies.

    Raises:
        LockTimeout: another process held the lock for longer than ``timeout`` seconds.
    """
    key = str(lock_path)
    held = _held()
    if key in held:  # re-entrant: this thread already holds it
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    # Each thread opens its own descriptor; flock excludes other descriptors of this process
    # as well as other processes.
    fd = _acquire(lock_path, timeout)
    held[key] = 1
    try:
        yield
    finally:
        del held[key]
        os.close(fd)  # closing the descriptor releases the flock


_LOCAL = threading.local()


def _held() -> dict[str, int]:
    """Locks held by the current thread (path -> nesting depth)."""
    held: dict[str, int] | None = getattr(_LOCAL, "held", None)
    if held is None:
        held = _LOCAL.held = {}
    return held


def _acquire(lock_path: pathlib.Path, timeout: float) -> int:
    import fcntl

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _errors.LockTimeout(
                    f"another fexp process has held this lock for more than {timeout:g} s; "
                    "retry when it is done",
                    source=str(lock_path),
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

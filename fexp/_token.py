"""Tokens: named counting semaphores shared by the processes of one machine (experimaestro).

A token NAME with COUNT slots is the folder ``$FEXP_HOME/tokens/NAME/``: a ``count`` file and
one file per slot. A holder keeps an exclusive ``fcntl.flock`` on one slot file, so at most
COUNT holders run at once; the kernel drops the lock when the holder exits or is killed, so
a crashed holder never keeps its slot. This module never prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import random
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from . import _atomic, _config, _errors, _layout

COUNT_FILE = "count"
SLOT_PREFIX = "slot-"
ENV_VAR = "FEXP_TOKENS"
MAX_COUNT = 4096


def _fcntl() -> Any:
    try:
        import fcntl
    except ImportError:  # Windows: tokens need POSIX file locks.
        raise _errors.ConfigError("tokens need POSIX file locks (fcntl); not available on "
                                  "this platform") from None
    return fcntl


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds one slot of a token (as the holder wrote it when it took the slot)."""

    slot: int
    pid: int | None
    host: str
    since: str
    label: str


def tokens_root() -> pathlib.Path:
    """The folder holding every token of this machine: ``$FEXP_HOME/tokens``."""
    return _config.home() / _layout.TOKENS_DIR


def check_token(name: str, count: int, *, source: str = "token") -> None:
    """Refuse a token name that is not one safe path component, or a count below 1."""
    from . import _naming

    problems = []
    try:
        _naming.check_name(name, source=f"{source} name")
    except _errors.ConfigError as exc:
        problems.append(str(exc))
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        problems.append(f"{source} {name!r}: count must be an integer from 1 to {MAX_COUNT}, "
                        f"got {count!r}")
    if problems:
        raise _errors.ConfigError(" ".join(problems))


class Token:
    """One claim on a named token with ``count`` slots; a context manager.

    Example:
        >>> with Token("gpu", 1):  # doctest: +SKIP
        ...     train()  # at most one process of this machine is in here at once
    """

    def __init__(self, name: str, count: int = 1, *, timeout: float | None = None,
                 poll: float = 0.05, label: str = "") -> None:
        check_token(name, count)
        self.name = name
        self.count = count
        self.timeout = timeout
        self.poll = poll
        self.label = label
        self.directory = tokens_root() / name
        self.slot: int | None = None
        self._file: IO[bytes] | None = None

    def __repr__(self) -> str:
        held = f" holding slot {self.slot}" if self.slot is not None else ""
        return f"Token({self.name!r}, {self.count}){held}"

    @property
    def held(self) -> bool:
        return self._file is not None

    # -- capacity ---------------------------------------------------------------------------
    def _stored_count(self) -> int:
        """The token's capacity on this machine, fixed by its first user."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / COUNT_FILE
        if not path.exists():
            # Written aside, then hard-linked into place: readers never see a partial file,
            # and of several first users exactly one wins.
            fd, tmp = tempfile.mkstemp(prefix=".count.", dir=self.directory)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(f"{self.count}\n")
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        text = path.read_text(encoding="utf-8").strip()
        if not text.isdigit():
            raise _errors.ConfigError(
                f"corrupt token count {text!r}; delete the file or run "
                f"`fexp token {self.name} --count N`", source=str(path))
        return int(text)

    def _check_count(self) -> None:
        stored = self._stored_count()
        if stored != self.count:
            raise _errors.ConfigError(
                f"token {self.name!r} has {stored} slot(s) on this machine, but count="
                f"{self.count} was asked; use the same count everywhere, or change it with "
                f"`fexp token {self.name} --count {self.count}` while no one holds it",
                source="argument count")

    # -- acquire / release ----------------------------------------------------------------
    def acquire(self, timeout: float | None = None, *, blocking: bool = True) -> bool:
        """Take a free slot, waiting up to ``timeout`` seconds (None: forever).

        Returns False only when ``blocking`` is False and every slot is taken.

        Raises:
            LockTimeout: no slot became free within ``timeout`` seconds.
            ExperimentStateError: this object already holds a slot.
        """
        if self._file is not None:
            raise _errors.ExperimentStateError(f"{self!r} is already held; release it first")
        self._check_count()
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._try_slots():
                return True
            if not blocking:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                raise _errors.LockTimeout(
                    f"every one of the {self.count} slot(s) of token {self.name!r} stayed taken "
                    f"for {timeout:g} s (holders: {_describe(self.holders())})",
                    source=str(self.directory))
            time.sleep(self.poll * (0.5 + random.random()))

    def _try_slots(self) -> bool:
        fcntl = _fcntl()
        for slot in random.sample(range(self.count), self.count):
            handle = open(self.directory / f"{SLOT_PREFIX}{slot}", "a+b")  # noqa: SIM115
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            if self._stored_count() <= slot:  # Resized while we waited: not a slot anymore.
                handle.close()
                continue
            self._file, self.slot = handle, slot
            self._write_holder(handle)
            return True
        return False

    def _write_holder(self, handle: IO[bytes]) -> None:
        # Written in place: the slot file is the lock itself (its inode must stay), and what
        # it says about the holder is only shown by `fexp tokens`.
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        label = self.label.replace("\t", " ").replace("\n", " ")
        line = f"{os.getpid()}\t{socket.gethostname()}\t{stamp}\t{label}\n"
        handle.seek(0)
        handle.truncate()
        handle.write(line.encode("utf-8"))
        handle.flush()

    def release(self) -> None:
        """Give the slot back (nothing happens when no slot is held)."""
        handle, self._file, self.slot = self._file, None, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.truncate(0)
        handle.close()  # Closing the file drops the flock.

    def __enter__(self) -> Token:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- inspection -----------------------------------------------------------------------
    def holders(self) -> list[Holder]:
        """The slots held right now, with what each holder wrote about itself."""
        return holders(self.name)

    def resize(self, count: int) -> None:
        """Change the capacity; every slot must be free (held by no process).

        Raises:
            ExperimentStateError: some slot is held.
        """
        check_token(self.name, count)
        fcntl = _fcntl()
        stored = self._stored_count()
        handles = []
        try:
            for slot in range(stored):
                handle = open(self.directory / f"{SLOT_PREFIX}{slot}", "a+b")  # noqa: SIM115
                handles.append(handle)
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise _errors.ExperimentStateError(
                        f"token {self.name!r} is in use (holders: {_describe(self.holders())}); "
                        "resize it when no process holds it", source=str(self.directory)
                    ) from None
            _atomic.atomic_write(self.directory / COUNT_FILE, f"{count}\n")
            self.count = count
        finally:
            for handle in handles:
                handle.close()


def _describe(found: list[Holder]) -> str:
    if not found:
        return "none visible"
    return ", ".join(f"pid {h.pid} on {h.host}" + (f" ({h.label})" if h.label else "")
                     for h in found)


def holders(name: str) -> list[Holder]:
    """The held slots of token ``name``, from its slot files (empty for an unknown token)."""
    fcntl = _fcntl()
    directory = tokens_root() / name
    out = []
    for path in sorted(directory.glob(f"{SLOT_PREFIX}*")):
        slot = path.name[len(SLOT_PREFIX):]
        if not slot.isdigit():
            continue
        with open(path, "rb") as handle:
            try:  # A shared lock is granted only when no one holds the slot.
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                out.append(_parse_holder(int(slot), handle.read().decode("utf-8", "replace")))
    return out


def _parse_holder(slot: int, text: str) -> Holder:
    pid, host, since, label = ([*text.strip("\n").split("\t"), "", "", "", ""])[:4]
    return Holder(slot, int(pid) if pid.isdigit() else None, host, since, label)


def known() -> dict[str, int]:
    """Every token of this machine with its capacity."""
    out = {}
    root = tokens_root()
    if root.is_dir():
        for path in sorted(root.iterdir()):
            count = path / COUNT_FILE
            text = count.read_text(encoding="utf-8").strip() if count.is_file() else ""
            if text.isdigit():
                out[path.name] = int(text)
    return out


def token(name: str, count: int = 1, *, timeout: float | None = None, label: str = "") -> Token:
    """A token NAME with COUNT slots on this machine; use it as ``with fexp.token(...):``.

    At most ``count`` holders (processes or threads, each with its own ``Token``) are inside
    at once; the others wait. A holder killed by any signal frees its slot at once.

    Example:
        >>> with token("gpu", 1):  # doctest: +SKIP
        ...     train()
    """
    return Token(name, count, timeout=timeout, label=label)


# -- declared tokens: parse, render, hold ------------------------------------------------


def parse_tokens(text: str, *, source: str = ENV_VAR) -> dict[str, int]:
    """Parse ``"gpu:1,disk:2"`` (a bare name means count 1) into ``{"gpu": 1, "disk": 2}``.

    Example:
        >>> parse_tokens("gpu:2, license")
        {'gpu': 2, 'license': 1}
    """
    specs: dict[str, int] = {}
    problems = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, count = part.partition(":")
        if count and not count.strip().isdigit():
            problems.append(f"{part!r}: the count after ':' must be a positive integer")
            continue
        specs[name.strip()] = int(count) if count else 1
    for name, slots in specs.items():
        try:
            check_token(name, slots, source="token")
        except _errors.ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise _errors.ConfigError("bad token list: " + "; ".join(problems) +
                                  " (write NAME:COUNT,NAME:COUNT)", source=source)
    return specs


def render_tokens(specs: Mapping[str, int]) -> str:
    """``{"gpu": 1}`` -> ``"gpu:1"`` (the inverse of :func:`parse_tokens`)."""
    return ",".join(f"{name}:{count}" for name, count in sorted(specs.items()))


def declared(cls: type, environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Tokens an experiment class declares (``tokens=``) plus those in ``$FEXP_TOKENS``."""
    environ = os.environ if environ is None else environ
    specs = dict(getattr(cls, "_tokens", None) or {})
    specs.update(parse_tokens(environ.get(ENV_VAR, "")))
    return specs


@contextlib.contextmanager
def holding(specs: Mapping[str, int], *, timeout: float | None = None, label: str = "",
            on_wait: Callable[[], None] | None = None) -> Iterator[list[Token]]:
    """Hold one slot of every token in ``specs`` (taken in name order, so that processes
    needing several tokens cannot deadlock); ``on_wait`` runs once if one must be waited for.
    """
    held: list[Token] = []
    waited = False
    try:
        for name in sorted(specs):
            claim = Token(name, specs[name], timeout=timeout, label=label)
            if not claim.acquire(blocking=False):
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                claim.acquire()
            held.append(claim)
        yield held
    finally:
        for claim in reversed(held):
            claim.release()

"""An append-only journal of JSON records beside a file it amends (crash-safe, NFS-safe).

The first line names the *base*: the identity (inode, mtime, size) of the file the records
amend, as it was when the journal was started. Every later line is one record, appended with
one ``os.write`` on an ``O_APPEND`` descriptor, so a SIGKILL leaves at most a torn last line,
which readers skip and the next writer ends with a newline. Appends are made under the owner's
lock (an ``flock``); nothing is memory-mapped, so it works on NFS-like filesystems.

Compaction is the owner's job: write the new base file atomically, then ``start`` a fresh
journal naming it. A crash between the two leaves records that the new base already holds;
they are ``set``/``delete`` records, so applying them again changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from typing import Any

from .. import _atomic

Identity = list[int]


def identity(path: pathlib.Path) -> Identity | None:
    """(inode, mtime_ns, size) of ``path``, or None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def _header(base: Identity | None) -> bytes:
    return (json.dumps({"base": base}) + "\n").encode("utf-8")


def start(path: pathlib.Path, base: Identity | None) -> None:
    """Replace the journal by an empty one amending the base file ``base`` (atomic)."""
    _atomic.atomic_write(path, _header(base), durable=False)


def append(path: pathlib.Path, records: list[dict[str, Any]], base: Identity | None) -> int:
    """Append ``records`` in one write (starting the journal on ``base`` if it is missing);
    return the journal's size afterwards. Call it under the owner's lock."""
    data = b"".join((json.dumps(r, separators=(",", ":")) + "\n").encode("utf-8") for r in records)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            data = _header(base) + data
        elif os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a writer was killed mid-line: end its torn line first
        os.write(fd, data)
        return size + len(data)
    finally:
        os.close(fd)


def read(path: pathlib.Path) -> tuple[Identity | None, list[dict[str, Any]], int]:
    """The journal's base identity, its complete records and its size (no journal: no
    records). A torn or corrupt line is skipped; a journal without a header has no base."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [], 0
    base: Identity | None = None
    records: list[dict[str, Any]] = []
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines = lines[:-1]  # a torn last line (its writer was killed)
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if not isinstance(record, dict):
                continue
            if number == 0 and "base" in record:
                found = record["base"]
                base = found if isinstance(found, list) else None
            else:
                records.append(record)
    return base, records, len(data)


def read_base(path: pathlib.Path) -> tuple[bool, Identity | None]:
    """Whether the journal exists, and the base identity its first line names."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
    except FileNotFoundError:
        return False, None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        found = json.loads(first).get("base")
        return True, found if isinstance(found, list) else None
    return True, None

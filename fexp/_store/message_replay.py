"""Incremental replay of a message log: remember where the last replay stopped and what it
reduced to, and next time read only the lines appended since.

Folding the new records onto the remembered state gives exactly what a replay from the start
gives, because ``replay`` is a left fold. A remembered state is used only when the log is the
same file (same inode), has not shrunk, and still has a line end where the last replay
stopped; otherwise the log is replayed from the start. Only complete lines move the
remembered offset: a torn last line counts in the result (as in a full replay) but is read
again next time, when its writer may have finished it. A record that breaks
``_core.records`` raises ``CorruptLog``: the caller reads the whole log, whose row is then
``corrupt`` (``_find.row_from_data``).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from .. import _messages


class CorruptLog(ValueError):
    """A record of the log is malformed (``_core.records.record_problem``)."""


#: (inode, offset after the last complete line, reduced messages at that offset)
State = list[Any]


def _valid(state: Any, st: os.stat_result, fd: int) -> bool:
    if not (isinstance(state, list) and len(state) == 3 and isinstance(state[2], dict)):
        return False
    inode, offset = state[0], state[1]
    if inode != st.st_ino or not isinstance(offset, int) or not 0 <= offset <= st.st_size:
        return False
    return offset == 0 or os.pread(fd, 1, offset - 1) == b"\n"


def advance(path: pathlib.Path, state: Any) -> tuple[dict[str, Any], State | None]:
    """The log's current messages and the state to remember (None: no log).

    Args:
        state: what the previous call returned for this log, or None.

    Raises:
        CorruptLog: a record read is malformed.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}, None
    try:
        st = os.fstat(fd)
        if not _valid(state, st, fd):
            state = [st.st_ino, 0, {}]
        offset, current = state[1], dict(state[2])
        chunks = []
        while True:
            chunk = os.pread(fd, max(st.st_size - offset, 1 << 16), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1
    _fold(current, data[:end])
    remembered: State = [st.st_ino, state[1] + end, dict(current)]
    if end < len(data):  # a torn last line: counted now, read again next time
        _fold(current, data[end:])
    return current, remembered


def _fold(current: dict[str, Any], data: bytes) -> None:
    """Apply the records in ``data`` onto ``current`` (``_messages.replay`` from a state).

    Raises:
        CorruptLog: a record is malformed.
    """
    from .._core import records

    for record in _messages.decode(data):
        problem = records.record_problem(record)
        if problem:
            raise CorruptLog(problem)
        current.update(
            _messages.apply(
                current, record["m"], record.get("keep", "latest"), record.get("leader")
            )
        )

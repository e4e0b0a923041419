"""The append-only message log (``messages.jsonl``) and the keep/leader rules — mostly pure.

Each ``message()`` call appends one JSON line with one ``os.write`` on an ``O_APPEND`` file:
once the call returns the line is in the kernel's page cache, so it survives a SIGKILL of the
process without a per-message fsync. A torn last line (power loss) is skipped on reading.
The current messages are derived by replaying the log, so the log alone is the truth.

Record format (one per line)::

    {"t": 1700000000.123, "m": {"loss": 0.5}, "keep": "min", "leader": null, "step": 3}

``keep``/``leader``/``step`` are omitted when they have their default (latest/None/None).
"""

from __future__ import annotations

import json
import operator
import os
import pathlib
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Keep = Literal["latest", "min", "max"]
KEEPS: tuple[str, ...] = ("latest", "min", "max")
Scalar = int | float | str | bool


PLAIN_TYPES = frozenset({bool, int, float, str})


def to_scalar(value: Any) -> Scalar:
    """Convert a message value to int/float/str/bool (numpy scalars -> float, else str)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item):
        try:
            item = value.item()
        except (TypeError, ValueError):
            return str(value)
        if isinstance(item, bool):
            return item
        if isinstance(item, (int, float)):
            return float(item)
    return str(value)


def apply(
    current: Mapping[str, Scalar],
    values: Mapping[str, Scalar],
    keep: str = "latest",
    leader: str | None = None,
) -> dict[str, Scalar]:
    """Return the entries of ``values`` that replace those in ``current`` under ``keep``.

    With a ``leader``, the whole group is kept exactly when the leader improves.

    Example:
        >>> apply({"loss": 0.5}, {"loss": 0.7, "acc": 0.1}, keep="min", leader="loss")
        {}
    """
    if leader is not None and leader not in values:
        return {}
    if keep == "latest":
        return dict(values)
    better = operator.lt if keep == "min" else operator.gt
    if leader is None:
        return _kept(current, values, better)
    return dict(values) if _kept(current, {leader: values[leader]}, better) else {}


def _kept(
    current: Mapping[str, Scalar], values: Mapping[str, Scalar], better: Any
) -> dict[str, Scalar]:
    """The entries of ``values`` that improve on ``current`` under ``better`` (lt or gt).

    Nothing recorded yet, or a NaN recorded, is always improved on; a NaN never improves;
    a value of another kind (not comparable) replaces the old one.
    """
    kept: dict[str, Scalar] = {}
    for key, new in values.items():
        old = current.get(key)
        if old is None or old != old:  # nothing yet, or a NaN that anything replaces
            kept[key] = new
        elif new == new:  # a NaN never improves
            try:
                if better(new, old):
                    kept[key] = new
            except TypeError:  # values of another kind replace the old one
                kept[key] = new
    return kept


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=True)


def encode(
    values: Mapping[str, Scalar],
    keep: str = "latest",
    leader: str | None = None,
    step: int | None = None,
    now: float | None = None,
) -> bytes:
    """Render one log record as a JSON line."""
    record: dict[str, Any] = {"t": time.time() if now is None else now, "m": values}
    if keep != "latest":
        record["keep"] = keep
    if leader is not None:
        record["leader"] = leader
    if step is not None:
        record["step"] = step
    return (_ENCODER.encode(record) + "\n").encode("utf-8")


def decode(data: bytes | str) -> list[dict[str, Any]]:
    """Parse log text into records, skipping a torn or corrupt line."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("m"), dict):
            records.append(record)
    return records


def replay(records: Iterable[Mapping[str, Any]]) -> dict[str, Scalar]:
    """Derive the current messages from log records, applying each record's keep rule."""
    current: dict[str, Scalar] = {}
    for record in records:
        current.update(
            apply(current, record["m"], record.get("keep", "latest"), record.get("leader"))
        )
    return current


def history(records: Iterable[Mapping[str, Any]], key: str) -> list[tuple[float, float, Scalar]]:
    """Every value ever sent for ``key`` as ``(x, time, value)``, x = step or call index."""
    points = []
    count = 0
    for record in records:
        if key in record["m"]:
            x = record.get("step")
            points.append((float(count if x is None else x), float(record["t"]), record["m"][key]))
            count += 1
    return points


def keys(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every message key in the log, in order of first appearance."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record["m"]:
            seen.setdefault(key, None)
    return list(seen)


def read(path: pathlib.Path) -> list[dict[str, Any]]:
    """Read a message log; a missing file is an empty history."""
    try:
        return decode(path.read_bytes())
    except FileNotFoundError:
        return []


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(28, os.strerror(28))
        view = view[written:]


def _record_start(fd: int, size: int) -> int:
    """The offset where the last (unfinished) record of the log begins."""
    tail = os.pread(fd, min(size, 1 << 16), max(0, size - (1 << 16)))
    cut = tail.rfind(b"\n")
    return size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail))


class MessageLog:
    """An open append-only message log for one experiment folder."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._fd: int | None = None

    def append(self, line: bytes) -> None:
        """Append one encoded record; returns once the kernel holds it."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._fd).st_size
            # A crash may have left a torn last line: end it so this record stays readable.
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                _write_all(self._fd, b"\n")
        if os.write(self._fd, line) != len(line):  # rare: a short write (disk nearly full)
            self._complete(line)

    def _complete(self, line: bytes) -> None:
        """Finish a record a short write cut, or take it back and raise: a record is
        acknowledged whole or not at all."""
        fd = self._fd or 0
        size = os.fstat(fd).st_size
        start = _record_start(fd, size)
        try:
            _write_all(fd, line[size - start :])
        except OSError:
            os.ftruncate(fd, start)
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

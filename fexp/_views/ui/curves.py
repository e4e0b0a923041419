"""Message histories as numeric series for the page's curves.

A log is parsed in one pass per version of the file (an LRU keyed by the file's identity)
into float64 arrays per key; the page gets them as raw bytes behind a small JSON header,
so 100 curves x 1,000 points cost a memory copy, not 300,000 float reprs.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import json
import pathlib
import struct
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ... import _layout, _messages
from . import data

MAX_POINTS = 5000  # per curve; longer histories are thinned evenly (the last point kept)
CACHED = 256  # logs kept parsed
MAGIC = b"FXH1"
Series = tuple["array.array[float]", "array.array[float]", "array.array[float]"]


@dataclasses.dataclass(frozen=True)
class Log:
    """One message log: every key (first-seen order) and the numeric series of each key
    as (x = step or call index, time, value)."""

    keys: list[str]
    series: dict[str, Series]


_CACHE: collections.OrderedDict[tuple[str, data.Identity], Log] = collections.OrderedDict()
_LOCK = threading.Lock()


def _decode(raw: bytes) -> list[dict[str, Any]]:
    """The records of a log: one C-level parse when every line is intact, else line by
    line through ``_messages.decode`` (which skips a torn or corrupt line)."""
    lines = [line for line in raw.split(b"\n") if line.strip()]
    try:
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        return _messages.decode(raw)
    if all(isinstance(r, dict) and isinstance(r.get("m"), dict) for r in records):
        return list(records)
    return _messages.decode(raw)


def parse_log(records: Sequence[dict[str, Any]]) -> Log:
    """Series per key, as ``_messages.history`` defines them, numeric values only."""
    keys: dict[str, None] = {}
    counts: dict[str, int] = {}
    series: dict[str, Series] = {}
    for record in records:
        step, t = record.get("step"), record.get("t")
        for key, value in record["m"].items():
            keys.setdefault(key, None)
            count = counts.get(key, 0)
            counts[key] = count + 1
            if type(value) not in (int, float) or value != value:
                continue
            one = series.get(key)
            if one is None:
                one = series[key] = (array.array("d"), array.array("d"), array.array("d"))
            one[0].append(float(count if step is None else step))
            one[1].append(float(t) if isinstance(t, int | float) else 0.0)
            one[2].append(float(value))
    return Log(list(keys), series)


def read_log(directory: pathlib.Path) -> Log:
    """The parsed log of an experiment folder (cached while the file is unchanged)."""
    path = directory / _layout.MESSAGES_FILE
    key = (str(path), data._identity(str(path)))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    try:
        raw = path.read_bytes()
    except OSError:
        raw = b""
    log = parse_log(_decode(raw))
    with _LOCK:
        _CACHE[key] = log
        while len(_CACHE) > CACHED:
            _CACHE.popitem(last=False)
    return log


def _thin(values: array.array[float], n: int) -> array.array[float]:
    if n <= MAX_POINTS:
        return values
    stride = -(-n // MAX_POINTS)
    thinned = values[::stride]
    if (n - 1) % stride:
        thinned.append(values[n - 1])
    return thinned


def encode(served: data.Served, ids: Sequence[str], keys: Sequence[str]) -> bytes:
    """``MAGIC``, a uint32 header length, the JSON header ``{"series": [[id, key, n]]}``
    padded to 8 bytes, then per series x[n], time[n], value[n] as little-endian float64."""
    header: list[list[Any]] = []
    body = array.array("d")
    for ident in ids:
        one, row = served.locate(ident)
        log = read_log(one.directory(row["name"]))
        for key in keys or log.keys:
            x, t, y = log.series.get(key) or (array.array("d"),) * 3
            parts = [_thin(part, len(x)) for part in (x, t, y)]
            header.append([ident, key, len(parts[0])])
            for part in parts:
                body.extend(part)
    if sys.byteorder != "little":
        body.byteswap()
    text = json.dumps({"series": header}, separators=(",", ":")).encode()
    text += b" " * (-(len(text) + 8) % 8)
    return MAGIC + struct.pack("<I", len(text)) + text + body.tobytes()


def message_keys(served: data.Served, ids: Sequence[str]) -> list[str]:
    """Every message key logged by these experiments, in order of first appearance."""
    seen: dict[str, None] = {}
    for ident in ids:
        one, row = served.locate(ident)
        seen.update(dict.fromkeys(read_log(one.directory(row["name"])).keys))
    return list(seen)

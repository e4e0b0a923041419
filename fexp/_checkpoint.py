"""Checkpoints: save, restore and retain pytrees of arrays, ``state_dict`` objects and pickles.

One file per step, ``{prefix}{step}``: an uncompressed zip that is also a valid ``.npz`` (one
``.npy`` member per array, written straight from the array's memory), ``torch.pt`` for torch
tensors, ``{i}.pkl`` for other objects and ``fexp.json`` with the tree and its
:class:`CheckpointRecord`. A file appears atomically (temp + fsync + rename), and retention only
deletes after the new file is in place, deriving everything from the files on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pathlib
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from . import _errors, _meta, _npz

DEFAULT_PREFIX = "checkpoint_"
Mode = Literal["min", "max"]


class SupportsStateDict(Protocol):
    """An object saved through its state (torch modules and optimizers, schedulers, ...)."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any, /) -> Any: ...


@dataclasses.dataclass(frozen=True)
class Best:
    """Keep the ``keep`` checkpoints with the best ``metric`` (``mode="min"`` or ``"max"``).

    Example:
        >>> Best("loss", mode="min", keep=3)
        Best(metric='loss', mode='min', keep=3)
    """

    metric: str
    mode: Mode = "min"
    keep: int = 1

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"Best.mode must be 'min' or 'max', got {self.mode!r}")
        if isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1:
            raise ValueError(f"Best.keep must be an int >= 1, got {self.keep!r}")

    def value(self, record: CheckpointRecord) -> float | None:
        """The record's metric as a finite float, or None when missing or NaN."""
        value = record.metrics.get(self.metric)
        if value is None or not isinstance(value, (int, float)) or math.isnan(value):
            return None
        return float(value)

    def rank(self, records: Iterable[CheckpointRecord]) -> list[CheckpointRecord]:
        """Records holding the metric, best first (ties: the later step first)."""
        scored = [(v, r) for r in records if (v := self.value(r)) is not None]
        sign = 1.0 if self.mode == "min" else -1.0
        scored.sort(key=lambda vr: (sign * vr[0], -vr[1].step))
        return [r for _, r in scored]


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    """What is known about one checkpoint without loading its arrays.

    Attributes:
        step: the training step it was saved at.
        metrics: scalar metrics passed to ``save`` (used by :class:`Best`).
        elapsed: wall seconds since the previous checkpoint of this prefix was saved.
        completed_steps: steps since the previous checkpoint (or since 0).
        time: unix time of the save.
        previous_step: the latest step on disk when this one was saved.
        counters: loop counters of a Monitor (step, epoch, ...), for resuming.
        keys: the top-level names when the saved tree is a dict.
        path: the checkpoint file (not stored in it).
    """

    step: int
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    elapsed: float | None = None
    completed_steps: int = 0
    time: float = 0.0
    previous_step: int | None = None
    counters: Mapping[str, int] = dataclasses.field(default_factory=dict)
    keys: tuple[str, ...] = ()
    path: pathlib.Path | None = dataclasses.field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["path"]
        data["keys"] = list(self.keys)
        return data

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], path: pathlib.Path | None = None
    ) -> CheckpointRecord:
        fields = {f.name for f in dataclasses.fields(cls)} - {"path"}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["keys"] = tuple(kwargs.get("keys", ()))
        return cls(**kwargs, path=path)


# -- file names -------------------------------------------------------------------------------


def _check_prefix(prefix: str) -> None:
    if not prefix or "/" in prefix or "\0" in prefix or prefix.startswith("."):
        raise ValueError(f"checkpoint prefix must be a plain file-name start, got {prefix!r}")


def path_for(directory: pathlib.Path, step: int, prefix: str = DEFAULT_PREFIX) -> pathlib.Path:
    """The file of ``step``: ``directory / f"{prefix}{step}"``."""
    return pathlib.Path(directory) / f"{prefix}{step}"


def _scan(directory: pathlib.Path, prefix: str) -> dict[int, pathlib.Path]:
    pattern = re.compile(re.escape(prefix) + r"([0-9]+)\Z")
    found: dict[int, pathlib.Path] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        match = pattern.match(entry.name)
        if match and entry.is_file():
            found.setdefault(int(match.group(1)), pathlib.Path(entry.path))
    return found


def steps(directory: pathlib.Path, prefix: str = DEFAULT_PREFIX) -> list[int]:
    """Every saved step of ``prefix`` in ``directory``, ascending."""
    return sorted(_scan(pathlib.Path(directory), prefix))


def latest_step(directory: pathlib.Path, prefix: str = DEFAULT_PREFIX) -> int | None:
    """The newest saved step, or None when there is no checkpoint."""
    found = steps(directory, prefix)
    return found[-1] if found else None


def _clean_stale_temps(directory: pathlib.Path) -> None:
    """Remove temp and to-delete files left by processes that died (a SIGKILL mid-save)."""
    for entry in os.scandir(directory):
        parts = entry.name.split(".")
        if len(parts) >= 5 and not parts[0] and parts[-1] in ("tmp", "del") and parts[-3].isdigit():
            pid = int(parts[-3])
            if pid != os.getpid() and not _meta.pid_alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _fsync_directory(directory: pathlib.Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_record(path: pathlib.Path) -> CheckpointRecord:
    """The record of one checkpoint file, read without loading its arrays."""
    path = pathlib.Path(path)
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    record = _RECORDS.get(key)
    if record is None:
        with _npz.Reader(path) as reader:
            record = CheckpointRecord.from_json(reader.meta["record"], path)
        if len(_RECORDS) > 4096:
            _RECORDS.clear()
        _RECORDS[key] = record
    return record


_RECORDS: dict[tuple[str, int, int, int], CheckpointRecord] = {}


def records(directory: pathlib.Path, prefix: str = DEFAULT_PREFIX) -> list[CheckpointRecord]:
    """The records of every readable checkpoint of ``prefix``, by step."""
    found = []
    for _, path in sorted(_scan(pathlib.Path(directory), prefix).items()):
        with contextlib.suppress(_errors.ExperimentStateError, FileNotFoundError):
            found.append(read_record(path))
    return found


def read_path(path: pathlib.Path, target: Any = None, *, names: Sequence[str] | None = None) -> Any:
    """Load one checkpoint file; with ``names``, only those top-level entries of a dict tree."""
    with _npz.Reader(pathlib.Path(path)) as reader:
        tree = reader.meta["tree"]
        if names is not None:
            if tree["t"] != "dict":
                raise _errors.ExperimentStateError(
                    f"checkpoint holds no named entries, cannot load {list(names)}",
                    source=str(path),
                )
            index = {key: i for i, key in enumerate(tree["k"])}
            missing = [n for n in names if n not in index]
            if missing:
                raise _errors.ExperimentStateError(
                    f"checkpoint has no entry {missing[0]!r}; it holds {tree['k']}",
                    source=str(path),
                )
            tree = {"t": "dict", "k": list(names), "c": [tree["c"][index[n]] for n in names]}
        return _npz.unpack(tree, target, reader)


# -- retention --------------------------------------------------------------------------------


def retained(
    found: Sequence[CheckpointRecord],
    *,
    keep: int | None = 1,
    keep_every_n_steps: int | None = None,
    best: Best | None = None,
) -> set[int]:
    """The steps a retention policy keeps: the last ``keep``, every Nth and the best K.

    "Every Nth" keeps the first checkpoint saved at or after each multiple of N (the steps
    themselves when saves fall on multiples). Pure: the records say everything needed.

    Example:
        >>> rs = [CheckpointRecord(s, previous_step=s - 10 if s else None)
        ...       for s in range(0, 60, 10)]
        >>> sorted(retained(rs, keep=2, keep_every_n_steps=20))
        [0, 20, 40, 50]
    """
    ordered = sorted(r.step for r in found)
    if keep is None:
        return set(ordered)
    kept = set(ordered[max(len(ordered) - keep, 0) :])
    if keep_every_n_steps:
        n = keep_every_n_steps
        for r in found:
            previous = -1 if r.previous_step is None else r.previous_step
            if r.step // n > previous // n:
                kept.add(r.step)
    if best is not None:
        kept.update(r.step for r in best.rank(found)[: best.keep])
    return kept


def _check_save_args(step: int, keep: int | None, every: int | None, best: Best | None) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"checkpoint step must be an int >= 0, got {step!r}")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
        raise ValueError(f"keep must be None (keep all) or an int >= 0, got {keep!r}")
    if keep == 0 and not every and best is None:
        raise ValueError("keep=0 would delete every checkpoint; keep >= 1, or pass best/every")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"keep_every_n_steps must be None or an int >= 1, got {every!r}")


def save(
    directory: pathlib.Path,
    target: Any,
    step: int,
    *,
    prefix: str = DEFAULT_PREFIX,
    keep: int | None = 1,
    overwrite: bool = False,
    keep_every_n_steps: int | None = None,
    metrics: Mapping[str, float] | None = None,
    best: Best | None = None,
    counters: Mapping[str, int] | None = None,
) -> pathlib.Path:
    """Save ``target`` as the checkpoint of ``step`` and apply the retention policy.

    Args:
        directory: the checkpoint folder (created when missing).
        target: nested dicts/lists/tuples of numpy arrays, scalars, strings and None;
            objects with ``state_dict()``/``load_state_dict()``; anything picklable.
        step: must be newer than every saved step unless ``overwrite``.
        keep: how many of the newest checkpoints to keep (None keeps all).
        overwrite: allow a step <= the latest; newer checkpoints are then deleted.
        keep_every_n_steps: also keep one checkpoint per N steps for ever.
        metrics: scalars stored in the record (for ``best`` and ``read_best``).
        best: also keep the best K checkpoints by a metric.
        counters: loop counters stored in the record (the Monitor's step, epoch, ...).

    Returns:
        The path of the new checkpoint file.

    Raises:
        ExperimentStateError: ``step`` is not newer than the latest and not ``overwrite``.

    Example:
        >>> import numpy as np, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> save(d, {"w": np.ones(3), "lr": 0.1}, step=10).name
        'checkpoint_10'
        >>> restore(d)["lr"]
        0.1
    """
    _check_prefix(prefix)
    _check_save_args(step, keep, keep_every_n_steps, best)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(directory)
    existing = _scan(directory, prefix)
    latest = max(existing, default=None)
    if latest is not None and step <= latest and not overwrite:
        raise _errors.ExperimentStateError(
            f"cannot save step {step}: checkpoint step {latest} ({prefix}{latest}) is not "
            f"older; save a larger step or pass overwrite=True to replace newer checkpoints",
            source=str(directory),
        )
    previous = max((s for s in existing if s < step), default=None)
    final = path_for(directory, step, prefix)
    tmp = directory / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        record = _new_record(step, previous, existing, metrics, counters, target)
        _npz.write(tmp, target, {"record": record.to_json()})
        _discard(existing[s] for s in sorted(existing) if s > step)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    _apply_retention(directory, prefix, keep, keep_every_n_steps, best)
    return final


def _new_record(
    step: int,
    previous: int | None,
    existing: Mapping[int, pathlib.Path],
    metrics: Mapping[str, float] | None,
    counters: Mapping[str, int] | None,
    target: Any,
) -> CheckpointRecord:
    now = time.time()
    elapsed = None
    if previous is not None:
        with contextlib.suppress(_errors.ExperimentStateError, FileNotFoundError):
            elapsed = now - read_record(existing[previous]).time
    keys = tuple(str(k) for k in target) if isinstance(target, Mapping) else ()
    return CheckpointRecord(
        step=step,
        metrics={str(k): _to_float(v) for k, v in (metrics or {}).items()},
        elapsed=elapsed,
        completed_steps=step - (previous or 0),
        time=now,
        previous_step=previous,
        counters={str(k): int(v) for k, v in (counters or {}).items()},
        keys=keys,
    )


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"checkpoint metrics must be scalars, got {value!r}") from None


def _apply_retention(
    directory: pathlib.Path,
    prefix: str,
    keep: int | None,
    every: int | None,
    best: Best | None,
) -> None:
    if keep is None:
        return
    existing = _scan(directory, prefix)
    if every or best is not None:
        found = records(directory, prefix)
        unreadable = set(existing) - {r.step for r in found}
        kept = retained(found, keep=keep, keep_every_n_steps=every, best=best) | unreadable
    else:
        kept = set(sorted(existing)[max(len(existing) - keep, 0) :])
    _discard([path for step, path in existing.items() if step not in kept])


_BACKGROUND_DELETE_BYTES = 16 << 20
_DELETIONS: list[Any] = []


def _discard(paths: Iterable[pathlib.Path]) -> None:
    """Delete old checkpoints; big files are renamed away now and unlinked in a thread.

    Freeing a large file's blocks takes a while; after the rename no reader sees the file,
    so the save need not wait. A process killed meanwhile leaves ``.*.del`` files, which the
    next save removes.
    """
    import threading

    trash = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size < _BACKGROUND_DELETE_BYTES:
                os.unlink(path)
                continue
            hidden = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.del")
            os.rename(path, hidden)
            trash.append(hidden)
    if trash:
        thread = threading.Thread(target=_unlink_all, args=(trash,), name="fexp-checkpoint-delete")
        thread.start()
        _DELETIONS[:] = [t for t in _DELETIONS if t.is_alive()] + [thread]


def _unlink_all(paths: list[pathlib.Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def wait_for_deletions() -> None:
    """Wait until old checkpoints deleted in the background are gone."""
    for thread in list(_DELETIONS):
        thread.join()


# -- restoring --------------------------------------------------------------------------------


def _pick(
    directory: pathlib.Path, prefix: str, step: int | None, best: Best | None
) -> pathlib.Path | None:
    existing = _scan(directory, prefix)
    if step is not None:
        if step not in existing:
            raise _errors.ExperimentStateError(
                f"no checkpoint {prefix}{step}; saved steps: {sorted(existing) or 'none'}",
                source=str(directory),
            )
        return existing[step]
    if best is not None:
        ranked = best.rank(records(directory, prefix))
        return ranked[0].path if ranked else None
    return existing[max(existing)] if existing else None


def restore(
    directory: pathlib.Path,
    target: Any = None,
    *,
    step: int | None = None,
    prefix: str = DEFAULT_PREFIX,
    best: Best | None = None,
    default: Any = None,
) -> Any:
    """Load the latest checkpoint (or ``step``, or the ``best`` one) of ``prefix``.

    The structure comes from the file. With a ``target``, objects in it that have
    ``load_state_dict`` are restored in place and returned at their position, and
    namedtuples keep their type. When no checkpoint exists, ``default`` is returned
    (called first when it is callable).

    Raises:
        ExperimentStateError: ``step`` was given and is not saved, or the file is unreadable.

    Example:
        >>> import tempfile
        >>> restore(pathlib.Path(tempfile.mkdtemp()), default=dict)
        {}
    """
    _check_prefix(prefix)
    folder = pathlib.Path(directory)
    for attempt in range(3):
        path = _pick(folder, prefix, step, best)
        if path is None:
            return default() if callable(default) else default
        try:
            return read_path(path, target)
        except FileNotFoundError:
            # A concurrent save's retention deleted it between listing and opening: re-list.
            if attempt == 2:
                raise
    return default


# -- flax_extra-style writers and readers -----------------------------------------------------


def best_prefix(metric: str, mode: Mode) -> str:
    """The file prefix of a best-metric writer: ``highest_{metric}_`` or ``lowest_{metric}_``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", metric).lstrip(".")
    return f"{'highest' if mode == 'max' else 'lowest'}_{safe}_"


class CheckpointWriter:
    """Write checkpoints to one folder with a fixed retention policy.

    Example:
        >>> import tempfile
        >>> writer = CheckpointWriter(pathlib.Path(tempfile.mkdtemp()), keep=2)
        >>> [writer.write({"x": i}, step=i).name for i in range(3)][-1]
        'checkpoint_2'
    """

    def __init__(
        self,
        directory: pathlib.Path,
        *,
        prefix: str = DEFAULT_PREFIX,
        keep: int | None = 1,
        overwrite: bool = True,
        keep_every_n_steps: int | None = None,
        best: Best | None = None,
    ) -> None:
        _check_prefix(prefix)
        self.directory = pathlib.Path(directory)
        self.prefix = prefix
        self.keep = keep
        self.overwrite = overwrite
        self.keep_every_n_steps = keep_every_n_steps
        self.best = best

    def write(
        self, target: Any, step: int, metrics: Mapping[str, float] | None = None
    ) -> pathlib.Path | None:
        """Save ``target`` at ``step``; returns the file written."""
        return save(
            self.directory,
            target,
            step,
            prefix=self.prefix,
            keep=self.keep,
            overwrite=self.overwrite,
            keep_every_n_steps=self.keep_every_n_steps,
            metrics=metrics,
            best=self.best,
        )


class _BestWriter(CheckpointWriter):
    mode: Mode = "max"

    def __init__(
        self, directory: pathlib.Path, metric: str, *, keep: int = 1, prefix: str | None = None
    ) -> None:
        super().__init__(directory, prefix=prefix or best_prefix(metric, self.mode), keep=keep)
        self.metric = metric

    def best_value(self) -> float | None:
        """The best value saved so far, read from the files on disk (resume-safe)."""
        ranked = Best(self.metric, self.mode).rank(records(self.directory, self.prefix))
        return ranked[0].metrics[self.metric] if ranked else None

    def is_best(self, value: float) -> bool:
        """Whether ``value`` beats every checkpoint this writer has kept."""
        if math.isnan(value):
            return False
        current = self.best_value()
        if current is None:
            return True
        return value > current if self.mode == "max" else value < current

    def write(
        self, target: Any, step: int, metrics: Mapping[str, float] | None = None
    ) -> pathlib.Path | None:
        """Save ``target`` only when ``metrics[metric]`` is a new best; else return None."""
        if metrics is None or self.metric not in metrics:
            raise ValueError(f"{type(self).__name__} needs metrics[{self.metric!r}]")
        if not self.is_best(_to_float(metrics[self.metric])):
            return None
        return super().write(target, step, metrics)


class HighestCheckpointWriter(_BestWriter):
    """Write a checkpoint each time the highest value of ``metric`` is seen (``highest_*``)."""

    mode: Mode = "max"


class LowestCheckpointWriter(_BestWriter):
    """Write a checkpoint each time the lowest value of ``metric`` is seen (``lowest_*``)."""

    mode: Mode = "min"


def read_latest(
    directory: pathlib.Path,
    target: Any = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    default: Any = None,
) -> Any:
    """Read the newest checkpoint; ``default`` (called if callable) when there is none."""
    return restore(directory, target, prefix=prefix, default=default)


def read_step(
    directory: pathlib.Path, step: int, target: Any = None, *, prefix: str = DEFAULT_PREFIX
) -> Any:
    """Read the checkpoint of ``step``; ExperimentStateError when it is not saved."""
    return restore(directory, target, step=step, prefix=prefix)


def read_best(
    directory: pathlib.Path,
    metric: str,
    mode: Mode = "max",
    target: Any = None,
    *,
    prefix: str | None = None,
    default: Any = None,
) -> Any:
    """Read the checkpoint with the best ``metric`` among the files of ``prefix``.

    ``prefix`` defaults to that of the matching writer (``highest_{metric}_`` for
    ``mode="max"``, ``lowest_{metric}_`` for ``"min"``); pass ``"checkpoint_"`` to pick among
    regular checkpoints saved with metrics.
    """
    chosen = prefix or best_prefix(metric, mode)
    return restore(directory, target, prefix=chosen, best=Best(metric, mode), default=default)

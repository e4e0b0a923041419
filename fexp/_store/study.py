"""A ``fexp tune`` study on disk: ``tune/tune.yml`` (config, budget) and Optuna's journal.

The journal is Optuna's ``JournalStorage`` over a file whose every append takes the set's own
``flock`` (the lock of every other set write), not Optuna's symlink/open locks, which break on
NFS (optuna #6036, #5138): flock is released by the kernel when a worker dies, so a SIGKILL
never leaves a stale lock, and the same lock lets a worker ask a trial and create its folder as
one step. Workers hold a lease (an flocked file) while they live; a trial whose worker's lease
is free belongs to nobody and is resumed. Also the experiment side of pruning
(``Experiment.should_prune``). Optuna is imported only inside functions.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import _atomic, _errors, _index, _layout, _messages
from .._core import study_config

if TYPE_CHECKING:
    import optuna
    from optuna.storages import JournalStorage

STUDY_NAME = "fexp"
_STORAGES: dict[tuple[str, int], JournalStorage] = {}
_STUDIES: dict[tuple[str, int], optuna.Study] = {}


def tune_dir(set_root: pathlib.Path) -> pathlib.Path:
    return set_root / _layout.TUNE_DIR


def require_optuna() -> None:
    """Raise a one-paragraph error naming the extra when Optuna is not installed."""
    try:
        import optuna
    except ImportError:
        raise _errors.TuneError(
            "fexp tune needs Optuna, which is not installed; install the extra with "
            "`pip install 'fexp[tune]'` (or `pip install optuna`)",
            source="fexp tune",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- config


def read_config(set_root: pathlib.Path) -> tuple[study_config.StudyConfig, int] | None:
    """(config, budget) from ``tune/tune.yml``, or None when the set has no study."""
    path = tune_dir(set_root) / _layout.TUNE_FILE
    if not path.exists():
        return None
    data = _index.read_mapping_cached(path)
    budget = data.get("trials")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise _errors.YamlError(f"'trials' must be a count, got {budget!r}", source=str(path))
    return study_config.StudyConfig.from_data(data, source=str(path)), budget


def write_config(set_root: pathlib.Path, config: study_config.StudyConfig, budget: int) -> None:
    """Write ``tune/tune.yml`` atomically (callers hold the set's lock)."""
    from .. import _render

    folder = tune_dir(set_root)
    folder.mkdir(exist_ok=True)
    text = "# fexp tune: the study of this set (trials = the budget of trials)\n"
    data = {**config.to_data(), "trials": budget}
    text += _render.yaml_block(data)
    path = folder / _layout.TUNE_FILE
    _index.remember(path, data, _atomic.atomic_write(path, text))


# --------------------------------------------------------------------------- journal


def _lock_class() -> type:
    from optuna.storages.journal._file import BaseJournalFileLock  # the documented lock_obj type

    class SetLock(BaseJournalFileLock):  # type: ignore[misc]
        """Optuna's journal lock as the set's (re-entrant, per-thread) flock."""

        def __init__(self, path: pathlib.Path) -> None:
            self._path = path
            self._held: list[contextlib.ExitStack] = []

        def acquire(self) -> bool:
            stack = contextlib.ExitStack()
            stack.enter_context(_atomic.locked(self._path))
            self._held.append(stack)
            return True

        def release(self) -> None:
            self._held.pop().close()

    return SetLock


def storage(set_root: pathlib.Path) -> JournalStorage:
    """The study's journal storage (one per process; re-read incrementally by Optuna)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    key = (str(set_root), os.getpid())
    if key not in _STORAGES:
        folder = tune_dir(set_root)
        folder.mkdir(exist_ok=True)
        lock = _lock_class()(set_root / _layout.LOCK_FILE)
        backend = JournalFileBackend(str(folder / _layout.JOURNAL_FILE), lock_obj=lock)
        _STORAGES[key] = JournalStorage(backend)
    return _STORAGES[key]


def locked(set_root: pathlib.Path) -> Any:
    """The set's lock: the journal's appends take it too, so a block under it is atomic."""
    return _atomic.locked(set_root / _layout.LOCK_FILE)


def study(set_root: pathlib.Path, config: study_config.StudyConfig) -> optuna.Study:
    """The set's study, created on first use (one per process)."""
    import optuna

    key = (str(set_root), os.getpid())
    if key not in _STUDIES:
        with locked(set_root):
            _STUDIES[key] = optuna.create_study(
                storage=storage(set_root),
                study_name=STUDY_NAME,
                load_if_exists=True,
                directions=config.directions,
                pruner=study_config.make_pruner(config),
            )
    cached = _STUDIES[key]
    cached.pruner = study_config.make_pruner(config)  # ``fexp tune --pruner`` may change it
    return cached


# --------------------------------------------------------------------------- workers


@contextlib.contextmanager
def worker_lease(set_root: pathlib.Path) -> Iterator[str]:
    """Hold a lease (an flocked file) for as long as this worker runs; yields its id."""
    import fcntl

    folder = tune_dir(set_root) / _layout.WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    worker = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path = folder / f"{worker}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield worker
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def worker_alive(set_root: pathlib.Path, worker: str) -> bool:
    """Whether the worker holding lease ``worker`` still runs (its flock is held)."""
    import fcntl

    path = tune_dir(set_root) / _layout.WORKERS_DIR / f"{pathlib.Path(worker).name}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    return False


# --------------------------------------------------------------------------- pruning


def should_prune(directory: pathlib.Path, tune: Mapping[str, Any]) -> int | None:
    """Report a trial's intermediate objective values and ask the pruner; return the step
    to record as pruned-at, or None to go on (the experiment side of ``fexp tune``)."""
    set_root = directory.parent
    found = read_config(set_root)
    if found is None or "trial" not in tune:
        return None
    config = found[0]
    if config.pruner == "none" or len(config.objectives) != 1:
        return None
    require_optuna()
    points = _messages.history(
        _messages.read(directory / _layout.MESSAGES_FILE), config.objectives[0].key
    )
    if not points:
        return None
    store = storage(set_root)
    the_study = study(set_root, config)
    study_id = store.get_study_id_from_name(STUDY_NAME)
    trial_id = store.get_trial_id_from_study_id_trial_number(study_id, int(tune["trial"]))
    reported = store.get_trial(trial_id).intermediate_values
    new = {
        int(x): float(v)
        for x, _, v in points
        if int(x) not in reported and isinstance(v, (int, float))
    }
    if new:
        with locked(set_root):
            for step, value in new.items():
                store.set_trial_intermediate_value(trial_id, step, value)
    frozen = store.get_trial(trial_id)
    if not frozen.intermediate_values or frozen.state.is_finished():
        return None
    if the_study.pruner.prune(the_study, frozen):
        return int(frozen.last_step or 0)
    return None

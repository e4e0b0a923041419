"""Run a set's experiments on this machine: ``LAUNCHER... script.sh params.yml``.

``bash`` (the default) runs each to completion; ``--jobs K`` runs K at once; any prefix
(``screen -dm bash``, ``nice -n 10 bash``) works. For blocking launchers the launcher's exit
code settles the status of scripts that do not record one themselves (bash-only experiments).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _errors, _layout, _meta

if TYPE_CHECKING:
    from .._expset import ExperimentSet

FAILED = ("error", "stopped", "timeout", "preempted", "corrupt")
DETACHING = ("screen", "tmux", "nohup", "setsid", "sbatch")


@dataclasses.dataclass
class RunResult:
    name: str
    status: str
    returncode: int
    attempts: int = 1


@dataclasses.dataclass
class RunSummary:
    """What ``run`` did: one result per experiment launched, and the ones skipped."""

    results: list[RunResult] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    stopped_early: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(r.status for r in self.results))

    @property
    def failed(self) -> bool:
        return any(r.status in FAILED or r.returncode != 0 for r in self.results)

    def render(self) -> str:
        parts = [f"{n} {s}" for s, n in sorted(self.counts.items())]
        text = f"ran {len(self.results)}: " + (", ".join(parts) if parts else "nothing")
        if self.skipped:
            text += f"; skipped {len(self.skipped)} not registered (--force runs them)"
        if self.stopped_early:
            text += "; stopped after the first failure"
        return text


def command_for(launcher: Sequence[str], script: str, params: str) -> list[str]:
    """The argv that runs one experiment (pure)."""
    return [*launcher, script, params]


def is_blocking(launcher: Sequence[str]) -> bool:
    """Whether the launcher waits for the experiment (``bash``) or detaches (``screen -dm``)."""
    return not any(part.rsplit("/", 1)[-1] in DETACHING for part in launcher)


def _status(xs: ExperimentSet, name: str) -> tuple[str, dict[str, Any]]:
    from .. import _index

    try:
        data = _index.read_mapping_cached(xs.root / name / _layout.PARAMS_FILE)
    except _errors.FexpError:
        return "corrupt", {}
    return str(data.get("_status", "registered")), data


def settle(xs: ExperimentSet, name: str, returncode: int) -> str:
    """Record the outcome of a blocking launch for scripts that did not record one."""
    with xs.locked():
        status, data = _status(xs, name)
        if status in ("registered", "running", "queued") and data:
            status = "finished" if returncode == 0 else "error"
            data["_status"] = status
            data["_stopped"] = _meta.now_iso()
            xs._write_params(xs.root / name, data)
    return status


def prepare(xs: ExperimentSet, name: str) -> None:
    with xs.locked():
        status, data = _status(xs, name)
        if status != "registered" and data:
            data["_status"] = "registered"
            data["_started"] = data["_stopped"] = None
            xs._write_params(xs.root / name, data)


def _launch_one(
    xs: ExperimentSet, name: str, launcher: Sequence[str], *, capture: bool, retries: int
) -> RunResult:
    argv = command_for(launcher, str(xs.paths.script), str(xs.root / name / _layout.PARAMS_FILE))
    blocking = is_blocking(launcher)
    attempts = 0
    while True:
        attempts += 1
        if capture:
            with open(xs.root / name / _layout.LAUNCH_LOG, "ab") as log:
                code = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                ).returncode
        else:
            code = subprocess.run(argv, stdin=subprocess.DEVNULL).returncode
        status = settle(xs, name, code) if blocking else _status(xs, name)[0]
        if status != "error" or attempts > retries:
            return RunResult(name, status, code, attempts)
        prepare(xs, name)


def runnable(xs: ExperimentSet, pattern: str | None, force: bool) -> tuple[list[str], list[str]]:
    """(experiments to run, experiments skipped because they are not ``registered``)."""
    names = xs.names(pattern)
    if not names:
        raise _errors.ConfigError(
            f"no experiment in the set matches {pattern!r}", source=str(xs.root)
        )
    chosen, skipped = [], []
    for name in names:
        status = _status(xs, name)[0]
        if status == "registered" or (force and status not in ("running", "corrupt")):
            chosen.append(name)
        else:
            skipped.append(name)
    return chosen, skipped


def run_set(
    xs: ExperimentSet,
    pattern: str | None,
    launcher: Sequence[str],
    *,
    jobs: int,
    force: bool,
    retries: int,
    stop_on_failure: bool,
    progress: bool,
    fork: bool = False,
) -> RunSummary:
    """Run the matching experiments; see the module docstring (``fork``: see ``forked``)."""
    if jobs < 1:
        raise _errors.ConfigError(f"--jobs must be at least 1, got {jobs}", source="option --jobs")
    if retries < 0:
        raise _errors.ConfigError(
            f"--retries cannot be negative, got {retries}", source="option --retries"
        )
    if not launcher:
        launcher = ("bash",)
    chosen, skipped = runnable(xs, pattern, force)
    summary = RunSummary(skipped=skipped)
    for name in chosen:
        if force:
            prepare(xs, name)
    if fork:
        from . import forked

        summary.results = forked.run_forked(
            xs, chosen, jobs=jobs, retries=retries, stop_on_failure=stop_on_failure
        )
        summary.stopped_early = len(summary.results) < len(chosen)
        return summary
    capture = jobs > 1 or progress
    stop = threading.Event()
    bar = _Progress(len(chosen)) if progress else None

    def work(name: str) -> RunResult | None:
        if stop.is_set():
            return None
        result = _launch_one(xs, name, launcher, capture=capture, retries=retries)
        if stop_on_failure and (result.status in FAILED or result.returncode != 0):
            stop.set()
        if bar:
            bar.advance(result)
        return result

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(work, chosen):
            if result is not None:
                summary.results.append(result)
    if bar:
        bar.close()
    summary.stopped_early = stop.is_set() and len(summary.results) < len(chosen)
    return summary


class _Progress:
    """A rich progress bar on stderr (thread-safe advance)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("running"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self._task = self._progress.add_task("", total=total)
        self._progress.start()

    def advance(self, result: RunResult) -> None:
        with self._lock:
            self._progress.update(
                self._task, advance=1, description=f"{result.name}: {result.status}"
            )

    def close(self) -> None:
        self._progress.stop()

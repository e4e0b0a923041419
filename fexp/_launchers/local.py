"""Run a set's experiments on this machine: ``LAUNCHER... script.sh params.yml``.

``bash`` (the default) runs each to completion; ``--jobs K`` runs K at once; any prefix
(``screen -dm bash``, ``nice -n 10 bash``) works. For blocking launchers the launcher's exit
code settles the status of scripts that do not record one themselves (bash-only experiments).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _errors, _layout
from .._core import status as _st
from .._store import owner as _owner
from .._store import params_file as _params_file
from .claims import claim_all, prepare, prepare_resume, reclaim, runnable, settle
from .claims import status_of as _status

if TYPE_CHECKING:
    from .._expset import ExperimentSet

FAILED = _st.FAILED
# Statuses ``--resume`` runs again in their folders, so they continue from their checkpoints.
RESUMABLE = _st.RESUMABLE
__all__ = ["claim_all", "prepare", "prepare_resume", "reclaim", "runnable", "settle"]
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
    signum: int | None = None  # the signal that stopped the run, if one did

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
            text += (
                f"; skipped {len(self.skipped)} not registered or held by another run "
                "(--force runs ended ones)"
            )
        if self.stopped_early:
            text += "; stopped after the first failure"
        if self.signum:
            text += f"; interrupted by {signal.Signals(self.signum).name}, launched nothing more"
        return text


def command_for(launcher: Sequence[str], script: str, params: str) -> list[str]:
    """The argv that runs one experiment (pure)."""
    return [*launcher, script, params]


def is_blocking(launcher: Sequence[str]) -> bool:
    """Whether the launcher waits for the experiment (``bash``) or detaches (``screen -dm``)."""
    return not any(part.rsplit("/", 1)[-1] in DETACHING for part in launcher)


def status_of(xs: ExperimentSet, name: str) -> str:
    """The experiment's effective status (``corrupt`` when its params.yml cannot be read)."""
    return _status(xs, name)[0]


class Cancel:
    """Stop a run of a set: launch nothing more and SIGTERM the experiments running now
    (they record ``stopped``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.pids: set[int] = set()  # forked children (``--fork``)
        self.signum: int | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self, signum: int | None = None) -> None:
        self.signum = self.signum or signum
        self._event.set()
        with self._lock:
            for proc in self._running:
                proc.terminate()
            for pid in self.pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def call(self, argv: Sequence[str], env: Mapping[str, str], **kwargs: Any) -> int:
        """``subprocess.call`` that ``set()`` can terminate."""
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env, **kwargs)
        with self._lock:
            self._running.add(proc)
            if self.is_set():
                proc.terminate()
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._running.discard(proc)


class Launch:
    """A run of a set in a background thread (``ExperimentSet.launch``)."""

    def __init__(self, work: Callable[[Cancel], RunSummary]) -> None:
        self.cancel = Cancel()
        self._summary: RunSummary | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(work,), name="fexp-launch")
        self._thread.start()

    def _work(self, work: Callable[[Cancel], RunSummary]) -> None:
        try:
            self._summary = work(self.cancel)
        except BaseException as exc:  # Handed to whoever waits.
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Launch nothing more and stop the experiments running now."""
        self.cancel.set()

    def wait(self) -> RunSummary:
        """Wait until every launched experiment ended; return the summary (or raise its error)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._summary is None:
            raise RuntimeError("the launch ended without a summary")
        return self._summary


def _launch_one(
    xs: ExperimentSet,
    name: str,
    launcher: Sequence[str],
    *,
    capture: bool,
    retries: int,
    cancel: Cancel,
    env: Mapping[str, str],
    mine: Mapping[str, Any],
) -> RunResult:
    argv = command_for(launcher, str(xs.paths.script), str(xs.root / name / _layout.PARAMS_FILE))
    blocking = is_blocking(launcher)
    attempts = 0
    while True:
        attempts += 1
        if capture:
            with open(xs.root / name / _layout.LAUNCH_LOG, "ab") as log:
                code = cancel.call(argv, env, stdout=log, stderr=subprocess.STDOUT)
        else:
            code = cancel.call(argv, env)
        stopped = cancel.is_set()
        status = settle(xs, name, code, stopped, mine) if blocking else _status(xs, name)[0]
        if status != _st.ERROR or attempts > retries or stopped:
            return RunResult(name, status, code, attempts)
        if not reclaim(xs, name, mine, _st.ERROR):
            return RunResult(name, status, code, attempts)


def check_options(jobs: int, retries: int) -> None:
    """Validate ``--jobs`` and ``--retries`` (before anything is changed)."""
    if jobs < 1:
        raise _errors.ConfigError(f"--jobs must be at least 1, got {jobs}", source="option --jobs")
    if retries < 0:
        raise _errors.ConfigError(
            f"--retries cannot be negative, got {retries}", source="option --retries"
        )


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
    resume: bool = False,
    cancel: Cancel | None = None,
) -> RunSummary:
    """Run the matching experiments; see the module docstring (``fork``: see ``forked``).

    Each is claimed first (``queued``, owned by this run), so a second ``fexp run`` on the
    set never starts it again. ``resume`` also runs the interrupted, failed and lost ones
    again in their folders (they continue from their checkpoints); ``cancel`` stops the run
    from another thread. Claims of experiments that were not launched are given back.
    """
    check_options(jobs, retries)
    launcher = tuple(launcher) or ("bash",)
    mine = _owner.me(_owner.new_claim(), detached=not is_blocking(launcher))
    chosen, skipped = claim_all(xs, pattern, mine, force=force, resume=resume)
    summary = RunSummary(skipped=skipped)
    cancel = cancel or Cancel()
    try:
        if fork:
            from . import forked

            summary.results = forked.run_forked(
                xs,
                chosen,
                jobs=jobs,
                retries=retries,
                stop_on_failure=stop_on_failure,
                cancel=cancel,
                mine=mine,
            )
        else:
            summary.results = _run_launcher(
                xs,
                chosen,
                launcher,
                jobs=jobs,
                retries=retries,
                cancel=cancel,
                mine=mine,
                stop_on_failure=stop_on_failure,
                progress=progress,
            )
    finally:
        launched = {r.name for r in summary.results}
        for name in chosen:
            if name not in launched:
                _params_file.release(xs.root / name, mine)
    summary.stopped_early = len(summary.results) < len(chosen) and not cancel.is_set()
    summary.signum = cancel.signum
    return summary


def _run_launcher(
    xs: ExperimentSet,
    chosen: Sequence[str],
    launcher: Sequence[str],
    *,
    jobs: int,
    retries: int,
    cancel: Cancel,
    mine: Mapping[str, Any],
    stop_on_failure: bool,
    progress: bool,
) -> list[RunResult]:
    env = {**os.environ, **(xs.head().get("env") or {}), _owner.CLAIM_ENV: mine["claim"]}
    capture = jobs > 1 or progress
    stop = threading.Event()
    bar = _Progress(len(chosen)) if progress else None

    def work(name: str) -> RunResult | None:
        if stop.is_set() or cancel.is_set():
            return None
        result = _launch_one(
            xs,
            name,
            launcher,
            capture=capture,
            retries=retries,
            cancel=cancel,
            env=env,
            mine=mine,
        )
        if stop_on_failure and (result.status in FAILED or result.returncode != 0):
            stop.set()
        if bar:
            bar.advance(result)
        return result

    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(work, chosen):
            if result is not None:
                results.append(result)
    if bar:
        bar.close()
    return results


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

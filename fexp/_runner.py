"""Execute one experiment: status bookkeeping, signals, stdout/stderr tee, error.txt, requeue.

SIGINT/SIGTERM -> ``stopped`` (``preempted`` when SLURM says the job was preempted),
SIGUSR1 -> ``timeout`` (SLURM's warning before the time limit). On those signals the
experiment's ``on_interrupt`` callbacks run first (e.g. to checkpoint); under SLURM with
requeueing on, a timed-out or preempted job then requeues itself and records ``requeued``.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from . import _atomic, _config, _errors, _experiment, _layout, _meta, _token
from ._core import status as _status
from ._store import owner as _owner
from ._store import params_file as _params_file

if TYPE_CHECKING:
    from ._experiment import Experiment

SIGNAL_STATUS = {
    signal.SIGINT: _status.STOPPED,
    signal.SIGTERM: _status.STOPPED,
    signal.SIGHUP: _status.STOPPED,
    signal.SIGUSR1: _status.TIMEOUT,
}
MAX_ATTEMPTS_KEPT = 20


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """Raised inside ``run()`` when a signal stops the experiment; carries the new status."""

    def __init__(self, signum: int, status: str) -> None:
        super().__init__(f"{signal.Signals(signum).name}: experiment {status}")
        self.signum = signum
        self.status = status


class _Tee(io.TextIOBase):
    """Write to the original stream and to out.txt (line-buffered, appended)."""

    def __init__(self, stream: IO[str], log: IO[str]) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        self._stream.write(text)
        with contextlib.suppress(ValueError):
            self._log.write(text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()
        with contextlib.suppress(ValueError):
            self._log.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")


@contextlib.contextmanager
def tee_output(path: os.PathLike[str]) -> Iterator[None]:
    """Tee ``sys.stdout`` and ``sys.stderr`` into ``path`` (xmen's ``stdout_to_txt``)."""
    with open(path, "a", encoding="utf-8", buffering=1) as log:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = _Tee(old_out, log)  # type: ignore[assignment]
        sys.stderr = _Tee(old_err, log)  # type: ignore[assignment]
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            sys.stdout, sys.stderr = old_out, old_err


def tee_forever(path: os.PathLike[str]) -> None:
    """Tee stdout and stderr into ``path`` for the rest of the process."""
    log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process
    sys.stdout = _Tee(sys.stdout, log)  # type: ignore[assignment]
    sys.stderr = _Tee(sys.stderr, log)  # type: ignore[assignment]


@contextlib.contextmanager
def _signal_handlers() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        # SLURM signals every process of a job and the batch script forwards the same signal:
        # ignore the duplicate, or a second Interrupted raised while the first unwinds would
        # skip the bookkeeping (the status would stay ``running``).
        for sig in SIGNAL_STATUS:
            signal.signal(sig, signal.SIG_IGN)
        status = SIGNAL_STATUS.get(signal.Signals(signum), _status.STOPPED)
        if signum == signal.SIGTERM and slurm_job_state() == "PREEMPTED":
            status = _status.PREEMPTED
        raise Interrupted(signum, status)

    previous = {sig: signal.signal(sig, handler) for sig in watched_signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


slurm_job_key = _owner.slurm_job_key


def watched_signals() -> list[signal.Signals]:
    """The signals to handle: SIGHUP only when it is not ignored (``nohup`` keeps working)."""
    return [
        sig
        for sig in SIGNAL_STATUS
        if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN
    ]


def slurm_job_state() -> str | None:
    """SLURM's JobState for this job (one ``scontrol`` call), or None outside SLURM."""
    key = slurm_job_key()
    if not key:
        return None
    import subprocess

    try:
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", key], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for field in out.split():
        if field.startswith("JobState="):
            return field.split("=", 1)[1]
    return None


def _requeue(exp: Experiment) -> bool:
    """Hand the job back to SLURM (``scontrol requeue``) when requeueing is on."""
    key = slurm_job_key()
    if not key or os.environ.get("FEXP_REQUEUE", "1") == "0":
        return False
    import subprocess

    try:
        result = subprocess.run(
            ["scontrol", "requeue", key], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"fexp: could not requeue SLURM job {key}: {exc}", file=sys.stderr)
        return False
    if result.returncode != 0:
        print(f"fexp: scontrol requeue {key} failed: {result.stderr.strip()}", file=sys.stderr)
        return False
    exp.extra["_requeues"] = int(exp.extra.get("_requeues", 0)) + 1
    return True


def _record_attempt(exp: Experiment, status: str, error: str | None) -> None:
    attempts: list[dict[str, Any]] = list(exp.extra.get("_attempts") or [])
    entry: dict[str, Any] = {
        "attempt": len(attempts) + 1,
        "started": exp.started,
        "stopped": exp.stopped,
        "status": status,
    }
    if error:
        entry["error"] = error
    slurm = exp.meta.get("slurm")
    if slurm:
        entry["slurm_job"] = slurm.get("job_id")
    attempts.append(entry)
    exp.extra["_attempts"] = attempts[-MAX_ATTEMPTS_KEPT:]


def _finish(exp: Experiment, status: str, error: str | None = None) -> None:
    exp.status = status
    exp.stopped = exp.last = _meta.now_iso()
    _record_attempt(exp, status, error)
    if status == _status.FINISHED and exp.directory is not None:
        with contextlib.suppress(OSError):  # a retry that finished leaves no stale error
            (exp.directory / _layout.ERROR_FILE).unlink(missing_ok=True)
    if not exp.save():
        print(
            f"fexp: {exp.name} was reset or taken over while it ran; its end ({status}) is "
            "not recorded",
            file=sys.stderr,
        )


def _run_callbacks(exp: Experiment, status: str) -> None:
    for callback in exp.callbacks:
        try:
            callback(status)
        except Exception:  # a failing checkpoint must not hide the interruption itself
            traceback.print_exc()


def check_runnable(exp: Experiment) -> None:
    """Refuse to re-run a finished experiment (SPEC §3: never silently re-run)."""
    if exp.status in (_status.FINISHED, _status.PRUNED):
        raise _errors.ExperimentStateError(
            f"experiment {exp.name!r} already {exp.status}; `fexp reset {exp.name}` to run it "
            "again",
            source=str(exp.directory),
        )


def claim(exp: Experiment) -> None:
    """Record ``running`` with this process as owner, atomically under the set's lock.

    Refuses an experiment another live owner holds (another launcher's claim, a process
    running it, its SLURM job); the claim of the launcher that started this process
    (``$FEXP_CLAIM``) or this SLURM job's own is taken over.
    """
    directory = exp._require_directory()
    mine = _owner.me()
    seen: dict[str, Any] = {}

    def accept(now: str) -> bool:
        seen["status"] = now
        return now not in (_status.FINISHED, _status.PRUNED)

    data = _params_file.claim(directory, mine, accept, status=_status.RUNNING)
    if seen.get("status") in (_status.FINISHED, _status.PRUNED):
        exp.status = seen["status"]
        check_runnable(exp)
    if data is None:
        current = _params_file.read(directory)
        held = current.get("_owner") or {}
        raise _errors.ExperimentStateError(
            f"experiment {exp.name!r} is {seen.get('status') or current.get('_status')}, held by "
            f"pid {held.get('pid')} on {held.get('host')}"
            + (f" (SLURM job {held['slurm']})" if held.get("slurm") else "")
            + "; it is not started a second time",
            source=str(directory),
        )
    exp.extra["_owner"] = mine
    exp.notes = list(data.get("_notes") or [])


def run(exp: Experiment) -> Any:
    """Run ``exp.execute()`` inside the lifecycle; re-raise its exception after recording it.

    The tokens the experiment declares (``tokens=`` and ``$FEXP_TOKENS``) are held for the
    whole run; while one must be waited for, the status is ``queued``.
    """
    directory = exp._require_directory()
    check_runnable(exp)
    claim(exp)
    with contextlib.ExitStack() as held:
        _hold_tokens(exp, held)
        return _run_holding(exp, directory)


def _hold_tokens(exp: Experiment, stack: contextlib.ExitStack) -> None:
    specs = _token.declared(type(exp))
    if not specs:
        return

    def waiting() -> None:
        exp.status = _status.QUEUED
        exp.save()

    try:
        with _signal_handlers():
            stack.enter_context(_token.holding(specs, label=str(exp.directory), on_wait=waiting))
    except Interrupted as stop:
        _finish(exp, stop.status)
        raise


def _run_holding(exp: Experiment, directory: pathlib.Path) -> Any:
    exp.status = _status.RUNNING
    exp.started = exp.last = _meta.now_iso()
    exp.stopped = None
    exp.meta = _meta.run_meta(_config.load().get("meta") or ())
    exp.save()
    _experiment._CURRENT.append(exp)
    try:
        with tee_output(exp.paths.out), _signal_handlers(), _heartbeat(directory):
            try:
                result = exp.execute()
            except Interrupted as stop:
                # Further signals while we checkpoint and record must not cut this short.
                with _ignoring_signals():
                    _run_callbacks(exp, stop.status)
                    _finish(exp, stop.status)
                    if stop.status in (_status.TIMEOUT, _status.PREEMPTED) and _requeue(exp):
                        exp.status = _status.REQUEUED
                        exp.save()
                raise
            except BaseException as exc:
                with contextlib.suppress(OSError):  # a full disk must not hide the error
                    _atomic.atomic_write(directory / _layout.ERROR_FILE, traceback.format_exc())
                _finish(exp, _status.ERROR, f"{type(exc).__name__}: {exc}")
                raise
            _finish(exp, _status.FINISHED)
            return result
    finally:
        _experiment._CURRENT.remove(exp)
        exp.close()


@contextlib.contextmanager
def _heartbeat(directory: pathlib.Path) -> Iterator[None]:
    """Touch the heartbeat file now and every ``$FEXP_HEARTBEAT_INTERVAL`` seconds."""
    done = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(OSError):
                _owner.beat(directory)
            if done.wait(_owner.interval()):
                return

    thread = threading.Thread(target=beat, name="fexp-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SIGNAL_STATUS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_code(exc: BaseException | None) -> int:
    """The process exit code for a run that ended with ``exc`` (None: finished)."""
    if exc is None:
        return 0
    if isinstance(exc, Interrupted):
        return 128 + exc.signum
    return 1

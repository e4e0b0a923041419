"""Execute one experiment: status bookkeeping, signals, stdout/stderr tee, error.txt, requeue.

SIGINT/SIGTERM -> ``stopped``, SIGUSR1 -> ``timeout`` (SLURM's warning before the time
limit). Under SLURM a SIGTERM is told apart by what ``scontrol show job`` says at that moment
(the job is ``COMPLETING`` either way): ``Restarts`` above ``$SLURM_RESTART_COUNT`` means
SLURM is requeueing it (``PreemptMode=REQUEUE``), a ``PreemptTime`` means it was preempted
(``PreemptMode=CANCEL``): both record ``preempted``; ``NODE_FAIL`` leaves the status alone
(the experiment is lost, like on a node that died). On those signals the experiment's
``on_interrupt`` callbacks run first (e.g. to checkpoint); then a job SLURM requeues records
``requeued``, and with requeueing on a timed-out or preempted job requeues itself
(``scontrol requeue``) and records ``requeued``. ``_requeues`` counts both, and at each
start SLURM's own count (``$SLURM_RESTART_COUNT``) fills in requeues nobody recorded.
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

from . import _atomic, _config, _environment, _errors, _experiment, _layout, _meta, _token
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
    """Raised inside ``run()`` when a signal stops the experiment; carries the new status
    (``lost`` for a node failure: nothing is recorded) and whether SLURM requeues the job."""

    def __init__(self, signum: int, status: str, slurm_requeues: bool = False) -> None:
        super().__init__(f"{signal.Signals(signum).name}: experiment {status}")
        self.signum = signum
        self.status = status
        self.slurm_requeues = slurm_requeues


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
        status: str = SIGNAL_STATUS.get(signal.Signals(signum), _status.STOPPED)
        requeues = False
        if signum == signal.SIGTERM:
            status, requeues = termination(slurm_job_info())
        raise Interrupted(signum, status, requeues)

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


def slurm_job_info() -> dict[str, str]:
    """``scontrol show job`` of this process's SLURM job as a dict ({} outside SLURM or when
    scontrol cannot answer)."""
    key = slurm_job_key()
    if not key:
        return {}
    import subprocess

    from ._launchers import slurm

    try:
        out = subprocess.run(
            ["scontrol", "-o", "show", "job", key], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    records = slurm.parse_scontrol_show_job(out)
    return records[0] if records else {}


def restart_count() -> int:
    """How often SLURM had requeued this job before this run (``$SLURM_RESTART_COUNT``)."""
    value = os.environ.get("SLURM_RESTART_COUNT", "")
    return int(value) if value.isdigit() else 0


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def termination(info: dict[str, str]) -> tuple[str, bool]:
    """What a SIGTERM means, from SLURM's view of the job at that moment (``{}``: no SLURM).

    Returns ``(status, slurm_requeues)``: ``preempted`` when SLURM counts a restart this run
    has not seen (it is requeueing the job) or set a ``PreemptTime`` (preempted, cancelled);
    ``lost`` on a node failure; else ``stopped``.

    Example:
        >>> termination({"JobState": "COMPLETING", "Restarts": "0", "PreemptTime": "None"})
        ('stopped', False)
    """
    state = info.get("JobState", "").split(" ")[0]
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return _status.LOST, False
    if _int(info.get("Restarts")) > restart_count():
        return _status.PREEMPTED, True
    if state == "PREEMPTED" or info.get("PreemptTime") not in (None, "", "None", "Unknown"):
        return _status.PREEMPTED, False
    return _status.STOPPED, False


def _job_slurm_info(exp: Experiment) -> dict[str, Any] | None:
    """The experiment's ``_slurm`` record when it describes the job running this process."""
    info = exp.extra.get("_slurm")
    key = slurm_job_key()
    if not key or not isinstance(info, dict) or str(info.get("job_id")) != key:
        return None
    return dict(info)


def _count_requeue(exp: Experiment, restarts: int) -> None:
    """Count one requeue; ``restarts`` is SLURM's count once it is done (avoids counting
    it again at the next start)."""
    exp.extra["_requeues"] = int(exp.extra.get("_requeues") or 0) + 1
    info = _job_slurm_info(exp)
    if info is not None:
        exp.extra["_slurm"] = {**info, "restarts": restarts}


def note_restarts(exp: Experiment) -> None:
    """At the start of a run under SLURM: count requeues SLURM made that nobody recorded
    (e.g. a preemption whose process was killed first) and mark that attempt preempted."""
    info = _job_slurm_info(exp)
    if info is None:
        return
    count, seen = restart_count(), _int(str(info.get("restarts", 0)))
    if count > seen:
        exp.extra["_requeues"] = int(exp.extra.get("_requeues") or 0) + count - seen
        attempts = list(exp.extra.get("_attempts") or [])
        if attempts and attempts[-1].get("status") == _status.STOPPED:
            attempts[-1] = {**attempts[-1], "status": _status.PREEMPTED}
            exp.extra["_attempts"] = attempts
    exp.extra["_slurm"] = {**info, "restarts": count}


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
    _count_requeue(exp, restart_count() + 1)
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
    config = _config.load()
    exp.meta = _meta.run_meta(config.get("meta") or ())
    note_restarts(exp)
    _environment.record_run(exp, config.get("record_env") or ())  # git.diff, environments/
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
                    _record_interruption(exp, stop)
                raise
            except BaseException as exc:
                with contextlib.suppress(OSError):  # a full disk must not hide the error
                    _atomic.atomic_write(directory / _layout.ERROR_FILE, traceback.format_exc())
                _finish(exp, _status.ERROR, f"{type(exc).__name__}: {exc}")
                raise
            pruned = (exp.extra.get("_tune") or {}).get("pruned_at") is not None
            _finish(exp, _status.PRUNED if pruned else _status.FINISHED)
            return result
    finally:
        _experiment._CURRENT.remove(exp)
        exp.close()


def _record_interruption(exp: Experiment, stop: Interrupted) -> None:
    """Record how a signal ended the run, and requeue the job when that is wanted."""
    if stop.status == _status.LOST:
        return  # the node failed: nothing ran to the end, the status stays as it was
    _finish(exp, stop.status)
    if stop.slurm_requeues:
        _count_requeue(exp, restart_count() + 1)
    elif not (stop.status in (_status.TIMEOUT, _status.PREEMPTED) and _requeue(exp)):
        return
    exp.status = _status.REQUEUED
    exp.save()


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

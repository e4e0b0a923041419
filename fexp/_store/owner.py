"""Who holds an experiment (the ``_owner`` record of params.yml) and whether it still lives.

An owner is ``{host, boot, pid, start, slurm, claim, since, detached}``: the machine (and its
boot id, so a pid from before a reboot does not count), the process (and its start time, so a
reused pid does not count), the SLURM job when there is one, the claim token a launcher
hands to the experiments it launched (``FEXP_CLAIM``), and when the claim was made. A running
experiment also touches its heartbeat file, which tells owners on other hosts apart from gone
ones. The decision itself is ``fexp._core.status.owner_alive`` (pure); this module gathers
the facts: /proc, ``squeue`` once per listing, the heartbeat's mtime.
"""

from __future__ import annotations

import functools
import os
import pathlib
import socket
import subprocess
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from .._core import status as _status

CLAIM_ENV = "FEXP_CLAIM"
TIMEOUT_ENV = "FEXP_HEARTBEAT_TIMEOUT"
INTERVAL_ENV = "FEXP_HEARTBEAT_INTERVAL"
HEARTBEAT_FILE = ".fexp-heartbeat"
DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 30.0
Folder = str | os.PathLike[str] | None


@functools.cache
def boot_id() -> str:
    """This machine's boot id (empty where the system does not say)."""
    try:
        return pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@functools.cache
def host() -> str:
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """The start time (clock ticks after boot) of process ``pid``, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    # A zombie has finished: it holds nothing any more.
    return None if fields[0] == b"Z" else fields[19].decode()


def _process_alive(pid: int, start: Any) -> bool:
    if not pathlib.Path("/proc").is_dir():  # no /proc (macOS): ask the kernel only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    now = process_start(pid)
    return now is not None and (start is None or str(start) == now)


def slurm_job_key() -> str | None:
    """``JOBID`` or ``ARRAYJOBID_TASKID`` of the SLURM job running this process, if any."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def new_claim() -> str:
    """A fresh claim token for one launcher run."""
    return uuid.uuid4().hex


def me(claim: str | None = None, *, detached: bool = False) -> dict[str, Any]:
    """The ``_owner`` record of this process (``claim`` defaults to ``$FEXP_CLAIM``)."""
    pid = os.getpid()
    record: dict[str, Any] = {
        "host": host(),
        "boot": boot_id(),
        "pid": pid,
        "start": process_start(pid),
        "claim": claim or os.environ.get(CLAIM_ENV) or new_claim(),
        "since": round(time.time(), 3),
    }
    job = slurm_job_key()
    if job:
        record["slurm"] = job
    if detached:
        record["detached"] = True
    return record


def for_job(key: str) -> dict[str, Any]:
    """The ``_owner`` of an experiment submitted as SLURM job ``key`` (the job's own
    ``fexp execute`` takes it over)."""
    return {"slurm": key, "claim": new_claim(), "since": round(time.time(), 3)}


def same(owner: Any, other: Mapping[str, Any] | None) -> bool:
    """Whether two owner records stand for the same claim (or the same SLURM job)."""
    if not isinstance(owner, Mapping) or not other:
        return False
    if owner.get("claim") and owner.get("claim") == other.get("claim"):
        return True
    return bool(owner.get("slurm")) and owner.get("slurm") == other.get("slurm")


def timeout() -> float:
    """Seconds without a heartbeat after which an owner on another host counts as gone."""
    try:
        return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT


def interval() -> float:
    try:
        return float(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL)
    except ValueError:
        return DEFAULT_INTERVAL


class Liveness:
    """Answers ``alive(owner)`` for many experiments, asking ``squeue`` at most once."""

    def __init__(self, ended: Collection[str] = ()) -> None:
        # ``ended``: job keys the scheduler has just said are over (trusted over squeue).
        self._ended = frozenset(ended)
        self._queued: set[str] | None = None
        self._now = time.time()
        self._timeout = timeout()
        self._processes: dict[tuple[int, Any], bool] = {}  # one runner owns many queued

    def _process(self, pid: int, start: Any) -> bool:
        key = (pid, start)
        alive = self._processes.get(key)
        if alive is None:
            alive = self._processes[key] = _process_alive(pid, start)
        return alive

    def alive(self, owner: Mapping[str, Any], directory: Folder = None) -> bool | None:
        heartbeat = None
        if directory is not None and owner.get("host") != host():
            try:
                heartbeat = os.stat(os.path.join(directory, HEARTBEAT_FILE)).st_mtime
            except OSError:
                heartbeat = None
        return _status.owner_alive(
            owner,
            host=host(),
            boot=boot_id(),
            now=self._now,
            timeout=self._timeout,
            process=self._process,
            slurm=self._in_squeue,
            heartbeat=heartbeat,
        )

    def _in_squeue(self, key: str) -> bool | None:
        if key in self._ended:
            return False
        if self._queued is None:
            self._queued = _squeue_keys()
        if self._queued is None:
            return None
        job = key.split("_", 1)[0]
        return key in self._queued or job in self._queued

    def settle(self, row: dict[str, Any]) -> None:
        """Turn ``row`` (a listing's row) into ``lost`` when it is active and its owner is
        gone (in place); its ``owner`` key is dropped."""
        owner = row.pop("owner", None)
        if row.get("status") in _status.ACTIVE and isinstance(owner, Mapping):
            row["status"] = self.status(
                {"_status": row["status"], "_owner": owner}, pathlib.Path(row["path"])
            )

    def status(self, data: Mapping[str, Any], directory: Folder = None) -> str:
        """The effective status of parsed params.yml ``data``."""
        recorded = str(data.get("_status", _status.REGISTERED))
        owner = data.get("_owner")
        if not isinstance(owner, Mapping):
            return recorded
        return _status.effective(recorded, owner, lambda o: self.alive(o, directory))


def _squeue_keys() -> set[str] | None:
    """Every job id (and ``ARRAY_TASK`` key) SLURM still has; None without SLURM."""
    try:
        result = subprocess.run(
            ["squeue", "-h", "-o", "%i %A"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return {part for line in result.stdout.splitlines() for part in line.split()}


def beat(directory: pathlib.Path) -> None:
    """Touch the heartbeat file of a running experiment."""
    path = directory / HEARTBEAT_FILE
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


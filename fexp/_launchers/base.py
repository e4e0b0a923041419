"""The launcher interface and its records: Job in, Submission out, JobState when asked.

Pure data and one ABC; nothing here touches a scheduler or the disk.
"""

from __future__ import annotations

import abc
import dataclasses
import pathlib
from collections.abc import Iterable, Sequence
from typing import Literal

SchedulerStatus = Literal[
    "queued", "running", "finished", "error", "stopped", "timeout", "preempted", "requeued",
    "pruned", "unknown",
]
"""A scheduler's job state in fexp's status words (SPEC §3); ``unknown`` when it forgot the job."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One experiment to launch: ``script_path params_path``, run in ``workdir``.

    Attributes:
        name: the experiment's name (used as the job name for one-job-per-experiment).
        params_path: the experiment's params.yml.
        script_path: the set's script.sh (any executable taking a params.yml path).
        workdir: the folder the job starts in.
    """

    name: str
    params_path: pathlib.Path
    script_path: pathlib.Path
    workdir: pathlib.Path


@dataclasses.dataclass(frozen=True)
class Submission:
    """Where one experiment went: a job id, plus its index when it is an array task.

    Attributes:
        job_id: the scheduler's job id (for arrays, the array's job id).
        array_index: the task index within that array, or None for a plain job.
        name: the experiment's name (``Job.name``).
    """

    job_id: str
    array_index: int | None
    name: str

    @property
    def key(self) -> str:
        """The id that names this one task to the scheduler: ``123`` or ``123_4``."""
        return self.job_id if self.array_index is None else f"{self.job_id}_{self.array_index}"


@dataclasses.dataclass(frozen=True)
class JobState:
    """A job's state as the scheduler reports it, and the same in fexp's words.

    Attributes:
        state: the scheduler's own word (``PENDING``, ``RUNNING``, ``COMPLETED`` ...).
        status: that state mapped to an fexp status.
        reason: why it is pending or how it ended (``Priority``, ``BeginTime``, ``None``...).
        restarts: how often it was requeued, when the scheduler said.
        exit_code: ``code:signal`` as the scheduler prints it, when it said.
    """

    state: str
    status: SchedulerStatus
    reason: str | None = None
    restarts: int | None = None
    exit_code: str | None = None

    @property
    def done(self) -> bool:
        """True when the job will not run again unless someone resubmits or requeues it."""
        return self.status in (
            "finished", "error", "stopped", "timeout", "preempted", "pruned", "unknown"
        )


class Launcher(abc.ABC):
    """Submit experiments to a scheduler, ask their states, cancel them."""

    @abc.abstractmethod
    def submit(self, jobs: Sequence[Job]) -> list[Submission]:
        """Submit every job; return one Submission per job, in the same order."""

    @abc.abstractmethod
    def states(self, ids: Iterable[str]) -> dict[str, JobState]:
        """Return the state of every id (``Submission.key``), asking the scheduler once."""

    @abc.abstractmethod
    def cancel(self, ids: Iterable[str]) -> None:
        """Cancel every id (``Submission.key``) in one request."""

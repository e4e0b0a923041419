"""An in-memory launcher with the real interface, for unit tests of the run logic.

It records every submit, states and cancel call; tests set job states by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from fexp._core import status as _st
from fexp._launchers import base

_STATE_OF_STATUS = {
    _st.QUEUED: "PENDING", _st.RUNNING: "RUNNING", _st.FINISHED: "COMPLETED",
    _st.ERROR: "FAILED", _st.STOPPED: "CANCELLED", _st.TIMEOUT: "TIMEOUT",
    _st.PREEMPTED: "PREEMPTED", _st.REQUEUED: "REQUEUED", base.UNKNOWN: "UNKNOWN",
}
UNKNOWN = base.JobState("UNKNOWN", base.UNKNOWN)


class FakeLauncher(base.Launcher):
    """Hand out job ids like a scheduler would, and remember everything asked of it.

    Args:
        array: one job id for each ``submit`` call with array indices 0..n-1 (like
            ``fexp run --slurm``), or one job id per experiment.
        first_id: the first job id handed out.
        fail_at: make the submit call with this 0-based number raise ``error``.
        error: the exception ``fail_at`` raises.

    Attributes:
        submitted: every (Job, Submission) pair, in submission order.
        submit_calls, states_calls, cancel_calls: the arguments of each call.
        cancelled: every key cancelled.

    Example:
        >>> fake = FakeLauncher()
        >>> [s.key for s in fake.submit([job_a, job_b])]    # doctest: +SKIP
        ['1000_0', '1000_1']
        >>> fake.set_state("1000_1", "running")              # doctest: +SKIP
    """

    def __init__(self, *, array: bool = True, first_id: int = 1000, fail_at: int | None = None,
                 error: Exception | None = None) -> None:
        self.array = array
        self.fail_at = fail_at
        self.error = error or RuntimeError("FakeLauncher: submission failed")
        self.submitted: list[tuple[base.Job, base.Submission]] = []
        self.submit_calls: list[tuple[base.Job, ...]] = []
        self.states_calls: list[tuple[str, ...]] = []
        self.cancel_calls: list[tuple[str, ...]] = []
        self.cancelled: list[str] = []
        self._ids = itertools.count(first_id)
        self._states: dict[str, base.JobState] = {}

    @property
    def submissions(self) -> list[base.Submission]:
        """Every Submission handed out, in order."""
        return [sub for _, sub in self.submitted]

    def submit(self, jobs: Sequence[base.Job]) -> list[base.Submission]:
        """Record ``jobs`` and return Submissions; every new job starts ``queued``."""
        call = len(self.submit_calls)
        self.submit_calls.append(tuple(jobs))
        if self.fail_at == call:
            raise self.error
        if not jobs:
            return []
        if self.array:
            job_id = str(next(self._ids))
            subs = [base.Submission(job_id, i, job.name) for i, job in enumerate(jobs)]
        else:
            subs = [base.Submission(str(next(self._ids)), None, job.name) for job in jobs]
        for job, sub in zip(jobs, subs, strict=True):
            self.submitted.append((job, sub))
            self._states[sub.key] = base.JobState("PENDING", _st.QUEUED)
        return subs

    def set_state(self, key: str, status: base.SchedulerStatus, *, state: str | None = None,
                  reason: str | None = None, restarts: int | None = None,
                  exit_code: str | None = None) -> None:
        """Set what ``states`` reports for ``key`` (``state`` defaults to SLURM's word)."""
        self._states[key] = base.JobState(state or _STATE_OF_STATUS[status], status, reason,
                                          restarts, exit_code)

    def set_all(self, status: base.SchedulerStatus) -> None:
        """Set every submitted job to ``status``."""
        for key in list(self._states):
            self.set_state(key, status)

    def states(self, ids: Iterable[str]) -> dict[str, base.JobState]:
        """Report the states set so far (``unknown`` for ids never submitted)."""
        keys = tuple(dict.fromkeys(ids))
        self.states_calls.append(keys)
        return {key: self._states.get(key, UNKNOWN) for key in keys}

    def cancel(self, ids: Iterable[str]) -> None:
        """Mark every known, unfinished id ``stopped`` (CANCELLED)."""
        keys = tuple(dict.fromkeys(ids))
        self.cancel_calls.append(keys)
        for key in keys:
            self.cancelled.append(key)
            state = self._states.get(key)
            if state is not None and not state.done:
                self._states[key] = base.JobState("CANCELLED", _st.STOPPED)

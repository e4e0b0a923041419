"""One ``fexp tune`` worker: K slots that each ask for a trial, run it, tell its result.

Under the set's lock a free slot first takes over a trial whose worker died (SIGKILL, a
lost node, a requeued SLURM task) and resumes it in its own folder under its own number,
else asks Optuna for a new trial and registers its folder, until the study's budget is
spent. A slot never waits for the others (asynchronous). Trials run through script.sh (or,
with ``fork``, in forked children); children die with the worker (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import _errors, _index, _layout
from .._core import search_space, study_config
from .._launchers import local
from .._store import study as study_store

if TYPE_CHECKING:
    import optuna

    from .._expset import ExperimentSet

# The folder's status after its run -> the trial's state in the study.
_TOLD = {"finished": "complete", "pruned": "pruned", "error": "fail"}


@dataclasses.dataclass
class Context:
    """What a worker needs: the set, the study's config and space, this worker's lease."""

    xs: ExperimentSet
    config: study_config.StudyConfig
    space: search_space.SearchSpace
    budget: int
    worker: str = ""

    @property
    def root(self) -> pathlib.Path:
        return self.xs.root


@dataclasses.dataclass(frozen=True)
class Claim:
    """A trial this worker will run: its number, folder name, and whether it resumes."""

    number: int
    name: str
    resumed: bool = False


@dataclasses.dataclass
class WorkerSummary:
    """What one worker did: the states it told, trials it resumed."""

    states: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    resumed: int = 0
    interrupted: int = 0

    def render(self) -> str:
        parts = [f"{n} {s}" for s, n in sorted(self.states.items())]
        text = f"ran {sum(self.states.values())} trial(s): " + (", ".join(parts) or "none")
        if self.resumed:
            text += f"; {self.resumed} resumed after an interruption"
        if self.interrupted:
            text += f"; {self.interrupted} interrupted (fexp tune -r SET resumes them)"
        return text


def trial_name(number: int) -> str:
    """The folder of trial ``number``: ``trial=0007``."""
    return f"trial={number:04d}"


# --------------------------------------------------------------------------- claiming


def _tune_info(ctx: Context, name: str) -> dict[str, Any] | None:
    path = ctx.root / name / _layout.PARAMS_FILE
    if not path.exists():
        return None
    info = _index.read_mapping_cached(path).get("_tune")
    return dict(info) if isinstance(info, dict) else {}


def _write_tune(ctx: Context, name: str, **changes: Any) -> None:
    """Update the trial's ``_tune`` record in params.yml (under the set's lock)."""
    with ctx.xs.locked():
        data = _index.read_mapping_cached(ctx.root / name / _layout.PARAMS_FILE)
        data["_tune"] = {**(data.get("_tune") or {}), **changes}
        # Not fsynced: the journal is the durable record; after a crash a stale or missing
        # ``worker`` only makes the trial look orphaned, and it is then resumed.
        ctx.xs._write_params(ctx.root / name, data, durable=False)


def _register(ctx: Context, number: int, params: dict[str, Any]) -> str:
    """Create the trial's experiment folder with its parameters and ``_tune`` record."""
    name = trial_name(number)
    if not (ctx.root / name / _layout.PARAMS_FILE).exists():
        point = search_space.point_from_trial(ctx.space, params)
        ctx.xs.link(points=[point], name=name, purpose=f"fexp tune trial {number}")
    _write_tune(ctx, name, trial=number, state="running", worker=ctx.worker)
    return name


def claim(ctx: Context, study: optuna.Study) -> Claim | None:
    """Take over an orphaned trial, else ask a new one; None when the budget is spent."""
    import optuna

    with study_store.locked(ctx.root):
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        for trial in running:
            info = _tune_info(ctx, trial_name(trial.number))
            owner = (info or {}).get("worker")
            if info is not None and owner and study_store.worker_alive(ctx.root, str(owner)):
                continue
            return Claim(
                trial.number, _register(ctx, trial.number, trial.params), resumed=info is not None
            )
        count = len(study.get_trials(deepcopy=False))
        found = study_store.read_config(ctx.root)  # ``fexp tune --trials N`` may have added
        limit = ctx.budget = found[1] if found else ctx.budget
        if ctx.config.sampler == "grid":
            limit = min(limit, search_space.grid_size(ctx.space))
        if count >= limit:
            return None
        study.sampler = study_config.make_sampler(ctx.config, ctx.space, count)
        asked = study.ask(search_space.distributions(ctx.space))
        return Claim(asked.number, _register(ctx, asked.number, asked.params))


# --------------------------------------------------------------------------- telling


def _objective_values(ctx: Context, data: dict[str, Any]) -> list[float] | None:
    messages = data.get("_messages") or {}
    values = [messages.get(o.key) for o in ctx.config.objectives]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        return None
    return [float(v) for v in values]  # type: ignore[arg-type]


def tell(ctx: Context, study: optuna.Study, number: int, name: str, status: str) -> str | None:
    """Tell the study how the trial's run ended; None when it was interrupted (it stays
    running in the study and is resumed later). Returns the state told.

    Raises:
        TuneError: the first trial to finish did not message an objective key.
    """
    import optuna
    from optuna.trial import TrialState

    state = _TOLD.get(status)
    if state is None:
        return None
    data = _index.read_mapping_cached(ctx.root / name / _layout.PARAMS_FILE)
    values = _objective_values(ctx, data) if state == "complete" else None
    if state == "complete" and values is None:
        state = "fail"
    with study_store.locked(ctx.root):
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        # Samplers are made per ask; one left from the last ask must not act on this tell
        # (GridSampler's after_trial calls study.stop(), which only study.optimize allows).
        study.sampler = optuna.samplers.RandomSampler()
        if state == "complete":
            study.tell(number, values)
        else:
            study.tell(number, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)
        _write_tune(ctx, name, state=state)
    if status == "finished" and values is None and not done:
        _raise_missing_objective(ctx, name, data)
    return state


def _raise_missing_objective(ctx: Context, name: str, data: dict[str, Any]) -> None:
    keys = sorted((data.get("_messages") or {}).keys())
    wanted = ", ".join(repr(o.key) for o in ctx.config.objectives)
    said = ", ".join(repr(k) for k in keys) if keys else "nothing"
    raise _errors.TuneError(
        f"the first trial ({name}) finished without messaging a number for objective {wanted}; "
        f"it messaged {said}. Report it with root.message({{{ctx.config.objectives[0].key!r}: "
        "value}, step=epoch) or choose one of those keys with --objective KEY:min|max.",
        source="option --objective",
    )


# --------------------------------------------------------------------------- running


def _die_with_parent() -> None:
    """In a child: get SIGTERM when the worker dies, so no trial outlives its worker."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def launch(ctx: Context, name: str, fork: bool) -> int:
    """Start the trial's experiment; return its pid."""
    params = str(ctx.root / name / _layout.PARAMS_FILE)
    if fork:
        from .._launchers import forked

        cls = ctx.xs.experiment_class()
        if cls is None:
            raise _errors.TuneError(
                "--fork runs Python experiments; this set runs a script", source="option --fork"
            )
        return forked.spawn(cls, params, before=_die_with_parent)
    env = {**os.environ, **(ctx.xs.head().get("env") or {})}
    with open(ctx.root / name / _layout.LAUNCH_LOG, "ab") as log:
        proc = subprocess.Popen(
            [str(ctx.xs.paths.script), params],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
    proc.returncode = 0  # reaped by ``os.wait`` in the loop, never by Popen
    return proc.pid


@contextlib.contextmanager
def _forwarding(children: dict[int, Claim], stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT/SIGUSR1 stop asking for trials and reach the running ones."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    previous = {sig: signal.signal(sig, handler) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_worker(
    ctx: Context, *, jobs: int, fork: bool = False, stop: threading.Event | None = None
) -> WorkerSummary:
    """Run trials in ``jobs`` slots until the budget is spent (see the module docstring)."""
    summary = WorkerSummary()
    stop = stop or threading.Event()
    children: dict[int, Claim] = {}
    with study_store.worker_lease(ctx.root) as worker, _forwarding(children, stop):
        ctx.worker = worker
        study = study_store.study(ctx.root, ctx.config)
        try:
            _loop(ctx, study, jobs, fork, children, stop, summary)
        finally:
            _reap_all(ctx, study, children, summary)
    return summary


def _loop(
    ctx: Context,
    study: optuna.Study,
    jobs: int,
    fork: bool,
    children: dict[int, Claim],
    stop: threading.Event,
    summary: WorkerSummary,
) -> None:
    while True:
        while len(children) < jobs and not stop.is_set():
            claimed = claim(ctx, study)
            if claimed is None:
                break
            summary.resumed += claimed.resumed
            if not _settle_without_run(ctx, study, claimed, summary):
                local.prepare(ctx.xs, claimed.name)
                children[launch(ctx, claimed.name, fork)] = claimed
        if not children:
            return
        pid, wait_status = os.wait()
        claimed = children.pop(pid)
        _after_run(ctx, study, claimed, os.waitstatus_to_exitcode(wait_status), summary)


def _settle_without_run(
    ctx: Context, study: optuna.Study, claimed: Claim, summary: WorkerSummary
) -> bool:
    """A resumed trial whose run had ended before its worker died is only told."""
    if not claimed.resumed:
        return False
    status = local.status_of(ctx.xs, claimed.name)
    state = tell(ctx, study, claimed.number, claimed.name, status) if status in _TOLD else None
    if state is not None:
        summary.states[state] += 1
    return state is not None


def _after_run(
    ctx: Context, study: optuna.Study, claimed: Claim, code: int, summary: WorkerSummary
) -> None:
    status = local.settle(ctx.xs, claimed.name, code, stopped=code < 0 or code > 128)
    state = tell(ctx, study, claimed.number, claimed.name, status)
    if state is None:
        summary.interrupted += 1
    else:
        summary.states[state] += 1


def _reap_all(
    ctx: Context, study: optuna.Study, children: dict[int, Claim], summary: WorkerSummary
) -> None:
    """After an error: stop the running trials and record how they ended."""
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    while children:
        pid, wait_status = os.wait()
        claimed = children.pop(pid)
        with contextlib.suppress(_errors.FexpError):
            _after_run(ctx, study, claimed, os.waitstatus_to_exitcode(wait_status), summary)

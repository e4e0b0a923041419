"""Experiment sets on SLURM: submit a selection (one job array, or one job each), refresh the
states ``fexp list`` shows, cancel; and the retry loop that runs on the compute node.

The sbatch text and argv come from ``_launchers.slurm`` (pure); this module chooses the
experiments, writes the bookkeeping into params.yml (atomically, under the set lock) and builds
the summaries. It never prints (``python -m fexp._cluster retry`` is a process of its own).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from . import _atomic, _config, _errors, _layout, _meta, _yaml
from ._core import status as _status
from ._launchers import base, slurm
from ._store import owner

if TYPE_CHECKING:
    from ._expset import ExperimentSet

Mode = Literal["submit", "dry-run", "generate"]
ACTIVE = _status.ACTIVE
# Inside the set's generated/ folder (candidates for _layout): one folder per submission.
SLURM_DIR = "slurm"
RETRY_SCRIPT = "retry.sh"
HOLD_ARGS = ("--hold", "-H")
BULK_SYNC = 32  # more params.yml than this in one update: one os.sync() instead of fsyncs
# What SLURM calls the end of a job, for rows whose status fexp recorded itself.
# Also asked about in ``fexp list``: SLURM may have requeued such a job by itself.
# ``lost`` too: a row whose owner is gone shows what SLURM says became of its job.
WATCHED = (*ACTIVE, _status.LOST, _status.PREEMPTED, _status.TIMEOUT)
# The job's node died under it: nothing recorded how the run ended.
LOST_STATES = ("NODE_FAIL", "BOOT_FAIL")
ENDED_STATE = {_status.FINISHED: "COMPLETED", _status.ERROR: "FAILED",
               _status.STOPPED: "CANCELLED", _status.TIMEOUT: "TIMEOUT",
               _status.PREEMPTED: "PREEMPTED", _status.PRUNED: "COMPLETED"}


# --------------------------------------------------------------------------- options


def options_from_cli(*, time: str | None, gpus: str | int | None, cpus: int | None,
                     mem: str | None, partition: str | None, account: str | None,
                     qos: str | None, max_parallel: int | None, extra_args: Sequence[str],
                     grace: int, requeue: bool) -> slurm.SlurmOptions:
    """Build and check the SLURM options of ``fexp run``; ``#SBATCH`` lines of the global
    config's ``header`` become the batch scripts' default directives.

    Raises:
        ConfigError: naming every bad option at once.
    """
    header = _config.load().get("header") or []
    lines = tuple(str(line) for line in header if str(line).lstrip().startswith("#SBATCH"))
    if isinstance(gpus, str) and gpus.strip().isdigit():
        gpus = int(gpus)
    options = slurm.SlurmOptions(
        time=time, gpus=gpus, cpus=cpus, mem=mem, partition=partition, account=account,
        qos=qos, max_parallel=max_parallel, grace_seconds=grace, requeue=requeue,
        extra_args=tuple(extra_args), header_lines=lines)
    slurm.check_options(options)
    return options


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class ClusterResult:
    """What ``submit`` did (or, for a dry run, would do)."""

    mode: Mode
    folder: pathlib.Path | None = None
    submitted: list[base.Submission] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    busy: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    left_out: list[str] = dataclasses.field(default_factory=list)
    details: str = ""
    held: bool = False
    array: bool = True

    @property
    def failed(self) -> bool:
        """True when an sbatch (or scontrol release) call failed."""
        return bool(self.failures)

    def render(self) -> str:
        """A short summary for the terminal (the dry run's argv and scripts come first)."""
        lines = [self.details.rstrip("\n")] if self.details else []
        if self.mode == "submit":
            lines.append(self._submitted_line())
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} not registered (--force submits them)")
        if self.busy:
            lines.append(f"skipped {len(self.busy)} still queued or running in SLURM "
                         f"({', '.join(self.busy[:3])}{', ...' if len(self.busy) > 3 else ''});"
                         " `fexp cancel` them first")
        lines += [f"FAILED: {failure}" for failure in self.failures[:5]]
        if len(self.failures) > 5:
            lines.append(f"FAILED: ... and {len(self.failures) - 5} more sbatch call(s)")
        if self.left_out:
            lines.append(f"stopped after the first failure: {len(self.left_out)} experiment(s) "
                         "not submitted")
        return "\n".join(lines)

    def _submitted_line(self) -> str:
        ids = list(dict.fromkeys(sub.job_id for sub in self.submitted))
        if not ids:
            return "submitted nothing"
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        kind = ("job array" if len(ids) == 1 else "job arrays") if self.array else \
            ("job" if len(ids) == 1 else "jobs")
        text = f"submitted {len(self.submitted)} experiment(s) to SLURM as {len(ids)} {kind}: " \
               f"{shown}"
        if self.held:
            text += " (held as asked: `scontrol release` them)"
        if self.folder is not None:
            text += f"; scripts and logs in {self.folder}"
        return text + "; follow them with `fexp list`"


# --------------------------------------------------------------------------- selection


def _read(path: pathlib.Path) -> dict[str, Any] | None:
    try:
        return _yaml.read_mapping(path)
    except _errors.FexpError:
        return None


def slurm_key(info: Any) -> str | None:
    """The id SLURM knows an experiment's job by (``123`` or ``123_4``), from ``_slurm``."""
    if not isinstance(info, dict) or not info.get("job_id"):
        return None
    return str(info["job_id"])


def live_key(status: Any, info: Any, meta: Any, statuses: Sequence[str] = ACTIVE
             ) -> str | None:
    """``slurm_key`` when that job is the experiment's current one: it is queued, or it is
    running/requeued (or another of ``statuses``) in that very job (``_meta.slurm``), not
    e.g. run locally after a reset."""
    key = slurm_key(info)
    if key is None or status not in statuses:
        return None
    if status == _status.QUEUED:
        return key
    running = meta.get("slurm") if isinstance(meta, dict) else None
    if not isinstance(running, dict):
        return None
    task = running.get("array_task_id")
    ran = f"{running.get('array_job_id')}_{task}" if task is not None else running.get("job_id")
    return key if str(ran) == key else None


def _select(xs: ExperimentSet, pattern: str | None, force: bool, scheduler: base.Launcher,
            result: ClusterResult) -> tuple[list[str], set[str]]:
    """The experiments to submit: ``registered`` ones; with ``force`` any status but running,
    and not those whose job SLURM still has queued or running. Also returns the job keys the
    scheduler said have ended (their experiments may be claimed again)."""
    names = xs.names(pattern)
    if not names:
        raise _errors.ConfigError(f"no experiment in the set matches {pattern!r}",
                                  source=str(xs.root))
    chosen: list[str] = []
    pending: dict[str, str] = {}
    for name in names:
        data = _read(xs.root / name / _layout.PARAMS_FILE)
        status = data.get("_status", _status.REGISTERED) if data else _status.CORRUPT
        if status == _status.REGISTERED or (
                force and status not in (_status.RUNNING, _status.CORRUPT)):
            chosen.append(name)
            key = slurm_key(data.get("_slurm")) if data else None
            if status in ACTIVE and key:
                pending[name] = key
        else:
            (result.busy if status in ACTIVE and force else result.skipped).append(name)
    ended: set[str] = set()
    if pending:
        try:
            states = scheduler.states(pending.values())
        except _errors.FexpError:
            states = {}  # cannot ask: assume the job may still run rather than run it twice
        for name, key in pending.items():
            state = states.get(key)
            if state is None or not state.done:
                chosen.remove(name)
                result.busy.append(name)
            else:
                ended.add(key)
    return chosen, ended


def _submission_folder(xs: ExperimentSet, *, create: bool) -> pathlib.Path:
    parent = xs.paths.generated / SLURM_DIR
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for index in range(10_000):
        folder = parent / (stamp if index == 0 else f"{stamp}_{index}")
        if not create:
            if not folder.exists():
                return folder
            continue
        parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise _errors.ExperimentStateError("no free submission folder name", source=str(parent))


def render_retry_script(script: pathlib.Path, retries: int, python: str | None = None) -> str:
    """The payload a job runs when ``--retries N``: the set's script, again while it errs."""
    interpreter = shlex.quote(python or sys.executable)
    return ("#!/usr/bin/env bash\n"
            f"# Generated by fexp: runs {str(script)!r} on the params.yml given, and again "
            f"(up to {retries} more times) while the experiment ends in error.\n"
            f"exec {interpreter} -m fexp._cluster retry {retries} {shlex.quote(str(script))}"
            ' "$1"\n')


# --------------------------------------------------------------------------- submit


def submit(xs: ExperimentSet, pattern: str | None, *, launcher: Sequence[str],
           options: slurm.SlurmOptions, array: bool, mode: Mode, force: bool, retries: int,
           stop_on_failure: bool, scheduler: base.Launcher | None = None) -> ClusterResult:
    """Submit the matching experiments to SLURM: one job array (``array``) or one job each
    (``launcher == ["sbatch", ARGS...]``, ARGS passed to every sbatch call).

    ``dry-run`` returns the exact argv and scripts and touches nothing; ``generate`` writes
    them under the set's ``generated/slurm/`` and leaves statuses alone; ``submit`` submits
    (held, so no job starts before its params.yml says ``queued`` with its ``_slurm`` ids,
    then released) and records that for every experiment. ``scheduler`` replaces SLURM
    (tests pass a ``FakeLauncher``).

    Raises:
        ConfigError: bad options or arguments, no matching experiment, no SLURM.
    """
    if retries < 0:
        raise _errors.ConfigError(f"--retries cannot be negative, got {retries}",
                                  source="option --retries")
    is_sbatch = bool(launcher) and launcher[0].rsplit("/", 1)[-1] == "sbatch"
    if not array and not is_sbatch:
        return _local_dry_run(xs, pattern, launcher, mode, force)
    if not array:
        options = dataclasses.replace(options, extra_args=(*launcher[1:], *options.extra_args))
        slurm.check_options(options)
    backend = scheduler or slurm.SlurmLauncher(xs.paths.generated, options, array=array)
    result = ClusterResult(mode, array=array)
    names, ended = _select(xs, pattern, force, backend, result)
    if not names:
        return result
    result.held = any(arg.split("=")[0] in HOLD_ARGS for arg in options.extra_args)
    hold = mode != "generate" and not result.held
    real = scheduler is None
    plan = _plan(xs, names, options, array=array, mode=mode, retries=retries, hold=hold,
                 real=real)  # every option is checked before anything changes
    busy = len(result.busy)
    mine = _claim(xs, names, force, result, ended) if mode == "submit" else None
    if len(result.busy) > busy:  # another run took some since _select: plan again
        _remove_empty(plan.folder)
        names = [n for n in names if n not in result.busy]
        if not names:
            return result
        plan = _plan(xs, names, options, array=array, mode=mode, retries=retries, hold=hold,
                     real=real)
    try:
        _write_and_submit(xs, plan, retries, mode=mode, hold=hold, backend=backend, real=real,
                          force=force, stop_on_failure=stop_on_failure, result=result,
                          mine=mine)
    finally:
        if mine is not None:
            _release_claims(xs, names, mine, result)
    return result


def _write_and_submit(xs: ExperimentSet, plan: slurm.SubmitPlan, retries: int, *, mode: Mode,
                      hold: bool, backend: base.Launcher, real: bool, force: bool,
                      stop_on_failure: bool, result: ClusterResult,
                      mine: dict[str, Any] | None) -> None:
    """Print (dry run), write (generate) or write and submit the planned sbatch calls."""
    result.folder = plan.folder
    retry_text = render_retry_script(xs.paths.script, retries) if retries else None
    if mode == "dry-run":
        result.details = _render_dry_run(plan, retry_text, hold)
        return
    if retry_text is not None:
        _atomic.atomic_write(plan.folder / RETRY_SCRIPT, retry_text, mode=0o755)
    slurm.write_plan(plan)
    if mode == "generate" or mine is None:
        result.details = _render_generated(plan)
        return
    _submit_batches(xs, plan, backend, real, force, stop_on_failure, result, mine)
    if hold and real and result.submitted:
        _release(result)


def _claim(xs: ExperimentSet, names: Sequence[str], force: bool, result: ClusterResult,
           ended: set[str]) -> dict[str, Any]:
    """Claim ``names`` for this submission under the set's lock (``queued``, owned by this
    process until the job ids are recorded), so a second ``fexp run --slurm`` started
    meanwhile skips them; those another live owner took since ``_select`` go to ``busy``."""
    from ._store import params_file

    mine = owner.me(owner.new_claim())

    def accept(now: str) -> bool:
        return now == _status.REGISTERED or (force and now not in (_status.CORRUPT, *ACTIVE))

    liveness = owner.Liveness(ended=ended)  # one squeue for the whole selection
    with xs.locked():
        for name in names:
            if params_file.claim(xs.root / name, mine, accept, liveness=liveness,
                                 reset=force) is None:
                result.busy.append(name)
    return mine


def _release_claims(xs: ExperimentSet, names: Sequence[str], mine: dict[str, Any],
                    result: ClusterResult) -> None:
    """Give back the claims of experiments that were not submitted after all."""
    from ._store import params_file

    submitted = {sub.name for sub in result.submitted}
    for name in names:
        if name not in submitted:
            params_file.release(xs.root / name, mine)


def _plan(xs: ExperimentSet, names: Sequence[str], options: slurm.SlurmOptions, *,
          array: bool, mode: Mode, retries: int, hold: bool, real: bool) -> slurm.SubmitPlan:
    """The sbatch calls and files for ``names``, in a new folder under generated/slurm/
    (only named, not created, for a dry run)."""
    if real and mode == "submit" and shutil.which("sbatch") is None:
        raise _errors.ConfigError(
            "sbatch not found: SLURM's commands are needed here (run fexp on a login node of "
            "the cluster, or --generate the scripts and submit them there)")
    try:
        limit = slurm.max_array_size() if real and array else slurm.DEFAULT_MAX_ARRAY_SIZE
    except _errors.ConfigError:
        if mode == "submit":
            raise
        limit = slurm.DEFAULT_MAX_ARRAY_SIZE
    if hold:  # no job may start before its params.yml records it (released after)
        options = dataclasses.replace(options, extra_args=(*options.extra_args, "--hold"))
    folder = _submission_folder(xs, create=mode != "dry-run")
    script = folder / RETRY_SCRIPT if retries else xs.paths.script
    jobs = [base.Job(n, xs.root / n / _layout.PARAMS_FILE, script, xs.root) for n in names]
    try:
        return slurm.plan_submission(jobs, options, folder, array=array, max_array_size=limit)
    except BaseException:
        if mode != "dry-run":
            _remove_empty(folder)
        raise


def _remove_empty(folder: pathlib.Path) -> None:
    """Remove the submission folder and the generated/slurm/ folders above it, if empty."""
    for path in (folder, folder.parent, folder.parent.parent):
        with contextlib.suppress(OSError):
            path.rmdir()


def _submit_batches(xs: ExperimentSet, plan: slurm.SubmitPlan, backend: base.Launcher,
                    real: bool, force: bool, stop_on_failure: bool,
                    result: ClusterResult, mine: dict[str, Any]) -> None:
    """Run each planned sbatch call and record its experiments; a failed call is reported
    and, with ``stop_on_failure``, ends the submission."""
    submitted_at = _meta.now_iso()
    for number, batch in enumerate(plan.batches):
        names = ", ".join(job.name for job in batch.jobs[:3])
        names += ", ..." if len(batch.jobs) > 3 else ""
        left = [job.name for b in plan.batches[number + 1:] for job in b.jobs]
        try:
            if real:
                subs = slurm.run_plan(slurm.SubmitPlan(plan.folder, plan.log_dir, (batch,)))
            else:
                subs = backend.submit(list(batch.jobs))
        except _errors.FexpError as exc:  # sbatch refused the batch, or is missing
            result.failures.append(f"could not submit {names}: {exc}")
            if stop_on_failure:
                result.left_out = left
                break
            continue
        try:
            _record_submitted(xs, plan, subs, force, submitted_at, mine)
        except BaseException as exc:
            # Held jobs that no params.yml records would wait forever: take them back.
            with contextlib.suppress(Exception):
                backend.cancel(sorted({sub.job_id for sub in subs}))
            if not isinstance(exc, _errors.FexpError):
                raise
            result.failures.append(f"could not record {names} ({exc}); their jobs were "
                                   "cancelled")
            result.left_out = left
            break
        result.submitted.extend(subs)


def _record_submitted(xs: ExperimentSet, plan: slurm.SubmitPlan,
                      subs: Sequence[base.Submission], force: bool, submitted_at: str,
                      mine: dict[str, Any]) -> None:
    from ._store import params_file

    def update(name: str, data: dict[str, Any]) -> bool:
        if not params_file.owned_by(data, mine):
            return False  # someone reset or took it meanwhile: the job's execute refuses it
        sub = by_name[name]
        info: dict[str, Any] = {"job_id": sub.key}
        if sub.array_index is not None:
            info.update(array_job_id=sub.job_id, array_task_id=sub.array_index)
        log = f"slurm-{sub.key if sub.array_index is not None else sub.job_id}.out"
        info.update(state="PENDING", submitted=submitted_at, log=str(plan.log_dir / log))
        data["_status"] = _status.QUEUED
        if force:
            data["_started"] = data["_stopped"] = None
        data["_slurm"] = info
        data["_owner"] = owner.for_job(sub.key)  # lost once SLURM forgets the job
        return True

    by_name = {sub.name: sub for sub in subs}
    _update_params(xs, list(by_name), update)


def _update_params(xs: ExperimentSet, names: Sequence[str],
                   update: Callable[[str, dict[str, Any]], bool]) -> None:
    """Under the set lock, read each params.yml, let ``update`` change it (False: leave the
    file alone) and write it back (``params_file.update_many``: one sync for many)."""
    from ._store import params_file

    params_file.update_many(xs.root, names, update, xs.helps())


def _release(result: ClusterResult) -> None:
    ids = list(dict.fromkeys(sub.job_id for sub in result.submitted))
    try:
        proc = subprocess.run(["scontrol", "release", ",".join(ids)], capture_output=True,
                              text=True, check=False, timeout=60)
        problem = proc.stderr.strip() if proc.returncode != 0 else None
    except (OSError, subprocess.SubprocessError) as exc:
        problem = str(exc)
    if problem:
        result.failures.append(
            f"the jobs were submitted held and `scontrol release {','.join(ids)}` failed "
            f"({problem}); run it yourself to let them start")


def _argv_text(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def _render_dry_run(plan: slurm.SubmitPlan, retry_text: str | None, hold: bool) -> str:
    jobs = sum(len(b.jobs) for b in plan.batches)
    out = [f"# dry run: nothing was written or submitted. {jobs} experiment(s) in "
           f"{len(plan.batches)} sbatch call(s); files would go under {plan.folder}"]
    for batch in plan.batches:
        out.append(f"$ {_argv_text(batch.argv)}")
    if hold:
        out.append("$ scontrol release JOB_IDS  # once every params.yml records its job")
    if retry_text is not None:
        out += [f"--- {plan.folder / RETRY_SCRIPT} ---", retry_text.rstrip("\n")]
    for path, text in plan.files():
        out += [f"--- {path} ---", text.rstrip("\n")]
    return "\n".join(out)


def _render_generated(plan: slurm.SubmitPlan) -> str:
    out = [f"wrote {len(plan.files())} file(s) under {plan.folder}; statuses are unchanged.",
           "Submit them yourself with:"]
    for batch in plan.batches:
        argv = [a for a in batch.argv if a != "--parsable"]
        out.append(f"  {_argv_text(argv)}")
    return "\n".join(out)


def _local_dry_run(xs: ExperimentSet, pattern: str | None, launcher: Sequence[str], mode: Mode,
                   force: bool) -> ClusterResult:
    from ._launchers import local

    if mode != "dry-run":
        raise _errors.ConfigError(
            f"--{mode} needs a SLURM launcher: add --slurm (one job array) or the sbatch "
            "launcher (`fexp run PATTERN sbatch ...`)", source="option --" + mode)
    chosen, skipped = local.runnable(xs, pattern, force)
    lines = [f"# dry run: nothing was run or changed. {len(chosen)} experiment(s):"]
    for name in chosen:
        argv = local.command_for(launcher or ["bash"], str(xs.paths.script),
                                 str(xs.root / name / _layout.PARAMS_FILE))
        lines.append(f"$ {_argv_text(argv)}")
    return ClusterResult(mode, skipped=skipped, details="\n".join(lines), array=False)


# --------------------------------------------------------------------------- list, cancel


def refresh(rows: list[dict[str, Any]], scheduler: base.Launcher | None = None
            ) -> list[dict[str, Any]]:
    """Ask SLURM once about every queued/running/requeued row with a job, and show its state.

    Rows are copied, files are not touched. A job SLURM reports as ended while params.yml
    still says queued or running (it died before fexp could record anything) shows the
    scheduler's status, ``lost`` after a node failure. A preempted or timed-out job that
    SLURM requeued by itself shows SLURM's state and status (pending: ``queued``). Rows that
    ended show the SLURM word for their status rather than the ``PENDING`` recorded at
    submission. Without SLURM (``squeue`` missing) active rows come back as read.
    """
    out = list(rows)
    keys: dict[int, str] = {}
    for index, row in enumerate(rows):
        if slurm_key(row.get("slurm")) is None:
            continue
        key = live_key(row.get("status"), row.get("slurm"), row.get("meta"), WATCHED)
        if key is not None:
            keys[index] = key
        elif row.get("status") in ENDED_STATE:
            out[index] = {**row, "slurm": {**row["slurm"], "state": ENDED_STATE[row["status"]]}}
    if not keys:
        return out
    backend = scheduler or slurm.SlurmLauncher(pathlib.Path("."))
    try:
        states = backend.states(keys.values())
    except _errors.FexpError:
        return out
    for index, key in keys.items():
        state = states.get(key)
        if state is None:
            continue
        row = {**rows[index], "slurm": {**rows[index]["slurm"], "state": state.state}}
        row["status"] = _shown_status(str(row.get("status")), state)
        out[index] = row
    return out


def _shown_status(recorded: str, state: base.JobState) -> str:
    """The status ``fexp list`` shows for a row SLURM has just described."""
    if recorded in (*ACTIVE, _status.LOST):
        if state.state in LOST_STATES:
            return _status.LOST
        if recorded == _status.LOST and not state.done:
            return state.status  # SLURM runs the job again (it requeued it)
        return state.status if state.done and state.status != base.UNKNOWN else recorded
    # preempted/timeout: only a job SLURM runs again (it requeued it itself) changes it.
    return recorded if state.done or state.status == "unknown" else state.status


def cancel(xs: ExperimentSet, pattern: str | None, scheduler: base.Launcher | None = None
           ) -> list[str]:
    """Cancel the SLURM jobs of the matching queued/running/requeued experiments with one
    ``scancel`` and record ``stopped`` (the runner records it too when TERM arrives; either
    order ends ``stopped``, and an experiment that finished meanwhile stays finished).

    Raises:
        ConfigError: no experiment matches, or scancel failed.
    """
    names = xs.names(pattern)
    if not names:
        raise _errors.ConfigError(f"no experiment in the set matches {pattern!r}",
                                  source=str(xs.root))
    targets: dict[str, str] = {}
    for name in names:
        data = _read(xs.root / name / _layout.PARAMS_FILE)
        key = live_key(data.get("_status"), data.get("_slurm"), data.get("_meta")) \
            if data else None
        if key is not None:
            targets[name] = key
    if not targets:
        return []
    (scheduler or slurm.SlurmLauncher(xs.paths.generated)).cancel(targets.values())
    now = _meta.now_iso()

    def stop(name: str, data: dict[str, Any]) -> bool:
        if data.get("_status") not in ACTIVE:
            return False  # the runner recorded how it ended meanwhile
        data["_status"] = _status.STOPPED
        data["_stopped"] = data["_last"] = now
        data["_slurm"] = {**data["_slurm"], "state": "CANCELLED"}
        return True

    _update_params(xs, list(targets), stop)
    return list(targets)


# --------------------------------------------------------------------------- retries


def run_with_retries(script: str, params: str, retries: int) -> int:
    """Run ``script params``; while the experiment ends in ``error``, run it again (at most
    ``retries`` more times). USR1/TERM/INT are forwarded to the running attempt, and an
    interrupted attempt is never retried (the runner has recorded timeout/requeued/stopped).
    Each attempt is recorded in ``_attempts`` by the runner itself."""
    child: subprocess.Popen[bytes] | None = None
    received: list[int] = []

    def forward(signum: int, frame: object) -> None:
        received.append(signum)
        if child is not None and child.poll() is None:
            os.kill(child.pid, signum)

    for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    code = 0
    for attempt in range(retries + 1):
        if received:
            return 128 + received[-1]
        child = subprocess.Popen([script, params])
        code = child.wait()
        data = _read(pathlib.Path(params))
        status = data.get("_status") if data else None
        if code == 0 or received or status != "error" or attempt == retries:
            return code
        print(f"fexp: attempt {attempt + 1} of {retries + 1} ended in error; running it again",
              file=sys.stderr, flush=True)
    return code


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 4 or argv[0] != "retry" or not argv[1].isdigit():
        print("usage: python -m fexp._cluster retry N SCRIPT PARAMS", file=sys.stderr)
        return 2
    return run_with_retries(argv[2], argv[3], int(argv[1]))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

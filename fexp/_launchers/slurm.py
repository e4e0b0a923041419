"""SLURM: batch scripts and sbatch argv (one job array, or one job per experiment), the parsers
of sbatch/squeue/scontrol output, and the thin shell that runs them.

Everything above ``SlurmLauncher`` is pure (text in, text out); only the launcher, ``run_plan``,
``write_plan`` and ``max_array_size`` start processes or write files.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import subprocess
from collections.abc import Iterable, Sequence

from fexp import _atomic, _errors
from fexp._launchers import base

DEFAULT_GRACE = 120
DEFAULT_JOB_NAME = "fexp"
DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's own default: task indices 0-1000.
# File names inside the submission folder the caller gives (candidates for _layout).
LOG_DIR = "logs"
ARRAY_SCRIPT = "array_{}.sbatch"
ARRAY_MANIFEST = "array_{}.manifest"
JOB_SCRIPT = "job_{}.sbatch"
SQUEUE_FORMAT = "%i|%T|%r"
NO_VAL = 0xFFFFFFFE  # what scontrol prints as ArrayTaskId for an array with no pending task

STATUS_OF_STATE: dict[str, base.SchedulerStatus] = {
    "PENDING": "queued", "RESV_DEL_HOLD": "queued", "CONFIGURING": "running",
    "RUNNING": "running", "COMPLETING": "running", "SUSPENDED": "running", "STOPPED": "running",
    "SIGNALING": "running", "STAGE_OUT": "running", "RESIZING": "running",
    "REQUEUED": "requeued", "REQUEUE_HOLD": "requeued", "REQUEUE_FED": "requeued",
    "COMPLETED": "finished", "FAILED": "error", "OUT_OF_MEMORY": "error", "NODE_FAIL": "error",
    "BOOT_FAIL": "error", "SPECIAL_EXIT": "error", "CANCELLED": "stopped", "REVOKED": "stopped",
    "TIMEOUT": "timeout", "DEADLINE": "timeout", "PREEMPTED": "preempted",
}
_TIME = re.compile(r"(\d+-)?\d+(:\d+){0,2}|UNLIMITED|INFINITE", re.IGNORECASE)
_FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w/:]*)=")
_FORBIDDEN_ARGS = ("-a", "--array", "--wrap")


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """What to ask SLURM for; None leaves a value to the cluster's defaults.

    Attributes:
        time: time limit in SLURM's syntax (``90``, ``1:30:00``, ``2-00:00:00``).
        gpus: GPUs per job (``2`` or ``"a100:2"``); cpus: CPUs per task; mem: ``"16G"``.
        max_parallel: at most this many tasks of one array run at once (``%K``).
        grace_seconds: USR1 is sent this long before the time limit (``--signal=B:USR1@``).
        requeue: let jobs requeue themselves (``--requeue``) after a timeout or preemption.
        extra_args: more sbatch arguments, passed on its command line (they win over the
            script's ``#SBATCH`` lines).
        header_lines: the user's configured lines: ``#`` lines join the ``#SBATCH`` block
            before fexp's own directives (which override them), other lines run before
            the payload.
        job_name: the job (array) name; defaults to ``fexp`` or the experiment's name.
    """

    time: str | None = None
    gpus: int | str | None = None
    cpus: int | None = None
    mem: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    max_parallel: int | None = None
    grace_seconds: int = DEFAULT_GRACE
    requeue: bool = True
    extra_args: tuple[str, ...] = ()
    header_lines: tuple[str, ...] = ()
    job_name: str | None = None


class SubmitError(_errors.ConfigError):
    """sbatch refused a batch; ``submitted`` holds what was submitted before it."""

    def __init__(self, detail: str, submitted: list[base.Submission]) -> None:
        super().__init__(detail, source="sbatch")
        self.submitted = submitted


# --------------------------------------------------------------------------- validation


def _text_problem(flag: str, value: str, *, directive: bool = True) -> str | None:
    if value == "":
        return f"{flag} is empty"
    if any(c in value for c in "\n\r\0"):
        return f"{flag} {value!r} contains a line break or NUL"
    # sbatch reads a backslash in an #SBATCH line as an escape, even inside quotes.
    if directive and "\\" in value:
        return f"{flag} {value!r} contains a backslash, which #SBATCH lines cannot hold"
    return None


def _int_problem(flag: str, value: object, minimum: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        return f"{flag} must be an integer >= {minimum}, got {value!r}"
    return None


def check_options(options: SlurmOptions) -> None:
    """Check every option at once.

    Raises:
        ConfigError: naming each bad option (e.g. a value with a line break).
    """
    problems: list[str | None] = []
    for flag, text in (("--time", options.time), ("--mem", options.mem),
                       ("--partition", options.partition), ("--account", options.account),
                       ("--qos", options.qos), ("job name", options.job_name)):
        if text is not None:
            problems.append(_text_problem(flag, text))
    if options.time and not _text_problem("", options.time) and not _TIME.fullmatch(options.time):
        problems.append(f"--time {options.time!r} is not a SLURM time (minutes, MM:SS, "
                        "HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)")
    if isinstance(options.gpus, str):
        problems.append(_text_problem("--gpus", options.gpus))
    elif options.gpus is not None:
        problems.append(_int_problem("--gpus", options.gpus, 0))
    for flag, number in (("--cpus", options.cpus), ("--max-parallel", options.max_parallel)):
        if number is not None:
            problems.append(_int_problem(flag, number, 1))
    problems.append(_int_problem("grace seconds", options.grace_seconds, 0))
    for arg in options.extra_args:
        problems.append(_text_problem("--sbatch-arg", arg, directive=False))
        if arg.split("=")[0] in _FORBIDDEN_ARGS:
            problems.append(f"--sbatch-arg {arg!r} is managed by fexp and cannot be given")
    for line in options.header_lines:
        if any(c in line for c in "\n\r\0"):
            problems.append(f"header line {line!r} contains a line break or NUL")
    found = [p for p in problems if p]
    if found:
        raise _errors.ConfigError(
            "invalid SLURM options: " + "; ".join(found) + ". Fix them on the command line "
            "(fexp run --slurm) or in the global config (fexp config show).")


def _check_jobs(jobs: Sequence[base.Job]) -> None:
    problems = []
    for job in jobs:
        # A params path only goes into the manifest, a workdir into an #SBATCH line.
        for what, path, directive in (("params path", job.params_path, False),
                                      ("workdir", job.workdir, True)):
            problem = _text_problem(f"the {what} of experiment {job.name!r}", str(path),
                                    directive=directive)
            if problem:
                problems.append(problem)
    if problems:
        raise _errors.ConfigError(
            "cannot submit to SLURM: " + "; ".join(problems) + ". A manifest holds one path "
            "per line and #SBATCH lines cannot hold backslashes; rename the folder.")


# --------------------------------------------------------------------------- rendering


def _filename_pattern(path: pathlib.Path) -> str:
    # sbatch expands %-patterns in --output/--error; %% is a literal %.
    return str(path).replace("%", "%%")


def _option_directives(options: SlurmOptions) -> list[tuple[str, str | None]]:
    gpus = None if options.gpus in (None, 0) else options.gpus
    pairs = (("time", options.time), ("gpus", gpus), ("cpus-per-task", options.cpus),
             ("mem", options.mem), ("partition", options.partition),
             ("account", options.account), ("qos", options.qos))
    return [(name, str(value)) for name, value in pairs if value is not None]


def _render(options: SlurmOptions, directives: list[tuple[str, str | None]], **context: object
            ) -> str:
    from fexp import _render

    lines = options.header_lines
    return _render.render_template(
        "sbatch.sh.j2",
        header_directives=[line for line in lines if line.lstrip().startswith("#")],
        header_commands=[line for line in lines if not line.lstrip().startswith("#")],
        directives=directives + _option_directives(options),
        grace=options.grace_seconds,
        requeue=options.requeue,
        **context,
    )


def render_manifest(jobs: Sequence[base.Job]) -> str:
    """Render an array's manifest: line i+1 is the params.yml of task i."""
    _check_jobs(jobs)
    return "".join(f"{job.params_path}\n" for job in jobs)


def render_array_script(jobs: Sequence[base.Job], options: SlurmOptions,
                        manifest_path: pathlib.Path, log_dir: pathlib.Path) -> str:
    """Render the batch script of one job array: task i runs ``script`` on manifest line i+1.

    All ``jobs`` must share one script and workdir (``plan_submission`` groups them).

    Raises:
        ConfigError: a bad option, or a path that cannot go into a manifest or #SBATCH line.
    """
    check_options(options)
    _check_jobs(jobs)
    if not jobs or len({(j.script_path, j.workdir) for j in jobs}) != 1:
        raise ValueError("an array needs at least one job, all with one script and workdir")
    for problem in (_text_problem("log dir", str(log_dir)),
                    _text_problem("manifest", str(manifest_path), directive=False)):
        if problem:
            raise _errors.ConfigError(f"cannot write a SLURM array: {problem}.")
    logs = _filename_pattern(log_dir)
    directives: list[tuple[str, str | None]] = [
        ("job-name", options.job_name or DEFAULT_JOB_NAME), ("chdir", str(jobs[0].workdir)),
        ("output", f"{logs}/slurm-%A_%a.out"), ("error", f"{logs}/slurm-%A_%a.err")]
    return _render(options, directives, description=f"job array of {len(jobs)} experiment(s)",
                   script_path=str(jobs[0].script_path), manifest_path=str(manifest_path),
                   params_path=None, array=array_spec(len(jobs)))


def render_job_script(job: base.Job, options: SlurmOptions,
                      log_dir: pathlib.Path | None = None) -> str:
    """Render the batch script of one experiment (logs in its folder unless ``log_dir``).

    Raises:
        ConfigError: a bad option, or a path that cannot go into a #SBATCH line.
    """
    check_options(options)
    _check_jobs([job])
    logs = log_dir if log_dir is not None else job.params_path.parent
    problem = _text_problem("log dir", str(logs))
    if problem:
        raise _errors.ConfigError(f"cannot write a SLURM job script: {problem}.")
    name_problem = _text_problem("job name", options.job_name or job.name)
    directives: list[tuple[str, str | None]] = [
        ("job-name", DEFAULT_JOB_NAME if name_problem else options.job_name or job.name),
        ("chdir", str(job.workdir)), ("output", f"{_filename_pattern(logs)}/slurm-%j.out"),
        ("error", f"{_filename_pattern(logs)}/slurm-%j.err")]
    return _render(options, directives, description=f"experiment {job.name}",
                   script_path=str(job.script_path), manifest_path=None,
                   params_path=str(job.params_path), array=None)


def array_spec(count: int) -> str:
    """The ``--array`` range of ``count`` tasks: ``0-{count-1}``."""
    return f"0-{count - 1}"


def sbatch_argv(script_path: pathlib.Path, options: SlurmOptions,
                array: str | None = None) -> list[str]:
    """Build ``sbatch --parsable [--array=RANGE%K] [extra args] SCRIPT``."""
    argv = ["sbatch", "--parsable"]
    if array is not None:
        throttle = f"%{options.max_parallel}" if options.max_parallel else ""
        argv.append(f"--array={array}{throttle}")
    return [*argv, *options.extra_args, str(script_path)]


def split_array(n: int, max_size: int) -> list[range]:
    """Split ``n`` tasks into consecutive ranges of at most ``max_size`` (MaxArraySize).

    Example:
        >>> split_array(5, 2)
        [range(0, 2), range(2, 4), range(4, 5)]
    """
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    return [range(start, min(start + max_size, n)) for start in range(0, n, max_size)]


# --------------------------------------------------------------------------- parsing


def status_from_slurm(state: str) -> base.SchedulerStatus:
    """Map a SLURM job state (``RUNNING``, ``CANCELLED by 0`` ...) to an fexp status."""
    words = state.split()
    return STATUS_OF_STATE.get(words[0].upper() if words else "", "unknown")


def _job_state(state: str, reason: str | None = None, restarts: str | None = None,
               exit_code: str | None = None) -> base.JobState:
    word = state.split()[0] if state.split() else "UNKNOWN"
    return base.JobState(
        state=word, status=status_from_slurm(word),
        reason=None if reason in (None, "", "None", "(null)") else reason,
        restarts=int(restarts) if restarts and restarts.isdigit() else None,
        exit_code=exit_code or None)


def expand_indices(spec: str) -> list[int]:
    """Expand SLURM's array index syntax: ``1,3-5``, ``0-9%3``, ``0-15:4``.

    Example:
        >>> expand_indices("1,3-5%2")
        [1, 3, 4, 5]
    """
    indices: list[int] = []
    for part in spec.split("%")[0].split(","):
        span, _, step = part.partition(":")
        first, _, last = span.partition("-")
        if first.isdigit() and (not last or last.isdigit()) and (not step or step.isdigit()):
            indices.extend(range(int(first), int(last or first) + 1, int(step or 1)))
    return indices


def _keys(job_id: str) -> list[str]:
    match = re.fullmatch(r"(\d+)_\[([^\]]*)\]", job_id)
    if match:
        return [f"{match.group(1)}_{i}" for i in expand_indices(match.group(2))]
    return [job_id]


def parse_sbatch_output(text: str) -> tuple[str, str | None]:
    """Parse ``sbatch --parsable`` output into ``(job_id, cluster or None)``.

    Raises:
        ConfigError: the output holds no job id.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    job_id, _, cluster = (lines[-1] if lines else "").partition(";")
    if not job_id.isdigit():
        raise _errors.ConfigError(f"sbatch printed no job id: {text!r}", source="sbatch")
    return job_id, cluster or None


def parse_squeue(text: str) -> dict[str, base.JobState]:
    """Parse ``squeue -h -t all -o '%i|%T|%r'``; pending ranges (``12_[3-5]``) are expanded."""
    states: dict[str, base.JobState] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) >= 2 and fields[0]:
            state = _job_state(fields[1], fields[2] if len(fields) > 2 else None)
            states.update(dict.fromkeys(_keys(fields[0]), state))
    return states


def parse_scontrol_show_job(text: str) -> list[dict[str, str]]:
    """Parse ``scontrol -o show job`` (one ``Key=value ...`` line per job) into dicts.

    Values may hold spaces (``JobName``, ``WorkDir``); a key is a word right after
    whitespace and before ``=``. Where a key repeats, the first value counts.
    """
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("JobId="):
            continue
        matches = list(_FIELD.finditer(line))
        record: dict[str, str] = {}
        for match, following in zip(matches, [*matches[1:], None], strict=True):
            end = following.start() if following else len(line)
            record.setdefault(match.group(1), line[match.end():end].strip())
        records.append(record)
    return records


def states_from_scontrol(records: Iterable[dict[str, str]]) -> dict[str, base.JobState]:
    """Turn ``parse_scontrol_show_job`` records into states keyed ``123`` or ``123_4``."""
    states: dict[str, base.JobState] = {}
    for rec in records:
        state = _job_state(rec.get("JobState", ""), rec.get("Reason"), rec.get("Restarts"),
                           rec.get("ExitCode"))
        array_id, tasks = rec.get("ArrayJobId"), rec.get("ArrayTaskId")
        if array_id and tasks and tasks.isdigit() and int(tasks) >= NO_VAL:
            states[array_id] = state  # an array with no task left pending: SLURM's NO_VAL
        elif array_id and tasks:
            states.update(dict.fromkeys((f"{array_id}_{i}" for i in expand_indices(tasks)),
                                        state))
        elif rec.get("JobId"):
            states[rec["JobId"]] = state
    return states


def parse_max_array_size(text: str) -> int:
    """Read ``MaxArraySize`` from ``scontrol show config`` (Slurm's default when absent)."""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else DEFAULT_MAX_ARRAY_SIZE


# --------------------------------------------------------------------------- planning


@dataclasses.dataclass(frozen=True)
class Batch:
    """One sbatch call: its argv, the files it needs, the experiments it carries.

    ``indices`` are the positions of ``jobs`` in the list given to ``plan_submission``.
    """

    argv: tuple[str, ...]
    script_path: pathlib.Path
    script_text: str
    jobs: tuple[base.Job, ...]
    indices: tuple[int, ...]
    manifest_path: pathlib.Path | None = None
    manifest_text: str | None = None


@dataclasses.dataclass(frozen=True)
class SubmitPlan:
    """Everything a submission will write and run; ``dry_run`` returns it untouched."""

    folder: pathlib.Path
    log_dir: pathlib.Path
    batches: tuple[Batch, ...]

    def files(self) -> list[tuple[pathlib.Path, str]]:
        """Every file to write, as ``(path, text)``: manifests first, then scripts."""
        manifests = [(b.manifest_path, b.manifest_text) for b in self.batches
                     if b.manifest_path is not None and b.manifest_text is not None]
        return [*manifests, *((b.script_path, b.script_text) for b in self.batches)]


def _absolute(job: base.Job) -> base.Job:
    return dataclasses.replace(job, params_path=job.params_path.absolute(),
                               script_path=job.script_path.absolute(),
                               workdir=job.workdir.absolute())


def plan_submission(jobs: Sequence[base.Job], options: SlurmOptions, folder: pathlib.Path, *,
                    array: bool = True, max_array_size: int = DEFAULT_MAX_ARRAY_SIZE
                    ) -> SubmitPlan:
    """Plan the sbatch calls for ``jobs``: arrays (grouped by script and workdir, split at
    ``max_array_size``) or one job each. Validates everything before anything is written.

    Raises:
        ConfigError: a bad option or path (every problem in one message).
    """
    check_options(options)
    folder = folder.absolute()
    log_dir = folder / LOG_DIR
    absolute = [_absolute(job) for job in jobs]
    _check_jobs(absolute)
    batches: list[Batch] = []
    if not array:
        for i, job in enumerate(absolute):
            script = folder / JOB_SCRIPT.format(i)
            batches.append(Batch(tuple(sbatch_argv(script, options)), script,
                                 render_job_script(job, options, log_dir), (job,), (i,)))
        return SubmitPlan(folder, log_dir, tuple(batches))
    groups: dict[tuple[pathlib.Path, pathlib.Path], list[int]] = {}
    for i, job in enumerate(absolute):
        groups.setdefault((job.script_path, job.workdir), []).append(i)
    for positions in groups.values():
        for chunk in split_array(len(positions), max_array_size):
            indices = tuple(positions[chunk.start:chunk.stop])
            chunk_jobs = tuple(absolute[i] for i in indices)
            n = len(batches)
            script, manifest = folder / ARRAY_SCRIPT.format(n), folder / ARRAY_MANIFEST.format(n)
            text = render_array_script(chunk_jobs, options, manifest, log_dir)
            argv = sbatch_argv(script, options, array_spec(len(chunk_jobs)))
            batches.append(Batch(tuple(argv), script, text, chunk_jobs, indices, manifest,
                                 render_manifest(chunk_jobs)))
    return SubmitPlan(folder, log_dir, tuple(batches))


# --------------------------------------------------------------------------- the shell


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise _errors.ConfigError(
            f"{argv[0]} not found: SLURM's commands are needed here (run fexp on a login "
            "node of the cluster, or use a local launcher).") from None


def max_array_size() -> int:
    """The cluster's MaxArraySize, from one ``scontrol show config`` call.

    Raises:
        ConfigError: scontrol is missing or fails.
    """
    proc = _run(["scontrol", "show", "config"])
    if proc.returncode != 0:
        raise _errors.ConfigError(f"scontrol show config failed: {proc.stderr.strip()}",
                                  source="scontrol")
    return parse_max_array_size(proc.stdout)


def write_plan(plan: SubmitPlan) -> None:
    """Write the plan's manifests and scripts (atomically) and create its log folder."""
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    for path, text in plan.files():
        # No fsync per file: sbatch reads each script at once, and readers on other nodes
        # see a closed file anyway; after a crash the files are simply generated again.
        _atomic.atomic_write(path, text, mode=0o755 if path.suffix == ".sbatch" else 0o644,
                             durable=False)


def run_plan(plan: SubmitPlan) -> list[base.Submission]:
    """Run each batch's sbatch; return Submissions in the order of the planned jobs.

    Raises:
        SubmitError: sbatch failed; ``submitted`` lists what went through before.
    """
    done: dict[int, base.Submission] = {}
    for batch in plan.batches:
        proc = _run(batch.argv)
        if proc.returncode != 0:
            raise SubmitError(
                f"sbatch {batch.script_path} failed: {proc.stderr.strip() or proc.stdout}; "
                f"{len(done)} experiment(s) were submitted before it.",
                [done[i] for i in sorted(done)])
        job_id, _cluster = parse_sbatch_output(proc.stdout)
        is_array = batch.manifest_path is not None
        for task, (i, job) in enumerate(zip(batch.indices, batch.jobs, strict=True)):
            done[i] = base.Submission(job_id, task if is_array else None, job.name)
    return [done[i] for i in sorted(done)]


def _lookup(states: dict[str, base.JobState], key: str) -> base.JobState | None:
    """A task's state, else its array's: once every task still pending in an array is
    cancelled, SLURM lists the array only by its bare id (``12|CANCELLED``)."""
    job_id, sep, _ = key.partition("_")
    return states.get(key) or (states.get(job_id) if sep else None)


class SlurmLauncher(base.Launcher):
    """Submit to SLURM: one job array per script (split at MaxArraySize) or one job each.

    Args:
        folder: where manifests, batch scripts and logs go (e.g.
            ``<set>/generated/slurm/<timestamp>``); created on submit.
        options: what to ask SLURM for.
        array: one array for the selection (``--slurm``), or one job per experiment.
        max_array_size: override the cluster's MaxArraySize (read from scontrol otherwise).
    """

    def __init__(self, folder: pathlib.Path, options: SlurmOptions | None = None, *,
                 array: bool = True, max_array_size: int | None = None) -> None:
        self.folder = folder
        self.options = options or SlurmOptions()
        self.array = array
        self.max_array_size = max_array_size

    def _limit(self, *, strict: bool) -> int:
        if self.max_array_size is not None or not self.array:
            return self.max_array_size or DEFAULT_MAX_ARRAY_SIZE
        try:
            return max_array_size()
        except _errors.ConfigError:
            if strict:
                raise
            return DEFAULT_MAX_ARRAY_SIZE

    def dry_run(self, jobs: Sequence[base.Job], options: SlurmOptions | None = None
                ) -> SubmitPlan:
        """Return the exact argv and file texts a submit would use; write and run nothing."""
        return plan_submission(jobs, options or self.options, self.folder, array=self.array,
                               max_array_size=self._limit(strict=False))

    def submit(self, jobs: Sequence[base.Job], options: SlurmOptions | None = None
               ) -> list[base.Submission]:
        """Write manifests and scripts, run sbatch; one Submission per job, in order."""
        if not jobs:
            return []
        plan = plan_submission(jobs, options or self.options, self.folder, array=self.array,
                               max_array_size=self._limit(strict=True))
        write_plan(plan)
        return run_plan(plan)

    def states(self, ids: Iterable[str]) -> dict[str, base.JobState]:
        """One squeue call for all ids; one ``scontrol show job`` for any it no longer shows."""
        keys = list(dict.fromkeys(ids))
        if not keys:
            return {}
        job_ids = ",".join(dict.fromkeys(key.split("_")[0] for key in keys))
        proc = _run(["squeue", "-h", "-t", "all", "-o", SQUEUE_FORMAT, "-j", job_ids])
        # squeue exits 1 with "Invalid job id" when it knows none of the ids.
        if proc.returncode != 0 and "invalid job id" not in proc.stderr.lower():
            raise _errors.ConfigError(f"squeue failed: {proc.stderr.strip()}", source="squeue")
        found = parse_squeue(proc.stdout) if proc.returncode == 0 else {}
        states = {key: state for key in keys if (state := _lookup(found, key))}
        if len(states) < len(keys):
            shown = _run(["scontrol", "-o", "show", "job"])
            if shown.returncode == 0:
                known = states_from_scontrol(parse_scontrol_show_job(shown.stdout))
                states.update((k, s) for k in keys if k not in states and (s := _lookup(known, k)))
        unknown = base.JobState("UNKNOWN", "unknown")
        return {key: states.get(key, unknown) for key in keys}

    def cancel(self, ids: Iterable[str]) -> None:
        """One ``scancel`` for all ids (jobs that already ended are not an error)."""
        keys = list(dict.fromkeys(ids))
        if not keys:
            return
        proc = _run(["scancel", "--quiet", *keys])
        if proc.returncode != 0:
            raise _errors.ConfigError(f"scancel failed: {proc.stderr.strip()}", source="scancel")
